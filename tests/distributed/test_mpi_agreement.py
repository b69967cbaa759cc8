"""Agreement before training (distmod/module/agreement.py), on N ranks (``mpiexec -n N``,
``pytest --with-mpi``): a configuration that differs between ranks is one error raised on
every rank, before the first step, naming each field and each rank's value; what may differ
(the data shard, the initializer) does not count, nor do ranks that all train alone."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _net(mx, hidden=2):
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'),
                                                      num_hidden=hidden, name='fc'),
                                name='softmax')


def _data(mx, batch=4, rows=24, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(rows, 3).astype(np.float32)
    return mx.io.NDArrayIter(x, (x.sum(1) > 1.5).astype(np.float32), batch_size=batch)


def _fit(mx, **kw):
    args = dict(num_epoch=1, kvstore='dist_sync', optimizer_params={'learning_rate': 0.1})
    net = kw.pop('net') if 'net' in kw else _net(mx)
    train = kw.pop('train') if 'train' in kw else _data(mx)
    args.update(kw)
    mod = mx.mod.Module(net)
    mod.fit(train, **args)
    return mod


def _raises_on_every_rank(mx, match, **kw):
    with pytest.raises(mx.MXNetError, match=match) as err:
        _fit(mx, **kw)
    assert 'disagree before training' in str(err.value)
    return str(err.value)


def test_a_different_learning_rate_is_named_with_each_ranks_value():
    import distmod as mx
    r = _comm().rank
    others = 'rank 0' if _comm().size == 2 else 'ranks 0, 2'
    msg = _raises_on_every_rank(mx, r'optimizer: %s sgd \{learning_rate: 0\.1\}; rank 1 '
                                    r'sgd \{learning_rate: 0\.2\}' % others,
                                optimizer_params={'learning_rate': 0.2 if r == 1 else 0.1})
    assert 'one field differs' in msg


def test_several_fields_differ_in_one_error():
    import distmod as mx
    r = _comm().rank
    n = _comm().size
    msg = _raises_on_every_rank(
        mx, r'2 fields differ', train=_data(mx, batch=8 if r == 0 else 4),
        eval_data=_data(mx) if r == 0 else None)
    assert 'batch size: rank 0 8; rank%s %s 4' % ('' if n == 2 else 's',
                                                   ', '.join(map(str, range(1, n)))) in msg
    assert 'eval_data: rank 0 given; rank' in msg


def test_a_different_kvstore_type_is_caught_on_the_rank_that_asked_for_local_too():
    import distmod as mx
    r = _comm().rank
    _raises_on_every_rank(mx, r'kvstore: rank 0 local; rank', kvstore='local' if r == 0
                          else 'dist_sync')


def test_a_different_network_and_num_epoch():
    import distmod as mx
    r = _comm().rank
    msg = _raises_on_every_rank(mx, r'symbol: rank 0 sha256:', net=_net(mx, 3 if r else 2),
                                num_epoch=2 if r else 1)
    assert 'num_epoch: rank 0 1; rank' in msg


def test_optimizer_objects_are_compared_by_their_parameters():
    import distmod as mx
    r = _comm().rank
    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9 if r else 0.5, rescale_grad=0.125)
    _raises_on_every_rank(mx, r"optimizer: rank 0 sgd \{.*momentum: 0\.5", optimizer=opt)
    sched = mx.lr_scheduler.FactorScheduler(step=10 if r else 5, factor=0.5)
    _raises_on_every_rank(mx, r'lr_scheduler=FactorScheduler', optimizer='sgd',
                          optimizer_params={'learning_rate': 0.1, 'lr_scheduler': sched})


def test_init_optimizer_alone_checks_the_optimizer_too():
    import distmod as mx
    r = _comm().rank
    mod = mx.mod.Module(_net(mx))
    train = _data(mx)
    mod.bind(train.provide_data, train.provide_label)
    mod.init_params()
    with pytest.raises(mx.MXNetError, match=r'init_optimizer: the \d ranks of this job '
                                            r'disagree before training.*wd'):
        mod.init_optimizer(kvstore='dist_sync',
                           optimizer_params={'learning_rate': 0.1, 'wd': 0.01 * (r + 1)})


def test_what_may_differ_does_not_count():
    import distmod as mx
    from mpi4py import MPI
    r = _comm().rank
    # each rank's own data (a different number of rows) and initializer: fine
    mod = _fit(mx, train=_data(mx, rows=24 + 4 * r, seed=r),
               initializer=mx.init.Uniform(0.1 * (r + 1)))
    arg = mod.get_params()[0]['fc_weight'].asnumpy()
    first = _comm().bcast(arg)
    assert np.array_equal(first, arg)
    # every rank alone (local kvstore): independent models, nothing else compared
    _fit(mx, kvstore='local', optimizer_params={'learning_rate': 0.1 * (r + 1)})
    del MPI
