"""distmod's native tanh and logistic function (``distmod/_native/activation.c``) against
float64 over a sweep of every float32's bit patterns, their NaN and infinity semantics, bit
identity whatever the thread count and however an array is cut, and the operators using
them (``Activation``, ``mx.nd.tanh``/``sigmoid``) gradient-checked through the executor."""
import numpy as np
import pytest

import distmod as mx
from distmod import _native
from distmod.ops import elemwise

needs_kernels = pytest.mark.skipif(
    _native.lib() is None or _native.simd_level() < 1
    or _native.lib().dm_tanh(None, 0, None, 0, 0, 0) == 0,
    reason='native activations not run here: %s' % _native.status())


def _ordered(a):
    """float32 bits as integers whose differences count units in the last place."""
    i = a.view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7fffffff), i)


def _sweep(step=1009):
    x = np.arange(0, 2 ** 32, step, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return x[np.isfinite(x)]


REFS = {'tanh': (np.tanh, 1), 'sigmoid': (lambda v: 1 / (1 + np.exp(-v)), 3)}


@needs_kernels
@pytest.mark.parametrize('name', sorted(REFS))
def test_within_a_few_ulp_of_float64_over_the_whole_range(name):
    ref, ulp = REFS[name]
    x = _sweep()
    y = np.empty_like(x)
    assert getattr(_native, name)(x, y)
    with np.errstate(over='ignore'):
        r = ref(x.astype(np.float64))
    normal = np.abs(r) > np.finfo(np.float32).tiny
    d = np.abs(_ordered(y[normal]) - _ordered(r[normal].astype(np.float32)))
    assert d.max() <= ulp, (name, x[normal][d.argmax()])
    # below float32's normal range: denormal results, absolutely close
    assert np.abs(y[~normal] - r[~normal]).max() < 1e-37


@needs_kernels
def test_specials_keep_numpys_semantics():
    x = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-40, -1e-40, 30, -30])
    t, s = np.empty_like(x), np.empty_like(x)
    assert _native.tanh(x, t) and _native.sigmoid(x, s)
    assert np.array_equal(t.view(np.uint32)[:2], x.view(np.uint32)[:2])    # signed zeros
    np.testing.assert_array_equal(t[2:4], [1, -1])
    assert np.isnan(t[4:6]).all() and np.isnan(s[4:6]).all()
    np.testing.assert_array_equal(t[6:8], x[6:8])                          # tanh(x) = x
    np.testing.assert_array_equal(t[8:], [1, -1])
    np.testing.assert_array_equal(s[[0, 1, 2, 3, 8]], [0.5, 0.5, 1, 0, 1])
    np.testing.assert_allclose(s[9], 1 / (1 + np.exp(30.0)), rtol=4e-7)


@needs_kernels
@pytest.mark.parametrize('name', sorted(REFS))
def test_bits_do_not_depend_on_threads_or_where_an_array_is_cut(name, monkeypatch):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(300001) * 4).astype(np.float32)
    fn = getattr(_native, name)
    whole = np.empty_like(x)
    monkeypatch.setattr(_native, '_ACT_MIN_PART', 1 << 40)     # one thread
    assert fn(x, whole)
    for part in (1 << 12, 77777):                                # cut at odd places
        monkeypatch.setattr(_native, '_ACT_MIN_PART', part)
        for threads in (2, 3):
            _native.pool.resize(threads)
            try:
                y = np.empty_like(x)
                assert fn(x, y)
            finally:
                _native.pool.resize(1)
            assert np.array_equal(y, whole), (part, threads)
    # every tail length, and one element at a time
    for n in range(1, 17):
        y = np.empty(n, np.float32)
        assert fn(x[:n].copy(), y)
        assert np.array_equal(y, whole[:n])
    single = np.empty(1, np.float32)
    for i in range(0, 300001, 30011):
        assert fn(x[i:i + 1].copy(), single)
        assert single[0] == whole[i]


@needs_kernels
@pytest.mark.parametrize('name', sorted(REFS))
def test_rows_apart_as_the_fused_rnn_slices_its_gates(name, monkeypatch):
    """2-D arrays whose rows are contiguous but apart (a gate's columns of (N, 4H) gates),
    in place and into another such array, split between rows over the pool's threads: the
    same bits as the contiguous kernel's, and nothing between the rows is written."""
    fn = getattr(_native, name)
    rng = np.random.default_rng(9)
    gates = (rng.standard_normal((300, 4 * 257)) * 3).astype(np.float32)
    want = np.empty((300, 257), np.float32)
    assert fn(np.ascontiguousarray(gates[:, 257:514]), want)
    for part in (1 << 40, 1 << 12):                  # one call; cut between rows
        monkeypatch.setattr(_native, '_ACT_MIN_PART', part)
        _native.pool.resize(2)
        try:
            g = gates.copy()
            assert fn(g[:, 257:514], g[:, 257:514])
            assert np.array_equal(g[:, 257:514], want)
            assert np.array_equal(g[:, :257], gates[:, :257])
            assert np.array_equal(g[:, 514:], gates[:, 514:])
            other = np.full((300, 600), 5.0, np.float32)
            assert fn(gates[:, 257:514], other[:, 7:264])
            assert np.array_equal(other[:, 7:264], want)
            assert (other[:, :7] == 5).all() and (other[:, 264:] == 5).all()
        finally:
            _native.pool.resize(1)


def test_what_the_kernels_cannot_take_keeps_numpys_path():
    x = np.linspace(-3, 3, 64, dtype=np.float32).reshape(8, 8)
    assert not _native.tanh(x[:, ::2], np.empty((8, 4), np.float32))     # not contiguous
    assert not _native.tanh(x[:4], np.empty((4, 4), np.float32))          # shapes differ
    assert not _native.tanh(x.astype(np.float64), np.empty((8, 8)))       # not float32
    assert not _native.sigmoid(x, None)
    for dtype in (np.float64, np.float16):
        xd = x.astype(dtype)
        out = np.empty_like(xd)
        elemwise._u_tanh(np, xd, out)
        np.testing.assert_array_equal(out, np.tanh(xd))
    strided = np.empty((8, 4), np.float32)
    elemwise.sigmoid_into(np, x[:, ::2], strided)
    np.testing.assert_allclose(strided, 1 / (1 + np.exp(-x[:, ::2])), rtol=1e-6)


@pytest.mark.parametrize('act', ['tanh', 'sigmoid'])
def test_activation_operator_forward_and_gradient(act):
    rng = np.random.default_rng(5)
    shape = (64, 20, 12, 12)          # large enough to be split over the pool's threads
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    sym = mx.sym.Activation(mx.sym.Variable('data'), act_type=act)
    exe = sym.simple_bind(mx.cpu(), data=shape)
    exe.arg_dict['data'][:] = x
    y = exe.forward(is_train=True)[0].asnumpy()
    r = REFS[act][0](x.astype(np.float64))
    np.testing.assert_allclose(y, r, rtol=1e-6, atol=1e-7)
    g = rng.standard_normal(shape).astype(np.float32)
    exe.backward([mx.nd.array(g)])
    dr = g * ((1 - r * r) if act == 'tanh' else r * (1 - r))
    np.testing.assert_allclose(exe.grad_dict['data'].asnumpy(), dr, rtol=1e-5, atol=1e-6)
    nd = getattr(mx.nd, act)(mx.nd.array(x)).asnumpy()
    assert np.array_equal(nd, y)
