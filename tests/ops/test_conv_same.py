"""The engine of "same" 2-D convolutions (``_Same`` in distmod/ops/conv.py, the AVX-512 and
AVX2 kernels of ``distmod/_native/sameconv.c``: whichever this processor runs): stride 1, output the input's size, read and
written in the NCHW arrays themselves with lane masks standing for the padding.

Against the float64 engines through the executor, on the shapes that reach each branch of
the C code: images whose positions are not a multiple of the 16-lane vector, of the 8-lane
half or of the 3-vector (AVX2: 3-half) block, images smaller than one half, filters not a
multiple of the 8- and 4-row blocks, channels not a multiple of the weight gradient's 6-
(AVX2: 3-) channel block, one channel,
groups, dilation, 5x5, 1x3 and 1x1 kernels, a bias.  Then: where it does not run, the
thread split, bit-identical repeats, NaN reaching exactly the outputs that read it, and
nothing written outside the output."""
import numpy as np
import pytest

import distmod as mx
from distmod import _native
from distmod.ops import conv, get
from ._threads import assert_runs_identical, assert_thread_counts_agree

needs_simd = pytest.mark.skipif(
    _native.conv() is None or _native.simd_level() < 1,
    reason='the "same" convolution kernels need the native library with AVX2 and FMA or '
    'AVX-512F: %s' % _native.status())

CASES = [
    # (attrs, data shape)
    ({'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1), 'no_bias': True}, (3, 16, 28, 28)),
    ({'kernel': (3, 3), 'num_filter': 11, 'pad': (1, 1)}, (2, 13, 9, 11)),
    ({'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1)}, (4, 1, 10, 10)),
    ({'kernel': (3, 3), 'num_filter': 7, 'pad': (1, 1)}, (2, 5, 3, 3)),
    ({'kernel': (3, 3), 'num_filter': 6, 'num_group': 2, 'pad': (1, 1), 'no_bias': True},
     (2, 12, 7, 6)),
    ({'kernel': (3, 3), 'num_filter': 5, 'pad': (2, 2), 'dilate': (2, 2)}, (2, 7, 10, 9)),
    ({'kernel': (5, 5), 'num_filter': 20, 'pad': (2, 2)}, (2, 3, 13, 5)),
    ({'kernel': (1, 3), 'num_filter': 9, 'pad': (0, 1)}, (3, 7, 5, 9)),
    ({'kernel': (3, 1), 'num_filter': 3, 'pad': (2, 0), 'dilate': (2, 1)}, (2, 4, 8, 4)),
    ({'kernel': (1, 1), 'num_filter': 2, 'no_bias': True}, (3, 5, 4, 6)),
    # 48 positions exactly (one block), and 8 + 4 + 3 filter rows
    ({'kernel': (3, 3), 'num_filter': 15, 'pad': (1, 1)}, (2, 6, 6, 8)),
    # fewer positions than one AVX2 half; 24 exactly (one AVX2 block)
    ({'kernel': (3, 3), 'num_filter': 5, 'pad': (1, 1)}, (3, 4, 2, 3)),
    ({'kernel': (3, 3), 'num_filter': 4, 'pad': (1, 1)}, (2, 3, 4, 6)),
]


def _op_of(exe):
    ops = [st.op for st in exe._plan.steps if isinstance(st.op, conv.Convolution)]
    assert len(ops) == 1
    return ops[0]


def _run(attrs, shape, dtype, seed=5):
    """Output, gradients and the bound Convolution of one forward/backward."""
    rng = np.random.default_rng(seed)
    sym = mx.sym.Convolution(mx.sym.Variable('data'), name='c', **attrs)
    exe = sym.simple_bind(mx.cpu(), data=shape, type_dict={'data': dtype})
    for arr in exe.arg_dict.values():
        arr[:] = rng.standard_normal(arr.shape)
    out = exe.forward(is_train=True)[0]
    exe.backward(mx.nd.array(rng.standard_normal(out.shape), dtype=dtype))
    return out.asnumpy(), {n: g.asnumpy() for n, g in exe.grad_dict.items()}, _op_of(exe)


def _ran_same(op):
    return getattr(op, '_same_key', None) is not None


@needs_simd
@pytest.mark.parametrize('attrs,shape', CASES, ids=[str(i) for i in range(len(CASES))])
def test_same_engine_matches_float64(attrs, shape):
    y32, g32, op32 = _run(attrs, shape, 'float32')
    y64, g64, op64 = _run(attrs, shape, 'float64')
    assert _ran_same(op32) and not _ran_same(op64)
    scale = max(1.0, float(np.abs(y64).max()))
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5 * scale)
    assert set(g32) == set(g64)
    for name in g64:
        s = max(1.0, float(np.abs(g64[name]).max()))
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-4, atol=1e-5 * s,
                                   err_msg=name)


@needs_simd
@pytest.mark.parametrize('attrs,shape,why', [
    ({'kernel': (3, 3), 'num_filter': 4, 'stride': (2, 2), 'pad': (1, 1)}, (2, 8, 10, 10),
     'a stride'),
    ({'kernel': (3, 3), 'num_filter': 4}, (2, 8, 10, 10), 'no padding: a smaller output'),
    ({'kernel': (3, 3), 'num_filter': 4, 'pad': (2, 2)}, (2, 8, 10, 10),
     'more padding: a bigger output'),
    ({'kernel': (3, 3), 'num_filter': 4, 'pad': (1, 1), 'layout': 'NHWC'}, (2, 10, 10, 8),
     'channel-last'),
    ({'kernel': (3,), 'num_filter': 4, 'pad': (1,)}, (2, 8, 10), '1-D'),
])
def test_same_engine_stays_out_where_it_does_not_apply(attrs, shape, why):
    _, _, op = _run(attrs, shape, 'float32')
    assert not _ran_same(op), why


@needs_simd
def test_non_contiguous_arrays_take_another_engine():
    op = get('Convolution')({'kernel': (3, 3), 'num_filter': 4, 'pad': (1, 1),
                             'no_bias': True})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)[:, ::2]
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = np.empty((2, 4, 9, 8), np.float32)
    op.forward(np, [x, w], [y], [], False)
    assert not _ran_same(op)
    ref = np.empty_like(y)
    op2 = get('Convolution')({'kernel': (3, 3), 'num_filter': 4, 'pad': (1, 1),
                              'no_bias': True})
    op2.forward(np, [np.ascontiguousarray(x), w], [ref], [], False)
    assert _ran_same(op2)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@needs_simd
def test_threads_split_the_images_and_agree(threads):
    attrs, shape = {'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1)}, (30, 16, 28, 28)
    threads(1)
    y1, g1, op = _run(attrs, shape, 'float32')
    assert _ran_same(op) and len(op._same_engine.parts) == 1
    threads(3)
    y3, g3, op = _run(attrs, shape, 'float32')
    assert _ran_same(op) and len(op._same_engine.parts) == 3
    assert_thread_counts_agree((y1, g1), (y3, g3))


@needs_simd
def test_a_thread_count_repeats_bit_identically(threads):
    # replicas on different ranks must stay identical: the same count, the same bits
    attrs, shape = {'kernel': (3, 3), 'num_filter': 8, 'pad': (1, 1)}, (30, 8, 20, 20)
    threads(2)
    runs = [_run(attrs, shape, 'float32') for _ in range(3)]
    assert all(_ran_same(r[2]) for r in runs)
    assert_runs_identical([r[:2] for r in runs])


@needs_simd
def test_nan_reaches_exactly_the_outputs_that_read_it():
    op = get('Convolution')({'kernel': (3, 3), 'num_filter': 2, 'pad': (1, 1),
                             'no_bias': True})
    x = np.ones((2, 3, 6, 7), np.float32)
    x[1, 2, 0, 6] = np.nan                 # a corner: its neighbours wrap in flat order
    w = np.ones((2, 3, 3, 3), np.float32)
    y = np.empty((2, 2, 6, 7), np.float32)
    op.forward(np, [x, w], [y], [], False)
    assert _ran_same(op)
    bad = np.zeros((6, 7), bool)
    bad[0:2, 5:7] = True
    assert not np.isnan(y[0]).any()
    for f in range(2):
        assert np.array_equal(np.isnan(y[1, f]), bad)


@needs_simd
def test_nothing_is_written_outside_the_outputs():
    attrs = {'kernel': (3, 3), 'num_filter': 5, 'pad': (1, 1)}
    op = get('Convolution')(attrs)
    rng = np.random.default_rng(1)
    shape_x, shape_y = (3, 4, 5, 7), (3, 5, 5, 7)
    x = rng.standard_normal(shape_x).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    n_y, n_x = int(np.prod(shape_y)), int(np.prod(shape_x))
    ybuf = np.full(n_y + 64, 7.0, np.float32)
    dxbuf = np.full(n_x + 64, 7.0, np.float32)
    y, dx = ybuf[32:32 + n_y].reshape(shape_y), dxbuf[32:32 + n_x].reshape(shape_x)
    dw, db = np.empty_like(w), np.empty_like(b)
    op.forward(np, [x, w, b], [y], [], True)
    op.backward(np, [rng.standard_normal(shape_y).astype(np.float32)], [x, w, b], [y],
                [dx, dw, db], [])
    assert _ran_same(op)
    for buf in (ybuf, dxbuf):
        assert (buf[:32] == 7.0).all() and (buf[-32:] == 7.0).all()
