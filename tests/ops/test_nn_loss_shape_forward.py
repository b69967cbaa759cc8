"""Forward values and shapes of the nn, loss and shape operators against MXNet 1.9.1.

Every expected number here was printed by real MXNet 1.9.1 (the reference venv) for the same
inputs; the gradient of every operator is checked separately by test_gradients.py.
"""
import numpy as np
import pytest

import distmod as mx
from distmod.ops.shape import infer_reshape
from distmod.ops.registry import InferError


def run(sym_fn, data, label, **kw):
    """Forward (training) and backward of a loss layer; returns (output, data gradient)."""
    d = mx.sym.Variable('data')
    lab = mx.sym.Variable('label')
    s = sym_fn(d, lab, **kw)
    data, label = np.asarray(data, np.float32), np.asarray(label, np.float32)
    exe = s.bind(mx.cpu(), args={'data': mx.nd.array(data), 'label': mx.nd.array(label)},
                 args_grad={'data': mx.nd.zeros(data.shape), 'label': mx.nd.zeros(label.shape)})
    exe.forward(is_train=True)
    exe.backward()
    assert (exe.grad_dict['label'].asnumpy() == 0).all()
    return exe.outputs[0].asnumpy(), exe.grad_dict['data'].asnumpy()


@pytest.mark.parametrize('src,target,reverse,want', [
    ((2, 3, 4), (4, 0, 2), False, (4, 3, 2)), ((2, 3, 4), (2, 0, 0), False, (2, 3, 4)),
    ((2, 3, 4), (6, 1, -1), False, (6, 1, 4)), ((2, 3, 4), (3, -1, 8), False, (3, 1, 8)),
    ((2, 3, 4), (-1,), False, (24,)), ((2, 3, 4), (-2,), False, (2, 3, 4)),
    ((2, 3, 4), (2, -2), False, (2, 3, 4)), ((2, 3, 4), (-3, 4), False, (6, 4)),
    ((2, 3, 4), (-3, -2), False, (6, 4)), ((2, 3, 4), (-4, 1, 2, -2), False, (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), False, (2, 1, 3, 4)), ((2, 3, 4), (0, -3), False, (2, 12)),
    ((10, 5, 4), (-1, 0), False, (40, 5)), ((10, 5, 4), (-1, 0), True, (50, 4)),
    ((2, 3, 4), (0, 0, -1), False, (2, 3, 4)), ((2, 3, 4, 5), (-3, -3), False, (6, 20))])
def test_reshape_codes_match_mxnet(src, target, reverse, want):
    assert infer_reshape(src, target, reverse) == want
    assert mx.nd.Reshape(mx.nd.zeros(src), shape=target, reverse=reverse).shape == want


@pytest.mark.parametrize('target', [(5, -1), (-1, -1), (-4, 5, -1, -2)])
def test_impossible_reshapes_name_both_shapes(target):
    with pytest.raises(InferError, match=r'\(2, 3, 4\)'):
        infer_reshape((2, 3, 4), target)
    x = mx.sym.Variable('x')
    with pytest.raises(mx.MXNetError, match="'rs'"):
        mx.sym.Reshape(x, shape=target, name='rs').infer_shape(x=(2, 3, 4))


def test_leaky_relu_variants():
    d = mx.nd.array([[-1.5, -0.2, 0.0, 0.7, 2.0]])
    want = {'leaky': [-0.375, -0.05, 0.0, 0.7, 2.0],
            'elu': [-0.19421745836734772, -0.04531732201576233, 0.0, 0.7, 2.0],
            'selu': [-1.3658143281936646, -0.3186893165111542, 0.0, 0.7354906797409058,
                     2.1014020442962646],
            'gelu': [-0.10021085292100906, -0.08414804935455322, 0.0, 0.5306254625320435,
                     1.9544998407363892]}
    for act, values in want.items():
        got = mx.nd.LeakyReLU(d, act_type=act).asnumpy()[0]
        np.testing.assert_allclose(got, values, rtol=1e-5, atol=1e-6, err_msg=act)
    got = mx.nd.LeakyReLU(mx.nd.array([[-1, 2], [-3, 4]]), mx.nd.array([0.1, 0.5]),
                          act_type='prelu').asnumpy()
    np.testing.assert_allclose(got, [[-0.1, 2.0], [-0.3, 4.0]], rtol=1e-6)


def test_prelu_gamma_gradient_matches_mxnet():
    x = mx.sym.Variable('x')
    g = mx.sym.Variable('g')
    s = mx.sym.LeakyReLU(x, g, act_type='prelu')
    xv = np.arange(-6, 6).reshape(2, 3, 2).astype(np.float32)
    exe = s.bind(mx.cpu(), args={'x': mx.nd.array(xv), 'g': mx.nd.array([0.5, 0.1, 0.2])},
                 args_grad={'x': mx.nd.zeros((2, 3, 2)), 'g': mx.nd.zeros((3,))})
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((2, 3, 2)))
    assert exe.grad_dict['g'].asnumpy().tolist() == [-11.0, -7.0, -3.0]


D = [[1., 2., 0.5], [0.1, -1, 0.3]]
OUT = [[0.23122, 0.62853, 0.14024], [0.39150, 0.13032, 0.47818]]


@pytest.mark.parametrize('kw,label,grad', [
    ({}, [0, 2], [[-0.76878, 0.62853, 0.14024], [0.39150, 0.13032, -0.52182]]),
    ({'normalization': 'batch', 'grad_scale': 2}, [0, 2],
     [[-0.76878, 0.62853, 0.14024], [0.39150, 0.13032, -0.52182]]),
    ({'use_ignore': True, 'normalization': 'valid'}, [0, -1],
     [[-0.76878, 0.62853, 0.14024], [0, 0, 0]]),
    ({'normalization': 'valid'}, [0, 2],
     [[-0.3844, 0.3143, 0.0701], [0.1958, 0.0652, -0.2609]]),
    ({'smooth_alpha': 0.1}, [0, 2],
     [[-0.66878, 0.57853, 0.09024], [0.34150, 0.08032, -0.42182]]),
    ({}, [[0.2, 0.3, 0.5], [1, 0, 0]],
     [[0.03122, 0.32853, -0.35976], [-0.60850, 0.13032, 0.47818]]),
])
def test_softmax_output_gradients_match_mxnet(kw, label, grad):
    out, g = run(mx.sym.SoftmaxOutput, D, label, **kw)
    np.testing.assert_allclose(out, OUT, atol=1e-4)
    np.testing.assert_allclose(g, grad, atol=1e-4)


D3 = np.arange(24).reshape(2, 3, 4) / 10.
L3 = [[0, 1, 2, 0], [2, 0, 1, 1]]
G3 = np.array([[[-0.197, 0.053, 0.053, -0.197], [0.0791, -0.1709, 0.0791, 0.0791],
                [0.1179, 0.1179, -0.1321, 0.1179]],
               [[0.053, -0.197, 0.053, 0.053], [0.0791, 0.0791, -0.1709, -0.1709],
                [-0.1321, 0.1179, 0.1179, 0.1179]]])


def test_softmax_output_multi_output_normalizations_match_mxnet():
    out, g = run(mx.sym.SoftmaxOutput, D3, L3, multi_output=True)
    np.testing.assert_allclose(out[0, :, 0], [0.212, 0.3162, 0.4718], atol=1e-4)
    np.testing.assert_allclose(g, G3, atol=1e-4)
    _, g = run(mx.sym.SoftmaxOutput, D3, L3, multi_output=True, normalization='batch')
    np.testing.assert_allclose(g, G3 / 2, atol=1e-4)
    lab = [[0, 1, 2, 0], [2, 0, 1, -1]]
    _, g = run(mx.sym.SoftmaxOutput, D3, lab, multi_output=True, normalization='valid',
               use_ignore=True)
    np.testing.assert_allclose(g[0], G3[0] * 4 / 7, atol=1e-4)
    assert (g[1, :, 3] == 0).all()


def test_softmax_output_preserve_shape_and_default_nd():
    d = np.arange(12).reshape(2, 3, 2) / 10.
    out, g = run(mx.sym.SoftmaxOutput, d, [[0, 1, 1], [0, 1, 0]], preserve_shape=True)
    np.testing.assert_allclose(out[0, 0], [0.47502, 0.52498], atol=1e-4)
    np.testing.assert_allclose(g[1, 2], [-0.52498, 0.52498], atol=1e-4)
    out, g = run(mx.sym.SoftmaxOutput, d, [[0, 1, 1], [1, 0, 1]])
    np.testing.assert_allclose(out[0].ravel(), [0.1279, 0.1414, 0.1562, 0.1727, 0.1908,
                                                0.2109], atol=1e-4)
    np.testing.assert_allclose(g[0, 0, 0], -0.8721, atol=1e-4)
    np.testing.assert_allclose(g[1, 0, 1], -0.8586, atol=1e-4)
    x = mx.sym.Variable('x')
    arg, _, _ = mx.sym.SoftmaxOutput(x, name='sm').infer_shape(x=(2, 3, 2))
    assert arg[1] == (2, 3)          # MXNet's label shape: data.shape[:-1]


@pytest.mark.parametrize('op,out,grad', [
    ('LinearRegressionOutput', [[1, 2], [0.5, -1]], [[1, 1], [-0.5, -2]]),
    ('MAERegressionOutput', [[1, 2], [0.5, -1]], [[1, 1], [-1, -1]]),
    ('LogisticRegressionOutput', [[0.73106, 0.8808], [0.62246, 0.26894]],
     [[0.73106, -0.1192], [-0.37754, -0.73106]]),
])
def test_regression_outputs_match_mxnet(op, out, grad):
    o, g = run(getattr(mx.sym, op), [[1., 2.], [0.5, -1]], [[0., 1], [1, 1]], grad_scale=2)
    np.testing.assert_allclose(o, out, atol=1e-4)
    np.testing.assert_allclose(g, grad, atol=1e-4)


def test_regression_label_shapes():
    _, g = run(mx.sym.LinearRegressionOutput, [[1.], [2.]], [0.5, 1])
    np.testing.assert_allclose(g, [[0.5], [1.0]])
    _, g = run(mx.sym.LinearRegressionOutput, [[1., 2, 3]], [[0.5, 1, 1]])
    np.testing.assert_allclose(g, [[1 / 6, 1 / 3, 2 / 3]], atol=1e-6)


@pytest.mark.parametrize('kw,grad', [({}, 1.0), ({'normalization': 'batch', 'grad_scale': 2}, 1.0),
                                     ({'normalization': 'valid', 'valid_thresh': 0.5}, 0.5)])
def test_make_loss_normalizations_match_mxnet(kw, grad):
    d = mx.sym.Variable('data')
    exe = mx.sym.MakeLoss(d, **kw).bind(mx.cpu(), args={'data': mx.nd.array([[1., 0.2], [0.7, 0.1]])},
                                        args_grad={'data': mx.nd.zeros((2, 2))})
    exe.forward(is_train=True)
    exe.backward()
    assert (exe.grad_dict['data'].asnumpy() == grad).all()


def test_softmax_family_and_names():
    np.testing.assert_allclose(mx.nd.softmax(mx.nd.array([[1, 2, 3]]), temperature=2).asnumpy(),
                               [[0.18632373, 0.3071959, 0.5064804]], rtol=1e-6)
    assert mx.nd.log_softmax(mx.nd.array([[1, 2, 3]]), axis=0).asnumpy().tolist() == [[0, 0, 0]]
    x = mx.sym.Variable('x')
    assert mx.sym.make_loss(x, name='m').list_outputs() == ['m_loss']
    assert mx.sym.Softmax(x, name='s').list_arguments() == ['x', 's_label']
    assert mx.sym.LeakyReLU(x, act_type='prelu', name='p').list_arguments() == ['x', 'p_gamma']
    assert mx.sym.Embedding(x, input_dim=4, output_dim=2, name='e').list_arguments() == \
        ['x', 'e_weight']


def test_embedding_lookup_and_gradient():
    d = mx.sym.Variable('data')
    e = mx.sym.Embedding(d, input_dim=4, output_dim=2, name='emb')
    exe = e.simple_bind(mx.cpu(), data=(3,))
    exe.arg_dict['data'][:] = mx.nd.array([1, 1, 3])
    exe.arg_dict['emb_weight'][:] = mx.nd.arange(8).reshape((4, 2))
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((3, 2)))
    assert exe.outputs[0].asnumpy().tolist() == [[2, 3], [2, 3], [6, 7]]
    assert exe.grad_dict['emb_weight'].asnumpy().tolist() == [[0, 0], [2, 2], [0, 0], [1, 1]]
    assert (exe.grad_dict['data'].asnumpy() == 0).all()
    arg, out, _ = mx.sym.Embedding(d, input_dim=4, output_dim=2, dtype='float16').infer_type(
        data='float32')
    assert out == [np.float16]


def test_shape_operators_match_mxnet():
    a = mx.nd.arange(24).reshape((2, 3, 4))
    got = mx.nd.slice(a, begin=(1, None, -1), end=(None, None, 0), step=(1, 1, -1)).asnumpy()
    assert got.tolist() == [[[15, 14, 13], [19, 18, 17], [23, 22, 21]]]
    assert mx.nd.slice_axis(a, axis=2, begin=-3, end=None).shape == (2, 3, 3)
    assert mx.nd.slice_axis(a, axis=-1, begin=1, end=-1).shape == (2, 3, 2)
    cond = mx.nd.array([1, 0])
    got = mx.nd.where(cond, mx.nd.ones((2, 3)), mx.nd.zeros((2, 3))).asnumpy()
    assert got.tolist() == [[1, 1, 1], [0, 0, 0]]
    assert mx.nd.split(a, num_outputs=3, axis=1, squeeze_axis=True)[0].shape == (2, 4)
    assert mx.nd.Flatten(mx.nd.ones((2,))).shape == (2, 1)
    assert mx.nd.expand_dims(a, axis=-1).shape == (2, 3, 4, 1)
    assert mx.nd.transpose(a, axes=(1, 0, 2)).shape == (3, 2, 4)
    assert mx.nd.transpose(a).shape == (4, 3, 2)
    assert mx.nd.swapaxes(a, dim1=0, dim2=2).shape == (4, 3, 2)
    assert mx.nd.Concat(a, a, a, dim=2).shape == (2, 3, 12)
    assert mx.nd.Cast(a, dtype='int32').dtype is np.int32
    assert mx.nd.zeros_like(a).asnumpy().sum() == 0 and mx.nd.ones_like(a).asnumpy().sum() == 24
    x = mx.sym.Variable('x')
    y = mx.sym.Variable('y')
    with pytest.raises(mx.MXNetError, match="'cat'.*y"):
        mx.sym.Concat(x, y, dim=1, name='cat').infer_shape(x=(2, 3), y=(3, 3))
    with pytest.raises(mx.MXNetError, match="'sp'.*equal parts"):
        mx.sym.split(x, num_outputs=4, name='sp').infer_shape(x=(2, 3))
