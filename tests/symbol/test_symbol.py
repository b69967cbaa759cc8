"""Symbol construction, naming, listing, indexing, attributes and inference."""
import warnings

import numpy as np
import pytest

import distmod as mx


def mlp():
    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data, name='fc1', num_hidden=128)
    act1 = mx.sym.Activation(fc1, name='relu1', act_type='relu')
    fc2 = mx.sym.FullyConnected(act1, name='fc2', num_hidden=10)
    return mx.sym.SoftmaxOutput(fc2, name='softmax')


def test_lists_follow_mxnet_naming():
    net = mlp()
    assert net.list_arguments() == ['data', 'fc1_weight', 'fc1_bias', 'fc2_weight', 'fc2_bias',
                                    'softmax_label']
    assert net.list_outputs() == ['softmax_output']
    assert net.list_auxiliary_states() == []
    assert net.list_inputs() == net.list_arguments()
    assert net.name == 'softmax'


def test_automatic_names_count_per_operator():
    with mx.name.NameManager():
        x = mx.sym.Variable('x')
        a = mx.sym.FullyConnected(x, num_hidden=3)
        b = mx.sym.FullyConnected(a, num_hidden=3)
        c = mx.sym.Activation(b, act_type='relu')
        assert (a.name, b.name, c.name) == ('fullyconnected0', 'fullyconnected1', 'activation0')
        assert b.list_arguments() == ['x', 'fullyconnected0_weight', 'fullyconnected0_bias',
                                      'fullyconnected1_weight', 'fullyconnected1_bias']
    with mx.name.Prefix('net_'):
        d = mx.sym.Activation(x, act_type='relu')
        assert d.name == 'net_activation0'


def test_get_internals_and_indexing():
    net = mlp()
    internals = net.get_internals()
    outs = internals.list_outputs()
    assert outs[:4] == ['data', 'fc1_weight', 'fc1_bias', 'fc1_output']
    fc1 = internals['fc1_output']
    assert fc1.list_outputs() == ['fc1_output']
    assert fc1.list_arguments() == ['data', 'fc1_weight', 'fc1_bias']
    assert internals[3].name == 'fc1'
    with pytest.raises(ValueError, match='no output named'):
        internals['nope']
    children = net.get_children()
    assert children.list_outputs() == ['fc2_output', 'softmax_label']


def test_group_and_multi_output():
    x = mx.sym.Variable('x')
    parts = mx.sym.SliceChannel(x, num_outputs=3, name='sl')
    assert len(parts) == 3
    assert parts.list_outputs() == ['sl_output0', 'sl_output1', 'sl_output2']
    g = mx.sym.Group([parts[0], parts[2]])
    assert g.list_outputs() == ['sl_output0', 'sl_output2']
    assert g.name is None
    with pytest.raises(mx.MXNetError, match='group of 3 outputs'):
        mx.sym.FullyConnected(parts, num_hidden=2)


def test_infer_shape_complete_partial_and_error():
    net = mlp()
    arg, out, aux = net.infer_shape(data=(32, 784))
    assert dict(zip(net.list_arguments(), arg)) == {
        'data': (32, 784), 'fc1_weight': (128, 784), 'fc1_bias': (128,),
        'fc2_weight': (10, 128), 'fc2_bias': (10,), 'softmax_label': (32,)}
    assert out == [(32, 10)] and aux == []
    x = mx.sym.Variable('x')
    y = mx.sym.Variable('y')
    s = mx.sym.FullyConnected(x, num_hidden=4, name='f') + y
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert s.infer_shape() == (None, None, None)
    arg, out, _ = s.infer_shape_partial()
    assert arg == [(), (), (), ()]
    arg, out, _ = s.infer_shape(x=(2, 5))
    assert arg[-1] == (2, 4) and out == [(2, 4)]
    with pytest.raises(mx.MXNetError) as e:
        net.infer_shape(data=(32, 784), fc1_weight=(128, 100))
    msg = str(e.value)
    assert "'fc1'" in msg and 'weight' in msg and '(128, 100)' in msg and '(128, 784)' in msg


def test_infer_shape_with_unknown_dims_in_variable_shape():
    x = mx.sym.Variable('x', shape=(0, 6))
    fc = mx.sym.FullyConnected(x, num_hidden=2, name='fc')
    arg, _, _ = fc.infer_shape_partial()
    assert arg[1] == (2, 6)
    arg, out, _ = fc.infer_shape(x=(5, 6))
    assert out == [(5, 2)]


def test_infer_type():
    net = mlp()
    arg, out, aux = net.infer_type(data=np.float32)
    assert all(t is np.float32 for t in arg) and out == [np.float32]
    x = mx.sym.Variable('x', dtype='float64')
    arg, out, _ = mx.sym.Cast(x, dtype='float16').infer_type()
    assert arg == [np.float64] and out == [np.float16]


def test_variable_attributes_and_attr_dict():
    w = mx.sym.Variable('w', shape=(3, 4), lr_mult=2.0, wd_mult=0.5, dtype='float64',
                        init='zeros', __foo__='bar')
    assert w.attr('__shape__') == '(3, 4)'
    assert w.attr('__lr_mult__') == '2.0'
    assert w.attr('__wd_mult__') == '0.5'
    assert w.attr('__dtype__') == '1'
    assert w.attr('__foo__') == 'bar'
    with pytest.raises(ValueError, match='double underscores'):
        mx.sym.Variable('v', foo='bar')
    with mx.AttrScope(ctx_group='dev1'):
        fc = mx.sym.FullyConnected(w, num_hidden=2, name='fc')
    d = fc.attr_dict()
    assert d['fc']['num_hidden'] == '2' and d['fc']['ctx_group'] == 'dev1'
    assert d['w']['__lr_mult__'] == '2.0'
    assert fc.attr('num_hidden') == '2'
    assert fc.list_attr()['ctx_group'] == 'dev1'


def test_arithmetic_between_symbols_and_scalars():
    a = mx.sym.Variable('a')
    b = mx.sym.Variable('b')
    exprs = {'a+b': a + b, 'a-b': a - b, 'a*b': a * b, 'a/b': a / b, 'a+2': a + 2,
             '3-a': 3 - a, 'a*0.5': a * 0.5, '2/a': 2 / a, 'a**2': a ** 2, '2**a': 2 ** a,
             '-a': -a, 'a**b': a ** b, 'max': mx.sym.maximum(a, b), 'min': mx.sym.minimum(a, 1),
             'a>b': a > b, 'a<=1': a <= 1}
    av = np.array([[1.5, 2.0], [0.5, 3.0]], np.float32)
    bv = np.array([[2.0, 1.0], [4.0, 0.25]], np.float32)
    want = {'a+b': av + bv, 'a-b': av - bv, 'a*b': av * bv, 'a/b': av / bv, 'a+2': av + 2,
            '3-a': 3 - av, 'a*0.5': av * 0.5, '2/a': 2 / av, 'a**2': av ** 2, '2**a': 2 ** av,
            '-a': -av, 'a**b': av ** bv, 'max': np.maximum(av, bv), 'min': np.minimum(av, 1),
            'a>b': (av > bv).astype(np.float32), 'a<=1': (av <= 1).astype(np.float32)}
    for key, s in exprs.items():
        args = {'a': mx.nd.array(av), 'b': mx.nd.array(bv)}
        args = {k: v for k, v in args.items() if k in s.list_arguments()}
        out = s.bind(mx.cpu(), args).forward()[0].asnumpy()
        np.testing.assert_allclose(out, want[key], rtol=1e-6, err_msg=key)


def test_compose_replaces_variables():
    x = mx.sym.Variable('x')
    net = mx.sym.FullyConnected(x, num_hidden=3, name='fc')
    data = mx.sym.Variable('data')
    pre = mx.sym.Activation(data, act_type='relu', name='pre')
    composed = net(x=pre)
    assert composed.list_arguments() == ['data', 'fc_weight', 'fc_bias']
    assert net.list_arguments() == ['x', 'fc_weight', 'fc_bias']


def test_bad_parameters_are_named():
    x = mx.sym.Variable('x')
    with pytest.raises(mx.MXNetError, match="unknown parameter 'num_hiden'"):
        mx.sym.FullyConnected(x, num_hiden=3)
    with pytest.raises(mx.MXNetError, match="required parameter 'num_hidden'"):
        mx.sym.FullyConnected(x)
    with pytest.raises(mx.MXNetError, match='act_type'):
        mx.sym.Activation(x, act_type='swish')
    with pytest.raises(mx.MXNetError, match="unknown parameter 'weight'"):
        mx.sym.Activation(x, act_type='relu', weight=x)


def test_json_round_trip_keeps_everything(tmp_path):
    net = mlp()
    w = mx.sym.Variable('w', shape=(2, 3), lr_mult=2.0)
    g = mx.sym.Group([net, mx.sym.FullyConnected(w, num_hidden=4, no_bias=True, name='f2')])
    text = g.tojson()
    back = mx.sym.load_json(text)
    assert back.tojson() == text
    assert back.list_arguments() == g.list_arguments()
    assert back.list_outputs() == g.list_outputs()
    assert back.attr_dict() == g.attr_dict()
    path = tmp_path / 'net-symbol.json'
    g.save(str(path))
    assert mx.sym.load(str(path)).tojson() == text


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(mx.MXNetError, match='not an MXNet symbol JSON'):
        mx.sym.load_json('{"foo": 1}')
    bad = ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "NoSuchOp", '
           '"name": "n", "inputs": [[0, 0, 0]]}], "arg_nodes": [0], "heads": [[1, 0, 0]]}')
    with pytest.raises(mx.MXNetError, match="'n' uses operator 'NoSuchOp'"):
        mx.sym.load_json(bad)
    path = tmp_path / 'missing.json'
    with pytest.raises(mx.MXNetError, match='missing.json'):
        mx.sym.load(str(path))


def test_legacy_json_with_param_key_loads():
    text = ('{"nodes": [{"op": "null", "param": {}, "name": "data", "inputs": [], '
            '"backward_source_id": -1}, {"op": "null", "param": {}, "name": "fc_weight", '
            '"inputs": []}, {"op": "null", "param": {}, "name": "fc_bias", "inputs": []}, '
            '{"op": "FullyConnected", "param": {"no_bias": "False", "num_hidden": "3"}, '
            '"name": "fc", "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1}], '
            '"arg_nodes": [0, 1, 2], "heads": [[3, 0]]}')
    s = mx.sym.load_json(text)
    assert s.list_arguments() == ['data', 'fc_weight', 'fc_bias']
    assert s.infer_shape(data=(2, 5))[1] == [(2, 3)]


def test_json_matches_what_mxnet_writes():
    """The document MXNet 1.9.1 writes for this graph (read off the reference venv)."""
    import json
    fc = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=3, name='fc')
    assert json.loads(fc.tojson()) == {
        'nodes': [{'op': 'null', 'name': 'data', 'inputs': []},
                  {'op': 'null', 'name': 'fc_weight', 'attrs': {'num_hidden': '3'}, 'inputs': []},
                  {'op': 'null', 'name': 'fc_bias', 'attrs': {'num_hidden': '3'}, 'inputs': []},
                  {'op': 'FullyConnected', 'name': 'fc', 'attrs': {'num_hidden': '3'},
                   'inputs': [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}],
        'arg_nodes': [0, 1, 2], 'node_row_ptr': [0, 1, 2, 3, 4], 'heads': [[3, 0, 0]],
        'attrs': {'mxnet_version': ['int', 10901]}}
    a = mx.sym.Variable('a')
    b = mx.sym.Variable('b')
    with mx.name.NameManager():
        got = [json.loads(s.tojson())['nodes'][-1] for s in [a + b, a + 2, 2 - a, a ** 2, -a]]
    assert [(n['op'], n['name'], n.get('attrs')) for n in got] == [
        ('elemwise_add', '_plus0', None), ('_plus_scalar', '_plusscalar0', {'scalar': '2'}),
        ('_rminus_scalar', '_rminusscalar0', {'scalar': '2'}),
        ('_power_scalar', '_powerscalar0', {'scalar': '2'}),
        ('_mul_scalar', '_mulscalar0', {'scalar': '-1.0'})]


def test_attr_scope_keys_follow_mxnet():
    import json
    w = mx.sym.Variable('w')
    with mx.AttrScope(ctx_group='dev1'):
        fc = mx.sym.FullyConnected(w, num_hidden=2, name='fc')
    nodes = {n['name']: n.get('attrs') for n in json.loads(fc.tojson())['nodes']}
    assert nodes['fc'] == {'__ctx_group__': 'dev1', 'num_hidden': '2'}
    assert nodes['fc_weight'] == {'__ctx_group__': 'dev1', 'num_hidden': '2'}
    assert fc.attr('ctx_group') == 'dev1' and fc.attr('__ctx_group__') == 'dev1'
    assert fc.list_attr() == {'num_hidden': '2', '__ctx_group__': 'dev1', 'ctx_group': 'dev1'}
    with pytest.raises(mx.MXNetError, match="'mygroup'"):
        with mx.AttrScope(mygroup='4'):
            mx.sym.FullyConnected(w, num_hidden=2)


def test_first_version_operators_of_old_checkpoints_load():
    """MXNet's Convolution_v1, Pooling_v1 and BatchNorm_v1 (in old models' JSON) are the
    operators of today with fewer parameters."""
    import json
    net = mx.sym.BatchNorm(mx.sym.Pooling(mx.sym.Convolution(
        mx.sym.Variable('data'), kernel=(3, 3), num_filter=4, name='c'), kernel=(2, 2),
        pool_type='avg', name='p'), name='b')
    doc = json.loads(net.tojson())
    for node in doc['nodes']:
        if node['op'] != 'null':
            node['op'] += '_v1'
    old = mx.sym.load_json(json.dumps(doc))
    assert old.list_arguments() == net.list_arguments()
    assert old.list_auxiliary_states() == ['b_moving_mean', 'b_moving_var']
    assert old.infer_shape(data=(1, 1, 8, 8))[1] == [(1, 4, 5, 5)]
    assert mx.sym.Convolution_v1(mx.sym.Variable('x'), kernel=(1, 1), num_filter=2,
                                 name='c').list_arguments() == ['x', 'c_weight', 'c_bias']
