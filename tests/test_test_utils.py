"""mx.test_utils: MXNet 1.9's testing helpers, each pinned, and the graph checks shown to fail
when they should."""
import doctest

import numpy as np
import pytest

import distmod as mx
from distmod import test_utils as tu
from distmod.base import MXNetError
from distmod.ops import get as get_op


def test_module_docstring_examples_run():
    result = doctest.testmod(tu, extraglobs={'mx': mx, 'np': np},
                             optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 10


def test_random_faces_docstring_examples_run():
    for mod in (mx.nd.random, mx.sym.random):
        result = doctest.testmod(mod, extraglobs={'mx': mx, 'np': np},
                                 optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, mod.__name__


# ---- context and dtype ---------------------------------------------------------------------
def test_default_context_follows_set_default_context_and_scopes():
    assert tu.default_context() == mx.cpu(0)
    try:
        tu.set_default_context(mx.cpu(3))
        assert tu.default_context() == mx.cpu(3)
        assert mx.nd.zeros((1,)).context == mx.cpu(3)
        with mx.cpu(4):
            assert tu.default_context() == mx.cpu(4)
        assert tu.default_context() == mx.cpu(3)
    finally:
        tu.set_default_context(None)
    assert tu.default_context() == mx.cpu(0)


def test_default_dtype_and_tolerances_are_mxnets():
    assert tu.default_dtype() is np.float32
    assert tu.default_rtols()[np.dtype(np.float32)] == 1e-4
    assert tu.default_atols()[np.dtype(np.float32)] == 1e-3
    assert tu.default_rtols()[np.dtype(np.float16)] == 1e-2
    assert tu.default_atols()[np.dtype(np.float64)] == 1e-20
    assert tu.get_rtol() == 1e-5 and tu.get_atol() == 1e-20 and tu.get_rtol(0.5) == 0.5


# ---- comparisons ---------------------------------------------------------------------------
def test_almost_equal_uses_float64_defaults_and_broadcasts():
    assert tu.almost_equal(np.array([1.0, 2.0]), np.array([1.0, 2.00001]))
    assert not tu.almost_equal(np.array([1.0, 2.0]), np.array([1.0, 2.001]))
    assert not tu.almost_equal(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert tu.almost_equal(np.array([1.0, np.nan]), np.array([1.0, np.nan]), equal_nan=True)
    assert tu.almost_equal(np.ones((2, 3)), np.ones(3))
    assert not tu.almost_equal(np.ones((2, 3)), np.ones(3), use_broadcast=False)
    assert tu.almost_equal(mx.nd.array([1, 2]), np.array([1.0, 2.0]))
    assert tu.almost_equal(np.array([1, 2]), np.array([1, 3]), atol=1)


def test_assert_almost_equal_defaults_follow_the_dtypes():
    tu.assert_almost_equal(np.ones(3, np.float32), np.ones(3) * 1.0005)       # float32's atol
    tu.assert_almost_equal(np.ones(3, np.float16), np.ones(3, np.float16) * 1.05)
    tu.assert_almost_equal(mx.nd.ones((2, 3)), np.ones((2, 3)))
    tu.assert_almost_equal(1.0, 1.0)
    tu.assert_almost_equal(np.ones(2, np.float32), np.ones(2, np.float32) * 1.01,
                           rtol={np.dtype(np.float32): 0.1})
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(np.ones(3), np.ones(3) * 1.0005)                # float64: tight
    with pytest.raises(AssertionError, match='rtol=0.000000e\\+00, atol=0.000000e\\+00'):
        tu.assert_almost_equal(np.ones(3, np.int32), np.ones(3, np.int32) * 2)


def test_assert_almost_equal_message_names_the_worst_mismatch():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = a.copy()
    b[1, 2] += 0.5
    b[2, 3] += 2
    with pytest.raises(AssertionError) as err:
        tu.assert_almost_equal(a, b, names=('x', 'y'))
    msg = str(err.value)
    assert 'Error 869.565' in msg and 'rtol=1.000000e-04, atol=1.000000e-03' in msg
    assert '(mismatch 16.666667%)' in msg
    assert 'Location of maximum error: (2, 3), x=11.00000000, y=13.00000000' in msg
    assert ' ACTUAL: array(' in msg and ' DESIRED: array(' in msg
    assert '2: Error 303.030303  Location of error: (1, 2), x=6.00000000, y=6.50000000' in msg
    with pytest.raises(AssertionError) as err:
        tu.assert_almost_equal(a, b, mismatches=(1, 1))
    assert '2: Error' not in str(err.value)


def test_assert_almost_equal_nan_and_shape_rules():
    with pytest.raises(AssertionError, match='Error nan'):
        tu.assert_almost_equal(np.array([np.nan]), np.array([np.nan]))
    tu.assert_almost_equal(np.array([np.nan]), np.array([np.nan]), equal_nan=True)
    tu.assert_almost_equal(np.ones((2, 3)), np.ones(3))
    with pytest.raises(AssertionError, match=r'a.shape = \(2, 3\) and b.shape = \(3,\)'):
        tu.assert_almost_equal(np.ones((2, 3)), np.ones(3), use_broadcast=False)
    with pytest.raises(ValueError):
        tu.assert_almost_equal(np.ones((2, 3)), np.ones((3, 2)))


def test_assert_allclose_same_and_same_array():
    tu.assert_allclose(mx.nd.array([1, 2]), np.array([1, 2.0]))
    with pytest.raises(AssertionError):
        tu.assert_allclose(np.array([1.0]), np.array([1.0 + 1e-5]))
    assert tu.same(np.array([1, 2]), np.array([1, 2]))
    assert not tu.same(np.array([1, 2]), np.array([1, 3]))
    assert tu.same(np.array([1, 2.0]), np.array([1, 2]))
    assert not tu.same(np.ones((2, 1)), np.ones(2))
    a = mx.nd.ones((3,))
    assert tu.same_array(a, a)
    assert not tu.same_array(a, a.copy())
    assert not tu.same_array(a, a[0:2])
    assert tu.same_array(a, mx.nd.NDArray(a.data))


# ---- random data ---------------------------------------------------------------------------
def test_random_shapes_stay_in_range_and_repeat_with_numpy_seed():
    np.random.seed(0)
    shapes = [tu.rand_shape_2d(), tu.rand_shape_3d(4, 5, 6), tu.rand_shape_nd(5, dim=3)]
    assert len(shapes[0]) == 2 and all(1 <= d <= 10 for d in shapes[0])
    assert all(1 <= d <= m for d, m in zip(shapes[1], (4, 5, 6)))
    assert len(shapes[2]) == 5 and all(1 <= d <= 3 for d in shapes[2])
    assert all(isinstance(d, int) for s in shapes for d in s)
    np.random.seed(0)
    assert [tu.rand_shape_2d(), tu.rand_shape_3d(4, 5, 6), tu.rand_shape_nd(5, dim=3)] == shapes
    zeros = {d for _ in range(200) for d in tu.rand_shape_nd(3, dim=1, allow_zero_size=True)}
    assert zeros == {0, 1}


def test_random_arrays_and_rand_ndarray():
    np.random.seed(1)
    x, y = tu.random_arrays((2, 3), (4,))
    assert x.shape == (2, 3) and y.shape == (4,) and x.dtype == np.float32
    one = tu.random_arrays((5,))
    assert isinstance(one, np.ndarray) and one.shape == (5,)
    assert tu.random_arrays(()).shape == ()
    big = tu.random_arrays((20000,))
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05
    r = tu.rand_ndarray((2, 3))
    assert isinstance(r, mx.nd.NDArray) and r.dtype == np.float32 and r.shape == (2, 3)
    assert tu.rand_ndarray((2, 3), dtype='float64', density=0.5).dtype == np.float64
    assert tu.rand_ndarray((2,), ctx=mx.cpu(1)).context == mx.cpu(1)
    for stype in ('csr', 'row_sparse'):
        r = tu.rand_ndarray((20, 30), stype=stype, density=0.5)
        assert r.stype == stype and r.shape == (20, 30)
        assert 0 < np.count_nonzero(r.asnumpy()) < 600
    picked = tu.random_sample(range(10), 4)
    assert len(set(picked)) == 4 and set(picked) <= set(range(10))


def test_np_reduce_over_axes_with_and_without_keepdims():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    np.testing.assert_array_equal(tu.np_reduce(x, (0, 2), True, np.sum),
                                  x.sum(axis=(0, 2), keepdims=True))
    np.testing.assert_array_equal(tu.np_reduce(x, 1, False, np.max), x.max(axis=1))
    np.testing.assert_array_equal(tu.np_reduce(x, [-1], False, np.min), x.min(axis=-1))
    assert tu.np_reduce(x, None, False, np.sum) == x.sum()
    assert tu.np_reduce(x, None, True, np.sum).shape == (1, 1, 1)


# ---- graph checks --------------------------------------------------------------------------
X, Y = mx.sym.Variable('x'), mx.sym.Variable('y')
LOC = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]


def _prod():
    return mx.sym.elemwise_mul(X, Y, name='prod')


def test_check_symbolic_forward_passes_with_list_or_dict_and_returns_outputs():
    s = _prod()
    outs = tu.check_symbolic_forward(s, LOC, [np.array([3.0, 8.0])])
    assert isinstance(outs[0], mx.nd.NDArray)
    tu.check_symbolic_forward(s, {'x': LOC[0], 'y': LOC[1]}, {'prod_output': np.array([3.0, 8.0])})
    tu.check_symbolic_forward(s, [mx.nd.array(LOC[0]), mx.nd.array(LOC[1])],
                              [mx.nd.array([3.0, 8.0])])
    out = tu.check_symbolic_forward(s, [np.array([1, 2]), np.array([3, 4])], [np.array([3, 8])],
                                    dtype='asnumpy')
    assert out[0].dtype == np.array([1]).dtype
    assert tu.check_symbolic_forward(s, LOC, [np.array([3, 8])], dtype=np.float64)[0].dtype \
        == np.float64


def test_check_symbolic_forward_fails_on_a_wrong_expectation():
    with pytest.raises(AssertionError,
                       match='EXPECTED_prod_output=9.0+, FORWARD_prod_output=8.0+'):
        tu.check_symbolic_forward(_prod(), LOC, [np.array([3.0, 9.0])])


def test_check_symbolic_forward_runs_in_inference_mode():
    tu.check_symbolic_forward(mx.sym.Dropout(X, p=0.5), [np.array([1.0, 2.0])],
                              [np.array([1.0, 2.0])])


def test_location_must_name_every_argument():
    with pytest.raises(ValueError, match='do not match'):
        tu.check_symbolic_forward(X * Y, {'x': LOC[0]}, [np.ones(2)])
    with pytest.raises(ValueError, match='do not match'):
        tu.check_symbolic_forward(X * Y, {'x': LOC[0], 'y': LOC[1], 'z': LOC[1]}, [np.ones(2)])
    with pytest.raises(ValueError, match='2 arguments'):
        tu.check_symbolic_forward(X * Y, [LOC[0]], [np.ones(2)])


def test_check_symbolic_backward_passes_and_returns_gradients():
    grads = tu.check_symbolic_backward(X * Y, LOC, [np.ones(2)], [LOC[1], LOC[0]])
    assert sorted(grads) == ['x', 'y']
    np.testing.assert_allclose(grads['x'].asnumpy(), LOC[1])
    tu.check_symbolic_backward(_prod(), {'x': LOC[0], 'y': LOC[1]},
                               {'prod_output': np.ones(2)}, {'x': LOC[1]})
    grads = tu.check_symbolic_backward(X * Y, LOC, [np.ones(2) * 2], {'x': LOC[1] * 2},
                                       grad_req={'x': 'add', 'y': 'null'})
    assert sorted(grads) == ['x']


def test_check_symbolic_backward_fails_on_a_wrong_expectation():
    with pytest.raises(AssertionError, match='EXPECTED_x=5.0+, BACKWARD_x=4.0+'):
        tu.check_symbolic_backward(X * Y, LOC, [np.ones(2)], [np.array([3.0, 5.0]), LOC[0]])
    with pytest.raises(AssertionError, match='BACKWARD_y'):
        tu.check_symbolic_backward(X * Y, LOC, [np.ones(2)], [LOC[1], LOC[0] + 1],
                                   grad_req='add')


def test_check_symbolic_backward_of_a_loss_layer_needs_no_out_grads():
    data, label = mx.sym.Variable('data'), mx.sym.Variable('label')
    loss = mx.sym.LinearRegressionOutput(data, label)
    x, t = np.array([[1.0, 2.0]]), np.array([[0.5, 3.0]])
    # MXNet scales by 1 / (outputs per example)
    tu.check_symbolic_backward(loss, [x, t], None, {'data': (x - t) / 2},
                               grad_req={'data': 'write', 'label': 'null'})


def test_check_symbolic_backward_refuses_sparse_gradients():
    with pytest.raises(MXNetError, match='storage types'):
        tu.check_symbolic_backward(X * Y, LOC, [np.ones(2)], [LOC[1], LOC[0]],
                                   grad_stypes={'x': 'row_sparse'})


def test_check_numeric_gradient_passes_on_correct_operators():
    np.random.seed(0)
    w, b = mx.sym.Variable('w'), mx.sym.Variable('b')
    fc = mx.sym.FullyConnected(X, w, b, num_hidden=3)
    tu.check_numeric_gradient(fc, [np.random.randn(2, 4), np.random.randn(3, 4),
                                   np.random.randn(3)])
    tu.check_numeric_gradient(mx.sym.tanh(X) * Y, {'x': np.random.randn(3),
                                                   'y': np.random.randn(3)}, grad_nodes=['x'])
    tu.check_numeric_gradient(X * X, [np.random.randn(4)], grad_nodes={'x': 'add'},
                              dtype=np.float64)
    tu.check_numeric_gradient(mx.sym.sigmoid(X), [np.random.randn(3)], dtype=np.float16)


def test_check_numeric_gradient_handles_random_operators_in_the_graph():
    np.random.seed(1)
    mx.random.seed(3)
    before = mx.nd.random.uniform(shape=(4,)).asnumpy()
    mx.random.seed(3)
    tu.check_numeric_gradient(mx.sym.Dropout(mx.sym.tanh(X), p=0.5), [np.random.randn(3, 4)])
    # the caller's random stream is untouched by the check
    np.testing.assert_array_equal(mx.nd.random.uniform(shape=(4,)).asnumpy(), before)


def test_check_numeric_gradient_fails_on_a_wrong_gradient(monkeypatch):
    cls = get_op('tanh')
    right = cls.backward

    def wrong(self, xp, ograds, ins, outs, igrads, aux):
        right(self, xp, ograds, ins, outs, igrads, aux)
        igrads[0] *= 1.1
    monkeypatch.setattr(cls, 'backward', wrong)
    np.random.seed(2)
    with pytest.raises(AssertionError, match='NUMERICAL_x=.*BACKWARD_x='):
        tu.check_numeric_gradient(mx.sym.tanh(X), [np.random.randn(2, 3)])


def test_check_numeric_gradient_fails_on_a_missing_gradient():
    with pytest.raises(AssertionError, match='rtol=1.000000e-04, atol=1.000000e-03'):
        tu.check_numeric_gradient(mx.sym.BlockGrad(X) * 1, [np.array([1.0, 2.0])])


@pytest.mark.parametrize('dtype,inside,outside', [
    (np.float32, 8e-4, 1.1e-3), (np.float64, 3e-5, 4e-5), (np.float16, 6e-3, 8e-3)])
def test_numeric_eps_defaults_follow_the_dtype_as_in_mxnet(dtype, inside, outside):
    # sign() jumps at 0: a point within eps/2 of it sees the jump, one further out does not
    with pytest.raises(AssertionError):
        tu.check_numeric_gradient(mx.sym.sign(X), [np.array([inside])], dtype=dtype)
    tu.check_numeric_gradient(mx.sym.sign(X), [np.array([outside])], dtype=dtype)


def test_numeric_grad_of_the_sum_of_outputs():
    exe = (X * X).simple_bind(mx.cpu(), x=(3,))
    g = tu.numeric_grad(exe, {'x': np.array([1.0, -2.0, 0.5])}, eps=1e-3)
    np.testing.assert_allclose(g['x'], [2.0, -4.0, 1.0], rtol=1e-3)


def test_the_smaller_helpers_of_mxnets_tests():
    import distmod as mx
    from distmod import test_utils as tu
    tu.assert_almost_equal_ignore_nan(np.array([1.0, np.nan]), np.array([1.0, 5.0]))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal_ignore_nan(np.array([1.0, np.nan]), np.array([2.0, 5.0]))
    a = mx.sym.FullyConnected(mx.sym.Variable('x'), num_hidden=2, name='a')
    b = mx.sym.FullyConnected(mx.sym.Variable('y'), num_hidden=2, name='b')
    assert tu.same_symbol_structure(a, b)
    assert not tu.same_symbol_structure(a, mx.sym.relu(a))
    x, y = tu.rand_coord_2d(0, 5, 10, 20)
    assert 0 <= x < 5 and 10 <= y < 20
    assert tu.create_vector(3).asnumpy().tolist() == [0, 1, 2]
    assert tu.create_2d_tensor(2, 3).asnumpy().tolist() == [[0, 0, 0], [1, 1, 1]]
    it = tu.DummyIter(mx.io.NDArrayIter(np.ones((10, 2)), batch_size=5))
    assert next(it) is next(it) and it.batch_size == 5
    assert tu.simple_forward(mx.sym.Variable('x') * 2, x=np.ones(2)).tolist() == [2.0, 2.0]
    calls = []

    @tu.retry(3)
    def flaky():
        calls.append(1)
        assert len(calls) == 2
    flaky()
    assert len(calls) == 2
    assert tu.assign_each(np.array([1, 2]), lambda v: v * 3).tolist() == [3, 6]
    assert tu.list_gpus() == list(range(mx.context.num_gpus()))
