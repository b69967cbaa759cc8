"""``mx.sym`` / ``mx.symbol``: Variable, Group, load, and every operator as a function."""
from .symbol import Symbol, Variable, var, Group, load, load_json, _create
from . import symbol as _symbol

globals().update(_symbol.generated_functions())


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
