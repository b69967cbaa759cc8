"""MXNet's ``linalg`` namespace (``mx.sym.linalg.gemm2``, ``mx.nd.linalg_potrf``...): BLAS and
LAPACK-style operators on the last two axes, batched over the leading ones, each with its
backward.

The forms follow MXNet 1.9.1: ``potrf`` is the Cholesky factor (lower by default), ``potri``
the inverse from that factor, ``trmm``/``trsm`` use only the triangle ``lower`` names,
``gelqf`` returns ``(Q, L)`` with ``A = L Q``, ``syevd`` ``(U, lam)`` with ``A = U^T diag(lam)
U`` (eigenvectors as rows, eigenvalues ascending, each row's largest entry positive), and
``slogdet`` ``(sign, log|det|)``.  The gradients are the standard matrix-calculus ones (for
``potrf``, ``syevd``, ``gelqf`` those of Murray 2016, Giles 2008 and Walter 2018).
"""
import numpy as np

from .registry import Operator, Param, Sample, InferError, register

__all__ = []


def _T(x):
    return x.swapaxes(-1, -2)


def _op(x, transpose):
    return _T(x) if transpose else x


def _spd(rng, shape):
    """Well-conditioned symmetric positive definite matrices."""
    m = rng.standard_normal(shape)
    n = shape[-1]
    return m @ _T(m) / n + np.eye(n) * 1.5


def _lower_factor(rng, shape):
    """Lower-triangular factors with a positive, well away from zero diagonal."""
    m = np.tril(rng.standard_normal(shape) * 0.3)
    idx = np.arange(shape[-1])
    m[..., idx, idx] = rng.uniform(1.0, 2.0, shape[:-1])
    return m


def _sym_spread(rng, shape):
    """Symmetric matrices with well separated eigenvalues."""
    n = shape[-1]
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    lam = np.arange(1, n + 1) * 1.3 + rng.uniform(-0.2, 0.2, shape[:-1])
    return (q * lam[..., None, :]) @ _T(q)


def _well(rng, shape):
    return rng.standard_normal(shape) * 0.4 + np.eye(shape[-2], shape[-1]) * 2.0


def _matrix(shape, what, square=False):
    if shape is not None and len(shape) < 2:
        raise InferError('%s needs arrays of at least 2 dimensions, got %s' % (what, tuple(shape)))
    if square and shape is not None and shape[-1] != shape[-2]:
        raise InferError('%s needs square matrices, got %s' % (what, tuple(shape)))


class _LA(Operator):
    retain_inputs = (0,)
    retain_outputs = ()


# ---- products --------------------------------------------------------------------------

@register
class Gemm2(_LA):
    """``alpha * op(A) @ op(B)`` over the last two axes (``op`` transposes where asked).

    Example::

        >>> mx.nd.linalg.gemm2(mx.nd.ones((2, 3)), mx.nd.ones((3, 4)), alpha=2).asnumpy()[0]
        array([6., 6., 6., 6.], dtype=float32)
    """
    name = '_linalg_gemm2'
    aliases = ('linalg_gemm2',)
    params = {'transpose_a': Param('bool', False), 'transpose_b': Param('bool', False),
              'alpha': Param('float', 1.0), 'axis': Param('int', -2)}
    arguments = ('A', 'B')
    retain_inputs = (0, 1)
    samples = (Sample({}, {'A': (2, 3), 'B': (3, 4)}),
               Sample({'transpose_a': True, 'transpose_b': True, 'alpha': 0.5},
                      {'A': (2, 4, 3), 'B': (2, 5, 4)}))

    def _shapes(self, a, b):
        ra, ca = (a[-1], a[-2]) if self.transpose_a else (a[-2], a[-1])
        rb, cb = (b[-1], b[-2]) if self.transpose_b else (b[-2], b[-1])
        if ca != rb or tuple(a[:-2]) != tuple(b[:-2]):
            raise InferError('%s: A %s and B %s do not multiply (transpose_a=%s, '
                             'transpose_b=%s)' % (self.name, tuple(a), tuple(b),
                                                 self.transpose_a, self.transpose_b))
        return tuple(a[:-2]) + (ra, cb)

    def infer_shape(self, in_shapes):
        a, b = in_shapes[0], in_shapes[1]
        if self.axis != -2:
            raise InferError('%s: only axis=-2 is supported by distmod' % self.name)
        _matrix(a, self.name)
        _matrix(b, self.name)
        if a is None or b is None:
            return in_shapes, [None], []
        return in_shapes, [self._shapes(a, b)], []

    def forward(self, xp, ins, outs, aux, is_train):
        a, b = ins[0], ins[1]
        xp.matmul(_op(a, self.transpose_a), _op(b, self.transpose_b), out=outs[0])
        if self.alpha != 1.0:
            outs[0] *= self.alpha

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        a, b = ins[0], ins[1]
        g = ograds[0] * self.alpha
        oa, ob = _op(a, self.transpose_a), _op(b, self.transpose_b)
        if igrads[0] is not None:
            ga = xp.matmul(g, _T(ob))                      # d op(A)
            igrads[0][...] = _T(ga) if self.transpose_a else ga
        if igrads[1] is not None:
            gb = xp.matmul(_T(oa), g)
            igrads[1][...] = _T(gb) if self.transpose_b else gb


@register
class Gemm(Gemm2):
    """``alpha * op(A) @ op(B) + beta * C``.

    Example::

        >>> mx.nd.linalg.gemm(mx.nd.ones((2, 2)), mx.nd.ones((2, 2)), mx.nd.ones((2, 2)),
        ...                   beta=3).asnumpy()[0]
        array([5., 5.], dtype=float32)
    """
    name = '_linalg_gemm'
    aliases = ('linalg_gemm',)
    params = dict(Gemm2.params, beta=Param('float', 1.0))
    arguments = ('A', 'B', 'C')
    retain_inputs = (0, 1)
    samples = (Sample({'beta': 0.5}, {'A': (2, 3), 'B': (3, 4), 'C': (2, 4)}),
               Sample({'transpose_a': True, 'alpha': 2.0},
                      {'A': (2, 3, 2), 'B': (2, 3, 4), 'C': (2, 2, 4)}))

    def infer_shape(self, in_shapes):
        a, b, c = in_shapes
        ins, outs, _ = Gemm2.infer_shape(self, [a, b])
        out = outs[0] if outs[0] is not None else c
        return [a, b, out], [out], []

    def forward(self, xp, ins, outs, aux, is_train):
        c = ins[2]
        Gemm2.forward(self, xp, ins, outs, aux, is_train)
        outs[0] += self.beta * c

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        Gemm2.backward(self, xp, ograds, ins, outs, igrads[:2], aux)
        if igrads[2] is not None:
            xp.multiply(ograds[0], self.beta, out=igrads[2])


@register
class Syrk(_LA):
    """``alpha * A @ A^T`` (``transpose``: ``alpha * A^T @ A``).

    Example::

        >>> mx.nd.linalg.syrk(mx.nd.array([[1, 2]])).asnumpy()
        array([[5.]], dtype=float32)
    """
    name = '_linalg_syrk'
    aliases = ('linalg_syrk',)
    params = {'transpose': Param('bool', False), 'alpha': Param('float', 1.0)}
    arguments = ('A',)
    samples = (Sample({}, {'A': (3, 2)}), Sample({'transpose': True, 'alpha': 0.7},
                                                 {'A': (2, 3, 2)}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name)
        if a is None:
            return in_shapes, [None], []
        n = a[-1] if self.transpose else a[-2]
        return in_shapes, [tuple(a[:-2]) + (n, n)], []

    def forward(self, xp, ins, outs, aux, is_train):
        a = _op(ins[0], self.transpose)
        xp.matmul(a, _T(a), out=outs[0])
        if self.alpha != 1.0:
            outs[0] *= self.alpha

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        a = _op(ins[0], self.transpose)
        g = ograds[0] + _T(ograds[0])
        d = xp.matmul(g, a) * self.alpha              # d op(A)
        igrads[0][...] = _T(d) if self.transpose else d


# ---- triangular ---------------------------------------------------------------------------

class _Tri(_LA):
    params = {'transpose': Param('bool', False), 'rightside': Param('bool', False),
              'lower': Param('bool', True), 'alpha': Param('float', 1.0)}
    arguments = ('A', 'B')

    def _tri(self, xp, a):
        return xp.tril(a) if self.lower else xp.triu(a)

    def infer_shape(self, in_shapes):
        a, b = in_shapes
        _matrix(a, self.name, square=True)
        _matrix(b, self.name)
        if b is None:
            return in_shapes, [None], []
        if a is not None:
            need = b[-1] if self.rightside else b[-2]
            if a[-1] != need or tuple(a[:-2]) != tuple(b[:-2]):
                raise InferError('%s: A %s does not fit B %s (rightside=%s)'
                                 % (self.name, tuple(a), tuple(b), self.rightside))
        return in_shapes, [tuple(b)], []


@register
class Trmm(_Tri):
    """``alpha * op(A) @ B`` (``rightside``: ``alpha * B @ op(A)``), ``A`` triangular: only
    the triangle ``lower`` names is read.

    Example::

        >>> mx.nd.linalg.trmm(mx.nd.array([[1, 9], [2, 3]]), mx.nd.ones((2, 1))).asnumpy()
        array([[1.],
               [5.]], dtype=float32)
    """
    name = '_linalg_trmm'
    aliases = ('linalg_trmm',)
    retain_inputs = (0, 1)
    samples = (Sample({}, {'A': (3, 3), 'B': (3, 2)}),
               Sample({'transpose': True, 'rightside': True, 'lower': False, 'alpha': 2.0},
                      {'A': (2, 3, 3), 'B': (2, 4, 3)}))

    def forward(self, xp, ins, outs, aux, is_train):
        t = _op(self._tri(xp, ins[0]), self.transpose)
        b = ins[1]
        xp.matmul(b, t, out=outs[0]) if self.rightside else xp.matmul(t, b, out=outs[0])
        if self.alpha != 1.0:
            outs[0] *= self.alpha

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        t = _op(self._tri(xp, ins[0]), self.transpose)
        b = ins[1]
        g = ograds[0] * self.alpha
        if igrads[1] is not None:
            igrads[1][...] = xp.matmul(g, _T(t)) if self.rightside else xp.matmul(_T(t), g)
        if igrads[0] is not None:
            dt = xp.matmul(_T(b), g) if self.rightside else xp.matmul(g, _T(b))
            igrads[0][...] = self._tri(xp, _op(dt, self.transpose))


@register
class Trsm(_Tri):
    """Solve ``op(A) @ X = alpha * B`` for ``X`` (``rightside``: ``X @ op(A) = alpha * B``),
    ``A`` triangular: only the triangle ``lower`` names is read.

    Example::

        >>> mx.nd.linalg.trsm(mx.nd.array([[2, 0], [1, 1]]), mx.nd.array([[2], [3]])).asnumpy()
        array([[1.],
               [2.]], dtype=float32)
    """
    name = '_linalg_trsm'
    aliases = ('linalg_trsm',)
    retain_inputs = (0,)
    retain_outputs = (0,)
    samples = (Sample({}, {'A': (3, 3), 'B': (3, 2)}, values={'A': _lower_factor}),
               Sample({'transpose': True, 'rightside': True, 'alpha': 0.5},
                      {'A': (2, 3, 3), 'B': (2, 4, 3)}, values={'A': _lower_factor}))

    def _solve(self, xp, t, b):
        """``t^-1 b`` (or ``b t^-1`` on the right side) for the triangular ``t``."""
        if self.rightside:
            return _T(xp.linalg.solve(_T(t), _T(b)))
        return xp.linalg.solve(t, b)

    def forward(self, xp, ins, outs, aux, is_train):
        t = _op(self._tri(xp, ins[0]), self.transpose)
        outs[0][...] = self._solve(xp, t, ins[1]) * self.alpha

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        t = _op(self._tri(xp, ins[0]), self.transpose)
        x = outs[0]
        # op(A) X = alpha B: dB = alpha op(A)^-T G; d op(A) = -op(A)^-T G X^T
        if self.rightside:
            h = _T(xp.linalg.solve(t, _T(ograds[0])))      # G op(A)^-T
            dt = -xp.matmul(_T(x), h)
        else:
            h = xp.linalg.solve(_T(t), ograds[0])          # op(A)^-T G
            dt = -xp.matmul(h, _T(x))
        if igrads[1] is not None:
            igrads[1][...] = h * self.alpha
        if igrads[0] is not None:
            igrads[0][...] = self._tri(xp, _op(dt, self.transpose))


# ---- Cholesky -----------------------------------------------------------------------------

def _phi(xp, x):
    """The lower triangle of ``x`` with its diagonal halved."""
    out = xp.tril(x)
    n = x.shape[-1]
    idx = xp.arange(n)
    out[..., idx, idx] *= 0.5
    return out


@register
class Potrf(_LA):
    """The Cholesky factor of symmetric positive definite ``A``: lower ``L`` with ``A = L L^T``
    (``lower=False``: upper ``U`` with ``A = U^T U``).  ``A`` is taken as symmetric (its
    symmetric part), and its gradient is symmetric, as MXNet's.

    Example::

        >>> mx.nd.linalg.potrf(mx.nd.array([[4, 2], [2, 5]])).asnumpy()
        array([[2., 0.],
               [1., 2.]], dtype=float32)
    """
    name = '_linalg_potrf'
    aliases = ('linalg_potrf',)
    params = {'lower': Param('bool', True)}
    retain_inputs = ()
    retain_outputs = (0,)
    arguments = ('A',)
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _spd}, rtol=1e-3, atol=1e-5),
               Sample({'lower': False}, {'A': (2, 3, 3)}, values={'A': _spd}, rtol=1e-3,
                      atol=1e-5))

    def infer_shape(self, in_shapes):
        _matrix(in_shapes[0], self.name, square=True)
        return in_shapes, [in_shapes[0]], []

    def forward(self, xp, ins, outs, aux, is_train):
        a = ins[0].astype(np.float64)
        try:
            l = xp.linalg.cholesky(0.5 * (a + _T(a)))
        except np.linalg.LinAlgError as e:
            raise InferError('%s: the matrix is not positive definite (%s)' % (self.name, e))
        outs[0][...] = l if self.lower else _T(l)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        l = outs[0].astype(np.float64) if self.lower else _T(outs[0]).astype(np.float64)
        g = ograds[0].astype(np.float64) if self.lower else _T(ograds[0]).astype(np.float64)
        # S = L^-T Phi(L^T G) L^-1, symmetrised; A's lower triangle carries both halves
        p = _phi(xp, xp.matmul(_T(l), xp.tril(g)))
        s = xp.linalg.solve(_T(l), _T(xp.linalg.solve(_T(l), _T(p))))
        igrads[0][...] = 0.5 * (s + _T(s))


@register
class Potri(_LA):
    """The inverse of ``A = L L^T`` from its Cholesky factor ``L`` (``lower=False``: from ``U``
    with ``A = U^T U``).

    Example::

        >>> mx.nd.linalg.potri(mx.nd.array([[2, 0], [1, 2]])).asnumpy()
        array([[ 0.3125, -0.125 ],
               [-0.125 ,  0.25  ]], dtype=float32)
    """
    name = '_linalg_potri'
    aliases = ('linalg_potri',)
    params = {'lower': Param('bool', True)}
    arguments = ('A',)
    retain_inputs = (0,)
    retain_outputs = (0,)
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _lower_factor}, rtol=1e-3, atol=1e-5),
               Sample({'lower': False}, {'A': (2, 2, 2)},
                      values={'A': lambda rng, s: _T(_lower_factor(rng, s)).copy()}, rtol=1e-3,
                      atol=1e-5))

    def infer_shape(self, in_shapes):
        _matrix(in_shapes[0], self.name, square=True)
        return in_shapes, [in_shapes[0]], []

    def _factor(self, xp, a):
        return xp.tril(a) if self.lower else _T(xp.triu(a))

    def forward(self, xp, ins, outs, aux, is_train):
        l = self._factor(xp, ins[0]).astype(np.float64)
        li = xp.linalg.inv(l)
        outs[0][...] = xp.matmul(_T(li), li)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        l = self._factor(xp, ins[0]).astype(np.float64)
        c = outs[0].astype(np.float64)
        g = ograds[0].astype(np.float64)
        gs = g + _T(g)
        # C = (L L^T)^-1: dL = -C (G + G^T) C L
        dl = -xp.matmul(xp.matmul(xp.matmul(c, gs), c), l)
        igrads[0][...] = xp.tril(dl) if self.lower else xp.triu(_T(dl))


@register
class Sumlogdiag(_LA):
    """``sum(log(diag(A)))`` of each matrix (the diagonal must be positive).

    Example::

        >>> mx.nd.linalg.sumlogdiag(mx.nd.array([[1, 0], [0, 2.718281828]])).asnumpy()
        array([1.], dtype=float32)
    """
    name = '_linalg_sumlogdiag'
    aliases = ('linalg_sumlogdiag',)
    arguments = ('A',)
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _lower_factor}),
               Sample({}, {'A': (2, 2, 2)}, values={'A': _lower_factor}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name, square=True)
        return in_shapes, [None if a is None else (tuple(a[:-2]) or (1,))], []

    def forward(self, xp, ins, outs, aux, is_train):
        d = xp.diagonal(ins[0], axis1=-2, axis2=-1)
        outs[0][...] = xp.log(d).sum(axis=-1).reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        a = ins[0]
        n = a.shape[-1]
        idx = xp.arange(n)
        igrads[0][...] = 0
        g = ograds[0].reshape(a.shape[:-2] + (1,))
        igrads[0][..., idx, idx] = g / a[..., idx, idx]


# ---- inverse and determinants -------------------------------------------------------------

@register
class Inverse(_LA):
    """The inverse of each square matrix.

    Example::

        >>> mx.nd.linalg.inverse(mx.nd.array([[2, 0], [0, 4]])).asnumpy()
        array([[0.5 , 0.  ],
               [0.  , 0.25]], dtype=float32)
    """
    name = '_linalg_inverse'
    aliases = ('linalg_inverse',)
    arguments = ('A',)
    retain_inputs = ()
    retain_outputs = (0,)
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _well}),
               Sample({}, {'A': (2, 2, 2)}, values={'A': _well}))

    def infer_shape(self, in_shapes):
        _matrix(in_shapes[0], self.name, square=True)
        return in_shapes, [in_shapes[0]], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.linalg.inv(ins[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            ai = outs[0]
            igrads[0][...] = -xp.matmul(xp.matmul(_T(ai), ograds[0]), _T(ai))


@register
class Det(_LA):
    """The determinant of each square matrix.

    Example::

        >>> mx.nd.linalg.det(mx.nd.array([[1, 2], [3, 4]])).asnumpy()
        array([-2.], dtype=float32)
    """
    name = '_linalg_det'
    aliases = ('linalg_det',)
    arguments = ('A',)
    outputs = ('output0',)              # MXNet's det has hidden outputs, so its name is output0
    retain_outputs = (0,)
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _well}),
               Sample({}, {'A': (2, 2, 2)}, values={'A': _well}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name, square=True)
        return in_shapes, [None if a is None else (tuple(a[:-2]) or (1,))], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.linalg.det(ins[0]).reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            a = ins[0]
            scale = (ograds[0] * outs[0]).reshape(a.shape[:-2] + (1, 1))
            igrads[0][...] = scale * _T(xp.linalg.inv(a))


@register
class Slogdet(_LA):
    """``(sign, log|det|)`` of each square matrix.

    Example::

        >>> [o.asnumpy() for o in mx.nd.linalg.slogdet(mx.nd.array([[1, 2], [3, 4]]))]
        [array([-1.], dtype=float32), array([0.6931472], dtype=float32)]
    """
    name = '_linalg_slogdet'
    aliases = ('linalg_slogdet',)
    arguments = ('A',)
    outputs = ('output0', 'output1')       # sign, log|det|
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _well}),
               Sample({}, {'A': (2, 2, 2)}, values={'A': _well}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name, square=True)
        out = None if a is None else (tuple(a[:-2]) or (1,))
        return in_shapes, [out, out], []

    def forward(self, xp, ins, outs, aux, is_train):
        sign, logdet = xp.linalg.slogdet(ins[0])
        outs[0][...] = sign.reshape(outs[0].shape)
        outs[1][...] = logdet.reshape(outs[1].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            a = ins[0]
            g = ograds[1].reshape(a.shape[:-2] + (1, 1))
            igrads[0][...] = g * _T(xp.linalg.inv(a))


# ---- diagonals and triangles --------------------------------------------------------------

class _Diag(_LA):
    retain_inputs = ()
    params = {'offset': Param('int', 0)}
    arguments = ('A',)


@register
class Extractdiag(_Diag):
    """Diagonal ``offset`` of each matrix, as a vector.

    Example::

        >>> mx.nd.linalg.extractdiag(mx.nd.array([[1, 2], [3, 4]]), offset=1).asnumpy()
        array([2.], dtype=float32)
    """
    name = '_linalg_extractdiag'
    aliases = ('linalg_extractdiag',)
    samples = (Sample({}, {'A': (3, 3)}), Sample({'offset': -1}, {'A': (2, 3, 3)}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name, square=True)
        if a is None:
            return in_shapes, [None], []
        n = a[-1] - abs(self.offset)
        if n <= 0:
            raise InferError('%s: offset %d is outside %s matrices' % (self.name, self.offset,
                                                                      tuple(a[-2:])))
        return in_shapes, [tuple(a[:-2]) + (n,)], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.diagonal(ins[0], self.offset, axis1=-2, axis2=-1)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = 0
            n = ograds[0].shape[-1]
            r = xp.arange(n) + max(0, -self.offset)
            c = xp.arange(n) + max(0, self.offset)
            igrads[0][..., r, c] = ograds[0]


@register
class Makediag(_Diag):
    """Square matrices with each vector on diagonal ``offset``.

    Example::

        >>> mx.nd.linalg.makediag(mx.nd.array([1, 2])).asnumpy()
        array([[1., 0.],
               [0., 2.]], dtype=float32)
    """
    name = '_linalg_makediag'
    aliases = ('linalg_makediag',)
    samples = (Sample({}, {'A': (3,)}), Sample({'offset': 1}, {'A': (2, 3)}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        if a is None:
            return in_shapes, [None], []
        n = a[-1] + abs(self.offset)
        return in_shapes, [tuple(a[:-1]) + (n, n)], []

    def _rc(self, xp, n):
        return xp.arange(n) + max(0, -self.offset), xp.arange(n) + max(0, self.offset)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = 0
        r, c = self._rc(xp, ins[0].shape[-1])
        outs[0][..., r, c] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            r, c = self._rc(xp, igrads[0].shape[-1])
            igrads[0][...] = ograds[0][..., r, c]


def _trian_index(n, offset, lower):
    """Row and column indices of the triangle, in MXNet's order: a lower one row by row, an
    upper one column by column (the lower one of the transpose)."""
    if lower:
        return np.tril_indices(n, offset)
    rows, cols = np.tril_indices(n, -offset)
    return cols, rows


class _Trian(_LA):
    retain_inputs = ()
    params = {'offset': Param('int', 0), 'lower': Param('bool', True)}
    arguments = ('A',)

    def _lower(self):
        # a positive offset is above the diagonal: an upper triangle; negative: lower
        return self.lower if self.offset == 0 else self.offset < 0


@register
class Extracttrian(_Trian):
    """The triangle of each matrix as a vector, row by row: lower (``lower``) including
    diagonal ``offset`` (``offset > 0``: the upper triangle from that diagonal; ``< 0``: the
    lower one).

    Example::

        >>> mx.nd.linalg.extracttrian(mx.nd.array([[1, 2], [3, 4]])).asnumpy()
        array([1., 3., 4.], dtype=float32)
    """
    name = '_linalg_extracttrian'
    aliases = ('linalg_extracttrian',)
    samples = (Sample({}, {'A': (3, 3)}), Sample({'offset': 1}, {'A': (2, 3, 3)}),
               Sample({'lower': False}, {'A': (3, 3)}))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name, square=True)
        if a is None:
            return in_shapes, [None], []
        k = len(_trian_index(a[-1], self.offset, self._lower())[0])
        if k == 0:
            raise InferError('%s: offset %d leaves nothing of %s matrices'
                             % (self.name, self.offset, tuple(a[-2:])))
        return in_shapes, [tuple(a[:-2]) + (k,)], []

    def forward(self, xp, ins, outs, aux, is_train):
        r, c = _trian_index(ins[0].shape[-1], self.offset, self._lower())
        outs[0][...] = ins[0][..., xp.asarray(r), xp.asarray(c)]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            r, c = _trian_index(igrads[0].shape[-1], self.offset, self._lower())
            igrads[0][...] = 0
            igrads[0][..., xp.asarray(r), xp.asarray(c)] = ograds[0]


@register
class Maketrian(_Trian):
    """Square matrices whose triangle (see ``extracttrian``) is each vector, zeros elsewhere.

    Example::

        >>> mx.nd.linalg.maketrian(mx.nd.array([1, 3, 4])).asnumpy()
        array([[1., 0.],
               [3., 4.]], dtype=float32)
    """
    name = '_linalg_maketrian'
    aliases = ('linalg_maketrian',)
    samples = (Sample({}, {'A': (6,)}), Sample({'offset': -1}, {'A': (2, 3)}),
               Sample({'lower': False}, {'A': (3,)}))

    def _n(self, k):
        # k = m (m + 1) / 2 with m = n - |offset|
        m = int(round((np.sqrt(8 * k + 1) - 1) / 2))
        if m * (m + 1) // 2 != k:
            raise InferError('%s: %d elements are no triangle' % (self.name, k))
        return m + abs(self.offset)

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        if a is None:
            return in_shapes, [None], []
        n = self._n(a[-1])
        return in_shapes, [tuple(a[:-1]) + (n, n)], []

    def forward(self, xp, ins, outs, aux, is_train):
        n = outs[0].shape[-1]
        r, c = _trian_index(n, self.offset, self._lower())
        outs[0][...] = 0
        outs[0][..., xp.asarray(r), xp.asarray(c)] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            n = ograds[0].shape[-1]
            r, c = _trian_index(n, self.offset, self._lower())
            igrads[0][...] = ograds[0][..., xp.asarray(r), xp.asarray(c)]


# ---- factorisations -----------------------------------------------------------------------

@register
class Gelqf(_LA):
    """LQ factorisation of each wide matrix ``A`` (rows <= columns): ``(Q, L)`` with
    ``A = L Q``, ``Q`` with orthonormal rows and ``L`` lower triangular (the signs LAPACK's
    Householder reflections give, as MXNet's).

    Example::

        >>> q, l = mx.nd.linalg.gelqf(mx.nd.array([[3, 4]]))
        >>> q.asnumpy(), l.asnumpy()
        (array([[-0.6, -0.8]], dtype=float32), array([[-5.]], dtype=float32))
    """
    name = '_linalg_gelqf'
    aliases = ('linalg_gelqf',)
    arguments = ('A',)
    outputs = ('output0', 'output1')       # Q, L
    retain_inputs = ()
    retain_outputs = (0, 1)
    samples = (Sample({}, {'A': (2, 3)}, values={'A': _well}, rtol=1e-3, atol=1e-5),
               Sample({}, {'A': (2, 3, 3)}, values={'A': _well}, rtol=1e-3, atol=1e-5))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name)
        if a is None:
            return in_shapes, [None, None], []
        if a[-2] > a[-1]:
            raise InferError('%s needs matrices with no more rows than columns, got %s'
                             % (self.name, tuple(a)))
        m = a[-2]
        return in_shapes, [tuple(a), tuple(a[:-2]) + (m, m)], []

    def forward(self, xp, ins, outs, aux, is_train):
        # A^T = Q' R (LAPACK's Householder QR, whose signs MXNet's gelqf has too): A = R^T Q'^T
        q, r = xp.linalg.qr(_T(ins[0].astype(np.float64)))
        outs[0][...] = _T(q)
        outs[1][...] = _T(r)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        q, l = outs[0].astype(np.float64), outs[1].astype(np.float64)
        gq, gl = ograds[0].astype(np.float64), ograds[1].astype(np.float64)
        # the transpose of the QR gradient (A^T = Q^T L^T)
        m = xp.matmul(_T(l), gl) - xp.matmul(gq, _T(q))
        m = xp.tril(m)
        m = m + _T(xp.tril(m, -1))           # copyltu
        b = gq + xp.matmul(m, q)
        igrads[0][...] = xp.linalg.solve(_T(l), b)


@register
class Syevd(_LA):
    """Eigen-decomposition of each symmetric matrix: ``(U, lam)`` with ``A = U^T diag(lam) U``,
    eigenvalues ascending, eigenvectors as the rows of ``U`` (each row's largest entry
    positive, as MXNet makes them).

    Example::

        >>> u, lam = mx.nd.linalg.syevd(mx.nd.array([[2, 0], [0, 1]]))
        >>> lam.asnumpy()
        array([1., 2.], dtype=float32)
    """
    name = '_linalg_syevd'          # (MXNet has no top-level linalg_syevd)
    arguments = ('A',)
    outputs = ('output0', 'output1')       # U, lam
    retain_inputs = ()
    retain_outputs = (0, 1)
    samples = (Sample({}, {'A': (3, 3)}, values={'A': _sym_spread}, rtol=1e-3, atol=1e-5),
               Sample({}, {'A': (2, 2, 2)}, values={'A': _sym_spread}, rtol=1e-3, atol=1e-5))

    def infer_shape(self, in_shapes):
        a = in_shapes[0]
        _matrix(a, self.name, square=True)
        if a is None:
            return in_shapes, [None, None], []
        return in_shapes, [tuple(a), tuple(a[:-1])], []

    def forward(self, xp, ins, outs, aux, is_train):
        a = ins[0].astype(np.float64)
        lam, v = xp.linalg.eigh(0.5 * (a + _T(a)))
        u = _T(v)                                     # rows are eigenvectors
        big = xp.take_along_axis(u, xp.abs(u).argmax(axis=-1)[..., None], axis=-1)
        u = u * xp.where(big < 0, -1.0, 1.0)
        outs[0][...] = u
        outs[1][...] = lam

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        u, lam = outs[0].astype(np.float64), outs[1].astype(np.float64)
        gu, gl = ograds[0].astype(np.float64), ograds[1].astype(np.float64)
        diff = lam[..., None, :] - lam[..., :, None]          # lam_j - lam_i
        n = lam.shape[-1]
        eye = xp.eye(n, dtype=bool)
        f = xp.where(eye, 0.0, 1.0 / xp.where(eye, 1.0, diff))
        # A = U^T diag(lam) U, rows of U: dA = U^T (diag(gl) + F o (U gU^T)^T ...) U
        inner = xp.matmul(gu, _T(u))                          # (n, n): (gU U^T)
        m = f * _T(inner)
        m = m + xp.eye(n) * gl[..., None, :]
        ga = xp.matmul(xp.matmul(_T(u), m), u)
        igrads[0][...] = 0.5 * (ga + _T(ga))
