"""Convolution, Deconvolution and Pooling over 1-, 2- and 3-D windows.

Convolution is lowered to GEMMs.  The input is copied once into a padded scratch buffer laid
out channel-first, ``(C, N, *spatial)`` or ``(C, *spatial, N)``; one strided view of that buffer
(``as_strided``) is the im2col matrix ``(C * prod(kernel), N * prod(out))``, materialised with a
single copy; each group is then one ``matmul`` with the weight ``(F, C/g * prod(kernel))``.
Backward is the same two GEMMs transposed (weight gradient, column gradient) plus a col2im
scatter-add that loops over the kernel offsets only.  Deconvolution is the same machinery run
the other way round: its forward is a convolution's data gradient, its backward a convolution.

Which of the two internal layouts is used depends on the output rows: NumPy adds short runs
slowly, so when the last output dimension is short the batch goes innermost, which makes the
col2im adds and the im2col copy run over ``out_w * N`` contiguous elements instead of ``out_w``.

Operators keep scratch buffers (padded input, columns, column gradient) per instance; the
executor calls them with the same shapes every step, so they are allocated once.  The columns
built in a training forward are reused by backward when backward sees the same input array.
"""
import itertools

import numpy as np

from .. import _blas, _native
from ..base import MXNetError
from .registry import Operator, Param, Sample, InferError, register
from ._util import prod, split_matmul

__all__ = ['Convolution', 'Deconvolution', 'Pooling']

_CONV_LAYOUTS = {None, 'NCW', 'NCHW', 'NCDHW', 'NHWC', 'NDHWC'}
_POOL_LAYOUTS = {None, 'NCW', 'NCHW', 'NCDHW', 'NWC', 'NHWC', 'NDHWC'}
_CUDNN_TUNE = {None, 'fastest', 'limited_workspace', 'off'}
_BATCH_LAST_BELOW = 16     # last output dimension under which the batch goes innermost
_DATA_GRAD_AS_CONV_BELOW = 1.25  # see Convolution._data_grad_lowering
_SHIFT_CHUNK = 32768       # grid positions per shifted GEMM: a chunk's rows stay in cache
_SHIFT_MIN_CHANNELS = 4    # input channels per group below which im2col's one GEMM is faster
_SHIFT_MAX_WASTE = 1.6     # padded grid / output positions above which im2col is faster
_NATIVE_ALIGN = 24         # grid positions per native block (3 vectors of 8 floats)
_NATIVE_MIN_PART = 8192    # grid positions below which a native call is not split over threads


def _as_strided(xp, a, shape, strides):
    return xp.lib.stride_tricks.as_strided(a, shape=tuple(shape), strides=tuple(strides))


def _spatial(op, name, value, nd, default, minimum):
    """A per-dimension parameter (stride, pad...) as an ``nd``-tuple, or a clear error."""
    if value is None or len(value) == 0:
        return (default,) * nd
    if len(value) != nd:
        raise MXNetError('operator %s: %s=%s must have %d entries, like kernel=%s'
                         % (op.name, name, tuple(value), nd, tuple(op.kernel)))
    if any(v < minimum for v in value):
        raise MXNetError('operator %s: every entry of %s=%s must be at least %d'
                         % (op.name, name, tuple(value), minimum))
    return tuple(value)


def _layout_info(op, layout, nd):
    """(channel_last, nd) for a layout name; checks it against the kernel's dimensions."""
    if layout is None:
        return False, nd
    if nd is not None and len(layout) - 2 != nd:
        raise MXNetError('operator %s: layout %s is for %d-D data but kernel=%s is %d-D'
                         % (op.name, layout, len(layout) - 2, tuple(op.kernel), nd))
    return layout[1] != 'C', len(layout) - 2


class _Scratch:
    """Per-instance scratch arrays, (re)allocated only when shape, dtype or array module change."""

    def __init__(self):
        self._bufs = {}

    def get(self, xp, key, shape, dtype, fill=None):
        shape = tuple(shape)
        buf = self._bufs.get(key)
        if (buf is None or buf.shape != shape or buf.dtype != dtype
                or not isinstance(buf, xp.ndarray)):
            buf = xp.empty(shape, dtype) if fill is None else xp.full(shape, fill, dtype)
            self._bufs[key] = buf
        return buf


# ---- the convolution engine ---------------------------------------------------------------
class _Lowering:
    """im2col / col2im between a "big" (input of a convolution) and a "small" (its output) space.

    ``big`` and ``small`` are the spatial sizes, ``padded`` the big size with padding; the
    internal big buffer is ``(Cb, N, *padded)`` or ``(Cb, *padded, N)`` (``batch_last``), the
    columns ``(Cb, *kernel, N, *small)`` or ``(Cb, *kernel, *small, N)``.
    """

    def __init__(self, n, cb, cs, big, small, kernel, stride, dilate, pad, group,
                 channel_last):
        self.n, self.cb, self.cs, self.group = n, cb, cs, group
        self.big, self.small = tuple(big), tuple(small)
        self.kernel, self.stride, self.dilate, self.pad = kernel, stride, dilate, pad
        nd = len(kernel)
        self.nd = nd
        self.padded = tuple(b + 2 * p for b, p in zip(big, pad))
        self.batch_last = n > 1 and small[-1] < _BATCH_LAST_BELOW
        self.sp_axes = tuple(range(1, nd + 1)) if self.batch_last else tuple(range(2, nd + 2))
        # permutation taking a data array (N, C, *S) or (N, *S, C) to internal order
        if channel_last:
            c_ax, s_ax = nd + 1, tuple(range(1, nd + 1))
        else:
            c_ax, s_ax = 1, tuple(range(2, nd + 2))
        self.perm = (c_ax,) + (s_ax + (0,) if self.batch_last else (0,) + s_ax)
        inner = tuple(slice(p, p + b) for p, b in zip(pad, big))
        self.interior = ((slice(None),) + inner + (slice(None),) if self.batch_last
                         else (slice(None), slice(None)) + inner)
        self.ksize = prod(kernel)
        self.cols = (cb,) + tuple(kernel) + self.ishape(0, small)[1:]
        self.m = n * prod(small)
        # col2im: for each kernel offset, the big-buffer region it lands on
        self.c2i = []
        for off in itertools.product(*[range(k) for k in kernel]):
            region = [slice(None)] * (nd + 2)
            for a, o, d, s, m in zip(self.sp_axes, off, dilate, stride, small):
                region[a] = slice(o * d, o * d + (m - 1) * s + 1, s)
            self.c2i.append((tuple(region), (slice(None),) + off))

    def ishape(self, c, spatial):
        """Internal shape with ``c`` channels: (c, N, *spatial) or (c, *spatial, N)."""
        if self.batch_last:
            return (c,) + tuple(spatial) + (self.n,)
        return (c, self.n) + tuple(spatial)

    # -- data movement --
    def big_in(self, xp, scratch, x, key):
        """x (data layout) copied into the padded internal buffer, which is returned."""
        buf = scratch.get(xp, key, self.ishape(self.cb, self.padded), x.dtype, fill=0)
        buf[self.interior] = x.transpose(self.perm)
        return buf

    def small_in(self, xp, scratch, y, key):
        """y (data layout, small space) as a contiguous internal (Cs, M) matrix."""
        buf = scratch.get(xp, key, self.ishape(self.cs, self.small), y.dtype)
        buf[...] = y.transpose(self.perm)
        return buf.reshape(self.cs, self.m)

    def small_out(self, out):
        """``out`` (data layout, small space) viewed in internal order, for assignment."""
        return out.transpose(self.perm)

    def _native_geom(self, xp, dtype):
        """The 2-D geometry ``distmod._native.im2col2d`` takes, or None where NumPy's strided
        copies run (not NumPy float32 2-D, or no kernels)."""
        if xp is not np or self.nd != 2 or dtype != np.float32 or _native.lib() is None:
            return None
        return (self.n,) + self.padded + self.small + tuple(self.kernel) + tuple(
            self.stride) + tuple(self.dilate) + (int(self.batch_last),)

    def im2col(self, xp, scratch, buf, key):
        geom = self._native_geom(xp, buf.dtype)
        if geom is not None:
            col = scratch.get(xp, key, self.cols, buf.dtype)
            if _native.im2col2d(buf, col, geom):
                return col.reshape(self.cb * self.ksize, self.m)
        # (C, *kernel) step by dilation, the other axes (N, *out) by stride
        st = buf.strides
        step = dict(zip(self.sp_axes, self.stride))
        strides = ([st[0]] + [st[a] * d for a, d in zip(self.sp_axes, self.dilate)]
                   + [st[a] * step.get(a, 1) for a in range(1, self.nd + 2)])
        view = _as_strided(xp, buf, self.cols, strides)
        col = scratch.get(xp, key, self.cols, buf.dtype)
        col[...] = view
        return col.reshape(self.cb * self.ksize, self.m)

    def col2im(self, xp, scratch, dcol, key):
        """Scatter-add the column gradient into a zeroed padded buffer, which is returned."""
        buf = scratch.get(xp, key, self.ishape(self.cb, self.padded), dcol.dtype)
        geom = self._native_geom(xp, dcol.dtype)
        if geom is not None and _native.col2im2d(dcol, buf, geom):
            return buf
        buf.fill(0)
        d = dcol.reshape(self.cols)
        for region, src in self.c2i:
            buf[region] += d[src]
        return buf

    def fused_data_grad(self, xp, scratch, w2, g2, key):
        """``col2im(w2.T @ g2)`` made a few channels at a time, each chunk of the column
        gradient scattered while in cache (``distmod._native.data_grad_lowered``: LeNet's
        second layer's 8 MB of columns are never whole), into the padded buffer, which is
        returned; None where it does not run (groups, no native threads, another dtype)."""
        geom = self._native_geom(xp, g2.dtype)
        if geom is None or self.group != 1:
            return None
        buf = scratch.get(xp, key, self.ishape(self.cb, self.padded), g2.dtype)
        if not _native.data_grad_lowered(
                w2, g2, buf, geom, self.ksize,
                lambda n: scratch.get(xp, key + '_chunks', (n,), g2.dtype)):
            return None
        return buf

    # -- GEMMs, one per group --
    def _groups(self, rows_a, rows_b):
        g = self.group
        ra, rb = rows_a // g, rows_b // g
        return [(slice(i * ra, (i + 1) * ra), slice(i * rb, (i + 1) * rb)) for i in range(g)]

    def forward_gemm(self, xp, w2, col, out2):
        """out2 (Cs, M) = w2 (Cs, Cb/g*K) @ col (Cb*K, M), group by group."""
        if self.group == 1:
            split_matmul(xp, w2, col, out2) or xp.matmul(w2, col, out=out2)
            return out2
        for so, sc in self._groups(self.cs, self.cb * self.ksize):
            xp.matmul(w2[so], col[sc], out=out2[so])
        return out2

    def weight_gemm(self, xp, g2, col, dw2):
        """dw2 (Cs, Cb/g*K) = g2 (Cs, M) @ col.T."""
        if self.group == 1:
            split_matmul(xp, g2, col.T, dw2) or xp.matmul(g2, col.T, out=dw2)
            return dw2
        for so, sc in self._groups(self.cs, self.cb * self.ksize):
            xp.matmul(g2[so], col[sc].T, out=dw2[so])
        return dw2

    def column_gemm(self, xp, w2, g2, dcol):
        """dcol (Cb*K, M) = w2.T @ g2 (Cs, M)."""
        if self.group == 1:
            split_matmul(xp, w2.T, g2, dcol) or xp.matmul(w2.T, g2, out=dcol)
            return dcol
        for so, sc in self._groups(self.cs, self.cb * self.ksize):
            xp.matmul(w2[so].T, g2[so], out=dcol[sc])
        return dcol


def _thread_weight_sums(xp, scratch, parts, shape, dtype, run):
    """A native weight gradient summed per thread, then over the threads in part order (a
    given split gives the same bits every run): ``run(lo, hi, acc, vec)`` gives the kernel
    calls (``Pool.run_native``) that add the images ``[lo, hi)`` into the zeroed partial at
    address ``acc`` (``shape``: (G, K, F/g, C/g)), with ``vec`` (its 16-lane accumulators)
    as scratch.  Returns the sum of the partials."""
    acc = scratch.get(xp, 'ndw', (len(parts),) + tuple(shape), dtype)
    acc.fill(0)
    vec = scratch.get(xp, 'ndw_vec', (len(parts), prod(shape[1:]) * 16), dtype)
    which = {lo: i for i, (lo, _) in enumerate(parts)}

    def part(lo, hi):
        i = which[lo]
        return run(lo, hi, acc[i].ctypes.data, vec[i].ctypes.data)
    _native.pool.run_native(part, parts)
    total = acc[0]
    for i in range(1, len(parts)):
        total += acc[i]
    return total


def _native_weight_layout(xp, scratch, w, group, ksize, cg, fg, channel_last, transposed):
    """The weight as the native kernels read it, (G, K, C/g, F/g): per group and kernel
    offset, each input channel's weights for all filters side by side; ``transposed``
    (the data gradient's, filters and channels swapped) (G, K, F/g, C/g)."""
    g, k = group, ksize
    shape = (g, k, fg, cg) if transposed else (g, k, cg, fg)
    buf = scratch.get(xp, 'nwt' if transposed else 'nw', shape, w.dtype)
    if channel_last:
        src = w.reshape(g, fg, k, cg)
        buf[...] = src.transpose(0, 2, 1, 3) if transposed else src.transpose(0, 2, 3, 1)
    else:
        src = w.reshape(g, fg, cg, k)
        buf[...] = src.transpose(0, 3, 1, 2) if transposed else src.transpose(0, 3, 2, 1)
    return buf


class _Shifted:
    """A stride-1 convolution as one GEMM per kernel offset, with no im2col copy.

    The input is copied once, padded, into a ``(C, N * prod(padded) + reach)`` buffer, and the
    output is computed at every position ``q`` of that padded grid: kernel offset ``k`` reads
    input ``q + off[k]``, so for each offset the input matrix is the same buffer shifted by a
    constant, a sub-matrix BLAS takes as it is (a start and a leading dimension), and the
    offsets' GEMMs accumulate (``beta=1``) into one output grid.  Grid positions outside the
    output are computed and dropped, ``prod(padded) / prod(out)`` times the useful work, which
    ``Convolution._shifted`` bounds.  The data gradient is the same GEMMs transposed over the
    output gradient placed in a zeroed grid; the weight gradient one GEMM per offset over the
    whole grid.  NumPy with OpenBLAS (``_blas.gemm_for``) only: ``matmul`` cannot accumulate
    into its output or take a shifted view of a flat buffer as a matrix.

    In float32, where distmod's native kernels are built (``distmod/_native``), the same sums
    run in C instead of the GEMMs: all offsets and channels of a block of outputs summed in
    AVX2 or AVX-512 registers, so each output is written once (the GEMMs write it once per offset),
    only over the grid rows of each image that hold outputs, and the images split over the
    native pool's threads.  The weight gradient sums per thread, then the threads' sums.
    """

    def __init__(self, n, c, f, big, small, kernel, dilate, pad, group, channel_last, dtype):
        nd = len(kernel)
        self.n, self.c, self.f, self.group = n, c, f, group
        self.cg, self.fg = c // group, f // group
        self.ksize = prod(kernel)
        self.channel_last = channel_last
        self.padded = tuple(b + 2 * p for b, p in zip(big, pad))
        steps = [prod(self.padded[i + 1:]) for i in range(nd)]
        self.offs = [sum(o * d * st for o, d, st in zip(off, dilate, steps))
                     for off in itertools.product(*[range(k) for k in kernel])]
        self.reach = self.offs[-1]
        self.grid = n * prod(self.padded)
        self.gshape = (n,) + self.padded
        c_ax, s_ax = ((nd + 1, tuple(range(1, nd + 1))) if channel_last
                      else (1, tuple(range(2, nd + 2))))
        self.perm = (c_ax, 0) + s_ax
        self.interior = (slice(None), slice(None)) + tuple(slice(p, p + b)
                                                          for p, b in zip(pad, big))
        self.valid = (slice(None), slice(None)) + tuple(slice(0, m) for m in small)
        self.gemm = _blas.gemm_for(dtype)
        self.item = np.dtype(dtype).itemsize
        self.chunks = [(s0, min(_SHIFT_CHUNK, self.grid - s0))
                       for s0 in range(0, self.grid, _SHIFT_CHUNK)]
        # the native kernels (float32): every offset summed in registers, one write per output
        self.native = _native.conv() if np.dtype(dtype) == np.float32 else None
        if self.native is not None:
            self.simd = _native.simd_level()
            self.c_offs = _native.offsets(self.offs)
            self.c_back = _native.offsets([-o for o in self.offs])
            # one input row (1 channel per group: a first layer, a depthwise one): the last
            # kernel axis becomes the channels, rows of the grid ``dilate`` apart, so that
            # the kernels' channel blocks fill (a 5x5 kernel: 5 offsets of 5 "channels")
            kw, dl = kernel[-1], dilate[-1]
            self.fold = None
            if kw > 1:
                rows = self.offs[::kw]
                self.fold = (self.ksize // kw, kw, dl, _native.offsets(rows),
                             _native.offsets([-o for o in rows]))
            zero = (0,) * nd
            self.out_span = self._span(zero, small, _NATIVE_ALIGN)
            self.in_span = self._span(pad, big, _NATIVE_ALIGN)
            self.g_span = self._span(zero, small, 8)
            # AVX-512's lane masks scatter 1-/2-D channel-first results straight into the
            # output (or data gradient) array: (grid position of its (0, 0), grid row, rows,
            # columns); no result grid, no copy out of it
            self.direct = self.simd >= 2 and nd <= 2 and not channel_last
            if self.direct:
                wp = self.padded[-1]
                rows = (lambda sizes: sizes[0] if nd == 2 else 1)
                self.out_geom = (0, wp, rows(small), small[-1])
                self.in_geom = (self.in_span[0], wp, rows(big), big[-1])

    @staticmethod
    def available(dtype):
        """Whether this engine runs for ``dtype``: native kernels or OpenBLAS's gemm."""
        return ((np.dtype(dtype) == np.float32 and _native.conv() is not None)
                or _blas.gemm_for(dtype) is not None)

    def _span(self, start, size, align):
        """(a, b): the flat positions, within one image's padded grid, from ``start`` (per
        spatial axis) over ``size``, ``b - a`` rounded up to ``align`` where the image has
        room (the rounded positions are padding: zero in the gradient grids, and dropped
        from the results)."""
        steps = [prod(self.padded[i + 1:]) for i in range(len(self.padded))]
        a = sum(s0 * st for s0, st in zip(start, steps))
        b = sum((s0 + m - 1) * st for s0, m, st in zip(start, size, steps)) + 1
        return a, min(prod(self.padded), a + -(-(b - a) // align) * align)

    def _parts(self):
        """The images split over the native pool's threads."""
        per = max(1, _NATIVE_MIN_PART // prod(self.padded))
        return _native.pool.split(0, self.n, 1, per)

    def _native_weights(self, xp, scratch, w, transposed):
        return _native_weight_layout(xp, scratch, w, self.group, self.ksize, self.cg, self.fg,
                                     self.channel_last, transposed)

    def _sums(self, rows_in, ld_src, back):
        """(offsets, their C array, channels, channel stride) of the kernels' sums over
        ``rows_in`` source rows ``ld_src`` apart (``back``: the data gradient's negated
        offsets); one row is folded (``self.fold``)."""
        if rows_in == 1 and self.fold is not None:
            k, kw, dl, fwd, bwd = self.fold
            return k, (bwd if back else fwd), kw, (-dl if back else dl)
        return self.ksize, (self.c_back if back else self.c_offs), rows_in, ld_src

    def _native_rows(self, src, ld_src, wbuf, back, rows_in, rows_out, dst, ld_dst, span):
        """dst rows (G*rows_out, grid) = the offsets' sum over src rows (G*rows_in, ...) at
        each image's positions ``span``, group by group, the images split over the native
        pool's threads."""
        lib, it, img = self.native, self.item, prod(self.padded)
        sa, wa, da = src, wbuf.ctypes.data, dst.ctypes.data
        k, offs, c, ld = self._sums(rows_in, ld_src, back)
        per_group = self.ksize * rows_out * rows_in * it

        def part(lo, hi):
            return [(lib.dm_shift_conv_images,
                     (sa + gi * rows_in * ld_src * it, ld, wa + gi * per_group, k, offs,
                      rows_out, c, da + gi * rows_out * ld_dst * it, ld_dst, lo, hi, img,
                      span[0], span[1], 0, self.simd))
                    for gi in range(self.group)]
        _native.pool.run_native(part, self._parts())

    def _native_direct(self, src, ld_src, wbuf, back, rows_in, rows_out, dst, span, geom,
                       bias=None):
        """``_native_rows`` writing into the channel-first array ``dst`` (G*rows_out
        channels) itself, plus ``bias``; False where ``dst`` or ``bias`` does not suit."""
        if not (_native.contiguous_float32(dst)
                and (bias is None or _native.contiguous_float32(bias))):
            return False
        lib, it, img = self.native, self.item, prod(self.padded)
        a0, wp, rows, cols = geom
        ys_f = rows * cols
        ys_img = self.group * rows_out * ys_f
        wa, da = wbuf.ctypes.data, dst.ctypes.data
        ba = None if bias is None else bias.ctypes.data
        k, offs, c, ld = self._sums(rows_in, ld_src, back)
        per_group = self.ksize * rows_out * rows_in * it

        def part(lo, hi):
            return [(lib.dm_shift_conv_direct,
                     (src + gi * rows_in * ld_src * it, ld, wa + gi * per_group, k, offs,
                      rows_out, c, da + gi * rows_out * ys_f * it, ys_img, ys_f,
                      None if ba is None else ba + gi * rows_out * it, lo, hi, img,
                      span[0], span[1], a0, wp, rows, cols, self.simd))
                    for gi in range(self.group)]
        _native.pool.run_native(part, self._parts())
        return True

    def _into_grid(self, grid, rows, src, where):
        """``src`` (data layout) copied into the grid ``grid`` (rows, N * img) at ``where``
        of every image.  With the native kernels the images are split as the kernels split
        them, so each thread copies what it then reads (a grid written by one core and read
        by another cost twice the copy: LeNet's first layer's output gradient, 0.49 against
        0.25 ms), by ``dm_copy4d`` in 2-D (NumPy's copy of that gradient, one 24-float row
        per loop call, took 174 us against 99, in cache); else by NumPy on this thread."""
        img = prod(self.padded)
        if self.native is not None and _native.copy4d(
                src.transpose(self.perm), grid.reshape((rows, self.n) + self.padded)[where],
                self._parts()):
            return
        # small (NumPy copies it faster than a hand-over to a thread) or not 2-D
        grid[:, :self.n * img].reshape((rows, self.n) + self.padded)[where] = src.transpose(
            self.perm)

    def x_in(self, xp, scratch, x):
        """x (data layout) into the zero-padded input grid (C, grid + reach)."""
        buf = scratch.get(xp, 'sx', (self.c, self.grid + self.reach), x.dtype, fill=0)
        self._into_grid(buf[:, :self.grid], self.c, x, self.interior)
        return buf

    def g_in(self, xp, scratch, g):
        """The output gradient into a zeroed grid (F, reach + grid) at the output positions."""
        buf = scratch.get(xp, 'sg', (self.f, self.reach + self.grid), g.dtype, fill=0)
        self._into_grid(buf[:, self.reach:], self.f, g, self.valid)
        return buf

    def weights(self, xp, scratch, w):
        """The weight as (K, F, C/g): one contiguous (F, C/g) matrix per kernel offset; for
        the native kernels (G, K, C/g, F/g)."""
        if self.native is not None:
            return self._native_weights(xp, scratch, w, False)
        wk = scratch.get(xp, 'swk', (self.ksize, self.f, self.cg), w.dtype)
        if self.channel_last:
            wk[...] = w.reshape(self.f, self.ksize, self.cg).transpose(1, 0, 2)
        else:
            wk[...] = w.reshape(self.f, self.cg, self.ksize).transpose(2, 0, 1)
        return wk

    def forward(self, xp, scratch, xbuf, wk, y, bias):
        """y = conv(x): the offsets' GEMMs into the output grid, then its output positions."""
        if self.native is not None and self.direct and self._native_direct(
                xbuf.ctypes.data, xbuf.shape[1], wk, False, self.cg, self.fg, y,
                self.out_span, self.out_geom, bias):
            return
        ybuf = scratch.get(xp, 'sy', (self.f, self.grid), y.dtype)
        if self.native is not None:
            self._native_rows(xbuf.ctypes.data, xbuf.shape[1], wk, False, self.cg,
                              self.fg, ybuf, self.grid, self.out_span)
            return self._output(xp, ybuf, y, bias)
        gemm, it, nt = self.gemm, self.item, _blas.NO_TRANS
        cg, fg, ldx, grid = self.cg, self.fg, xbuf.shape[1], self.grid
        xa, wa, ya = xbuf.ctypes.data, wk.ctypes.data, ybuf.ctypes.data
        for s0, ln in self.chunks:
            for gi in range(self.group):
                for k, off in enumerate(self.offs):
                    gemm(_blas.ROW_MAJOR, nt, nt, fg, ln, cg, 1.0,
                         wa + (k * self.f + gi * fg) * cg * it, cg,
                         xa + (gi * cg * ldx + off + s0) * it, ldx, 1.0 if k else 0.0,
                         ya + (gi * fg * grid + s0) * it, grid)
        self._output(xp, ybuf, y, bias)

    def _output(self, xp, ybuf, y, bias):
        """y = the output positions of the result grid (plus bias); with the native kernels,
        each thread copies the images it computed (NumPy releases the GIL for the copy:
        LeNet's first layer's 2.9 MB, 0.81 ms on one thread of an AVX2 EPYC)."""
        res = ybuf.reshape((self.f,) + self.gshape)[self.valid]
        view = y.transpose(self.perm)
        b = None if bias is None else bias.reshape((-1,) + (1,) * (view.ndim - 1))

        def part(lo, hi):
            if b is None:
                view[:, lo:hi] = res[:, lo:hi]
            else:
                xp.add(res[:, lo:hi], b, out=view[:, lo:hi])
        if self.native is None:
            part(0, self.n)
        else:
            _native.pool.run(part, self._parts())

    def weight_grad(self, xp, scratch, gbuf, xbuf, dw):
        """dw[:, :, k] = g (F, grid) @ x shifted by off[k] (C, grid).T, group by group."""
        if self.native is not None:
            return self._native_weight_grad(xp, scratch, gbuf, xbuf, dw)
        dwk = scratch.get(xp, 'sdw', (self.ksize, self.f, self.cg), dw.dtype)
        gemm, it = self.gemm, self.item
        cg, fg, ldx, ldg = self.cg, self.fg, xbuf.shape[1], gbuf.shape[1]
        xa, ga, da = xbuf.ctypes.data, gbuf.ctypes.data, dwk.ctypes.data
        for gi in range(self.group):
            for k, off in enumerate(self.offs):
                gemm(_blas.ROW_MAJOR, _blas.NO_TRANS, _blas.TRANS, fg, cg, self.grid, 1.0,
                     ga + (gi * fg * ldg + self.reach) * it, ldg,
                     xa + (gi * cg * ldx + off) * it, ldx, 0.0,
                     da + (k * self.f + gi * fg) * cg * it, cg)
        if self.channel_last:
            dw.reshape(self.f, self.ksize, self.cg)[...] = dwk.transpose(1, 0, 2)
        else:
            dw.reshape(self.f, self.cg, self.ksize)[...] = dwk.transpose(1, 2, 0)

    def _native_weight_grad(self, xp, scratch, gbuf, xbuf, dw):
        """dw from one partial (G, K, F/g, C/g) sum per thread over its grid range."""
        lib, it = self.native, self.item
        ldx, ldg = xbuf.shape[1], gbuf.shape[1]
        k, offs, c, ld = self._sums(self.cg, ldx, False)
        xa, ga = xbuf.ctypes.data, gbuf.ctypes.data + self.reach * it
        per_group = k * self.fg * c * it
        img, (a, b) = prod(self.padded), self.g_span

        def run(lo, hi, acc, vec):
            return [(lib.dm_shift_wgrad, (ga + gi * self.fg * ldg * it, ldg,
                                          xa + gi * self.cg * ldx * it, ld, k, offs, self.fg,
                                          c, acc + gi * per_group, vec, lo, hi, img, a, b,
                                          self.simd))
                    for gi in range(self.group)]
        total = _thread_weight_sums(xp, scratch, self._parts(), (self.group, k, self.fg, c),
                                    dw.dtype, run)
        g = self.group
        if c != self.cg:
            # folded (one channel): total (G, rows of the kernel, F/g, its last axis)
            dw.reshape(g, self.fg, k, c)[...] = total.transpose(0, 2, 1, 3)
            return
        k = self.ksize
        if self.channel_last:
            dw.reshape(g, self.fg, k, self.cg)[...] = total.transpose(0, 2, 1, 3)
        else:
            dw.reshape(g, self.fg, self.cg, k)[...] = total.transpose(0, 2, 3, 1)

    def data_grad(self, xp, scratch, gbuf, w, dx):
        """dx grid (C, grid) = sum over offsets of w[:, :, k].T @ g shifted back by off[k]."""
        if self.native is not None:
            # dx = the output gradient convolved back: offsets negated, weights transposed
            wt = self._native_weights(xp, scratch, w, True)
            if self.direct and self._native_direct(
                    gbuf.ctypes.data + self.reach * self.item, gbuf.shape[1], wt, True,
                    self.fg, self.cg, dx, self.in_span, self.in_geom):
                return
            dbuf = scratch.get(xp, 'sdx', (self.c, self.grid), dx.dtype)
            self._native_rows(gbuf.ctypes.data + self.reach * self.item, gbuf.shape[1], wt,
                              True, self.fg, self.cg, dbuf, self.grid, self.in_span)
            dx.transpose(self.perm)[...] = dbuf.reshape((self.c,) + self.gshape)[self.interior]
            return
        dbuf = scratch.get(xp, 'sdx', (self.c, self.grid), dx.dtype)
        wk = self.weights(xp, scratch, w)
        gemm, it = self.gemm, self.item
        cg, fg, ldg, grid = self.cg, self.fg, gbuf.shape[1], self.grid
        ga, wa, da = gbuf.ctypes.data, wk.ctypes.data, dbuf.ctypes.data
        for s0, ln in self.chunks:
            for gi in range(self.group):
                for k, off in enumerate(self.offs):
                    gemm(_blas.ROW_MAJOR, _blas.TRANS, _blas.NO_TRANS, cg, ln, fg, 1.0,
                         wa + (k * self.f + gi * fg) * cg * it, cg,
                         ga + (gi * fg * ldg + self.reach - off + s0) * it, ldg,
                         1.0 if k else 0.0, da + (gi * cg * grid + s0) * it, grid)
        dx.transpose(self.perm)[...] = dbuf.reshape((self.c,) + self.gshape)[self.interior]


class _Same:
    """A stride-1 2-D channel-first float32 convolution whose output is its input's size
    (``dilate * (kernel - 1) == 2 * pad`` on both axes: 3x3 padded by 1, 5x5 by 2...), on the
    native AVX-512 or AVX2 kernels of ``sameconv.c`` over the NCHW arrays themselves.

    Kernel offset k reads each output position's input at a constant flat shift, and a lane
    mask per 16 positions and offset stands for the padding, so there is no padded copy of
    the input (forward, weight gradient) or of the output gradient (data gradient), no
    padding position is computed, and each result vector is stored once where it belongs.
    Measured on MXNet's stochastic-depth convnet's 16->16 3x3 layer, batch 100 of 28x28, one
    thread: forward 5.8 -> 3.8 ms, backward 10.2 -> 8.1-8.3 ms against ``_Shifted``'s padded grid
    (``python bench/bench_conv.py convnet``); on an AVX2 EPYC, forward 6.6 -> 4.9 ms, data
    gradient 6.7 -> 5.1 ms, weight gradient 7.2 -> 6.5 ms.  The images are split over the native pool's
    threads as ``_Shifted`` splits them, with the same fixed order of sums per thread count.
    """

    def __init__(self, n, c, f, big, kernel, dilate, pad, group):
        (h, w), (kh, kw), (dh, dw), (ph, pw) = big, kernel, dilate, pad
        self.n, self.c, self.f, self.group = n, c, f, group
        self.cg, self.fg = c // group, f // group
        self.hw = h * w
        self.ksize = kh * kw
        self.native = _native.conv()
        dys = [a * dh - ph for a in range(kh) for _ in range(kw)]
        dxs = [b * dw - pw for _ in range(kh) for b in range(kw)]
        self.fwd = _native.same_geometry(h, w, dys, dxs)
        # the data gradient reads the output gradient at the negated shifts, taken in
        # ascending order as the forward's are (the kernel flipped): in the forward's order,
        # descending addresses within each block, it ran 13% slower (4.24 against 3.75 ms)
        self.back = _native.same_geometry(h, w, [-v for v in reversed(dys)],
                                          [-v for v in reversed(dxs)])
        per = max(1, _NATIVE_MIN_PART // self.hw)
        self.parts = _native.pool.split(0, n, 1, per)

    @staticmethod
    def fits(op, x, y):
        """Whether this engine runs ``op`` (a Convolution) from ``x`` to ``y`` (NumPy)."""
        return (op.nd == 2 and not op.channel_last and x.dtype == np.float32
                and _native.conv() is not None and _native.simd_level() >= 1
                and all(st == 1 for st in op.stride_) and x.shape[2:] == y.shape[2:]
                and all(d * (k - 1) == 2 * p for d, k, p in zip(op.dilate_, op.kernel,
                                                                op.pad_))
                and _native.contiguous_float32(x) and _native.contiguous_float32(y))

    def _sum(self, src, rows_in, wbuf, geom, rows_out, dst, bias):
        """dst (N, G*rows_out, H, W) = the offsets' sums over src (N, G*rows_in, H, W)."""
        lib, it, hw, k = self.native, 4, self.hw, self.ksize
        shifts, masks = geom
        sa, wa, da, ma = src.ctypes.data, wbuf.ctypes.data, dst.ctypes.data, masks.ctypes.data
        ba = None if bias is None else bias.ctypes.data
        xs_img, ys_img = self.group * rows_in * hw, self.group * rows_out * hw
        per_group = k * rows_in * rows_out * it
        simd = _native.simd_level()

        def part(lo, hi):
            return [(lib.dm_same_conv, (sa + gi * rows_in * hw * it, xs_img, hw,
                                        wa + gi * per_group, k, shifts, ma, rows_out, rows_in,
                                        da + gi * rows_out * hw * it, ys_img, hw,
                                        None if ba is None else ba + gi * rows_out * it, lo,
                                        hi, hw, simd))
                    for gi in range(self.group)]
        _native.pool.run_native(part, self.parts)

    def forward(self, xp, scratch, x, w, y, bias):
        if bias is not None and not _native.contiguous_float32(bias):
            bias = np.ascontiguousarray(bias, np.float32)
        wbuf = _native_weight_layout(xp, scratch, w, self.group, self.ksize, self.cg,
                                     self.fg, False, False)
        self._sum(x, self.cg, wbuf, self.fwd, self.fg, y, bias)

    def data_grad(self, xp, scratch, g, w, dx):
        # (G, K, F/g, C/g) with the kernel flipped, as ``self.back`` takes the offsets
        gr, k, cg, fg = self.group, self.ksize, self.cg, self.fg
        wbuf = scratch.get(xp, 'nwf', (gr, k, fg, cg), w.dtype)
        wbuf[...] = w.reshape(gr, fg, cg, k)[..., ::-1].transpose(0, 3, 1, 2)
        self._sum(g, fg, wbuf, self.back, cg, dx, None)

    def weight_grad(self, xp, scratch, g, x, dw):
        """dw from one partial (G, K, F/g, C/g) sum per thread over its images."""
        lib, it, hw, k, group = self.native, 4, self.hw, self.ksize, self.group
        shifts, masks = self.fwd
        ga, xa, ma = g.ctypes.data, x.ctypes.data, masks.ctypes.data
        per_group = k * self.fg * self.cg * it
        simd = _native.simd_level()

        def run(lo, hi, acc, vec):
            return [(lib.dm_same_wgrad, (ga + gi * self.fg * hw * it, self.f * hw, hw,
                                         xa + gi * self.cg * hw * it, self.c * hw, hw, k,
                                         shifts, ma, self.fg, self.cg, acc + gi * per_group,
                                         vec, lo, hi, hw, simd))
                    for gi in range(group)]
        total = _thread_weight_sums(xp, scratch, self.parts, (group, k, self.fg, self.cg),
                                    dw.dtype, run)
        dw.reshape(group, self.fg, self.cg, k)[...] = total.transpose(0, 2, 3, 1)


def _w2(xp, scratch, w, channel_last, key):
    """The weight as a (rows, C/g * K) matrix in channel-first kernel order."""
    if not channel_last:
        return w.reshape(w.shape[0], -1)
    buf = scratch.get(xp, key, (w.shape[0], w.shape[-1]) + w.shape[1:-1], w.dtype)
    buf[...] = xp.moveaxis(w, -1, 1)
    return buf.reshape(w.shape[0], -1)


def _weight_grad(xp, scratch, low, a2, col, dw, channel_last):
    """``dw`` = ``a2 @ col.T`` (the weight-gradient GEMM), written in the weight's layout: in
    place, or through scratch moved into it after for a channel-last weight."""
    if not channel_last:
        low.weight_gemm(xp, a2, col, dw.reshape(dw.shape[0], -1))
        return
    buf = scratch.get(xp, 'dw2', (dw.shape[0], dw.shape[-1]) + dw.shape[1:-1], dw.dtype)
    low.weight_gemm(xp, a2, col, buf.reshape(dw.shape[0], -1))
    dw[...] = xp.moveaxis(buf, 1, -1)


def _sum_channels(xp, g, nd, channel_last, out, scratch=None):
    """The bias gradient: ``g`` summed over every axis but the channels'.  Channel-first
    float32 NumPy arrays: one native pass summing in float64 (``scratch`` holds its sums)."""
    if xp is np and not channel_last and scratch is not None and g.ndim >= 2:
        c = g.shape[1]
        work = scratch.get(xp, 'bias_sums', (c,), np.float64)
        if _native.channel_sums(g, (g.shape[0], c, g.size // max(1, g.shape[0] * c)), work,
                                out):
            return
    axes = tuple(range(nd + 1)) if channel_last else (0,) + tuple(range(2, nd + 2))
    xp.sum(g, axis=axes, out=out)


class _ConvBase(Operator):
    """Parameters and shape logic shared by Convolution and Deconvolution."""

    arguments = ('data', 'weight', 'bias')
    retain_inputs = (0, 1)         # data for the weight's gradient, weight for the data's
    retain_outputs = ()

    def setup(self):
        nd = len(self.kernel) if self.kernel else 0
        if not 1 <= nd <= 3:
            raise MXNetError('operator %s: kernel=%s must have 1, 2 or 3 entries'
                             % (self.name, self.kernel))
        if any(k < 1 for k in self.kernel):
            raise MXNetError('operator %s: kernel=%s must be positive' % (self.name, self.kernel))
        self.nd = nd
        self.channel_last, _ = _layout_info(self, self.layout, nd)
        self.stride_ = _spatial(self, 'stride', self.stride, nd, 1, 1)
        self.dilate_ = _spatial(self, 'dilate', self.dilate, nd, 1, 1)
        self.pad_ = _spatial(self, 'pad', self.pad, nd, 0, 0)
        if self.num_filter < 1 or self.num_group < 1:
            raise MXNetError('operator %s: num_filter=%d and num_group=%d must be positive'
                             % (self.name, self.num_filter, self.num_group))
        self._scratch = _Scratch()
        self._low = None

    def list_arguments(self):
        return ['data', 'weight'] if self.no_bias else ['data', 'weight', 'bias']

    def _split(self, shape):
        """(N, C, spatial) of a data-layout shape."""
        if self.channel_last:
            return shape[0], shape[-1], tuple(shape[1:-1])
        return shape[0], shape[1], tuple(shape[2:])

    def _join(self, n, c, spatial):
        return (n,) + tuple(spatial) + (c,) if self.channel_last else (n, c) + tuple(spatial)

    def _weight_shape(self, rows, cols):
        k = tuple(self.kernel)
        return (rows,) + k + (cols,) if self.channel_last else (rows, cols) + k

    def _check_data(self, dshape):
        if len(dshape) != self.nd + 2:
            raise InferError('data of shape %s must have %d dimensions for kernel=%s%s'
                             % (dshape, self.nd + 2, tuple(self.kernel),
                                ' and layout %s' % self.layout if self.layout else ''))
        n, c, spatial = self._split(dshape)
        if c % self.num_group:
            raise InferError('data of shape %s has %d channels, not divisible by num_group=%d'
                             % (dshape, c, self.num_group))
        if self.num_filter % self.num_group:
            raise InferError('num_filter=%d is not divisible by num_group=%d'
                             % (self.num_filter, self.num_group))
        return n, c, spatial

    def _shapes(self, dshape, n, weight, spatial):
        """``infer_shape``'s answer for data ``dshape``, a weight of ``weight`` (rows, columns)
        and output spatial sizes ``spatial``."""
        ins = [tuple(dshape), self._weight_shape(*weight)]
        if not self.no_bias:
            ins.append((self.num_filter,))
        return ins, [self._join(n, self.num_filter, spatial)], []

    def _lowering(self, n, cb, cs, big, small, pad):
        key = (n, cb, cs, tuple(big), tuple(small))
        if self._low is None or self._low_key != key:
            self._low = _Lowering(n, cb, cs, big, small, self.kernel, self.stride_,
                                  self.dilate_, pad, self.num_group, self.channel_last)
            self._low_key = key
        return self._low


def _conv_params(workspace):
    return {'kernel': Param('shape'), 'stride': Param('shape', None),
            'dilate': Param('shape', None), 'pad': Param('shape', None),
            'num_filter': Param('int'), 'num_group': Param('int', 1),
            'workspace': Param('int', workspace), 'no_bias': Param('bool', False),
            'cudnn_tune': Param('str_or_none', None, choices=_CUDNN_TUNE),
            'cudnn_off': Param('bool', False),
            'layout': Param('str_or_none', None, choices=_CONV_LAYOUTS)}


@register
class Convolution(_ConvBase):
    """N-d convolution (cross-correlation) over ``data`` with ``weight`` and optional ``bias``.

    ``data`` is ``(N, C, *spatial)`` (``layout`` NCW/NCHW/NCDHW, or NHWC/NDHWC channel-last);
    ``weight`` is ``(num_filter, C/num_group, *kernel)`` (``(num_filter, *kernel, C/num_group)``
    channel-last); each output size is ``floor((x + 2*pad - dilate*(kernel-1) - 1)/stride) + 1``.
    ``workspace`` and ``cudnn_*`` are accepted and ignored.

    Example::

        >>> x = mx.nd.ones((1, 1, 4, 4)); w = mx.nd.ones((2, 1, 3, 3))
        >>> mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=2, no_bias=True).asnumpy()[0, 0]
        array([[9., 9.],
               [9., 9.]], dtype=float32)
    """
    name = 'Convolution'
    aliases = ('Convolution_v1',)      # MXNet's first version, in old checkpoints' JSON
    params = _conv_params(1024)
    samples = (
        Sample({'kernel': (2, 2), 'num_filter': 3}, {'data': (2, 2, 4, 4)}),
        Sample({'kernel': (3, 2), 'num_filter': 4, 'num_group': 2, 'stride': (2, 1),
                'pad': (1, 0), 'dilate': (1, 2), 'no_bias': True}, {'data': (2, 4, 5, 5)}),
        Sample({'kernel': (3,), 'num_filter': 2, 'stride': (2,), 'pad': (2,), 'dilate': (2,)},
               {'data': (3, 2, 7)}),
        Sample({'kernel': (2, 2, 2), 'num_filter': 2, 'pad': (1, 0, 1), 'stride': (2, 1, 1)},
               {'data': (2, 2, 3, 3, 3)}),
        Sample({'kernel': (3, 3), 'num_filter': 2, 'pad': (1, 1), 'layout': 'NHWC',
                'num_group': 2}, {'data': (2, 4, 3, 2)}),
        # long output rows (batch-first internal layout), with one and with two samples
        Sample({'kernel': (3, 3), 'num_filter': 2, 'stride': (2, 2)}, {'data': (1, 1, 20, 20)}),
        Sample({'kernel': (3,), 'num_filter': 2, 'num_group': 2, 'pad': (1,)},
               {'data': (2, 2, 17)}),
        # stride 1 (the data gradient as a convolution): dilated with groups, 3-D channel-last,
        # and a padding wider than the kernel's reach (the col2im path)
        Sample({'kernel': (3, 2), 'num_filter': 4, 'num_group': 2, 'pad': (2, 1),
                'dilate': (2, 1)}, {'data': (2, 4, 5, 4)}),
        Sample({'kernel': (2, 3, 2), 'num_filter': 3, 'pad': (1, 1, 0), 'layout': 'NDHWC'},
               {'data': (2, 3, 4, 3, 2)}),
        Sample({'kernel': (1, 2), 'num_filter': 2, 'pad': (1, 1)}, {'data': (2, 3, 3, 3)}),
        # enough channels and output for the shifted GEMMs (no im2col): 2-D with a bias, and
        # 1-D dilated with groups
        Sample({'kernel': (3, 3), 'num_filter': 3, 'pad': (1, 1)}, {'data': (1, 4, 10, 10)}),
        Sample({'kernel': (3,), 'num_filter': 4, 'num_group': 2, 'pad': (2,), 'dilate': (2,),
                'no_bias': True}, {'data': (2, 8, 12)}),
    )

    def infer_shape(self, in_shapes):
        dshape = in_shapes[0]
        if dshape is None:
            return in_shapes, [None], []
        n, c, spatial = self._check_data(tuple(dshape))
        out = []
        for x, k, s, d, p in zip(spatial, self.kernel, self.stride_, self.dilate_, self.pad_):
            span = d * (k - 1) + 1
            if x == 0:                  # unknown (MXNet's partial shapes): unknown output
                out.append(0)
                continue
            if span > x + 2 * p:
                raise InferError('kernel=%s (dilate=%s) exceeds data of shape %s padded by %s'
                                 % (tuple(self.kernel), self.dilate_, dshape, self.pad_))
            out.append((x + 2 * p - span) // s + 1)
        return self._shapes(dshape, n, (self.num_filter, c // self.num_group), out)

    def infer_shape_backward(self, in_shapes, out_shapes):
        """The data's unknown batch size and spatial sizes (0) from the output's (the size a
        stride of 1 gives back exactly; MXNet fills in the same)."""
        d, o = in_shapes[0], out_shapes[0]
        if d is None or o is None or len(d) != len(o):
            return in_shapes
        n, c, spatial = self._split(tuple(d))
        on, _, ospatial = self._split(tuple(o))
        sizes = []
        for x, y, k, s, dl, p in zip(spatial, ospatial, self.kernel, self.stride_,
                                     self.dilate_, self.pad_):
            sizes.append((y - 1) * s + dl * (k - 1) + 1 - 2 * p if x == 0 and y else x)
        return [self._join(on if n == 0 else n, c, sizes)] + list(in_shapes[1:])

    def _geometry(self, x, y):
        n, c, spatial = self._split(x.shape)
        _, f, small = self._split(y.shape)
        return self._lowering(n, c, f, spatial, small, self.pad_)

    def _shifted(self, xp, x, y):
        """The ``_Shifted`` engine for this call, or None where im2col is the better one: not
        NumPy with the native kernels (float32) or OpenBLAS, a stride, few channels per
        group on OpenBLAS's path, or a padded grid much larger than the output (a big kernel
        over small data)."""
        if (xp is not np or any(st != 1 for st in self.stride_)
                or not _Shifted.available(x.dtype)):
            return None
        n, c, big = self._split(x.shape)
        _, f, small = self._split(y.shape)
        padded = [b + 2 * p for b, p in zip(big, self.pad_)]
        native = x.dtype == np.float32 and _native.conv() is not None
        if (c // self.num_group < _SHIFT_MIN_CHANNELS and not native
                or prod(padded) > _SHIFT_MAX_WASTE * prod(small)):
            return None
        key = (n, c, f, tuple(big), tuple(small), x.dtype)
        if getattr(self, '_shift_key', None) != key:
            self._shift = _Shifted(n, c, f, big, small, self.kernel, self.dilate_, self.pad_,
                                   self.num_group, self.channel_last, x.dtype)
            self._shift_key = key
        return self._shift

    def _same(self, xp, *arrays):
        """The ``_Same`` engine where it runs this call (``arrays``: the data, then the
        output or output gradient, then any gradients to write, all contiguous float32),
        else None."""
        x = arrays[0]
        if xp is not np or not _Same.fits(self, x, arrays[1]) or not all(
                a is None or _native.contiguous_float32(a) for a in arrays[2:]):
            return None
        key = x.shape
        if getattr(self, '_same_key', None) != key:
            n, c, big = self._split(x.shape)
            self._same_engine = _Same(n, c, self.num_filter, big, self.kernel, self.dilate_,
                                      self.pad_, self.num_group)
            self._same_key = key
        return self._same_engine

    def forward(self, xp, ins, outs, aux, is_train):
        x, w, y = ins[0], ins[1], outs[0]
        same = self._same(xp, x, y)
        if same is not None:
            same.forward(xp, self._scratch, x, w, y, None if self.no_bias else ins[2])
            self._col_of = None
            return
        sh = self._shifted(xp, x, y)
        if sh is not None:
            s = self._scratch
            sh.forward(xp, s, sh.x_in(xp, s, x), sh.weights(xp, s, w), y,
                       None if self.no_bias else ins[2])
            self._col_of = x if is_train else None     # backward reuses the input grid
            return
        low = self._geometry(x, y)
        col = low.im2col(xp, self._scratch, low.big_in(xp, self._scratch, x, 'xpad'), 'col')
        # backward reuses these columns when it is handed the same input array
        self._col_of = x if is_train else None
        w2 = _w2(xp, self._scratch, w, self.channel_last, 'w2')
        res = self._scratch.get(xp, 'res', (low.cs, low.m), y.dtype)
        low.forward_gemm(xp, w2, col, res)
        view = low.small_out(y)
        if self.no_bias:
            view[...] = res.reshape(view.shape)
        else:
            xp.add(res.reshape(view.shape),
                   ins[2].reshape((-1,) + (1,) * (view.ndim - 1)), out=view)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, w, g = ins[0], ins[1], ograds[0]
        s = self._scratch
        same = self._same(xp, x, g, igrads[0], igrads[1])
        if same is not None:
            if len(igrads) > 2 and igrads[2] is not None:
                _sum_channels(xp, g, self.nd, self.channel_last, igrads[2], s)
            if igrads[1] is not None:
                same.weight_grad(xp, s, g, x, igrads[1])
            if igrads[0] is not None:
                same.data_grad(xp, s, g, w, igrads[0])
            return
        sh = self._shifted(xp, x, g)
        if sh is not None:
            if len(igrads) > 2 and igrads[2] is not None:
                _sum_channels(xp, g, self.nd, self.channel_last, igrads[2], s)
            if igrads[0] is None and igrads[1] is None:
                return
            gbuf = sh.g_in(xp, s, g)
            if igrads[1] is not None:
                xbuf = (s.get(xp, 'sx', (sh.c, sh.grid + sh.reach), x.dtype)
                        if getattr(self, '_col_of', None) is x else sh.x_in(xp, s, x))
                sh.weight_grad(xp, s, gbuf, xbuf, igrads[1])
            if igrads[0] is not None:
                sh.data_grad(xp, s, gbuf, w, igrads[0])
            return
        low = self._geometry(x, g)
        g2 = low.small_in(xp, s, g, 'g')
        if len(igrads) > 2 and igrads[2] is not None:
            xp.sum(g2, axis=1, out=igrads[2])
        if igrads[1] is not None:
            if getattr(self, '_col_of', None) is x:
                col = s.get(xp, 'col', low.cols, x.dtype).reshape(low.cb * low.ksize, low.m)
            else:
                col = low.im2col(xp, s, low.big_in(xp, s, x, 'xpad'), 'col')
            _weight_grad(xp, s, low, g2, col, igrads[1], self.channel_last)
        if igrads[0] is None:
            return
        n, c, big = self._split(x.shape)
        low_t = self._data_grad_lowering(n, c, low.cs, big, low.small)
        if low_t is not None:
            # stride 1: the data gradient is itself a convolution (below), so one im2col
            # copy and a GEMM of the forward's size replace the column-gradient GEMM and the
            # col2im scatter-add over a buffer kernel-size times the data's
            key = 'col' if low_t.cols == low.cols else 'col_t'
            col_t = low_t.im2col(xp, s, low_t.big_in(xp, s, g, 'gpad'), key)
            if key == 'col':
                self._col_of = None          # the forward's columns are gone
            res = s.get(xp, 'res_t', (low_t.cs, low_t.m), x.dtype)
            low_t.forward_gemm(xp, self._flipped_w2(xp, s, w), col_t, res)
            view = low_t.small_out(igrads[0])
            view[...] = res.reshape(view.shape)
            return
        w2 = _w2(xp, s, w, self.channel_last, 'w2')
        buf = low.fused_data_grad(xp, s, w2, g2, 'dxpad')
        if buf is None:
            dcol = s.get(xp, 'dcol', (low.cb * low.ksize, low.m), x.dtype)
            low.column_gemm(xp, w2, g2, dcol)
            buf = low.col2im(xp, s, dcol, 'dxpad')
        igrads[0].transpose(low.perm)[...] = buf[low.interior]

    def _data_grad_lowering(self, n, c, f, big, small):
        """With stride 1 and ``pad <= dilate * (kernel - 1)``, the data gradient is the output
        gradient padded by ``dilate * (kernel - 1) - pad``, convolved (same dilation, stride 1)
        with the kernel flipped and its filters and channels swapped (``_flipped_w2``): the
        lowering of that convolution, from the output's space (``small``) to the data's
        (``big``); None otherwise."""
        spans = [d * (k - 1) for d, k in zip(self.dilate_, self.kernel)]
        if any(st != 1 for st in self.stride_) or any(p > sp for p, sp in
                                                        zip(self.pad_, spans)):
            return None
        # its columns are F*K x N*prod(big), col2im's C*K x N*prod(small): where the output
        # has many more channels than the data or the data is much bigger than the output
        # (LeNet's second convolution: 50 filters over 20 channels, 12x12 to 8x8; the
        # convolution form took 1.8 times col2im's backward), col2im moves less
        if f * prod(big) > _DATA_GRAD_AS_CONV_BELOW * c * prod(small):
            return None
        key = (n, c, f, tuple(big), tuple(small))
        if getattr(self, '_low_t_key', None) != key:
            self._low_t = _Lowering(n, f, c, small, big, self.kernel, (1,) * self.nd,
                                    self.dilate_, tuple(sp - p for sp, p in
                                                        zip(spans, self.pad_)),
                                    self.num_group, self.channel_last)
            self._low_t_key = key
        return self._low_t

    def _flipped_w2(self, xp, scratch, w):
        """The weight (F, C/g, *kernel) as the (C, F/g * K) matrix of the data gradient's
        convolution: ``[i*C/g + c, f*K + o] = w[i*F/g + f, c, K-1-o]`` for group ``i``."""
        if self.channel_last:
            w = xp.moveaxis(w, -1, 1)
        f, cg = w.shape[0], w.shape[1]
        g = self.num_group
        flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * self.nd]
        blocks = flipped.reshape((g, f // g, cg) + tuple(self.kernel))
        buf = scratch.get(xp, 'w_t', (g, cg, f // g) + tuple(self.kernel), w.dtype)
        buf[...] = blocks.transpose((0, 2, 1) + tuple(range(3, 3 + self.nd)))
        return buf.reshape(g * cg, -1)


@register
class Deconvolution(_ConvBase):
    """Transposed convolution: the gradient of a Convolution with respect to its data.

    ``weight`` is ``(C, num_filter/num_group, *kernel)``; each output size is
    ``stride*(x-1) + dilate*(kernel-1) + 1 - 2*pad + adj``, or ``target_shape`` when given (pad
    and adj are then derived from it, as MXNet does).  ``no_bias`` defaults to True.

    Example::

        >>> x = mx.nd.ones((1, 1, 2, 2)); w = mx.nd.ones((1, 1, 2, 2))
        >>> mx.nd.Deconvolution(x, w, kernel=(2, 2), num_filter=1).asnumpy()[0, 0]
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]], dtype=float32)
    """
    name = 'Deconvolution'
    params = dict(_conv_params(512), no_bias=Param('bool', True),
                  adj=Param('shape', None), target_shape=Param('shape', None))
    samples = (
        Sample({'kernel': (2, 2), 'num_filter': 3, 'no_bias': False}, {'data': (2, 2, 3, 3)}),
        Sample({'kernel': (3, 2), 'num_filter': 4, 'num_group': 2, 'stride': (2, 1),
                'pad': (1, 0), 'dilate': (1, 2), 'adj': (1, 0)}, {'data': (2, 4, 3, 3)}),
        Sample({'kernel': (3,), 'num_filter': 2, 'stride': (2,), 'target_shape': (8,),
                'no_bias': False}, {'data': (2, 3, 4)}),
        Sample({'kernel': (2, 2, 2), 'num_filter': 2, 'stride': (2, 1, 1), 'pad': (0, 1, 0)},
               {'data': (2, 2, 2, 2, 2)}),
        Sample({'kernel': (3, 3), 'num_filter': 2, 'pad': (1, 1), 'layout': 'NHWC',
                'num_group': 2, 'no_bias': False}, {'data': (2, 3, 4, 2)}),
        Sample({'kernel': (2,), 'num_filter': 2, 'stride': (2,), 'no_bias': False},
               {'data': (2, 1, 16)}),
    )

    def setup(self):
        super().setup()
        self.adj_ = _spatial(self, 'adj', self.adj, self.nd, 0, 0)
        ts = self.target_shape
        self.target_ = _spatial(self, 'target_shape', ts, self.nd, 0, 0) if ts else None
        if self.target_ is not None and not any(self.target_):
            self.target_ = None
        if self.target_ is None:
            bad = [(a, s) for a, s in zip(self.adj_, self.stride_) if a >= s]
            if bad:
                raise MXNetError('operator %s: adj=%s must be smaller than stride=%s'
                                 % (self.name, self.adj_, self.stride_))

    def _pads(self, spatial):
        """(pad, adj, out) per dimension for data spatial sizes ``spatial``."""
        pads, adjs, outs = [], [], []
        for i, (x, k, s, d) in enumerate(zip(spatial, self.kernel, self.stride_,
                                             self.dilate_)):
            full = s * (x - 1) + d * (k - 1) + 1
            t = self.target_[i] if self.target_ is not None else 0
            if t:
                if t > full:
                    raise InferError('target_shape=%s is too big for data of spatial shape %s'
                                     ' (at most %d in dimension %d)'
                                     % (self.target_, spatial, full, i))
                total = full - t
                p, a = (total + 1) // 2, total % 2
            else:
                p, a = self.pad_[i], self.adj_[i]
            o = full - 2 * p + a
            if o < 1:
                raise InferError('output size %d in dimension %d is not positive (data spatial'
                                 ' shape %s, pad=%s, adj=%s)' % (o, i, spatial, self.pad_,
                                                                  self.adj_))
            pads.append(p)
            adjs.append(a)
            outs.append(o)
        return tuple(pads), tuple(adjs), tuple(outs)

    def infer_shape(self, in_shapes):
        dshape = in_shapes[0]
        if dshape is None:
            return in_shapes, [None], []
        n, c, spatial = self._check_data(tuple(dshape))
        _, _, out = self._pads(spatial)
        return self._shapes(dshape, n, (c, self.num_filter // self.num_group), out)

    def _geometry(self, x, y):
        n, c, small = self._split(x.shape)
        _, f, big = self._split(y.shape)
        pads, _, _ = self._pads(small)
        # the big buffer is out + 2*pad wide: the last adj positions get no window
        return self._lowering(n, f, c, big, small, pads)

    def forward(self, xp, ins, outs, aux, is_train):
        x, w, y = ins[0], ins[1], outs[0]
        low = self._geometry(x, y)
        s = self._scratch
        x2 = low.small_in(xp, s, x, 'x')
        w2 = _w2(xp, s, w, self.channel_last, 'w2')
        dcol = s.get(xp, 'dcol', (low.cb * low.ksize, low.m), x.dtype)
        low.column_gemm(xp, w2, x2, dcol)
        buf = low.col2im(xp, s, dcol, 'ypad')
        view = y.transpose(low.perm)
        if self.no_bias:
            view[...] = buf[low.interior]
        else:
            xp.add(buf[low.interior], ins[2].reshape((-1,) + (1,) * (view.ndim - 1)),
                   out=view)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, w, g = ins[0], ins[1], ograds[0]
        low = self._geometry(x, g)
        s = self._scratch
        if len(igrads) > 2 and igrads[2] is not None:
            _sum_channels(xp, g, self.nd, self.channel_last, igrads[2], s)
        if igrads[0] is None and igrads[1] is None:
            return
        col = low.im2col(xp, s, low.big_in(xp, s, g, 'gpad'), 'col')
        if igrads[1] is not None:
            x2 = low.small_in(xp, s, x, 'x')
            _weight_grad(xp, s, low, x2, col, igrads[1], self.channel_last)
        if igrads[0] is not None:
            w2 = _w2(xp, s, w, self.channel_last, 'w2')
            res = s.get(xp, 'res', (low.cs, low.m), x.dtype)
            low.forward_gemm(xp, w2, col, res)
            view = low.small_out(igrads[0])
            view[...] = res.reshape(view.shape)


# ---- pooling ------------------------------------------------------------------------------
def _distinct(rng, shape):
    """Well-separated values in random order, so max pooling never meets a near-tie."""
    n = prod(shape)
    return (rng.permutation(n).reshape(shape) - n / 2.0) * 0.1


def _positive(rng, shape):
    return rng.uniform(0.5, 1.5, shape)


class _PoolPlan:
    """Window geometry of one Pooling call: padded extent, offsets, divisors."""

    def __init__(self, op, xp, shape, dtype):
        nd = len(shape) - 2
        sp_axes = tuple(range(1, nd + 1)) if op.channel_last else tuple(range(2, nd + 2))
        spatial = tuple(shape[a] for a in sp_axes)
        kernel, stride, pad, outs = op.window(spatial)
        self.sp_axes, self.spatial, self.kernel, self.stride, self.pad = (
            sp_axes, spatial, kernel, stride, pad)
        self.out = outs
        self.extent = tuple(max(x + 2 * p, (o - 1) * s + k)
                            for x, k, s, p, o in zip(spatial, kernel, stride, pad, outs))
        self.needs_pad = any(e != x for e, x in zip(self.extent, spatial))
        pshape = list(shape)
        for a, e in zip(sp_axes, self.extent):
            pshape[a] = e
        self.pshape = tuple(pshape)
        interior = [slice(None)] * len(shape)
        for a, p, x in zip(sp_axes, pad, spatial):
            interior[a] = slice(p, p + x)
        self.interior = tuple(interior)
        self.offsets = []
        for off in itertools.product(*[range(k) for k in kernel]):
            region = [slice(None)] * len(shape)
            for a, o, s, m in zip(sp_axes, off, stride, outs):
                region[a] = slice(o, o + (m - 1) * s + 1, s)
            self.offsets.append(tuple(region))
        # windows that never overlap write their gradient without accumulation
        self.disjoint = all(s >= k for s, k in zip(stride, kernel))
        # ... and when they also tile the input exactly, every gradient cell is written
        self.tiles = not self.needs_pad and all(
            s == k and (o - 1) * s + k == e
            for s, k, o, e in zip(stride, kernel, outs, self.extent))
        self.inv_count = None
        if op.pool_type == 'avg':
            self.inv_count = self._inv_count(op, xp, len(shape), dtype)

    def _inv_count(self, op, xp, ndim, dtype):
        """1 / (cells each window counts), MXNet's rule: clip to the padded (or real) input."""
        per_dim = []
        for x, k, s, p, o in zip(self.spatial, self.kernel, self.stride, self.pad, self.out):
            start = np.arange(o) * s - p
            if op.count_include_pad_:
                count = np.minimum(start + k, x + p) - start
            else:
                count = np.minimum(start + k, x) - np.maximum(start, 0)
            per_dim.append(np.maximum(count, 0))
        total = per_dim[0]
        for c in per_dim[1:]:
            total = np.multiply.outer(total, c)
        if np.all(total == prod(self.kernel)):
            return 1.0 / prod(self.kernel)
        inv = np.where(total > 0, 1.0 / np.maximum(total, 1), 0.0)
        shape = [1] * ndim
        for a, o in zip(self.sp_axes, self.out):
            shape[a] = o
        return xp.asarray(inv.reshape(shape).astype(dtype))


@register
class Pooling(Operator):
    """Max, average, sum or Lp pooling over 1-, 2- or 3-D windows.

    ``pooling_convention``: ``valid`` (floor), ``full`` (ceil: the last window may run past
    the padded input) or ``same`` (``ceil(x/stride)`` outputs, windows clipped at the end, no
    pad).  Average pooling divides by the window clipped to the padded input
    (``count_include_pad``, the default) or to the real input.  Max pooling's gradient goes to
    the first maximum of each window in row-major order, as in MXNet.

    Example::

        >>> x = mx.nd.array([[[[1, 2], [3, 4]]]])
        >>> mx.nd.Pooling(x, kernel=(2, 2), pool_type='avg').asnumpy()
        array([[[[2.5]]]], dtype=float32)
    """
    name = 'Pooling'
    aliases = ('Pooling_v1',)      # MXNet's first version, in old checkpoints' JSON
    params = {'kernel': Param('shape', None),
              'pool_type': Param('str', 'max', choices={'max', 'avg', 'sum', 'lp'}),
              'global_pool': Param('bool', False), 'cudnn_off': Param('bool', False),
              'pooling_convention': Param('str', 'valid', choices={'valid', 'full', 'same'}),
              'stride': Param('shape', None), 'pad': Param('shape', None),
              'p_value': Param('int_or_none', None),
              'count_include_pad': Param('str_or_none', None),
              'layout': Param('str_or_none', None, choices=_POOL_LAYOUTS)}
    _d = {'data': _distinct}
    _p = {'data': _positive}
    samples = (
        Sample({'kernel': (2, 2), 'stride': (2, 2)}, {'data': (2, 2, 4, 4)}, values=_d),
        Sample({'kernel': (3, 2), 'stride': (2, 1), 'pad': (1, 1)}, {'data': (1, 2, 5, 4)},
               values=_d),
        Sample({'kernel': (3,), 'stride': (2,), 'pooling_convention': 'full'},
               {'data': (2, 2, 6)}, values=_d),
        Sample({'kernel': (3,), 'stride': (2,), 'pooling_convention': 'same', 'pad': (0,)},
               {'data': (2, 1, 7)}, values=_d),
        Sample({'kernel': (2, 2, 2), 'stride': (1, 2, 1), 'pool_type': 'max'},
               {'data': (1, 2, 3, 4, 3)}, values=_d),
        Sample({'kernel': (3, 3), 'stride': (2, 2), 'pad': (1, 1), 'pool_type': 'avg',
                'pooling_convention': 'full'}, {'data': (1, 2, 6, 5)}),
        Sample({'kernel': (3, 3), 'stride': (2, 2), 'pad': (1, 1), 'pool_type': 'avg',
                'count_include_pad': False}, {'data': (1, 2, 5, 5)}),
        Sample({'kernel': (2, 2, 2), 'stride': (2, 1, 2), 'pool_type': 'avg',
                'pad': (1, 0, 1)}, {'data': (1, 2, 3, 3, 3)}),
        Sample({'kernel': (3,), 'stride': (2,), 'pad': (1,), 'pool_type': 'sum',
                'pooling_convention': 'full'}, {'data': (2, 2, 6)}),
        Sample({'kernel': (2, 2), 'pool_type': 'lp', 'p_value': 1}, {'data': (1, 2, 3, 3)}),
        Sample({'kernel': (2, 2), 'stride': (2, 1), 'pool_type': 'lp', 'p_value': 2,
                'pad': (1, 0)}, {'data': (1, 2, 3, 3)}, values=_p),
        Sample({'kernel': (3,), 'stride': (2,), 'pool_type': 'lp', 'p_value': 3},
               {'data': (2, 2, 7)}, values=_p),
        Sample({'global_pool': True, 'pool_type': 'avg'}, {'data': (2, 3, 3, 2)}),
        Sample({'global_pool': True, 'pool_type': 'max', 'layout': 'NHWC'},
               {'data': (2, 3, 2, 3)}, values=_d),
        Sample({'kernel': (2, 2), 'stride': (2, 2), 'pool_type': 'avg', 'layout': 'NHWC'},
               {'data': (2, 4, 4, 2)}),
    )

    def setup(self):
        k = self.kernel or ()
        if not self.global_pool and not 1 <= len(k) <= 3:
            raise MXNetError('operator Pooling: kernel=%s must have 1, 2 or 3 entries '
                             '(or set global_pool=True)' % (tuple(k),))
        # global pooling ignores the kernel; its dimensions then come from layout or data
        nd = len(k) if k and not self.global_pool else None
        self.channel_last, nd = _layout_info(self, self.layout, nd)
        self.nd = nd
        if not self.global_pool:
            if any(v < 1 for v in k):
                raise MXNetError('operator Pooling: kernel=%s must be positive' % (tuple(k),))
            self.stride_ = _spatial(self, 'stride', self.stride, len(k), 1, 1)
            if self.pooling_convention == 'same':
                # MXNet 1.9 reads pad[0..2] for 'same' whatever the kernel's dimensions, so
                # scripts pass pad=(0, 0, 0) with a 1-D kernel: any all-zero pad is accepted
                if self.pad and any(self.pad):
                    raise MXNetError("operator Pooling: pooling_convention='same' takes no "
                                     "pad, got pad=%s" % (tuple(self.pad),))
                self.pad_ = (0,) * len(k)
            else:
                self.pad_ = _spatial(self, 'pad', self.pad, len(k), 0, 0)
        cip = self.count_include_pad
        if isinstance(cip, str):
            low = cip.strip().lower()
            if low not in ('true', '1', 'false', '0'):
                raise MXNetError('operator Pooling: cannot read count_include_pad=%r as bool'
                                 % cip)
            cip = low in ('true', '1')
        self.count_include_pad_ = True if cip is None else bool(cip)
        if self.pool_type == 'lp':
            if self.p_value is None:
                raise MXNetError("operator Pooling: pool_type='lp' needs p_value (1, 2 or 3)")
            if self.p_value not in (1, 2, 3):
                raise MXNetError('operator Pooling: p_value=%d is not supported; use 1, 2 or 3'
                                 % self.p_value)
        # max pooling finds each window's maximum again, Lp pooling (p > 1) divides by the
        # output; sums and averages spread the head gradient knowing only the shapes
        reads = self.pool_type == 'max' or self.pool_type == 'lp' and self.p_value > 1
        self.retain_inputs = self.retain_outputs = (0,) if reads else ()
        self._scratch = _Scratch()
        self._plan = None
        self._pad_of = None

    def window(self, spatial):
        """(kernel, stride, pad, out) for input spatial sizes ``spatial``."""
        if self.global_pool:
            nd = len(spatial)
            return tuple(spatial), (1,) * nd, (0,) * nd, (1,) * nd
        kernel, stride, pad = tuple(self.kernel), self.stride_, self.pad_
        outs = []
        for x, k, s, p in zip(spatial, kernel, stride, pad):
            conv = self.pooling_convention
            if conv == 'same':
                outs.append(-(-x // s))
                continue
            if k > x + 2 * p:
                raise InferError('kernel=%s exceeds data of spatial shape %s padded by %s'
                                 % (kernel, spatial, pad))
            if conv == 'valid':
                outs.append((x + 2 * p - k) // s + 1)
            else:
                outs.append(-(-(x + 2 * p - k) // s) + 1)
        return kernel, stride, pad, tuple(outs)

    def infer_shape(self, in_shapes):
        dshape = in_shapes[0]
        if dshape is None:
            return in_shapes, [None], []
        dshape = tuple(dshape)
        nd = self.nd if self.nd is not None else len(dshape) - 2
        if len(dshape) != nd + 2 or not 1 <= nd <= 3:
            raise InferError('data of shape %s must have %d dimensions for %s'
                             % (dshape, nd + 2, 'layout %s' % self.layout if self.layout
                                else 'kernel=%s' % (tuple(self.kernel or ()),)))
        sp_axes = tuple(range(1, nd + 1)) if self.channel_last else tuple(range(2, nd + 2))
        _, _, _, outs = self.window(tuple(dshape[a] for a in sp_axes))
        out = list(dshape)
        for a, o in zip(sp_axes, outs):
            out[a] = o
        return [dshape], [tuple(out)], []

    def _get_plan(self, xp, x):
        key = (x.shape, x.dtype, xp.__name__)
        if self._plan is None or self._plan_key != key:
            self._plan = _PoolPlan(self, xp, x.shape, x.dtype)
            self._plan_key = key
        return self._plan

    def _padded(self, xp, plan, x):
        if not plan.needs_pad:
            return x
        fill = np.finfo(x.dtype).min if self.pool_type == 'max' else 0
        buf = self._scratch.get(xp, 'xpad', plan.pshape, x.dtype, fill=fill)
        if self._pad_of is not x:
            buf[plan.interior] = x
        return buf

    def _native_max(self, xp, x):
        """Whether 2-D max pooling of float32 NCHW NumPy data runs on distmod's native
        kernels (``_native/pool.c``: one pass each way, the planes split over the thread
        pool), where this NumPy path takes one pass per window offset, and backward three."""
        return (xp is np and self.nd == 2 and not self.channel_last
                and x.dtype == np.float32 and _native.lib() is not None)

    def forward(self, xp, ins, outs, aux, is_train):
        x, y = ins[0], outs[0]
        plan = self._get_plan(xp, x)
        self._pad_of = None
        if (self.pool_type == 'max' and self._native_max(xp, x)
                and _native.maxpool2d(x, y, plan.kernel, plan.stride, plan.pad)):
            return
        xpad = self._padded(xp, plan, x)
        # backward reuses the padded copy when it is handed the same input array
        self._pad_of = x if is_train else None
        regions = plan.offsets
        kind = self.pool_type
        p = self.p_value if kind == 'lp' else 1
        if kind == 'max':
            y[...] = xpad[regions[0]]
            for r in regions[1:]:
                xp.maximum(y, xpad[r], out=y)
            return
        if p == 1:
            y[...] = xpad[regions[0]]
            for r in regions[1:]:
                y += xpad[r]
        else:
            tmp = self._scratch.get(xp, 'tmp', y.shape, y.dtype)
            xp.power(xpad[regions[0]], p, out=y)
            for r in regions[1:]:
                xp.power(xpad[r], p, out=tmp)
                y += tmp
            if p == 2:
                xp.sqrt(y, out=y)
            else:
                xp.cbrt(y, out=y)
        if kind == 'avg':
            y *= plan.inv_count

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        x, y, g = ins[0], outs[0], ograds[0]
        plan = self._get_plan(xp, x)
        if (self.pool_type == 'max' and self._native_max(xp, x)
                and _native.maxpool2d_grad(x, y, g, dx, plan.kernel, plan.stride, plan.pad)):
            return
        s = self._scratch
        dpad = s.get(xp, 'dxpad', plan.pshape, dx.dtype) if plan.needs_pad else dx
        if not plan.tiles:
            dpad.fill(0)
        assign = plan.disjoint
        kind = self.pool_type
        regions = plan.offsets
        if kind == 'max':
            xpad = self._padded(xp, plan, x)
            left = s.get(xp, 'left', y.shape, np.bool_)
            left.fill(True)
            hit = s.get(xp, 'hit', y.shape, np.bool_)
            tmp = s.get(xp, 'tmp', y.shape, dx.dtype)
            last = len(regions) - 1
            for i, r in enumerate(regions):
                xp.equal(xpad[r], y, out=hit)
                hit &= left
                if i != last:
                    xp.logical_xor(left, hit, out=left)
                xp.multiply(g, hit, out=tmp)
                if assign:
                    dpad[r] = tmp
                else:
                    dpad[r] += tmp
        else:
            p = self.p_value if kind == 'lp' else 1
            gs = s.get(xp, 'gs', y.shape, dx.dtype)
            if kind == 'avg':
                xp.multiply(g, plan.inv_count, out=gs)
            elif p == 1:
                gs[...] = g
            else:
                # d (sum x^p)^(1/p) / dx = x^(p-1) / y^(p-1)
                xp.divide(g, y if p == 2 else y * y, out=gs)
            if p == 1:
                for r in regions:
                    if assign:
                        dpad[r] = gs
                    else:
                        dpad[r] += gs
            else:
                xpad = self._padded(xp, plan, x)
                tmp = s.get(xp, 'tmp', y.shape, dx.dtype)
                for r in regions:
                    if p == 2:
                        xp.multiply(xpad[r], gs, out=tmp)
                    else:
                        xp.multiply(xpad[r], xpad[r], out=tmp)
                        tmp *= gs
                    if assign:
                        dpad[r] = tmp
                    else:
                        dpad[r] += tmp
        if dpad is not dx:
            dx[...] = dpad[plan.interior]
