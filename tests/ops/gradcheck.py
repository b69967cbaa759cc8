"""Operator-level finite-difference gradient check, used on every registered operator."""
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


def check_gradient(op, sample, eps=1e-6):
    """Compare op.backward with central differences; returns the number of checked inputs."""
    rng = np.random.default_rng(0)
    names, arrays, out_shapes, out_types, aux = make_inputs(op, sample, rng)
    before = [a.copy() for a in arrays]
    outs = run_forward(op, arrays, out_shapes, out_types, aux, sample.is_train)
    for n, a, b in zip(names, arrays, before):
        assert np.array_equal(a, b, equal_nan=True), '%s: forward modified input %s' % (op, n)
    for o in outs:
        assert not np.isnan(o).any(), '%s: forward left part of an output unwritten' % op
    heads = [rng.standard_normal(o.shape) for o in outs]
    diff = [n not in op.nondiff and np.issubdtype(a.dtype, np.floating)
            for n, a in zip(names, arrays)]
    igrads = [np.full(a.shape, np.nan, dtype=a.dtype) if d else None
              for a, d in zip(arrays, diff)]
    op.backward(np, [h.astype(o.dtype) for h, o in zip(heads, outs)], arrays, outs, igrads,
                [a.copy() for a in aux])

    def objective(xs):
        if op.loss is not None:
            return float(op.loss(np, xs))
        ys = run_forward(op, xs, out_shapes, out_types, aux, sample.is_train)
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
