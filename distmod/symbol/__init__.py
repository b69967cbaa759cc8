"""``mx.sym`` / ``mx.symbol``: Variable, Group, load, and every operator as a function."""
from .symbol import Symbol, Variable, var, Group, load, load_json, _create
from . import symbol as _symbol

globals().update(_symbol.generated_functions())
from . import random   # noqa: E402,F401  (mx.sym.random)


def _dispatch(sym_op, scalar_op, rscalar_op, py_fn):
    from .symbol import internal_function as op

    def fn(left, right):
        if isinstance(left, Symbol) and isinstance(right, Symbol):
            return op(sym_op)(left, right)
        if isinstance(left, Symbol):
            return op(scalar_op)(left, scalar=right)
        if isinstance(right, Symbol):
            return op(rscalar_op)(right, scalar=left)
        return py_fn(left, right)
    return fn


maximum = _dispatch('_Maximum', '_MaximumScalar', '_MaximumScalar', max)
minimum = _dispatch('_Minimum', '_MinimumScalar', '_MinimumScalar', min)
power = pow = _dispatch('_Power', '_PowerScalar', '_RPowerScalar', lambda a, b: a ** b)


def _make_array(op_name, kwargs, **params):
    """An input-less operator node; ``name``, ``attr`` and ``__key__`` keyword arguments
    (attributes, as in MXNet) are taken out of ``kwargs``, the rest are parameters."""
    name = kwargs.pop('name', None)
    attr = dict(kwargs.pop('attr', None) or {})
    attr.update({k: str(kwargs.pop(k)) for k in list(kwargs)
                 if k.startswith('__') and k.endswith('__')})
    if params.get('dtype', 0) is None:
        params['dtype'] = 'float32'
    return _create(op_name, [], dict(kwargs, **params), name=name, attr=attr or None)


def zeros(shape, dtype=None, **kwargs):
    """A symbol of zeros (``_zeros``); 0 in ``shape`` is left to inference.  ``__key__``
    keyword arguments become attributes, as in MXNet."""
    return _make_array('_zeros', kwargs, shape=shape, dtype=dtype)


def ones(shape, dtype=None, **kwargs):
    """A symbol of ones (``_ones``); 0 in ``shape`` is left to inference.

    Example::

        >>> mx.sym.ones((2,)).eval()[0].asnumpy()
        array([1., 1.], dtype=float32)
    """
    return _make_array('_ones', kwargs, shape=shape, dtype=dtype)


def full(shape, val, dtype=None, **kwargs):
    """A symbol of ``shape`` filled with ``val`` (``_full``)."""
    return _make_array('_full', kwargs, shape=shape, dtype=dtype, value=float(val))


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (``[0, start)`` without ``stop``), each
    ``repeat`` times (``_arange``); ``infer_range=True`` takes the length from inference."""
    return _make_array('_arange', {'name': name}, start=start, stop=stop, step=step,
                       repeat=repeat, infer_range=infer_range, dtype=dtype)


def linspace(start, stop, num, endpoint=True, name=None, dtype=None):
    """``num`` evenly spaced values from ``start`` to ``stop`` (``_linspace``)."""
    return _make_array('_linspace', {'name': name}, start=start, stop=stop, num=num,
                       endpoint=endpoint, dtype=dtype)


def eye(N, M=0, k=0, dtype=None, **kwargs):
    """An ``N`` x ``M`` matrix (``M=0``: square) with ones on diagonal ``k`` (``_eye``)."""
    return _make_array('_eye', kwargs, N=N, M=M, k=k, dtype=dtype)


def _operator_namespaces():
    """``mx.sym.contrib``, ``mx.sym.linalg``, ``mx.sym._internal``...: modules of the operators MXNet
    files under those names (``_contrib_Foo`` is ``contrib.Foo``)."""
    import sys
    from ..ops import registry
    registry.install_namespaces(sys.modules[__name__], _symbol.generated_functions(), 'mx.sym',
                                named=_symbol.namespace_function)


_operator_namespaces()


def _sparse_namespace():
    """``mx.sym.sparse`` also carries the operators MXNet lists there (``sparse.dot``...)."""
    from ..ops.sparse import SPARSE_NAMESPACE
    fns = _symbol.generated_functions()
    for name in SPARSE_NAMESPACE:
        if name in fns and not hasattr(sparse, name):      # noqa: F821 (made just above)
            setattr(sparse, name, fns[name])               # noqa: F821


_sparse_namespace()
