"""The stride-1 convolution engine without im2col (``_Shifted`` in distmod/ops/conv.py: one
GEMM per kernel offset over a shifted view of the padded input) against the im2col engine, on
the shapes where they could part: groups, dilation, padding wider than the kernel's reach,
non-square and 1-/3-D kernels, channel-last layouts, a bias.  Both engines run through the
executor; the im2col one is forced by a zero waste bound, the shifted one by lifting it, and
each test checks which engine ran.  In float32 the shifted engine runs twice: on the native
kernels (where they are built) and on OpenBLAS's GEMMs."""
import numpy as np
import pytest

import distmod as mx
from distmod import _native
from distmod.ops import conv

CASES = [
    # (attrs, data shape)
    ({'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1)}, (4, 16, 9, 11)),
    ({'kernel': (3, 2), 'num_filter': 6, 'num_group': 3, 'pad': (2, 1), 'dilate': (2, 1)},
     (2, 12, 7, 6)),
    ({'kernel': (2, 4), 'num_filter': 5, 'pad': (3, 0), 'no_bias': True}, (3, 4, 5, 9)),
    ({'kernel': (5,), 'num_filter': 4, 'num_group': 2, 'pad': (1,), 'dilate': (3,)},
     (2, 8, 20)),
    ({'kernel': (2, 3, 2), 'num_filter': 3, 'pad': (1, 1, 0)}, (2, 5, 4, 5, 3)),
    ({'kernel': (3, 3), 'num_filter': 6, 'pad': (1, 1), 'layout': 'NHWC', 'num_group': 2},
     (2, 6, 7, 8)),
    ({'kernel': (2, 2, 3), 'num_filter': 4, 'pad': (0, 1, 1), 'layout': 'NDHWC'},
     (2, 4, 5, 6, 4)),
    ({'kernel': (1, 1), 'num_filter': 7, 'no_bias': True}, (3, 5, 4, 6)),
]


def _data_shape(attrs, shape):
    """``shape`` is given channel-first; channel-last layouts take it with C moved last."""
    if attrs.get('layout', '').endswith('C'):
        return (shape[0],) + shape[2:] + (shape[1],)
    return shape


def _run(attrs, shape, dtype, engine, monkeypatch, native=True):
    if not native:
        monkeypatch.setattr(_native, '_state', {'lib': None, 'why': 'off in this test'})
    # the "same" convolutions' engine (test_conv_same.py) is off: the two here are compared
    monkeypatch.setattr(conv._Same, 'fits', staticmethod(lambda op, x, y: False))
    if engine == 'shifted':
        monkeypatch.setattr(conv, '_SHIFT_MAX_WASTE', float('inf'))
        monkeypatch.setattr(conv, '_SHIFT_MIN_CHANNELS', 1)
    else:
        monkeypatch.setattr(conv, '_SHIFT_MAX_WASTE', 0)
    rng = np.random.default_rng(3)
    sym = mx.sym.Convolution(mx.sym.Variable('data'), name='c', **attrs)
    exe = sym.simple_bind(mx.cpu(), data=_data_shape(attrs, shape), type_dict={'data': dtype})
    for name, arr in exe.arg_dict.items():
        arr[:] = rng.standard_normal(arr.shape)
    out = exe.forward(is_train=True)[0]
    head = rng.standard_normal(out.shape)
    exe.backward(mx.nd.array(head, dtype=dtype))
    monkeypatch.undo()
    grads = {n: g.asnumpy() for n, g in exe.grad_dict.items()}
    return out.asnumpy(), grads, exe


def _engine_of(exe):
    """'same', 'shifted' or 'im2col': which engine the bound Convolution ran."""
    ops = [st.op for st in exe._plan.steps if isinstance(st.op, conv.Convolution)]
    assert len(ops) == 1
    if getattr(ops[0], '_same_key', None) is not None:
        return 'same'
    return 'shifted' if getattr(ops[0], '_shift_key', None) is not None else 'im2col'


#: the engine of "same" 3x3 convolutions at the default bounds: sameconv.c's where the
#: native kernels run AVX-512, else the padded grid's
SAME_3X3 = 'same' if _native.conv() is not None and _native.simd_level() >= 1 else 'shifted'


@pytest.mark.parametrize('dtype,native', [('float64', False), ('float32', True),
                                          ('float32', False)])
@pytest.mark.parametrize('attrs,shape', CASES, ids=[str(i) for i in range(len(CASES))])
def test_shifted_engine_equals_im2col(attrs, shape, dtype, native, monkeypatch):
    y1, g1, e1 = _run(attrs, shape, dtype, 'shifted', monkeypatch, native)
    y2, g2, e2 = _run(attrs, shape, dtype, 'im2col', monkeypatch)
    assert _engine_of(e1) == 'shifted' and _engine_of(e2) == 'im2col'
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == 'float64' else dict(rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(y1, y2, **tol)
    assert set(g1) == set(g2)
    for name in g1:
        np.testing.assert_allclose(g1[name], g2[name], err_msg=name, **tol)


def test_mnist_convnet_layer_takes_a_grid_free_engine_and_repeats_bit_identically():
    # the 16->16 3x3 convolution of MXNet's stochastic-depth example, at its default bounds
    rng = np.random.default_rng(0)
    sym = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(3, 3), pad=(1, 1),
                             num_filter=16, name='c')
    exe = sym.simple_bind(mx.cpu(), data=(8, 16, 28, 28))
    for arr in exe.arg_dict.values():
        arr[:] = rng.standard_normal(arr.shape)
    head = mx.nd.array(rng.standard_normal((8, 16, 28, 28)))
    runs = []
    for _ in range(2):
        out = exe.forward(is_train=True)[0].asnumpy()
        exe.backward(head)
        runs.append([out] + [exe.grad_dict[n].asnumpy() for n in sorted(exe.grad_dict)])
    assert _engine_of(exe) == SAME_3X3
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


@pytest.mark.parametrize('attrs,shape,why', [
    ({'kernel': (3, 3), 'num_filter': 4, 'stride': (2, 2), 'pad': (1, 1)}, (2, 8, 10, 10),
     'a stride'),
    ({'kernel': (3, 3), 'num_filter': 4, 'pad': (1, 1)}, (2, 1, 20, 20),
     'one channel, on the GEMM path'),
    ({'kernel': (5, 5), 'num_filter': 4}, (2, 8, 12, 12), 'a padded grid 2.25x the output'),
])
def test_im2col_stays_where_it_is_faster(attrs, shape, why, monkeypatch):
    if 'GEMM' in why:
        monkeypatch.setattr(_native, '_state', {'lib': None, 'why': 'off in this test'})
    sym = mx.sym.Convolution(mx.sym.Variable('data'), name='c', **attrs)
    exe = sym.simple_bind(mx.cpu(), data=shape)
    exe.forward(is_train=False)
    assert _engine_of(exe) == 'im2col', why


def test_half_precision_takes_im2col():
    sym = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(3, 3), pad=(1, 1),
                             num_filter=8, name='c')
    exe = sym.simple_bind(mx.cpu(), data=(2, 8, 12, 12), type_dict={'data': 'float16'})
    exe.forward(is_train=False)
    assert _engine_of(exe) == 'im2col'


@pytest.mark.skipif(_native.conv() is None, reason='native convolution kernels not loaded')
def test_one_channel_takes_the_native_kernels():
    sym = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(3, 3), pad=(1, 1),
                             num_filter=4, name='c')
    exe = sym.simple_bind(mx.cpu(), data=(2, 1, 20, 20))
    exe.forward(is_train=False)
    assert _engine_of(exe) == SAME_3X3
