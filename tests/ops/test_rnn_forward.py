"""RNN and Sequence* outputs and input gradients against MXNet 1.9.1 (fixtures: rnn_ops.npz).

The archive is written by tests/fixtures/make_rnn_fixtures.py under real MXNet; every case is
bound here the same way (symbol of variables named after the arguments, forward(is_train=True),
backward with the recorded head gradients) and compared.
"""
import json
import os

import numpy as np
import pytest

import distmod as mx
from distmod.ops.rnn import rnn_param_size

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'mxnet', 'rnn_ops.npz')


def _load():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


STORE = _load()
CASES = [str(c) for c in STORE['cases']]


def _case(name):
    prefix = name + ':'
    ins = {k[len(prefix) + 3:]: v for k, v in STORE.items() if k.startswith(prefix + 'in:')}
    nout = sum(1 for k in STORE if k.startswith(prefix + 'out:'))
    outs = [STORE['%sout:%d' % (prefix, i)] for i in range(nout)]
    heads = [STORE['%shead:%d' % (prefix, i)] for i in range(nout)]
    grads = {k[len(prefix) + 5:]: v for k, v in STORE.items() if k.startswith(prefix + 'grad:')}
    return str(STORE[prefix + 'op']), json.loads(str(STORE[prefix + 'attrs'])), ins, outs, \
        heads, grads


@pytest.mark.parametrize('name', CASES)
def test_outputs_and_gradients_match_mxnet(name):
    op, attrs, ins, want_outs, heads, want_grads = _case(name)
    sym = getattr(mx.sym, op)(name='op', **{n: mx.sym.Variable(n) for n in ins}, **attrs)
    names = sym.list_arguments()
    assert sorted(names) == sorted(ins)
    exe = sym.bind(mx.cpu(), args={n: mx.nd.array(v) for n, v in ins.items()},
                   args_grad={n: mx.nd.zeros(v.shape) for n, v in ins.items()},
                   grad_req={n: 'write' if n in want_grads else 'null' for n in names})
    outs = exe.forward(is_train=True)
    assert len(outs) == len(want_outs)
    for i, (got, want) in enumerate(zip(outs, want_outs)):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-4, atol=1e-5,
                                   err_msg='%s output %d' % (name, i))
    exe.backward([mx.nd.array(h) for h in heads])
    for n, want in want_grads.items():
        np.testing.assert_allclose(exe.grad_dict[n].asnumpy(), want, rtol=1e-4, atol=1e-5,
                                   err_msg='%s gradient of %s' % (name, n))


@pytest.mark.parametrize('mode,layers,bi', [('lstm', 2, True), ('gru', 1, False),
                                            ('rnn_tanh', 3, True)])
def test_rnn_simple_bind_infers_parameters_and_states_from_data(mode, layers, bi):
    data = mx.sym.Variable('data')
    sym = mx.sym.RNN(data, state_size=5, num_layers=layers, mode=mode, bidirectional=bi,
                     state_outputs=True, name='rnn')
    exe = sym.simple_bind(mx.cpu(), data=(7, 4, 6))
    d = 2 if bi else 1
    shapes = {n: a.shape for n, a in exe.arg_dict.items()}
    assert shapes['rnn_parameters'] == (rnn_param_size(mode, layers, 5, 6, bi),)
    assert shapes['rnn_state'] == (layers * d, 4, 5)
    assert ('rnn_state_cell' in shapes) == (mode == 'lstm')
    assert [o.shape for o in exe.outputs][:2] == [(7, 4, d * 5), (layers * d, 4, 5)]


def test_rnn_dropout_is_training_only():
    x = mx.nd.array(np.random.default_rng(0).standard_normal((3, 2, 3)))
    size = rnn_param_size('rnn_tanh', 2, 4, 3)
    w = mx.nd.array(np.random.default_rng(1).uniform(-0.5, 0.5, size))
    s = mx.nd.zeros((2, 2, 4))
    plain = mx.nd.RNN(x, w, s, state_size=4, num_layers=2, mode='rnn_tanh').asnumpy()
    dropped = mx.nd.RNN(x, w, s, state_size=4, num_layers=2, mode='rnn_tanh', p=0.5).asnumpy()
    np.testing.assert_array_equal(plain, dropped)    # mx.nd runs inference: no dropout


@pytest.mark.parametrize('kw,match', [
    (dict(use_sequence_length=True), 'use_sequence_length'),
    (dict(projection_size=2), 'projection_size'),
    (dict(lstm_state_clip_min=-1.0, lstm_state_clip_max=1.0), 'lstm_state_clip')])
def test_rnn_refuses_unsupported_options_clearly(kw, match):
    with pytest.raises(mx.MXNetError, match=match):
        mx.sym.RNN(mx.sym.Variable('data'), state_size=2, num_layers=1, mode='lstm', **kw)


def test_rnn_bad_shapes_name_the_operator_and_shapes():
    data = mx.sym.Variable('data')
    sym = mx.sym.RNN(data, state_size=2, num_layers=1, mode='gru', name='enc')
    with pytest.raises(mx.MXNetError, match=r"'enc'.*\(3, 2\)"):
        sym.infer_shape(data=(3, 2))
    with pytest.raises(mx.MXNetError, match="enc"):
        sym.infer_shape(data=(3, 2, 4), enc_parameters=(10,))


def test_sequence_ops_check_rank_axis_and_length_shape():
    data = mx.sym.Variable('data')
    with pytest.raises(mx.MXNetError, match=r"'sm'.*rank 2"):
        mx.sym.SequenceMask(data, name='sm').infer_shape(data=(3,))
    with pytest.raises(mx.MXNetError, match='axis'):
        mx.sym.SequenceReverse(data, axis=1)
    with pytest.raises(mx.MXNetError, match='axis'):
        mx.sym.SequenceLast(data, axis=2)
    lens = mx.sym.Variable('lens')
    sym = mx.sym.SequenceLast(data, lens, use_sequence_length=True, name='sl')
    with pytest.raises(mx.MXNetError, match="sl"):
        sym.infer_shape(data=(4, 3, 2), lens=(2,))
    assert sym.infer_shape(data=(4, 3, 2))[0] == [(4, 3, 2), (3,)]
