"""Every registered operator's forward and backward on CuPy against NumPy: the same inputs
(float64, the gradient check's), the same head gradients, outputs and input gradients equal
within rtol 1e-6 / atol 1e-8 (float64 on both; the GEMMs' summation order differs).  Operators
that draw random numbers are compared on shapes only (the streams differ by design)."""
import numpy as np
import pytest

from distmod.ops import all_ops

from ..ops.gradcheck import Case

CASES = [(name, i, s) for name, cls in sorted(all_ops().items())
         for i, s in enumerate(cls.samples)]
RANDOM = ('random', 'sample', 'Dropout', 'shuffle', 'multinomial')


def _run(op, xp, arrays, case):
    ins = [xp.asarray(a) for a in arrays]
    outs = [xp.full(s, np.nan, dtype=t) for s, t in zip(case.out_shapes, case.out_types)]
    aux = [xp.asarray(a.copy()) for a in case.aux]
    op.forward(xp, ins, outs, aux, case.sample.is_train)
    heads = [xp.asarray(h.astype(o.dtype)) for h, o in zip(case.heads, outs)]
    igrads = [xp.zeros_like(a) if d else None for a, d in zip(ins, case.diff)]
    if any(d for d in case.diff) and not getattr(op, 'zero_gradient', False):
        op.backward(xp, heads, ins, outs, igrads, aux)
    get = (lambda a: a) if xp is np else (lambda a: a.get())
    return [get(o) for o in outs], [None if g is None else get(g) for g in igrads]


@pytest.mark.parametrize('name,index,sample', CASES,
                         ids=['%s-%d' % c[:2] for c in CASES])
def test_operator_on_cupy_matches_numpy(name, index, sample):
    import cupy
    cls = all_ops()[name]
    case = Case(cls(sample.attrs), sample)
    want_out, want_grad = _run(cls(sample.attrs), np, case.arrays, case)
    got_out, got_grad = _run(cls(sample.attrs), cupy, case.arrays, case)
    exact = not any(r in name for r in RANDOM)
    for w, g in zip(want_out + want_grad, got_out + got_grad):
        if w is None:
            continue
        assert w.shape == g.shape
        if exact and np.issubdtype(w.dtype, np.number):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-8, err_msg=name)
