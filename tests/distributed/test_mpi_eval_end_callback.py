"""Across ranks (``mpiexec -n 2``, ``pytest --with-mpi``): ``fit`` splits the validation data
over the ranks, so its ``eval_end_callback`` must see the metric over every rank's part (the
whole validation data, as one MXNet process scoring it whole), the same on every rank: not
this rank's part, and not NaN on a rank that got no batch."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)

VOCAB = 12


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


def _sentences(n, lengths, seed):
    rng = np.random.RandomState(seed)
    return [list(rng.randint(1, VOCAB, lengths[i % len(lengths)])) for i in range(n)]


def test_eval_end_callback_sees_the_whole_validation_metric_on_every_rank():
    import distmod as mx
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    mx.random.seed(7)
    train = mx.rnn.BucketSentenceIter(_sentences(64, [5, 9], 0), batch_size=4, buckets=[5, 9],
                                      invalid_label=0)
    # 3 batches of 4 in bucket 5 and 1 in bucket 9: dealt out, the ranks get unequal parts
    val = mx.rnn.BucketSentenceIter(_sentences(12, [5], 1) + _sentences(4, [9], 2),
                                    batch_size=4, buckets=[5, 9], invalid_label=0)
    seen = []
    mod = mx.mod.BucketingModule(_sym_gen(mx), default_bucket_key=9)
    mod.fit(train, eval_data=val, eval_metric=mx.metric.Perplexity(ignore_label=0),
            kvstore='dist_sync', num_epoch=1, optimizer_params={'learning_rate': 0.1},
            eval_end_callback=lambda p: seen.append((p.nbatch, p.eval_metric.get_global()[1],
                                                     p.eval_metric.get()[1])))
    assert len(seen) == 1
    nbatch, value, local_value = seen[0]
    assert nbatch == 4 and np.isfinite(value) and value == local_value, seen
    everywhere = comm.allgather(value)
    assert all(v == everywhere[0] for v in everywhere), everywhere
    # the parameters are the same on every rank: score the whole data here, in one process
    whole = dict(mod.score(val, mx.metric.Perplexity(ignore_label=0)))['perplexity']
    assert np.isclose(value, whole, rtol=1e-5), (value, whole)
