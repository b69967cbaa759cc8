"""``mx.operator``: CustomOp/CustomOpProp/register as ``mx.sym.Custom``/``mx.nd.Custom`` nodes,
NumpyOp and NDArrayOp; numbers against NumPy and finite differences, what the prop is asked
and given, retention from declare_backward_dependency, grad_req add, a trained Module with a
custom loss, JSON both ways, and the same custom operators run in real MXNet 1.9.1."""
import doctest
import json
import os
import subprocess
import textwrap
import warnings

import numpy as np
import pytest

import distmod as mx
from distmod.ops import all_ops
from distmod.ops import registry
from distmod.ops.custom import registered
from distmod.ops.registry import Sample
from distmod.ndarray.op import split_call

from .ops.gradcheck import check_gradient, check_retention

VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')
needs_mxnet = pytest.mark.skipif(not os.path.exists(VENV_PY),
                                 reason='reference MXNet venv not found at %s' % VENV_PY)


def _keyword_inputs_work():
    data = mx.sym.Variable('data')
    _, _, named = split_call(all_ops()['Custom'], (), {'data': data, 'op_type': 'x'},
                             lambda a: isinstance(a, mx.sym.Symbol))
    return 'data' in named


# Keyword inputs (mx.sym.Custom(data=x, ...)) need distmod/ndarray/op.py's split_call to sort
# an open_params operator's keywords by value; remove this marker once it does.
keyword_inputs = pytest.mark.skipif(not _keyword_inputs_work(),
                                    reason='split_call does not yet sort Custom keywords by value')

# Custom operators written once, for distmod here and for real MXNet in the interop test.
SOURCE = textwrap.dedent('''
    import numpy as np

    class ScaleShift(mx.operator.CustomOp):
        """out = tanh(scale * data) + bias, sqnorm = sum(data ** 2, axis=1); in training the
        aux state 'running' moves towards the batch mean of data."""
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def forward(self, is_train, req, in_data, out_data, aux):
            x, b = in_data
            self.assign(out_data[0], req[0], mx.nd.tanh(x * self.scale) + b)
            self.assign(out_data[1], req[1], mx.nd.sum(x * x, axis=1))
            if is_train:
                aux[0][:] = aux[0] * 0.9 + mx.nd.mean(x, axis=0) * 0.1

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            x = in_data[0]
            t = mx.nd.tanh(x * self.scale)
            gx = out_grad[0] * (1 - t * t) * self.scale + 2 * x * out_grad[1].reshape((-1, 1))
            self.assign(in_grad[0], req[0], gx)
            self.assign(in_grad[1], req[1], out_grad[0])

    @mx.operator.register('test_scaleshift')
    class ScaleShiftProp(mx.operator.CustomOpProp):
        def __init__(self, scale='1.0'):
            super().__init__(need_top_grad=True)
            self.scale = float(scale)

        def list_arguments(self):
            return ['data', 'bias']

        def list_outputs(self):
            return ['out', 'sqnorm']

        def list_auxiliary_states(self):
            return ['running']

        def infer_shape(self, in_shape):
            data = in_shape[0]
            return [data, data], [data, [data[0]]], [[data[1]]]

        def declare_backward_dependency(self, out_grad, in_data, out_data):
            return out_grad + [in_data[0]]

        def create_operator(self, ctx, shapes, dtypes):
            return ScaleShift(self.scale)

    class Softmax(mx.operator.CustomOp):
        """MXNet's example custom softmax loss: NumPy inside, mx.nd.array out."""
        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            y = np.exp(x - x.max(axis=1).reshape((x.shape[0], 1)))
            y /= y.sum(axis=1).reshape((x.shape[0], 1))
            self.assign(out_data[0], req[0], mx.nd.array(y))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            label = in_data[1].asnumpy().ravel().astype(np.int64)
            y = out_data[0].asnumpy()
            y[np.arange(label.shape[0]), label] -= 1.0
            self.assign(in_grad[0], req[0], mx.nd.array(y))
            self.assign(in_grad[1], req[1], 0)

    @mx.operator.register('test_softmax')
    class SoftmaxProp(mx.operator.CustomOpProp):
        def __init__(self):
            super(SoftmaxProp, self).__init__(need_top_grad=False)

        def list_arguments(self):
            return ['data', 'label']

        def list_outputs(self):
            return ['output']

        def infer_shape(self, in_shape):
            data_shape = in_shape[0]
            label_shape = (in_shape[0][0],)
            return [data_shape, label_shape], [data_shape], []

        def infer_type(self, in_type):
            return [in_type[0], in_type[0]], [in_type[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Softmax()
''')

NS = {'mx': mx}
exec(SOURCE, NS)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _scaleshift_reference(x, b, ogs, scale):
    t = np.tanh(x * scale)
    outs = [t + b, (x * x).sum(axis=1)]
    gx = ogs[0] * (1 - t * t) * scale + 2 * x * ogs[1][:, None]
    return outs, [gx, ogs[0]]


def _scaleshift_executor(grad_req='write', scale=0.7):
    x, b = mx.sym.Variable('x'), mx.sym.Variable('b')
    net = mx.sym.Custom(x, b, op_type='test_scaleshift', scale=scale, name='ss')
    return net, net.simple_bind(mx.cpu(), grad_req=grad_req, x=(4, 3))


# ---- the user-facing classes ---------------------------------------------------------------
def test_assign_honours_every_req():
    op = mx.operator.CustomOp()
    dst = mx.nd.array([1.0, 2.0])
    op.assign(dst, 'null', mx.nd.array([5.0, 5.0]))
    np.testing.assert_array_equal(dst.asnumpy(), [1, 2])
    for req in ('write', 'inplace'):
        op.assign(dst, req, mx.nd.array([3.0, 4.0]))
        np.testing.assert_array_equal(dst.asnumpy(), [3, 4])
    op.assign(dst, 'add', mx.nd.array([1.0, 1.0]))
    np.testing.assert_array_equal(dst.asnumpy(), [4, 5])
    op.assign(dst, 'write', 0)
    np.testing.assert_array_equal(dst.asnumpy(), [0, 0])
    with pytest.raises(mx.MXNetError, match="req must be"):
        op.assign(dst, 'sum', 1)


def test_prop_defaults_are_mxnets():
    prop = mx.operator.CustomOpProp()
    assert (prop.list_arguments(), prop.list_outputs(), prop.list_auxiliary_states()) == \
        (['data'], ['output'], [])
    assert prop.infer_shape([[2, 3]]) == ([[2, 3]], ([2, 3],), ())
    assert prop.infer_type([np.float32]) == ([np.float32], [np.float32], [])
    assert prop.declare_backward_dependency([0], [1], [2]) == [0, 1, 2]
    assert mx.operator.CustomOpProp(need_top_grad=False).declare_backward_dependency(
        [0], [1], [2]) == [1, 2]
    assert prop.infer_storage_type(['default']) == (['default'], ['default'], [])
    with pytest.raises(mx.MXNetError, match="dense"):
        prop.infer_storage_type(['csr'])
    assert isinstance(prop.create_operator(mx.cpu(), [[2]], [0]), mx.operator.CustomOp)


def test_register_returns_the_class_and_warns_when_replacing():
    @mx.operator.register('test_again')
    class A(mx.operator.CustomOpProp):
        pass
    assert A.__name__ == 'A'
    with pytest.warns(UserWarning, match='overriding existing custom operator test_again'):
        @mx.operator.register('test_again')
        class B(mx.operator.CustomOpProp):
            pass
    assert mx.sym.Custom(mx.sym.Variable('x'), op_type='test_again').list_arguments() == ['x']


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(mx.operator, 'mx.operator', globs={'mx': mx, 'np': np})
    assert sum(len(t.examples) for t in tests) > 10
    for test in tests:
        assert runner.run(test).failed == 0, test.name


# ---- numbers -------------------------------------------------------------------------------
def test_forward_backward_match_numpy_and_update_aux():
    net, exe = _scaleshift_executor()
    assert net.list_arguments() == ['x', 'b']
    assert net.list_outputs() == ['ss_out', 'ss_sqnorm']
    assert net.list_auxiliary_states() == ['ss_running']
    assert [a.shape for a in exe.aux_arrays] == [(3,)]
    rng = np.random.default_rng(0)
    x, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ogs = [rng.standard_normal((4, 3)), rng.standard_normal(4)]
    exe.aux_dict['ss_running'][:] = 1.0
    outs = exe.forward(is_train=True, x=mx.nd.array(x), b=mx.nd.array(b))
    exe.backward([mx.nd.array(g) for g in ogs])
    want_outs, want_grads = _scaleshift_reference(x, b, ogs, 0.7)
    for got, want in zip(outs, want_outs):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)
    for name, want in zip(['x', 'b'], want_grads):
        np.testing.assert_allclose(exe.grad_dict[name].asnumpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exe.aux_dict['ss_running'].asnumpy(),
                               0.9 + 0.1 * x.astype(np.float32).mean(axis=0), rtol=1e-6)
    exe.forward(is_train=False)           # inference leaves the aux state alone
    np.testing.assert_allclose(exe.aux_dict['ss_running'].asnumpy(),
                               0.9 + 0.1 * x.astype(np.float32).mean(axis=0), rtol=1e-6)


def test_backward_matches_finite_differences_and_reads_only_what_it_declares():
    op = all_ops()['Custom']({'op_type': 'test_scaleshift', 'scale': '0.8'})
    sample = Sample(shapes={'data': (3, 4)}, is_train=False)
    assert check_gradient(op, sample) == 2
    assert check_retention(op, sample) == []


def test_generic_samples_are_registered_custom_ops():
    samples = all_ops()['Custom'].samples
    types = {s.attrs['op_type'] for s in samples}
    assert types <= set(registered())
    ops = [all_ops()['Custom'](s.attrs) for s in samples]
    assert {(op.retained_inputs(), op.retained_outputs()) for op in ops} == {((0,), ()),
                                                                              ((), (0,))}


def test_nd_custom_runs_imperatively_and_returns_a_list_for_several_outputs():
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((2, 3)).astype(np.float32), np.zeros((2, 3), np.float32)
    running = mx.nd.zeros((3,))
    out = mx.nd.Custom(mx.nd.array(x), mx.nd.array(b), running, op_type='test_scaleshift',
                       scale=2)
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[0].asnumpy(), np.tanh(2 * x), rtol=1e-6)
    np.testing.assert_allclose(out[1].asnumpy(), (x * x).sum(axis=1), rtol=1e-6)
    one = mx.nd.Custom(mx.nd.array([0.5, -1.0]), op_type='_sample_softsign')
    assert isinstance(one, mx.nd.NDArray)
    np.testing.assert_allclose(one.asnumpy(), [0.5 / 1.5, -0.5], rtol=1e-6)


# ---- what the prop is asked and given ------------------------------------------------------
CALLS = []


class _Recorder(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        CALLS.append(('forward', is_train, list(req), [type(a).__name__ for a in in_data]))
        self.assign(out_data[0], req[0], in_data[0] * 3)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        CALLS.append(('backward', list(req), [g.shape for g in in_grad]))
        self.assign(in_grad[0], req[0], out_grad[0] * 3)
        self.assign(in_grad[1], req[1], 0)


@mx.operator.register('test_recorder')
class _RecorderProp(mx.operator.CustomOpProp):
    def __init__(self, **kwargs):
        CALLS.append(('init', kwargs))
        super().__init__(need_top_grad=True)

    def list_arguments(self):
        return ['data', 'other']

    def infer_shape(self, in_shape):
        CALLS.append(('infer_shape', [list(s) for s in in_shape]))
        return in_shape, [in_shape[0]], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        CALLS.append(('deps', out_grad, in_data, out_data))
        return [out_grad[0]]

    def create_operator(self, ctx, shapes, dtypes):
        CALLS.append(('create', ctx, shapes, dtypes))
        return _Recorder()


def _calls(kind):
    return [c[1:] for c in CALLS if c[0] == kind]


def test_params_reach_the_prop_as_strings_and_are_the_json_attrs():
    CALLS.clear()
    x = mx.sym.Variable('x')
    with mx.AttrScope(ctx_group='dev1'):
        net = mx.sym.Custom(x, op_type='test_recorder', name='rec', scale=2.5, flag=True,
                            tup=(1, 2), lst=[1, 2], lr_mult=2)
    assert _calls('init')[0] == ({'scale': '2.5', 'flag': 'True', 'tup': '(1, 2)',
                                  'lst': '[1, 2]'},)
    attrs = {n['name']: n.get('attrs') for n in json.loads(net.tojson())['nodes']}
    assert attrs['rec'] == {'op_type': 'test_recorder', 'scale': '2.5', 'flag': 'True',
                            'tup': '(1, 2)', 'lst': '[1, 2]', '__ctx_group__': 'dev1',
                            '__lr_mult__': '2'}
    # as in MXNet, the input variable the operator made carries its attributes
    assert net.list_arguments() == ['x', 'rec_other']
    assert attrs['rec_other']['op_type'] == 'test_recorder'
    # MXNet's ids: head gradients, then inputs, then outputs
    assert _calls('deps')[0] == ([0], [1, 2], [3])


def test_create_operator_gets_ctx_shapes_and_type_flags_once_per_executor():
    CALLS.clear()
    net = mx.sym.Custom(mx.sym.Variable('x'), op_type='test_recorder', name='rec')
    exe = net.simple_bind(mx.cpu(), x=(2, 3), rec_other=(2, 3),
                          grad_req={'x': 'write', 'rec_other': 'null'})
    assert [c[0] for c in _calls('infer_shape')][-1] == [[2, 3], [2, 3]]
    exe.forward(is_train=True, x=mx.nd.ones((2, 3)))
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((2, 3)))
    assert _calls('create') == [(mx.cpu(), [[2, 3], [2, 3]], [0, 0])]
    assert _calls('forward') == [(True, ['write'], ['NDArray', 'NDArray'])] * 2
    # a gradient nobody wants is 'null' (and its in_grad a scratch array the op may ignore)
    assert _calls('backward') == [(['write', 'null'], [(2, 3), (2, 3)])]
    np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), 3)
    exe.forward(is_train=False)
    assert _calls('forward')[-1][0] is False


def test_grad_req_add_accumulates_in_the_executors_gradient_buffer():
    net, exe = _scaleshift_executor(grad_req='add')
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ogs = [rng.standard_normal((4, 3)), rng.standard_normal(4)]
    grad_x = exe.grad_dict['x']
    grad_x[:] = 1.0
    exe.grad_dict['b'][:] = 0.0
    exe.forward(is_train=True, x=mx.nd.array(x), b=mx.nd.array(b))
    exe.backward([mx.nd.array(g) for g in ogs])
    exe.backward([mx.nd.array(g) for g in ogs])
    _, (gx, gb) = _scaleshift_reference(x, b, ogs, 0.7)
    assert exe.grad_dict['x'] is grad_x
    np.testing.assert_allclose(grad_x.asnumpy(), 1 + 2 * gx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(exe.grad_dict['b'].asnumpy(), 2 * gb, rtol=1e-5, atol=1e-5)


def test_loss_without_top_grad_needs_no_head_gradient():
    data = mx.sym.Variable('data')
    net = mx.sym.Custom(data, mx.sym.Variable('softmax_label'), op_type='test_softmax',
                        name='softmax')
    op = net.get_internals()[-1]._outputs[0][0].proto()
    assert op.need_top_grad is False
    assert (op.retained_inputs(), op.retained_outputs()) == ((0, 1), (0,))
    exe = net.simple_bind(mx.cpu(), data=(5, 3), grad_req={'data': 'write',
                                                          'softmax_label': 'null'})
    rng = np.random.default_rng(3)
    x, label = rng.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    exe.forward(is_train=True, data=mx.nd.array(x), softmax_label=mx.nd.array(label))
    exe.backward()
    want = _softmax(x)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), want, rtol=1e-5)
    want[np.arange(5), label] -= 1
    np.testing.assert_allclose(exe.grad_dict['data'].asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_retention_declared_by_the_prop_lets_the_planner_free_memory():
    @mx.operator.register('test_relu_keeps_output')
    class KeepsOutput(mx.operator.CustomOpProp):
        def declare_backward_dependency(self, out_grad, in_data, out_data):
            return [out_grad[0], out_data[0]]

        def create_operator(self, ctx, shapes, dtypes):
            return _Relu()

    @mx.operator.register('test_relu_keeps_all')
    class KeepsAll(KeepsOutput):
        def declare_backward_dependency(self, out_grad, in_data, out_data):
            return out_grad + in_data + out_data

    def bind(op_type):
        x = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=64, name='fc1')
        x = mx.sym.Custom(x, op_type=op_type, name='act')
        x = mx.sym.FullyConnected(x, num_hidden=64, name='fc2')
        return mx.sym.MakeLoss(mx.sym.sum(x)).simple_bind(mx.cpu(), data=(8, 64))

    tight, loose = bind('test_relu_keeps_output'), bind('test_relu_keeps_all')
    assert tight._plan.bytes < loose._plan.bytes
    for exe in (tight, loose):
        for name, arr in sorted(exe.arg_dict.items()):
            arr[:] = np.random.default_rng(len(name)).standard_normal(arr.shape) * 0.1
        exe.forward(is_train=True)
        exe.backward()
    for name in tight.arg_dict:
        np.testing.assert_allclose(tight.grad_dict[name].asnumpy(),
                                   loose.grad_dict[name].asnumpy(), rtol=1e-5, atol=1e-6)


class _Relu(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], mx.nd.relu(in_data[0]))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] * (out_data[0] > 0))


# ---- inference -----------------------------------------------------------------------------
def test_shape_and_type_inference_ask_the_prop():
    fc = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=3, name='fc')
    net = mx.sym.Custom(fc, op_type='test_softmax', name='softmax')
    assert net.list_arguments() == ['data', 'fc_weight', 'fc_bias', 'softmax_label']
    args, outs, aux = net.infer_shape(data=(4, 5))
    assert args == [(4, 5), (3, 5), (3,), (4,)] and outs == [(4, 3)] and aux == []
    # the prop cannot answer before its input shape is known: nothing is inferred, no error
    assert net.infer_shape_partial() == ([(), (), (), ()], [()], [])
    args, outs, _ = net.infer_type(data=np.float64)
    assert args == [np.float64] * 4 and outs == [np.float64]


def test_inference_errors_name_the_op_type():
    @mx.operator.register('test_bad_shapes')
    class Bad(mx.operator.CustomOpProp):
        def infer_shape(self, in_shape):
            if in_shape[0][0] == 1:
                raise ValueError('no batches of one')
            return in_shape, [], []

    net = mx.sym.Custom(mx.sym.Variable('x'), op_type='test_bad_shapes', name='bad')
    with pytest.raises(mx.MXNetError, match=r"'bad'.*test_bad_shapes.*no batches of one"):
        net.infer_shape(x=(1, 2))
    with pytest.raises(mx.MXNetError, match=r"test_bad_shapes.*1 output entries \['output'\]"):
        net.infer_shape(x=(2, 2))

    @mx.operator.register('test_bad_init')
    class BadInit(mx.operator.CustomOpProp):
        def __init__(self, size):
            super().__init__()
    with pytest.raises(mx.MXNetError, match=r"test_bad_init.*TypeError.*unexpected keyword"):
        mx.sym.Custom(mx.sym.Variable('x'), op_type='test_bad_init', sise=3)


def test_storage_types_other_than_dense_are_refused():
    @mx.operator.register('test_sparse')
    class Sparse(mx.operator.CustomOpProp):
        def infer_storage_type(self, in_stype):
            return in_stype, ['csr'], []

    with pytest.raises(mx.MXNetError, match=r"test_sparse.*'csr'.*dense"):
        mx.sym.Custom(mx.sym.Variable('x'), op_type='test_sparse')


# ---- JSON ----------------------------------------------------------------------------------
def test_json_round_trip_and_unknown_op_type():
    net, exe = _scaleshift_executor()
    text = net.tojson()
    node = json.loads(text)['nodes'][-1]
    assert node['op'] == 'Custom' and node['attrs'] == {'op_type': 'test_scaleshift',
                                                        'scale': '0.7'}
    back = mx.sym.load_json(text)
    assert back.tojson() == text
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    b = np.ones((4, 3), np.float32)
    want = exe.forward(x=mx.nd.array(x), b=mx.nd.array(b))[0].asnumpy()
    got = back.bind(mx.cpu(), {'x': mx.nd.array(x), 'b': mx.nd.array(b)},
                    aux_states={'ss_running': mx.nd.zeros((3,))}).forward()[0].asnumpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(mx.MXNetError, match=r"symbol JSON node 'ss'.*custom operator "
                                            r"'test_not_registered'"):
        mx.sym.load_json(text.replace('test_scaleshift', 'test_not_registered'))
    with pytest.raises(mx.MXNetError, match="Cannot find custom operator 'test_nope'"):
        mx.sym.Custom(mx.sym.Variable('x'), op_type='test_nope')
    with pytest.raises(mx.MXNetError, match="Cannot find custom operator 'test_nope'"):
        mx.nd.Custom(mx.nd.ones((2,)), op_type='test_nope')
    with pytest.raises(mx.MXNetError, match="op_type"):
        mx.sym.Custom(mx.sym.Variable('x'))


def test_attribute_keys_are_the_symbol_layers_hidden_keys():
    from distmod.symbol.symbol import HIDDEN_KEYS
    assert registry.ATTRIBUTE_KEYS == HIDDEN_KEYS


# ---- keyword inputs ------------------------------------------------------------------------
@keyword_inputs
def test_inputs_by_keyword_as_mxnet_examples_write_them():
    data, label = mx.sym.Variable('data'), mx.sym.Variable('lab')
    net = mx.sym.Custom(data=data, label=label, op_type='test_softmax', name='softmax')
    assert net.list_arguments() == ['data', 'lab']
    net = mx.sym.Custom(data=data, name='softmax', op_type='test_softmax')
    assert net.list_arguments() == ['data', 'softmax_label']
    with pytest.raises(mx.MXNetError, match=r"unknown input\(s\) \['lable'\]"):
        mx.sym.Custom(data=data, lable=label, op_type='test_softmax')
    out = mx.nd.Custom(data=mx.nd.array([[1.0, 1.0]]), label=mx.nd.array([0]),
                       op_type='test_softmax')
    np.testing.assert_allclose(out.asnumpy(), [[0.5, 0.5]])


class _Sqr(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        assert in_data[0].stype == 'default'
        aux[0][:] = 1
        self.assign(out_data[0], req[0], in_data[0] * in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])
        assert (aux[0].asnumpy() == 1).all()


@mx.operator.register('test_sqr')
class _SqrProp(mx.operator.CustomOpProp):
    def __init__(self):
        super(_SqrProp, self).__init__(need_top_grad=True)

    def list_auxiliary_states(self):
        return ['aux']

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], [in_shape[0]]

    def infer_type(self, in_type):
        return in_type, [in_type[0]], [in_type[0]]

    def infer_storage_type(self, in_stype):
        return ['default'], ['default'], ['default']

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        return ['default'] * 1, ['default'], ['default'], ['default'], ['default']

    def create_operator(self, ctx, shapes, dtypes):
        return _Sqr()


@keyword_inputs
def test_mxnets_own_custom_op_test_with_aux_by_keyword():
    op = mx.symbol.Custom(data=mx.symbol.Variable('data'), aux=mx.symbol.Variable('aux'),
                          name='sqr', op_type='test_sqr')
    assert op.list_arguments() == ['data'] and op.list_auxiliary_states() == ['aux']
    x = mx.nd.array(np.random.default_rng(7).uniform(-1, 1, size=(4, 10)))
    aux = mx.nd.zeros_like(x)
    mx.test_utils.check_numeric_gradient(op, [x], [aux])
    out = mx.nd.Custom(data=x, aux=aux, op_type='test_sqr')
    np.testing.assert_allclose(out.asnumpy(), x.asnumpy() ** 2, rtol=1e-6)
    np.testing.assert_array_equal(aux.asnumpy(), 1)


def test_errors_in_the_users_code_name_the_op_type():
    class Broken(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            raise ValueError('broken forward')

    @mx.operator.register('test_broken')
    class BrokenProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Broken()

    with pytest.raises(mx.MXNetError, match=r"'test_broken' \(CustomOp.forward\): "
                                            r"ValueError: broken forward") as info:
        mx.nd.Custom(mx.nd.ones((2,)), op_type='test_broken')
    assert isinstance(info.value.__cause__, ValueError)


# ---- training ------------------------------------------------------------------------------
def test_module_fit_with_a_custom_softmax_loss_trains():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 10)) * 2
    y = rng.integers(0, 4, 600)
    x = (centers[y] + rng.standard_normal((600, 10))).astype(np.float32)
    y = y.astype(np.float32)
    train = mx.io.NDArrayIter(x[:400], y[:400], batch_size=50, shuffle=True)
    val = mx.io.NDArrayIter(x[400:], y[400:], batch_size=50)
    net = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=32, name='fc1')
    net = mx.sym.Activation(net, act_type='relu')
    net = mx.sym.FullyConnected(net, num_hidden=4, name='fc2')
    net = mx.sym.Custom(net, mx.sym.Variable('softmax_label'), op_type='test_softmax',
                        name='softmax')
    mx.random.seed(0)
    mod = mx.mod.Module(net)
    mod.fit(train, eval_data=val, num_epoch=4, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
            initializer=mx.init.Xavier())
    (name, acc), = mod.score(val, 'acc')
    assert acc > 0.95, acc


# ---- MXNet's older interfaces --------------------------------------------------------------
class _NumpySoftmax(mx.operator.NumpyOp):
    def __init__(self):
        super().__init__(False)

    def list_arguments(self):
        return ['data', 'label']

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][0],)], [in_shape[0]]

    def forward(self, in_data, out_data):
        x, y = in_data[0], out_data[0]
        assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
        y[:] = np.exp(x - x.max(axis=1).reshape((x.shape[0], 1)))
        y /= y.sum(axis=1).reshape((x.shape[0], 1))

    def backward(self, out_grad, in_data, out_data, in_grad):
        label = in_data[1].reshape((in_data[1].size,)).astype(np.int64)
        dx = in_grad[0]
        dx[:] = out_data[0]
        dx[np.arange(label.shape[0]), label] -= 1.0


def test_numpy_op_softmax_through_the_executor():
    with pytest.warns(UserWarning, match='deprecated'):
        softmax = _NumpySoftmax()
    data = mx.sym.Variable('data')
    net = softmax(data=data, name='softmax')
    assert net.list_arguments() == ['data', 'softmax_label']
    assert net.infer_shape(data=(3, 4))[0] == [(3, 4), (3,)]
    exe = net.simple_bind(mx.cpu(), data=(3, 4), grad_req={'data': 'write',
                                                          'softmax_label': 'null'})
    rng = np.random.default_rng(5)
    x, label = rng.standard_normal((3, 4)), np.array([3, 0, 1])
    exe.forward(is_train=True, data=mx.nd.array(x), softmax_label=mx.nd.array(label))
    exe.backward()
    want = _softmax(x)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), want, rtol=1e-5)
    want[np.arange(3), label] -= 1
    np.testing.assert_allclose(exe.grad_dict['data'].asnumpy(), want, rtol=1e-5, atol=1e-6)
    # a second node from the same instance shares its op_type
    other = softmax.get_symbol(mx.sym.Variable('d2'), mx.sym.Variable('l2'))
    assert other.list_arguments() == ['d2', 'l2']
    assert mx.sym.load_json(net.tojson()).list_arguments() == net.list_arguments()


def test_ndarray_op_declares_its_backward_dependency():
    class Square(mx.operator.NDArrayOp):
        def forward(self, in_data, out_data):
            assert isinstance(in_data[0], mx.nd.NDArray)
            out_data[0][:] = in_data[0] * in_data[0]

        def backward(self, out_grad, in_data, out_data, in_grad):
            in_grad[0][:] = 2 * in_data[0] * out_grad[0]

        def declare_backward_dependency(self, out_grad, in_data, out_data):
            return [out_grad[0], in_data[0]]

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        square = Square()
    net = square(mx.sym.Variable('x'), name='sq')
    op = net._outputs[0][0].proto()
    assert (op.retained_inputs(), op.retained_outputs()) == ((0,), ())
    exe = net.simple_bind(mx.cpu(), x=(3,))
    exe.forward(is_train=True, x=mx.nd.array([1.0, 2.0, 3.0]))
    exe.backward(mx.nd.array([1.0, 1.0, 0.5]))
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [1, 4, 9])
    np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), [2, 4, 3])


def test_python_op_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        op = mx.operator.NumpyOp()
    assert op.need_top_grad() is True
    assert (op.list_arguments(), op.list_outputs()) == (['data'], ['output'])
    assert op.infer_shape([[2, 3]]) == ([[2, 3]], [[2, 3]])
    with pytest.raises(NotImplementedError):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            mx.operator.PythonOp().get_symbol(mx.sym.Variable('x'))
    assert 'Custom' in mx.operator.get_all_registered_operators()


# ---- the same custom operators in real MXNet -------------------------------------------------
# Run on both sides.  MXNet 1.9 keeps the backward dependencies of the custom node made last
# in one global, which its (asynchronous) backward then reads for every custom node: so one
# custom operator per graph, each run to completion right after it is made (or loaded).
KEYS = ('ss', 'sm')
RUN = textwrap.dedent('''
    def net(key):
        x, b, label = mx.sym.Variable('x'), mx.sym.Variable('b'), mx.sym.Variable('label')
        if key == 'ss':
            return mx.sym.Custom(x, b, op_type='test_scaleshift', scale=0.7, name='ss')
        return mx.sym.Custom(x, label, op_type='test_softmax', name='sm')

    def run(key, sym, inputs):
        """Outputs, gradients (x accumulates twice onto ones) and aux states, by name."""
        names = sym.list_arguments()
        shapes = {n: inputs[n].shape for n in names}
        reqs = {n: {'x': 'add', 'b': 'write'}.get(n, 'null') for n in names}
        exe = sym.simple_bind(mx.cpu(), grad_req=reqs, **shapes)
        for n in names:
            exe.arg_dict[n][:] = inputs[n]
        for n in sym.list_auxiliary_states():
            exe.aux_dict[n][:] = inputs['running']
        exe.grad_dict['x'][:] = 1
        exe.forward(is_train=True)
        heads = [inputs['og0'], inputs['og1']] if key == 'ss' else None
        exe.backward(heads)
        exe.backward(heads)
        out = {'out%d' % i: o for i, o in enumerate(exe.outputs)}
        out.update(('grad_' + n, exe.grad_dict[n]) for n in names if reqs[n] != 'null')
        out.update(exe.aux_dict)
        return out
''')

MXNET_SCRIPT = '''
import sys
import mxnet as mx
d = sys.argv[1]
ns = {'mx': mx}
exec(open(d + '/source.py').read(), ns)
inputs = mx.nd.load(d + '/inputs.params')
results = {}
for key in ('ss', 'sm'):
    for tag in ('theirs', 'ours'):
        if tag == 'theirs':
            sym = ns['net'](key)
            sym.save('%s/theirs-%s-symbol.json' % (d, key))
        else:
            sym = mx.sym.load('%s/ours-%s-symbol.json' % (d, key))   # our JSON loads in MXNet
        got = ns['run'](key, sym, inputs)
        mx.nd.waitall()       # before the next node is made (see above)
        for name, value in got.items():
            results['%s:%s:%s' % (key, tag, name)] = value
mx.nd.save(d + '/results.params', results)
'''


def _nodes(text):
    # an input entry's third number is its version: MXNet writes 1 for auxiliary states
    # (which the graph mutates), distmod 0 for every input (both load either)
    return [(n['op'], n['name'], n.get('attrs', {}), [e[:2] for e in n['inputs']])
            for n in json.loads(text)['nodes']]


@needs_mxnet
def test_same_custom_ops_in_mxnet_give_the_same_json_numbers_and_gradients(tmp_path):
    (tmp_path / 'source.py').write_text(SOURCE + RUN)
    ns = {'mx': mx}
    exec(RUN, ns)
    rng = np.random.default_rng(6)
    inputs = {'x': rng.standard_normal((4, 3)), 'b': rng.standard_normal((4, 3)),
              'label': np.array([2, 0, 1, 1]), 'running': rng.standard_normal(3),
              'og0': rng.standard_normal((4, 3)), 'og1': rng.standard_normal(4)}
    inputs = {k: mx.nd.array(v) for k, v in inputs.items()}
    mx.nd.save(str(tmp_path / 'inputs.params'), inputs)
    ours = {key: ns['net'](key) for key in KEYS}
    for key, sym in ours.items():
        sym.save(str(tmp_path / ('ours-%s-symbol.json' % key)))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    subprocess.run([VENV_PY, '-c', MXNET_SCRIPT, str(tmp_path)], check=True, env=env,
                   timeout=120)
    results = mx.nd.load(str(tmp_path / 'results.params'))
    for key, sym in ours.items():
        path = str(tmp_path / ('theirs-%s-symbol.json' % key))
        with open(path) as f:
            assert _nodes(f.read()) == _nodes(sym.tojson())
        theirs = mx.sym.load(path)                           # MXNet's JSON loads here
        for mine in (sym, theirs):
            got = ns['run'](key, mine, inputs)
            for tag in ('ours', 'theirs'):
                want = {k.split(':')[2]: v for k, v in results.items()
                        if k.startswith('%s:%s:' % (key, tag))}
                assert sorted(got) == sorted(want)
                for name in want:
                    np.testing.assert_allclose(got[name].asnumpy(), want[name].asnumpy(),
                                               rtol=1e-5, atol=1e-5, err_msg=name)
