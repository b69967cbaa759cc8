"""Checked inference for one operator instance, shared by symbols, executors and ``mx.nd``."""
from ..base import MXNetError, dtype_name
from .registry import InferError, Operator


def _known(shape):
    """A shape the operator may rely on: no unknown dimension (MXNet marks those with 0)."""
    if shape is None or any(d is None or d == 0 for d in shape):
        return None
    return tuple(shape)


def _run_infer(op, in_shapes):
    """``op.infer_shape``, first with partially known shapes (0 = unknown dimension), which
    most operators carry through; if the operator cannot, again with those shapes unknown."""
    known = [_known(s) for s in in_shapes]
    if known != [tuple(s) if s is not None else None for s in in_shapes]:
        try:
            return op.infer_shape([tuple(s) if s is not None else None for s in in_shapes])
        except (InferError, ZeroDivisionError, ValueError):
            pass
    return op.infer_shape(known)


def merge_shape(old, new):
    """Combine two views of one shape (0 marks an unknown dimension); None when they clash."""
    if old is None:
        return tuple(new) if new is not None else None
    if new is None:
        return old
    if len(old) != len(new):
        return None
    out = []
    for a, b in zip(old, new):
        if a in (0, None):
            out.append(b)
        elif b in (0, None) or a == b:
            out.append(a)
        else:
            return None
    return tuple(out)


class ShapeClash(MXNetError):
    """Two views of one array's shape disagree."""


def describe(node_name, op):
    return "operator '%s' (%s)" % (node_name, op.name)


def _names_and_known(op, outs, aux):
    """The op's argument, output and auxiliary names, and what is known of its outputs and
    auxiliary states (None per entry where nothing is)."""
    args, outn, auxn = op.list_arguments(), op.list_outputs(), op.list_auxiliary_states()
    outs = list(outs) if outs is not None else [None] * len(outn)
    aux = list(aux) if aux is not None else [None] * len(auxn)
    return args, outn, auxn, outs, aux


def infer_op_shapes(op, node_name, in_shapes, out_shapes=None, aux_shapes=None, sources=None):
    """Run ``op.infer_shape`` and reconcile its answer with what is already known.

    Returns ``(in_shapes, out_shapes, aux_shapes)`` merged; raises ``MXNetError`` naming the
    operator instance, the argument and both shapes when they disagree.  ``sources`` names
    what feeds each input (argument then auxiliary), for the messages.
    """
    def label(name, i):
        src = sources[i] if sources is not None and i < len(sources) else None
        return '%r (from %r)' % (name, src) if src and src != name else repr(name)
    args, outn, auxn, out_shapes, aux_shapes = _names_and_known(op, out_shapes, aux_shapes)
    try:
        got_in, got_out, got_aux = _run_infer(op, in_shapes)
    except InferError as e:
        detail = ', '.join('%s=%s' % (label(n, i), s) for i, (n, s) in
                           enumerate(zip(args, in_shapes)))
        raise MXNetError('%s: %s (inputs: %s)' % (describe(node_name, op), e, detail)) from None
    got_aux = list(got_aux) + [None] * (len(auxn) - len(got_aux))

    def merge(kind, names, old, new, offset=None):
        out = []
        for i, (n, a, b) in enumerate(zip(names, old, new)):
            m = merge_shape(a, b)
            if m is None and a is not None and b is not None:
                what = label(n, offset + i) if offset is not None else repr(n)
                raise ShapeClash('%s: shape of %s %s is %s but the operator expects %s'
                                 % (describe(node_name, op), kind, what, _fmt(a), _fmt(b)))
            out.append(m)
        return out
    ins = merge('argument', args, in_shapes, got_in, 0)
    outs = merge('output', outn, out_shapes, got_out)
    back = getattr(op, 'infer_shape_backward', None)
    if back is None and type(op).infer_shape is Operator.infer_shape and outs and \
            outs[0] is not None:
        # the default: every input has the output's shape, so the output tells them
        ins = merge('argument', args, ins, [outs[0]] * len(ins), 0)
    elif back is not None and any(s is not None for s in outs):
        ins = merge('argument', args, ins, back(ins, outs), 0)
    return ins, outs, merge('auxiliary state', auxn, aux_shapes, got_aux, len(args))


def infer_op_types(op, node_name, in_types, out_types=None, aux_types=None):
    """Like ``infer_op_shapes`` for dtypes (names such as 'float32')."""
    args, outn, auxn, out_types, aux_types = _names_and_known(op, out_types, aux_types)
    try:
        got_in, got_out, got_aux = op.infer_type(list(in_types))
    except InferError as e:
        raise MXNetError('%s: %s' % (describe(node_name, op), e)) from None
    got_aux = list(got_aux) + [None] * (len(auxn) - len(got_aux))

    def merge(kind, names, old, new):
        out = []
        for n, a, b in zip(names, old, new):
            a = dtype_name(a) if a is not None else None
            b = dtype_name(b) if b is not None else None
            if a is not None and b is not None and a != b:
                raise MXNetError('%s: dtype of %s %r is %s but the operator expects %s'
                                 % (describe(node_name, op), kind, n, a, b))
            out.append(a or b)
        return out
    return (merge('argument', args, in_types, got_in), merge('output', outn, out_types, got_out),
            merge('auxiliary state', auxn, aux_types, got_aux))


def _fmt(shape):
    return '(%s)' % ', '.join(str(d) for d in shape) if len(shape) != 1 else '(%d,)' % shape[0]
