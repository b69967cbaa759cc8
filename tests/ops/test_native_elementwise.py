"""distmod's native BatchNorm and ReLU kernels (``distmod/_native/elementwise.c``) against the
NumPy passes they replace and against float64: training and inference statistics, the moving
averages, fix_gamma, use_global_stats, output_mean_var, every gradient, a mean far from zero,
and ReLU's NaN and infinity semantics (NumPy's, which the kernels keep)."""
import numpy as np
import pytest

import distmod as mx
from distmod import _native
from distmod.ops import norm

needs_native = pytest.mark.skipif(_native.lib() is None,
                                  reason='native kernels not loaded: %s' % _native.status())


def _bn_run(attrs, shape, dtype, is_train, native, monkeypatch, offset=0.0, steps=2):
    """Outputs, gradients and moving statistics after ``steps`` forward/backward passes."""
    if not native:
        monkeypatch.setattr(_native, '_state', {'lib': None, 'why': 'off in this test'})
    rng = np.random.default_rng(11)
    sym = mx.sym.BatchNorm(mx.sym.Variable('data'), name='bn', **attrs)
    exe = sym.simple_bind(mx.cpu(), data=shape, type_dict={'data': dtype})
    exe.arg_dict['data'][:] = offset + rng.standard_normal(shape) * 3
    exe.arg_dict['bn_gamma'][:] = rng.uniform(0.5, 2, exe.arg_dict['bn_gamma'].shape)
    exe.arg_dict['bn_beta'][:] = rng.standard_normal(exe.arg_dict['bn_beta'].shape)
    for _ in range(steps):
        outs = exe.forward(is_train=is_train)
        if is_train:
            exe.backward([mx.nd.array(rng.standard_normal(o.shape), dtype=dtype)
                          for o in outs])
    op = [st.op for st in exe._plan.steps if isinstance(st.op, norm.BatchNorm)][0]
    monkeypatch.undo()
    res = {'out%d' % i: o.asnumpy() for i, o in enumerate(outs)}
    if is_train:
        res.update({'d_' + n: g.asnumpy() for n, g in exe.grad_dict.items()})
    res.update({n: a.asnumpy() for n, a in exe.aux_dict.items()})
    return res, getattr(op, '_nk', None) is not None


BN_CASES = [
    ({}, (8, 5, 6, 7), True),
    ({'fix_gamma': False}, (8, 5, 6, 7), True),
    ({'fix_gamma': False, 'output_mean_var': True}, (4, 3, 10), True),
    ({'fix_gamma': False, 'use_global_stats': True}, (4, 6, 3, 5), True),
    ({'fix_gamma': False}, (4, 6, 3, 5), False),
    ({'fix_gamma': False, 'axis': 2}, (3, 4, 5, 9), True),
    ({'fix_gamma': False, 'momentum': 0.5, 'eps': 1e-3}, (2, 16, 4, 4, 4), True),
]


@needs_native
@pytest.mark.parametrize('attrs,shape,is_train', BN_CASES,
                         ids=[str(i) for i in range(len(BN_CASES))])
def test_native_batchnorm_matches_numpy_and_float64(attrs, shape, is_train, monkeypatch):
    nat, ran = _bn_run(attrs, shape, 'float32', is_train, True, monkeypatch)
    ref, ran_ref = _bn_run(attrs, shape, 'float32', is_train, False, monkeypatch)
    f64, _ = _bn_run(attrs, shape, 'float64', is_train, True, monkeypatch)
    assert ran and not ran_ref
    assert set(nat) == set(ref) == set(f64)
    for name in nat:
        scale = max(1.0, float(np.abs(f64[name]).max()))
        np.testing.assert_allclose(nat[name], f64[name], rtol=1e-4, atol=2e-5 * scale,
                                   err_msg=name)
        np.testing.assert_allclose(nat[name], ref[name], rtol=1e-4, atol=2e-5 * scale,
                                   err_msg=name)


@needs_native
def test_native_batchnorm_keeps_precision_with_a_mean_far_from_zero(monkeypatch):
    attrs, shape = {'fix_gamma': False}, (16, 4, 12, 12)
    nat, ran = _bn_run(attrs, shape, 'float32', True, True, monkeypatch, offset=1e4, steps=1)
    f64, _ = _bn_run(attrs, shape, 'float64', True, True, monkeypatch, offset=1e4, steps=1)
    assert ran
    # centred statistics: the normalised output keeps float32's precision of the deviations
    np.testing.assert_allclose(nat['out0'], f64['out0'], atol=5e-3)
    np.testing.assert_allclose(nat['bn_moving_var'], f64['bn_moving_var'], rtol=1e-3)
    np.testing.assert_allclose(nat['d_data'], f64['d_data'], atol=5e-3)


def test_channel_last_and_half_precision_keep_numpy(monkeypatch):
    for shape, dtype, attrs in [((4, 6, 3, 5), 'float16', {}),
                                ((4, 3, 5, 6), 'float32', {'axis': -1})]:
        sym = mx.sym.BatchNorm(mx.sym.Variable('data'), name='bn', **attrs)
        exe = sym.simple_bind(mx.cpu(), data=shape, type_dict={'data': dtype})
        exe.arg_dict['data'][:] = np.random.default_rng(0).standard_normal(shape)
        exe.forward(is_train=True)
        op = [st.op for st in exe._plan.steps if isinstance(st.op, norm.BatchNorm)][0]
        assert getattr(op, '_nk', None) is None, (shape, dtype, attrs)


SPECIAL = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.5, 2.5, 1e-40, -1e-40],
                   np.float32)


@needs_native
def test_native_relu_keeps_numpys_values_for_nan_and_infinities():
    x = np.tile(SPECIAL, 5)                 # past one vector, with a tail
    out = np.empty_like(x)
    assert _native.relu(x, out)
    want = np.maximum(x, 0)
    np.testing.assert_array_equal(out, want)         # NaN where NaN, +inf, zeros
    g = np.tile(np.array([1, np.nan, np.inf, 2, 3, 4, -5, 6, 7], np.float32), 5)
    dx = np.empty_like(g)
    assert _native.relu_grad(g, want, dx)
    np.testing.assert_array_equal(dx, g * (want > 0))    # NaN * 0 stays NaN, as NumPy's


@needs_native
def test_native_relu_declines_what_it_cannot_take():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = np.empty_like(x)
    assert not _native.relu(x.T, out)                     # not contiguous
    assert not _native.relu(x.astype(np.float64), out)    # another dtype
    assert not _native.relu(x, None)
    assert not _native.relu(x, np.empty(5, np.float32))   # another size
    # the operator then takes NumPy's path with the same result
    got = mx.nd.relu(mx.nd.array(x.T - 5)).asnumpy()
    np.testing.assert_array_equal(got, np.maximum(x.T - 5, 0))


@needs_native
def test_relu_in_place_and_through_the_executor():
    x = np.linspace(-3, 3, 37, dtype=np.float32)
    assert _native.relu(x, x)
    np.testing.assert_array_equal(x, np.maximum(np.linspace(-3, 3, 37, dtype=np.float32), 0))
    sym = mx.sym.Activation(mx.sym.Variable('data'), act_type='relu')
    exe = sym.simple_bind(mx.cpu(), data=(4, 9))
    data = np.random.default_rng(1).standard_normal((4, 9)).astype(np.float32)
    exe.arg_dict['data'][:] = data
    out = exe.forward(is_train=True)[0].asnumpy()
    head = np.random.default_rng(2).standard_normal((4, 9)).astype(np.float32)
    exe.backward(mx.nd.array(head))
    np.testing.assert_array_equal(out, np.maximum(data, 0))
    np.testing.assert_array_equal(exe.grad_dict['data'].asnumpy(), head * (data > 0))


@needs_native
@pytest.mark.parametrize('op', ['Convolution', 'Deconvolution'])
def test_bias_gradient_sums_in_float64_through_the_native_pass(op):
    """The bias gradient of a float32 convolution: one native pass (float lanes along a row,
    rows added in float64), as close to float64's sum as float32 rounding allows."""
    rng = np.random.default_rng(2)
    sym = getattr(mx.sym, op)(mx.sym.Variable('data'), kernel=(3, 3), num_filter=7, name='c',
                               no_bias=False)
    exe = sym.simple_bind(mx.cpu(), data=(9, 3, 13, 11))
    exe.arg_dict['data'][:] = rng.standard_normal((9, 3, 13, 11))
    exe.arg_dict['c_weight'][:] = rng.standard_normal(exe.arg_dict['c_weight'].shape)
    out = exe.forward(is_train=True)[0]
    g = (rng.standard_normal(out.shape) * 100 + 3).astype(np.float32)
    exe.backward([mx.nd.array(g)])
    want = g.astype(np.float64).sum(axis=(0, 2, 3))
    scale = np.abs(g).astype(np.float64).sum(axis=(0, 2, 3))
    assert (np.abs(exe.grad_dict['c_bias'].asnumpy() - want) <= 2e-7 * scale).all()
