"""Shared by the mx.rnn tests: fixture paths, the cell configurations of
tests/fixtures/make_rnn_cell_fixtures.py built with distmod, and what they need."""
import json
import os
import warnings

import pytest

import distmod as mx
from distmod.ops import find as find_op

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'fixtures', 'mxnet')


def load_json(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def _fc_fills_data_from_output():
    """Can inference give a begin state of shape (0, H) its batch size through the
    FullyConnected it feeds (MXNet infers a FullyConnected's data from its output)?"""
    try:
        z = mx.sym.zeros(shape=(0, 3))
        s = mx.sym.FullyConnected(z, num_hidden=2, name='fc') + mx.sym.Variable('x')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            _, out, _ = s.infer_shape(x=(4, 2))
        return out == [(4, 2)]
    except Exception:   # noqa: BLE001  (any failure means: not supported)
        return False


HAVE = {
    'zeros': hasattr(mx.sym, 'zeros') and find_op('_zeros') is not None,
    'reverse': hasattr(mx.sym, 'reverse'),
    'RNN': hasattr(mx.sym, 'RNN'),
}
HAVE['zeros_infer'] = HAVE['zeros'] and _fc_fills_data_from_output()


def need(*what):
    """Skip unless this distmod has the operators/inference the test needs."""
    missing = [w for w in what if not HAVE[w]]
    return pytest.mark.skipif(bool(missing), reason='distmod lacks %s (mx.rnn needs them)'
                              % ', '.join(missing))


def require(*what):
    missing = [w for w in what if not HAVE[w]]
    if missing:
        pytest.skip('distmod lacks %s (mx.rnn needs them)' % ', '.join(missing))


def _data():
    return mx.sym.Variable('data')


def c_rnn_tanh():
    c = mx.rnn.RNNCell(5, prefix='rnn_')
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_rnn_relu_list():
    c = mx.rnn.RNNCell(5, activation='relu', prefix='r_')
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


def c_lstm():
    c = mx.rnn.LSTMCell(5, forget_bias=2.0)
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_lstm_tnc():
    c = mx.rnn.LSTMCell(5, prefix='enc_')
    return (c,) + c.unroll(3, _data(), layout='TNC', merge_outputs=True)


def c_lstm_varstate():
    c = mx.rnn.LSTMCell(5)
    return (c,) + c.unroll(3, _data(), begin_state=c.begin_state(func=mx.sym.Variable),
                           merge_outputs=False)


def c_gru():
    c = mx.rnn.GRUCell(5)
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


def c_gru_list_inputs():
    c = mx.rnn.GRUCell(4, prefix='g_')
    xs = [mx.sym.Variable('x%d' % i) for i in range(3)]
    return (c,) + c.unroll(3, xs, merge_outputs=True)


def c_sequential():
    c = mx.rnn.SequentialRNNCell()
    c.add(mx.rnn.LSTMCell(5, prefix='l0_'))
    c.add(mx.rnn.DropoutCell(0.3, prefix='d0_'))
    c.add(mx.rnn.GRUCell(4, prefix='l1_'))
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_sequential_shared():
    params = mx.rnn.RNNParams('shared_')
    c = mx.rnn.SequentialRNNCell()
    c.add(mx.rnn.RNNCell(7, prefix='a_', params=params))
    c.add(mx.rnn.RNNCell(7, prefix='b_', params=params))
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


def c_bidirectional():
    c = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(5, prefix='l_'),
                                 mx.rnn.LSTMCell(5, prefix='r_'))
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_bidirectional_list():
    c = mx.rnn.BidirectionalCell(mx.rnn.GRUCell(4, prefix='l_'),
                                 mx.rnn.GRUCell(4, prefix='r_'), output_prefix='bgru_')
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


def c_residual():
    c = mx.rnn.ResidualCell(mx.rnn.GRUCell(7, prefix='res_'))
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_residual_list():
    c = mx.rnn.ResidualCell(mx.rnn.RNNCell(7, prefix='res_'))
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


def c_zoneout():
    c = mx.rnn.ZoneoutCell(mx.rnn.LSTMCell(5, prefix='z_'), zoneout_outputs=0.3,
                           zoneout_states=0.2)
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


def c_dropout_seq():
    c = mx.rnn.SequentialRNNCell()
    c.add(mx.rnn.RNNCell(5, prefix='a_'))
    c.add(mx.rnn.DropoutCell(0.5))
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_fused_lstm():
    c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='lstm', bidirectional=True,
                            get_next_state=True)
    return (c,) + c.unroll(3, _data(), layout='NTC', merge_outputs=True)


def c_fused_gru_tnc():
    c = mx.rnn.FusedRNNCell(5, num_layers=1, mode='gru', prefix='fg_')
    return (c,) + c.unroll(3, _data(), layout='TNC', merge_outputs=False)


def c_fused_rnn_relu_state():
    c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='rnn_relu', get_next_state=True,
                            dropout=0.2)
    return (c,) + c.unroll(3, _data(), layout='TNC', merge_outputs=True)


def c_unfused_lstm():
    c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='lstm', bidirectional=True).unfuse()
    return (c,) + c.unroll(3, _data(), merge_outputs=True)


def c_unfused_gru_dropout():
    c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='gru', dropout=0.5, prefix='g_').unfuse()
    return (c,) + c.unroll(3, _data(), merge_outputs=False)


CONFIGS = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith('c_')}

# what building (and then inferring) each configuration needs besides the basic operators
NEEDS = {name: ('zeros',) for name in CONFIGS}
NEEDS['lstm_varstate'] = ()
NEEDS['gru_list_inputs'] = ('zeros',)
for _n in ('bidirectional',):
    NEEDS[_n] = ('zeros', 'reverse')
for _n in ('fused_lstm', 'fused_gru_tnc', 'fused_rnn_relu_state'):
    NEEDS[_n] = ('zeros', 'RNN')
INFER_NEEDS = {name: (needs + ('zeros_infer',) if 'zeros' in needs and 'RNN' not in needs
                      else needs) for name, needs in NEEDS.items()}


def build(name):
    """``(cell, outputs, states)`` of configuration ``name`` in a fresh NameManager."""
    with mx.name.NameManager(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return CONFIGS[name]()


def flat(outputs, states):
    out = list(outputs) if isinstance(outputs, list) else [outputs]

    def walk(s):
        if isinstance(s, (list, tuple)):
            for x in s:
                yield from walk(x)
        else:
            yield s
    return out + list(walk(states))
