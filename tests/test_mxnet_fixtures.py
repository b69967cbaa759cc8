"""Graphs and parameters written by real MXNet 1.9.1 load here and compute what MXNet computed.

The fixtures in tests/fixtures/mxnet/ were made by tests/fixtures/make_mxnet_fixtures.py under
the reference venv (see the README there).  Each set NAME has NAME-symbol.json, NAME-0000.params
(a Module checkpoint: arg:/aux: names) and NAME-io.params: the inputs by name, MXNet's outputs
('out:i'), the head gradients it used ('head:i') and the argument gradients ('grad:NAME').
"""
import glob
import os

import numpy as np
import pytest

import distmod as mx

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'mxnet')
SETS = sorted(os.path.basename(p)[:-len('-symbol.json')]
              for p in glob.glob(os.path.join(HERE, '*-symbol.json')))


def test_fixtures_are_present():
    assert 'mlp' in SETS and len(SETS) >= 2, SETS


def _load(name):
    sym = mx.sym.load(os.path.join(HERE, name + '-symbol.json'))
    saved = mx.nd.load(os.path.join(HERE, name + '-0000.params'))
    arg = {k[4:]: v for k, v in saved.items() if k.startswith('arg:')}
    aux = {k[4:]: v for k, v in saved.items() if k.startswith('aux:')}
    io = mx.nd.load(os.path.join(HERE, name + '-io.params'))
    return sym, arg, aux, io


@pytest.mark.parametrize('name', SETS)
def test_mxnet_graph_computes_the_same(name):
    sym, arg, aux, io = _load(name)
    inputs = {k: v for k, v in io.items() if ':' not in k}
    args = dict(arg)
    args.update(inputs)
    missing = [n for n in sym.list_arguments() if n not in args]
    assert not missing, missing
    grads = {n: mx.nd.zeros(a.shape, dtype=a.dtype) for n, a in args.items()
             if 'grad:' + n in io}
    exe = sym.bind(mx.cpu(), args={n: args[n] for n in sym.list_arguments()},
                   args_grad={n: grads.get(n) for n in sym.list_arguments()},
                   grad_req={n: ('write' if n in grads else 'null') for n in sym.list_arguments()},
                   aux_states={n: aux[n] for n in sym.list_auxiliary_states()})
    outs = exe.forward(is_train=False)
    n_out = len([k for k in io if k.startswith('out:')])
    assert n_out == len(outs)
    for i, out in enumerate(outs):
        want = io['out:%d' % i].asnumpy()
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-4, atol=1e-5,
                                   err_msg='%s output %d' % (name, i))
    if grads:
        exe.forward(is_train=True)
        heads = [io['head:%d' % i] for i in range(n_out)] if 'head:0' in io else None
        exe.backward(heads)
        for n, g in grads.items():
            np.testing.assert_allclose(g.asnumpy(), io['grad:' + n].asnumpy(), rtol=1e-3,
                                       atol=1e-5, err_msg='%s gradient of %s' % (name, n))


@pytest.mark.parametrize('name', SETS)
def test_mxnet_json_survives_our_round_trip(name):
    sym, _, _, _ = _load(name)
    again = mx.sym.load_json(sym.tojson())
    assert again.list_arguments() == sym.list_arguments()
    assert again.list_outputs() == sym.list_outputs()
    assert again.attr_dict() == sym.attr_dict()
