"""NDArray functions of MXNet 1.x beyond its operators: ``mx.nd.eye``, ``linspace``,
``cumsum``, ``histogram``, ``split_v2``, ``from_numpy``, ``from_dlpack``/``to_dlpack_for_read``/
``to_dlpack_for_write``, ``load_frombuffer``, ``imdecode``, ``all_finite``,
``multi_all_finite``, ``multi_sum_sq``, ``multi_lars``, ``reset_arrays``, and
``mx.nd.contrib.rand_zipfian``.

Example::

    >>> mx.nd.cumsum(mx.nd.array([[1, 2], [3, 4]]), axis=0).asnumpy()
    array([[1., 2.],
           [4., 6.]], dtype=float32)
"""
import numpy as np

from ..base import MXNetError
from ..context import current_context
from .ndarray import NDArray, _wrap, array

__all__ = ['eye', 'linspace', 'cumsum', 'histogram', 'split_v2', 'from_numpy', 'from_dlpack',
           'to_dlpack_for_read', 'to_dlpack_for_write', 'load_frombuffer', 'imdecode',
           'all_finite', 'multi_all_finite', 'multi_sum_sq', 'multi_lars', 'reset_arrays',
           'rand_zipfian', 'boolean_mask']


def _out(value, ctx, out=None):
    res = _wrap(value, ctx)
    if out is not None:
        out[:] = res
        return out
    return res


def eye(N, M=0, k=0, ctx=None, dtype='float32', **kwargs):
    """An ``N`` x ``M`` array (``M=0``: square) with ones on diagonal ``k``."""
    ctx = ctx or current_context()
    return _out(ctx.xp.eye(int(N), int(M) or None, int(k), dtype=dtype or 'float32'), ctx,
                kwargs.get('out'))


def linspace(start, stop, num, endpoint=True, ctx=None, dtype='float32'):
    """``num`` evenly spaced values from ``start`` to ``stop`` (included with ``endpoint``)."""
    ctx = ctx or current_context()
    return _wrap(ctx.xp.linspace(start, stop, int(num), endpoint=endpoint).astype(
        dtype or 'float32'), ctx)


def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along ``axis`` (of the flattened array when None)."""
    xp = a.context.xp
    data = a._data.reshape(-1) if axis is None else a._data
    res = xp.cumsum(data, axis=0 if axis is None else axis,
                    dtype=np.dtype(dtype) if dtype is not None else data.dtype)
    return _out(res, a.context, out)


def histogram(a, bins=10, range=None):     # noqa: A002 (MXNet's name)
    """``(counts, bin_edges)`` of ``a``'s values: ``bins`` equal bins over ``range`` (the data's
    span when None), or the given edges (an NDArray or a sequence)."""
    xp = a.context.xp
    if isinstance(bins, NDArray):
        bins = bins._data
    counts, edges = xp.histogram(a._data, bins=bins, range=range)
    return (_wrap(counts.astype(np.int64), a.context),
            _wrap(edges.astype(a._data.dtype if a._data.dtype.kind == 'f' else np.float32),
                  a.context))


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """NumPy's ``split``: ``indices_or_sections`` equal parts, or the split points."""
    if not isinstance(indices_or_sections, (int, tuple, list)):
        raise ValueError('indices_or_sections must be an int or a tuple of ints')
    xp = ary.context.xp
    parts = xp.split(ary._data, indices_or_sections if isinstance(indices_or_sections, int)
                     else list(indices_or_sections), axis=axis)
    if squeeze_axis:
        parts = [xp.squeeze(p, axis=axis) for p in parts]
    return [_wrap(xp.ascontiguousarray(p), ary.context) for p in parts]


def from_numpy(ndarray, zero_copy=True):
    """An NDArray of a NumPy array (sharing its memory when ``zero_copy`` and contiguous)."""
    if not isinstance(ndarray, np.ndarray):
        raise MXNetError('from_numpy takes a NumPy array, got %s' % type(ndarray).__name__)
    from ..context import cpu
    if zero_copy and ndarray.flags.c_contiguous:
        return _wrap(ndarray, cpu())
    return array(ndarray, dtype=ndarray.dtype)


def to_dlpack_for_read(data):
    """A DLPack capsule of ``data``'s memory (NumPy's or CuPy's ``__dlpack__``)."""
    return data._data.__dlpack__()


to_dlpack_for_write = to_dlpack_for_read


def from_dlpack(dlpack):
    """An NDArray sharing the memory of a DLPack capsule, or of an array with ``__dlpack__``
    (host memory: NumPy; device memory: CuPy)."""
    from ..context import cpu, gpu, _get_cupy
    obj = dlpack
    if type(dlpack).__name__ == 'PyCapsule':
        class _Holder:
            def __init__(self, cap):
                self.cap = cap

            def __dlpack__(self, stream=None):
                return self.cap

            def __dlpack_device__(self):
                return (1, 0)
        obj = _Holder(dlpack)
    device = getattr(obj, '__dlpack_device__', lambda: (1, 0))()
    if device[0] == 1:
        return _wrap(np.from_dlpack(obj), cpu())
    cp = _get_cupy()
    if cp is None:
        raise MXNetError('from_dlpack: device memory needs CuPy')
    return _wrap(cp.from_dlpack(obj), gpu(device[1]))


def load_frombuffer(buf):
    """``mx.nd.load`` of the bytes of a ``.params``/``mx.nd.save`` file (a dict or list)."""
    import os
    import tempfile
    from .utils import load
    fd, path = tempfile.mkstemp(suffix='.params')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(bytes(buf))
        return load(path)
    finally:
        os.unlink(path)


def imdecode(str_img, clip_rect=(0, 0, 0, 0), out=None, index=0, channels=3, mean=None):
    """MXNet's old ``mx.nd.imdecode``: the image in ``str_img`` (bytes) as a (C, H, W) float
    array, ``mean`` subtracted, cropped to ``clip_rect`` (x0, y0, x1, y1) when not zeros."""
    from .. import image
    img = image.imdecode(str_img, flag=1 if channels == 3 else 0).asnumpy()
    if img.ndim == 2:
        img = img[:, :, None]
    x0, y0, x1, y1 = clip_rect
    if x1 > x0 and y1 > y0:
        img = img[y0:y1, x0:x1]
    res = img.transpose(2, 0, 1).astype(np.float32)
    if mean is not None:
        res = res - (mean.asnumpy() if isinstance(mean, NDArray) else np.asarray(mean))
    res = array(res)
    if out is not None:
        out[:] = res
        return out
    return res


def all_finite(data, init_output=True, out=None):
    """``[1.]`` when every value of ``data`` is finite, else ``[0.]``."""
    xp = data.context.xp
    return _out(xp.asarray([float(bool(xp.isfinite(data._data).all()))], dtype=np.float32),
                data.context, out)


def multi_all_finite(*arrays, num_arrays=None, init_output=True, out=None):
    """``[1.]`` when every value of every array is finite, else ``[0.]``."""
    arrays = arrays[:num_arrays] if num_arrays else arrays
    ok = all(bool(a.context.xp.isfinite(a._data).all()) for a in arrays)
    ctx = arrays[0].context if arrays else current_context()
    return _out(ctx.xp.asarray([float(ok)], dtype=np.float32), ctx, out)


def multi_sum_sq(*arrays, num_arrays=None, out=None):
    """The sum of squares of each array (float32), one value per array."""
    arrays = arrays[:num_arrays] if num_arrays else arrays
    ctx = arrays[0].context
    xp = ctx.xp
    sums = [xp.square(a._data.astype(np.float32)).sum() for a in arrays]
    return _out(xp.asarray(xp.stack(sums) if sums else xp.zeros(0), dtype=np.float32), ctx, out)


def multi_lars(lrs, weights_sum_sq, grads_sum_sq, wds, eta, eps, rescale_grad=1.0, out=None):
    """LARS's learning rates: ``lr * eta * |w| / (|g| + wd |w| + eps)`` per weight (``lr``
    where either norm is 0), from the sums of squares."""
    xp = lrs.context.xp
    w = xp.sqrt(weights_sum_sq._data)
    g = xp.sqrt(grads_sum_sq._data) * rescale_grad
    ratio = xp.where((w > 0) & (g > 0), eta * w / (g + wds._data * w + eps), 1.0)
    return _out((lrs._data * ratio).astype(lrs._data.dtype), lrs.context, out)


def reset_arrays(*arrays, num_arrays=None):
    """Set every array to zeros, in place."""
    for a in (arrays[:num_arrays] if num_arrays else arrays):
        a._data[...] = 0


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """Candidate sampling from the log-uniform (Zipfian) distribution over
    ``[0, range_max)``, P(c) = (log(c + 2) - log(c + 1)) / log(range_max + 1), as sampled
    softmax and NCE use: ``(sampled classes (int64, num_sampled), expected count of each
    true class, expected count of each sampled class)``, the counts being
    ``num_sampled * P``.
    """
    from .. import random as _random
    ctx = ctx or true_classes.context
    xp = ctx.xp
    log_range = np.log(range_max + 1.0)
    u = _random.generator(np).uniform(0.0, log_range, int(num_sampled))
    sampled = (np.floor(np.exp(u)).astype(np.int64) - 1) % int(range_max)

    def expected(classes):
        c = np.asarray(classes, dtype=np.float64)
        return (np.log(c + 2.0) - np.log(c + 1.0)) / log_range * num_sampled

    true = true_classes.asnumpy()
    return (_wrap(xp.asarray(sampled), ctx),
            _wrap(xp.asarray(expected(true).astype(true.dtype if true.dtype.kind == 'f'
                                                   else np.float32)), ctx),
            _wrap(xp.asarray(expected(sampled).astype(np.float32)), ctx))


def boolean_mask(data, index, axis=0):
    """The slices of ``data`` along ``axis`` (0 only, as MXNet's) where ``index`` (1-D, one
    value per slice) is not zero.  An NDArray function: its output's size depends on the
    values, which a graph's shape inference cannot know.

    Example::

        >>> mx.nd.contrib.boolean_mask(mx.nd.array([[1, 2], [3, 4], [5, 6]]),
        ...                            mx.nd.array([0, 1, 1])).asnumpy()
        array([[3., 4.],
               [5., 6.]], dtype=float32)
    """
    if axis != 0:
        raise MXNetError('boolean_mask: only axis=0 is supported (as in MXNet), got %r' % axis)
    xp = data.context.xp
    mask = index._data.reshape(-1)
    if mask.shape[0] != data.shape[0]:
        raise MXNetError('boolean_mask: index has %d values for %d slices of data'
                         % (mask.shape[0], data.shape[0]))
    return _wrap(xp.ascontiguousarray(data._data[mask != 0]), data.context)
