"""Operators of sparse storage (``row_sparse``, ``csr``) and the row arithmetic they share.

The executor computes on dense arrays; what is sparse here is a *gradient*: an operator that
lists an argument in ``sparse_grad_inputs()`` may be handed, for that argument's gradient, a
row-sparse buffer instead of an array (any object with ``stype == 'row_sparse'``, a full
``shape`` and an ``assign(indices, values)`` method; the executor's is
:class:`distmod.ndarray.sparse.RowSparseStorage`).  It then writes only the rows it touches.
Handed a plain array (the gradient check does), it writes the dense gradient as usual.

* ``_contrib_SparseEmbedding``: Embedding whose weight gradient is row-sparse;
* ``_square_sum``: the sum of squares over axes (MXNet's kernel for row-sparse inputs);
* ``cast_storage``: a storage-type cast, which on the executor's dense arrays is a copy;
* ``_sparse_retain``: the rows of ``data`` listed in ``indices`` (``mx.nd.sparse.retain``).
"""
import numpy as np

# one row arithmetic for gradients and for the store that sums them across ranks (the same
# fixed order, so the sums are bit-identical wherever they are made): the kvstore package's
from kvstore import is_row_sparse, sum_rows

from .registry import Operator, Param, Sample, register
from .reduce import Reduce

__all__ = ['sum_rows', 'is_row_sparse', 'write_row_gradient', 'SparseEmbedding', 'SquareSum',
           'CastStorage', 'SparseRetain']

#: The operators MXNet 1.9.1 also puts in ``mx.nd.sparse`` and ``mx.sym.sparse`` (those
#: distmod has are put there; the sparse kernels of ``ndarray.sparse`` serve them).
SPARSE_NAMESPACE = ('abs', 'add_n', 'arccos', 'arccosh', 'arcsin', 'arcsinh', 'arctan',
                    'arctanh', 'broadcast_add', 'broadcast_div', 'broadcast_minus',
                    'broadcast_mul', 'broadcast_plus', 'broadcast_sub', 'cbrt', 'ceil', 'clip',
                    'concat', 'cos', 'cosh', 'degrees', 'elemwise_add', 'elemwise_div',
                    'elemwise_mul', 'elemwise_sub', 'exp', 'expm1', 'fix', 'floor', 'gamma',
                    'gammaln', 'log', 'log10', 'log1p', 'log2', 'make_loss', 'mean',
                    'negative', 'norm', 'radians', 'relu', 'rint', 'round', 'rsqrt', 'sigmoid',
                    'sign', 'sin', 'sinh', 'slice', 'sqrt', 'square', 'stop_gradient', 'sum',
                    'tan', 'tanh', 'trunc', 'where', 'Embedding', 'FullyConnected',
                    'LinearRegressionOutput', 'LogisticRegressionOutput',
                    'MAERegressionOutput', 'ElementWiseSum', 'dot', 'zeros_like',
                    'cast_storage', 'sgd_update', 'sgd_mom_update', 'adam_update',
                    'adagrad_update', 'ftrl_update')


def write_row_gradient(xp, grad, ids, rows):
    """Rows ``rows[i]`` of a gradient, added at row ``ids[i]``, into ``grad``: a row-sparse
    buffer gets only the rows touched (summed), a dense array every row."""
    if is_row_sparse(grad):
        grad.assign(*sum_rows(xp, ids, rows))
    else:
        grad.fill(0)
        xp.add.at(grad, ids, rows)


def _ids(rng, shape, high=5):
    return rng.integers(0, high, shape).astype(np.float64)


@register
class SparseEmbedding(Operator):
    """Embedding whose weight gradient is row-sparse: only the rows looked up carry one.

    Example::

        >>> w = mx.nd.array([[0, 1], [2, 3], [4, 5]])
        >>> mx.nd.contrib.SparseEmbedding(mx.nd.array([2, 0]), w, input_dim=3,
        ...                               output_dim=2).asnumpy()
        array([[4., 5.],
               [0., 1.]], dtype=float32)
    """
    name = '_contrib_SparseEmbedding'
    params = {'input_dim': Param('int'), 'output_dim': Param('int'),
              'dtype': Param('dtype', 'float32'), 'deterministic': Param('bool', False)}
    arguments = ('data', 'weight')
    nondiff = ('data',)
    retain_inputs = (0,)
    retain_outputs = ()
    samples = (Sample({'input_dim': 5, 'output_dim': 3, 'dtype': 'float64'}, {'data': (2, 3)},
                      values={'data': _ids}),)

    def sparse_grad_inputs(self):
        """Positions whose gradient this operator can write as row-sparse: the weight's."""
        return (1,)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        w = (self.input_dim, self.output_dim)
        return [s, w], [None if s is None else tuple(s) + (self.output_dim,)], []

    def infer_type(self, in_types):
        return [in_types[0] or self.dtype, self.dtype], [self.dtype], []

    def _ids(self, xp, data):
        ids = data.astype(np.int64).reshape(-1)
        return xp.clip(ids, 0, self.input_dim - 1, out=ids)

    def forward(self, xp, ins, outs, aux, is_train):
        xp.take(ins[1], self._ids(xp, ins[0]), axis=0, out=outs[0].reshape(-1, self.output_dim))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[1] is not None:
            write_row_gradient(xp, igrads[1], self._ids(xp, ins[0]),
                               ograds[0].reshape(-1, self.output_dim))


@register
class SquareSum(Reduce):
    """The sum of squares over ``axis`` (every axis by default), as ``sum(square(data))``.

    Example::

        >>> mx.nd._internal._square_sum(mx.nd.array([[1, 2], [3, 0]]), axis=1).asnumpy()
        array([5., 9.], dtype=float32)
    """
    name = '_square_sum'
    retain_inputs = (0,)
    samples = (Sample({'axis': 1}, {'data': (3, 4)}),
               Sample({'axis': 1, 'keepdims': True}, {'data': (3, 4)}),
               Sample({}, {'data': (2, 3)}))

    def reduce(self, xp, x, axes, out):
        xp.sum(xp.square(x), axis=axes, keepdims=True, out=out)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            xp.multiply(ins[0], self._head(ograds, ins[0]), out=igrads[0])
            igrads[0] *= 2


@register
class CastStorage(Operator):
    """Cast to storage type ``stype``; on the executor's dense arrays the values are copied.

    ``mx.nd.cast_storage`` on NDArrays returns the requested storage type (see
    ``mx.nd.sparse``).
    """
    name = 'cast_storage'
    params = {'stype': Param('str', choices={'default', 'row_sparse', 'csr'})}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'stype': 'row_sparse'}, {'data': (3, 2)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0]


def _row_ids(rng, shape):
    return np.array([0, 2], dtype=np.float64)


@register
class SparseRetain(Operator):
    """The rows of ``data`` listed in ``indices``; every other row is zero.

    On NDArrays ``mx.nd.sparse.retain`` takes and returns row-sparse arrays.
    """
    name = '_sparse_retain'
    arguments = ('data', 'indices')
    nondiff = ('indices',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({}, {'data': (4, 3), 'indices': (2,)}, values={'indices': _row_ids}),)

    def infer_shape(self, in_shapes):
        return [in_shapes[0], in_shapes[1]], [in_shapes[0]], []

    def infer_type(self, in_types):
        return [in_types[0], in_types[1] or 'int64'], [in_types[0]], []

    @staticmethod
    def _rows(ins):
        return ins[1].astype(np.int64).reshape(-1)

    def forward(self, xp, ins, outs, aux, is_train):
        rows = self._rows(ins)
        outs[0].fill(0)
        outs[0][rows] = ins[0][rows]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            rows = self._rows(ins)
            igrads[0].fill(0)
            igrads[0][rows] = ograds[0][rows]
