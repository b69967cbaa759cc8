"""The GPU path's device semantics, checked on every CPU machine: ``strictdev`` (this folder)
stands in for CuPy with its rules (no implicit conversion to NumPy, no mixing with host
arrays, arrays used on their own device, every transfer counted), so ``mx.gpu(i)`` code that
only works because NumPy is forgiving fails here.  This is a device-semantics check, not a
GPU run: tests/gpu/ is that, on a machine with one."""
import numpy as np
import pytest

import distmod as mx

from . import strictdev
from .. import nets


@pytest.fixture
def dev():
    with strictdev.installed() as xp:
        yield xp


def test_the_backend_refuses_what_cupy_refuses(dev):
    a = dev.ones((2, 3), dtype='float32')
    with pytest.raises(TypeError, match='Implicit conversion'):
        np.asarray(a)
    with pytest.raises(TypeError, match='numpy.ndarray'):
        dev.add(a, np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match='numpy.ndarray'):
        a + np.ones((2, 3), np.float32)
    with dev.cuda.Device(1):
        b = dev.zeros(3)
    with pytest.raises(ValueError, match='array device = 1 while current = 0'):
        b * 2
    s = a.sum()
    assert isinstance(s, dev.ndarray) and s.ndim == 0       # not a host scalar
    strictdev.TRANSFERS.reset()
    assert float(s) == 6.0 and a.get().shape == (2, 3)
    assert strictdev.TRANSFERS.d2h == 2


def test_ndarray_lives_on_its_gpu_and_copies_between_them(dev):
    x = mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3), ctx=mx.gpu(1))
    assert isinstance(x._data, dev.ndarray) and x._data._dev == 1
    y = x.copyto(mx.gpu(0))
    assert y._data._dev == 0
    z = mx.nd.zeros((2, 3), ctx=mx.gpu(1))
    y.copyto(z)
    strictdev.TRANSFERS.reset()
    np.testing.assert_array_equal((z * 2 + 1).asnumpy(), np.arange(6).reshape(2, 3) * 2 + 1)
    assert strictdev.TRANSFERS.d2h == 1
    mx.nd.waitall()


def _mlp():
    return nets.mlp(mx, 32, 10)


def _cnn():
    net = mx.sym.Reshape(mx.sym.Variable('data'), shape=(-1, 1, 4, 5))
    net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=8, name='c1')
    net = mx.sym.BatchNorm(net, name='bn1')
    net = mx.sym.Activation(net, act_type='relu')
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type='max')
    net = mx.sym.Dropout(net, p=0.1)
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=10, name='fc')
    return mx.sym.SoftmaxOutput(net, name='softmax')


@pytest.mark.parametrize('kvstore', ['device', 'local'])
@pytest.mark.parametrize('build', [_mlp, _cnn], ids=['mlp', 'cnn'])
def test_fit_on_two_devices_reads_back_only_what_the_store_stages(dev, build, kvstore):
    x, y = nets.clusters(960, (20,))
    batch = 48
    train = mx.io.NDArrayIter(x, y, batch_size=batch, shuffle=True)
    # device 1 first: code that assumes device 0 is current fails
    mod = mx.mod.Module(build(), context=[mx.gpu(1), mx.gpu(0)])
    seen = []

    def count(param):
        seen.append((param.epoch, strictdev.TRANSFERS.d2h, strictdev.TRANSFERS.h2d))

    mod.fit(train, num_epoch=3, kvstore=kvstore, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
            initializer=mx.init.Xavier(), batch_end_callback=count)
    per_epoch = len(x) // batch
    assert len(seen) == 3 * per_epoch
    for e in range(3):
        mine = seen[e * per_epoch:(e + 1) * per_epoch]
        steps = [(b[1] - a[1], b[2] - a[2]) for a, b in zip(mine, mine[1:])]
        # a step copies its batch in (data and label on each device) and reads nothing
        # back: the metric counts on the devices until it is read, which fit does once,
        # at the epoch's last batch (one read per device)
        # (``local`` sums the gradients on the host, as MXNet's does: each device's
        # gradient buffer out, the sum back to the first device)
        staged = 2 if kvstore == 'local' else 0
        assert [d for d, _ in steps[:-1]] == [staged] * (per_epoch - 2), \
            strictdev.TRANSFERS.where('d2h')
        assert steps[-1][0] == 2 + staged, strictdev.TRANSFERS.where('d2h')
        assert all(h2d == 4 + staged // 2 for _, h2d in steps), steps
    params, _ = mod.get_params()
    assert all(isinstance(p._data, np.ndarray) for p in params.values())
    score = dict(mod.score(mx.io.NDArrayIter(x, y, batch_size=batch), 'acc'))
    assert score['accuracy'] > 0.9


def _fit_device_store(build):
    x, y = nets.clusters(480, (20,))
    mx.random.seed(3)
    np.random.seed(3)
    mod = mx.mod.Module(build(), context=[mx.gpu(1), mx.gpu(0)])
    strictdev.TRANSFERS.reset()
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=48), num_epoch=2, kvstore='device',
            optimizer='sgd', optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
            initializer=mx.init.Xavier())
    copies = (strictdev.TRANSFERS.d2h, strictdev.TRANSFERS.h2d)
    params, _ = mod.get_params()
    return copies, {k: v.asnumpy() for k, v in params.items()}


@pytest.mark.parametrize('build', [_mlp, _cnn], ids=['mlp', 'cnn'])
def test_the_device_store_sums_the_gpus_by_nccl_where_cupy_has_it(dev, build):
    """With NCCL, each step's gradients are one NCCL group of reduces per gradient buffer
    into the first GPU's, instead of peer copies; no more host copies, and the same sums."""
    copies, peer = _fit_device_store(build)
    strictdev.enable_nccl()
    try:
        before = strictdev.NCCL['reduces']
        nccl_copies, nccl = _fit_device_store(build)
        reduces = strictdev.NCCL['reduces'] - before
    finally:
        strictdev.enable_nccl(False)
        import kvstore.gpu
        kvstore.gpu._CLIQUES.clear()
    assert reduces >= 2 * (480 // 48), reduces        # every step, every buffer
    assert nccl_copies == copies
    for k in peer:          # two devices: a + b either way, bit for bit
        np.testing.assert_array_equal(nccl[k], peer[k], err_msg=k)


def test_a_metric_read_mid_epoch_is_one_read_per_device(dev):
    metric = mx.metric.Accuracy()
    for d in (0, 1):
        pred = mx.nd.array([[0.1, 0.9], [0.8, 0.2]], ctx=mx.gpu(d))
        label = mx.nd.array([1, 1], ctx=mx.gpu(d))
        metric.update([label], [pred])
        metric.update([label], [pred])
    strictdev.TRANSFERS.reset()
    assert metric.get() == ('accuracy', 0.5)
    assert strictdev.TRANSFERS.d2h == 2
    assert metric.get_global() == ('accuracy', 0.5) and strictdev.TRANSFERS.d2h == 2


def test_a_module_given_no_context_takes_its_ranks_gpu_under_gpus_per_host(dev, monkeypatch):
    monkeypatch.setenv('DISTMOD_GPUS_PER_HOST', '2')
    monkeypatch.setenv('LOCAL_RANK', '3')
    assert mx.context.default_context() == mx.gpu(1)
    mod = mx.mod.Module(_mlp())
    assert mod._context == [mx.gpu(1)]
    monkeypatch.delenv('DISTMOD_GPUS_PER_HOST')
    assert mx.mod.Module(_mlp())._context == [mx.cpu()]


def test_asking_for_a_gpu_the_host_lacks_names_host_rank_and_count(dev, monkeypatch):
    import socket
    monkeypatch.setitem(mx.base.WORLD, 'rank', 5)
    monkeypatch.setitem(mx.base.WORLD, 'num_workers', 8)
    mod = mx.mod.Module(_mlp(), context=[mx.gpu(0), mx.gpu(strictdev.NUM_DEVICES)])
    with pytest.raises(mx.base.MXNetError) as err:
        mod.bind(data_shapes=[('data', (8, 20))], label_shapes=[('softmax_label', (8,))])
    msg = str(err.value)
    assert 'gpu(%d)' % strictdev.NUM_DEVICES in msg and 'sees 2 GPU' in msg
    assert socket.gethostname() in msg and 'rank 5 of 8' in msg


@pytest.mark.parametrize('make,pred_shape,label_kind', [
    (lambda: mx.metric.Accuracy(), (6, 4), 'class'),
    (lambda: mx.metric.TopKAccuracy(top_k=2), (6, 4), 'class'),
    (lambda: mx.metric.CrossEntropy(), (6, 4), 'class'),
    (lambda: mx.metric.NegativeLogLikelihood(), (6, 4), 'class'),
    (lambda: mx.metric.Perplexity(ignore_label=2), (6, 4), 'class'),
    (lambda: mx.metric.MSE(), (6,), 'value'),
    (lambda: mx.metric.MAE(), (6, 1), 'value'),
    (lambda: mx.metric.RMSE(), (6,), 'value'),
    (lambda: mx.metric.Loss(), (6,), 'value'),
], ids=['acc', 'top2', 'ce', 'nll', 'perplexity', 'mse', 'mae', 'rmse', 'loss'])
def test_metrics_count_on_the_device_and_agree_with_the_host(dev, make, pred_shape, label_kind):
    rng = np.random.RandomState(4)
    batches = []
    for _ in range(3):
        p = rng.rand(*pred_shape).astype(np.float32)
        if len(pred_shape) == 2 and pred_shape[1] > 1:
            p /= p.sum(axis=1, keepdims=True)
        lab = (rng.randint(0, pred_shape[-1], pred_shape[0]) if label_kind == 'class'
               else rng.rand(pred_shape[0])).astype(np.float32)
        batches.append((p, lab))
    on_host, on_device = make(), make()
    for p, lab in batches:
        on_host.update([mx.nd.array(lab)], [mx.nd.array(p)])
    strictdev.TRANSFERS.reset()
    for i, (p, lab) in enumerate(batches):
        ctx = mx.gpu(i % 2)
        label, pred = mx.nd.array(lab, ctx=ctx), mx.nd.array(p, ctx=ctx)
        strictdev.TRANSFERS.reset()
        on_device.update([label], [pred])
        assert strictdev.TRANSFERS.d2h == 0, strictdev.TRANSFERS.where('d2h')
    name, value = on_device.get()
    assert strictdev.TRANSFERS.d2h <= 4          # a sum (and a count) per device
    assert name == on_host.get()[0]
    np.testing.assert_allclose(value, on_host.get()[1], rtol=1e-5)
    np.testing.assert_allclose(on_device.get_global()[1], on_host.get_global()[1], rtol=1e-5)
