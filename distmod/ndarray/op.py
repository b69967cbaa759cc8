"""``mx.nd.NAME``: every registered operator run imperatively on NDArrays."""
import re

import numpy as np

from .. import profiler
from ..base import MXNetError
from ..context import Context, current_context
from ..ops import all_names
from ..ops.registry import check_input_names
from ..ops.infer import infer_op_shapes, infer_op_types
from .ndarray import NDArray, _wrap, _to_module


def split_call(cls, args, kwargs, is_input):
    """Sort a generated function's arguments into (params, positional inputs, named inputs).

    Positional inputs come first; positional values that are not inputs fill the operator's
    parameters in declaration order, as MXNet's generated signatures do.  An ``open_params``
    operator (Custom) declares neither its parameters nor its inputs: a keyword is an input
    when its value is one, as in MXNet's generated functions.
    """
    if cls.open_params:
        named = {k: v for k, v in kwargs.items() if is_input(v)}
    else:
        named = {k: v for k, v in kwargs.items() if k not in cls.params}
    params = {k: v for k, v in kwargs.items() if k not in named}
    inputs, rest = [], []
    for a in args:
        (rest if rest or not is_input(a) else inputs).append(a)
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and cls.variadic:
        inputs = list(inputs[0])
    if rest:
        free = [p for p in cls.params if p not in params and p != cls.key_var_num_args]
        if len(rest) > len(free):
            raise MXNetError('%s: too many positional arguments' % cls.name)
        params.update(zip(free, rest))
    if cls.variadic and cls.key_var_num_args not in params:
        params[cls.key_var_num_args] = len(inputs) + len(named)
    params = {k: v for k, v in params.items() if v is not None or k in cls.params}
    return params, inputs, named


def _ctx_param(value):
    """The Context an input-less operator's ``ctx`` parameter names (``mx.gpu(1)`` or
    ``'gpu(1)'``), None when not given."""
    if not value:
        return None
    if isinstance(value, Context):
        return value
    m = re.match(r'^\s*([a-z_]+)\((\d+)\)\s*$', str(value))
    if not m:
        raise MXNetError('ctx=%r is not a context (e.g. mx.cpu(0) or "gpu(1)")' % (value,))
    return Context(m.group(1), int(m.group(2)))


def invoke(cls, args, kwargs):
    """Run operator ``cls`` once on NDArray inputs; returns an NDArray or a list of them."""
    out = kwargs.pop('out', None)
    kwargs.pop('name', None)
    params, inputs, named = split_call(cls, args, kwargs, lambda a: isinstance(a, NDArray))
    check_input_names(cls, named)
    op = cls(params)
    names = op.list_arguments() + op.list_auxiliary_states()
    unknown = [k for k in named if k not in names]
    if unknown:
        raise MXNetError('mx.nd.%s got unknown arguments %s; inputs are %s, parameters %s'
                         % (cls.name, unknown, names, sorted(cls.params)))
    if len(inputs) > len(names):
        raise MXNetError('mx.nd.%s takes %d inputs, got %d' % (cls.name, len(names), len(inputs)))
    arrays = list(inputs) + [None] * (len(names) - len(inputs))
    for k, v in named.items():
        arrays[names.index(k)] = v
    missing = [n for n, a in zip(names, arrays) if a is None]
    if missing:
        raise MXNetError('mx.nd.%s: missing input(s) %s' % (cls.name, missing))
    arrays = [a if isinstance(a, NDArray) else NDArray(np.asarray(a, dtype=np.float32))
              for a in arrays]
    if any(a._sparse for a in arrays):
        from .sparse import sparse_kernel
        res = sparse_kernel(cls, params, arrays)
        if res is not NotImplemented:           # else: computed on dense copies, as MXNet
            return _deliver(res, out)           # falls back for storage it has no kernel for
    ctx = arrays[0].context if arrays else _ctx_param(params.get('ctx')) or current_context()
    xp = ctx.xp
    data = [_to_module(a._data, ctx) for a in arrays]
    nargs = len(op.list_arguments())
    label = 'mx.nd.%s' % cls.name
    _, oshapes, _ = infer_op_shapes(op, label, [d.shape for d in data[:nargs]],
                                    aux_shapes=[d.shape for d in data[nargs:]])
    _, otypes, _ = infer_op_types(op, label, [d.dtype.name for d in data[:nargs]],
                                  aux_types=[d.dtype.name for d in data[nargs:]])
    if any(s is None for s in oshapes):
        raise MXNetError('%s: cannot infer the output shape from inputs %s'
                         % (label, [d.shape for d in data]))
    with ctx.device():
        outs = [xp.empty(s, dtype=t or np.float32) for s, t in zip(oshapes, otypes)]
        profiler.run_imperative(op, ctx, xp, data[:nargs], outs, data[nargs:])
    res = [_wrap(o, ctx) for o in outs]
    return _deliver(res[0] if len(res) == 1 else res, out)


def _deliver(res, out):
    """``res`` (an NDArray or a list), copied into ``out`` when given."""
    if out is None:
        return res
    targets = out if isinstance(out, (list, tuple)) else [out]
    for t, r in zip(targets, res if isinstance(res, (list, tuple)) else [res]):
        r.copyto(t)
    return out


def _make(cls):
    def fn(*args, **kwargs):
        return invoke(cls, args, kwargs)
    fn.__name__ = cls.name
    fn.__doc__ = cls.__doc__
    return fn


def generated_functions():
    """Name -> function for every operator name and alias."""
    return {name: _make(cls) for name, cls in all_names().items()}
