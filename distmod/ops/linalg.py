"""Matrix products: ``dot``, ``batch_dot`` and ``khatri_rao``."""
from .registry import Operator, Param, Sample, InferError, register
from ._util import prod

__all__ = ['Dot', 'BatchDot', 'KhatriRao']

_STYPES = {None, 'csr', 'default', 'row_sparse'}


@register
class Dot(Operator):
    """Matrix product of ``lhs`` and ``rhs`` with MXNet's N-d rule.

    ``lhs`` is folded into a matrix over its last axis (its first with ``transpose_a``), ``rhs``
    over its first axis (its last with ``transpose_b``), and the output shape is the rest of
    ``lhs`` followed by the rest of ``rhs``: ``(2, 3, 4) . (4, 5, 6) -> (2, 3, 5, 6)``.  Two
    vectors give shape ``(1,)``.  ``forward_stype`` (a sparse-storage hint) is accepted and
    ignored: everything here is dense.

    Example::

        >>> mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((3, 4))).shape
        (2, 4)
    """
    name = 'dot'
    params = {'transpose_a': Param('bool', False), 'transpose_b': Param('bool', False),
              'forward_stype': Param('str_or_none', None, choices=_STYPES)}
    arguments = ('lhs', 'rhs')
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({}, {'lhs': (2, 3), 'rhs': (3, 4)}),
               Sample({}, {'lhs': (2, 3, 4), 'rhs': (4, 2, 3)}),
               Sample({'transpose_a': True}, {'lhs': (3, 2, 2), 'rhs': (3, 4)}),
               Sample({'transpose_b': True}, {'lhs': (2, 3), 'rhs': (2, 2, 3)}),
               Sample({'transpose_a': True, 'transpose_b': True},
                      {'lhs': (4, 3), 'rhs': (2, 4)}),
               Sample({}, {'lhs': (5,), 'rhs': (5,)}),
               Sample({}, {'lhs': (3,), 'rhs': (3, 4)}),
               Sample({}, {'lhs': (2, 3), 'rhs': (3,)}))

    def _split(self, lshape, rshape):
        """(m, k, n) and the output shape of the folded product."""
        ta, tb = self.transpose_a, self.transpose_b
        if (ta or tb) and len(lshape) == 1 and len(rshape) == 1:
            raise InferError('dot: cannot transpose vectors (lhs %s, rhs %s)'
                             % (tuple(lshape), tuple(rshape)))
        if ta:
            k, lrest = lshape[0], tuple(lshape[1:])
        else:
            k, lrest = lshape[-1], tuple(lshape[:-1])
        if tb:
            rk, rrest = rshape[-1], tuple(rshape[:-1])
        else:
            rk, rrest = rshape[0], tuple(rshape[1:])
        if k != rk:
            raise InferError('dot shape error: lhs %s and rhs %s (transpose_a=%s, '
                             'transpose_b=%s) contract %d with %d'
                             % (tuple(lshape), tuple(rshape), ta, tb, k, rk))
        return prod(lrest), k, prod(rrest), (lrest + rrest) or (1,)

    def infer_shape(self, in_shapes):
        lhs, rhs = in_shapes
        if lhs is None or rhs is None:
            return [lhs, rhs], [None], []
        if len(lhs) == 0 or len(rhs) == 0:
            raise InferError('dot needs arrays of at least 1 dimension, got lhs %s and rhs %s'
                             % (tuple(lhs), tuple(rhs)))
        return [tuple(lhs), tuple(rhs)], [self._split(lhs, rhs)[3]], []

    def _matrices(self, lhs, rhs):
        """``lhs`` and ``rhs`` as the (m, k) and (k, n) matrices of the product (views)."""
        m, k, n, _ = self._split(lhs.shape, rhs.shape)
        a = lhs.reshape(k, m).T if self.transpose_a else lhs.reshape(m, k)
        b = rhs.reshape(n, k).T if self.transpose_b else rhs.reshape(k, n)
        return a, b, m, n

    def forward(self, xp, ins, outs, aux, is_train):
        a, b, m, n = self._matrices(ins[0], ins[1])
        xp.dot(a, b, out=outs[0].reshape(m, n))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        a, b, m, n = self._matrices(ins[0], ins[1])
        g = ograds[0].reshape(m, n)
        dl, dr = igrads
        # d(a.b) = g.b^T for a and a^T.g for b; a transposed input gets the transpose, which
        # we compute directly as the product in the other order to write it in one pass
        if dl is not None:
            if self.transpose_a:
                xp.dot(b, g.T, out=dl.reshape(a.shape[1], m))
            else:
                xp.dot(g, b.T, out=dl.reshape(m, a.shape[1]))
        if dr is not None:
            if self.transpose_b:
                xp.dot(g.T, a, out=dr.reshape(n, b.shape[0]))
            else:
                xp.dot(a.T, g, out=dr.reshape(b.shape[0], n))


@register
class BatchDot(Operator):
    """Matrix products over leading batch axes: ``(B..., M, K) x (B..., K, N) -> (B..., M, N)``.

    ``transpose_a``/``transpose_b`` swap the last two axes of ``lhs``/``rhs`` first.

    Example::

        >>> mx.nd.batch_dot(mx.nd.ones((5, 2, 3)), mx.nd.ones((5, 3, 4))).shape
        (5, 2, 4)
    """
    name = 'batch_dot'
    params = Dot.params
    arguments = ('lhs', 'rhs')
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({}, {'lhs': (2, 3, 4), 'rhs': (2, 4, 2)}),
               Sample({'transpose_a': True}, {'lhs': (2, 4, 3), 'rhs': (2, 4, 2)}),
               Sample({'transpose_b': True}, {'lhs': (2, 3, 4), 'rhs': (2, 2, 4)}),
               Sample({'transpose_a': True, 'transpose_b': True},
                      {'lhs': (2, 2, 4, 3), 'rhs': (2, 2, 2, 4)}))

    def infer_shape(self, in_shapes):
        lhs, rhs = in_shapes
        if lhs is None or rhs is None:
            return [lhs, rhs], [None], []
        lhs, rhs = tuple(lhs), tuple(rhs)
        if len(lhs) < 3 or len(lhs) != len(rhs):
            raise InferError('batch_dot needs lhs and rhs of one rank >= 3, got lhs %s and '
                             'rhs %s' % (lhs, rhs))
        batch = tuple(a or b for a, b in zip(lhs[:-2], rhs[:-2]))
        if any(a and b and a != b for a, b in zip(lhs[:-2], rhs[:-2])):
            raise InferError('batch_dot: the leading batch dimensions must be equal, got '
                             'lhs %s and rhs %s' % (lhs, rhs))
        m, k = (lhs[-1], lhs[-2]) if self.transpose_a else lhs[-2:]
        rk, n = (rhs[-1], rhs[-2]) if self.transpose_b else rhs[-2:]
        if k != rk and not (k and rk):
            return [lhs, rhs], [None], []       # the contraction is not known: as MXNet
        lhs, rhs = batch + lhs[-2:], batch + rhs[-2:]
        if k != rk:
            raise InferError('batch_dot shape error: lhs %s and rhs %s (transpose_a=%s, '
                             'transpose_b=%s) contract %d with %d'
                             % (lhs, rhs, self.transpose_a, self.transpose_b, k, rk))
        return [lhs, rhs], [lhs[:-2] + (m, n)], []

    def _operands(self, lhs, rhs):
        a = lhs.swapaxes(-1, -2) if self.transpose_a else lhs
        b = rhs.swapaxes(-1, -2) if self.transpose_b else rhs
        return a, b

    def forward(self, xp, ins, outs, aux, is_train):
        a, b = self._operands(ins[0], ins[1])
        xp.matmul(a, b, out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        a, b = self._operands(ins[0], ins[1])
        g = ograds[0]
        dl, dr = igrads
        if dl is not None:
            if self.transpose_a:
                xp.matmul(b, g.swapaxes(-1, -2), out=dl)
            else:
                xp.matmul(g, b.swapaxes(-1, -2), out=dl)
        if dr is not None:
            if self.transpose_b:
                xp.matmul(g.swapaxes(-1, -2), a, out=dr)
            else:
                xp.matmul(a.swapaxes(-1, -2), g, out=dr)


@register
class KhatriRao(Operator):
    """The column-wise Kronecker product of matrices with one number of columns: inputs of
    shapes (r1, C), (r2, C)... give (r1*r2*..., C), ``out[(i1, i2, ...), c] = A1[i1, c] *
    A2[i2, c] * ...`` with the first input's row index varying slowest.  MXNet registers no
    gradient for it (``differentiable = False``: binding a gradient through it is MXNet's
    error); ``backward`` gives each input the gradient of the product.

    Example::

        >>> mx.nd.khatri_rao(mx.nd.array([[1, 2]]), mx.nd.array([[3, 4], [5, 6]])).asnumpy()
        array([[ 3.,  8.],
               [ 5., 12.]], dtype=float32)
    """
    name = 'khatri_rao'
    differentiable = False
    params = {'num_args': Param('int')}
    variadic = True
    key_var_num_args = 'num_args'
    retain_inputs = ()        # set per instance in setup
    retain_outputs = ()
    samples = (Sample({'num_args': 2}, {'arg0': (2, 3), 'arg1': (3, 3)}),
               Sample({'num_args': 3}, {'arg0': (2, 2), 'arg1': (1, 2), 'arg2': (3, 2)}),
               Sample({'num_args': 1}, {'arg0': (3, 2)}))

    def setup(self):
        if self.num_args < 1:
            raise InferError('khatri_rao needs num_args >= 1, got %d' % self.num_args)
        # each input's gradient is a product of the others
        self.retain_inputs = tuple(range(self.num_args)) if self.num_args > 1 else ()

    def infer_shape(self, in_shapes):
        if any(s is None or not all(s) for s in in_shapes):
            return in_shapes, [None], []     # as MXNet: from known shapes only
        names = self.list_arguments()
        for n, s in zip(names, in_shapes):
            if len(s) != 2 or s[1] != in_shapes[0][1]:
                raise InferError('khatri_rao needs matrices with one number of columns, got '
                                 '%s of shape %s and %s of shape %s'
                                 % (names[0], tuple(in_shapes[0]), n, tuple(s)))
        return ([tuple(s) for s in in_shapes],
                [(prod(s[0] for s in in_shapes), in_shapes[0][1])], [])

    @staticmethod
    def _spread(mats, skip=None):
        """The product of ``mats`` (all but ``skip``), each broadcast along its own axis."""
        k = len(mats)
        out = None
        for i, m in enumerate(mats):
            if i == skip:
                continue
            shaped = m.reshape((1,) * i + (m.shape[0],) + (1,) * (k - 1 - i) + (m.shape[1],))
            out = shaped if out is None else out * shaped
        return out

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = self._spread(ins).reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        k = len(igrads)
        if k == 1:
            if igrads[0] is not None:
                igrads[0][...] = ograds[0]
            return
        rows = tuple(g.shape[0] for g in igrads)
        g = ograds[0].reshape(rows + (ograds[0].shape[1],))
        for i, dx in enumerate(igrads):
            if dx is None:
                continue
            others = tuple(j for j in range(k) if j != i)
            xp.sum(g * self._spread(ins, skip=i), axis=others, out=dx)
