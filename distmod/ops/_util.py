"""Small helpers shared by operator families."""
import numpy as np

from .. import _blas, _native

#: multiply-adds per thread below which a GEMM is one BLAS call (``split_matmul``).  Above it
#: the GEMM's parts run on distmod's native threads, and OpenBLAS's own threads stay asleep:
#: in LeNet's fit at 2 threads (2-vCPU AVX-512 EPYC VM) OpenBLAS's threads woke onto the core
#: the native threads were spinning on, and fc1's GEMMs (64 x 800 x 500, 1.6x faster on
#: OpenBLAS's 2 threads than split, alone) took as long as on one.  Step medians, ms, 16
#: rounds interleaved in one process: 2^24 here 10.06, 2^22 9.63 (the native threads
#: spinning 300 us).  Not lower: the MNIST MLP's GEMMs (100 x 784 x 128, 10 M) split took
#: 138 us against OpenBLAS's 118, and its step 1.20 ms against 0.45 at 2^23 and 2^24
SPLIT_GEMM_MIN = 1 << 23


def split_matmul(xp, a, b, out):
    """out = a @ b (2-D) split by columns over the native pool's threads, one single-threaded
    OpenBLAS gemm each (``distmod._blas.split_gemm``), where OpenBLAS's own threads scale
    less; True where it ran: NumPy, products of at least two ``SPLIT_GEMM_MIN`` parts (the
    caller's own call runs the rest, costing it one multiplication here)."""
    return (xp is np and a.shape[0] * a.shape[1] * b.shape[1] >= 2 * SPLIT_GEMM_MIN
            and _blas.split_gemm(a, b, out, _native.pool, SPLIT_GEMM_MIN))


def prod(shape):
    out = 1
    for d in shape:
        out *= d
    return out


def retention(keep):
    """``retain_inputs``/``retain_outputs`` (as keyword arguments) of a one-input one-output
    operator whose backward reads what ``keep`` names: 'x' (the input), 'y' (the output), both
    or neither ('')."""
    return dict(retain_inputs=(0,) if 'x' in keep else (),
                retain_outputs=(0,) if 'y' in keep else ())


def norm_axis(axis, ndim, op_name='operator'):
    """``axis`` (may be negative) as a non-negative int, or a clear error."""
    from .registry import InferError
    a = axis + ndim if axis < 0 else axis
    if not 0 <= a < ndim:
        raise InferError('axis %d is out of range for %d dimensions' % (axis, ndim))
    return a


def broadcast_shape(lhs, rhs):
    """NumPy's broadcast of two shapes, or None when they do not broadcast."""
    n = max(len(lhs), len(rhs))
    a = (1,) * (n - len(lhs)) + tuple(lhs)
    b = (1,) * (n - len(rhs)) + tuple(rhs)
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def sum_to_shape(xp, g, shape, out):
    """Write into ``out`` the sum of ``g`` over the axes along which ``shape`` was broadcast."""
    if g.shape == tuple(shape):
        out[...] = g
        return out
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape)
                                      if d == 1 and g.shape[i + lead] != 1)
    xp.sum(g, axis=axes, out=out.reshape(out.shape if not axes else
                                             [g.shape[i] for i in range(g.ndim) if i not in axes]))
    return out


def erf(xp, x):
    """The error function, element-wise, accurate to about 1.2e-7 (NumPy has none).

    Numerical Recipes' Chebyshev fit of erfc; works for numpy and cupy arrays alike.
    """
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
        0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
            1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * xp.exp(poly)
    return xp.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype, copy=False)
