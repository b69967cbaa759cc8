"""``mx.nd.sparse``: row-sparse and CSR NDArrays.

A :class:`RowSparseNDArray` holds some rows of a tensor: ``indices`` (int64, increasing) and
``data``, one row of values per index; every other row is zero.  A :class:`CSRNDArray` is a
matrix in compressed sparse row form: ``data``, the column ``indices`` of each value and
``indptr``, where row ``i``'s values are ``data[indptr[i]:indptr[i + 1]]``.  Both live on one
device like a dense NDArray; their raw arrays are NumPy or CuPy.

Example::

    >>> rsp = mx.nd.sparse.row_sparse_array(([[1, 2], [3, 4]], [0, 2]), shape=(3, 2))
    >>> rsp.stype, rsp.indices.asnumpy().tolist()
    ('row_sparse', [0, 2])
    >>> rsp.asnumpy()
    array([[1., 2.],
           [0., 0.],
           [3., 4.]], dtype=float32)
    >>> csr = mx.nd.array([[0, 5], [7, 0]]).tostype('csr')
    >>> csr.indptr.asnumpy().tolist(), csr.indices.asnumpy().tolist()
    ([0, 1, 2], [1, 0])

Operators without a sparse kernel compute on a dense copy and return a dense result, as MXNet's
"storage fallback" does; the ones that keep zeros (``square``, ``sqrt``, ``abs``, ``clip``,
scaling...) apply to the stored values and keep the storage type, and ``dot`` of a CSR matrix
(``csr . dense`` dense, ``csr.T . dense`` row-sparse), ``elemwise_add``/``add_n`` of row-sparse
arrays, ``cast_storage`` and ``retain`` have their own.  A sparse array's ``_data`` (what those
fallbacks read) is a read-only dense copy: writing into it is an error, never a lost write.
"""
import numpy as np

from ..base import MXNetError, dtype_np, numeric_types
from ..context import Context, current_context, array_module
from ..ops.sparse import sum_rows
from .ndarray import NDArray, _wrap, _to_module
from . import ndarray as _dense

__all__ = ['BaseSparseNDArray', 'RowSparseNDArray', 'CSRNDArray', 'RowSparseStorage',
           'CSRStorage', 'row_sparse_array', 'csr_matrix', 'zeros', 'empty', 'array',
           'cast_storage', 'dot', 'retain', 'add', 'subtract', 'multiply', 'divide',
           'zeros_like']

_STYPES = ('default', 'row_sparse', 'csr')
_slice = slice      # the module also carries MXNet's operator ``slice`` (see _namespace)


# ---- raw storage: what operators and the kvstore see -----------------------------------------
class RowSparseStorage:
    """Raw row-sparse storage: ``indices`` (1-D int64), ``values`` (``(len(indices),) +
    shape[1:]``) and the full ``shape``.

    The executor hands it to an operator as a row-sparse gradient buffer (``assign``,
    ``fill(0)``, ``+=`` for gradients summed over consumers); the kvstore reads and writes its
    ``indices``/``values`` (any object with ``stype == 'row_sparse'`` and these attributes).
    """

    __slots__ = ('indices', 'values', 'shape')
    stype = 'row_sparse'

    def __init__(self, indices, values, shape):
        self.indices = indices
        self.values = values
        self.shape = tuple(int(d) for d in shape)

    @property
    def dtype(self):
        return self.values.dtype

    def assign(self, indices, values):
        """Hold exactly these rows from now on."""
        self.indices, self.values = indices, values

    def fill(self, value):
        """``fill(0)``: no rows at all (a gradient nobody wrote)."""
        if value != 0:
            raise MXNetError('a row-sparse array can only be filled with 0, not %r' % (value,))
        xp = array_module(self.values)
        self.indices = xp.empty(0, dtype=np.int64)
        self.values = xp.empty((0,) + self.shape[1:], dtype=self.values.dtype)

    def empty_like(self):
        """No rows, this shape and dtype (an accumulation temporary)."""
        out = RowSparseStorage(None, self.values, self.shape)
        out.fill(0)
        return out

    def __iadd__(self, other):
        if getattr(other, 'stype', None) != 'row_sparse':
            raise MXNetError('a row-sparse gradient cannot accumulate a dense one (every '
                             'operator writing it must write row-sparse gradients)')
        xp = array_module(self.values)
        self.indices, self.values = sum_rows(
            xp, xp.concatenate([self.indices, xp.asarray(other.indices)]),
            xp.concatenate([self.values, xp.asarray(other.values, dtype=self.values.dtype)]))
        return self


class CSRStorage:
    """Raw CSR storage: ``data``, column ``indices`` (int64), ``indptr`` (int64) and the
    2-D ``shape``."""

    __slots__ = ('data', 'indices', 'indptr', 'shape')
    stype = 'csr'

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = tuple(int(d) for d in shape)

    @property
    def dtype(self):
        return self.data.dtype


# ---- the NDArray classes -------------------------------------------------------------------
class BaseSparseNDArray(NDArray):
    """What row-sparse and CSR NDArrays share: shape, dtype, context, conversions, and the
    dense fallback of every other operation."""

    __slots__ = ('_sp',)
    _sparse = True

    @property
    def _data(self):
        """A dense, read-only copy: what operators without a sparse kernel compute on."""
        dense = self._dense_raw()
        if isinstance(dense, np.ndarray):
            dense.flags.writeable = False
        return dense

    @property
    def shape(self):
        return self._sp.shape

    @property
    def dtype(self):
        return self._sp.dtype.type

    @property
    def size(self):
        return int(np.prod(self._sp.shape, dtype=np.int64))

    @property
    def ndim(self):
        return len(self._sp.shape)

    @property
    def handle(self):
        return id(self._sp)

    @property
    def _xp(self):
        return self._ctx.xp

    def asnumpy(self):
        dense = self._dense_raw()
        return dense if isinstance(dense, np.ndarray) else dense.get()

    def __repr__(self):
        return '\n<%s %s @%s>' % (type(self).__name__, 'x'.join(str(d) for d in self.shape),
                                  self._ctx)

    __str__ = __repr__

    def copy(self):
        return self.copyto(self._ctx)

    def tostype(self, stype):
        """A copy in storage type ``stype`` ('default', 'row_sparse' or 'csr')."""
        return cast_storage(self, stype)

    def todense(self):
        return cast_storage(self, 'default')

    def reshape(self, *shape, **kwargs):
        return self.todense().reshape(*shape, **kwargs)

    def reshape_like(self, other):
        return self.todense().reshape_like(other)

    def broadcast_to(self, shape):
        return self.todense().broadcast_to(shape)

    def zeros_like(self):
        return zeros(self.stype, self.shape, self._ctx, self.dtype)

    def _set_from(self, src):
        """``self[:] = src`` (an NDArray of any storage type, an array or a number)."""
        if isinstance(src, NDArray):
            if tuple(src.shape) != self.shape:
                raise MXNetError('cannot assign an array of shape %s to a %s of shape %s'
                                 % (tuple(src.shape), type(self).__name__, self.shape))
            got = src if src.stype == self.stype else cast_storage(src, self.stype)
        elif isinstance(src, numeric_types):
            full = _dense.full(self.shape, src, ctx=self._ctx, dtype=self.dtype)
            got = cast_storage(full, self.stype)
        else:
            got = cast_storage(_dense.array(src, ctx=self._ctx, dtype=self.dtype), self.stype)
        self._take_storage(got)
        return self

    def __setitem__(self, key, value):
        if not _is_full_slice(key):
            raise MXNetError('%s supports assignment to [:] only, not [%r]'
                             % (type(self).__name__, key))
        self._set_from(value)

    def copyto(self, other):
        """Copy into ``other`` (an NDArray of any storage type and the same shape) or onto a
        new array of this storage type on a Context."""
        if isinstance(other, Context):
            return self._on(other, copy=True)
        if not isinstance(other, NDArray):
            raise TypeError('copyto does not support type %s' % type(other))
        if other is self:
            return other
        if tuple(other.shape) != self.shape:
            raise MXNetError('copyto: shape mismatch, source %s vs target %s'
                             % (self.shape, tuple(other.shape)))
        if other._sparse:
            return other._set_from(self)
        dense = self._dense_raw()
        other._data[...] = _to_module(dense, other._ctx)
        return other

    def as_in_context(self, context):
        return self if self._ctx == context else self._on(context, copy=True)

    as_in_ctx = as_in_context

    def _inplace_into(self, dense, fn):
        """``fn(dense, self, out=dense)`` without densifying ``self``; False: not handled."""
        return False

    def check_format(self, full_check=True):
        """Raise MXNetError unless the storage is well formed (sorted, in-range indices)."""
        problem = self._format_problem(full_check)
        if problem:
            raise MXNetError('%s is malformed: %s' % (type(self).__name__, problem))



def _is_full_slice(key):
    return isinstance(key, _slice) and key.start is None and key.stop is None and \
        key.step is None


def _scalar(x):
    return isinstance(x, numeric_types) and not isinstance(x, bool)


class RowSparseNDArray(BaseSparseNDArray):
    """Some rows of a tensor (``indices``) and their values (``data``); the other rows are
    zero.  MXNet's row-sparse storage: gradients of embeddings, rows pulled from a kvstore.

    Example::

        >>> g = mx.nd.sparse.row_sparse_array(([[1, 1]], [2]), shape=(4, 2))
        >>> (g + g).data.asnumpy().tolist(), (g * 3).stype
        ([[2.0, 2.0]], 'row_sparse')
    """

    __slots__ = ()
    stype = 'row_sparse'

    @property
    def indices(self):
        """The row indices (a new int64 NDArray)."""
        return _wrap(self._sp.indices.astype(np.int64, copy=True), self._ctx)

    @property
    def data(self):
        """The rows' values (a new NDArray of shape ``(len(indices),) + shape[1:]``)."""
        return _wrap(self._sp.values.copy(), self._ctx)

    def _dense_raw(self):
        sp = self._sp
        xp = self._xp
        with self._ctx.device():
            out = xp.zeros(sp.shape, dtype=sp.values.dtype)
        if len(sp.indices):
            out[xp.asarray(sp.indices)] = xp.asarray(sp.values)
        return out

    def _on(self, ctx, copy=True, dtype=None):
        sp = self._sp
        values = _to_module(sp.values, ctx, copy=copy)
        if dtype is not None:
            values = values.astype(dtype, copy=False)
        return _rsp(_to_module(sp.indices, ctx, copy=copy), values, sp.shape, ctx)

    def _take_storage(self, other):
        self._sp.indices = _to_module(other._sp.indices, self._ctx, copy=True)
        self._sp.values = _to_module(other._sp.values, self._ctx,
                                     copy=True).astype(self._sp.values.dtype, copy=False)

    def astype(self, dtype, copy=True):
        dt = dtype_np(dtype)
        if not copy and dt == self._sp.values.dtype:
            return self
        return self._on(self._ctx, copy=True, dtype=dt)

    def __getitem__(self, key):
        if _is_full_slice(key):
            return self
        return self.todense()[key]

    def retain(self, indices):
        """The rows ``indices`` of this array (see :func:`retain`)."""
        return retain(self, indices)

    def _format_problem(self, full_check):
        sp = self._sp
        if sp.values.shape != (len(sp.indices),) + sp.shape[1:]:
            return 'data has shape %s for %d indices of rows of shape %s' % (
                sp.values.shape, len(sp.indices), sp.shape[1:])
        if full_check and len(sp.indices):
            idx = _host(sp.indices)
            if idx.min() < 0 or idx.max() >= sp.shape[0]:
                return 'indices %s are out of range for %d rows' % (idx.tolist(), sp.shape[0])
            if np.any(idx[1:] <= idx[:-1]):
                return 'indices %s are not strictly increasing' % idx.tolist()
        return None

    # ---- arithmetic that keeps the storage type -------------------------------------------
    def _same(self, other):
        return isinstance(other, RowSparseNDArray) and other.shape == self.shape

    def _combine(self, other, sign):
        xp = self._xp
        theirs = _to_module(other._sp.values, self._ctx)
        dt = np.result_type(self._sp.values.dtype, theirs.dtype)
        if sign < 0:
            theirs = -theirs
        idx, vals = sum_rows(xp, xp.concatenate([self._sp.indices,
                                                 _to_module(other._sp.indices, self._ctx)]),
                             xp.concatenate([self._sp.values.astype(dt, copy=False),
                                             theirs.astype(dt, copy=False)]))
        return idx, vals

    def _scaled(self, factor, divide=False):
        vals = self._sp.values / factor if divide else self._sp.values * factor
        return _rsp(self._sp.indices.copy(), vals.astype(self._sp.values.dtype, copy=False),
                    self.shape, self._ctx)

    def __add__(self, other):
        if self._same(other):
            return _rsp(*self._combine(other, 1), self.shape, self._ctx)
        return super().__add__(other)

    __radd__ = __add__

    def __sub__(self, other):
        if self._same(other):
            return _rsp(*self._combine(other, -1), self.shape, self._ctx)
        return super().__sub__(other)

    def __mul__(self, other):
        if _scalar(other):
            return self._scaled(other)
        return super().__mul__(other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if _scalar(other):
            return self._scaled(other, divide=True)
        return super().__truediv__(other)

    def __neg__(self):
        return self._scaled(-1)

    def __iadd__(self, other):
        if self._same(other):
            self._sp.indices, self._sp.values = self._combine(other, 1)
            return self
        return self._set_from(self.todense() + other)

    def __isub__(self, other):
        if self._same(other):
            self._sp.indices, self._sp.values = self._combine(other, -1)
            return self
        return self._set_from(self.todense() - other)

    def __imul__(self, other):
        if _scalar(other):
            self._sp.values *= other
            return self
        return self._set_from(self.todense() * other)

    def __itruediv__(self, other):
        if _scalar(other):
            self._sp.values /= other
            return self
        return self._set_from(self.todense() / other)

    def _inplace_into(self, dense, fn):
        """``dense += self`` / ``dense -= self`` touching only this array's rows; False when
        ``fn`` is another operation (the caller then computes densely)."""
        if fn is not np.add and fn is not np.subtract:
            return False
        if tuple(dense.shape) != self.shape:
            raise MXNetError('cannot add a row-sparse array of shape %s to an array of shape '
                             '%s' % (self.shape, tuple(dense.shape)))
        idx = _to_module(self._sp.indices, dense._ctx)
        vals = _to_module(self._sp.values, dense._ctx)
        if fn is np.add:
            dense._data[idx] += vals
        else:
            dense._data[idx] -= vals
        return True


class CSRNDArray(BaseSparseNDArray):
    """A matrix in compressed sparse row form: ``data``, column ``indices`` and ``indptr``.

    Example::

        >>> m = mx.nd.sparse.csr_matrix(([1, 2, 3], [0, 2, 1], [0, 2, 3]), shape=(2, 3))
        >>> m.asnumpy()
        array([[1., 0., 2.],
               [0., 3., 0.]], dtype=float32)
        >>> m[1].indptr.asnumpy().tolist()
        [0, 1]
    """

    __slots__ = ()
    stype = 'csr'

    @property
    def indices(self):
        """The column index of each stored value (a new int64 NDArray)."""
        return _wrap(self._sp.indices.astype(np.int64, copy=True), self._ctx)

    @property
    def indptr(self):
        """Row ``i``'s values are ``data[indptr[i]:indptr[i + 1]]`` (a new int64 NDArray)."""
        return _wrap(self._sp.indptr.astype(np.int64, copy=True), self._ctx)

    @property
    def data(self):
        """The stored values (a new 1-D NDArray)."""
        return _wrap(self._sp.data.copy(), self._ctx)

    def _row_of_values(self):
        xp, sp = self._xp, self._sp
        counts = xp.diff(sp.indptr)
        return xp.repeat(xp.arange(sp.shape[0], dtype=np.int64), _host(counts).tolist()
                         if xp is not np else counts)

    def _dense_raw(self):
        sp, xp = self._sp, self._xp
        with self._ctx.device():
            out = xp.zeros(sp.shape, dtype=sp.data.dtype)
        if len(sp.data):
            out[self._row_of_values(), sp.indices] = sp.data
        return out

    def _on(self, ctx, copy=True, dtype=None):
        sp = self._sp
        data = _to_module(sp.data, ctx, copy=copy)
        if dtype is not None:
            data = data.astype(dtype, copy=False)
        return _csr(data, _to_module(sp.indices, ctx, copy=copy),
                    _to_module(sp.indptr, ctx, copy=copy), sp.shape, ctx)

    def _take_storage(self, other):
        self._sp.data = _to_module(other._sp.data, self._ctx,
                                   copy=True).astype(self._sp.data.dtype, copy=False)
        self._sp.indices = _to_module(other._sp.indices, self._ctx, copy=True)
        self._sp.indptr = _to_module(other._sp.indptr, self._ctx, copy=True)

    def astype(self, dtype, copy=True):
        dt = dtype_np(dtype)
        if not copy and dt == self._sp.data.dtype:
            return self
        return self._on(self._ctx, copy=True, dtype=dt)

    def __getitem__(self, key):
        """Rows ``key`` (an int or a contiguous slice) as a CSRNDArray."""
        rows = self.shape[0]
        if isinstance(key, (int, np.integer)):
            start = int(key) + rows if key < 0 else int(key)
            if not 0 <= start < rows:
                raise IndexError('row %d is out of range for %d rows' % (key, rows))
            stop = start + 1
        elif isinstance(key, _slice) and key.step in (None, 1):
            start, stop, _ = key.indices(rows)
            stop = max(stop, start)
        else:
            return self.todense()[key]
        sp = self._sp
        ptr = sp.indptr[start:stop + 1]
        lo, hi = int(ptr[0]), int(ptr[-1])
        return _csr(sp.data[lo:hi].copy(), sp.indices[lo:hi].copy(), ptr - lo,
                    (stop - start, self.shape[1]), self._ctx)

    def asscipy(self):
        """This matrix as a ``scipy.sparse.csr_matrix`` (needs SciPy)."""
        import scipy.sparse as spsp
        sp = self._sp
        return spsp.csr_matrix((_host(sp.data), _host(sp.indices), _host(sp.indptr)),
                               shape=sp.shape)

    def _format_problem(self, full_check):
        sp = self._sp
        ptr = _host(sp.indptr)
        if len(ptr) != sp.shape[0] + 1 or (len(ptr) and ptr[0] != 0):
            return 'indptr %s does not describe %d rows' % (ptr.tolist(), sp.shape[0])
        if ptr[-1] != len(sp.indices) or len(sp.indices) != len(sp.data):
            return 'indptr ends at %d with %d indices and %d values' % (
                ptr[-1], len(sp.indices), len(sp.data))
        if full_check:
            if np.any(np.diff(ptr) < 0):
                return 'indptr %s decreases' % ptr.tolist()
            idx = _host(sp.indices)
            if len(idx) and (idx.min() < 0 or idx.max() >= sp.shape[1]):
                return 'column indices are out of range for %d columns' % sp.shape[1]
        return None

    def _scaled(self, factor, divide=False):
        data = self._sp.data / factor if divide else self._sp.data * factor
        return _csr(data.astype(self._sp.data.dtype, copy=False), self._sp.indices.copy(),
                    self._sp.indptr.copy(), self.shape, self._ctx)

    def __mul__(self, other):
        if _scalar(other):
            return self._scaled(other)
        return super().__mul__(other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if _scalar(other):
            return self._scaled(other, divide=True)
        return super().__truediv__(other)

    def __neg__(self):
        return self._scaled(-1)

    def __imul__(self, other):
        if _scalar(other):
            self._sp.data *= other
            return self
        return self._set_from(self.todense() * other)

    def __itruediv__(self, other):
        if _scalar(other):
            self._sp.data /= other
            return self
        return self._set_from(self.todense() / other)

    def __iadd__(self, other):
        return self._set_from(self.todense() + other)

    def __isub__(self, other):
        return self._set_from(self.todense() - other)


def _host(a):
    return a if isinstance(a, np.ndarray) else a.get()


def _rsp(indices, values, shape, ctx):
    out = RowSparseNDArray.__new__(RowSparseNDArray)
    out._sp = RowSparseStorage(indices, values, shape)
    out._ctx = ctx
    return out


def _csr(data, indices, indptr, shape, ctx):
    out = CSRNDArray.__new__(CSRNDArray)
    out._sp = CSRStorage(data, indices, indptr, shape)
    out._ctx = ctx
    return out


def wrap_storage(storage, ctx):
    """An NDArray over raw ``storage`` without copying: a raw array (dense), or a row-sparse
    storage (anything with ``stype == 'row_sparse'``, ``indices``, ``values``, ``shape``),
    which the array then shares (the kvstore's values, the executor's gradients)."""
    if getattr(storage, 'stype', None) == 'row_sparse':
        out = RowSparseNDArray.__new__(RowSparseNDArray)
        out._sp = storage
        out._ctx = ctx
        return out
    return _wrap(storage, ctx)


# ---- construction --------------------------------------------------------------------------
def _ctx(ctx):
    return ctx if ctx is not None else current_context()


def _values(source, ctx, dtype):
    """``source`` as a raw array of ``ctx``; MXNet's default dtype: the source's for an
    NDArray or NumPy array, float32 for anything else."""
    if isinstance(source, NDArray):
        raw = _to_module(source._data, ctx, copy=True)
    elif hasattr(source, '__cuda_array_interface__') and not isinstance(source, np.ndarray):
        raw = _to_module(source, ctx, copy=True)
    else:
        given = isinstance(source, np.ndarray)
        raw = np.array(source, dtype=dtype_np(dtype) if dtype is not None else
                       None if given else np.float32)
        raw = _to_module(raw, ctx)
    return raw.astype(dtype_np(dtype), copy=False) if dtype is not None else raw


def _int_array(source, ctx, what):
    if isinstance(source, NDArray) or hasattr(source, '__cuda_array_interface__'):
        raw = _values(source, ctx, None)
    else:                       # plain lists keep their integers exact (no float32 detour)
        raw = _to_module(np.asarray(source).reshape(-1), ctx)
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        host = _host(raw)
        if not np.all(np.equal(np.mod(host, 1), 0)):
            raise ValueError('%s must be integers, got %s' % (what, host.tolist()))
    return raw.astype(np.int64, copy=False).reshape(-1)


def _is_shape(arg):
    return isinstance(arg, tuple) and len(arg) > 0 and \
        all(isinstance(d, (int, np.integer)) for d in arg)


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None):
    """A RowSparseNDArray from ``(data, indices)`` (rows ``indices`` hold ``data``), from a
    dense array (its non-zero rows), from another sparse array, or an empty one from a shape.

    Without ``shape`` the number of rows is ``max(indices) + 1``.  ``dtype`` defaults to the
    data's for an NDArray or NumPy array and to float32 otherwise.

    Example::

        >>> a = mx.nd.sparse.row_sparse_array(([[1, 2]], [1]), shape=(3, 2))
        >>> a.asnumpy().tolist()
        [[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]]
        >>> mx.nd.sparse.row_sparse_array((4, 2)).indices.shape
        (0,)
    """
    ctx = _ctx(ctx)
    if _is_shape(arg1):
        return zeros('row_sparse', arg1, ctx, dtype)
    if isinstance(arg1, tuple):
        if len(arg1) != 2:
            raise ValueError('row_sparse_array expects (data, indices), got a tuple of %d'
                             % len(arg1))
        values = _values(arg1[0], ctx, dtype)
        indices = _int_array(arg1[1], ctx, 'row_sparse_array indices')
        if values.ndim == 0 or values.shape[0] != indices.shape[0]:
            raise ValueError('row_sparse_array: data of shape %s for %d indices (one row of '
                             'data per index)' % (tuple(values.shape), indices.shape[0]))
        if shape is None:
            rows = int(_host(indices).max()) + 1 if indices.shape[0] else 0
            shape = (rows,) + tuple(values.shape[1:])
        shape = tuple(int(d) for d in shape)
        if tuple(values.shape[1:]) != shape[1:]:
            raise ValueError('row_sparse_array: rows of data have shape %s but the array\'s '
                             'rows have shape %s' % (tuple(values.shape[1:]), shape[1:]))
        out = _rsp(indices, values, shape, ctx)
        problem = out._format_problem(True) if indices.shape[0] else None
        if problem and 'increasing' not in problem:
            raise ValueError('row_sparse_array: %s' % problem)
        return out
    if isinstance(arg1, RowSparseNDArray):
        out = arg1._on(ctx, copy=True, dtype=dtype_np(dtype) if dtype is not None else None)
    elif isinstance(arg1, NDArray):
        out = cast_storage(arg1, 'row_sparse')._on(ctx, dtype=dtype and dtype_np(dtype))
    else:
        out = cast_storage(_dense.array(_densify_foreign(arg1), ctx=ctx, dtype=dtype),
                           'row_sparse')
    _check_shape(out, shape)
    return out


def _densify_foreign(arg):
    """A scipy sparse matrix as a dense NumPy array; anything else unchanged."""
    return arg.toarray() if hasattr(arg, 'toarray') and hasattr(arg, 'nnz') else arg


def _check_shape(arr, shape):
    if shape is not None and tuple(shape) != arr.shape:
        raise ValueError('the source has shape %s, not the given shape %s'
                         % (arr.shape, tuple(shape)))


def csr_matrix(arg1, shape=None, ctx=None, dtype=None):
    """A CSRNDArray from ``(data, indices, indptr)``, from ``(data, (row, col))`` (coordinate
    form; duplicates are summed), from a dense 2-D array, a scipy sparse matrix or another
    sparse array, or an empty one from a shape ``(M, N)``.

    Without ``shape`` there are ``len(indptr) - 1`` rows and ``max(indices) + 1`` columns.

    Example::

        >>> m = mx.nd.sparse.csr_matrix(([5, 7], ([0, 1], [1, 0])), shape=(2, 2))
        >>> m.asnumpy().tolist()
        [[0.0, 5.0], [7.0, 0.0]]
    """
    ctx = _ctx(ctx)
    if _is_shape(arg1):
        return zeros('csr', arg1, ctx, dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        return _csr_from_coo(arg1, shape, ctx, dtype)
    if isinstance(arg1, tuple):
        if len(arg1) != 3:
            raise ValueError('csr_matrix expects (data, indices, indptr), got a tuple of %d'
                             % len(arg1))
        data = _values(arg1[0], ctx, dtype).reshape(-1)
        indices = _int_array(arg1[1], ctx, 'csr_matrix indices')
        indptr = _int_array(arg1[2], ctx, 'csr_matrix indptr')
        if shape is None:
            cols = int(_host(indices).max()) + 1 if indices.shape[0] else 0
            shape = (indptr.shape[0] - 1, cols)
        out = _csr(data, indices, indptr, shape, ctx)
        problem = out._format_problem(True)
        if problem:
            raise ValueError('csr_matrix: %s' % problem)
        return out
    if isinstance(arg1, CSRNDArray):
        out = arg1._on(ctx, copy=True, dtype=dtype_np(dtype) if dtype is not None else None)
    elif isinstance(arg1, NDArray):
        out = cast_storage(arg1, 'csr')._on(ctx, dtype=dtype and dtype_np(dtype))
    elif hasattr(arg1, 'indptr') and hasattr(arg1, 'tocsr'):      # a scipy sparse matrix
        m = arg1.tocsr()
        m.sum_duplicates()
        out = csr_matrix((m.data, m.indices, m.indptr), shape=m.shape, ctx=ctx,
                         dtype=dtype if dtype is not None else m.dtype)
    elif hasattr(arg1, 'tocsr'):
        return csr_matrix(arg1.tocsr(), shape, ctx, dtype)
    else:
        out = cast_storage(_dense.array(arg1, ctx=ctx, dtype=dtype), 'csr')
    _check_shape(out, shape)
    return out


def _csr_from_coo(arg1, shape, ctx, dtype):
    data, (row, col) = arg1[0], arg1[1]
    data = _host(_values(data, ctx, dtype)).reshape(-1)
    row = _host(_int_array(row, ctx, 'csr_matrix row indices'))
    col = _host(_int_array(col, ctx, 'csr_matrix column indices'))
    if not len(data) == len(row) == len(col):
        raise ValueError('csr_matrix: %d values for %d row and %d column indices'
                         % (len(data), len(row), len(col)))
    if shape is None:
        shape = (int(row.max()) + 1 if len(row) else 0, int(col.max()) + 1 if len(col) else 0)
    rows, cols = int(shape[0]), int(shape[1])
    flat, sums = sum_rows(np, row * cols + col, data)
    r, c = flat // cols, flat % cols
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=rows), out=indptr[1:])
    return _csr(_to_module(sums, ctx), _to_module(c, ctx), _to_module(indptr, ctx),
                (rows, cols), ctx)


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):
    """An all-zero array of storage type ``stype`` ('default', 'row_sparse' or 'csr').

    Example::

        >>> mx.nd.sparse.zeros('csr', (2, 3)).indptr.asnumpy().tolist()
        [0, 0, 0]
    """
    ctx = _ctx(ctx)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    dt = dtype_np(dtype)
    xp = ctx.xp
    if stype in (None, 'default'):
        return _dense.zeros(shape, ctx=ctx, dtype=dt)
    with ctx.device():
        if stype == 'row_sparse':
            return _rsp(xp.empty(0, dtype=np.int64), xp.empty((0,) + shape[1:], dtype=dt),
                        shape, ctx)
        if stype == 'csr':
            if len(shape) != 2:
                raise MXNetError('a csr array is 2-D, not of shape %s' % (shape,))
            return _csr(xp.empty(0, dtype=dt), xp.empty(0, dtype=np.int64),
                        xp.zeros(shape[0] + 1, dtype=np.int64), shape, ctx)
    raise MXNetError('unknown storage type %r; MXNet\'s are %s' % (stype, ', '.join(_STYPES)))


def empty(stype, shape, ctx=None, dtype=None):
    """An array of storage type ``stype`` holding no values (zeros, for sparse types)."""
    return zeros(stype, shape, ctx, dtype)


def array(source_array, ctx=None, dtype=None):
    """A sparse array from a RowSparseNDArray, CSRNDArray or scipy sparse matrix (a copy in
    the same storage type)."""
    if isinstance(source_array, RowSparseNDArray):
        return row_sparse_array(source_array, ctx=ctx, dtype=dtype)
    if isinstance(source_array, CSRNDArray) or hasattr(source_array, 'tocsr'):
        return csr_matrix(source_array, ctx=ctx, dtype=dtype)
    raise MXNetError('mx.nd.sparse.array takes a RowSparseNDArray, CSRNDArray or scipy '
                     'sparse matrix, not %s; use tostype to make a sparse array from a dense '
                     'one' % type(source_array).__name__)


# ---- conversions and operators -------------------------------------------------------------
def cast_storage(data, stype):
    """``data`` (an NDArray of any storage type) as a new array of storage type ``stype``.

    Dense to row-sparse keeps the rows that hold a non-zero value; to CSR the non-zero values.

    Example::

        >>> x = mx.nd.array([[0, 0], [1, 0], [0, 0]])
        >>> mx.nd.cast_storage(x, 'row_sparse').indices.asnumpy().tolist()
        [1]
    """
    if not isinstance(data, NDArray):
        raise MXNetError('cast_storage takes an NDArray, not %s' % type(data).__name__)
    if stype not in _STYPES:
        raise MXNetError('unknown storage type %r; MXNet\'s are %s' % (stype, ', '.join(_STYPES)))
    if data.stype == stype:
        return data.copy()
    ctx, xp = data.context, data.context.xp
    dense = data._dense_raw() if data._sparse else data._data
    if stype == 'default':
        return _wrap(dense if data._sparse else dense.copy(), ctx)
    with ctx.device():
        if stype == 'row_sparse':
            if dense.ndim == 0:
                dense = dense.reshape(1)
            rows = xp.flatnonzero(xp.any(dense.reshape(dense.shape[0], -1) != 0, axis=1))
            return _rsp(rows.astype(np.int64, copy=False), dense[rows], dense.shape, ctx)
        if dense.ndim != 2:
            raise MXNetError('cast_storage to csr needs a 2-D array, not shape %s'
                             % (tuple(dense.shape),))
        r, c = xp.nonzero(dense)
        indptr = xp.zeros(dense.shape[0] + 1, dtype=np.int64)
        xp.cumsum(xp.bincount(r, minlength=dense.shape[0]), out=indptr[1:])
        return _csr(dense[r, c], c.astype(np.int64, copy=False), indptr, dense.shape, ctx)


def retain(data, indices):
    """The rows ``indices`` of row-sparse ``data`` as a RowSparseNDArray: each requested row
    (once, in increasing order), zero where ``data`` has no such row.

    Example::

        >>> g = mx.nd.sparse.row_sparse_array(([[1, 1]], [2]), shape=(4, 2))
        >>> r = mx.nd.sparse.retain(g, mx.nd.array([3, 2]))
        >>> r.indices.asnumpy().tolist(), r.data.asnumpy().tolist()
        ([2, 3], [[1.0, 1.0], [0.0, 0.0]])
    """
    if not isinstance(data, RowSparseNDArray):
        raise MXNetError('retain takes a RowSparseNDArray, not %s' % type(data).__name__)
    ctx, xp = data.context, data.context.xp
    rows = xp.unique(_int_array(indices, ctx, 'retain indices'))
    return _rsp(rows, gather_rows(xp, data._sp, rows), data.shape, ctx)


def gather_rows(xp, storage, rows):
    """The values of ``rows`` (sorted, distinct) of row-sparse ``storage``: its own where it
    has them, zeros elsewhere."""
    held = xp.asarray(storage.indices)
    vals = xp.asarray(storage.values)
    out = xp.zeros((rows.shape[0],) + tuple(storage.shape[1:]), dtype=vals.dtype)
    if held.shape[0] and rows.shape[0]:
        pos = xp.searchsorted(held, rows)
        pos = xp.minimum(pos, held.shape[0] - 1)
        hit = held[pos] == rows
        out[hit] = vals[pos[hit]]
    return out


def dot(lhs, rhs, transpose_a=False, transpose_b=False, forward_stype=None):
    """The matrix product, with sparse kernels for a CSR ``lhs``: ``csr . dense`` is dense,
    ``csr.T . dense`` (``transpose_a=True``) row-sparse; other storage types compute densely.
    ``forward_stype`` asks for the output's storage type.

    Example::

        >>> x = mx.nd.array([[0, 2], [1, 0]]).tostype('csr')
        >>> mx.nd.sparse.dot(x, mx.nd.ones((2, 3))).asnumpy().tolist()
        [[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]
        >>> mx.nd.sparse.dot(x, mx.nd.ones((2, 1)), transpose_a=True).stype
        'row_sparse'
    """
    if isinstance(lhs, CSRNDArray) and not transpose_b and rhs.ndim == 2 and \
            lhs.shape[0 if transpose_a else 1] == rhs.shape[0]:
        out = _csr_dot(lhs, rhs, transpose_a)
    else:
        from ..ops import get
        from .op import invoke
        dense = [a.todense() if a._sparse else a for a in (lhs, rhs)]
        out = invoke(get('dot'), dense, {'transpose_a': transpose_a,
                                         'transpose_b': transpose_b})
    if forward_stype is not None and out.stype != forward_stype:
        out = cast_storage(out, forward_stype)
    return out


def _csr_dot(lhs, rhs, transpose_a):
    ctx, xp, sp = lhs.context, lhs.context.xp, lhs._sp
    right = _to_module(rhs._data, ctx)
    dt = np.result_type(sp.data.dtype, right.dtype)
    rows = lhs._row_of_values()
    if transpose_a:
        # value (i, j) sends data * right[i] to row j of the result
        contrib = sp.data.astype(dt, copy=False)[:, None] * right[rows]
        idx, vals = sum_rows(xp, sp.indices, contrib)
        return _rsp(idx, vals, (lhs.shape[1], right.shape[1]), ctx)
    contrib = sp.data.astype(dt, copy=False)[:, None] * right[sp.indices]
    with ctx.device():
        out = xp.zeros((lhs.shape[0], right.shape[1]), dtype=dt)
    if contrib.shape[0]:
        if xp is np:
            full = np.flatnonzero(np.diff(sp.indptr) > 0)
            out[full] = np.add.reduceat(contrib, sp.indptr[:-1][full], axis=0)
        else:
            xp.add.at(out, rows, contrib)
    return _wrap(out, ctx)


def _binary(name, rsp_sign=None):
    def fn(lhs, rhs):
        if rsp_sign is not None and isinstance(lhs, RowSparseNDArray) and \
                isinstance(rhs, RowSparseNDArray) and lhs.shape == rhs.shape:
            return lhs + rhs if rsp_sign > 0 else lhs - rhs
        from .. import ndarray as nd
        return getattr(nd, name)(lhs, rhs)
    fn.__name__ = name
    fn.__doc__ = ('``mx.nd.%s``; two row-sparse arrays of one shape give a row-sparse '
                  'result.' % name if rsp_sign is not None else 'Same as ``mx.nd.%s``.' % name)
    return fn


add = _binary('add', 1)
subtract = _binary('subtract', -1)
multiply = _binary('multiply')
divide = _binary('divide')


def zeros_like(data):
    """Zeros of ``data``'s shape, dtype and storage type."""
    return data.zeros_like()


# ---- the sparse kernels of mx.nd operators -------------------------------------------------
#: operators whose value at 0 is 0: on a sparse array they apply to the stored values only
_ZERO_KEEPING = {'square', 'sqrt', 'abs', 'sign', 'negative', 'relu', 'sin', 'tan', 'tanh',
                 'arcsin', 'arctan', 'sinh', 'arcsinh', 'arctanh', 'expm1', 'log1p', 'floor',
                 'ceil', 'round', 'rint', 'trunc', 'fix', 'radians', 'degrees', 'cbrt',
                 '_mul_scalar', '_div_scalar', 'clip'}


def _on_values(cls, params, arrays):
    x = arrays[0]
    if len(arrays) != 1 or not x._sparse:
        return NotImplemented
    if cls.name == 'clip' and not (params.get('a_min', 0) <= 0 <= params.get('a_max', 0)):
        return NotImplemented
    if cls.name == '_div_scalar' and float(params.get('scalar', 1)) == 0:
        return NotImplemented
    from .op import invoke
    if isinstance(x, RowSparseNDArray):
        vals = invoke(cls, [_wrap(x._sp.values, x.context)], dict(params))
        return _rsp(x._sp.indices.copy(), vals._data, x.shape, x.context)
    vals = invoke(cls, [_wrap(x._sp.data, x.context)], dict(params))
    return _csr(vals._data, x._sp.indices.copy(), x._sp.indptr.copy(), x.shape, x.context)


def _rsp_sum(cls, params, arrays):
    if len(arrays) < 2 or not all(isinstance(a, RowSparseNDArray) and a.shape == arrays[0].shape
                                  for a in arrays):
        return NotImplemented
    if cls.name == 'elemwise_sub':
        return arrays[0] - arrays[1]
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


def _same_stype_via_dense(cls, params, arrays):
    stypes = {a.stype for a in arrays}
    if len(stypes) != 1 or 'default' in stypes:
        return NotImplemented
    from .op import invoke
    out = invoke(cls, [a.todense() for a in arrays], dict(params))
    return cast_storage(out, stypes.pop())


def _kernel_dot(cls, params, arrays):
    if len(arrays) != 2:
        return NotImplemented
    return dot(arrays[0], arrays[1], params.get('transpose_a', False),
               params.get('transpose_b', False), params.get('forward_stype'))


def _kernel_cast(cls, params, arrays):
    return cast_storage(arrays[0], params['stype'])


def _kernel_retain(cls, params, arrays):
    if not isinstance(arrays[0], RowSparseNDArray):
        return NotImplemented
    return retain(arrays[0], arrays[1])


def _kernel_zeros_like(cls, params, arrays):
    return arrays[0].zeros_like()


_KERNELS = dict.fromkeys(_ZERO_KEEPING, _on_values)
_KERNELS.update({'elemwise_add': _rsp_sum, 'elemwise_sub': _rsp_sum, 'add_n': _rsp_sum,
                 'elemwise_mul': _same_stype_via_dense, 'dot': _kernel_dot,
                 'cast_storage': _kernel_cast, '_sparse_retain': _kernel_retain,
                 'zeros_like': _kernel_zeros_like})


def sparse_kernel(cls, params, arrays):
    """The result of operator ``cls`` on ``arrays`` (some sparse) by its sparse kernel, or
    NotImplemented when it has none for these storage types (it then runs densely)."""
    kernel = _KERNELS.get(cls.name)
    return NotImplemented if kernel is None else kernel(cls, params, arrays)


def _namespace():
    """MXNet's ``mx.nd.sparse`` also carries these operators (with the kernels above).

    They shadow builtins (``slice``, ``sum``, ``abs``, ``round``) in this module, whose code
    uses none of them but ``slice``, through ``_slice``.
    """
    from .op import generated_functions
    fns = generated_functions()
    from ..ops.sparse import SPARSE_NAMESPACE as names
    g = globals()
    for name in names:
        if name in fns and name not in g:
            g[name] = fns[name]


_namespace()
