"""Indexing and sorting: pick, take, batch_take, one_hot, gather_nd, scatter_nd,
fill_element_0index, argmax, argmin, argmax_channel, argsort, sort and topk.

``differentiable = False`` marks the operators MXNet registers no gradient for (batch_take,
argmax_channel, fill_element_0index): MXNet refuses to bind a gradient that must flow through
them, and its unit test test_zero_prop2 checks that it does.  Their ``backward`` still gives
the mathematically right gradient (zero for argmax_channel).

MXNet's index conventions, which these share: index arrays may be of any dtype (floats are
truncated toward zero); ``mode='clip'`` clamps an index into range and ``'wrap'`` takes it
modulo the axis length (so -1 is the last element); ``gather_nd`` counts negative indices from
the end.  Gradients flow to the data, never to the indices (MXNet gives them zeros).  The
sorting operators are stable: equal values keep their order, ascending or descending.
"""
import numpy as np

from ..base import MXNetError
from .registry import Operator, Param, Sample, InferError, register
from ._util import prod, norm_axis
from .infer import merge_shape

__all__ = ['Pick', 'Take', 'BatchTake', 'OneHot', 'GatherND', 'ScatterND', 'ArgMax', 'ArgMin',
           'ArgSort', 'Sort', 'TopK']

_DTYPES = {'float16', 'float32', 'float64', 'int32', 'int64', 'uint8'}


def _known(shape):
    """True when ``shape`` is given and has no unknown (0) dimension."""
    return shape is not None and all(shape)


def _ids(xp, index, n, mode):
    """Integer positions from an index array (truncated toward zero), brought into
    ``[0, n)`` by ``mode``: 'clip', 'wrap', or 'raise' (an error when any is outside)."""
    ids = index.astype(np.int64)
    if mode == 'wrap':
        return xp.mod(ids, n)
    if mode == 'raise':
        if xp is np and ids.size and (ids.min() < 0 or ids.max() >= n):
            raise MXNetError('index out of range: indices must be in [0, %d), got [%d, %d]'
                             % (n, ids.min(), ids.max()))
    return xp.clip(ids, 0, n - 1)


def _as3d(shape, axis):
    """(before, along, after) sizes of ``shape`` split at ``axis``."""
    return prod(shape[:axis]), shape[axis], prod(shape[axis + 1:])


def _integer_labels(high, low=0):
    return lambda rng, shape: rng.integers(low, high, shape)


# ==========================================================================================
# Picking and taking

@register
class Pick(Operator):
    """From ``data``, the element at position ``index`` along ``axis`` for every other
    position: ``out[i, k] = data[i, index[i, k], k]`` for ``axis=1``.

    ``index`` has ``data``'s shape without ``axis``; ``mode`` 'clip' clamps out-of-range
    positions, 'wrap' takes them modulo the axis length.  ``keepdims`` keeps ``axis`` with
    size 1.  The gradient goes to the picked elements of ``data``.

    Example::

        >>> x = mx.nd.array([[1, 2], [3, 4], [5, 6]])
        >>> mx.nd.pick(x, mx.nd.array([0, 1, 0]), axis=1).asnumpy()
        array([1., 4., 5.], dtype=float32)
    """
    name = 'pick'
    aliases = ('choose_element_0index',)
    params = {'axis': Param('int_or_none', -1), 'keepdims': Param('bool', False),
              'mode': Param('str', 'clip', choices={'clip', 'wrap'})}
    arguments = ('data', 'index')
    nondiff = ('index',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({'axis': 1}, {'data': (3, 4)}, values={'index': _integer_labels(4)}),
               Sample({'axis': 0, 'keepdims': True}, {'data': (3, 2, 2)},
                      values={'index': _integer_labels(3)}),
               Sample({'mode': 'wrap'}, {'data': (2, 3)},
                      values={'index': lambda r, s: np.array([-1, 4])}),
               Sample({'axis': 1}, {'data': (2, 3, 2)},
                      values={'index': lambda r, s: np.array([[0, 7], [-2, 1.5]])}))

    def _axis(self, ndim):
        if self.axis is None:
            raise InferError('pick: axis=None is not supported (as in MXNet); give an axis')
        return norm_axis(self.axis, ndim)

    def infer_shape(self, in_shapes):
        d, index = in_shapes
        if d is None:
            return [d, index], [None], []
        a = self._axis(len(d))
        rest = tuple(d[:a]) + tuple(d[a + 1:])
        want = rest or (1,)
        if index is not None:
            merged = merge_shape(index, want)
            if merged is None:
                if not (_known(index) and _known(want) and prod(index) == prod(want)):
                    raise InferError('index of shape %s does not fit data of shape %s along '
                                     'axis %d (want %s)' % (tuple(index), tuple(d), a, want))
                merged = tuple(index)     # the same positions in another layout: as MXNet
            want = merged
        out = tuple(d[:a]) + (1,) + tuple(d[a + 1:]) if self.keepdims else rest or (1,)
        return [tuple(d), want], [out], []

    def infer_type(self, in_types):
        return [in_types[0], in_types[1]], [in_types[0]], []

    def _where(self, xp, x_shape, index):
        a = self._axis(len(x_shape))
        before, n, after = _as3d(x_shape, a)
        ids = _ids(xp, index, n, self.mode).reshape(before, after)
        rows = xp.arange(before).reshape(-1, 1)
        cols = xp.arange(after).reshape(1, -1)
        return (before, n, after), (rows, ids, cols)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        shape3, where = self._where(xp, x.shape, ins[1])
        outs[0][...] = x.reshape(shape3)[where].reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            shape3, where = self._where(xp, dx.shape, ins[1])
            dx.fill(0)
            dx.reshape(shape3)[where] = ograds[0].reshape(shape3[0], shape3[2])
        if igrads[1] is not None:
            igrads[1].fill(0)


def _scatter_add_rows(xp, dx2, ids, g2):
    """``dx2[ids[k]] += g2[k]`` for every k, repeated ids summed."""
    xp.add.at(dx2, ids, g2)


@register
class Take(Operator):
    """Whole slices of ``a`` along ``axis`` at the positions ``indices``: the output's shape is
    ``a.shape[:axis] + indices.shape + a.shape[axis + 1:]``.

    ``mode``: 'clip' (default) clamps positions into range, 'wrap' takes them modulo the axis
    length, 'raise' refuses out-of-range positions.  The gradient sums into the taken slices.

    Example::

        >>> a = mx.nd.array([[1, 2], [3, 4], [5, 6]])
        >>> mx.nd.take(a, mx.nd.array([2, 0])).asnumpy()
        array([[5., 6.],
               [1., 2.]], dtype=float32)
    """
    name = 'take'
    params = {'axis': Param('int', 0), 'mode': Param('str', 'clip',
                                                     choices={'clip', 'raise', 'wrap'})}
    arguments = ('a', 'indices')
    nondiff = ('indices',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({}, {'a': (3, 4), 'indices': (2, 2)},
                      values={'indices': lambda r, s: np.array([[0, 2], [2, 5]])}),
               Sample({'axis': 1, 'mode': 'wrap'}, {'a': (2, 3, 2), 'indices': (4,)},
                      values={'indices': lambda r, s: np.array([-1, 0, 4, 1.5])}),
               Sample({'axis': -1}, {'a': (2, 3), 'indices': (2,)},
                      values={'indices': _integer_labels(3)}))

    def infer_shape(self, in_shapes):
        a, idx = in_shapes
        if a is None or not _known(idx):
            return [a, idx], [None], []       # as MXNet: the indices' shape must be known
        ax = norm_axis(self.axis, len(a))
        return [tuple(a), tuple(idx)], [tuple(a[:ax]) + tuple(idx) + tuple(a[ax + 1:])], []

    def infer_type(self, in_types):
        return [in_types[0], in_types[1]], [in_types[0]], []

    def forward(self, xp, ins, outs, aux, is_train):
        a = ins[0]
        ax = norm_axis(self.axis, a.ndim)
        ids = _ids(xp, ins[1], a.shape[ax], self.mode)
        outs[0][...] = xp.take(a, ids, axis=ax)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        da = igrads[0]
        if da is not None:
            ax = norm_axis(self.axis, da.ndim)
            ids = _ids(xp, ins[1], da.shape[ax], self.mode).reshape(-1)
            before, n, after = _as3d(da.shape, ax)
            g = ograds[0].reshape(before, ids.size, after)
            # move the taken axis first so that one scatter-add does every slice
            work = xp.zeros((n, before, after), dtype=da.dtype)
            _scatter_add_rows(xp, work, ids, g.transpose(1, 0, 2))
            da.reshape(before, n, after)[...] = work.transpose(1, 0, 2)
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class BatchTake(Operator):
    """``out[i] = a[i, indices[i]]`` over ``a`` viewed as (rows, last axis), one position per
    row (clamped into range).  MXNet deprecates it in favour of ``pick``; the indices are
    int32.  MXNet registers no gradient for it (``differentiable = False``: binding a
    gradient through it is MXNet's error); ``backward`` gives the taken elements theirs.

    Example::

        >>> a = mx.nd.array([[1, 2], [3, 4], [5, 6]])
        >>> mx.nd.batch_take(a, mx.nd.array([1, 0, 1], dtype='int32')).asnumpy()
        array([2., 3., 6.], dtype=float32)
    """
    name = 'batch_take'
    differentiable = False
    arguments = ('a', 'indices')
    nondiff = ('indices',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({}, {'a': (3, 4), 'indices': (3,)},
                      values={'indices': lambda r, s: np.array([0, 5, -1])}),
               Sample({}, {'a': (2, 3, 2), 'indices': (2, 3)},
                      values={'indices': _integer_labels(2)}))

    def infer_shape(self, in_shapes):
        a, idx = in_shapes
        if idx is None:
            return [a, idx], [None], []
        if _known(a) and _known(idx) and prod(a) // a[-1] != prod(idx):
            raise InferError('batch_take: indices of shape %s need one position per row of a '
                             '%s (%d rows)' % (tuple(idx), tuple(a), prod(a) // a[-1]))
        return [a, tuple(idx)], [tuple(idx)], []

    def infer_type(self, in_types):
        return [in_types[0], 'int32'], [in_types[0]], []

    def _where(self, xp, a_shape, index):
        m = a_shape[-1]
        ids = _ids(xp, index, m, 'clip').reshape(-1)
        return (ids.size, m), (xp.arange(ids.size), ids)

    def forward(self, xp, ins, outs, aux, is_train):
        shape2, where = self._where(xp, ins[0].shape, ins[1])
        outs[0][...] = ins[0].reshape(shape2)[where].reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        da = igrads[0]
        if da is not None:
            shape2, where = self._where(xp, da.shape, ins[1])
            da.fill(0)
            da.reshape(shape2)[where] = ograds[0].reshape(-1)
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class OneHot(Operator):
    """One-hot rows: ``indices`` of any shape give ``indices.shape + (depth,)``, with
    ``on_value`` at each index and ``off_value`` elsewhere (an index outside ``[0, depth)``
    gives a row of ``off_value``).

    Example::

        >>> mx.nd.one_hot(mx.nd.array([1, 0]), depth=3).asnumpy()
        array([[0., 1., 0.],
               [1., 0., 0.]], dtype=float32)
    """
    name = 'one_hot'
    params = {'depth': Param('int'), 'on_value': Param('float', 1.0),
              'off_value': Param('float', 0.0),
              'dtype': Param('dtype', 'float32', choices=_DTYPES | {'int8', 'bfloat16'})}
    arguments = ('indices',)
    nondiff = ('indices',)
    retain_inputs = retain_outputs = ()
    zero_gradient = True
    samples = (Sample({'depth': 4}, {'indices': (2, 3)},
                      values={'indices': _integer_labels(5, -1)}),
               Sample({'depth': 3, 'on_value': 2.5, 'off_value': -1, 'dtype': 'float64'},
                      {'indices': (4,)}, values={'indices': _integer_labels(3)}))

    def infer_shape(self, in_shapes):
        idx = in_shapes[0]
        if not _known(idx):
            return [idx], [None], []          # as MXNet: the indices' shape must be known
        return [tuple(idx)], [tuple(idx) + (self.depth,)], []

    def infer_type(self, in_types):
        return [in_types[0]], [self.dtype], []

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0].reshape(-1, self.depth)
        out.fill(self.off_value)
        ids = ins[0].reshape(-1).astype(np.int64)
        rows = xp.nonzero((ids >= 0) & (ids < self.depth))[0]
        out[rows, ids[rows]] = self.on_value

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)


@register
class RavelMultiIndex(Operator):
    """Flat positions in an array of ``shape`` from coordinates: ``data`` (len(shape), ...) ->
    (...), ``sum(data[k] * stride[k])`` (row-major strides; not bounds-checked, as MXNet's).

    Example::

        >>> mx.nd.ravel_multi_index(mx.nd.array([[3, 6], [4, 5]]), shape=(7, 6)).asnumpy()
        array([22., 41.], dtype=float32)
    """
    name = '_ravel_multi_index'
    aliases = ('ravel_multi_index',)
    params = {'shape': Param('shape')}
    arguments = ('data',)
    nondiff = ('data',)
    retain_inputs = retain_outputs = ()
    zero_gradient = True
    samples = (Sample({'shape': (3, 4)}, {'data': (2, 5)}, values={'data': _integer_labels(3)}),)

    def _strides(self):
        """Row-major strides of ``shape`` (an unknown -1 dimension counts as 1)."""
        dims = [max(int(d), 1) for d in self.shape]
        strides = [1] * len(dims)
        for k in range(len(dims) - 2, -1, -1):
            strides[k] = strides[k + 1] * dims[k + 1]
        return strides

    def infer_shape(self, in_shapes):
        d = in_shapes[0]
        if not _known(d):
            return [d], [None], []
        if d[0] != len(self.shape):
            raise InferError('ravel_multi_index: data has %d coordinates per position, shape '
                             '%s needs %d' % (d[0], tuple(self.shape), len(self.shape)))
        return [tuple(d)], [tuple(d[1:]) or (1,)], []

    def forward(self, xp, ins, outs, aux, is_train):
        ids = ins[0].astype(np.int64)
        flat = sum(ids[k] * st for k, st in enumerate(self._strides()))
        outs[0][...] = xp.asarray(flat).reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)


@register
class UnravelIndex(RavelMultiIndex):
    """Coordinates in an array of ``shape`` from flat positions: ``data`` (...) ->
    (len(shape), ...); the first coordinate is not wrapped (``shape[0]`` may be -1).

    Example::

        >>> mx.nd.unravel_index(mx.nd.array([22, 41]), shape=(7, 6)).asnumpy()
        array([[3., 6.],
               [4., 5.]], dtype=float32)
    """
    name = '_unravel_index'
    aliases = ('unravel_index',)
    samples = (Sample({'shape': (3, 4)}, {'data': (5,)}, values={'data': _integer_labels(12)}),)

    def infer_shape(self, in_shapes):
        d = in_shapes[0]
        if not _known(d):
            return [d], [None], []
        return [tuple(d)], [(len(self.shape),) + tuple(d)], []

    def forward(self, xp, ins, outs, aux, is_train):
        ids = ins[0].astype(np.int64)
        dims = [int(x) for x in self.shape]
        rest = ids
        for k in range(len(dims) - 1, 0, -1):
            outs[0][k] = rest % dims[k]
            rest = rest // dims[k]
        outs[0][0] = rest


def _nd_index(xp, indices, data_shape, check=True):
    """The tuple of integer index arrays that ``indices`` (M, ...) gives for the first M axes
    of ``data``, negative positions counted from the end (an error outside, on the CPU)."""
    ids = indices.astype(np.int64)
    m = ids.shape[0]
    if m > len(data_shape):
        raise MXNetError('gather_nd/scatter_nd: indices.shape[0]=%d exceeds the %d axes of '
                         'data' % (m, len(data_shape)))
    bound = xp.asarray(np.array(data_shape[:m], dtype=np.int64).reshape((m,) + (1,) *
                                                                         (ids.ndim - 1)))
    if check and xp is np and ids.size and ((ids < -bound).any() or (ids >= bound).any()):
        raise MXNetError('gather_nd/scatter_nd: an index is out of range for axes %s'
                         % (tuple(data_shape[:m]),))
    return tuple(xp.mod(ids, bound))


@register
class GatherND(Operator):
    """Gather elements or slices of ``data`` at N-d positions: ``indices`` of shape (M, Y...)
    holds one position over ``data``'s first M axes per Y, and the output is
    ``Y + data.shape[M:]``.  Repeated positions sum their gradients.

    Example::

        >>> d = mx.nd.array([[1, 2], [3, 4]])
        >>> mx.nd.gather_nd(d, mx.nd.array([[1, 0], [0, 1]])).asnumpy()
        array([3., 2.], dtype=float32)
    """
    name = 'gather_nd'
    arguments = ('data', 'indices')
    nondiff = ('indices',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({}, {'data': (2, 3, 4), 'indices': (2, 5)},
                      values={'indices': lambda r, s: np.array([[1, 0, 1, 1, -1],
                                                                [2, 0, 2, -3, 1]])}),
               Sample({}, {'data': (3, 2), 'indices': (2, 2, 2)},
                      values={'indices': lambda r, s: np.array([[[0, 2], [1, 1]],
                                                                [[1, 0], [0, 1]]])}))

    def infer_shape(self, in_shapes):
        d, idx = in_shapes
        if not (_known(d) and _known(idx)):
            return [d, idx], [None], []       # as MXNet: both shapes must be known
        m = idx[0]
        if m > len(d):
            raise InferError('gather_nd: indices of shape %s index %d axes of data of shape %s'
                             % (tuple(idx), m, tuple(d)))
        return [tuple(d), tuple(idx)], [tuple(idx[1:]) + tuple(d[m:]) or (1,)], []

    def infer_type(self, in_types):
        return [in_types[0], in_types[1]], [in_types[0]], []

    def forward(self, xp, ins, outs, aux, is_train):
        d = ins[0]
        outs[0][...] = d[_nd_index(xp, ins[1], d.shape)].reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dd = igrads[0]
        if dd is not None:
            where = _nd_index(xp, ins[1], dd.shape, check=False)
            dd.fill(0)
            shape = where[0].shape + dd.shape[len(where):]
            xp.add.at(dd, where, ograds[0].reshape(shape))
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class ScatterND(Operator):
    """The inverse of ``gather_nd``: an array of ``shape``, zero except at the positions
    ``indices`` (M, Y...), which receive ``data`` (shape ``Y + shape[M:]``).  Where a position
    repeats, one of its values is kept (the gradient goes to all of them, as in MXNet).

    Example::

        >>> mx.nd.scatter_nd(mx.nd.array([5, 7]), mx.nd.array([[1, 0], [0, 1]]),
        ...                  shape=(2, 2)).asnumpy()
        array([[0., 7.],
               [5., 0.]], dtype=float32)
    """
    name = 'scatter_nd'
    params = {'shape': Param('shape')}
    arguments = ('data', 'indices')
    nondiff = ('indices',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({'shape': (2, 3)}, {'data': (3,), 'indices': (2, 3)},
                      values={'indices': lambda r, s: np.array([[1, 0, 1], [2, 0, 0]])}),
               Sample({'shape': (3, 2, 2)}, {'data': (2, 2, 2), 'indices': (1, 2)},
                      values={'indices': lambda r, s: np.array([[2, 0]])}))

    def infer_shape(self, in_shapes):
        d, idx = in_shapes
        if _known(d) and _known(idx):
            want = tuple(idx[1:]) + tuple(self.shape[idx[0]:])
            if prod(want) != prod(d):
                raise InferError('scatter_nd: data of shape %s does not fit indices %s into '
                                 'shape %s (want %s)' % (tuple(d), tuple(idx), self.shape,
                                                         want))
        return [d, idx], [tuple(self.shape)], []

    def infer_type(self, in_types):
        return [in_types[0], in_types[1]], [in_types[0]], []

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        where = _nd_index(xp, ins[1], out.shape)
        out.fill(0)
        out[where] = ins[0].reshape(where[0].shape + out.shape[len(where):])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dd = igrads[0]
        if dd is not None:
            where = _nd_index(xp, ins[1], ograds[0].shape, check=False)
            dd[...] = ograds[0][where].reshape(dd.shape)
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class FillElement0Index(Operator):
    """``lhs`` with one element per row replaced: ``out[i, rhs[i]] = mhs[i]`` (an index
    outside the row leaves it as it is).  MXNet's legacy NDArray function, with no gradient
    (``differentiable = False``); ``backward`` gives ``lhs`` and ``mhs`` theirs.

    Example::

        >>> mx.nd.fill_element_0index(mx.nd.zeros((2, 3)), mx.nd.array([5, 6]),
        ...                           mx.nd.array([2, 0])).asnumpy()
        array([[0., 0., 5.],
               [6., 0., 0.]], dtype=float32)
    """
    name = 'fill_element_0index'
    differentiable = False
    arguments = ('lhs', 'mhs', 'rhs')
    nondiff = ('rhs',)
    retain_inputs = (2,)
    retain_outputs = ()
    samples = (Sample({}, {'lhs': (3, 4)}, values={'rhs': lambda r, s: np.array([1, 5, 3])}),)

    def infer_shape(self, in_shapes):
        lhs, mhs, rhs = in_shapes
        if lhs is None:
            return [lhs, mhs, rhs], [None], []
        if len(lhs) != 2:
            raise InferError('fill_element_0index needs a 2-D lhs, got %s' % (tuple(lhs),))
        return [tuple(lhs), (lhs[0],), (lhs[0],)], [tuple(lhs)], []

    def infer_type(self, in_types):
        t = in_types[0] or in_types[1]
        return [t, t, in_types[2]], [t], []

    def _where(self, xp, shape, index):
        ids = index.astype(np.int64)
        rows = xp.nonzero((ids >= 0) & (ids < shape[1]))[0]
        return rows, ids[rows]

    def forward(self, xp, ins, outs, aux, is_train):
        lhs, mhs, rhs = ins
        out = outs[0]
        out[...] = lhs
        rows, cols = self._where(xp, out.shape, rhs)
        out[rows, cols] = mhs[rows]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        g = ograds[0]
        rows, cols = self._where(xp, g.shape, ins[2])
        if igrads[0] is not None:
            igrads[0][...] = g
            igrads[0][rows, cols] = 0
        if igrads[1] is not None:
            igrads[1].fill(0)
            igrads[1][rows] = g[rows, cols]
        if igrads[2] is not None:
            igrads[2].fill(0)


# ==========================================================================================
# Arg-reductions and sorting

class _ArgReduce(Operator):
    """argmax/argmin: the position of the extremum along ``axis`` (the first one on ties; with
    ``axis=None``, in the flattened array), in the input's dtype.  No gradient."""
    params = {'axis': Param('int_or_none', None), 'keepdims': Param('bool', False)}
    retain_inputs = retain_outputs = ()
    zero_gradient = True
    reduction = None

    def _axis(self, ndim):
        return None if self.axis is None else norm_axis(self.axis, ndim)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []            # as MXNet: only from a known shape
        a = self._axis(len(s))
        if a is None:
            out = (1,) * len(s) if self.keepdims else (1,)
        elif self.keepdims:
            out = tuple(s[:a]) + (1,) + tuple(s[a + 1:])
        else:
            out = tuple(s[:a]) + tuple(s[a + 1:]) or (1,)
        return [tuple(s)], [out], []

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        a = self._axis(x.ndim)
        r = getattr(xp, self.reduction)(x.reshape(-1) if a is None else x, axis=0 if a is None
                                        else a)
        outs[0][...] = r.reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)


_ARG_SAMPLES = (Sample({'axis': 1}, {'data': (3, 4)}),
                Sample({'axis': 0, 'keepdims': True}, {'data': (3, 2)}),
                Sample({}, {'data': (2, 3)}))


@register
class ArgMax(_ArgReduce):
    """Positions of the maximum along ``axis``.

    Example::

        >>> mx.nd.argmax(mx.nd.array([[1, 5, 5], [7, 0, 2]]), axis=1).asnumpy()
        array([1., 0.], dtype=float32)
    """
    name = 'argmax'
    reduction = 'argmax'
    samples = _ARG_SAMPLES


@register
class ArgMin(_ArgReduce):
    """Positions of the minimum along ``axis``.

    Example::

        >>> mx.nd.argmin(mx.nd.array([[1, 5, 5], [7, 0, 2]]), axis=1).asnumpy()
        array([0., 1.], dtype=float32)
    """
    name = 'argmin'
    reduction = 'argmin'
    samples = _ARG_SAMPLES


@register
class ArgMaxChannel(ArgMax):
    """``argmax(data, axis=1)``: the best class per row of scores (N, C, ...).  Unlike
    ``argmax`` (a zero gradient), MXNet registers no gradient for it (``differentiable =
    False``).

    Example::

        >>> mx.nd.argmax_channel(mx.nd.array([[1, 5, 2], [7, 0, 2]])).asnumpy()
        array([1., 0.], dtype=float32)
    """
    name = 'argmax_channel'
    differentiable = False
    params = {}
    axis = 1
    keepdims = False
    samples = (Sample({}, {'data': (3, 4)}), Sample({}, {'data': (2, 3, 2)}))


def _stable_order(xp, x, axis, ascend):
    """Stable argsort along ``axis``; descending keeps equal values in their order too."""
    if not ascend:
        # negate in a signed type wide enough (unsigned and boolean values included)
        x = -(x.astype(np.float64) if x.dtype.kind == 'f' else x.astype(np.int64))
    if xp is np:
        return np.argsort(x, axis=axis, kind='stable')
    return xp.argsort(x, axis=axis)      # CuPy's sort is stable


class _Sorting(Operator):
    """Shared by sort, argsort and topk: the order along ``axis`` (None: of the flattened
    data), the ``k`` first positions of it, and a backward that sends the gradient of the
    values to where they came from (the positions are kept from forward)."""
    retain_inputs = retain_outputs = ()

    def _axis(self, ndim):
        return None if self.axis is None else norm_axis(self.axis, ndim)

    def _k(self, shape):
        a = self._axis(len(shape))
        n = prod(shape) if a is None else shape[a]
        k = getattr(self, 'k', 0)
        if k <= 0:
            return n
        if k > n:
            raise InferError('%s: k=%d exceeds the %d elements along the axis of data of '
                             'shape %s' % (self.name, k, n, tuple(shape)))
        return k

    def _picked_shape(self, shape):
        a = self._axis(len(shape))
        k = self._k(shape)
        if a is None:
            return (k,)
        return tuple(shape[:a]) + (k,) + tuple(shape[a + 1:])

    def _order(self, xp, x):
        """(data viewed along the sorted axis, the first k positions of the stable order)."""
        a = self._axis(x.ndim)
        if a is None:
            x, a = x.reshape(-1), 0
        order = _stable_order(xp, x, a, self.is_ascend)
        k = self._k(x.shape)
        if k < x.shape[a]:
            order = xp.take(order, xp.arange(k), axis=a)
        return x, a, order

    def _values(self, xp, x, a, order):
        return xp.take_along_axis(x, order, axis=a)

    def _keep(self, order, a):
        self._saved = (order, a)

    def _scatter_values_grad(self, xp, g, dx):
        """dx = 0 except at the picked positions, which get their value's gradient."""
        order, a = self._saved
        dx.fill(0)
        flat = dx.reshape(-1) if self._axis(dx.ndim) is None else dx
        g = g.reshape(order.shape)
        # MXNet's convention: distinct positions, so a plain put is a scatter
        _put_along_axis(xp, flat, order, g, a)


def _put_along_axis(xp, target, order, values, axis):
    """``target[..., order[..., i, ...], ...] = values`` along ``axis`` (distinct positions)."""
    before, n, after = _as3d(target.shape, axis)
    k = order.shape[axis]
    t3 = target.reshape(before, n, after)
    o3 = order.reshape(before, k, after)
    rows = xp.arange(before).reshape(-1, 1, 1)
    cols = xp.arange(after).reshape(1, 1, -1)
    t3[rows, o3, cols] = values.reshape(before, k, after)


@register
class Sort(_Sorting):
    """The values sorted along ``axis`` (None: the flattened data), ascending unless
    ``is_ascend=False``.  The gradient goes back to where each value came from.

    Example::

        >>> mx.nd.sort(mx.nd.array([[3, 1, 2]])).asnumpy()
        array([[1., 2., 3.]], dtype=float32)
    """
    name = 'sort'
    params = {'axis': Param('int_or_none', -1), 'is_ascend': Param('bool', True)}
    outputs = ('output0',)      # MXNet's sort has a hidden second output (the positions)
    samples = (Sample({}, {'data': (3, 4)}), Sample({'axis': 0, 'is_ascend': False},
                                                    {'data': (3, 2, 2)}),
               Sample({'axis': None}, {'data': (2, 3)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []
        return [tuple(s)], [(prod(s),) if self._axis(len(s)) is None else tuple(s)], []

    def forward(self, xp, ins, outs, aux, is_train):
        x, a, order = self._order(xp, ins[0])
        outs[0][...] = self._values(xp, x, a, order).reshape(outs[0].shape)
        self._keep(order, a)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            self._scatter_values_grad(xp, ograds[0], igrads[0])


@register
class ArgSort(_Sorting):
    """The positions that sort the data along ``axis`` (None: the flattened data), in
    ``dtype``; stable.  No gradient.

    Example::

        >>> mx.nd.argsort(mx.nd.array([[3, 1, 2]])).asnumpy()
        array([[1., 2., 0.]], dtype=float32)
    """
    name = 'argsort'
    params = {'axis': Param('int_or_none', -1), 'is_ascend': Param('bool', True),
              'dtype': Param('dtype', 'float32', choices=_DTYPES)}
    zero_gradient = True
    samples = (Sample({}, {'data': (3, 4)}), Sample({'axis': None, 'is_ascend': False,
                                                     'dtype': 'int32'}, {'data': (2, 3)}))

    def infer_shape(self, in_shapes):
        return Sort.infer_shape(self, in_shapes)

    def infer_type(self, in_types):
        return [in_types[0]], [self.dtype], []

    def forward(self, xp, ins, outs, aux, is_train):
        _, _, order = self._order(xp, ins[0])
        outs[0][...] = order.reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)


@register
class TopK(_Sorting):
    """The ``k`` largest (``is_ascend=True``: smallest) entries along ``axis`` (None: of the
    flattened data; ``k <= 0``: all of them).  ``ret_typ``: 'indices' (their positions, in
    ``dtype``), 'value', 'both' (values, then positions) or 'mask' (1 at the chosen
    positions, 0 elsewhere, in data's shape).  The values' gradient goes back to where they
    came from; positions and masks have none.

    Example::

        >>> mx.nd.topk(mx.nd.array([[3, 1, 2]]), k=2, ret_typ='value').asnumpy()
        array([[3., 2.]], dtype=float32)
    """
    name = 'topk'
    params = {'axis': Param('int_or_none', -1), 'k': Param('int', 1),
              'ret_typ': Param('str', 'indices', choices={'both', 'indices', 'mask', 'value'}),
              'is_ascend': Param('bool', False),
              'dtype': Param('dtype', 'float32', choices=_DTYPES)}
    outputs = ('output0', 'output1')
    samples = (Sample({'k': 2}, {'data': (3, 4)}),
               Sample({'k': 2, 'ret_typ': 'value', 'axis': 0}, {'data': (3, 2, 2)}),
               Sample({'k': 3, 'ret_typ': 'both', 'is_ascend': True, 'dtype': 'int32'},
                      {'data': (2, 4)}),
               Sample({'k': 2, 'ret_typ': 'mask', 'axis': None}, {'data': (2, 3)}),
               Sample({'k': 0, 'ret_typ': 'value', 'axis': None}, {'data': (2, 3)}))

    def setup(self):
        self.zero_gradient = self.ret_typ in ('indices', 'mask')

    def list_outputs(self):
        return {'both': ['output0', 'output1'], 'value': ['output0']}.get(self.ret_typ,
                                                                         ['output'])

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None] * self.output_count(), []
        if self.ret_typ == 'mask':
            return [tuple(s)], [tuple(s)], []
        picked = self._picked_shape(s)
        return [tuple(s)], [picked] * self.output_count(), []

    def infer_type(self, in_types):
        t = in_types[0]
        out = {'both': [t, self.dtype], 'value': [t], 'indices': [self.dtype]}.get(
            self.ret_typ, [t])
        return [t], out, []

    def forward(self, xp, ins, outs, aux, is_train):
        x, a, order = self._order(xp, ins[0])
        if self.ret_typ == 'mask':
            mask = outs[0]
            mask.fill(0)
            flat = mask.reshape(-1) if self._axis(mask.ndim) is None else mask
            _put_along_axis(xp, flat, order, xp.ones(order.shape, dtype=mask.dtype), a)
            return
        if self.ret_typ == 'indices':
            outs[0][...] = order.reshape(outs[0].shape)
            return
        outs[0][...] = self._values(xp, x, a, order).reshape(outs[0].shape)
        if self.ret_typ == 'both':
            outs[1][...] = order.reshape(outs[1].shape)
        self._keep(order, a)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        if self.ret_typ in ('value', 'both'):
            self._scatter_values_grad(xp, ograds[0], dx)
        else:
            dx.fill(0)
