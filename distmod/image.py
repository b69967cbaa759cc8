"""``mx.image``: image decoding, resizing, cropping and augmentation, and ``ImageIter``.

Images are NDArrays (H, W, C), uint8 when decoded, channels RGB (``to_rgb=False``: BGR).
Decoding is Pillow's (``pip install 'distmod[image]'``), imported when first needed; it gives
the very pixels MXNet's OpenCV gives for JPEG (libjpeg-turbo, accurate DCT, fancy
upsampling) and PNG, colour and grey.  Resizing is distmod's own NumPy rendering of OpenCV's
``cv::resize`` (MXNet's ``imresize``): the same source pixels, fixed-point weights and
rounding (that of OpenCV's vectorised loops where they run) for nearest (0), bilinear (1),
bicubic (2), area (3) and Lanczos (4), and the same shortcut for halving; on the test
images every method gives MXNet 1.9.1's pixels exactly (tests/test_image.py).  Not done:
EXIF orientation (OpenCV's ``imdecode`` turns such JPEGs; MXNet's ImageRecordIter does
not), 16-bit images.

Random augmenters draw from Python's ``random`` module (and ``LightingAug`` from
``numpy.random``), as MXNet's do: ``random.seed(n)`` makes them repeat, and gives the crops
and flips MXNet's Python augmenters give under the same seed.

Example::

    >>> img = mx.nd.array(np.arange(48).reshape(4, 4, 3), dtype='uint8')
    >>> mx.image.center_crop(img, (2, 2))[0].shape
    (2, 2, 3)
    >>> mx.image.imresize(img, 8, 6).shape
    (6, 8, 3)
    >>> mx.image.resize_short(img, 2).shape
    (2, 2, 3)
"""
import functools
import io as _pyio
import json
import logging
import os
import random

import numpy as np

from .base import MXNetError, numeric_types
from .context import cpu
from .ndarray.ndarray import NDArray, _wrap
from . import io
from . import recordio

__all__ = ['imread', 'imdecode', 'imresize', 'scale_down', 'copyMakeBorder', 'resize_short',
           'fixed_crop', 'random_crop', 'center_crop', 'color_normalize', 'random_size_crop',
           'Augmenter', 'SequentialAug', 'RandomOrderAug', 'ResizeAug', 'ForceResizeAug',
           'RandomCropAug', 'RandomSizedCropAug', 'CenterCropAug', 'BrightnessJitterAug',
           'ContrastJitterAug', 'SaturationJitterAug', 'HueJitterAug', 'ColorJitterAug',
           'LightingAug', 'ColorNormalizeAug', 'RandomGrayAug', 'HorizontalFlipAug', 'CastAug',
           'CreateAugmenter', 'ImageIter']

INSTALL_HINT = "pip install 'distmod[image]'"


def pil_image():
    """Pillow's ``PIL.Image`` (a clear error naming the extra to install without it)."""
    try:
        from PIL import Image
    except ImportError:
        raise MXNetError('decoding and encoding images needs Pillow: %s' % INSTALL_HINT) \
            from None
    return Image


# ---- decoding ---------------------------------------------------------------------------
def _as_bytes(buf):
    if isinstance(buf, NDArray):
        buf = buf.asnumpy()
    if isinstance(buf, np.ndarray):
        return buf.astype(np.uint8, copy=False).tobytes()
    if isinstance(buf, (bytes, bytearray, memoryview)):
        return bytes(buf)
    raise ValueError('buf must be of type bytes, bytearray or numpy.ndarray, if you would '
                     'like to input type str, please convert to bytes')


def _gray_from_rgb(rgb, fmt):
    """OpenCV's grey (``IMREAD_GRAYSCALE``) of an RGB uint8 image: libpng's integer
    weights, truncated, for PNG; OpenCV's rounded ones for everything else."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    if fmt == 'PNG':
        return ((r * 9797 + g * 19234 + b * 3737) >> 15).astype(np.uint8)
    return ((r * 4899 + g * 9617 + b * 1868 + 8192) >> 14).astype(np.uint8)


def decode(buf, flag=1):
    """Decode image bytes to a NumPy uint8 array as MXNet does: ``flag=1`` RGB (H, W, 3),
    ``0`` grey (H, W, 1), ``-1`` as stored (grey (H, W, 1), RGB or RGBA)."""
    Image = pil_image()
    data = _as_bytes(buf)
    try:
        im = Image.open(_pyio.BytesIO(data))
        fmt = im.format
        if flag == 0 and fmt == 'JPEG' and im.mode in ('RGB', 'YCbCr', 'L'):
            im.draft('L', im.size)          # libjpeg's own grey: the luma, as OpenCV's
        im.load()
    except Exception as e:
        raise MXNetError('imdecode: cannot decode the image (%d bytes): %s'
                         % (len(data), e)) from None
    if flag == 0:
        if im.mode == 'L':
            out = np.asarray(im)
        elif im.mode in ('I;16', 'I;16B', 'I'):
            out = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        else:
            out = _gray_from_rgb(np.asarray(im.convert('RGB')), fmt)
        return np.ascontiguousarray(out[:, :, None])
    if flag < 0:
        if im.mode == 'L':
            return np.ascontiguousarray(np.asarray(im)[:, :, None])
        if im.mode in ('RGBA', 'LA', 'PA') or (im.mode == 'P' and
                                               'transparency' in im.info):
            return np.ascontiguousarray(np.asarray(im.convert('RGBA')))
    return np.ascontiguousarray(np.asarray(im.convert('RGB')))


def decode_bgr(buf, iscolor=-1):
    """Decode as ``cv2.imdecode(buf, iscolor)`` does: BGR (H, W, 3) for 1, grey (H, W) for
    0, and for -1 the channels stored (grey (H, W), BGR or BGRA)."""
    img = decode(buf, 1 if iscolor > 0 else iscolor)
    if img.shape[2] == 1:
        return img[:, :, 0]
    order = [2, 1, 0, 3][:img.shape[2]]
    return np.ascontiguousarray(img[:, :, order])


def encode_bgr(img, quality=95, img_fmt='.jpg'):
    """Encode a uint8 image in OpenCV's layout ((H, W) grey, (H, W, 3) BGR, (H, W, 4) BGRA)
    as '.jpg' (``quality``) or '.png' (``quality`` the zlib level, clipped to 0-9)."""
    Image = pil_image()
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise MXNetError('pack_img: images are uint8, got %s' % img.dtype)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = img[:, :, [2, 1, 0, 3][:img.shape[2]]]
    im = Image.fromarray(np.ascontiguousarray(img))
    fmt = img_fmt.lower()
    out = _pyio.BytesIO()
    if fmt in ('.jpg', '.jpeg'):
        if im.mode == 'RGBA':
            im = im.convert('RGB')
        im.save(out, format='JPEG', quality=int(quality))
    elif fmt == '.png':
        im.save(out, format='PNG', compress_level=int(min(max(quality, 0), 9)))
    else:
        raise MXNetError("pack_img: img_fmt must be '.jpg' or '.png', got %r" % (img_fmt,))
    return out.getvalue()


# ---- resizing (OpenCV's cv::resize, in NumPy) --------------------------------------------
NEAREST, LINEAR, CUBIC, AREA, LANCZOS4 = 0, 1, 2, 3, 4
_COEF_BITS = 11
_COEF_SCALE = 1 << _COEF_BITS


def _cubic_coeffs(x):
    a = np.float32(-0.75)
    one = np.float32(1)
    x1 = x + one
    c0 = ((a * x1 - np.float32(5) * a) * x1 + np.float32(8) * a) * x1 - np.float32(4) * a
    c1 = ((a + np.float32(2)) * x - (a + np.float32(3))) * x * x + one
    y = one - x
    c2 = ((a + np.float32(2)) * y - (a + np.float32(3))) * y * y + one
    c3 = one - c0 - c1 - c2
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.float32)


def _lanczos4_coeffs(x):
    s45 = 0.70710678118654752440084436210485
    cs = [(1, 0), (-s45, -s45), (0, 1), (s45, -s45), (-1, 0), (s45, s45), (0, -1),
          (-s45, s45)]
    x = x.astype(np.float64)
    out = np.zeros((x.shape[0], 8), np.float32)
    small = x < np.finfo(np.float32).eps
    y0 = -(x + 3) * np.pi * 0.25
    s0, c0 = np.sin(y0), np.cos(y0)
    total = np.zeros(x.shape[0], np.float32)
    for i in range(8):
        y = -(x + 3 - i) * np.pi * 0.25
        with np.errstate(divide='ignore', invalid='ignore'):
            out[:, i] = ((cs[i][0] * s0 + cs[i][1] * c0) / (y * y)).astype(np.float32)
        total += out[:, i]
    with np.errstate(divide='ignore', invalid='ignore'):
        out *= (np.float32(1) / total)[:, None]
    out[small] = 0
    out[small, 3] = 1
    return out


@functools.lru_cache(maxsize=512)
def _taps(src_len, dst_len, interp, clamp=True):
    """For one axis: the source index (dst_len, k) and weight (dst_len, k) float32 of each
    output position, as cv::resize computes them (``interp`` LINEAR, CUBIC, LANCZOS4, or
    AREA when enlarging: OpenCV's linear with area-style weights).  OpenCV moves the
    weights of the linear taps that fall outside the image only along x (``clamp``); along
    y only the rows are clamped.  (Cached: callers must not change the arrays.)"""
    inv = dst_len / src_len
    scale = 1.0 / inv
    d = np.arange(dst_len, dtype=np.float64)
    if interp == AREA:
        sx = np.floor(d * scale).astype(np.int64)
        fx = ((d + 1) - (sx + 1) * inv).astype(np.float32)
        fx = np.where(fx <= 0, np.float32(0), fx - np.floor(fx)).astype(np.float32)
    else:
        fx = ((d + 0.5) * scale - 0.5).astype(np.float32)
        sx = np.floor(fx).astype(np.int64)
        fx = (fx - sx.astype(np.float32)).astype(np.float32)
    if interp in (LINEAR, AREA) and clamp:
        low = sx < 0
        fx[low], sx[low] = 0, 0
        high = sx >= src_len - 1
        fx[high], sx[high] = 0, src_len - 1
    if interp in (LINEAR, AREA):
        coeffs = np.stack([np.float32(1) - fx, fx], axis=1).astype(np.float32)
    elif interp == CUBIC:
        coeffs = _cubic_coeffs(fx)
    else:
        coeffs = _lanczos4_coeffs(fx)
    k = coeffs.shape[1]
    idx = sx[:, None] - (k // 2 - 1) + np.arange(k)[None, :]
    return np.clip(idx, 0, src_len - 1), coeffs


def _resize_separable(src, w, h, interp, region):
    """Linear, cubic and Lanczos (and area when enlarging): OpenCV's two passes, in its
    fixed point (11-bit weights) for uint8; only the output ``region`` (y0, x0, h, w) is
    computed, from the source rows it needs."""
    y0, x0, rh, rw = region
    xi, xc = _taps(src.shape[1], w, interp)
    yi, yc = _taps(src.shape[0], h, interp, clamp=False)
    xi, xc, yi, yc = xi[x0:x0 + rw], xc[x0:x0 + rw], yi[y0:y0 + rh], yc[y0:y0 + rh]
    first, last = int(yi.min()), int(yi.max()) + 1
    src, yi = src[first:last], yi - first
    cn = src.shape[2] if src.ndim == 3 else 1
    if src.dtype != np.uint8:
        s = src.astype(np.float32)
        rows = sum(s[:, xi[:, k]] * _bcast(xc[:, k], src.ndim, 1) for k in range(xi.shape[1]))
        out = sum(rows[yi[:, k]] * _bcast(yc[:, k], src.ndim, 0) for k in range(yi.shape[1]))
        return out.astype(src.dtype)
    ax = np.rint(xc * np.float32(_COEF_SCALE)).astype(np.int32)
    ay = np.rint(yc * np.float32(_COEF_SCALE)).astype(np.int32)
    s = src.astype(np.int32)
    # horizontal: at most 255 * 2048 * 1.5, well inside int32
    rows = sum(s[:, xi[:, k]] * _bcast(ax[:, k], src.ndim, 1) for k in range(xi.shape[1]))
    taps = [rows[yi[:, k]] for k in range(yi.shape[1])]
    betas = [_bcast(ay[:, k], src.ndim, 0) for k in range(yi.shape[1])]
    # OpenCV's vertical pass is vectorised over the start of each row of w * cn values and
    # rounds its own way there (linear: each product; cubic, Lanczos: float32 sums); the
    # rest of a row is exact fixed point, rounded off from 22 bits
    vend = _vector_end(w * cn, interp)
    flat_x = ((np.arange(rw)[:, None] + x0) * cn + np.arange(cn)[None, :]).reshape(-1)
    vector = flat_x < vend
    out = None
    if not vector.all():
        out = sum(r.astype(np.int64) * b for r, b in zip(taps, betas))
        out = (out + (1 << (2 * _COEF_BITS - 1))) >> (2 * _COEF_BITS)
    if vector.any():
        if interp in (LINEAR, AREA):
            vec = ((((taps[0] >> 4) * betas[0]) >> 16) +
                   (((taps[1] >> 4) * betas[1]) >> 16) + 2) >> 2
        else:
            scale = np.float32(1.0 / (_COEF_SCALE * _COEF_SCALE))
            vec = sum(r.astype(np.float32) * (b.astype(np.float32) * scale)
                      for r, b in zip(taps, betas))
            vec = np.rint(vec)
        if out is None:
            out = vec
        else:
            flat = out.reshape(rh, rw * cn)
            flat[:, vector] = vec.reshape(rh, rw * cn)[:, vector]
    return np.clip(out, 0, 255).astype(np.uint8)


def _vector_end(width, interp):
    """Where OpenCV's vectorised vertical loop over a row of ``width`` values stops (the
    rest is done one value at a time); found by comparing with MXNet 1.9.1's OpenCV: the
    linear pass rounds its way all along the row, the cubic one in steps of 8."""
    if interp in (LINEAR, AREA):
        return width
    if interp == CUBIC:
        return width // 8 * 8
    return 0


def _bcast(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _area_tab(src_len, dst_len, scale):
    """OpenCV's area weights along one axis: (dst index, src index, weight) in order."""
    out = []
    for dx in range(dst_len):
        fsx1 = dx * scale
        fsx2 = fsx1 + scale
        cell = min(scale, src_len - fsx1)
        sx1 = int(np.ceil(fsx1))
        sx2 = int(np.floor(fsx2))
        sx2 = min(sx2, src_len - 1)
        sx1 = min(sx1, sx2)
        if sx1 - fsx1 > 1e-3:
            out.append((dx, sx1 - 1, np.float32((sx1 - fsx1) / cell)))
        for sx in range(sx1, sx2):
            out.append((dx, sx, np.float32(1.0 / cell)))
        if fsx2 - sx2 > 1e-3:
            out.append((dx, sx2, np.float32(min(min(fsx2 - sx2, 1.0), cell) / cell)))
    return out


@functools.lru_cache(maxsize=512)
def _area_weights(src_len, dst_len, scale):
    """(dst_len, kmax) source indices and weights of INTER_AREA along one axis (cached)."""
    return _dense_tab(_area_tab(src_len, dst_len, scale), dst_len)


def _dense_tab(tab, dst_len):
    """(dst_len, kmax) source indices and weights (0 where a position has fewer)."""
    per = [[] for _ in range(dst_len)]
    for d, s, wgt in tab:
        per[d].append((s, wgt))
    kmax = max(len(p) for p in per)
    idx = np.zeros((dst_len, kmax), np.int64)
    wgt = np.zeros((dst_len, kmax), np.float32)
    for d, p in enumerate(per):
        for k, (s, w_) in enumerate(p):
            idx[d, k], wgt[d, k] = s, w_
    return idx, wgt


def _resize_area(src, w, h, region):
    """Shrinking with INTER_AREA: block means for whole factors, OpenCV's float weights
    otherwise (only the output ``region``)."""
    y0, x0, rh, rw = region
    sh, sw = src.shape[:2]
    scale_x, scale_y = 1.0 / (w / sw), 1.0 / (h / sh)
    ix, iy = int(round(scale_x)), int(round(scale_y))
    fast = abs(scale_x - ix) < np.finfo(float).eps and abs(scale_y - iy) < np.finfo(float).eps
    if fast:
        part = src[y0 * iy:(y0 + rh) * iy, x0 * ix:(x0 + rw) * ix]
        blocks = part.reshape((rh, iy, rw, ix) + src.shape[2:])
        if src.dtype != np.uint8:
            return (blocks.astype(np.float32).sum(axis=(1, 3)) *
                    np.float32(1.0 / (ix * iy))).astype(src.dtype)
        total = blocks.astype(np.int32).sum(axis=(1, 3))
        if ix == 2 and iy == 2 and (src.ndim == 2 or src.shape[2] in (1, 3, 4)):
            return ((total + 2) >> 2).astype(np.uint8)
        out = total.astype(np.float32) * np.float32(1.0 / (ix * iy))
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    xi, xw = _area_weights(sw, w, scale_x)
    yi, yw = _area_weights(sh, h, scale_y)
    xi, xw, yi, yw = xi[x0:x0 + rw], xw[x0:x0 + rw], yi[y0:y0 + rh], yw[y0:y0 + rh]
    s = src.astype(np.float32)
    rows = np.zeros((sh, rw) + src.shape[2:], np.float32)
    for k in range(xi.shape[1]):
        rows += s[:, xi[:, k]] * _bcast(xw[:, k], src.ndim, 1)
    out = rows[yi[:, 0]] * _bcast(yw[:, 0], src.ndim, 0)
    for k in range(1, yi.shape[1]):
        out += rows[yi[:, k]] * _bcast(yw[:, k], src.ndim, 0)
    if src.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(src.dtype)


def resize_array(src, w, h, interp=LINEAR, region=None):
    """Resize a NumPy image (H, W[, C]) to (h, w[, C]) as ``cv::resize`` does
    (``interp``: 0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos).  ``region``
    (y0, x0, height, width): compute only that part of the output (a crop of it)."""
    src = np.asarray(src)
    w, h = int(w), int(h)
    if w <= 0 or h <= 0:
        raise MXNetError('imresize: the size must be positive, got %dx%d' % (w, h))
    if src.ndim not in (2, 3) or src.shape[0] == 0 or src.shape[1] == 0:
        raise MXNetError('imresize: expected an image (H, W[, C]), got shape %s'
                         % (src.shape,))
    region = (0, 0, h, w) if region is None else tuple(int(v) for v in region)
    y0, x0, rh, rw = region
    if not (0 <= y0 and 0 <= x0 and 0 < rh and 0 < rw and y0 + rh <= h and x0 + rw <= w):
        raise MXNetError('imresize: region %s is not inside the %dx%d output' % (region, h, w))
    sh, sw = src.shape[:2]
    if (sh, sw) == (h, w):
        return src[y0:y0 + rh, x0:x0 + rw].copy()
    if interp == NEAREST:
        ys = np.minimum(np.floor(np.arange(y0, y0 + rh) * (1.0 / (h / sh))).astype(np.int64),
                        sh - 1)
        xs = np.minimum(np.floor(np.arange(x0, x0 + rw) * (1.0 / (w / sw))).astype(np.int64),
                        sw - 1)
        return src[ys][:, xs].copy()
    if interp not in (LINEAR, CUBIC, AREA, LANCZOS4):
        raise MXNetError('imresize: unknown interpolation %r (0-4)' % (interp,))
    scale_x, scale_y = sw / w, sh / h
    if interp == LINEAR and w * 2 == sw and h * 2 == sh:
        interp = AREA                       # OpenCV: halving is a 2x2 block mean
    if interp == AREA and scale_x >= 1 and scale_y >= 1:
        return _resize_area(src, w, h, region)
    return _resize_separable(src, w, h, interp, region)


def _np_image(src):
    """(NumPy array, context) of an NDArray or NumPy image."""
    if isinstance(src, NDArray):
        return src.asnumpy(), src.context
    return np.asarray(src), cpu()


def _nd(arr, ctx=None):
    return _wrap(np.ascontiguousarray(arr), ctx if ctx is not None else cpu())


# ---- the mx.image functions ---------------------------------------------------------------
def imdecode(buf, flag=1, to_rgb=True, out=None):
    """Decode image bytes (bytes, bytearray, uint8 NumPy array or NDArray) to an NDArray
    (H, W, 3) uint8: RGB, or BGR with ``to_rgb=False``; ``flag=0``: grey (H, W, 1).

    Example::

        >>> buf = mx.recordio.pack_img((0, 0, 0, 0), np.zeros((4, 6, 3), np.uint8),
        ...                            img_fmt='.png')[24:]
        >>> img = mx.image.imdecode(buf)
        >>> img.shape, img.dtype
        ((4, 6, 3), <class 'numpy.uint8'>)
    """
    if not isinstance(buf, (bytes, bytearray, memoryview, np.ndarray, NDArray)):
        raise ValueError('buf must be of type bytes, bytearray or numpy.ndarray, if you would '
                         'like to input type str, please convert to bytes')
    img = decode(buf, 1 if flag > 0 else flag)
    if not to_rgb and img.shape[2] >= 3:
        img = img[:, :, [2, 1, 0, 3][:img.shape[2]]]
    return _store(img, out)


def _store(img, out):
    if out is not None:
        if tuple(out.shape) != img.shape:
            raise MXNetError('out has shape %s, the image %s' % (out.shape, img.shape))
        out[:] = img
        return out
    return _nd(img)


def imread(filename, flag=1, to_rgb=True, out=None):
    """Read and decode an image file (see :func:`imdecode`)."""
    try:
        with open(filename, 'rb') as f:
            buf = f.read()
    except OSError as e:
        raise MXNetError('imread: cannot read %s: %s' % (filename, e)) from None
    return imdecode(buf, flag=flag, to_rgb=to_rgb, out=out)


def imresize(src, w, h, interp=1, out=None):
    """Resize an image NDArray (H, W, C) to (h, w, C), as MXNet's OpenCV ``imresize``
    (``interp``: 0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos; 9 and 10 as
    :func:`resize_short` takes them)."""
    arr, ctx = _np_image(src)
    interp = _get_interp_method(interp, (arr.shape[0], arr.shape[1], h, w))
    return _store(resize_array(arr, w, h, interp), out) if out is not None else \
        _nd(resize_array(arr, w, h, interp), ctx)


def scale_down(src_size, size):
    """The crop ``size`` (w, h) shrunk, keeping its aspect, to fit in ``src_size`` (w, h).

    Example::

        >>> mx.image.scale_down((640, 480), (720, 120))
        (640, 106)
    """
    w, h = size
    sw, sh = src_size
    if h > sh:
        w, h = float(w * sh) / h, sh
    if w > sw:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def copyMakeBorder(src, top, bot, left, right, type=0, value=0.0, values=None):
    """Pad an image (H, W, C): ``type`` 0 constant (``value``, or per-channel ``values``),
    1 replicate, 2 reflect, 3 wrap, 4 reflect-101 (OpenCV's border types)."""
    arr, ctx = _np_image(src)
    pads = ((top, bot), (left, right)) + ((0, 0),) * (arr.ndim - 2)
    if type == 0:
        out = np.pad(arr, pads, mode='constant')
        fill = values if values is not None else value
        fill = np.asarray(fill, dtype=arr.dtype)
        mask = np.ones(out.shape[:2], bool)
        mask[top:top + arr.shape[0], left:left + arr.shape[1]] = False
        out[mask] = fill
    else:
        mode = {1: 'edge', 2: 'symmetric', 3: 'wrap', 4: 'reflect'}.get(type)
        if mode is None:
            raise MXNetError('copyMakeBorder: unknown border type %r' % (type,))
        out = np.pad(arr, pads, mode=mode)
    return _nd(out, ctx)


def _get_interp_method(interp, sizes=()):
    """The OpenCV interpolation for ``interp``: 9 picks by ``sizes`` (old h, old w, new h,
    new w): bicubic to enlarge, area to shrink, else bilinear; 10 picks one at random."""
    if interp == 9:
        if sizes:
            oh, ow, nh, nw = sizes
            if nh > oh and nw > ow:
                return CUBIC
            if nh < oh and nw < ow:
                return AREA
            return LINEAR
        return CUBIC
    if interp == 10:
        return random.randint(0, 4)
    if interp not in (0, 1, 2, 3, 4):
        raise ValueError('Unknown interp method %d' % interp)
    return interp


def resize_short(src, size, interp=2):
    """Resize so that the shorter side is ``size`` (the longer keeps the aspect, rounded
    down), with bicubic interpolation unless ``interp`` says otherwise.

    Example::

        >>> mx.image.resize_short(mx.nd.zeros((40, 60, 3), dtype='uint8'), 20).shape
        (20, 30, 3)
    """
    h, w = src.shape[0], src.shape[1]
    if h > w:
        new_h, new_w = size * h // w, size
    else:
        new_h, new_w = size, size * w // h
    return imresize(src, new_w, new_h, interp=_get_interp_method(interp, (h, w, new_h, new_w)))


def fixed_crop(src, x0, y0, w, h, size=None, interp=2):
    """The (w, h) region at (x0, y0), resized to ``size`` (w, h) when given."""
    out = src[y0:y0 + h, x0:x0 + w]
    if size is not None and (w, h) != tuple(size):
        sizes = (h, w, size[1], size[0])
        out = imresize(out, *size, interp=_get_interp_method(interp, sizes))
    return out


def random_crop(src, size, interp=2):
    """A random crop of ``size`` (w, h), shrunk to fit the image and then resized to
    ``size``; returns ``(image, (x0, y0, w, h))``."""
    h, w = src.shape[0], src.shape[1]
    new_w, new_h = scale_down((w, h), size)
    x0 = random.randint(0, w - new_w)
    y0 = random.randint(0, h - new_h)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def center_crop(src, size, interp=2):
    """The central crop of ``size`` (w, h), shrunk to fit the image and then resized to
    ``size``; returns ``(image, (x0, y0, w, h))``.

    Example::

        >>> out, rect = mx.image.center_crop(mx.nd.zeros((10, 20, 3), dtype='uint8'), (8, 8))
        >>> out.shape, rect
        ((8, 8, 3), (6, 1, 8, 8))
    """
    h, w = src.shape[0], src.shape[1]
    new_w, new_h = scale_down((w, h), size)
    x0 = int((w - new_w) / 2)
    y0 = int((h - new_h) / 2)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def color_normalize(src, mean, std=None):
    """``src - mean``, then ``/ std`` when given (in place, as MXNet's)."""
    if mean is not None:
        src -= mean
    if std is not None:
        src /= std
    return src


def random_size_crop(src, size, area, ratio, interp=2, **kwargs):
    """A random crop covering a random share ``area`` (a number, or a (min, max) range) of the
    image with an aspect ratio in ``ratio`` (min, max), resized to ``size`` (w, h); a center
    crop when ten tries find none.  Returns ``(image, (x0, y0, w, h))``."""
    h, w = src.shape[0], src.shape[1]
    src_area = h * w
    if 'min_area' in kwargs:
        area = kwargs.pop('min_area')
    if kwargs:
        raise TypeError('unexpected arguments %s' % sorted(kwargs))
    if isinstance(area, numeric_types):
        area = (area, 1.0)
    for _ in range(10):
        target_area = random.uniform(area[0], area[1]) * src_area
        log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
        new_ratio = np.exp(random.uniform(*log_ratio))
        new_w = int(round(np.sqrt(target_area * new_ratio)))
        new_h = int(round(np.sqrt(target_area / new_ratio)))
        if new_w <= w and new_h <= h:
            x0 = random.randint(0, w - new_w)
            y0 = random.randint(0, h - new_h)
            out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
            return out, (x0, y0, new_w, new_h)
    return center_crop(src, size, interp)


# ---- augmenters -----------------------------------------------------------------------
def _float_image(src):
    arr, ctx = _np_image(src)
    return arr.astype(np.float32, copy=False), ctx


class Augmenter:
    """Base of the image augmenters: ``aug(src)`` returns the augmented image NDArray;
    ``dumps()`` describes it as JSON."""

    def __init__(self, **kwargs):
        self._kwargs = {}
        for k, v in kwargs.items():
            if isinstance(v, NDArray):
                v = v.asnumpy()
            if isinstance(v, np.ndarray):
                v = v.tolist()
            self._kwargs[k] = v

    def dumps(self):
        """``[class name in lower case, arguments]`` as a JSON string."""
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __call__(self, src):
        raise NotImplementedError('Must override implementation.')


class SequentialAug(Augmenter):
    """Apply the augmenters ``ts`` one after another."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [type(self).__name__.lower(), [t.dumps() for t in self.ts]]

    def __call__(self, src):
        for t in self.ts:
            src = t(src)
        return src


class RandomOrderAug(Augmenter):
    """Apply the augmenters ``ts`` in a random order."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [type(self).__name__.lower(), [t.dumps() for t in self.ts]]

    def __call__(self, src):
        random.shuffle(self.ts)
        for t in self.ts:
            src = t(src)
        return src


class ResizeAug(Augmenter):
    """Resize the shorter side to ``size`` (see :func:`resize_short`)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size, self.interp = size, interp

    def __call__(self, src):
        return resize_short(src, self.size, self.interp)


class ForceResizeAug(Augmenter):
    """Resize to exactly ``size`` (w, h), whatever the aspect."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size, self.interp = size, interp

    def __call__(self, src):
        sizes = (src.shape[0], src.shape[1], self.size[1], self.size[0])
        return imresize(src, *self.size, interp=_get_interp_method(self.interp, sizes))


class RandomCropAug(Augmenter):
    """A random crop of ``size`` (w, h) (see :func:`random_crop`)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size, self.interp = size, interp

    def __call__(self, src):
        return random_crop(src, self.size, self.interp)[0]


class RandomSizedCropAug(Augmenter):
    """A random crop of random area and aspect, resized to ``size`` (see
    :func:`random_size_crop`)."""

    def __init__(self, size, area, ratio, interp=2, **kwargs):
        super().__init__(size=size, area=area, ratio=ratio, interp=interp)
        self.size, self.area, self.ratio, self.interp = size, area, ratio, interp
        if 'min_area' in kwargs:
            self.area = kwargs.pop('min_area')
        if kwargs:
            raise TypeError('unexpected arguments %s' % sorted(kwargs))

    def __call__(self, src):
        return random_size_crop(src, self.size, self.area, self.ratio, self.interp)[0]


class CenterCropAug(Augmenter):
    """The central crop of ``size`` (w, h) (see :func:`center_crop`)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size, self.interp = size, interp

    def __call__(self, src):
        return center_crop(src, self.size, self.interp)[0]


class BrightnessJitterAug(Augmenter):
    """Scale by a random factor in ``[1 - brightness, 1 + brightness]``."""

    def __init__(self, brightness):
        super().__init__(brightness=brightness)
        self.brightness = brightness

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.brightness, self.brightness)
        src *= alpha
        return src


_GRAY = np.array([0.299, 0.587, 0.114], np.float32)


class ContrastJitterAug(Augmenter):
    """Blend with the mean grey by a random factor in ``[1 - contrast, 1 + contrast]``."""

    def __init__(self, contrast):
        super().__init__(contrast=contrast)
        self.contrast = contrast

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.contrast, self.contrast)
        arr, ctx = _float_image(src)
        gray = arr * _GRAY
        mean = np.float32(3.0 * (1.0 - alpha) / gray.size) * gray.sum(dtype=np.float32)
        return _nd((arr * np.float32(alpha) + mean).astype(np.float32), ctx)


class SaturationJitterAug(Augmenter):
    """Blend with each pixel's grey by a random factor in
    ``[1 - saturation, 1 + saturation]``."""

    def __init__(self, saturation):
        super().__init__(saturation=saturation)
        self.saturation = saturation

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.saturation, self.saturation)
        arr, ctx = _float_image(src)
        gray = (arr * _GRAY).sum(axis=2, keepdims=True, dtype=np.float32)
        gray *= np.float32(1.0 - alpha)
        return _nd((arr * np.float32(alpha) + gray).astype(np.float32), ctx)


class HueJitterAug(Augmenter):
    """Rotate the hue (in YIQ space) by a random angle in ``[-hue, hue]`` half-turns."""

    def __init__(self, hue):
        super().__init__(hue=hue)
        self.hue = hue
        self.tyiq = np.array([[0.299, 0.587, 0.114],
                              [0.596, -0.274, -0.321],
                              [0.211, -0.523, 0.311]])
        self.ityiq = np.array([[1.0, 0.956, 0.621],
                               [1.0, -0.272, -0.647],
                               [1.0, -1.107, 1.705]])

    def __call__(self, src):
        alpha = random.uniform(-self.hue, self.hue)
        u, w = np.cos(alpha * np.pi), np.sin(alpha * np.pi)
        bt = np.array([[1.0, 0.0, 0.0], [0.0, u, -w], [0.0, w, u]])
        t = np.dot(np.dot(self.ityiq, bt), self.tyiq).T.astype(np.float32)
        arr, ctx = _float_image(src)
        return _nd(np.dot(arr, t).astype(np.float32), ctx)


class ColorJitterAug(RandomOrderAug):
    """Brightness, contrast and saturation jitter (those above 0), in a random order."""

    def __init__(self, brightness, contrast, saturation):
        ts = []
        if brightness > 0:
            ts.append(BrightnessJitterAug(brightness))
        if contrast > 0:
            ts.append(ContrastJitterAug(contrast))
        if saturation > 0:
            ts.append(SaturationJitterAug(saturation))
        super().__init__(ts)


class LightingAug(Augmenter):
    """AlexNet's PCA lighting noise: add ``eigvec . (alpha * eigval)``, ``alpha`` drawn
    from N(0, ``alphastd``) (NumPy's global generator, as MXNet)."""

    def __init__(self, alphastd, eigval, eigvec):
        super().__init__(alphastd=alphastd, eigval=eigval, eigvec=eigvec)
        self.alphastd, self.eigval, self.eigvec = alphastd, eigval, eigvec

    def __call__(self, src):
        alpha = np.random.normal(0, self.alphastd, size=(3,))
        rgb = np.dot(self.eigvec * alpha, self.eigval)
        arr, ctx = _float_image(src)
        return _nd((arr + rgb.astype(np.float32)).astype(np.float32), ctx)


class ColorNormalizeAug(Augmenter):
    """Subtract ``mean`` and divide by ``std`` (per channel; either may be None)."""

    def __init__(self, mean, std):
        super().__init__(mean=mean, std=std)
        self.mean = mean if mean is None or isinstance(mean, NDArray) else \
            _nd(np.asarray(mean, np.float32))
        self.std = std if std is None or isinstance(std, NDArray) else \
            _nd(np.asarray(std, np.float32))

    def __call__(self, src):
        return color_normalize(src, self.mean, self.std)


class RandomGrayAug(Augmenter):
    """With probability ``p``, replace the image by its grey (in all three channels)."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p
        self.mat = np.array([[0.21, 0.21, 0.21], [0.72, 0.72, 0.72], [0.07, 0.07, 0.07]],
                            np.float32)

    def __call__(self, src):
        if random.random() < self.p:
            arr, ctx = _float_image(src)
            src = _nd(np.dot(arr, self.mat).astype(np.float32), ctx)
        return src


class HorizontalFlipAug(Augmenter):
    """With probability ``p``, mirror the image left to right."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src):
        if random.random() < self.p:
            arr, ctx = _np_image(src)
            src = _nd(arr[:, ::-1], ctx)
        return src


class CastAug(Augmenter):
    """Cast to ``typ`` (float32)."""

    def __init__(self, typ='float32'):
        super().__init__(type=typ)
        self.typ = typ

    def __call__(self, src):
        return src.astype(self.typ)


_PCA_EIGVAL = np.array([55.46, 4.794, 1.148])
_PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                        [-0.5808, -0.0045, -0.8140],
                        [-0.5836, -0.6948, 0.4203]])


def CreateAugmenter(data_shape, resize=0, rand_crop=False, rand_resize=False, rand_mirror=False,
                    mean=None, std=None, brightness=0, contrast=0, saturation=0, hue=0,
                    pca_noise=0, rand_gray=0, inter_method=2):
    """MXNet's standard augmenter list for ``data_shape`` (c, h, w): resize the shorter
    side to ``resize`` (if > 0); a random (``rand_crop``; of random size and aspect with
    ``rand_resize``) or central crop of (w, h); a random mirror; float32; colour jitter,
    hue, PCA lighting noise, random grey; normalisation by ``mean``/``std`` (True: ImageNet's
    RGB mean 123.68, 116.28, 103.53 and std 58.395, 57.12, 57.375).

    Example::

        >>> [type(a).__name__ for a in mx.image.CreateAugmenter((3, 24, 24), resize=32,
        ...                                                     rand_mirror=True, mean=True)]
        ['ResizeAug', 'CenterCropAug', 'HorizontalFlipAug', 'CastAug', 'ColorNormalizeAug']
    """
    auglist = []
    if resize > 0:
        auglist.append(ResizeAug(resize, inter_method))
    crop_size = (data_shape[2], data_shape[1])
    if rand_resize:
        if not rand_crop:
            raise MXNetError('CreateAugmenter: rand_resize needs rand_crop')
        auglist.append(RandomSizedCropAug(crop_size, 0.08, (3.0 / 4.0, 4.0 / 3.0), inter_method))
    elif rand_crop:
        auglist.append(RandomCropAug(crop_size, inter_method))
    else:
        auglist.append(CenterCropAug(crop_size, inter_method))
    if rand_mirror:
        auglist.append(HorizontalFlipAug(0.5))
    auglist.append(CastAug())
    if brightness or contrast or saturation:
        auglist.append(ColorJitterAug(brightness, contrast, saturation))
    if hue:
        auglist.append(HueJitterAug(hue))
    if pca_noise > 0:
        auglist.append(LightingAug(pca_noise, _PCA_EIGVAL, _PCA_EIGVEC))
    if rand_gray > 0:
        auglist.append(RandomGrayAug(rand_gray))
    if mean is True:
        mean = _nd(np.array([123.68, 116.28, 103.53], np.float32))
    elif mean is not None:
        _check_channels(mean, 'mean')
    if std is True:
        std = _nd(np.array([58.395, 57.12, 57.375], np.float32))
    elif std is not None:
        _check_channels(std, 'std')
    if mean is not None or std is not None:
        auglist.append(ColorNormalizeAug(mean, std))
    return auglist


def _check_channels(v, what):
    if not isinstance(v, (np.ndarray, NDArray)) or v.shape[0] not in (1, 3):
        raise MXNetError('CreateAugmenter: %s must be True or an array of 1 or 3 values, got '
                         '%r' % (what, v))


# ---- ImageIter ---------------------------------------------------------------------------
class ImageIter(io.DataIter):
    """Batches of images from a ``.rec`` file (``path_imgrec``, with ``path_imgidx`` for
    random access), or from image files listed in ``path_imglist`` (lines
    ``index<TAB>label(s)<TAB>path``) or ``imglist`` (``[[label(s), path], ...]``) under
    ``path_root``; decoded, augmented by ``aug_list`` (default ``CreateAugmenter(data_shape,
    **kwargs)``) and laid out as (batch, c, h, w) float32, labels (batch,) or
    (batch, label_width).

    ``last_batch_handle`` as MXNet's: 'pad' fills the last batch from the start of the data
    (``pad`` says how many), 'discard' drops it, 'roll_over' carries its samples into the
    first batch of the next epoch.  ``shuffle`` (needs an index or a list) reshuffles with
    Python's ``random`` at every ``reset()``.  ``num_parts``/``part_index`` keep part
    ``part_index`` of ``len // num_parts`` samples, as MXNet's; :meth:`shard` does the same
    later (``Module.fit``), and ``even=False`` keeps every sample.
    """

    def __init__(self, batch_size, data_shape, label_width=1, path_imgrec=None,
                 path_imglist=None, path_root=None, path_imgidx=None, shuffle=False,
                 part_index=0, num_parts=1, aug_list=None, imglist=None, data_name='data',
                 label_name='softmax_label', dtype='float32', last_batch_handle='pad',
                 **kwargs):
        super().__init__(batch_size)
        if not (path_imgrec or path_imglist or isinstance(imglist, list)):
            raise MXNetError('ImageIter needs path_imgrec, path_imglist or imglist')
        if dtype not in ('int32', 'float32', 'int64', 'float64'):
            raise MXNetError('ImageIter: label dtype %s is not supported' % dtype)
        if last_batch_handle not in ('pad', 'discard', 'roll_over'):
            raise MXNetError("last_batch_handle must be 'pad', 'discard' or 'roll_over', got %r"
                             % (last_batch_handle,))
        self.imgrec = None
        self.imgidx = None
        if path_imgrec:
            logging.info('%s: loading recordio %s...', type(self).__name__, path_imgrec)
            if path_imgidx:
                self.imgrec = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, 'r')
                self.imgidx = list(self.imgrec.keys)
            else:
                self.imgrec = recordio.MXRecordIO(path_imgrec, 'r')
        self.imglist = None
        imgkeys = None
        if path_imglist:
            self.imglist, imgkeys = {}, []
            with open(path_imglist) as fin:
                for line in fin:
                    fields = line.strip().split('\t')
                    if fields == ['']:
                        continue
                    key = int(fields[0])
                    self.imglist[key] = (np.array(fields[1:-1], dtype=dtype), fields[-1])
                    imgkeys.append(key)
        elif isinstance(imglist, list):
            self.imglist, imgkeys = {}, []
            for n, item in enumerate(imglist, 1):
                key = str(n)
                if len(item) > 2:
                    label = np.array(item[:-1], dtype=dtype)
                elif isinstance(item[0], numeric_types):
                    label = np.array([item[0]], dtype=dtype)
                else:
                    label = np.array(item[0], dtype=dtype)
                self.imglist[key] = (label, item[-1])
                imgkeys.append(key)
        self.path_root = path_root
        self.check_data_shape(data_shape)
        data_shape = tuple(data_shape)
        self.provide_data = [io.DataDesc(data_name, (batch_size,) + data_shape)]
        self.provide_label = [io.DataDesc(label_name, (batch_size, label_width)
                                          if label_width > 1 else (batch_size,))]
        self.data_shape = data_shape
        self.label_width = label_width
        self.dtype = dtype
        self.shuffle = shuffle
        if self.imgrec is None:
            seq = imgkeys
        elif shuffle or num_parts > 1 or path_imgidx:
            if self.imgidx is None:
                raise MXNetError('ImageIter: shuffle and num_parts need path_imgidx with '
                                 'path_imgrec')
            seq = self.imgidx
        else:
            seq = None
        self._whole_seq = seq
        self.seq = seq
        self.num_parts, self.part_index = 1, 0
        if num_parts > 1:
            if not 0 <= part_index < num_parts:
                raise MXNetError('ImageIter: part_index %d is not in [0, num_parts=%d)'
                                 % (part_index, num_parts))
            per = len(seq) // num_parts
            self.seq = seq[part_index * per:(part_index + 1) * per]
            self.num_parts, self.part_index = num_parts, part_index
        self.auglist = CreateAugmenter(data_shape, **kwargs) if aug_list is None else aug_list
        self.last_batch_handle = last_batch_handle
        self.cur = 0
        self._allow_read = True
        self.num_image = len(self.seq) if self.seq is not None else None
        self._seq_base = list(self.seq) if self.seq is not None else None
        self._cache = None          # roll_over: (data, label, filled rows)
        self.reset()

    def shard(self, num_parts, part_index, even=True):
        """Keep part ``part_index`` of ``num_parts`` (``len // num_parts`` samples each as
        MXNet's ``num_parts``; all of them, the first ``len % num_parts`` parts one more,
        with ``even=False``); starts over (``hard_reset``)."""
        if self._whole_seq is None:
            # a plain .rec file: address its records by their offsets
            self._whole_seq = [off for off, _ in recordio.scan_records(self.imgrec.uri)]
            self._by_offset = True
        n = len(self._whole_seq)
        part = (io.shard_range if even else io.uneven_range)(n, num_parts, part_index)
        self.seq = self._whole_seq[part]
        self._seq_base = list(self.seq)
        self.num_image = len(self.seq)
        self.num_parts, self.part_index = num_parts, part_index
        self.hard_reset()
        return self

    _by_offset = False

    def reset(self):
        """Start the next epoch (reshuffling with ``shuffle``); with 'roll_over' the carried
        samples stay for the first batch."""
        self._reshuffle()
        if self.last_batch_handle != 'roll_over' or self._cache is None:
            if self.imgrec is not None:
                self.imgrec.reset()
            self.cur = 0
            self._allow_read = True

    def hard_reset(self):
        """Start over, forgetting samples carried by 'roll_over'."""
        self._reshuffle()
        if self.imgrec is not None:
            self.imgrec.reset()
        self.cur = 0
        self._allow_read = True
        self._cache = None

    def _reshuffle(self):
        # a fresh order of the part's own (not a shuffle of the last epoch's): an epoch's
        # order depends only on Python's random stream, which a checkpoint carries
        if self.seq is not None and self.shuffle:
            order = list(self._seq_base)
            random.shuffle(order)
            self.seq = order

    def _read_record(self, idx):
        if self._by_offset:
            self.imgrec.seek(idx)
            return self.imgrec.read()
        return self.imgrec.read_idx(idx)

    def next_sample(self):
        """``(label, encoded image)`` of the next sample; StopIteration at the end of the
        data (which then starts over, unless 'discard')."""
        if not self._allow_read:
            raise StopIteration
        if self.seq is not None:
            if self.cur >= self.num_image:
                if self.last_batch_handle != 'discard':
                    self.cur = 0
                raise StopIteration
            idx = self.seq[self.cur]
            self.cur += 1
            if self.imgrec is not None:
                header, img = recordio.unpack(self._read_record(idx))
                if self.imglist is None:
                    return header.label, img
                return self.imglist[idx][0], img
            label, fname = self.imglist[idx]
            return label, self.read_image(fname)
        s = self.imgrec.read()
        if s is None:
            if self.last_batch_handle != 'discard':
                self.imgrec.reset()
            raise StopIteration
        header, img = recordio.unpack(s)
        return header.label, img

    def _batchify(self, data, label, start=0):
        """Fill rows ``start``.. of ``data``/``label`` (NumPy); the rows filled in all."""
        i = start
        try:
            while i < self.batch_size:
                lab, s = self.next_sample()
                img = self.imdecode(s)
                try:
                    self.check_valid_image(img)
                except RuntimeError as e:
                    logging.debug('Invalid image, skipping:  %s', str(e))
                    continue
                img = self.augmentation_transform(img)
                data[i] = self.postprocess_data(img).asnumpy()
                label[i] = np.asarray(lab, dtype=np.float32).reshape(label[i].shape)
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self):
        b = self.batch_size
        if self._cache is not None:
            data, label, i = self._cache
        else:
            if not self._allow_read:
                raise StopIteration
            data = np.zeros((b,) + self.data_shape, np.float32)
            label = np.zeros(self.provide_label[0].shape, np.float32)
            i = self._batchify(data, label)
        pad = b - i
        if pad:
            if self.last_batch_handle == 'discard':
                raise StopIteration
            if self.last_batch_handle == 'roll_over' and self._cache is None:
                self._cache = (data, label, i)
                raise StopIteration
            self._batchify(data, label, i)
            if self.last_batch_handle == 'pad':
                self._allow_read = False
            else:
                self._cache = None
        return io.DataBatch([_nd(data)], [_nd(label)], pad=pad)

    def check_data_shape(self, data_shape):
        """data_shape must be (3, h, w)."""
        if len(data_shape) != 3:
            raise ValueError('data_shape should have length 3, with dimensions CxHxW')
        if data_shape[0] != 3:
            raise ValueError('This iterator expects inputs to have 3 channels.')

    def check_valid_image(self, data):
        """RuntimeError for an empty image (skipped)."""
        if len(data[0].shape) == 0:
            raise RuntimeError('Data shape is wrong')

    def imdecode(self, s):
        """Decode one sample's bytes (an error names the sample)."""
        try:
            return imdecode(s)
        except Exception as e:
            raise RuntimeError('Broken image %s, %s' % (self._locate(), e)) from None

    def _locate(self):
        n = self.num_image
        if self.seq is not None and n:
            idx = self.seq[(self.cur % n) - 1]
            if self.imglist is not None:
                return 'filename: %s' % (self.imglist[idx][1],)
            return 'index: %s' % (idx,)
        return 'index: %d' % (self.cur - 1)

    def read_image(self, fname):
        """The bytes of image file ``fname`` under ``path_root``."""
        with open(os.path.join(self.path_root or '', fname), 'rb') as fin:
            return fin.read()

    def augmentation_transform(self, data):
        """Apply ``auglist`` in order."""
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum):
        """(h, w, c) -> (c, h, w)."""
        arr, ctx = _np_image(datum)
        return _nd(arr.transpose(2, 0, 1), ctx)
