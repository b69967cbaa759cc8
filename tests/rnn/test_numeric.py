"""Unrolled cells compute what MXNet 1.9.1 computes (tests/fixtures/mxnet/rnn_numeric.npz),
FusedRNNCell agrees with MXNet and with its own unfuse(), and the weight conversions
(unpack_weights/pack_weights) match MXNet's."""
import os
import warnings

import numpy as np
import pytest

import distmod as mx

from ._common import FIXTURES

NPZ = np.load(os.path.join(FIXTURES, 'rnn_numeric.npz'))
CELLS = {'lstm': lambda: mx.rnn.LSTMCell(4, prefix='lstm_'),
         'gru': lambda: mx.rnn.GRUCell(4, prefix='gru_'),
         'rnn': lambda: mx.rnn.RNNCell(4, prefix='rnn_')}


def _entries(tag, kind):
    pre = '%s/%s:' % (tag, kind)
    return {k[len(pre):]: NPZ[k] for k in NPZ.files if k.startswith(pre)}


def _indexed(tag, kind):
    d = _entries(tag, kind)
    return [d[str(i)] for i in range(len(d))]


@pytest.mark.parametrize('tag', sorted(CELLS))
def test_unrolled_cell_matches_mxnet(tag):
    with mx.name.NameManager():
        cell = CELLS[tag]()
        outputs, states = cell.unroll(3, mx.sym.Variable('data'), merge_outputs=True)
    g = mx.sym.Group([outputs] + list(states))
    args = {k: mx.nd.array(v) for k, v in _entries(tag, 'arg').items()}
    assert sorted(args) == sorted(g.list_arguments())
    grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()}
    ex = g.bind(mx.cpu(), args, args_grad=grads)
    ex.forward(is_train=True)
    for got, want in zip(ex.outputs, _indexed(tag, 'out')):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)
    ex.backward([mx.nd.array(h) for h in _indexed(tag, 'head')])
    for k, want in _entries(tag, 'grad').items():
        np.testing.assert_allclose(grads[k].asnumpy(), want, rtol=1e-4, atol=1e-5,
                                   err_msg='gradient of %s' % k)


def _fused_cell():
    return mx.rnn.FusedRNNCell(4, num_layers=2, mode='lstm', bidirectional=True,
                               get_next_state=True, prefix='f_')


def test_fused_unpack_matches_mxnet():
    cell = _fused_cell()
    args = {k: mx.nd.array(v) for k, v in _entries('fused', 'arg').items() if k != 'data'}
    unpacked = cell.unpack_weights(args)
    want = _entries('fused', 'unpacked')
    want.pop('data', None)
    assert sorted(unpacked) == sorted(want)
    for k, v in want.items():
        np.testing.assert_array_equal(unpacked[k].asnumpy(), v, err_msg=k)
    packed = cell.pack_weights(unpacked)
    np.testing.assert_array_equal(packed['f_parameters'].asnumpy(),
                                  args['f_parameters'].asnumpy())


def test_fused_matches_mxnet():
    with mx.name.NameManager():
        cell = _fused_cell()
        outputs, states = cell.unroll(3, mx.sym.Variable('data'), layout='TNC',
                                      merge_outputs=True)
    g = mx.sym.Group([outputs] + list(states))
    args = {k: mx.nd.array(v) for k, v in _entries('fused', 'arg').items()}
    ex = g.bind(mx.cpu(), args)
    ex.forward(is_train=False)
    for got, want in zip(ex.outputs, _indexed('fused', 'out')):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)


FUSED_CASES = [('lstm', 1, False), ('lstm', 2, True), ('gru', 2, False), ('gru', 1, True),
               ('rnn_tanh', 2, False), ('rnn_relu', 1, True)]


@pytest.mark.parametrize('mode,layers,bidir', FUSED_CASES)
@pytest.mark.parametrize('layout', ['TNC', 'NTC'])
def test_fused_equals_unfused(mode, layers, bidir, layout):
    """The fused operator and the stack unfuse() returns compute the same, with the weights
    converted by unpack_weights (fused -> per gate) and back by pack_weights."""
    T, N, C, H = 4, 3, 5, 6
    shape = (T, N, C) if layout == 'TNC' else (N, T, C)
    fused = mx.rnn.FusedRNNCell(H, num_layers=layers, mode=mode, bidirectional=bidir,
                                prefix='m_')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')     # the NTC speed hint
        f_out, _ = fused.unroll(T, mx.sym.Variable('data'), layout=layout,
                                merge_outputs=True)
    stack = fused.unfuse()
    u_out, _ = stack.unroll(T, mx.sym.Variable('data'), layout=layout, merge_outputs=True)
    arg_shapes, out_shapes, _ = f_out.infer_shape(data=shape)
    assert out_shapes == [shape[:2] + (H * (2 if bidir else 1),)]
    rng = np.random.RandomState(3)
    f_args = {n: mx.nd.array(rng.uniform(-0.5, 0.5, s))
              for n, s in zip(f_out.list_arguments(), arg_shapes)}
    # fused -> per-gate arrays (the checkpoint form) -> the stack's own weights
    u_args = stack.pack_weights(fused.unpack_weights(f_args))
    assert sorted(u_args) == sorted(u_out.list_arguments())
    ex_f = f_out.bind(mx.cpu(), f_args)
    ex_u = u_out.bind(mx.cpu(), u_args)
    ex_f.forward(is_train=False)
    ex_u.forward(is_train=False)
    np.testing.assert_allclose(ex_f.outputs[0].asnumpy(), ex_u.outputs[0].asnumpy(),
                               rtol=1e-5, atol=1e-5)
    # and back: the stack's weights, unpacked per gate, pack into the same flat vector
    again = fused.pack_weights(stack.unpack_weights(u_args))
    np.testing.assert_array_equal(again['m_parameters'].asnumpy(),
                                  f_args['m_parameters'].asnumpy())


def test_gate_unpack_pack_values():
    cell = mx.rnn.LSTMCell(2, prefix='p_')
    w = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    args = {'p_i2h_weight': mx.nd.array(w), 'p_i2h_bias': mx.nd.array(np.arange(8)),
            'p_h2h_weight': mx.nd.array(np.ones((8, 2))), 'p_h2h_bias': mx.nd.zeros((8,)),
            'other': mx.nd.ones((1,))}
    un = cell.unpack_weights(args)
    assert sorted(un) == sorted(['other'] + ['p_%s_%s_%s' % (g, gate, kind)
                                             for g in ('i2h', 'h2h') for gate in 'ifco'
                                             for kind in ('weight', 'bias')])
    np.testing.assert_array_equal(un['p_i2h_f_weight'].asnumpy(), w[2:4])
    np.testing.assert_array_equal(un['p_i2h_o_bias'].asnumpy(), [6, 7])
    assert 'p_i2h_weight' in args              # the caller's dict is left alone
    back = cell.pack_weights(un)
    np.testing.assert_array_equal(back['p_i2h_weight'].asnumpy(), w)
    # a cell without gates passes its weights through
    drop = mx.rnn.DropoutCell(0.2)
    assert drop.unpack_weights({'a': 1}) == {'a': 1}
