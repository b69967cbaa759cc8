"""Operator-level checks used on every registered operator: backward against central finite
differences (``check_gradient``), and what backward reads of forward against what the operator
declares it keeps (``check_retention``; see ``retain_inputs`` in distmod/ops/registry.py)."""
import numpy as np

from distmod import random as dmrandom
from distmod.ops.registry import InferError

SEED = 1234


def _merge(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if tuple(a) != tuple(b):
        raise InferError('shape %s vs %s' % (a, b))
    return tuple(a)


def infer_all(op, shapes):
    """Complete argument, output and auxiliary shapes from the given argument shapes."""
    names = op.list_arguments()
    ins = [tuple(shapes[n]) if n in shapes else None for n in names]
    outs, aux = [None] * op.output_count(), [None] * len(op.list_auxiliary_states())
    for _ in range(3):
        i2, o2, a2 = op.infer_shape(list(ins))
        ins = [_merge(x, y) for x, y in zip(ins, i2)]
        outs = [_merge(x, y) for x, y in zip(outs, o2)]
        aux = [_merge(x, y) for x, y in zip(aux, list(a2) + [None] * (len(aux) - len(a2)))]
    missing = [n for n, s in zip(names, ins) if s is None]
    assert not missing, '%s: shapes of %s not inferred' % (op, missing)
    assert all(s is not None for s in outs), '%s: output shapes not inferred' % op
    return names, ins, outs, aux


def make_inputs(op, sample, rng):
    names, ins, outs, aux = infer_all(op, sample.shapes)
    types = op.infer_type([np.dtype(np.float64).name if n not in op.nondiff else None
                           for n in names])
    in_types = [t or 'float64' for t in types[0]]
    arrays = []
    for n, s, t in zip(names, ins, in_types):
        if n in sample.values:
            arrays.append(np.asarray(sample.values[n](rng, s), dtype=t))
        else:
            arrays.append(rng.standard_normal(s).astype(t))
    out_types = [t or 'float64' for t in types[1]]
    aux_types = [t or 'float64' for t in types[2]] if types[2] else ['float64'] * len(aux)
    aux_arrays = [rng.uniform(0.5, 1.5, s).astype(t) for s, t in zip(aux, aux_types)]
    return names, arrays, outs, out_types, aux_arrays


def run_forward(op, arrays, out_shapes, out_types, aux, is_train):
    dmrandom.seed(SEED)
    outs = [np.full(s, np.nan, dtype=t) for s, t in zip(out_shapes, out_types)]
    op.forward(np, arrays, outs, [a.copy() for a in aux], is_train)
    return outs


class Case:
    """One sample of one operator, ready to run: inputs, head gradients, which inputs get a
    gradient.  ``arrays`` is restored after every run, so the runs can repeat."""

    def __init__(self, op, sample):
        self.op, self.sample = op, sample
        rng = np.random.default_rng(0)
        (self.names, self.arrays, self.out_shapes, self.out_types,
         self.aux) = make_inputs(op, sample, rng)
        self.heads = [rng.standard_normal(s) for s in self.out_shapes]
        self.diff = [n not in op.nondiff and np.issubdtype(a.dtype, np.floating)
                     for n, a in zip(self.names, self.arrays)]

    def buffers(self):
        """Every forward buffer backward might read, as ``('input'|'output', position)``."""
        return ([('input', i) for i in range(len(self.arrays))] +
                [('output', i) for i in range(len(self.out_shapes))])

    def declared(self):
        return ([('input', i) for i in self.op.retained_inputs()] +
                [('output', i) for i in self.op.retained_outputs()])

    def label(self, buf):
        kind, i = buf
        names = self.names if kind == 'input' else self.op.list_outputs()
        return '%s %r' % (kind, names[i])

    def run(self, poison=(), kind=0):
        """Forward, then backward as the executor calls it; returns (outputs, igrads).

        Between the two, every buffer in ``poison`` is treated as the executor may treat a
        buffer no backward keeps: its memory is overwritten (reused), and backward is handed
        a different array of the same shape and dtype holding the same garbage.
        """
        op, aux = self.op, [a.copy() for a in self.aux]
        dmrandom.seed(SEED)
        outs = [np.full(s, np.nan, dtype=t) for s, t in zip(self.out_shapes, self.out_types)]
        op.forward(np, self.arrays, outs, aux, self.sample.is_train)
        result = [o.copy() for o in outs]
        saved = [a.copy() for a in self.arrays]
        ins, bouts = list(self.arrays), list(outs)
        rng = np.random.default_rng(1 + kind)
        for where, i in poison:
            bufs, given = (self.arrays, ins) if where == 'input' else (outs, bouts)
            junk = garbage_like(bufs[i], kind, rng)
            bufs[i][...] = junk
            given[i] = junk
        igrads = [np.full(a.shape, np.nan, dtype=a.dtype) if d else None
                  for a, d in zip(self.arrays, self.diff)]
        try:
            with np.errstate(all='ignore'):
                op.backward(np, [h.astype(t) for h, t in zip(self.heads, self.out_types)],
                            ins, bouts, igrads, aux)
        finally:
            for a, b in zip(self.arrays, saved):
                a[...] = b
        return result, igrads


def garbage_like(a, kind, rng):
    """What a reused buffer may hold: NaN (kind 0) or unrelated finite values (kind 1); for
    integers the most negative value (an index nothing accepts) or random ones; for booleans
    the negation or random values."""
    if a.dtype == np.bool_:
        return ~a if kind == 0 else rng.integers(0, 2, a.shape).astype(bool)
    if np.issubdtype(a.dtype, np.integer):
        if kind == 0:
            return np.full(a.shape, np.iinfo(a.dtype).min, dtype=a.dtype)
        return rng.integers(0, 3, a.shape).astype(a.dtype)
    if kind == 0:
        return np.full(a.shape, np.nan, dtype=a.dtype)
    return (rng.standard_normal(a.shape) * 3 + 1).astype(a.dtype)


def _same(got, want):
    return all(g is None or np.array_equal(g, w, equal_nan=True) for g, w in zip(got, want))


def _changes(case, want, poison):
    """Does backward's result differ from ``want`` with ``poison`` overwritten (either kind)?"""
    for kind in (0, 1):
        try:
            _, got = case.run(poison, kind)
        except Exception:           # an index out of range, a shape error...: it read them
            return True
        if not _same(got, want):
            return True
    return False


def check_retention(op, sample):
    """Backward reads the values of exactly the buffers ``op`` declares it keeps.

    Returns the declared buffers backward did not need, as labels (empty when tight).
    """
    case = Case(op, sample)
    for what, got, count in (('retain_inputs', op.retained_inputs(), len(case.arrays)),
                             ('retain_outputs', op.retained_outputs(), len(case.out_shapes))):
        assert all(isinstance(i, int) and 0 <= i < count for i in got), \
            '%s: %s=%r names positions outside 0..%d' % (op, what, getattr(op, what), count - 1)
    _, want = case.run()
    declared = case.declared()
    undeclared = [b for b in case.buffers() if b not in declared]
    if undeclared and _changes(case, want, undeclared):
        culprits = [case.label(b) for b in undeclared if _changes(case, want, [b])]
        raise AssertionError(
            '%s: backward reads %s, which it does not keep (retain_inputs=%r, '
            'retain_outputs=%r)' % (op, ', '.join(culprits) or 'undeclared buffers together',
                                    op.retain_inputs, op.retain_outputs))
    return [case.label(b) for b in declared if not _changes(case, want, [b])]


def check_gradient(op, sample, eps=1e-6):
    """Compare op.backward with central differences; returns the number of checked inputs."""
    case = Case(op, sample)
    names, arrays, diff = case.names, case.arrays, case.diff
    before = [a.copy() for a in arrays]
    outs, igrads = case.run()
    for n, a, b in zip(names, arrays, before):
        assert np.array_equal(a, b, equal_nan=True), '%s: forward modified input %s' % (op, n)
    for o in outs:
        assert not np.isnan(o).any(), '%s: forward left part of an output unwritten' % op
    heads = case.heads

    def objective(xs):
        if op.loss is not None:
            return float(op.loss(np, xs))
        if op.surrogate is not None:        # backward is, by design, the gradient of this
            ys = op.surrogate(np, xs)
        else:
            ys = run_forward(op, xs, case.out_shapes, case.out_types, case.aux, sample.is_train)
        return float(sum((y.astype(np.float64) * h).sum() for y, h in zip(ys, heads)))

    checked = 0
    for i, (n, d) in enumerate(zip(names, diff)):
        if not d:
            continue
        g = igrads[i]
        assert not np.isnan(g).any(), '%s: backward left part of d%s unwritten' % (op, n)
        num = np.zeros(arrays[i].shape)
        flat = arrays[i].reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            fp = objective(arrays)
            flat[j] = old - eps
            fm = objective(arrays)
            flat[j] = old
            num.reshape(-1)[j] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=sample.rtol, atol=max(sample.atol, 1e-6),
                                   err_msg='%s %r: gradient of %s' % (op.name, sample, n))
        checked += 1
    return checked
