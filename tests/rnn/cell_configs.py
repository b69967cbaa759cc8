"""The mx.rnn cell configurations checked against MXNet, defined once for both sides.

``configs(mx)`` builds them with whichever library it is handed: real MXNet in
tests/fixtures/make_rnn_cell_fixtures.py (which writes the expected names, shapes and
numbers), distmod in tests/rnn.  This module imports neither.
"""


def flat(outputs, states):
    out = list(outputs) if isinstance(outputs, list) else [outputs]

    def walk(s):
        if isinstance(s, (list, tuple)):
            for x in s:
                yield from walk(x)
        else:
            yield s
    return out + list(walk(states))


def configs(mx):
    """name -> (builder returning (cell, outputs, states), data shape), built with ``mx``."""
    def data():
        return mx.sym.Variable('data')

    def c_rnn_tanh():
        c = mx.rnn.RNNCell(5, prefix='rnn_')
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_rnn_relu_list():
        c = mx.rnn.RNNCell(5, activation='relu', prefix='r_')
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    def c_lstm():
        c = mx.rnn.LSTMCell(5, forget_bias=2.0)
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_lstm_tnc():
        c = mx.rnn.LSTMCell(5, prefix='enc_')
        return (c,) + c.unroll(3, data(), layout='TNC', merge_outputs=True)

    def c_lstm_varstate():
        c = mx.rnn.LSTMCell(5)
        return (c,) + c.unroll(3, data(), begin_state=c.begin_state(func=mx.sym.Variable),
                               merge_outputs=False)

    def c_gru():
        c = mx.rnn.GRUCell(5)
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    def c_gru_list_inputs():
        c = mx.rnn.GRUCell(4, prefix='g_')
        xs = [mx.sym.Variable('x%d' % i) for i in range(3)]
        return (c,) + c.unroll(3, xs, merge_outputs=True)

    def c_sequential():
        c = mx.rnn.SequentialRNNCell()
        c.add(mx.rnn.LSTMCell(5, prefix='l0_'))
        c.add(mx.rnn.DropoutCell(0.3, prefix='d0_'))
        c.add(mx.rnn.GRUCell(4, prefix='l1_'))
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_sequential_shared():
        # (SequentialRNNCell(params=...) refuses every cell: building one reads its params)
        params = mx.rnn.RNNParams('shared_')
        c = mx.rnn.SequentialRNNCell()
        c.add(mx.rnn.RNNCell(7, prefix='a_', params=params))
        c.add(mx.rnn.RNNCell(7, prefix='b_', params=params))
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    def c_bidirectional():
        c = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(5, prefix='l_'),
                                     mx.rnn.LSTMCell(5, prefix='r_'))
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_bidirectional_list():
        c = mx.rnn.BidirectionalCell(mx.rnn.GRUCell(4, prefix='l_'),
                                     mx.rnn.GRUCell(4, prefix='r_'), output_prefix='bgru_')
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    def c_residual():
        c = mx.rnn.ResidualCell(mx.rnn.GRUCell(7, prefix='res_'))
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_residual_list():
        c = mx.rnn.ResidualCell(mx.rnn.RNNCell(7, prefix='res_'))
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    def c_zoneout():
        c = mx.rnn.ZoneoutCell(mx.rnn.LSTMCell(5, prefix='z_'), zoneout_outputs=0.3,
                               zoneout_states=0.2)
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    def c_dropout_seq():
        c = mx.rnn.SequentialRNNCell()
        c.add(mx.rnn.RNNCell(5, prefix='a_'))
        c.add(mx.rnn.DropoutCell(0.5))
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_fused_lstm():
        c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='lstm', bidirectional=True,
                                get_next_state=True)
        return (c,) + c.unroll(3, data(), layout='NTC', merge_outputs=True)

    def c_fused_gru_tnc():
        c = mx.rnn.FusedRNNCell(5, num_layers=1, mode='gru', prefix='fg_')
        return (c,) + c.unroll(3, data(), layout='TNC', merge_outputs=False)

    def c_fused_rnn_relu_state():
        c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='rnn_relu', get_next_state=True,
                                dropout=0.2)
        return (c,) + c.unroll(3, data(), layout='TNC', merge_outputs=True)

    def c_unfused_lstm():
        c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='lstm', bidirectional=True).unfuse()
        return (c,) + c.unroll(3, data(), merge_outputs=True)

    def c_unfused_gru_dropout():
        c = mx.rnn.FusedRNNCell(5, num_layers=2, mode='gru', dropout=0.5,
                                prefix='g_').unfuse()
        return (c,) + c.unroll(3, data(), merge_outputs=False)

    tnc = {'c_lstm_tnc', 'c_fused_gru_tnc', 'c_fused_rnn_relu_state'}
    out = {}
    for name, fn in sorted(locals().items()):
        if name.startswith('c_'):
            shape = (3, 2, 7) if name in tnc else (2, 3, 7)
            out[name[2:]] = (fn, shape)
    return out
