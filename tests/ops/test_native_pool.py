"""distmod's native max pooling (``distmod/_native/pool.c``) and the native tanh and sigmoid
gradients against the NumPy paths they replace: the same bits on every window geometry
(LeNet's 2x2/2, sizes that leave rows over, padding, overlapping windows, 'full' and 'same'
conventions, global pooling), NaN, infinities and windows of -inf, the planes split over
threads, and the layouts and dtypes that keep NumPy."""
import numpy as np
import pytest

import distmod as mx
from distmod import _native
from distmod.ops import conv, get
from distmod.ops.elemwise import _g_sigmoid, _g_tanh

needs_native = pytest.mark.skipif(_native.lib() is None,
                                  reason='native kernels not loaded: %s' % _native.status())

GEOMETRIES = [
    ({'kernel': (2, 2), 'stride': (2, 2)}, (3, 4, 8, 8)),
    ({'kernel': (2, 2), 'stride': (2, 2)}, (3, 4, 9, 7)),          # a row and a column over
    ({'kernel': (3, 3), 'stride': (2, 2), 'pad': (1, 1)}, (2, 3, 7, 6)),
    ({'kernel': (3, 2), 'stride': (1, 1)}, (2, 3, 6, 5)),          # overlapping windows
    ({'kernel': (3, 3), 'stride': (2, 2), 'pooling_convention': 'full'}, (2, 3, 8, 8)),
    ({'kernel': (2, 2), 'stride': (2, 2), 'pooling_convention': 'full'}, (2, 3, 7, 7)),
    ({'kernel': (3, 3), 'stride': (3, 3), 'pooling_convention': 'same'}, (2, 3, 8, 7)),
    ({'kernel': (2, 3), 'stride': (1, 2), 'pad': (1, 1)}, (1, 2, 5, 6)),
    ({'global_pool': True}, (2, 3, 5, 4)),
]


def _shape_out(attrs, shape):
    op = get('Pooling')(dict(attrs, pool_type='max'))
    return op, tuple(op.infer_shape([shape])[1][0])


def _pool(attrs, x, g, native, monkeypatch=None):
    """(y, dx) of max pooling ``x`` with head gradient ``g``, natively or by NumPy."""
    op, yshape = _shape_out(attrs, x.shape)
    y = np.empty(yshape, x.dtype)
    dx = np.full(x.shape, 123.0, x.dtype)     # written whole: no stale values survive
    saved = _native._state.get('lib')
    if not native:
        _native._state['lib'] = None
    try:
        op.forward(np, [x], [y], [], True)
        op.backward(np, [g.astype(x.dtype)], [x], [y], [dx], [])
    finally:
        _native._state['lib'] = saved
    return y, dx


def _inputs(attrs, shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    _, yshape = _shape_out(attrs, shape)
    return x, rng.standard_normal(yshape).astype(np.float32)


@needs_native
@pytest.mark.parametrize('attrs,shape', GEOMETRIES, ids=[str(i) for i in range(len(GEOMETRIES))])
def test_native_max_pooling_gives_numpys_bits(attrs, shape):
    x, g = _inputs(attrs, shape)
    # ties inside windows: the gradient goes to the first maximum in row-major order
    x[..., ::3, :] = np.round(x[..., ::3, :])
    y_np, dx_np = _pool(attrs, x, g, native=False)
    y_c, dx_c = _pool(attrs, x, g, native=True)
    assert np.array_equal(y_c, y_np)
    assert np.array_equal(dx_c, dx_np)
    # every window's gradient lands once, on a real cell (no maximum is a pad cell here)
    np.testing.assert_allclose(dx_c.sum(), g.sum(), rtol=1e-4, atol=1e-3)


@needs_native
def test_native_pooling_runs_where_it_should():
    attrs, shape = GEOMETRIES[0]
    x, g = _inputs(attrs, shape)
    calls = []
    real = _native.lib()

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(real, name)
    saved = _native._state['lib']
    _native._state['lib'] = Spy()
    try:
        op, yshape = _shape_out(attrs, shape)
        y, dx = np.empty(yshape, np.float32), np.empty_like(x)
        op.forward(np, [x], [y], [], True)
        op.backward(np, [g], [x], [y], [dx], [])
        # float64, NHWC and 1-D pooling keep NumPy
        op.forward(np, [x.astype(np.float64)], [y.astype(np.float64)], [], True)
        nhwc = get('Pooling')({'kernel': (2, 2), 'stride': (2, 2), 'layout': 'NHWC'})
        xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        nhwc.forward(np, [xl], [np.empty((3, 4, 4, 4), np.float32)], [], True)
        one = get('Pooling')({'kernel': (2,), 'stride': (2,)})
        one.forward(np, [x[:, :, 0]], [np.empty((3, 4, 4), np.float32)], [], True)
    finally:
        _native._state['lib'] = saved
    assert calls.count('dm_maxpool2d') == 1 and calls.count('dm_maxpool2d_grad') == 1


@needs_native
def test_nan_infinity_and_windows_of_minus_infinity():
    attrs = {'kernel': (2, 2), 'stride': (2, 2)}
    for geometry in (attrs, {'kernel': (3, 3), 'stride': (2, 2), 'pad': (1, 1)}):
        x = np.zeros((1, 1, 6, 6), np.float32)
        x[0, 0, 0, 1] = np.nan                 # NaN wins its window; no gradient there
        x[0, 0, 2:4, 2:4] = -np.inf            # a window of -inf
        x[0, 0, 4, 5] = np.inf
        x[0, 0, 5, 4] = -0.0
        g = np.arange(1, 50, dtype=np.float32)[:np.prod(_shape_out(geometry, x.shape)[1])]
        g = g.reshape(_shape_out(geometry, x.shape)[1])
        y_np, dx_np = _pool(geometry, x, g, native=False)
        y_c, dx_c = _pool(geometry, x, g, native=True)
        np.testing.assert_array_equal(y_c, y_np)
        np.testing.assert_array_equal(dx_c, dx_np)
        assert np.isnan(y_c[0, 0, 0, 0])


@needs_native
def test_an_infinite_head_gradient_reaches_only_the_maximum():
    """As in MXNet, whose backward adds each gradient at its window's maximum alone (the
    NumPy path multiplies by a mask, so inf * 0 puts NaN in the other cells)."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    g = np.array([[[[np.inf, 1], [2, -np.inf]]]], np.float32)
    _, dx = _pool({'kernel': (2, 2), 'stride': (2, 2)}, x, g, native=True)
    want = np.zeros((4, 4), np.float32)
    want[1, 1], want[1, 3], want[3, 1], want[3, 3] = np.inf, 1, 2, -np.inf
    np.testing.assert_array_equal(dx[0, 0], want)


@needs_native
def test_planes_split_over_threads_give_the_same_bits(monkeypatch):
    attrs, shape = {'kernel': (3, 3), 'stride': (2, 2), 'pad': (1, 1)}, (5, 7, 12, 12)
    x, g = _inputs(attrs, shape, seed=3)
    one = _pool(attrs, x, g, native=True)
    before = _native.pool.size()
    monkeypatch.setattr(_native, '_POOL_MIN_PART', 1)
    _native.pool.resize(3)
    try:
        assert len(_native._pool_parts((35, 12, 12))) == 3
        three = _pool(attrs, x, g, native=True)
    finally:
        _native.pool.resize(before)
    assert np.array_equal(one[0], three[0]) and np.array_equal(one[1], three[1])


@needs_native
def test_lenet_pooling_through_the_executor_matches_numpy():
    """A max pooling layer bound in an executor: forward and backward the same bits with the
    kernels as without them."""
    rng = np.random.default_rng(1)
    data = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    head = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    results = []
    for native in (True, False):
        saved = _native._state['lib']
        if not native:
            _native._state['lib'] = None
        try:
            sym = mx.sym.Pooling(mx.sym.Variable('data'), kernel=(2, 2), stride=(2, 2),
                                 pool_type='max')
            exe = sym.simple_bind(mx.cpu(), data=data.shape)
            exe.arg_dict['data'][:] = data
            out = exe.forward(is_train=True)[0].asnumpy()
            exe.backward(mx.nd.array(head))
            results.append((out, exe.grad_dict['data'].asnumpy()))
        finally:
            _native._state['lib'] = saved
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


def _numpy_grad(fn, g, y):
    saved = _native._state.get('lib')
    _native._state['lib'] = None
    try:
        return fn(np, g, None, y, np.empty_like(g))
    finally:
        _native._state['lib'] = saved


@needs_native
@pytest.mark.parametrize('fn,name', [(_g_tanh, 'tanh'), (_g_sigmoid, 'sigmoid')])
def test_tanh_and_sigmoid_gradients_give_numpys_bits(fn, name):
    rng = np.random.default_rng(2)
    y = np.tanh(rng.standard_normal(1000) * 3).astype(np.float32)
    if name == 'sigmoid':
        y = (y + 1) / 2
    g = rng.standard_normal(1000).astype(np.float32) * 10
    y[:4] = [np.nan, 1.0, 0.0, -0.0]
    g[4:8] = [np.inf, -np.inf, np.nan, 0.0]
    want = _numpy_grad(fn, g, y)
    out = np.empty_like(g)
    assert fn(np, g, None, y, out) is out
    np.testing.assert_array_equal(out, want)
    # float64 and non-contiguous arrays keep NumPy's passes
    assert not _native.tanh_grad(g.astype(np.float64), y.astype(np.float64),
                                 np.empty(1000))
    assert not _native.sigmoid_grad(g[::2], y[::2], np.empty(500, np.float32))


def test_without_the_kernels_pooling_keeps_numpy(monkeypatch):
    monkeypatch.setitem(_native._state, 'lib', None)
    attrs, shape = GEOMETRIES[2]
    x, g = _inputs(attrs, shape)
    assert not _native.maxpool2d(x, np.empty((2, 3, 4, 3), np.float32), (3, 3), (2, 2),
                                 (1, 1))
    y, dx = _pool(attrs, x, g, native=True)          # the NumPy path, whatever is asked
    assert conv.Pooling is not None and np.isfinite(y).all() and dx.shape == x.shape


def test_the_thread_pool_runs_every_part_once_and_raises_a_parts_error():
    import threading
    pool = _native.Pool()
    pool.resize(3)
    try:
        seen, lock = [], threading.Lock()

        def record(lo, hi):
            with lock:
                seen.append((lo, hi, threading.current_thread().name))
        parts = pool.split(0, 10, 1, 1)
        assert len(parts) == 3
        pool.run(record, parts)
        assert sorted(p[:2] for p in seen) == parts
        assert len({p[2] for p in seen}) == 3           # the caller and two workers
        # more parts than threads: the rest run on the caller's thread
        seen.clear()
        pool.run(record, [(i, i + 1) for i in range(7)])
        assert sorted(p[0] for p in seen) == list(range(7))

        def fail(lo, hi):
            if lo == 5:
                raise ValueError('part %d' % lo)
        with pytest.raises(ValueError, match='part 5'):
            pool.run(fail, [(0, 5), (5, 8), (8, 10)])
        # the pool still works after a part raised, and from two Python threads at once
        totals = []

        def caller():
            got = []
            pool.run(lambda lo, hi: got.append(hi - lo), [(0, 4), (4, 9), (9, 10)])
            totals.append(sum(got))
        threads = [threading.Thread(target=caller) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert totals == [10] * 4
    finally:
        pool.resize(1)
