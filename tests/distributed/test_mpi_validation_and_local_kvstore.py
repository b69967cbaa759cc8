"""Across ranks (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``): validation metrics are over
every batch any rank saw, an empty validation is an error on every rank (never NaN), and a job
whose script keeps kvstore='local' is warned about once, with checkpoints from rank 0 only."""
import logging
import os
import re
from unittest import mock

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)

VOCAB = 12


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _sym_gen(mx):
    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        emb = mx.sym.Embedding(data, input_dim=VOCAB, output_dim=6, name='embed')
        pred = mx.sym.FullyConnected(mx.sym.Reshape(emb, shape=(-1, 6)), num_hidden=VOCAB,
                                     name='pred')
        out = mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(label, shape=(-1,)), name='softmax')
        return out, ('data',), ('softmax_label',)
    return sym_gen


def _sentences(n, length, seed):
    rng = np.random.RandomState(seed)
    return [list(rng.randint(1, VOCAB, length)) for _ in range(n)]


def test_validation_with_fewer_batches_than_ranks_is_the_whole_data_metric(caplog):
    """Validation holds one batch (4 sentences, batch 4): sharded sentence by sentence, no
    rank had a whole batch and the metric was NaN; now the batch goes to one rank and the
    reduced metric is the one-process value."""
    import distmod as mx
    comm = _comm()
    mx.random.seed(7)
    train = mx.rnn.BucketSentenceIter(_sentences(48, 5, 0), batch_size=4, buckets=[5],
                                      invalid_label=0)
    val = mx.rnn.BucketSentenceIter(_sentences(4, 5, 1), batch_size=4, buckets=[5],
                                    invalid_label=0)
    mod = mx.mod.BucketingModule(_sym_gen(mx), default_bucket_key=5)
    metric = mx.metric.Perplexity(ignore_label=None)
    with caplog.at_level(logging.INFO):
        mod.fit(train, eval_data=val, eval_metric=metric, kvstore='dist_sync', num_epoch=1,
                optimizer_params={'learning_rate': 0.1})
    # the same parameters everywhere; score the whole validation data here, locally
    val.reset()
    local = dict(mod.score(val, mx.metric.Perplexity(ignore_label=None)))['perplexity']
    assert np.isfinite(local)
    if comm.rank == 0:
        logged = [r.getMessage() for r in caplog.records if 'Validation-perplexity' in
                  r.getMessage()]
        assert len(logged) == 1, logged
        value = float(re.search(r'=([-0-9.e+naif]+)$', logged[0]).group(1))
        # the batch's sentences may sit in another order: perplexity is the same
        assert np.isclose(value, local, rtol=1e-5), (value, local)


def test_validation_empty_on_every_rank_is_an_error_on_every_rank():
    import distmod as mx

    class Empty(mx.io.DataIter):
        def __init__(self):
            super().__init__(4)
            self.provide_data = [mx.io.DataDesc('data', (4, 3))]
            self.provide_label = [mx.io.DataDesc('softmax_label', (4,))]

        def next(self):
            raise StopIteration

    x = np.random.RandomState(0).rand(40, 3).astype(np.float32)
    y = (x.sum(1) > 1.5).astype(np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2),
                               name='softmax')
    mod = mx.mod.Module(net)
    n = _comm().size
    with pytest.raises(mx.MXNetError, match=r'the evaluation data \(Empty\) yielded no batch on '
                                            r'any rank \(it is empty after sharding over %d '
                                            r'ranks\)' % n):
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=4), eval_data=Empty(), num_epoch=1,
                kvstore='dist_sync')


def test_local_kvstore_on_n_ranks_warns_once_on_rank0_and_only_rank0_writes(
        tmp_path_factory, caplog):
    import distmod as mx
    from distmod.module import base_module
    comm = _comm()
    folder = comm.bcast(str(tmp_path_factory.mktemp('alone')) if comm.rank == 0 else None)
    prefix = os.path.join(folder, 'mlp')
    x = np.random.RandomState(0).rand(40, 3).astype(np.float32)
    y = (x.sum(1) > 1.5).astype(np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2),
                               name='softmax')
    writes = []
    real_replace = os.replace

    def counting_replace(src, dst):
        writes.append(dst)
        return real_replace(src, dst)
    base_module._WARNED_ALONE.clear()
    with caplog.at_level(logging.INFO), mock.patch('os.replace', counting_replace):
        for _ in range(2):          # warned once, not once per fit
            mod = mx.mod.Module(net)
            mod.fit(mx.io.NDArrayIter(x, y, batch_size=4), num_epoch=2,
                    epoch_end_callback=mx.callback.do_checkpoint(prefix))
            mod.save_checkpoint(prefix + '-m', 2)
    warned = [r.getMessage() for r in caplog.records if 'trains its own model' in
              r.getMessage()]
    saved = [r.getMessage() for r in caplog.records if 'Saved checkpoint' in r.getMessage()]
    def check():
        if comm.rank == 0:
            assert len(warned) == 1, warned
            assert "kvstore='dist_sync'" in warned[0] and '%d ranks' % comm.size in warned[0]
            # per epoch checkpoint: symbol, optimizer states, manifest, params; per save:
            # symbol, manifest, params; per fit: 2 epochs and one save
            assert len(writes) == 2 * (2 * 4 + 3) and len(saved) == 2 * 3, (writes, saved)
        else:
            assert warned == [] and writes == [] and saved == []
    try:            # every rank reaches the collective below, whatever this rank finds
        check()
        error = None
    except AssertionError as e:
        error = 'rank %d: %s' % (comm.rank, e)
    errors = [e for e in comm.allgather(error) if e]
    assert not errors, errors
    comm.Barrier()
    assert sorted(os.listdir(folder)) == ['mlp-0001.json', 'mlp-0001.params', 'mlp-0001.states',
                                          'mlp-0002.json', 'mlp-0002.params', 'mlp-0002.states',
                                          'mlp-m-0002.json',
                                          'mlp-m-0002.params', 'mlp-m-symbol.json',
                                          'mlp-symbol.json']
