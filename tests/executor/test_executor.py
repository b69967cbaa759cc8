"""Executor: binding, forward/backward against NumPy, grad_req, shared entries, reshape."""
import numpy as np
import pytest

import distmod as mx


def _net():
    x = mx.sym.Variable('x')
    fc = mx.sym.FullyConnected(x, num_hidden=3, name='fc')
    return mx.sym.Activation(fc, act_type='tanh', name='act')


def _fill(exe, rng):
    for name, arr in exe.arg_dict.items():
        arr[:] = rng.standard_normal(arr.shape)


def _reference(x, w, b, head):
    y = np.tanh(x @ w.T + b)
    g = head * (1 - y * y)
    return y, g @ w, g.T @ x, g.sum(0)


def test_simple_bind_forward_backward_matches_numpy():
    rng = np.random.default_rng(1)
    exe = _net().simple_bind(mx.cpu(), x=(4, 5))
    _fill(exe, rng)
    head = rng.standard_normal((4, 3)).astype(np.float32)
    out = exe.forward(is_train=True)
    exe.backward(mx.nd.array(head))
    a = {k: v.asnumpy() for k, v in exe.arg_dict.items()}
    y, gx, gw, gb = _reference(a['x'], a['fc_weight'], a['fc_bias'], head)
    np.testing.assert_allclose(out[0].asnumpy(), y, rtol=1e-5)
    np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), gx, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exe.grad_dict['fc_weight'].asnumpy(), gw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exe.grad_dict['fc_bias'].asnumpy(), gb, rtol=1e-4, atol=1e-6)
    assert exe.output_dict['act_output'] is exe.outputs[0]


def test_outputs_are_the_same_arrays_across_calls():
    exe = _net().simple_bind(mx.cpu(), x=(2, 5))
    first = exe.outputs[0]
    exe.forward(x=np.ones((2, 5)))
    assert exe.forward()[0] is first


def test_grad_req_add_accumulates_and_null_skips():
    rng = np.random.default_rng(2)
    net = _net()
    exe = net.simple_bind(mx.cpu(), x=(4, 5),
                          grad_req={'x': 'null', 'fc_weight': 'add', 'fc_bias': 'write'})
    _fill(exe, rng)
    assert exe.grad_dict['x'] is None
    head = mx.nd.ones((4, 3))
    exe.forward(is_train=True)
    exe.backward(head)
    once = exe.grad_dict['fc_weight'].asnumpy()
    b_once = exe.grad_dict['fc_bias'].asnumpy()
    exe.forward(is_train=True)
    exe.backward(head)
    np.testing.assert_allclose(exe.grad_dict['fc_weight'].asnumpy(), 2 * once, rtol=1e-6)
    np.testing.assert_allclose(exe.grad_dict['fc_bias'].asnumpy(), b_once, rtol=1e-6)


def test_an_array_used_twice_gets_the_sum_of_its_gradients():
    x = mx.sym.Variable('x')
    y = mx.sym.Activation(x, act_type='tanh', name='t')
    z = y * y + y                       # y feeds three places
    exe = z.simple_bind(mx.cpu(), x=(3, 2))
    xv = np.linspace(-1, 1, 6).reshape(3, 2).astype(np.float32)
    exe.forward(is_train=True, x=xv)
    exe.backward(mx.nd.ones((3, 2)))
    t = np.tanh(xv)
    np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), (2 * t + 1) * (1 - t * t),
                               rtol=1e-5)
    # and the same with grad_req='add' on x starting from a non-zero gradient
    exe2 = z.simple_bind(mx.cpu(), x=(3, 2), grad_req='add')
    exe2.grad_dict['x'][:] = 1
    exe2.forward(is_train=True, x=xv)
    exe2.backward(mx.nd.ones((3, 2)))
    np.testing.assert_allclose(exe2.grad_dict['x'].asnumpy(), 1 + (2 * t + 1) * (1 - t * t),
                               rtol=1e-5)


def test_a_head_that_is_also_consumed_gets_both_gradients():
    x = mx.sym.Variable('x')
    y = mx.sym.Activation(x, act_type='tanh', name='t')
    g = mx.sym.Group([y, y * 2])
    exe = g.simple_bind(mx.cpu(), x=(2, 2))
    xv = np.array([[0.1, -0.2], [0.3, 0.4]], np.float32)
    for _ in range(2):     # the head gradient must not accumulate across calls
        exe.forward(is_train=True, x=xv)
        exe.backward([mx.nd.ones((2, 2)), mx.nd.ones((2, 2)) * 3])
        t = np.tanh(xv)
        np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), (1 + 6) * (1 - t * t),
                                   rtol=1e-5)


def test_backward_without_out_grads_uses_ones():
    exe = _net().simple_bind(mx.cpu(), x=(2, 5))
    _fill(exe, np.random.default_rng(3))
    exe.forward(is_train=True)
    exe.backward()
    a = {k: v.asnumpy() for k, v in exe.arg_dict.items()}
    _, gx, _, _ = _reference(a['x'], a['fc_weight'], a['fc_bias'], np.ones((2, 3)))
    np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), gx, rtol=1e-4, atol=1e-6)


def test_unused_argument_gradient_is_zero():
    a = mx.sym.Variable('a')
    b = mx.sym.Variable('b')
    s = mx.sym.Group([a * 2, mx.sym.BlockGrad(b)])
    exe = s.simple_bind(mx.cpu(), a=(2,), b=(2,))
    exe.grad_dict['b'][:] = 5
    exe.forward(is_train=True, a=np.ones(2), b=np.ones(2))
    exe.backward([mx.nd.ones((2,)), mx.nd.ones((2,))])
    assert (exe.grad_dict['a'].asnumpy() == 2).all()
    assert (exe.grad_dict['b'].asnumpy() == 0).all()


def test_bind_uses_the_given_arrays():
    net = _net()
    args = {'x': mx.nd.ones((2, 5)), 'fc_weight': mx.nd.ones((3, 5)), 'fc_bias': mx.nd.zeros((3,))}
    grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()}
    exe = net.bind(mx.cpu(), args=args, args_grad=grads)
    assert exe.arg_dict['x'] is args['x']
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), np.tanh(5) * np.ones((2, 3)), rtol=1e-6)
    args['x'][:] = 0                      # writes through to the bound executor
    np.testing.assert_allclose(exe.forward()[0].asnumpy(), 0)
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((2, 3)))
    assert grads['fc_bias'].asnumpy().tolist() == [2.0, 2.0, 2.0]


def test_bind_errors_name_what_is_wrong():
    net = _net()
    with pytest.raises(mx.MXNetError, match=r"missing \['fc_bias'\]"):
        net.bind(mx.cpu(), args={'x': mx.nd.ones((2, 5)), 'fc_weight': mx.nd.ones((3, 5))})
    with pytest.raises(mx.MXNetError) as e:
        net.bind(mx.cpu(), args={'x': mx.nd.ones((2, 5)), 'fc_weight': mx.nd.ones((3, 4)),
                                 'fc_bias': mx.nd.zeros((3,))})
    assert "'fc'" in str(e.value) and '(3, 4)' in str(e.value) and '(3, 5)' in str(e.value)
    with pytest.raises(mx.MXNetError, match=r"cannot infer the shapes of \['x'"):
        net.simple_bind(mx.cpu())
    with pytest.raises(mx.MXNetError, match='grad_req'):
        net.simple_bind(mx.cpu(), x=(2, 5), grad_req='sometimes')
    exe = net.simple_bind(mx.cpu(), x=(2, 5))
    with pytest.raises(mx.MXNetError, match="argument 'x' has shape"):
        exe.forward(x=np.ones((3, 5)))
    with pytest.raises(mx.MXNetError, match="unknown argument 'y'"):
        exe.forward(y=np.ones((3, 5)))


def test_reshape_shares_parameters():
    net = _net()
    exe = net.simple_bind(mx.cpu(), x=(8, 5))
    _fill(exe, np.random.default_rng(4))
    small = exe.reshape(x=(2, 5))
    assert small.arg_dict['fc_weight'] is exe.arg_dict['fc_weight']
    assert small.grad_dict['fc_weight'] is exe.grad_dict['fc_weight']
    small.arg_dict['x'][:] = 1
    y = small.forward()[0].asnumpy()
    w, b = exe.arg_dict['fc_weight'].asnumpy(), exe.arg_dict['fc_bias'].asnumpy()
    np.testing.assert_allclose(y, np.tanh(np.ones((2, 5)) @ w.T + b), rtol=1e-5)
    with pytest.raises(mx.MXNetError, match='allow_up_sizing'):
        exe.reshape(x=(16, 5))
    big = exe.reshape(x=(16, 5), allow_up_sizing=True)
    assert big.arg_dict['x'].shape == (16, 5)


def test_copy_params_from():
    exe = _net().simple_bind(mx.cpu(), x=(2, 5))
    exe.copy_params_from({'fc_weight': mx.nd.ones((3, 5))}, {})
    assert (exe.arg_dict['fc_weight'].asnumpy() == 1).all()
    with pytest.raises(ValueError, match='nope'):
        exe.copy_params_from({'nope': mx.nd.ones((1,))})
    exe.copy_params_from({'nope': mx.nd.ones((1,))}, allow_extra_params=True)


def test_dropout_is_off_at_inference_and_its_mask_is_reused_in_backward():
    x = mx.sym.Variable('x')
    d = mx.sym.Dropout(x, p=0.5, name='drop')
    exe = d.simple_bind(mx.cpu(), x=(50, 40))
    xv = np.ones((50, 40), np.float32)
    np.testing.assert_array_equal(exe.forward(is_train=False, x=xv)[0].asnumpy(), xv)
    out = exe.forward(is_train=True, x=xv)[0].asnumpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.3 < (out == 0).mean() < 0.7
    exe.backward(mx.nd.ones((50, 40)))
    np.testing.assert_array_equal(exe.grad_dict['x'].asnumpy(), out)


def test_monitor_sees_every_output():
    seen = []
    exe = _net().simple_bind(mx.cpu(), x=(2, 5))
    exe.set_monitor_callback(lambda name, arr: seen.append((name, arr.shape)))
    exe.forward()
    assert seen == [('fc_output', (2, 3)), ('act_output', (2, 3))]


def test_mlp_trains_with_softmax_output():
    rng = np.random.default_rng(0)
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=16, name='fc1')
    net = mx.sym.Activation(net, act_type='relu')
    net = mx.sym.FullyConnected(net, num_hidden=3, name='fc2')
    net = mx.sym.SoftmaxOutput(net, name='softmax')
    centers = rng.standard_normal((3, 4)) * 3
    labels = rng.integers(0, 3, 300)
    xs = (centers[labels] + rng.standard_normal((300, 4))).astype(np.float32)
    exe = net.simple_bind(mx.cpu(), data=(300, 4), softmax_label=(300,))
    for name in ('fc1_weight', 'fc2_weight'):
        exe.arg_dict[name][:] = rng.uniform(-0.5, 0.5, exe.arg_dict[name].shape)
    for _ in range(200):
        exe.forward(is_train=True, data=xs, softmax_label=labels.astype(np.float32))
        exe.backward()
        for name in ('fc1_weight', 'fc1_bias', 'fc2_weight', 'fc2_bias'):
            exe.arg_dict[name][:] -= 0.1 / 300 * exe.grad_dict[name]
    acc = (exe.outputs[0].asnumpy().argmax(1) == labels).mean()
    assert acc > 0.9
