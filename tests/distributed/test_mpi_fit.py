"""Module.fit across ranks (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``): identical
replicas, the same numbers as one rank with the global batch, rank-0-only checkpoints,
resume, global metrics."""
import logging
import os
from unittest import mock

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _data(n=240, d=12, k=3, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(k, d) * 2
    y = rng.randint(0, k, n)
    x = (centers[y] + rng.randn(n, d)).astype(np.float32)
    return x, y.astype(np.float32)


def _net(mx):
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=16, name='fc1')
    net = mx.sym.Activation(net, act_type='relu', name='relu1')
    net = mx.sym.FullyConnected(net, num_hidden=3, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def _gather_bytes(mod):
    arg, aux = mod.get_params()
    blob = b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg))
    blob += b''.join(aux[k].asnumpy().tobytes() for k in sorted(aux))
    return _comm().allgather(blob)


def test_two_ranks_train_bit_identical_replicas_from_different_seeds():
    import distmod as mx
    comm = _comm()
    mx.random.seed(100 + comm.rank)              # different initial values on every rank
    x, y = _data()
    train = mx.io.NDArrayIter(x, y, batch_size=10, shuffle=True)
    mod = mx.mod.Module(_net(mx))
    mod.fit(train, num_epoch=2, kvstore='dist_sync', initializer=mx.init.Xavier(),
            optimizer='sgd', optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
    everyone = _gather_bytes(mod)
    assert all(e == everyone[0] for e in everyone)
    assert train.num_parts == 1 and train.num_data == 240      # whole again after fit


def test_n_ranks_batch_b_match_one_rank_batch_nb(caplog):
    import distmod as mx
    comm = _comm()
    n, b = comm.size, 8
    x, y = _data(n=48 * n)
    mx.random.seed(3)
    init = mx.init.Xavier()
    opt = {'learning_rate': 0.2, 'momentum': 0.9, 'wd': 1e-4}
    # distributed: fit shards the whole iterator, rank r reads samples [r*m, (r+1)*m)
    dist = mx.mod.Module(_net(mx))
    with caplog.at_level(logging.INFO):
        dist.fit(mx.io.NDArrayIter(x, y, batch_size=b), num_epoch=2, kvstore='dist_sync',
                 initializer=init, optimizer='sgd', optimizer_params=opt,
                 eval_data=mx.io.NDArrayIter(x, y, batch_size=b), eval_metric='acc')
    # one process: the same global batches (rank r's k-th batch, for every r, in order)
    m = x.shape[0] // n
    order = np.concatenate([np.concatenate([np.arange(r * m + k * b, r * m + (k + 1) * b)
                                            for r in range(n)]) for k in range(m // b)])
    mx.random.seed(3)
    ref = mx.mod.Module(_net(mx))
    ref.bind([('data', (n * b, 12))], [('softmax_label', (n * b,))])
    ref.init_params(initializer=init)
    arg, aux = dist.get_params()
    ref.set_params(*_rank0_initial_params(mx, n, b, x, init))
    ref.fit(mx.io.NDArrayIter(x[order], y[order], batch_size=n * b), num_epoch=2,
            kvstore='local', optimizer='sgd', optimizer_params=dict(opt))
    rarg, _ = ref.get_params()
    for k in sorted(arg):
        np.testing.assert_allclose(arg[k].asnumpy(), rarg[k].asnumpy(), rtol=2e-5, atol=2e-6)
    # the logged validation accuracy is over every rank's shard: the whole data set
    acc = dict(ref.score(mx.io.NDArrayIter(x, y, batch_size=b), 'acc'))['accuracy']
    lines = [r.getMessage() for r in caplog.records if 'Validation-accuracy' in r.getMessage()]
    if comm.rank == 0:
        assert lines and abs(float(lines[-1].split('=')[1]) - acc) < 1e-6
    else:
        assert not lines                         # only rank 0 logs


def _rank0_initial_params(mx, n, b, x, init):
    """The parameters rank 0 initialises with seed 3 (what every rank starts from)."""
    mx.random.seed(3)
    mod = mx.mod.Module(_net(mx))
    mod.bind([('data', (b, 12))], [('softmax_label', (b,))])
    mod.init_params(initializer=init)
    return mod.get_params()


def test_only_rank0_writes_checkpoints_and_every_rank_resumes(tmp_path_factory):
    import distmod as mx
    comm = _comm()
    folder = comm.bcast(str(tmp_path_factory.mktemp('ckpt')) if comm.rank == 0 else None)
    x, y = _data()
    prefix = os.path.join(folder, 'mlp')
    mx.random.seed(comm.rank)
    mod = mx.mod.Module(_net(mx))
    writes = []
    real_replace = os.replace

    def counting_replace(src, dst):              # every checkpoint file ends in a rename
        writes.append(dst)
        return real_replace(src, dst)
    with mock.patch('os.replace', counting_replace):
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=2, kvstore='dist_sync',
                optimizer='adam', optimizer_params={'learning_rate': 0.01},
                epoch_end_callback=[mx.callback.do_checkpoint(prefix),
                                    mx.callback.module_checkpoint(mod, prefix + '-m',
                                                                  save_optimizer_states=True)])
    # per epoch and callback: symbol, states, manifest, params (each a rename)
    assert len(writes) == (16 if comm.rank == 0 else 0), writes
    comm.Barrier()
    names = sorted(f for f in os.listdir(folder) if not f.startswith('.'))
    assert names == ['mlp-0001.json', 'mlp-0001.params', 'mlp-0001.states',
                     'mlp-0002.json', 'mlp-0002.params', 'mlp-0002.states',
                     'mlp-m-0001.json', 'mlp-m-0001.params', 'mlp-m-0001.states',
                     'mlp-m-0002.json', 'mlp-m-0002.params', 'mlp-m-0002.states',
                     'mlp-m-symbol.json', 'mlp-symbol.json']
    # written once, by rank 0: the files hold rank 0's (= everyone's) parameters
    arg, _ = mod.get_params()
    saved = mx.nd.load(prefix + '-0002.params')
    for k in arg:
        np.testing.assert_array_equal(saved['arg:' + k].asnumpy(), arg[k].asnumpy())
    comm.Barrier()
    # resume on every rank from the checkpoint with optimizer states
    mod2 = mx.mod.Module.load(prefix + '-m', 2, load_optimizer_states=True)
    mod2.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=3, begin_epoch=2,
             kvstore='dist_sync', optimizer='adam', optimizer_params={'learning_rate': 0.01})
    everyone = _gather_bytes(mod2)
    assert all(e == everyone[0] for e in everyone)


def test_batchnorm_free_aux_and_set_params_are_broadcast():
    import distmod as mx
    comm = _comm()
    mod = mx.mod.Module(_net(mx))
    mod.bind([('data', (4, 12))], [('softmax_label', (4,))])
    mod.init_params()
    mod.init_optimizer(kvstore='dist_sync')
    arg, aux = mod.get_params()
    mine = {k: mx.nd.ones(v.shape) * (comm.rank + 1) for k, v in arg.items()}
    mod.set_params(mine, aux)
    arg, _ = mod.get_params()
    for v in arg.values():
        assert (v.asnumpy() == 1).all()           # rank 0's values everywhere


def test_ranks_with_unequal_batches_stop_together(caplog):
    """A custom iterator fit cannot shard: rank 0 has one batch more; nobody hangs."""
    import distmod as mx
    comm = _comm()
    x, y = _data(n=40)

    class Uneven(mx.io.DataIter):
        def __init__(self):
            super().__init__(10)
            self.inner = mx.io.NDArrayIter(x[:40 if comm.rank == 0 else 30],
                                           y[:40 if comm.rank == 0 else 30], batch_size=10)
            self.provide_data, self.provide_label = (self.inner.provide_data,
                                                     self.inner.provide_label)

        def reset(self):
            self.inner.reset()

        def next(self):
            return self.inner.next()

    mod = mx.mod.Module(_net(mx))
    with caplog.at_level(logging.WARNING):
        mod.fit(Uneven(), num_epoch=2, kvstore='dist_sync')
    everyone = _gather_bytes(mod)
    assert all(e == everyone[0] for e in everyone)
    if comm.rank == 0:
        assert any('another rank ran out' in r.getMessage() for r in caplog.records)


def test_ranks_with_different_models_get_a_clear_error_not_a_hang():
    import distmod as mx
    comm = _comm()
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=4 + comm.rank, name='fc1')
    net = mx.sym.SoftmaxOutput(net, name='softmax')
    x, y = _data(n=40)
    mod = mx.mod.Module(net)
    # the agreement before training: the networks' digests, then where they differ
    with pytest.raises(mx.MXNetError, match=r"symbol: rank 0 sha256:\w+; rank 1 sha256:\w+"
                                            r"[^(]* \(first difference at operator 0: rank 0: "
                                            r"FullyConnected 'fc1' num_hidden=4; rank 1: "
                                            r"FullyConnected 'fc1' num_hidden=5"):
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=1, kvstore='dist_sync')
    # without fit, the store's own check names the parameter and its shapes
    mod.bind(mx.io.NDArrayIter(x, y, batch_size=10).provide_data,
             mx.io.NDArrayIter(x, y, batch_size=10).provide_label)
    mod.init_params()
    kv = mx.kv.create('dist_sync')
    with pytest.raises(mx.MXNetError, match=r"ranks disagree on key 'fc1_weight' \(rank 0: "
                                            r"shape \(4, 12\) float32; rank 1: shape \(5, 12\)"):
        kv.init('fc1_weight', mod.get_params()[0]['fc1_weight'])


def test_batchnorm_moving_stats_are_averaged_over_ranks_at_epoch_end():
    import distmod as mx
    comm = _comm()
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=8, name='fc1')
    net = mx.sym.BatchNorm(net, name='bn1', fix_gamma=False)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=3, name='fc2'),
                               name='softmax')
    x, y = _data(n=40 * comm.size)
    x = x + comm.rank                   # every rank's shard has its own statistics
    last = {}

    def keep_local(param):
        if param.nbatch == 3:           # the epoch's last batch: before the epoch end
            last.update((n, a[0].asnumpy().copy()) for n, a in
                        zip(mod._exec_group.aux_names, mod._exec_group.aux_arrays))
    mod = mx.mod.Module(net)
    it = mx.io.NDArrayIter(x, y, batch_size=10, num_parts=comm.size, part_index=comm.rank)
    mod.fit(it, num_epoch=1, kvstore='dist_sync', batch_end_callback=keep_local)
    _, aux = mod.get_params()
    gathered = comm.allgather(last)
    for name in ('bn1_moving_mean', 'bn1_moving_var'):
        want = np.mean([g[name] for g in gathered], axis=0)
        np.testing.assert_allclose(aux[name].asnumpy(), want, rtol=1e-6)
        assert not np.allclose(gathered[0][name], gathered[-1][name])
    everyone = _gather_bytes(mod)
    assert all(e == everyone[0] for e in everyone)


def test_sequential_module_with_a_python_loss_keeps_replicas_identical():
    import distmod as mx
    from tests.module.test_bucketing_sequential import _softmax_ce_grad
    comm = _comm()
    mx.random.seed(comm.rank)
    x, y = _data()
    data = mx.sym.Variable('data')
    body = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name='fc1'),
                             act_type='relu')
    head = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=3, name='fc2')
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body, label_names=None))
    seq.add(mx.mod.Module(head, label_names=None), auto_wiring=True)
    seq.add(mx.mod.PythonLossModule(grad_func=_softmax_ce_grad), take_labels=True,
            auto_wiring=True)
    seq.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=3, kvstore='dist_sync',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
    arg, _ = seq.get_params()
    blob = b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg))
    everyone = comm.allgather(blob)
    assert all(e == everyone[0] for e in everyone)
    acc = dict(seq.score(mx.io.NDArrayIter(x, y, batch_size=10), 'acc'))['accuracy']
    assert acc > 0.8


def test_several_devices_per_rank_sum_locally_then_across_ranks():
    import distmod as mx
    comm = _comm()
    x, y = _data()
    results = []
    for ctx in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        mx.random.seed(11)
        mod = mx.mod.Module(_net(mx), context=ctx)
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=2, kvstore='dist_sync',
                optimizer='sgd', optimizer_params={'learning_rate': 0.1})
        arg, _ = mod.get_params()
        results.append({k: v.asnumpy() for k, v in arg.items()})
        everyone = _gather_bytes(mod)
        assert all(e == everyone[0] for e in everyone)
    for k in results[0]:                 # two devices of 5 = one device of 10, up to rounding
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-4, atol=1e-5)
