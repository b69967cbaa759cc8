"""Element-wise arithmetic: unary math, same-shape and broadcasting binary ops, ops with a scalar,
comparisons, ``clip`` and ``add_n``.

Some sixty MXNet operators differ only in one line of math, so they are built from tables: a
few generic classes (``UnaryOp``, ``BinaryOp``, ``BroadcastOp``, ``ScalarOp``) take the math as
small functions, and ``_define`` makes one registered subclass per MXNet operator, each with its
own name, aliases, docstring and gradient samples.

The math functions write into ``out`` and return it; a gradient function may instead return a
ready array (the head gradient itself for ``+``) and let the caller copy or reduce it, which
saves a temporary.  ``out`` may be ``None`` (broadcast backward asks for a fresh array that it
then sums down to the input's shape).

The activations (relu, sigmoid, tanh, softrelu, softsign) live here once, in ``ACTIVATIONS``:
the unary operators of those names and ``nn.Activation`` both compute them from it.  The
operators with a scalar reuse the binary math, the scalar standing for ``rhs``.
"""
import math

import numpy as np

from .. import _native
from .registry import Operator, Param, Sample, InferError, register
from ._util import broadcast_shape, sum_to_shape, retention
from .infer import merge_shape

__all__ = ['UnaryOp', 'BinaryOp', 'BroadcastOp', 'CompareOp', 'BroadcastCompareOp', 'ScalarOp', 'Clip', 'AddN']


def _define(base, name, aliases=(), doc=None, **attrs):
    """Make, register and return one operator class ``name`` derived from ``base``."""
    attrs.update(name=name, aliases=tuple(aliases), __doc__=doc or base.__doc__,
                 __module__=__name__)
    return register(type(name, (base,), attrs))


def _floating(arr):
    return arr.dtype.kind == 'f'


def _into(xp, fn, args, out):
    """``fn(xp, *args, out)``; integer and boolean outputs go through a cast (MXNet truncates),
    since ufuncs refuse to write a float result into them."""
    if _floating(out):
        fn(*((xp,) + args + (out,)))
    else:
        out[...] = fn(*((xp,) + args + (None,)))


def _write(dx, r):
    """Store a gradient function's result, which is ``dx`` itself or a ready array."""
    if r is not dx:
        dx[...] = r


# ------------------------------------------------------------------------------------------
# Sample values (keep finite differences away from kinks, poles and domain edges)

def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _nonzero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)


def _away_from_multiples(rng, shape):
    """Divisors for ``mod``'s gradient check: in (3, 4), so that its dividends (``_fraction``)
    are nowhere near a multiple, where ``mod`` jumps."""
    return rng.uniform(3.0, 4.0, shape)


def _fraction(rng, shape):
    return rng.uniform(0.2, 2.5, shape)


def _small(rng, shape):
    return rng.uniform(-0.9, 0.9, shape)


# ==========================================================================================
# Unary

class UnaryOp(Operator):
    """Element-wise ``y = f(x)``; subclasses (or ``setup``) set ``fn(xp, x, out)`` and
    ``grad(xp, g, x, y, out)`` (``None`` for a zero gradient).  ``grad`` gets ``x`` and ``y``
    only where ``retain_inputs``/``retain_outputs`` keep them, ``None`` otherwise."""
    arguments = ('data',)
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (3, 4)}),)
    fn = None
    grad = None

    def forward(self, xp, ins, outs, aux, is_train):
        _into(xp, self.fn, (ins[0],), outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        if self.grad is None:
            dx[...] = 0
            return
        _write(dx, self.grad(xp, ograds[0], ins[0] if self.retain_inputs else None,
                             outs[0] if self.retain_outputs else None, dx))


# The activations: one implementation for the unary operators and ``nn.Activation``.

def _u_relu(xp, x, out):
    # one pass of distmod's native kernel on float32 NumPy arrays (NumPy's maximum is 4x
    # slower than a copy); the same values, NaN kept
    if xp is np and _native.relu(x, out):
        return out
    return xp.maximum(x, 0, out=out)


def _g_relu(xp, g, x, y, out):           # y > 0 iff x > 0, and y is what backward keeps
    if xp is np and _native.relu_grad(g, y, out):
        return out
    return xp.multiply(g, y > 0, out=out)


def sigmoid_into(xp, x, out):
    """The logistic function of ``x`` into ``out`` (None: a new array), which is returned."""
    # float32 NumPy arrays, contiguous or 2-D with contiguous rows: one pass of distmod's
    # native kernel (1 / (1 + exp(-x)), within 3 ulp, over the native pool's threads where
    # large); NumPy's tanh is scalar code without AVX-512 (about 3.6 ns a float on an AVX2
    # EPYC, the kernel about 1)
    if xp is np and out is not None and _native.sigmoid(x, out):
        return out
    # 0.5 * (1 + tanh(x / 2)) never overflows, unlike 1 / (1 + exp(-x))
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def _g_sigmoid(xp, g, x, y, out):
    if xp is np and _native.sigmoid_grad(g, y, out):      # one pass, the same values
        return out
    out = xp.subtract(1, y, out=out)
    out *= y
    out *= g
    return out


def tanh_into(xp, x, out):
    """tanh of ``x`` into ``out`` (None: a new array), which is returned.  Float32 NumPy
    arrays, contiguous or 2-D with contiguous rows: distmod's native kernel (within 1 ulp, as
    NumPy's), 3x NumPy's speed without AVX-512; with AVX-512, NumPy's own (faster there);
    either split over the native pool's threads where large."""
    if xp is np and out is not None and (_native.numpy_tanh(x, out) or _native.tanh(x, out)):
        return out
    return xp.tanh(x, out=out)


_u_tanh = tanh_into


def _g_tanh(xp, g, x, y, out):
    if xp is np and _native.tanh_grad(g, y, out):         # one pass, the same values
        return out
    out = xp.multiply(y, y, out=out)
    xp.subtract(1, out, out=out)
    out *= g
    return out


def _u_softrelu(xp, x, out):
    # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)
    return xp.logaddexp(x, 0, out=out)


def _g_softrelu(xp, g, x, y, out):       # d/dx log(1+e^x) = sigmoid(x) = 1 - e^-y
    return xp.multiply(g, -xp.expm1(-y), out=out)


def _u_softsign(xp, x, out): return xp.divide(x, 1 + xp.abs(x), out=out)


def _g_softsign(xp, g, x, y, out):
    d = 1 + xp.abs(x)
    return xp.divide(g, d * d, out=out)


# act_type -> (fn, grad, what backward reads: 'x' or 'y')
ACTIVATIONS = {
    'relu': (_u_relu, _g_relu, 'y'),
    'sigmoid': (sigmoid_into, _g_sigmoid, 'y'),
    'tanh': (_u_tanh, _g_tanh, 'y'),
    'softrelu': (_u_softrelu, _g_softrelu, 'y'),
    'softsign': (_u_softsign, _g_softsign, 'x'),
}


# The other unary math.

def _u_exp(xp, x, out): return xp.exp(x, out=out)
def _g_exp(xp, g, x, y, out): return xp.multiply(g, y, out=out)
def _u_log(xp, x, out): return xp.log(x, out=out)
def _g_log(xp, g, x, y, out): return xp.divide(g, x, out=out)
def _u_sqrt(xp, x, out): return xp.sqrt(x, out=out)


def _g_sqrt(xp, g, x, y, out):           # d sqrt(x) = 1 / (2 sqrt(x))
    out = xp.divide(g, y, out=out)
    out *= 0.5
    return out


def _u_square(xp, x, out): return xp.square(x, out=out)


def _g_square(xp, g, x, y, out):
    out = xp.multiply(g, x, out=out)
    out *= 2
    return out


def _u_abs(xp, x, out): return xp.abs(x, out=out)


def _g_abs(xp, g, x, y, out):            # sign(0) = 0: MXNet gives no gradient at the kink
    out = xp.sign(x, out=out)
    out *= g
    return out


def _u_negative(xp, x, out): return xp.negative(x, out=out)
def _g_negative(xp, g, x, y, out): return xp.negative(g, out=out)


def _u_reciprocal(xp, x, out): return xp.reciprocal(x, out=out)


def _g_reciprocal(xp, g, x, y, out):     # d(1/x) = -1/x^2 = -y^2
    out = xp.multiply(y, y, out=out)
    out *= g
    xp.negative(out, out=out)
    return out


def _u_rsqrt(xp, x, out):
    out = xp.sqrt(x, out=out)
    xp.reciprocal(out, out=out)
    return out


def _g_rsqrt(xp, g, x, y, out):          # d x^-1/2 = -1/2 x^-3/2 = -y^3 / 2
    out = xp.multiply(y, y, out=out)
    out *= y
    out *= g
    out *= -0.5
    return out


def _u_log1p(xp, x, out): return xp.log1p(x, out=out)


def _g_log1p(xp, g, x, y, out):
    out = xp.add(x, 1, out=out)
    xp.divide(g, out, out=out)
    return out


def _u_expm1(xp, x, out): return xp.expm1(x, out=out)


def _g_expm1(xp, g, x, y, out):          # d(e^x - 1) = e^x = y + 1
    out = xp.add(y, 1, out=out)
    out *= g
    return out


def _u_sin(xp, x, out): return xp.sin(x, out=out)


def _g_sin(xp, g, x, y, out):
    out = xp.cos(x, out=out)
    out *= g
    return out


def _u_cos(xp, x, out): return xp.cos(x, out=out)


def _g_cos(xp, g, x, y, out):
    out = xp.sin(x, out=out)
    out *= g
    xp.negative(out, out=out)
    return out


def _u_sign(xp, x, out): return xp.sign(x, out=out)


def _flag(test):
    def fn(xp, x, out):
        if out is None:
            return getattr(xp, test)(x).astype(x.dtype)
        out[...] = getattr(xp, test)(x)
        return out
    return fn


def _u_logical_not(xp, x, out):
    if out is None:
        return (x == 0).astype(x.dtype)
    out[...] = x == 0
    return out


# Rounding: MXNet's own rules (``round`` sends halves away from zero, ``rint`` down); their
# gradient is zero.

def _u_floor(xp, x, out): return xp.floor(x, out=out)
def _u_ceil(xp, x, out): return xp.ceil(x, out=out)
def _u_trunc(xp, x, out): return xp.trunc(x, out=out)


def _u_round(xp, x, out):
    t = xp.trunc(x)
    # x - trunc(x) is exact, so the halves are found exactly (|x| + 0.5 can round up)
    return xp.add(t, xp.where(xp.abs(x - t) >= 0.5, xp.sign(x), 0), out=out)


def _u_rint(xp, x, out):
    f = xp.floor(x)
    return xp.add(f, x - f > 0.5, out=out)


# Trigonometric and hyperbolic functions.

def _u_tan(xp, x, out): return xp.tan(x, out=out)


def _g_tan(xp, g, x, y, out):            # 1 + tan^2
    out = xp.multiply(y, y, out=out)
    out += 1
    out *= g
    return out


def _u_sinh(xp, x, out): return xp.sinh(x, out=out)


def _g_sinh(xp, g, x, y, out):
    out = xp.cosh(x, out=out)
    out *= g
    return out


def _u_cosh(xp, x, out): return xp.cosh(x, out=out)


def _g_cosh(xp, g, x, y, out):
    out = xp.sinh(x, out=out)
    out *= g
    return out


def _u_arcsin(xp, x, out): return xp.arcsin(x, out=out)
def _u_arccos(xp, x, out): return xp.arccos(x, out=out)


def _g_arcsin(xp, g, x, y, out):         # 1 / sqrt(1 - x^2)
    out = xp.multiply(x, x, out=out)
    xp.subtract(1, out, out=out)
    xp.sqrt(out, out=out)
    xp.divide(g, out, out=out)
    return out


def _g_arccos(xp, g, x, y, out):
    out = _g_arcsin(xp, g, x, y, out)
    return xp.negative(out, out=out)


def _u_arctan(xp, x, out): return xp.arctan(x, out=out)


def _g_arctan(xp, g, x, y, out):         # 1 / (1 + x^2)
    out = xp.multiply(x, x, out=out)
    out += 1
    return xp.divide(g, out, out=out)


def _u_arcsinh(xp, x, out): return xp.arcsinh(x, out=out)


def _g_arcsinh(xp, g, x, y, out):        # 1 / sqrt(x^2 + 1)
    out = xp.multiply(x, x, out=out)
    out += 1
    xp.sqrt(out, out=out)
    return xp.divide(g, out, out=out)


def _u_arccosh(xp, x, out): return xp.arccosh(x, out=out)


def _g_arccosh(xp, g, x, y, out):        # 1 / sqrt(x^2 - 1)
    out = xp.multiply(x, x, out=out)
    out -= 1
    xp.sqrt(out, out=out)
    return xp.divide(g, out, out=out)


def _u_arctanh(xp, x, out): return xp.arctanh(x, out=out)


def _g_arctanh(xp, g, x, y, out):        # 1 / (1 - x^2)
    out = xp.multiply(x, x, out=out)
    xp.subtract(1, out, out=out)
    return xp.divide(g, out, out=out)


def _scaled(factor):
    """``x * factor`` and its gradient (degrees, radians)."""
    def fn(xp, x, out):
        return xp.multiply(x, factor, out=out)

    def grad(xp, g, x, y, out):
        return xp.multiply(g, factor, out=out)
    return fn, grad


def _logarithm(base):
    """log to ``base`` and its gradient 1 / (x ln base)."""
    scale = 1.0 / math.log(base)

    def fn(xp, x, out):
        out = xp.log(x, out=out)
        out *= scale
        return out

    def grad(xp, g, x, y, out):
        out = xp.divide(g, x, out=out)
        out *= scale
        return out
    return fn, grad


def _u_cbrt(xp, x, out): return xp.cbrt(x, out=out)


def _g_cbrt(xp, g, x, y, out):           # d x^(1/3) = 1 / (3 y^2)
    out = xp.multiply(y, y, out=out)
    out *= 3
    return xp.divide(g, out, out=out)


def _u_rcbrt(xp, x, out):
    out = xp.cbrt(x, out=out)
    return xp.reciprocal(out, out=out)


def _g_rcbrt(xp, g, x, y, out):          # d x^(-1/3) = -x^(-4/3) / 3 = -y^4 / 3
    out = xp.multiply(y, y, out=out)
    out *= out
    out *= g
    out *= -1.0 / 3
    return out


# The special functions.  NumPy has none, and operators do not import SciPy or CuPy, so they
# are computed here from xp's elementary functions, in float64 (accurate to about 1e-15 for
# erf, 1e-13 for the gamma functions) and cast to the output's type.

_SQRT_PI = math.sqrt(math.pi)


def _f64(x):
    return x if x.dtype == np.float64 else x.astype(np.float64)


def erf64(xp, x):
    """The error function of ``x``, in float64."""
    x = _f64(x)
    a = xp.abs(x)
    # |x| < 3: erf = 2/sqrt(pi) e^-x^2 sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), all terms positive
    s = xp.minimum(a, 3.0)
    s2 = 2.0 * s * s
    term = s.copy()
    total = s.copy()
    for n in range(1, 90):
        term *= s2
        term /= 2 * n + 1
        total += term
    near = total * xp.exp(-s * s) * (2.0 / _SQRT_PI)
    # |x| >= 3: erfc's continued fraction e^-x^2 / sqrt(pi) / (x + (1/2)/(x + 1/(x + ...)))
    b = xp.maximum(a, 3.0)
    f = b.copy()
    for k in range(70, 0, -1):
        f = b + (k / 2.0) / f
    far = 1.0 - xp.exp(-b * b) / (_SQRT_PI * f)
    return xp.copysign(xp.where(a < 3.0, near, far), x)


def erfinv64(xp, x):
    """The inverse error function of ``x`` in float64 (+-inf at +-1, NaN outside)."""
    x = _f64(x)
    inside = xp.abs(x) < 1
    xc = xp.where(inside, x, 0.0)
    # Giles' single-precision polynomial as the start, then Newton on erf(y) = x
    w = -xp.log((1.0 - xc) * (1.0 + xc))
    lo, hi = w - 2.5, xp.sqrt(w) - 3.0
    p_lo, p_hi = 2.81022636e-08, -0.000200214257
    for c_lo, c_hi in ((3.43273939e-07, 0.000100950558), (-3.5233877e-06, 0.00134934322),
                       (-4.39150654e-06, -0.00367342844), (0.00021858087, 0.00573950773),
                       (-0.00125372503, -0.0076224613), (-0.00417768164, 0.00943887047),
                       (0.246640727, 1.00167406), (1.50140941, 2.83297682)):
        p_lo = c_lo + p_lo * lo
        p_hi = c_hi + p_hi * hi
    y = xp.where(w < 5.0, p_lo, p_hi) * xc
    for _ in range(3):
        y = y - (erf64(xp, y) - xc) / ((2.0 / _SQRT_PI) * xp.exp(-y * y))
    edge = xp.where(xp.abs(x) == 1, xp.copysign(np.inf, x), np.nan)
    return xp.where(inside, y, edge)


# Lanczos' approximation, g = 7
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)


def _lgamma_right(xp, x):
    """log Gamma(x) for x >= 0.5."""
    z = x - 1.0
    a = _LANCZOS[0]
    for i, c in enumerate(_LANCZOS[1:], 1):
        a = a + c / (z + i)
    t = z + 7.5
    return 0.5 * math.log(2 * math.pi) + (z + 0.5) * xp.log(t) - t + xp.log(a)


def _poles(xp, x):
    return (x <= 0) & (x == xp.floor(x))


def gammaln64(xp, x):
    """log |Gamma(x)| in float64 (inf at the poles 0, -1, -2, ...)."""
    x = _f64(x)
    left = x < 0.5
    with np.errstate(divide='ignore', invalid='ignore'):
        right = _lgamma_right(xp, xp.where(left, 1.0 - x, x))
        # reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x)
        out = xp.where(left, math.log(math.pi) - xp.log(xp.abs(xp.sin(math.pi * x))) - right,
                       right)
    return xp.where(_poles(xp, x), np.inf, out)


def gamma64(xp, x):
    """Gamma(x) in float64 (+-inf at 0, NaN at the negative integers, as MXNet)."""
    x = _f64(x)
    left = x < 0.5
    with np.errstate(over='ignore', divide='ignore', invalid='ignore'):
        right = xp.exp(_lgamma_right(xp, xp.where(left, 1.0 - x, x)))
        out = xp.where(left, math.pi / (xp.sin(math.pi * x) * right), right)
    return xp.where(_poles(xp, x), xp.where(x == 0, xp.copysign(np.inf, x), np.nan), out)


def digamma64(xp, x):
    """The digamma function d log Gamma(x) / dx in float64."""
    x = _f64(x)
    left = x < 0.5
    z = xp.where(left, 1.0 - x, x)
    # psi(z) = psi(z + 10) - sum_k 1/(z + k), then the asymptotic series at z + 10
    shift = 0.0
    for k in range(10):
        shift = shift + 1.0 / (z + k)
    y = z + 10.0
    r = 1.0 / (y * y)
    tail = r * (1 / 12. - r * (1 / 120. - r * (1 / 252. - r * (1 / 240. - r / 132.))))
    psi = xp.log(y) - 0.5 / y - tail - shift
    with np.errstate(divide='ignore', invalid='ignore'):
        return xp.where(left, psi - math.pi / xp.tan(math.pi * x), psi)


def _computed(f):
    """A unary ``fn(xp, x, out)`` from a float64 function ``f(xp, x)``."""
    def fn(xp, x, out):
        r = f(xp, x)
        if out is None:
            return r
        out[...] = r
        return out
    return fn


def _g_erf(xp, g, x, y, out):            # 2/sqrt(pi) e^-x^2
    out = xp.multiply(x, x, out=out)
    xp.negative(out, out=out)
    xp.exp(out, out=out)
    out *= 2.0 / _SQRT_PI
    out *= g
    return out


def _g_erfinv(xp, g, x, y, out):         # sqrt(pi)/2 e^(y^2)
    out = xp.multiply(y, y, out=out)
    xp.exp(out, out=out)
    out *= _SQRT_PI / 2
    out *= g
    return out


def _g_gamma(xp, g, x, y, out):          # Gamma(x) psi(x)
    return xp.multiply(g * y, digamma64(xp, x), out=out)


def _g_gammaln(xp, g, x, y, out):
    return xp.multiply(g, digamma64(xp, x), out=out)


def _between(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


_u_degrees, _g_degrees = _scaled(180.0 / math.pi)
_u_radians, _g_radians = _scaled(math.pi / 180.0)
_u_log2, _g_log2 = _logarithm(2.0)
_u_log10, _g_log10 = _logarithm(10.0)


# name, fn, grad, what backward reads ('x', 'y' or ''), sample values, docstring example
_UNARY = [
    ('exp', _u_exp, _g_exp, 'y', None, 'mx.nd.exp(mx.nd.array([0, 1]))  # [1, 2.7182817]'),
    ('log', _u_log, _g_log, 'x', _positive, 'mx.nd.log(mx.nd.array([1, 100]))  # [0, 4.6051702]'),
    ('sqrt', _u_sqrt, _g_sqrt, 'y', _positive, 'mx.nd.sqrt(mx.nd.array([4, 9]))  # [2, 3]'),
    ('square', _u_square, _g_square, 'x', None,
     'mx.nd.square(mx.nd.array([2, -3]))  # [4, 9]'),
    ('abs', _u_abs, _g_abs, 'x', _nonzero, 'mx.nd.abs(mx.nd.array([-2, 3]))  # [2, 3]'),
    ('negative', _u_negative, _g_negative, '', None,
     'mx.nd.negative(mx.nd.array([-2, 3]))  # [2, -3]'),
    ('relu',) + ACTIVATIONS['relu'] + (_nonzero, 'mx.nd.relu(mx.nd.array([-2, 3]))  # [0, 3]'),
    ('sigmoid',) + ACTIVATIONS['sigmoid'] + (None, 'mx.nd.sigmoid(mx.nd.array([0]))  # [0.5]'),
    ('tanh',) + ACTIVATIONS['tanh'] + (None, 'mx.nd.tanh(mx.nd.array([0]))  # [0]'),
    ('reciprocal', _u_reciprocal, _g_reciprocal, 'y', _nonzero,
     'mx.nd.reciprocal(mx.nd.array([2, -4]))  # [0.5, -0.25]'),
    ('rsqrt', _u_rsqrt, _g_rsqrt, 'y', _positive, 'mx.nd.rsqrt(mx.nd.array([4]))  # [0.5]'),
    ('log1p', _u_log1p, _g_log1p, 'x', _small, 'mx.nd.log1p(mx.nd.array([0]))  # [0]'),
    ('expm1', _u_expm1, _g_expm1, 'y', None, 'mx.nd.expm1(mx.nd.array([0]))  # [0]'),
    ('sin', _u_sin, _g_sin, 'x', None, 'mx.nd.sin(mx.nd.array([0]))  # [0]'),
    ('cos', _u_cos, _g_cos, 'x', None, 'mx.nd.cos(mx.nd.array([0]))  # [1]'),
    ('sign', _u_sign, None, '', _nonzero, 'mx.nd.sign(mx.nd.array([-2, 0, 3]))  # [-1, 0, 1]'),
    ('logical_not', _u_logical_not, None, '', None,
     'mx.nd.logical_not(mx.nd.array([0, 2, -1]))  # [1, 0, 0]'),
    ('_contrib_isnan', _flag('isnan'), None, '', None,
     'mx.nd.contrib.isnan(mx.nd.array([0, float("nan")]))  # [0, 1]'),
    ('_contrib_isinf', _flag('isinf'), None, '', None,
     'mx.nd.contrib.isinf(mx.nd.array([0, float("inf")]))  # [0, 1]'),
    ('_contrib_isfinite', _flag('isfinite'), None, '', None,
     'mx.nd.contrib.isfinite(mx.nd.array([0, float("-inf")]))  # [1, 0]'),
    ('softsign',) + ACTIVATIONS['softsign'] + (None,
     'mx.nd.softsign(mx.nd.array([1, -3]))  # [0.5, -0.75]'),
    ('floor', _u_floor, None, '', None, 'mx.nd.floor(mx.nd.array([-1.5, 1.5]))  # [-2, 1]'),
    ('ceil', _u_ceil, None, '', None, 'mx.nd.ceil(mx.nd.array([-1.5, 1.5]))  # [-1, 2]'),
    ('round', _u_round, None, '', None, 'mx.nd.round(mx.nd.array([-2.5, 0.4, 1.5]))  # [-3, 0, 2]'),
    ('rint', _u_rint, None, '', None, 'mx.nd.rint(mx.nd.array([-2.5, 0.5, 1.7]))  # [-3, 0, 2]'),
    ('fix', _u_trunc, None, '', None, 'mx.nd.fix(mx.nd.array([-1.7, 1.7]))  # [-1, 1]'),
    ('trunc', _u_trunc, None, '', None, 'mx.nd.trunc(mx.nd.array([-1.7, 1.7]))  # [-1, 1]'),
    ('tan', _u_tan, _g_tan, 'y', _small, 'mx.nd.tan(mx.nd.array([0, 0.5]))  # [0, 0.5463]'),
    ('sinh', _u_sinh, _g_sinh, 'x', None, 'mx.nd.sinh(mx.nd.array([0, 1]))  # [0, 1.1752]'),
    ('cosh', _u_cosh, _g_cosh, 'x', None, 'mx.nd.cosh(mx.nd.array([0, 1]))  # [1, 1.5431]'),
    ('arcsin', _u_arcsin, _g_arcsin, 'x', _small,
     'mx.nd.arcsin(mx.nd.array([0, 1]))  # [0, 1.5708]'),
    ('arccos', _u_arccos, _g_arccos, 'x', _small,
     'mx.nd.arccos(mx.nd.array([0, 1]))  # [1.5708, 0]'),
    ('arctan', _u_arctan, _g_arctan, 'x', None, 'mx.nd.arctan(mx.nd.array([0, 1]))  # [0, 0.7854]'),
    ('arcsinh', _u_arcsinh, _g_arcsinh, 'x', None,
     'mx.nd.arcsinh(mx.nd.array([0, 1]))  # [0, 0.8814]'),
    ('arccosh', _u_arccosh, _g_arccosh, 'x', _between(1.2, 3.0),
     'mx.nd.arccosh(mx.nd.array([1, 2]))  # [0, 1.317]'),
    ('arctanh', _u_arctanh, _g_arctanh, 'x', _small,
     'mx.nd.arctanh(mx.nd.array([0, 0.5]))  # [0, 0.5493]'),
    ('degrees', _u_degrees, _g_degrees, '', None,
     'mx.nd.degrees(mx.nd.array([0, 0.5]))  # [0, 28.6479]'),
    ('radians', _u_radians, _g_radians, '', None,
     'mx.nd.radians(mx.nd.array([0, 90]))  # [0, 1.5708]'),
    ('log2', _u_log2, _g_log2, 'x', _positive, 'mx.nd.log2(mx.nd.array([1, 8]))  # [0, 3]'),
    ('log10', _u_log10, _g_log10, 'x', _positive, 'mx.nd.log10(mx.nd.array([1, 100]))  # [0, 2]'),
    ('cbrt', _u_cbrt, _g_cbrt, 'y', _nonzero, 'mx.nd.cbrt(mx.nd.array([-8, 27]))  # [-2, 3]'),
    ('rcbrt', _u_rcbrt, _g_rcbrt, 'y', _nonzero,
     'mx.nd.rcbrt(mx.nd.array([-8, 27]))  # [-0.5, 0.3333]'),
    ('erf', _computed(erf64), _g_erf, 'x', None, 'mx.nd.erf(mx.nd.array([0, 1]))  # [0, 0.8427]'),
    ('erfinv', _computed(erfinv64), _g_erfinv, 'y', _small,
     'mx.nd.erfinv(mx.nd.array([0, 0.5]))  # [0, 0.4769]'),
    ('gamma', _computed(gamma64), _g_gamma, 'xy', _between(0.3, 3.0),
     'mx.nd.gamma(mx.nd.array([0.5, 5]))  # [1.7725, 24]'),
    ('gammaln', _computed(gammaln64), _g_gammaln, 'x', _between(0.3, 3.0),
     'mx.nd.gammaln(mx.nd.array([0.5, 10]))  # [0.5724, 12.8018]'),
]

def _unary_doc(name, example):
    """A docstring whose example (``'EXPR  # [values]'``) runs as a doctest."""
    expr, values = example.split('  # ')
    shown = [round(float(v), 4) for v in values.strip('[]').split(',')]
    return ('Element-wise %s.\n\nExample::\n\n    >>> %s.asnumpy().astype(float).round(4).tolist()\n    %s\n'
            % (name, expr, shown))


for _name, _fn, _grad, _keep, _values, _example in _UNARY:
    _define(UnaryOp, _name, doc=_unary_doc(_name, _example),
            fn=staticmethod(_fn), grad=staticmethod(_grad) if _grad else None, **retention(_keep),
            zero_gradient=_grad is None,
            samples=(Sample({}, {'data': (3, 4)}, values={'data': _values} if _values else None),))


@register
class Clip(Operator):
    """Limit values to ``[a_min, a_max]``; the gradient passes where ``a_min <= x <= a_max``.

    Example::

        >>> mx.nd.clip(mx.nd.array([-2, 0.5, 3]), a_min=0, a_max=1).asnumpy()
        array([0. , 0.5, 1. ], dtype=float32)
    """
    name = 'clip'
    params = {'a_min': Param('float'), 'a_max': Param('float')}
    retain_inputs = (0,)
    retain_outputs = ()
    samples = (Sample({'a_min': -0.5, 'a_max': 0.7}, {'data': (4, 5)}),
               Sample({'a_min': 0.0, 'a_max': 10.0}, {'data': (2, 3)}, values={'data': _nonzero}))

    def forward(self, xp, ins, outs, aux, is_train):
        x, y = ins[0], outs[0]
        lo, hi = self.a_min, self.a_max
        if not _floating(y):
            lo, hi = int(lo), int(hi)
        if lo <= hi:
            xp.clip(x, lo, hi, out=y)
        else:
            # MXNet tests x > a_max first, so an empty interval yields a_max above it and a_min
            # below; np.clip would give a_max everywhere
            y[...] = xp.where(x > hi, hi, xp.where(x < lo, lo, x))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        x = ins[0]
        inside = (x >= self.a_min) & (x <= self.a_max)
        xp.multiply(ograds[0], inside, out=dx)


@register
class HardSigmoid(Operator):
    """``clip(alpha * x + beta, 0, 1)``, element-wise; the gradient is ``alpha`` where the
    result is strictly between 0 and 1, else 0.

    Example::

        >>> mx.nd.hard_sigmoid(mx.nd.array([-3, 0, 1])).asnumpy()
        array([0. , 0.5, 0.7], dtype=float32)
    """
    name = 'hard_sigmoid'
    params = {'alpha': Param('float', 0.2), 'beta': Param('float', 0.5)}
    retain_inputs = ()
    retain_outputs = (0,)
    samples = (Sample({}, {'data': (3, 4)}, values={'data': lambda r, s: r.uniform(-5, 5, s)}),
               Sample({'alpha': 0.5, 'beta': 0.1}, {'data': (2, 3)}))

    def forward(self, xp, ins, outs, aux, is_train):
        y = outs[0]
        if _floating(y):
            xp.multiply(ins[0], self.alpha, out=y)
            y += self.beta
            xp.clip(y, 0, 1, out=y)
        else:
            y[...] = xp.clip(ins[0] * self.alpha + self.beta, 0, 1)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            y = outs[0]
            xp.multiply(ograds[0], (y > 0) & (y < 1), out=dx)
            dx *= self.alpha


@register
class SmoothL1(Operator):
    """The smooth L1 function with ``sigma = scalar``, element-wise: ``0.5 (sigma x)^2`` where
    ``|x| < 1 / sigma^2``, else ``|x| - 0.5 / sigma^2`` (Fast R-CNN's box regression loss).

    Example::

        >>> mx.nd.smooth_l1(mx.nd.array([-2, 0.5]), scalar=1.0).asnumpy()
        array([1.5  , 0.125], dtype=float32)
    """
    name = 'smooth_l1'
    params = {'scalar': Param('float', 1.0)}
    retain_inputs = (0,)
    retain_outputs = ()
    samples = (Sample({'scalar': 2.0}, {'data': (3, 4)}),
               Sample({}, {'data': (2, 3)}, values={'data': lambda r, s: r.uniform(-3, 3, s)}))

    def _inner(self, xp, x):
        s2 = self.scalar * self.scalar
        return xp.abs(x) < 1.0 / s2, s2

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        inner, s2 = self._inner(xp, x)
        outs[0][...] = xp.where(inner, (0.5 * s2) * x * x, xp.abs(x) - 0.5 / s2)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            x = ins[0]
            inner, s2 = self._inner(xp, x)
            xp.multiply(ograds[0], xp.where(inner, s2 * x, xp.sign(x)), out=dx)


@register
class Copy(Operator):
    """The input itself, copied (``identity``); the gradient passes unchanged.

    Example::

        >>> mx.nd.identity(mx.nd.array([1, 2])).asnumpy()
        array([1., 2.], dtype=float32)
    """
    name = '_copy'
    aliases = ('identity',)
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (2, 3)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0]


@register
class IdentityWithAttrLikeRhs(Operator):
    """``lhs`` unchanged, with ``rhs``'s shape: a constraint that lets shape inference carry
    ``rhs``'s shape to ``lhs`` (and back).  ``rhs`` gets a zero gradient.

    Example::

        >>> w = mx.sym.Variable('w')
        >>> y = mx.sym._internal._identity_with_attr_like_rhs(mx.sym.Variable('x'), w)
        >>> y.infer_shape(w=(2, 3))[0]
        [(2, 3), (2, 3)]
    """
    name = '_identity_with_attr_like_rhs'
    arguments = ('lhs', 'rhs')
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'lhs': (2, 3)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0]
        if igrads[1] is not None:
            igrads[1].fill(0)


# ==========================================================================================
# Binary: same shape, and broadcasting

class BinaryOp(Operator):
    """Element-wise ``y = f(lhs, rhs)`` on arrays of one shape; subclasses set ``fn(xp, a, b,
    out)`` and ``dlhs``/``drhs(xp, g, a, b, y, out)`` (``None`` for a zero gradient), which get
    ``a``, ``b`` and ``y`` only where ``retain_inputs``/``retain_outputs`` keep them."""
    arguments = ('lhs', 'rhs')
    retain_inputs = retain_outputs = ()
    fn = dlhs = drhs = None
    # one ufunc call with ``out=``: the output may take either input's memory where nothing
    # else reads it (the planner checks that, and shape and dtype)
    inplace_inputs = (0, 1)

    def infer_shape(self, in_shapes):
        lhs, rhs = in_shapes
        known = lhs if rhs is None else rhs if lhs is None else merge_shape(lhs, rhs)
        if known is None and lhs is not None and rhs is not None:
            raise InferError('%s needs lhs and rhs of one shape, got lhs %s and rhs %s '
                             '(use broadcast_%s to broadcast)'
                             % (self.name, tuple(lhs), tuple(rhs), self._broadcast_hint()))
        return [known, known], [known], []

    def _broadcast_hint(self):
        return self.name.replace('elemwise_', '').lstrip('_')

    def forward(self, xp, ins, outs, aux, is_train):
        _into(xp, type(self).fn, (ins[0], ins[1]), outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        keep = self.retain_inputs
        a, b = (ins[0] if 0 in keep else None), (ins[1] if 1 in keep else None)
        g, y = ograds[0], outs[0] if self.retain_outputs else None
        for i, grad in ((0, type(self).dlhs), (1, type(self).drhs)):
            dx = igrads[i]
            if dx is None:
                continue
            if grad is None:
                dx[...] = 0
                continue
            self._write(xp, grad, g, a, b, y, dx)

    def _write(self, xp, grad, g, a, b, y, dx):
        _write(dx, grad(xp, g, a, b, y, dx))


class BroadcastOp(BinaryOp):
    """Like ``BinaryOp`` with NumPy broadcasting; backward sums each input's gradient back
    down to that input's shape."""

    def infer_shape(self, in_shapes):
        lhs, rhs = in_shapes
        if lhs is None or rhs is None:
            return [lhs, rhs], [None], []
        out = broadcast_shape(lhs, rhs)
        if out is None:
            raise InferError('%s: lhs %s and rhs %s cannot be broadcast together'
                             % (self.name, tuple(lhs), tuple(rhs)))
        return [tuple(lhs), tuple(rhs)], [out], []

    def _write(self, xp, grad, g, a, b, y, dx):
        if dx.shape == g.shape:
            BinaryOp._write(self, xp, grad, g, a, b, y, dx)
        else:
            sum_to_shape(xp, grad(xp, g, a, b, y, None), dx.shape, dx)


def _b_add(xp, a, b, out): return xp.add(a, b, out=out)
def _b_sub(xp, a, b, out): return xp.subtract(a, b, out=out)
def _b_mul(xp, a, b, out): return xp.multiply(a, b, out=out)
def _b_div(xp, a, b, out): return xp.divide(a, b, out=out)
def _b_power(xp, a, b, out): return xp.power(a, b, out=out)
def _b_maximum(xp, a, b, out): return xp.maximum(a, b, out=out)
def _b_minimum(xp, a, b, out): return xp.minimum(a, b, out=out)
def _b_mod(xp, a, b, out): return xp.mod(a, b, out=out)
def _b_hypot(xp, a, b, out): return xp.hypot(a, b, out=out)


def _d_identity(xp, g, a, b, y, out): return g
def _d_negate(xp, g, a, b, y, out): return xp.negative(g, out=out)
def _d_mul_lhs(xp, g, a, b, y, out): return xp.multiply(g, b, out=out)
def _d_mul_rhs(xp, g, a, b, y, out): return xp.multiply(g, a, out=out)
def _d_div_lhs(xp, g, a, b, y, out): return xp.divide(g, b, out=out)


def _d_div_rhs(xp, g, a, b, y, out):     # d(a/b)/db = -a/b^2 = -y/b
    out = xp.multiply(g, y, out=out)
    out /= b
    xp.negative(out, out=out)
    return out


def _d_power_lhs(xp, g, a, b, y, out):   # b * a^(b-1)
    out = xp.power(a, b - 1, out=out)
    out *= b
    out *= g
    return out


def _d_power_rhs(xp, g, a, b, y, out):   # a^b * log(a)
    # ufuncs broadcast their inputs up to ``out``, so this also serves a broadcast lhs
    out = xp.log(a) if out is None else xp.log(a, out=out)
    if out.shape == y.shape:
        out *= y
    else:
        out = out * y
    out *= g
    return out


# ties go to lhs, as in MXNet: d max(a, b) is 1 for a where a >= b, for b where a < b
def _d_max_lhs(xp, g, a, b, y, out): return xp.multiply(g, a >= b, out=out)
def _d_max_rhs(xp, g, a, b, y, out): return xp.multiply(g, a < b, out=out)
def _d_min_lhs(xp, g, a, b, y, out): return xp.multiply(g, a <= b, out=out)
def _d_min_rhs(xp, g, a, b, y, out): return xp.multiply(g, a > b, out=out)


def _d_mod_rhs(xp, g, a, b, y, out):     # a mod b = a - floor(a / b) b
    return xp.multiply(g, -xp.floor(a / b), out=out)


def _d_hypot_lhs(xp, g, a, b, y, out): return xp.multiply(g, a / y, out=out)
def _d_hypot_rhs(xp, g, a, b, y, out): return xp.multiply(g, b / y, out=out)


def _cmp(ufunc_name):
    def fn(xp, a, b, out):
        return getattr(xp, ufunc_name)(a, b, out=out)
    return fn


# key, same-shape name and aliases, broadcast name and aliases, fn, dlhs, drhs,
# what backward reads (of lhs 'a', rhs 'b', output 'y'), rhs sample values, lhs sample values,
# symbol
_BINARY = [
    ('add', 'elemwise_add', ('_plus', '_Plus', '_add'), 'broadcast_add', ('broadcast_plus',),
     _b_add, _d_identity, _d_identity, '', None, None, '+'),
    ('sub', 'elemwise_sub', ('_minus', '_Minus', '_sub'), 'broadcast_sub', ('broadcast_minus',),
     _b_sub, _d_identity, _d_negate, '', None, None, '-'),
    ('mul', 'elemwise_mul', ('_mul', '_Mul'), 'broadcast_mul', (),
     _b_mul, _d_mul_lhs, _d_mul_rhs, 'ab', None, None, '*'),
    ('div', 'elemwise_div', ('_div', '_Div'), 'broadcast_div', (),
     _b_div, _d_div_lhs, _d_div_rhs, 'by', _nonzero, None, '/'),
    ('power', '_power', ('_Power',), 'broadcast_power', (),
     _b_power, _d_power_lhs, _d_power_rhs, 'aby', None, _positive, '**'),
    ('maximum', '_maximum', ('_Maximum',), 'broadcast_maximum', (),
     _b_maximum, _d_max_lhs, _d_max_rhs, 'ab', None, None, None),
    ('minimum', '_minimum', ('_Minimum',), 'broadcast_minimum', (),
     _b_minimum, _d_min_lhs, _d_min_rhs, 'ab', None, None, None),
    ('mod', '_mod', ('_Mod',), 'broadcast_mod', (),
     _b_mod, _d_identity, _d_mod_rhs, 'ab', _away_from_multiples, _fraction, '%'),
    ('hypot', '_hypot', ('hypot',), 'broadcast_hypot', (),
     _b_hypot, _d_hypot_lhs, _d_hypot_rhs, 'aby', _nonzero, None, None),
]
_COMPARISONS = [
    ('equal', '_equal', ('_Equal',), 'equal', '=='),
    ('not_equal', '_not_equal', ('_Not_Equal',), 'not_equal', '!='),
    ('greater', '_greater', ('_Greater',), 'greater', '>'),
    ('greater_equal', '_greater_equal', ('_Greater_Equal',), 'greater_equal', '>='),
    ('lesser', '_lesser', ('_Lesser',), 'less', '<'),
    ('lesser_equal', '_lesser_equal', ('_Lesser_Equal',), 'less_equal', '<='),
    ('logical_and', '_logical_and', (), 'logical_and', 'and'),
    ('logical_or', '_logical_or', (), 'logical_or', 'or'),
    ('logical_xor', '_logical_xor', (), 'logical_xor', 'xor'),
]


def _binary_samples(lvals, rvals, shapes):
    values = {k: v for k, v in (('lhs', lvals), ('rhs', rvals)) if v is not None}
    return tuple(Sample({}, {'lhs': l, 'rhs': r}, values=values) for l, r in shapes)


_SAME = [((3, 4), (3, 4))]
_BCAST = [((3, 4), (3, 4)), ((3, 4), (1, 4)), ((2, 1, 3), (4, 1)), ((4,), (2, 3, 4)),
          ((2, 3), (1,))]

for (_key, _ename, _ealiases, _bname, _baliases, _fn, _dl, _dr, _keep, _rv, _lv,
     _sym) in _BINARY:
    _common = dict(fn=staticmethod(_fn), dlhs=staticmethod(_dl), drhs=staticmethod(_dr),
                   retain_inputs=tuple(i for i, k in enumerate('ab') if k in _keep),
                   retain_outputs=(0,) if 'y' in _keep else ())
    _define(BinaryOp, _ename, _ealiases,
            doc='Element-wise %s of two arrays of one shape%s.\n\n'
                'Example::\n\n    >>> mx.nd.%s(mx.nd.ones((2,)), mx.nd.ones((2,))).shape\n'
                '    (2,)\n' % (_key, ' (``lhs %s rhs`` on symbols)' % _sym if _sym else '',
                              _ename),
            samples=_binary_samples(_lv, _rv, _SAME), **_common)
    _define(BroadcastOp, _bname, _baliases,
            doc='Element-wise %s with NumPy broadcasting.\n\nExample::\n\n'
                '    >>> mx.nd.%s(mx.nd.ones((2, 3)), mx.nd.ones((1, 3))).shape\n'
                '    (2, 3)\n' % (_key, _bname),
            samples=_binary_samples(_lv, _rv, _BCAST), **_common)


class CompareOp(BinaryOp):
    """``lhs OP rhs`` on one shape: 1 where true, 0 where false, in the input dtype (the default
    type rule, as in MXNet); no gradient flows through a comparison."""
    dlhs = drhs = None


class BroadcastCompareOp(BroadcastOp):
    """``CompareOp`` with NumPy broadcasting."""
    dlhs = drhs = None


_CMP_DOC = ('Element-wise ``lhs %s rhs``: 1 where true, 0 where false, in the input dtype%s.'
            '\n\nExample::\n\n    >>> mx.nd.%s(mx.nd.array([1, 2, 3]), mx.nd.array(%s)).shape'
            '\n    (3,)\n')
for _key, _ename, _ealiases, _ufunc, _sym in _COMPARISONS:
    _define(CompareOp, _ename, _ealiases, fn=staticmethod(_cmp(_ufunc)),
            doc=_CMP_DOC % (_sym, '', _ename, '[2, 2, 2]'),
            samples=_binary_samples(None, None, _SAME))
    _define(BroadcastCompareOp, 'broadcast_' + _key, fn=staticmethod(_cmp(_ufunc)),
            doc=_CMP_DOC % (_sym, ', with broadcasting', 'broadcast_' + _key, '[2]'),
            samples=_binary_samples(None, None, _BCAST[:3]))


# ==========================================================================================
# With a scalar

class ScalarOp(Operator):
    """Element-wise ``y = f(x, scalar)``; subclasses set ``fn(xp, x, s, out)`` and
    ``grad(xp, g, x, s, y, out)`` (``None`` for a zero gradient): the signatures of the binary
    operators' math with ``rhs`` the scalar, so most of it is shared.

    ``is_int`` is what MXNet 1.9 writes when the Python scalar was an int; the value is cast to
    the input's dtype either way (so ``int_array + 2.7`` adds 2, as in MXNet).
    """
    params = {'scalar': Param('float', 1.0), 'is_int': Param('bool', True)}
    retain_inputs = retain_outputs = ()
    fn = grad = None

    def _scalar(self, x):
        return x.dtype.type(self.scalar)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        _into(xp, type(self).fn, (x, self._scalar(x)), outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        grad = type(self).grad
        if grad is None:
            dx[...] = 0
            return
        x = ins[0] if self.retain_inputs else None
        y = outs[0] if self.retain_outputs else None
        _write(dx, grad(xp, ograds[0], x, dx.dtype.type(self.scalar), y, dx))


def _swapped(fn):
    """``fn`` with its two operands exchanged: ``scalar - x`` from ``a - b``."""
    def swapped(xp, x, s, out):
        return fn(xp, s, x, out)
    return swapped


def _gs_rdiv(xp, g, x, s, y, out):       # d(s/x) = -s/x^2 = -y/x
    out = xp.divide(y, x, out=out)
    out *= g
    xp.negative(out, out=out)
    return out


def _gs_rpower(xp, g, x, s, y, out):     # s^x * log(s)
    out = xp.multiply(g, y, out=out)
    out *= np.log(s)
    return out


# name, aliases, fn, grad, what backward reads ('x', 'y'), samples (attrs, values); the
# gradients are those of the binary operators with respect to lhs (ties pass the gradient in
# maximum and minimum, x >= s and x <= s, as in MXNet)
_SCALAR = [
    ('_plus_scalar', ('_PlusScalar',), _b_add, _d_identity, '', [({'scalar': 2.5}, None)],
     'x + scalar'),
    ('_minus_scalar', ('_MinusScalar',), _b_sub, _d_identity, '', [({'scalar': 2}, None)],
     'x - scalar'),
    ('_rminus_scalar', ('_RMinusScalar',), _swapped(_b_sub), _d_negate, '',
     [({'scalar': 2}, None)], 'scalar - x'),
    ('_mul_scalar', ('_MulScalar',), _b_mul, _d_mul_lhs, '', [({'scalar': -1.5}, None)],
     'x * scalar'),
    ('_div_scalar', ('_DivScalar',), _b_div, _d_div_lhs, '', [({'scalar': 4}, None)],
     'x / scalar'),
    ('_rdiv_scalar', ('_RDivScalar',), _swapped(_b_div), _gs_rdiv, 'xy',
     [({'scalar': 3}, _nonzero)], 'scalar / x'),
    ('_power_scalar', ('_PowerScalar',), _b_power, _d_power_lhs, 'x',
     [({'scalar': 2}, None), ({'scalar': 3}, None), ({'scalar': 0.5}, _positive)],
     'x ** scalar'),
    ('_rpower_scalar', ('_RPowerScalar',), _swapped(_b_power), _gs_rpower, 'y',
     [({'scalar': 2}, None), ({'scalar': 0.5}, None)], 'scalar ** x'),
    ('_maximum_scalar', ('_MaximumScalar',), _b_maximum, _d_max_lhs, 'x',
     [({'scalar': 0.1}, None)], 'max(x, scalar)'),
    ('_minimum_scalar', ('_MinimumScalar',), _b_minimum, _d_min_lhs, 'x',
     [({'scalar': 0.1}, None)], 'min(x, scalar)'),
]
_SCALAR_COMPARISONS = [
    ('_equal_scalar', ('_EqualScalar',), 'equal', '=='),
    ('_not_equal_scalar', ('_NotEqualScalar',), 'not_equal', '!='),
    ('_greater_scalar', ('_GreaterScalar',), 'greater', '>'),
    ('_greater_equal_scalar', ('_GreaterEqualScalar',), 'greater_equal', '>='),
    ('_lesser_scalar', ('_LesserScalar',), 'less', '<'),
    ('_lesser_equal_scalar', ('_LesserEqualScalar',), 'less_equal', '<='),
]

for _name, _aliases, _fn, _grad, _keep, _cases, _what in _SCALAR:
    _define(ScalarOp, _name, _aliases, fn=staticmethod(_fn), grad=staticmethod(_grad),
            **retention(_keep),
            doc='Element-wise ``%s`` (what ``sym %s`` and ``nd %s`` with a number make).\n'
                % (_what, _what, _what),
            samples=tuple(Sample(a, {'data': (3, 4)}, values={'data': v} if v else None)
                          for a, v in _cases))

for _name, _aliases, _ufunc, _sym in _SCALAR_COMPARISONS:
    _define(ScalarOp, _name, _aliases, fn=staticmethod(_cmp(_ufunc)),
            doc='Element-wise ``x %s scalar``: 1 where true, 0 where false, in the input dtype.\n'
                % _sym,
            samples=(Sample({'scalar': 0.2}, {'data': (3, 4)}),))


# ==========================================================================================

@register
class AddN(Operator):
    """Sum of any number of arrays of one shape.

    Example::

        >>> mx.nd.add_n(mx.nd.ones((2,)), mx.nd.ones((2,)), mx.nd.ones((2,))).asnumpy()
        array([3., 3.], dtype=float32)
    """
    name = 'add_n'
    aliases = ('ElementWiseSum',)
    params = {'num_args': Param('int')}
    variadic = True
    key_var_num_args = 'num_args'
    retain_inputs = retain_outputs = ()
    samples = (Sample({'num_args': 3}, {'arg0': (2, 3), 'arg1': (2, 3), 'arg2': (2, 3)}),
               Sample({'num_args': 1}, {'arg0': (4,)}))

    def setup(self):
        if self.num_args < 1:
            raise InferError('add_n needs num_args >= 1, got %d' % self.num_args)

    def infer_shape(self, in_shapes):
        names = self.list_arguments()
        known = [(n, tuple(s)) for n, s in zip(names, in_shapes) if s is not None]
        for n, s in known[1:]:
            if s != known[0][1]:
                raise InferError('add_n needs inputs of one shape, got %s %s and %s %s'
                                 % (known[0][0], known[0][1], n, s))
        shape = known[0][1] if known else None
        return [shape] * len(in_shapes), [shape], []

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        if len(ins) == 1:
            out[...] = ins[0]
            return
        xp.add(ins[0], ins[1], out=out)
        for x in ins[2:]:
            out += x

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        for dx in igrads:
            if dx is not None:
                dx[...] = ograds[0]


del _name, _fn, _grad, _keep, _values, _example, _key, _ename, _ealiases, _bname, _baliases
del _dl, _dr, _rv, _lv, _sym, _common, _ufunc, _aliases, _cases, _what
