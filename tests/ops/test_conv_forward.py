"""Convolution, Deconvolution and Pooling against MXNet 1.9.1's outputs and gradients.

``tests/fixtures/mxnet/conv_ops.npz`` (written by ``tests/fixtures/make_conv_fixtures.py``
under real MXNet) holds, per case, the inputs, MXNet's training-forward output, a head gradient
and MXNet's gradient of every input.  Each case is bound here through ``mx.sym`` and the
executor, so shape inference of weight and bias from the data is exercised too.
"""
import json
import os

import numpy as np
import pytest

import distmod as mx

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       'fixtures', 'mxnet', 'conv_ops.npz')


def _load():
    with np.load(FIXTURE, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    cases = {}
    for key, value in data.items():
        name, field = key.split('/', 1)
        cases.setdefault(name, {})[field] = value
    return cases


CASES = _load()


def _op_of(name):
    if name.startswith('deconv'):
        return 'Deconvolution'
    if name.startswith('conv'):
        return 'Convolution'
    return 'Pooling'


def _attrs(case):
    return {k: tuple(v) if isinstance(v, list) else v
            for k, v in json.loads(str(case['attrs'])).items()}


def run_case(op_name, attrs, inputs, head):
    """Bind ``op_name`` over ``inputs``, forward (training) and backward ``head``.

    Returns (output, {input: gradient}).
    """
    data = mx.sym.Variable('data')
    sym = getattr(mx.sym, op_name)(data, name='op', **attrs)
    names = sym.list_arguments()
    args = {n: mx.nd.array(inputs[n[3:] if n.startswith('op_') else n]) for n in names}
    grads = {n: mx.nd.zeros(a.shape) for n, a in args.items()}
    exe = sym.bind(mx.cpu(), args=args, args_grad=grads)
    out = exe.forward(is_train=True)[0].asnumpy()
    exe.backward(mx.nd.array(head))
    return out, {(n[3:] if n.startswith('op_') else n): exe.grad_dict[n].asnumpy()
                 for n in names}


@pytest.mark.parametrize('name', sorted(CASES))
def test_output_and_gradients_match_mxnet(name):
    case = CASES[name]
    inputs = {k: case[k] for k in ('data', 'weight', 'bias') if k in case}
    out, grads = run_case(_op_of(name), _attrs(case), inputs, case['head'])
    np.testing.assert_allclose(out, case['out'], rtol=1e-4, atol=1e-5, err_msg=name)
    assert set(grads) == set(inputs), name
    for k, g in grads.items():
        np.testing.assert_allclose(g, case['grad_' + k], rtol=1e-4, atol=1e-5,
                                   err_msg='%s: gradient of %s' % (name, k))


def test_fixture_covers_every_pooling_type_and_convention():
    pools = [_attrs(c) for n, c in CASES.items() if _op_of(n) == 'Pooling']
    assert {a.get('pool_type', 'max') for a in pools} == {'max', 'avg', 'sum', 'lp'}
    assert {a.get('pooling_convention', 'valid') for a in pools} == {'valid', 'full', 'same'}
    assert any(a.get('count_include_pad') is False for a in pools)
    assert any(a.get('global_pool') for a in pools)
    deconvs = [_attrs(c) for n, c in CASES.items() if _op_of(n) == 'Deconvolution']
    assert any('target_shape' in a for a in deconvs) and any('adj' in a for a in deconvs)


def test_max_pooling_routes_ties_to_the_first_maximum():
    x = np.array([[1, 1, 0, 2], [1, 1, 2, 2], [3, 0, 3, 3], [3, 3, 3, 3]], np.float32)
    out, grads = run_case('Pooling', {'kernel': (2, 2), 'stride': (2, 2)},
                          {'data': x.reshape(1, 1, 4, 4)}, np.ones((1, 1, 2, 2), np.float32))
    assert out.ravel().tolist() == [1, 2, 3, 3]
    assert grads['data'][0, 0].tolist() == [[1, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0],
                                            [0, 0, 0, 0]]


# ---- channel-last layouts (MXNet's CPU build only infers their shapes) -------------------
def test_channel_last_shapes_match_mxnet_inference():
    d = mx.sym.Variable('data')
    s = mx.sym.Convolution(d, kernel=(3, 3), num_filter=4, num_group=2, layout='NHWC')
    assert s.infer_shape(data=(2, 7, 8, 6)) == ([(2, 7, 8, 6), (4, 3, 3, 3), (4,)],
                                                [(2, 5, 6, 4)], [])
    s = mx.sym.Deconvolution(d, kernel=(3, 3), num_filter=4, num_group=2, layout='NHWC')
    assert s.infer_shape(data=(2, 5, 5, 6)) == ([(2, 5, 5, 6), (6, 3, 3, 2)],
                                                [(2, 7, 7, 4)], [])


@pytest.mark.parametrize('op_name,attrs,dshape,wperm', [
    ('Convolution', dict(kernel=(3, 3), num_filter=4, num_group=2, pad=(1, 0),
                         stride=(2, 1)), (2, 4, 7, 20), (0, 2, 3, 1)),
    ('Convolution', dict(kernel=(2, 3, 2), num_filter=3, no_bias=True), (2, 2, 4, 5, 3),
     (0, 2, 3, 4, 1)),
    ('Deconvolution', dict(kernel=(3, 3), num_filter=4, num_group=2, stride=(2, 2),
                           no_bias=False), (2, 4, 3, 5), (0, 2, 3, 1)),
])
def test_channel_last_equals_channel_first_transposed(op_name, attrs, dshape, wperm):
    nd = len(dshape) - 2
    to_last = (0,) + tuple(range(2, nd + 2)) + (1,)
    rng = np.random.default_rng(0)
    sym = getattr(mx.sym, op_name)(mx.sym.Variable('data'), name='op', **attrs)
    (_, wshape, *rest), (oshape,), _ = sym.infer_shape(data=dshape)
    inputs = {'data': rng.standard_normal(dshape).astype(np.float32),
              'weight': rng.standard_normal(wshape).astype(np.float32)}
    if rest:
        inputs['bias'] = rng.standard_normal(rest[0]).astype(np.float32)
    head = rng.standard_normal(oshape).astype(np.float32)
    out, grads = run_case(op_name, attrs, inputs, head)
    layout = {1: 'NWC', 2: 'NHWC', 3: 'NDHWC'}[nd]
    last = dict(inputs, data=inputs['data'].transpose(to_last),
                weight=inputs['weight'].transpose(wperm))
    out2, grads2 = run_case(op_name, dict(attrs, layout=layout), last, head.transpose(to_last))
    np.testing.assert_allclose(out2, out.transpose(to_last), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads2['data'], grads['data'].transpose(to_last), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(grads2['weight'], grads['weight'].transpose(wperm), rtol=1e-5,
                               atol=1e-5)


# ---- defaults, reuse and errors --------------------------------------------------------------
def test_deconvolution_has_no_bias_by_default_like_mxnet():
    d = mx.sym.Variable('data')
    assert mx.sym.Deconvolution(d, kernel=(2, 2), num_filter=2, name='dc').list_arguments() \
        == ['data', 'dc_weight']
    assert mx.sym.Convolution(d, kernel=(2, 2), num_filter=2, name='c').list_arguments() \
        == ['data', 'c_weight', 'c_bias']


def test_repeated_steps_with_new_data_use_fresh_columns():
    """Scratch buffers are reused across steps; new data must still give new gradients."""
    rng = np.random.default_rng(1)
    sym = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(3, 3), num_filter=3, pad=(1, 1),
                             name='op')
    shapes = {'data': (4, 2, 6, 6), 'op_weight': (3, 2, 3, 3), 'op_bias': (3,)}
    exe = sym.simple_bind(mx.cpu(), **{'data': shapes['data']})
    for n, a in exe.arg_dict.items():
        a[:] = rng.standard_normal(shapes[n])
    head = mx.nd.array(rng.standard_normal((4, 3, 6, 6)))
    for _ in range(2):
        new = rng.standard_normal(shapes['data']).astype(np.float32)
        exe.arg_dict['data'][:] = new
        exe.forward(is_train=True)
        exe.backward(head)
        fresh_out, fresh = run_case('Convolution', {'kernel': (3, 3), 'num_filter': 3,
                                                    'pad': (1, 1)},
                                    {'data': new, 'weight': exe.arg_dict['op_weight'].asnumpy(),
                                     'bias': exe.arg_dict['op_bias'].asnumpy()},
                                    head.asnumpy())
        np.testing.assert_allclose(exe.outputs[0].asnumpy(), fresh_out, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(exe.grad_dict['op_weight'].asnumpy(), fresh['weight'],
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('build,dshape,pattern', [
    (lambda d: mx.sym.Convolution(d, kernel=(3, 3), num_filter=2, name='c1'), (2, 3, 2, 5),
     r"c1.*kernel=\(3, 3\).*\(2, 3, 2, 5\)"),
    (lambda d: mx.sym.Convolution(d, kernel=(3, 3), num_filter=4, num_group=4, name='c2'),
     (2, 6, 5, 5), r"c2.*\(2, 6, 5, 5\).*num_group=4"),
    (lambda d: mx.sym.Convolution(d, kernel=(3,), num_filter=2, name='c3'), (2, 3, 5, 5),
     r"c3.*\(2, 3, 5, 5\).*3 dimensions"),
    (lambda d: mx.sym.Deconvolution(d, kernel=(3, 3), num_filter=2, stride=(2, 2),
                                    target_shape=(12, 11), name='d1'), (2, 6, 5, 5),
     r"d1.*target_shape=\(12, 11\)"),
    (lambda d: mx.sym.Pooling(d, kernel=(3, 3), name='p1'), (2, 6, 2, 5),
     r"p1.*kernel=\(3, 3\).*\(2, 5\)"),
])
def test_shape_errors_name_the_instance_and_shapes(build, dshape, pattern):
    with pytest.raises(mx.MXNetError, match=pattern):
        build(mx.sym.Variable('data')).infer_shape(data=dshape)


@pytest.mark.parametrize('kwargs,pattern', [
    (dict(kernel=(3,), pooling_convention='same', pad=(1,)), 'same'),
    (dict(kernel=(2, 2), pool_type='lp'), 'p_value'),
    (dict(kernel=(2, 2), pool_type='lp', p_value=4), 'p_value'),
    (dict(kernel=(2, 2), stride=(1, 1, 1)), 'stride'),
    (dict(kernel=(2, 2), layout='NCW'), 'layout'),
])
def test_bad_pooling_parameters_are_refused(kwargs, pattern):
    with pytest.raises(mx.MXNetError, match=pattern):
        mx.sym.Pooling(mx.sym.Variable('data'), **kwargs)


def test_deconvolution_adj_must_be_smaller_than_stride():
    with pytest.raises(mx.MXNetError, match='adj'):
        mx.sym.Deconvolution(mx.sym.Variable('data'), kernel=(3, 3), num_filter=2,
                             stride=(2, 2), adj=(2, 0))
