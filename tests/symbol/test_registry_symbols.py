"""Every registered operator is reachable as mx.sym.X and mx.nd.X and survives a JSON round trip."""
import numpy as np
import pytest

import distmod as mx
from distmod.ops import all_ops, all_names

from ..ops.gradcheck import make_inputs, run_forward, SEED

CASES = [(name, i, s) for name, cls in sorted(all_ops().items())
         for i, s in enumerate(cls.samples)]


@pytest.mark.parametrize('name', sorted(all_names()))
def test_every_name_is_a_sym_and_nd_function(name):
    assert callable(getattr(mx.sym, name)), name
    assert callable(getattr(mx.nd, name)), name


def _build(name, sample):
    cls = all_ops()[name]
    op = cls(sample.attrs)
    names = op.list_arguments() + op.list_auxiliary_states()
    variables = [mx.sym.Variable(n) for n in names]
    fn = getattr(mx.sym, name)
    if cls.variadic:
        return fn(*variables, name='node', **sample.attrs), op, names
    return fn(name='node', **dict(zip(names, variables)), **sample.attrs), op, names


@pytest.mark.parametrize('name,index,sample', CASES, ids=['%s-%d' % c[:2] for c in CASES])
def test_symbol_json_round_trip_and_forward(name, index, sample):
    sym, op, names = _build(name, sample)
    assert sym.list_inputs() == names
    text = sym.tojson()
    back = mx.sym.load_json(text)
    assert back.tojson() == text
    assert back.list_outputs() == sym.list_outputs()

    rng = np.random.default_rng(0)
    arg_names, arrays, out_shapes, out_types, aux = make_inputs(op, sample, rng)
    expected = run_forward(op, arrays, out_shapes, out_types, aux, False)
    nargs = len(arg_names)
    args = {n: mx.nd.array(a, dtype=a.dtype) for n, a in zip(arg_names, arrays)}
    auxs = {n: mx.nd.array(a, dtype=a.dtype) for n, a in zip(names[nargs:], aux)}
    for s in (sym, back):
        exe = s.bind(mx.cpu(), args=args, aux_states=auxs, grad_req='null')
        mx.random.seed(SEED)        # random operators (Dropout mode='always') repeat
        outs = exe.forward(is_train=False)
        for got, want in zip(outs, expected):
            np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6, atol=1e-7)
    # the imperative face computes the same
    nd_fn = getattr(mx.nd, name)
    inputs = [args[n] for n in arg_names] + [auxs[n] for n in names[nargs:]]
    mx.random.seed(SEED)
    res = nd_fn(*inputs, **sample.attrs)
    res = res if isinstance(res, list) else [res]
    for got, want in zip(res, expected):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6, atol=1e-7)
