"""Gradients are born in buckets: at bind, each dtype's parameter gradients are views of one
flat buffer, laid out in the order backward finishes them, shared by a BucketingModule's
buckets, never adopted or re-planned afterwards."""
import numpy as np
import pytest

import distmod as mx
from distmod.executor import ExecutorGroup, GradientBuffers
from distmod.executor.plan import backward_order


def _mlp():
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=8, name='fc1')
    net = mx.sym.Activation(net, act_type='relu')
    net = mx.sym.FullyConnected(net, num_hidden=5, name='fc2')
    net = mx.sym.FullyConnected(net, num_hidden=3, name='fc3')
    return mx.sym.SoftmaxOutput(net, name='softmax')


PARAMS = ['fc1_weight', 'fc1_bias', 'fc2_weight', 'fc2_bias', 'fc3_weight', 'fc3_bias']


def _group(contexts=(mx.cpu(),), **kw):
    return ExecutorGroup(_mlp(), list(contexts), None, [('data', (4, 6))],
                         [('softmax_label', (4,))], PARAMS, True, False, **kw)


def test_backward_order_is_last_layer_first():
    order = backward_order(_mlp().graph(), PARAMS)
    assert order == ['fc3_bias', 'fc3_weight', 'fc2_bias', 'fc2_weight', 'fc1_bias',
                     'fc1_weight']


def test_parameter_gradients_are_views_of_one_flat_buffer_in_backward_order():
    group = _group()
    layout = group.grad_buffers[0]
    assert isinstance(layout, GradientBuffers) and len(layout.flats) == 1
    flat = layout.flats[0]
    assert flat.size == sum(int(np.prod(g[0].shape)) for g in group.grad_arrays)
    exe = group.execs[0]
    offset = 0
    for name, (f, start, stop) in zip(layout.names, layout.members):
        grad = exe.grad_dict[name]
        assert grad is layout.views[name]
        assert np.shares_memory(grad._data, flat) and (start, f) == (offset, 0)
        offset = stop
    # backward writes straight into the flat buffer
    batch = mx.io.DataBatch([mx.nd.array(np.random.rand(4, 6))], [mx.nd.array([0, 1, 2, 0])])
    group.forward(batch, is_train=True)
    group.backward()
    assert np.abs(flat).sum() > 0
    for name in PARAMS:
        np.testing.assert_array_equal(
            exe.grad_dict[name].asnumpy().ravel(),
            flat[layout.members[layout.index[name]][1]:layout.members[layout.index[name]][2]])


def test_each_dtype_has_its_own_flat_buffer():
    data = mx.sym.Variable('data')
    w16 = mx.sym.Variable('w16', dtype='float64')
    a = mx.sym.FullyConnected(data, num_hidden=3, name='a')
    b = mx.sym.FullyConnected(mx.sym.Cast(data, dtype='float64'), weight=w16, num_hidden=3,
                              no_bias=True, name='b')
    net = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(a)), mx.sym.MakeLoss(mx.sym.sum(b))])
    group = ExecutorGroup(net, [mx.cpu()], None, [('data', (2, 4))], None,
                          ['a_weight', 'a_bias', 'w16'], True, False)
    layout = group.grad_buffers[0]
    assert sorted(str(f.dtype) for f in layout.flats) == ['float32', 'float64']
    assert layout.views['w16']._data.dtype == np.float64
    assert np.shares_memory(layout.views['w16']._data,
                            layout.flats[layout.members[layout.index['w16']][0]])


def test_every_device_has_the_same_layout():
    group = _group(contexts=(mx.cpu(0), mx.cpu(1)))
    first, second = group.grad_buffers
    assert first.names == second.names and first.members == second.members
    assert not np.shares_memory(first.flats[0], second.flats[0])
    for exe, layout in zip(group.execs, group.grad_buffers):
        for name in PARAMS:
            assert exe.grad_dict[name] is layout.views[name]


def test_a_shared_group_writes_the_shared_flat_buffers():
    first = _group()
    other = ExecutorGroup(_mlp(), [mx.cpu()], None, [('data', (2, 6))],
                          [('softmax_label', (2,))], PARAMS, True, False, shared_group=first)
    assert other.grad_buffers is first.grad_buffers
    for name in PARAMS:
        assert other.execs[0].grad_dict[name] is first.grad_buffers[0].views[name]


def test_fixed_parameters_are_not_in_the_layout():
    group = _group(fixed_param_names=['fc1_weight'])
    assert 'fc1_weight' not in group.grad_buffers[0].names
    assert group.execs[0].grad_dict['fc1_weight'] is None


def test_reshape_keeps_the_gradient_views_and_the_ready_callback_reports_members():
    group = _group()
    seen = []
    group.set_grad_ready_callback(seen.append)
    group.reshape([('data', (2, 6))], [('softmax_label', (2,))])
    layout = group.grad_buffers[0]
    for name in PARAMS:
        assert group.execs[0].grad_dict[name] is layout.views[name]
    batch = mx.io.DataBatch([mx.nd.array(np.random.rand(2, 6))], [mx.nd.array([0, 1])])
    group.forward(batch, is_train=True)
    group.backward()
    # every member once, the last layer's first
    assert sorted(seen) == list(range(len(PARAMS)))
    assert seen[0] in (layout.index['fc3_weight'], layout.index['fc3_bias'])


def test_bucketing_module_buckets_share_the_default_buckets_gradient_buffers():
    def sym_gen(key):
        data = mx.sym.Variable('data')
        net = mx.sym.FullyConnected(mx.sym.sum(data, axis=1), num_hidden=3, name='fc')
        return mx.sym.SoftmaxOutput(net, name='softmax'), ('data',), ('softmax_label',)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=5)
    mod.bind([('data', (2, 5, 4))], [('softmax_label', (2,))])
    mod.init_params()
    mod.init_optimizer()
    mod.switch_bucket(3, [('data', (2, 3, 4))], [('softmax_label', (2,))])
    default = mod._buckets[5]._exec_group
    bucket = mod._buckets[3]._exec_group
    assert bucket.grad_buffers is default.grad_buffers
    assert bucket.execs[0].grad_dict['fc_weight'] is default.execs[0].grad_dict['fc_weight']


def test_a_given_gradient_of_the_wrong_shape_is_refused():
    from distmod.executor import simple_bind
    sym = _mlp()
    with pytest.raises(mx.MXNetError, match="gradient memory given for 'fc1_weight'"):
        simple_bind(sym, mx.cpu(), 'write', None, None, None, None,
                    {'data': (4, 6), 'softmax_label': (4,)},
                    grad_arrays={'fc1_weight': mx.nd.zeros((3, 3))})
