"""The executor reuses the memory of values nothing reads any more: forward values that no
backward keeps (by the operators' declarations) and the gradients of operator outputs come
from one pool.  Results must be the same as with one buffer per value, step after step."""
import numpy as np
import pytest

import distmod as mx
from distmod.executor import plan as _plan


def _resnet_like():
    data = mx.sym.Variable('data')
    x = mx.sym.BatchNorm(data, fix_gamma=True, name='bn0')
    x = mx.sym.Convolution(x, num_filter=4, kernel=(3, 3), pad=(1, 1), name='c0')
    h = mx.sym.Activation(mx.sym.BatchNorm(x, fix_gamma=False, name='bn1'), act_type='relu')
    h = mx.sym.Convolution(h, num_filter=4, kernel=(3, 3), pad=(1, 1), no_bias=True, name='c1')
    h = mx.sym.Activation(mx.sym.BatchNorm(h, name='bn2'), act_type='sigmoid')
    x = x + h * x
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type='max')
    x = mx.sym.LeakyReLU(x, act_type='elu', slope=0.3)
    x = mx.sym.FullyConnected(mx.sym.Flatten(x), num_hidden=3, name='fc')
    return mx.sym.SoftmaxOutput(x, name='softmax'), {'data': (2, 3, 6, 6), 'softmax_label': (2,)}


def _lstm():
    cell = mx.rnn.LSTMCell(num_hidden=5, prefix='l_')
    data = mx.sym.Variable('data')
    outputs, _ = cell.unroll(4, inputs=data, merge_outputs=True, layout='NTC')
    pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 5)), num_hidden=3,
                                 name='pred')
    out = mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(mx.sym.Variable('softmax_label'),
                                                    shape=(-1,)), name='softmax')
    return out, {'data': (2, 4, 3), 'softmax_label': (2, 4)}


def _run(net, shapes, share, steps=2):
    _plan.SHARE_MEMORY = share
    try:
        exe = net.simple_bind(mx.cpu(), grad_req='write', **shapes)
    finally:
        _plan.SHARE_MEMORY = True
    rng = np.random.RandomState(0)
    for name, arr in exe.arg_dict.items():
        if name == 'softmax_label':
            arr[:] = rng.randint(0, 3, arr.shape)
        else:
            arr[:] = rng.uniform(-1, 1, arr.shape)
    results = []
    for step in range(steps):            # the second step reuses what the first left behind
        exe.arg_dict['data'][:] = rng.uniform(-1, 1, shapes['data'])
        exe.forward(is_train=True)
        exe.backward()
        results.append([o.asnumpy().copy() for o in exe.outputs] +
                       [g.asnumpy().copy() for g in exe.grad_arrays if g is not None])
    return exe, results


@pytest.mark.parametrize('make', [_resnet_like, _lstm])
def test_reused_memory_gives_the_same_outputs_and_gradients(make):
    net, shapes = make()
    shared, got = _run(net, shapes, True)
    unshared, want = _run(net, shapes, False)
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)
    assert shared._plan.bytes < unshared._plan.bytes
    assert shared._plan.unshared_bytes == unshared._plan.bytes


def test_inference_keeps_only_what_is_live():
    net, shapes = _resnet_like()
    exe = net.simple_bind(mx.cpu(), grad_req='null', **shapes)
    assert exe._plan.bytes * 2 < exe._plan.unshared_bytes
    exe.arg_dict['data'][:] = 1
    out = exe.forward()[0].asnumpy()
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)


def _steps(exe, op_name):
    return [s for s in exe._plan.steps if s.op.name == op_name]


def test_activations_and_sums_write_over_an_input_they_read_last():
    # as MXNet's in-place options: BatchNorm -> relu, and a sum of two values that die
    net, shapes = _resnet_like()
    shared, _ = _run(net, shapes, True)
    relu = [s for s in _steps(shared, 'Activation') if s.op.act_type == 'relu']
    assert np.shares_memory(relu[0].ins[0], relu[0].outs[0])
    # x + h * x: x is read again (by the product, and kept by it for backward), the product
    # dies at the sum, so the sum takes the product's memory
    add = _steps(shared, 'elemwise_add')[0]
    assert np.shares_memory(add.outs[0], add.ins[1])
    assert not np.shares_memory(add.outs[0], add.ins[0])
    unshared, _ = _run(net, shapes, False)
    assert not any(np.shares_memory(s.ins[0], s.outs[0]) for s in _steps(unshared, 'Activation'))


def test_an_input_backward_keeps_is_not_written_over():
    # softsign's backward reads its input, so fc1's output stays; tanh's backward reads
    # its output only, so tanh writes over softsign's output
    data = mx.sym.Variable('data')
    h = mx.sym.FullyConnected(data, num_hidden=6, name='fc1')
    h = mx.sym.Activation(h, act_type='softsign')
    h = mx.sym.Activation(h, act_type='tanh')
    out = mx.sym.FullyConnected(h, num_hidden=2, name='fc2')
    net = mx.sym.MakeLoss(mx.sym.sum(out))
    shapes = {'data': (3, 4)}
    shared, got = _run(net, shapes, True)
    _, want = _run(net, shapes, False)
    soft, tanh = _steps(shared, 'Activation')
    assert not np.shares_memory(soft.ins[0], soft.outs[0])     # kept for softsign's backward
    assert np.shares_memory(tanh.ins[0], tanh.outs[0])         # softsign's output dies here
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)


def test_monitor_all_sees_an_input_before_its_step_writes_over_it():
    data = mx.sym.Variable('data')
    h = mx.sym.FullyConnected(data, num_hidden=8, name='fc')
    net = mx.sym.Activation(h, act_type='relu', name='act')
    exe = net.simple_bind(mx.cpu(), data=(4, 5))
    rng = np.random.RandomState(1)
    for arr in exe.arg_dict.values():
        arr[:] = rng.uniform(-1, 1, arr.shape)
    act = _steps(exe, 'Activation')[0]
    assert np.shares_memory(act.ins[0], act.outs[0])
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append((name, arr.asnumpy().copy())),
                             monitor_all=True)
    exe.forward(is_train=False)
    fc_out = [a for n, a in seen if n == 'fc_output']
    assert len(fc_out) == 2                 # the fc's output, then the relu's input
    np.testing.assert_array_equal(fc_out[0], fc_out[1])
    assert (fc_out[1] < 0).any()            # before the relu, not after it
    act_out = [a for n, a in seen if n == 'act_output'][0]
    np.testing.assert_array_equal(act_out, np.maximum(fc_out[0], 0))
