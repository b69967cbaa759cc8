"""``mx.sym`` / ``mx.symbol``: Variable, Group, load, and every operator as a function."""
from .symbol import Symbol, Variable, var, Group, load, load_json, _create
from . import symbol as _symbol

globals().update(_symbol.generated_functions())
from . import random   # noqa: E402,F401  (mx.sym.random)


def _dispatch(sym_op, scalar_op, rscalar_op, py_fn):
    def fn(left, right):
        if isinstance(left, Symbol) and isinstance(right, Symbol):
            return _create(sym_op, [left, right], {})
        if isinstance(left, Symbol):
            return _create(scalar_op, [left], {'scalar': right})
        if isinstance(right, Symbol):
            return _create(rscalar_op, [right], {'scalar': left})
        return py_fn(left, right)
    return fn


maximum = _dispatch('_Maximum', '_MaximumScalar', '_MaximumScalar', max)
minimum = _dispatch('_Minimum', '_MinimumScalar', '_MinimumScalar', min)
power = pow = _dispatch('_Power', '_PowerScalar', '_RPowerScalar', lambda a, b: a ** b)


def zeros(shape, dtype=None, **kwargs):
    """A symbol of zeros (``_zeros``); 0 in ``shape`` is left to inference.  ``__key__``
    keyword arguments become attributes, as in MXNet."""
    name = kwargs.pop('name', None)
    attr = dict(kwargs.pop('attr', None) or {})
    attr.update({k: str(kwargs.pop(k)) for k in list(kwargs)
                 if k.startswith('__') and k.endswith('__')})
    params = dict(kwargs, shape=shape, dtype=dtype if dtype is not None else 'float32')
    return _create('_zeros', [], params, name=name, attr=attr or None)


def _operator_namespaces():
    """``mx.sym.contrib``, ``mx.sym.linalg``, ``mx.sym._internal``...: modules of the
    operators MXNet files under those names (``_contrib_Foo`` is ``contrib.Foo``)."""
    import sys
    import types
    from ..ops import registry
    functions = _symbol.generated_functions()
    for ns, names in registry.namespaces().items():
        full = '%s.%s' % (__name__, ns)
        module = sys.modules.get(full) or globals().get(ns)
        if not isinstance(module, types.ModuleType):
            module = types.ModuleType(full, 'mx.sym.%s: MXNet\'s %s operators.' % (ns, ns))
            sys.modules[full] = module
            globals()[ns] = module
        for public, op_name in names.items():
            if not hasattr(module, public):
                setattr(module, public, functions[op_name])


_operator_namespaces()
