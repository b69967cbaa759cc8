"""NDArray: MXNet's array type over a NumPy (cpu) or CuPy (gpu) array."""
import numpy as np

from ..base import MXNetError, dtype_np, numeric_types
from ..context import Context, current_context, array_module

__all__ = ['NDArray', 'array', 'zeros', 'ones', 'empty', 'full', 'arange', 'concat',
           'concatenate', 'waitall', 'from_numpy_data', 'moveaxis', 'onehot_encode']


def _wrap(data, ctx):
    out = NDArray.__new__(NDArray)
    out._data = data
    out._ctx = ctx
    return out


def from_numpy_data(data, ctx=None):
    """Wrap an existing numpy/cupy array without copying (internal: executors, kvstore)."""
    return _wrap(data, ctx if ctx is not None else current_context())


def _on_device(method):
    """Run ``method`` with the array's device current (CuPy computes on the current one)."""
    def run(self, *args, **kwargs):
        with self._ctx.device():
            return method(self, *args, **kwargs)
    run.__name__, run.__doc__ = method.__name__, method.__doc__
    return run


class NDArray:
    """An n-dimensional array on one device, with MXNet's methods and operators.

    Example::

        >>> a = mx.nd.array([[1, 2], [3, 4]])
        >>> (a * 2 + 1).asnumpy()
        array([[3., 5.],
               [7., 9.]], dtype=float32)
    """

    __slots__ = ('_data', '_ctx', '__weakref__')
    __array_priority__ = 1000.0
    _sparse = False         # RowSparseNDArray and CSRNDArray (ndarray/sparse.py) say True

    def __init__(self, data, ctx=None):
        ctx = ctx if ctx is not None else current_context()
        self._data = ctx.xp.asarray(data)
        self._ctx = ctx

    # ---- properties --------------------------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        """The element type as a NumPy scalar type (``numpy.float32``), as MXNet returns it."""
        return self._data.dtype.type

    @property
    def context(self):
        return self._ctx

    ctx = context

    @property
    def size(self):
        return self._data.size

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def stype(self):
        return 'default'

    @property
    def T(self):
        return _wrap(self._data.T.copy(), self._ctx)

    @property
    def handle(self):
        return id(self._data)

    @property
    def data(self):
        """The underlying numpy or cupy array (shared, not copied)."""
        return self._data

    # ---- conversion --------------------------------------------------------------------
    def asnumpy(self):
        """A NumPy copy of the data."""
        d = self._data
        if isinstance(d, np.ndarray):
            return d.copy()
        return d.get()

    def asscalar(self):
        if self.size != 1:
            raise ValueError('The current array is not a scalar')
        return self.asnumpy().reshape(-1)[0]

    def __array__(self, dtype=None, copy=None):
        out = self.asnumpy()
        return out if dtype is None else out.astype(dtype)

    @_on_device
    def copy(self):
        return _wrap(self._data.copy(), self._ctx)

    def copyto(self, other):
        """Copy into ``other`` (an NDArray, same shape) or onto a new array on a Context."""
        if isinstance(other, NDArray):
            if other is self:
                return other
            if other._sparse:
                return other._set_from(self)
            if other.shape != self.shape:
                raise MXNetError('copyto: shape mismatch, source %s vs target %s'
                                 % (self.shape, other.shape))
            with other._ctx.device():      # CuPy copies on the current device
                other._data[...] = _to_module(self._data, other._ctx)
            return other
        if isinstance(other, Context):
            return _wrap(_to_module(self._data, other, copy=True), other)
        raise TypeError('copyto does not support type %s' % type(other))

    def as_in_context(self, context):
        if self._ctx == context:
            return self
        return self.copyto(context)

    as_in_ctx = as_in_context

    @_on_device
    def astype(self, dtype, copy=True):
        dt = dtype_np(dtype)
        if not copy and dt == self._data.dtype:
            return self
        return _wrap(self._data.astype(dt), self._ctx)

    def tostype(self, stype):
        """This array in storage type ``stype``: itself for 'default', a new
        RowSparseNDArray or CSRNDArray for 'row_sparse' or 'csr'."""
        if stype == 'default':
            return self
        from .sparse import cast_storage
        return cast_storage(self, stype)

    def wait_to_read(self):
        """Arrays are computed eagerly; kept for scripts that call it."""

    def reshape(self, *shape, **kwargs):
        """A reshaped view; understands MXNet's codes 0, -1, -2, -3, -4 and ``reverse``."""
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = tuple(shape[0])
        if 'shape' in kwargs:
            shape = tuple(kwargs.pop('shape'))
        reverse = kwargs.pop('reverse', False)
        if kwargs:
            raise TypeError('reshape got unexpected arguments %s' % sorted(kwargs))
        from ..ops import get
        target = get('Reshape')(shape=shape, reverse=reverse).infer_shape([self.shape])[1][0]
        return _wrap(self._data.reshape(target), self._ctx)

    def reshape_like(self, other):
        return _wrap(self._data.reshape(other.shape), self._ctx)

    @_on_device
    def broadcast_to(self, shape):
        xp = self._ctx.xp
        return _wrap(xp.ascontiguousarray(xp.broadcast_to(self._data, tuple(shape))), self._ctx)

    def broadcast_like(self, other):
        return self.broadcast_to(other.shape)

    def as_np_ndarray(self):
        return self.asnumpy()

    # ---- indexing ----------------------------------------------------------------------
    def _key(self, key):
        if isinstance(key, NDArray):
            return _to_module(key._data, self._ctx).astype(np.int64)
        if isinstance(key, tuple):
            return tuple(self._key(k) for k in key)
        return key

    @_on_device
    def __getitem__(self, key):
        out = self._data[self._key(key)]
        if not hasattr(out, 'shape') or out.shape == ():
            out = self._ctx.xp.asarray(out).reshape(1)
        return _wrap(out, self._ctx)

    @_on_device
    def __setitem__(self, key, value):
        if isinstance(value, NDArray):
            value = _to_module(value._data, self._ctx)
        elif not isinstance(value, numeric_types):
            value = self._ctx.xp.asarray(value)
        try:
            self._data[self._key(key)] = value
        except ValueError as e:
            shape = getattr(value, 'shape', ())
            raise MXNetError('cannot assign an array of shape %s to %s[%r]: %s'
                             % (shape, self.shape, key, e)) from None

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        for i in range(self.shape[0]):
            yield self[i]

    def __bool__(self):
        if self.size == 1:
            return bool(self.asnumpy().reshape(-1)[0])
        if self.size == 0:
            return False
        raise ValueError('The truth value of an NDArray with more than one element is '
                         'ambiguous.')

    def __repr__(self):
        shape = 'x'.join(str(d) for d in self.shape)
        return '\n%s\n<NDArray %s @%s>' % (str(self.asnumpy()), shape, self._ctx)

    __str__ = __repr__

    def __getstate__(self):
        raise TypeError('NDArray is not picklable; use mx.nd.save')

    # ---- arithmetic --------------------------------------------------------------------
    def _other(self, other):
        if isinstance(other, NDArray):
            return _to_module(other._data, self._ctx)
        if isinstance(other, numeric_types):
            return other
        return self._ctx.xp.asarray(other)

    @_on_device
    def _binary(self, other, fn, reflect=False):
        o = self._other(other)
        a, b = (o, self._data) if reflect else (self._data, o)
        out = fn(a, b)
        dt = self._data.dtype
        if isinstance(other, NDArray):
            dt = np.result_type(dt, other._data.dtype)
        return _wrap(out.astype(dt, copy=False), self._ctx)

    @_on_device
    def _inplace(self, other, fn):
        if isinstance(other, NDArray) and other._sparse and other._inplace_into(self, fn):
            return self
        fn(self._data, self._other(other), out=self._data, casting='unsafe')
        return self

    def __add__(self, o): return self._binary(o, np.add)
    def __radd__(self, o): return self._binary(o, np.add, True)
    def __sub__(self, o): return self._binary(o, np.subtract)
    def __rsub__(self, o): return self._binary(o, np.subtract, True)
    def __mul__(self, o): return self._binary(o, np.multiply)
    def __rmul__(self, o): return self._binary(o, np.multiply, True)
    def __truediv__(self, o): return self._binary(o, _divide)
    def __rtruediv__(self, o): return self._binary(o, _divide, True)
    def __floordiv__(self, o): return self._binary(o, np.floor_divide)
    def __mod__(self, o): return self._binary(o, np.mod)
    def __rmod__(self, o): return self._binary(o, np.mod, True)
    def __pow__(self, o): return self._binary(o, np.power)
    def __rpow__(self, o): return self._binary(o, np.power, True)
    def __iadd__(self, o): return self._inplace(o, np.add)
    def __isub__(self, o): return self._inplace(o, np.subtract)
    def __imul__(self, o): return self._inplace(o, np.multiply)
    def __itruediv__(self, o): return self._inplace(o, _divide)
    def __imod__(self, o): return self._inplace(o, np.mod)
    def __eq__(self, o): return self._binary(o, np.equal)
    def __ne__(self, o): return self._binary(o, np.not_equal)
    def __gt__(self, o): return self._binary(o, np.greater)
    def __ge__(self, o): return self._binary(o, np.greater_equal)
    def __lt__(self, o): return self._binary(o, np.less)
    def __le__(self, o): return self._binary(o, np.less_equal)
    __hash__ = object.__hash__

    def __neg__(self):
        return _wrap(-self._data, self._ctx)

    def __abs__(self):
        return _wrap(abs(self._data), self._ctx)

    # ---- numpy-direct conveniences -----------------------------------------------------
    def argmax(self, axis=None, keepdims=False):
        return self._argext(self._ctx.xp.argmax, axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        return self._argext(self._ctx.xp.argmin, axis, keepdims)

    def _argext(self, fn, axis, keepdims):
        out = fn(self._data, axis=axis)
        if keepdims and axis is not None:
            out = self._ctx.xp.expand_dims(out, axis)
        out = self._ctx.xp.asarray(out, dtype=np.float32)
        return _wrap(out.reshape(1) if out.ndim == 0 else out, self._ctx)

    def attach_grad(self, *args, **kwargs):
        raise MXNetError('autograd is not part of distmod; use symbols and executors')

    def zeros_like(self):
        return _wrap(self._ctx.xp.zeros_like(self._data), self._ctx)

    def ones_like(self):
        return _wrap(self._ctx.xp.ones_like(self._data), self._ctx)


def _divide(a, b, out=None, casting='same_kind'):
    """MXNet divides integers in their own type: int32 [1, 3] / 2 is [0, 1]."""
    a_int = np.issubdtype(getattr(a, 'dtype', np.asarray(a).dtype), np.integer)
    b_int = np.issubdtype(getattr(b, 'dtype', np.asarray(b).dtype), np.integer)
    if a_int and b_int and out is None:
        return np.floor_divide(a, b) if np.all(np.asarray(b) != 0) else np.true_divide(a, b)
    if out is not None:
        return np.true_divide(a, b, out=out, casting=casting)
    return np.true_divide(a, b)


def _to_module(data, ctx, copy=False):
    """``data`` as an array of ``ctx``'s module (moving between host and GPU when needed)."""
    xp = ctx.xp
    src = array_module(data)
    if src is xp:
        if xp is not np:
            with ctx.device():
                return data.copy() if copy else xp.asarray(data)
        return data.copy() if copy else data
    if xp is np:
        return data.get()
    with ctx.device():
        return xp.asarray(data)


def _ctx(ctx):
    return ctx if ctx is not None else current_context()


def array(source_array, ctx=None, dtype=None):
    """An NDArray from a list, NumPy array or NDArray.

    As in MXNet the dtype is the source's for an NDArray and float32 for anything else (NumPy
    arrays included) unless ``dtype`` is given.
    """
    ctx = _ctx(ctx)
    if isinstance(source_array, NDArray) and source_array._sparse or \
            hasattr(source_array, 'tocsr'):            # a sparse array, or scipy's
        from .sparse import array as sparse_array
        return sparse_array(source_array, ctx=ctx, dtype=dtype)
    if isinstance(source_array, NDArray):
        src = source_array.asnumpy()
        dtype = dtype if dtype is not None else src.dtype
    elif hasattr(source_array, '__cuda_array_interface__'):
        src = source_array.get()
    else:
        src = np.asarray(source_array)
    dtype = dtype if dtype is not None else np.float32
    data = np.array(src, dtype=dtype_np(dtype), copy=True)
    if data.ndim == 0:
        data = data.reshape(1)
    return _wrap(_to_module(data, ctx), ctx)


def _create(fn, shape, ctx, dtype, *args):
    ctx = _ctx(ctx)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    with ctx.device():
        return _wrap(fn(shape, *args, dtype=dtype_np(dtype)), ctx)


def zeros(shape, ctx=None, dtype=None, stype=None, **kwargs):
    """Zeros; ``stype`` 'row_sparse' or 'csr' gives an empty sparse array."""
    if stype not in (None, 'default'):
        from .sparse import zeros as sparse_zeros
        return sparse_zeros(stype, shape, ctx, dtype)
    return _create(_ctx(ctx).xp.zeros, shape, ctx, dtype)


def ones(shape, ctx=None, dtype=None, **kwargs):
    return _create(_ctx(ctx).xp.ones, shape, ctx, dtype)


def empty(shape, ctx=None, dtype=None, stype=None):
    if stype not in (None, 'default'):
        from .sparse import empty as sparse_empty
        return sparse_empty(stype, shape, ctx, dtype)
    return _create(_ctx(ctx).xp.empty, shape, ctx, dtype)


def full(shape, val, ctx=None, dtype=None, out=None):
    res = _create(_ctx(ctx).xp.full, shape, ctx, dtype, val)
    if out is not None:
        out[:] = res
        return out
    return res


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=None):
    """``mx.nd.arange(3)`` -> [0, 1, 2]; ``repeat`` repeats each element."""
    ctx = _ctx(ctx)
    if stop is None:
        start, stop = 0, start
    data = np.arange(start, stop, step, dtype=dtype_np(dtype))
    if repeat > 1:
        data = np.repeat(data, repeat)
    return _wrap(_to_module(data, ctx), ctx)


def concat(*arrays, **kwargs):
    """Join arrays along ``dim`` (default 1), as ``mx.nd.concat``."""
    dim = kwargs.pop('dim', 1)
    if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)):
        arrays = tuple(arrays[0])
    ctx = arrays[0].context
    xp = ctx.xp
    return _wrap(xp.concatenate([_to_module(a._data, ctx) for a in arrays], axis=dim), ctx)


def concatenate(arrays, axis=0, always_copy=True):
    return concat(*arrays, dim=axis)


def moveaxis(tensor, source, destination):
    return _wrap(tensor.context.xp.ascontiguousarray(
        tensor.context.xp.moveaxis(tensor._data, source, destination)), tensor.context)


def onehot_encode(indices, out):
    out[:] = 0
    xp = out.context.xp
    idx = indices._data.astype(np.int64)
    out._data[xp.arange(idx.shape[0]), idx] = 1
    return out


def waitall():
    """Wait for all pending work (GPU streams); CPU work is already done."""
    from .. import context
    if context._cupy is not None:          # only when a GPU context was ever used
        for dev in range(context.num_gpus()):
            with context._cupy.cuda.Device(dev):
                context._cupy.cuda.Device(dev).synchronize()
