"""distmod's native 2-D im2col and col2im (``distmod/_native/im2col.c``) against the NumPy
strided copies of ``distmod/ops/conv.py``'s ``_Lowering``: the same bits in both layouts
(batch innermost or not), with strides, dilation, padding and non-square kernels, the
channels split over threads, and whole convolutions through them."""
import numpy as np
import pytest

from distmod import _native
from distmod.ops import conv, get

needs_native = pytest.mark.skipif(_native.lib() is None,
                                  reason='native kernels not loaded: %s' % _native.status())

# (n, c, f, big, kernel, stride, dilate, pad)
GEOMETRIES = [
    (64, 20, 50, (12, 12), (5, 5), (1, 1), (1, 1), (0, 0)),     # LeNet's conv2, batch last
    (3, 4, 6, (17, 19), (3, 2), (2, 1), (1, 2), (1, 0)),        # batch first, odd strides
    (5, 3, 2, (9, 8), (2, 3), (2, 2), (2, 1), (2, 1)),
    (2, 2, 3, (6, 40), (1, 3), (1, 3), (1, 1), (0, 1)),
]


def _lowering(n, c, f, big, kernel, stride, dilate, pad):
    small = tuple((b + 2 * p - d * (k - 1) - 1) // s + 1
                  for b, k, s, d, p in zip(big, kernel, stride, dilate, pad))
    return conv._Lowering(n, c, f, big, small, kernel, stride, dilate, pad, 1, False)


def _both(low, fn, *args):
    """``fn`` run with the native kernels and without: (native result, NumPy result)."""
    out = []
    for native in (True, False):
        saved = _native._state['lib']
        if not native:
            _native._state['lib'] = None
        try:
            out.append(np.array(fn(conv._Scratch(), *args)))
        finally:
            _native._state['lib'] = saved
    return out


@needs_native
@pytest.mark.parametrize('geom', GEOMETRIES, ids=[str(i) for i in range(len(GEOMETRIES))])
def test_im2col_and_col2im_give_numpys_bits(geom):
    low = _lowering(*geom)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((geom[0], geom[1]) + geom[3]).astype(np.float32)
    a, b = _both(low, lambda s: low.im2col(np, s, low.big_in(np, s, x, 'xp'), 'col'))
    assert a.shape == (low.cb * low.ksize, low.m)
    assert np.array_equal(a, b)
    dcol = rng.standard_normal(a.shape).astype(np.float32)
    a, b = _both(low, lambda s: low.col2im(np, s, dcol, 'dxp'))
    assert np.array_equal(a, b)


@needs_native
def test_channels_split_over_threads_give_the_same_bits(monkeypatch):
    low = _lowering(*GEOMETRIES[1])
    rng = np.random.default_rng(1)
    dcol = rng.standard_normal((low.cb * low.ksize, low.m)).astype(np.float32)
    one = low.col2im(np, conv._Scratch(), dcol, 'k').copy()
    before = _native.pool.size()
    monkeypatch.setattr(_native, '_LOWER_MIN_PART', 1)
    _native.pool.resize(3)
    try:
        three = low.col2im(np, conv._Scratch(), dcol, 'k').copy()
    finally:
        _native.pool.resize(before)
    assert np.array_equal(one, three)


@needs_native
def test_a_strided_convolution_through_the_kernels_matches_float64():
    attrs = {'kernel': (3, 3), 'num_filter': 5, 'stride': (2, 2), 'pad': (1, 1),
             'dilate': (1, 2)}
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 11, 13))
    w = rng.standard_normal((5, 4, 3, 3))
    bias = rng.standard_normal(5)
    results = {}
    for dtype in (np.float32, np.float64):
        op = get('Convolution')(attrs)
        y = np.empty((3, 5, 6, 5), dtype)
        ins = [a.astype(dtype) for a in (x, w, bias)]
        op.forward(np, ins, [y], [], True)
        g = np.ones_like(y)
        grads = [np.empty_like(a) for a in ins]
        op.backward(np, [g], ins, [y], grads, [])
        results[dtype] = (y, grads)
    y32, g32 = results[np.float32]
    y64, g64 = results[np.float64]
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
