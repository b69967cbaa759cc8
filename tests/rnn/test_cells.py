"""Unrolled cells have MXNet 1.9.1's graph: node for node the same operators, names and
attributes, the same arguments and outputs, and the same inferred shapes
(tests/fixtures/mxnet/rnn_cells.json, from tests/fixtures/make_rnn_cell_fixtures.py)."""
import json

import numpy as np
import pytest

import distmod as mx

from ._common import CONFIGS, build, flat, load_json

EXPECTED = load_json('rnn_cells.json')


def test_fixture_covers_every_configuration():
    assert sorted(EXPECTED) == sorted(CONFIGS)


def _graph(name):
    cell, outputs, states = build(name)
    return cell, outputs, states, mx.sym.Group(flat(outputs, states))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_names_match_mxnet(name):
    exp = EXPECTED[name]
    cell, outputs, _, g = _graph(name)
    assert g.list_arguments() == exp['arguments']
    assert g.list_outputs() == exp['outputs']
    assert (len(outputs) if isinstance(outputs, list) else 1) == exp['num_outputs']
    assert g.get_internals().list_outputs() == exp['internals']
    assert [dict(i, shape=list(i['shape'])) for i in cell.state_info] == exp['state_info']


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_nodes_match_mxnet_json(name):
    """Operators, node names and attributes as in MXNet's symbol JSON (checkpoints move
    between the two)."""
    _, _, _, g = _graph(name)
    doc = json.loads(g.tojson())
    got = [[n['op'], n['name'], n.get('attrs', {})] for n in doc['nodes']]
    assert got == EXPECTED[name]['nodes']
    # and MXNet's JSON loads back into the same graph
    again = mx.sym.load_json(g.tojson())
    assert again.list_outputs() == g.list_outputs()


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_inferred_shapes_match_mxnet(name):
    exp = EXPECTED[name]
    _, _, _, g = _graph(name)
    given = {k: tuple(v) for k, v in exp['data_shapes'].items()}
    arg_shapes, out_shapes, aux_shapes = g.infer_shape(**given)
    assert [list(s) for s in arg_shapes] == exp['arg_shapes']
    assert [list(s) for s in out_shapes] == exp['out_shapes']
    assert aux_shapes == []


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_unpacked_weight_names_match_mxnet(name):
    exp = EXPECTED[name]
    cell, _, _, g = _graph(name)
    given = {k: tuple(v) for k, v in exp['data_shapes'].items()}
    arg_shapes, _, _ = g.infer_shape(**given)
    weights = {a: mx.nd.array(np.random.rand(*s)) for a, s in zip(g.list_arguments(), arg_shapes)
               if a not in given}
    if 'KeyError' in exp['unpacked']:
        with pytest.raises(KeyError):
            cell.unpack_weights(weights)
        return
    unpacked = cell.unpack_weights(weights)
    assert {k: list(v.shape) for k, v in unpacked.items()} == exp['unpacked']
    packed = cell.pack_weights(unpacked)
    assert sorted(packed) == sorted(weights)
    for k, v in weights.items():
        np.testing.assert_array_equal(packed[k].asnumpy(), v.asnumpy())


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_unrolled_graph_binds_and_runs(name):
    exp = EXPECTED[name]
    _, _, _, g = _graph(name)
    given = {k: tuple(v) for k, v in exp['data_shapes'].items()}
    ex = g.simple_bind(mx.cpu(), **given)
    for k, v in ex.arg_dict.items():
        v[:] = np.random.RandomState(0).uniform(-1, 1, v.shape)
    ex.forward(is_train=True)
    assert [list(o.shape) for o in ex.outputs] == exp['out_shapes']
    ex.backward([mx.nd.ones(o.shape) for o in ex.outputs])
    for o in ex.outputs:
        assert np.isfinite(o.asnumpy()).all()


def test_begin_state_kwargs_and_counter():
    cell = mx.rnn.LSTMCell(3, prefix='x_')
    s = cell.begin_state(func=mx.sym.Variable)
    assert [v.name for v in s] == ['x_begin_state_0', 'x_begin_state_1']
    assert s[0].attr('__layout__') == 'NC'
    assert s[0].attr('__shape__') == '(0, 3)'
    s = cell.begin_state(func=mx.sym.Variable, dtype='float16')
    assert [v.name for v in s] == ['x_begin_state_2', 'x_begin_state_3']
    assert cell.state_shape == [(0, 3), (0, 3)]
    cell.reset()
    assert cell.begin_state(func=mx.sym.Variable)[0].name == 'x_begin_state_0'


def test_modifier_cells_guard_their_base_cell():
    base = mx.rnn.GRUCell(3)
    mod = mx.rnn.ZoneoutCell(base, zoneout_outputs=0.1)
    with pytest.raises(mx.MXNetError, match='modifier'):
        base.begin_state(func=mx.sym.Variable)
    assert [s.name for s in mod.begin_state(init_sym=mx.sym.Variable)] == ['gru_begin_state_0']
    assert mod.params is base.params


def test_cells_that_cannot_step_or_nest():
    fused = mx.rnn.FusedRNNCell(3, mode='gru')
    with pytest.raises(NotImplementedError):
        fused(mx.sym.Variable('x'), [])
    with pytest.raises(mx.MXNetError):
        mx.rnn.ZoneoutCell(fused)
    bi = mx.rnn.BidirectionalCell(mx.rnn.RNNCell(2, prefix='a_'), mx.rnn.RNNCell(2, prefix='b_'))
    with pytest.raises(NotImplementedError):
        bi(mx.sym.Variable('x'), [])
    with pytest.raises(mx.MXNetError):
        mx.rnn.ZoneoutCell(bi)
    # as in MXNet, a SequentialRNNCell given params refuses every cell: building a cell reads
    # its own params
    seq = mx.rnn.SequentialRNNCell(params=mx.rnn.RNNParams('p_'))
    with pytest.raises(mx.MXNetError, match='not both'):
        seq.add(mx.rnn.RNNCell(2))
    with pytest.raises(mx.MXNetError):
        mx.rnn.DropoutCell('0.5')
    with pytest.raises(mx.MXNetError):
        mx.rnn.FusedRNNCell(3, mode='elman')


def test_params_are_shared_across_steps_and_cells():
    params = mx.rnn.RNNParams('w_')
    a = mx.rnn.RNNCell(4, prefix='a_', params=params)
    b = mx.rnn.RNNCell(4, prefix='b_', params=params)
    assert a._iW is b._iW
    assert params.get('i2h_weight') is a._iW
    assert a._iW.name == 'w_i2h_weight'


def test_lstm_bias_initializer_attribute():
    cell = mx.rnn.LSTMCell(4, forget_bias=3.0)
    assert cell._iB.attr('__init__') == '["lstmbias", {"forget_bias": 3.0}]'
    fused = mx.rnn.FusedRNNCell(4, mode='lstm')
    assert fused._parameter.attr('__init__').startswith('["fusedrnn"')


def test_unroll_layouts_and_merging():
    cell = mx.rnn.RNNCell(2, prefix='u_')
    xs = [mx.sym.Variable('x%d' % i) for i in range(2)]
    states = cell.begin_state(func=mx.sym.Variable)
    outs, _ = cell.unroll(2, xs, begin_state=states)
    assert isinstance(outs, list) and len(outs) == 2
    # as in MXNet, a stepping cell given one symbol and merge_outputs=None returns a list
    outs, _ = cell.unroll(2, mx.sym.Variable('d'), begin_state=states, layout='TNC')
    assert isinstance(outs, list)
    outs, _ = cell.unroll(2, mx.sym.Variable('d'), begin_state=states, layout='TNC',
                          merge_outputs=True)
    assert isinstance(outs, mx.sym.Symbol)
    # a DropoutCell keeps a symbol a symbol
    outs2, st = mx.rnn.DropoutCell(0.5).unroll(2, mx.sym.Variable('d'), layout='TNC')
    assert isinstance(outs2, mx.sym.Symbol) and st == []
    _, out_shapes, _ = outs.infer_shape(d=(2, 5, 3), u_begin_state_0=(5, 2))
    assert out_shapes == [(2, 5, 2)]
    with pytest.raises(mx.MXNetError, match='deprecated'):
        cell.unroll(2, None)
    with pytest.raises(mx.MXNetError):
        cell.unroll(3, xs, begin_state=states)


def test_rnn_unroll_is_deprecated_but_works():
    cell = mx.rnn.RNNCell(2, prefix='u_')
    with pytest.warns(DeprecationWarning):
        outs, _ = mx.rnn.rnn_unroll(cell, 2, [mx.sym.Variable('a'), mx.sym.Variable('b')],
                                    begin_state=cell.begin_state(func=mx.sym.Variable))
    assert len(outs) == 2


def test_package_exports():
    for name in ('RNNParams', 'BaseRNNCell', 'RNNCell', 'LSTMCell', 'GRUCell', 'FusedRNNCell',
                 'SequentialRNNCell', 'BidirectionalCell', 'DropoutCell', 'ModifierCell',
                 'ResidualCell', 'ZoneoutCell', 'encode_sentences', 'BucketSentenceIter',
                 'save_rnn_checkpoint', 'load_rnn_checkpoint', 'do_rnn_checkpoint',
                 'rnn_unroll'):
        assert hasattr(mx.rnn, name), name
    assert mx.rnn.rnn_cell.LSTMCell is mx.rnn.LSTMCell
