"""``mx.operator``: operators written in Python.

``CustomOp`` (the computation), ``CustomOpProp`` (names, inference, backward needs,
``create_operator``) and ``register(name)``, used as ``mx.sym.Custom(..., op_type=name)`` or
``mx.nd.Custom(...)``: see :mod:`distmod.ops.custom`.  Also MXNet's older interfaces,
``NumpyOp`` (forward and backward on NumPy arrays) and ``NDArrayOp`` (on NDArrays), whose
``get_symbol(*inputs, **kwargs)`` (or calling the instance) gives the Symbol; they run as
``Custom`` nodes of an op_type registered for the instance, so their JSON loads back only in
the process that made them (as MXNet's ``_Native`` nodes, which hold a pointer).

Example::

    >>> class Square(mx.operator.CustomOp):
    ...     def forward(self, is_train, req, in_data, out_data, aux):
    ...         self.assign(out_data[0], req[0], in_data[0] * in_data[0])
    ...     def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
    ...         self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])
    >>> @mx.operator.register('doc_square')
    ... class SquareProp(mx.operator.CustomOpProp):
    ...     def declare_backward_dependency(self, out_grad, in_data, out_data):
    ...         return [out_grad[0], in_data[0]]
    ...     def create_operator(self, ctx, shapes, dtypes):
    ...         return Square()
    >>> x = mx.sym.Variable('x')
    >>> y = mx.sym.Custom(x, op_type='doc_square', name='sq')
    >>> exe = y.simple_bind(mx.cpu(), x=(3,))
    >>> exe.forward(is_train=True, x=mx.nd.array([1, 2, 3]))[0].asnumpy()
    array([1., 4., 9.], dtype=float32)
    >>> exe.backward(mx.nd.ones((3,)))
    >>> exe.grad_dict['x'].asnumpy()
    array([2., 4., 6.], dtype=float32)
"""
import itertools
import warnings

import numpy as np

from .base import MXNetError
from .ops import registry as _registry
from .ops.custom import CustomOp, CustomOpProp, register

__all__ = ['CustomOp', 'CustomOpProp', 'register', 'PythonOp', 'NumpyOp', 'NDArrayOp',
           'get_all_registered_operators']


def get_all_registered_operators():
    """The names of every operator distmod has (its registry's names and aliases)."""
    return sorted(_registry.all_names())


# ---- MXNet's older interfaces ---------------------------------------------------------------
_INSTANCE_IDS = itertools.count()


class PythonOp:
    """Base of MXNet's older Python operators (deprecated there in favour of ``CustomOp``):
    one object that lists its names, infers shapes and computes.

    ``need_top_grad``: what ``need_top_grad()`` returns; False for a loss.
    """

    def __init__(self, need_top_grad=True):
        self.info_ = None
        self.need_top_grad_ = need_top_grad
        self._op_type = None
        warnings.warn('%s has been deprecated. Please use CustomOp' % type(self).__name__,
                      stacklevel=2)

    def __call__(self, *args, **kwargs):
        return self.get_symbol(*args, **kwargs)

    def get_symbol(self, *args, **kwargs):
        """The Symbol of this operator over input symbols (``NumpyOp``, ``NDArrayOp``)."""
        raise NotImplementedError('Must override this')

    def forward(self, in_data, out_data):
        """Compute ``out_data`` (write into it) from ``in_data``.  Default: copy input 0."""
        out_data[0][:] = in_data[0]

    def backward(self, out_grad, in_data, out_data, in_grad):
        """Compute ``in_grad`` (write into it).  Default: ones."""
        in_grad[0][:] = 1.0

    def infer_shape(self, in_shape):
        """``(argument shapes, output shapes)``; default: one output like input 0."""
        return in_shape, [in_shape[0]]

    def list_outputs(self):
        return ['output']

    def list_arguments(self):
        return ['data']

    def need_top_grad(self):
        """Whether backward reads the head gradient (False for a loss layer)."""
        return self.need_top_grad_


def _python_op_symbol(pyop, args, kwargs):
    """The Custom node of a PythonOp instance (whose op_type is registered at the first call)
    over the input symbols ``args`` or keyword inputs; ``name`` and ``attr`` as for any
    operator."""
    from .symbol import Symbol, _create
    if pyop._op_type is None:
        pyop._op_type = '_%s_%s_%d' % (pyop._kind, type(pyop).__name__, next(_INSTANCE_IDS))
        register(pyop._op_type)(_prop_for(pyop))
    name = kwargs.pop('name', None)
    attr = kwargs.pop('attr', None)
    named = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    odd = sorted(k for k in kwargs if k not in named)
    if odd:
        raise MXNetError('%s.get_symbol: %s are neither inputs (Symbols) nor name/attr'
                         % (type(pyop).__name__, odd))
    return _create('Custom', list(args), {'op_type': pyop._op_type}, name=name, attr=attr,
                   named=named)


class NumpyOp(PythonOp):
    """An operator whose ``forward(in_data, out_data)`` and
    ``backward(out_grad, in_data, out_data, in_grad)`` work on NumPy arrays, writing into the
    given ones.  On the CPU they are the executor's own buffers; on a GPU they are host copies
    (the outputs and gradients are copied back).  One instance serves every node it makes,
    so state kept on it is shared.

    Example::

        >>> class Double(mx.operator.NumpyOp):
        ...     def forward(self, in_data, out_data):
        ...         out_data[0][:] = in_data[0] * 2
        ...     def backward(self, out_grad, in_data, out_data, in_grad):
        ...         in_grad[0][:] = out_grad[0] * 2
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter('ignore')     # deprecated, as in MXNet
        ...     double = Double()
        >>> y = double(mx.sym.Variable('x'), name='double')
        >>> y.bind(mx.cpu(), {'x': mx.nd.array([1, 2])}).forward()[0].asnumpy()
        array([2., 4.], dtype=float32)
    """
    _kind = 'NumpyOp'

    def __init__(self, need_top_grad=True):
        super().__init__(need_top_grad)

    def get_symbol(self, *args, **kwargs):
        """The Symbol of this operator over input symbols (by position or keyword)."""
        return _python_op_symbol(self, args, kwargs)


class NDArrayOp(PythonOp):
    """Like :class:`NumpyOp` on NDArrays, with ``declare_backward_dependency``."""
    _kind = 'NDArrayOp'

    def __init__(self, need_top_grad=True):
        super().__init__(need_top_grad)

    def get_symbol(self, *args, **kwargs):
        """The Symbol of this operator over input symbols (by position or keyword)."""
        return _python_op_symbol(self, args, kwargs)

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The ids backward reads: by default the head gradients (when needed), every input
        and every output."""
        deps = []
        if self.need_top_grad():
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps


class _PythonOpKernel(CustomOp):
    """Runs a PythonOp's forward/backward on the arrays the Custom node gives."""

    def __init__(self, pyop, on_numpy):
        super().__init__()
        self.pyop, self.on_numpy = pyop, on_numpy

    def _call(self, fn, written, **groups):
        if not self.on_numpy:
            return fn(**groups)
        arrays = [a for group in groups.values() for a in group]
        if all(isinstance(a.data, np.ndarray) for a in arrays):
            return fn(**{n: [a.data for a in group] for n, group in groups.items()})
        host = {n: [a.asnumpy() for a in group] for n, group in groups.items()}
        fn(**host)
        for dst, src in zip(groups[written], host[written]):
            dst[:] = src

    def forward(self, is_train, req, in_data, out_data, aux):
        self._call(self.pyop.forward, 'out_data', in_data=in_data, out_data=out_data)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self._call(self.pyop.backward, 'in_grad', out_grad=out_grad, in_data=in_data,
                   out_data=out_data, in_grad=in_grad)


def _prop_for(pyop):
    """A CustomOpProp class that asks ``pyop`` everything (registered per instance)."""
    on_numpy = isinstance(pyop, NumpyOp)

    class _PythonOpProp(CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=pyop.need_top_grad())

        def list_arguments(self):
            return pyop.list_arguments()

        def list_outputs(self):
            return pyop.list_outputs()

        def infer_shape(self, in_shape):
            ins, outs = pyop.infer_shape(in_shape)[:2]
            return ins, outs, []

        def declare_backward_dependency(self, out_grad, in_data, out_data):
            if isinstance(pyop, NDArrayOp):
                return pyop.declare_backward_dependency(out_grad, in_data, out_data)
            return super().declare_backward_dependency(out_grad, in_data, out_data)

        def create_operator(self, ctx, in_shapes, in_dtypes):
            return _PythonOpKernel(pyop, on_numpy)

    _PythonOpProp.__name__ = '%sProp' % type(pyop).__name__
    return _PythonOpProp
