"""mx.rnn's convolutional cells: the parameters, node names, output and state shapes of MXNet
1.9.1's (compared with MXNet's own on a 3-step unroll when this was written), and a forward
that runs."""
import numpy as np
import pytest

import distmod as mx


@pytest.mark.parametrize('cls,gates,states', [('ConvRNNCell', 1, 1), ('ConvLSTMCell', 4, 2),
                                              ('ConvGRUCell', 3, 1)])
def test_conv_cell_unrolls_like_mxnets(cls, gates, states):
    cell = getattr(mx.rnn, cls)((1, 3, 16, 10), num_hidden=10, prefix='rnn_')
    inputs = [mx.sym.Variable('rnn_t%d_data' % i) for i in range(3)]
    outputs, last = cell.unroll(3, inputs)
    group = mx.sym.Group(outputs)
    assert sorted(cell.params._params) == ['rnn_h2h_bias', 'rnn_h2h_weight', 'rnn_i2h_bias',
                                           'rnn_i2h_weight']
    assert group.list_outputs() == ['rnn_t0_out_output', 'rnn_t1_out_output',
                                    'rnn_t2_out_output']
    shapes = {n: (2, 3, 16, 10) for n in ('rnn_t0_data', 'rnn_t1_data', 'rnn_t2_data')}
    args, outs, _ = group.infer_shape(**shapes)
    assert outs == [(2, 10, 16, 10)] * 3
    assert dict(zip(group.list_arguments(), args))['rnn_i2h_weight'] == (10 * gates, 3, 3, 3)
    assert len(cell.state_info) == states == len(last)
    assert cell.state_info[0] == {'shape': (0, 10, 16, 10), '__layout__': 'NCHW'}
    exe = group.simple_bind(mx.cpu(), **shapes)
    for name, arr in exe.arg_dict.items():
        arr[:] = np.random.RandomState(0).uniform(-0.1, 0.1, arr.shape)
    values = [o.asnumpy() for o in exe.forward()]
    assert all(v.shape == (2, 10, 16, 10) and np.isfinite(v).all() for v in values)


def test_strided_input_shrinks_the_state_and_even_h2h_kernels_are_refused():
    cell = mx.rnn.ConvLSTMCell((1, 2, 8, 8), num_hidden=4, i2h_kernel=(3, 3),
                               i2h_stride=(2, 2), i2h_pad=(1, 1))
    assert cell.state_info[0]['shape'] == (0, 4, 4, 4)
    with pytest.raises(mx.base.MXNetError, match='odd'):
        mx.rnn.ConvGRUCell((1, 2, 8, 8), num_hidden=4, h2h_kernel=(2, 3))
