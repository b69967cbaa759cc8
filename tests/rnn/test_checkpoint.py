"""save_rnn_checkpoint / load_rnn_checkpoint / do_rnn_checkpoint: files in MXNet's form
(per-gate weights), read back packed; a checkpoint MXNet 1.9.1 wrote loads here
(tests/fixtures/mxnet/rnn_ckpt/)."""
import os

import numpy as np
import pytest

import distmod as mx

from ._common import FIXTURES

MX_PREFIX = os.path.join(FIXTURES, 'rnn_ckpt', 'ckpt')


def _stack():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(4, prefix='ck_l0_'))
    stack.add(mx.rnn.GRUCell(3, prefix='ck_l1_'))
    return stack


def _net(stack, begin_state=None):
    outputs, _ = stack.unroll(2, mx.sym.Variable('data'), begin_state=begin_state,
                              merge_outputs=True)
    return mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 3)), num_hidden=2,
                                 name='pred')


def _mx_file():
    return mx.nd.load(MX_PREFIX + '-0001.params')


def test_load_mxnet_rnn_checkpoint():
    stack = _stack()
    sym, arg, aux = mx.rnn.load_rnn_checkpoint(stack, MX_PREFIX, 1)
    saved = _mx_file()
    assert aux == {}
    assert sorted(arg) == sorted(['pred_weight', 'pred_bias'] +
                                 ['ck_l%d_%s_%s' % (l, g, k) for l in (0, 1)
                                  for g in ('i2h', 'h2h') for k in ('weight', 'bias')])
    # packed: the per-gate arrays MXNet wrote, stacked in gate order
    for layer, gates in ((0, 'ifco'), (1, 'rzo')):
        for group in ('i2h', 'h2h'):
            for kind in ('weight', 'bias'):
                parts = [saved['arg:ck_l%d_%s_%s_%s' % (layer, group, g, kind)].asnumpy()
                         for g in gates]
                np.testing.assert_array_equal(
                    arg['ck_l%d_%s_%s' % (layer, group, kind)].asnumpy(),
                    np.concatenate(parts))
    assert sorted(a for a in sym.list_arguments() if a != 'data') == sorted(arg)


def test_loaded_mxnet_checkpoint_runs_and_matches_our_graph():
    stack = _stack()
    sym, arg, aux = mx.rnn.load_rnn_checkpoint(stack, MX_PREFIX, 1)
    with mx.name.NameManager():
        ours = _net(_stack())
    assert ours.list_arguments() == sym.list_arguments()
    x = mx.nd.array(np.random.RandomState(0).rand(2, 2, 3))
    outs = []
    for s in (sym, ours):
        ex = s.bind(mx.cpu(), dict(arg, data=x))
        ex.forward(is_train=False)
        outs.append(ex.outputs[0].asnumpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def _packed_args():
    rng = np.random.RandomState(1)
    shapes = {'ck_l0_i2h_weight': (16, 3), 'ck_l0_i2h_bias': (16,), 'ck_l0_h2h_weight': (16, 4),
              'ck_l0_h2h_bias': (16,), 'ck_l1_i2h_weight': (9, 4), 'ck_l1_i2h_bias': (9,),
              'ck_l1_h2h_weight': (9, 3), 'ck_l1_h2h_bias': (9,), 'pred_weight': (2, 3),
              'pred_bias': (2,)}
    return {k: mx.nd.array(rng.uniform(-1, 1, s)) for k, s in shapes.items()}


def test_round_trip_writes_mxnets_form(tmp_path):
    stack = _stack()
    net = _net(stack, stack.begin_state(func=mx.sym.Variable))
    args = _packed_args()
    prefix = str(tmp_path / 'rnn')
    mx.rnn.save_rnn_checkpoint(stack, prefix, 3, net, args, {})
    assert os.path.exists(prefix + '-symbol.json')
    written = mx.nd.load(prefix + '-0003.params')
    assert sorted(written) == sorted(_mx_file())      # the keys MXNet writes
    np.testing.assert_array_equal(written['arg:ck_l0_i2h_f_weight'].asnumpy(),
                                  args['ck_l0_i2h_weight'].asnumpy()[4:8])
    sym, arg, aux = mx.rnn.load_rnn_checkpoint(stack, prefix, 3)
    assert sorted(arg) == sorted(args)
    for k, v in args.items():
        np.testing.assert_array_equal(arg[k].asnumpy(), v.asnumpy(), err_msg=k)
    assert sym.list_arguments() == net.list_arguments()
    # a single cell (not a list) and a list of cells both work
    mx.rnn.save_rnn_checkpoint([stack], prefix, 4, None, args, {})
    _, arg4, _ = mx.rnn.load_rnn_checkpoint([stack], prefix, 4)
    assert sorted(arg4) == sorted(args)


def test_fused_round_trip(tmp_path):
    cell = mx.rnn.FusedRNNCell(3, num_layers=2, mode='gru', bidirectional=True, prefix='fz_')
    size = cell._total_size(5)
    flat = np.random.RandomState(2).rand(size).astype(np.float32)
    args = {'fz_parameters': mx.nd.array(flat)}
    prefix = str(tmp_path / 'fused')
    mx.rnn.save_rnn_checkpoint(cell, prefix, 1, None, args, {})
    written = mx.nd.load(prefix + '-0001.params')
    assert 'arg:fz_parameters' not in written
    assert 'arg:fz_r1_h2h_z_weight' in written
    assert written['arg:fz_l1_i2h_r_weight'].shape == (3, 6)
    arg, _ = mx.model.load_params(prefix, 1)
    packed = cell.pack_weights(arg)
    np.testing.assert_array_equal(packed['fz_parameters'].asnumpy(), flat)


def test_do_rnn_checkpoint_period(tmp_path):
    stack = _stack()
    net = _net(stack, stack.begin_state(func=mx.sym.Variable))
    prefix = str(tmp_path / 'cb')
    cb = mx.rnn.do_rnn_checkpoint(stack, prefix, period=2)
    for epoch in range(4):
        cb(epoch, net, _packed_args(), {})
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith('.params')) == \
        ['cb-0002.params', 'cb-0004.params']
    _, arg, _ = mx.rnn.load_rnn_checkpoint(stack, prefix, 4)
    assert 'ck_l1_h2h_weight' in arg
    assert mx.rnn.do_rnn_checkpoint(stack, prefix, period=0) is not None   # period >= 1


def test_unpack_missing_weight_is_a_key_error():
    with pytest.raises(KeyError):
        mx.rnn.save_rnn_checkpoint(_stack(), '/nonexistent/x', 1, None,
                                   {'pred_weight': mx.nd.ones((1,))}, {})
