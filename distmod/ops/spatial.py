"""Spatial sampling and pooling: GridGenerator, BilinearSampler, SpatialTransformer (the
spatial transformer network's pieces), ROIPooling (Fast R-CNN) and Correlation (FlowNet).

Sampling grids hold normalised coordinates, as in MXNet: x = -1 is the centre of the first
column and x = 1 that of the last (likewise y for rows); channel 0 of a grid is x, channel 1
is y.  A bilinear sample reads the four pixels around its point, each counted only where it is
inside the image (zero padding), so points near the border fade to zero.
"""
import math

import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import prod

__all__ = ['GridGenerator', 'BilinearSampler', 'SpatialTransformer', 'ROIPooling',
           'Correlation']


def _known(shape):
    return shape is not None and all(shape)


# ------------------------------------------------------------------------------------------
# Grids and bilinear sampling, shared by the three sampling operators

def _target_grid(xp, h, w, dtype):
    """(3, h*w): the normalised x and y of every target pixel (row-major), and ones."""
    xs = xp.arange(w, dtype=np.float64) * (2.0 / (w - 1) if w > 1 else np.inf) - 1
    ys = xp.arange(h, dtype=np.float64) * (2.0 / (h - 1) if h > 1 else np.inf) - 1
    grid = xp.empty((3, h, w), dtype=np.float64)
    grid[0] = xs.reshape(1, w)
    grid[1] = ys.reshape(h, 1)
    grid[2] = 1
    return grid.reshape(3, h * w).astype(dtype)


def _affine_grid(xp, theta, h, w):
    """(N, 2, h, w) sampling grid of the affine maps ``theta`` (N, 6) over an h x w target."""
    grid = _target_grid(xp, h, w, theta.dtype)
    return xp.matmul(theta.reshape(-1, 2, 3), grid).reshape(-1, 2, h, w)


def _affine_grid_grad(xp, ggrid, h, w):
    """The gradient of the affine maps (N, 6) from that of their grid (N, 2, h, w)."""
    grid = _target_grid(xp, h, w, ggrid.dtype)
    return xp.matmul(ggrid.reshape(-1, 2, h * w), grid.T).reshape(-1, 6)


class _Bilinear:
    """The corners, weights and in-image masks of bilinear samples of (N, C, H, W) data at the
    points of a grid (N, 2, Ho, Wo)."""

    def __init__(self, xp, data_shape, grid):
        n, _, h, w = data_shape
        self.xp, self.h, self.w = xp, h, w
        x = (grid[:, 0] + 1) * ((w - 1) / 2.0)
        y = (grid[:, 1] + 1) * ((h - 1) / 2.0)
        x0, y0 = xp.floor(x), xp.floor(y)
        self.wx1, self.wy1 = x - x0, y - y0             # weights of the right and lower pixels
        self.wx0, self.wy0 = 1 - self.wx1, 1 - self.wy1
        self.batch = xp.arange(n).reshape(-1, 1, 1)
        self.corners = []
        for dy in (0, 1):
            for dx in (0, 1):
                cy, cx = y0 + dy, x0 + dx
                inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
                self.corners.append((dy, dx, xp.clip(cy, 0, h - 1).astype(np.int64),
                                     xp.clip(cx, 0, w - 1).astype(np.int64), inside))

    def weight(self, dy, dx):
        return (self.wy1 if dy else self.wy0) * (self.wx1 if dx else self.wx0)

    def sample(self, data_nhwc):
        """(N, Ho, Wo, C) samples of data given as (N, H, W, C)."""
        out = 0
        for dy, dx, yi, xi, inside in self.corners:
            w = self.weight(dy, dx) * inside
            out = out + data_nhwc[self.batch, yi, xi] * w[..., None]
        return out

    def backward(self, data_nhwc, g_nhwc, want_data, want_grid):
        """(gradient of the data as NHWC or None, of the grid (N, 2, Ho, Wo) or None)."""
        xp = self.xp
        ddata = xp.zeros(data_nhwc.shape, dtype=g_nhwc.dtype) if want_data else None
        gx = gy = 0
        for dy, dx, yi, xi, inside in self.corners:
            if want_data:
                w = self.weight(dy, dx) * inside
                xp.add.at(ddata, (self.batch, yi, xi), g_nhwc * w[..., None])
            if want_grid:
                # d(value * weight): the head gradient times the pixel, summed over channels
                v = (data_nhwc[self.batch, yi, xi] * g_nhwc).sum(axis=-1) * inside
                gx = gx + v * ((self.wy1 if dy else self.wy0) * (1 if dx else -1))
                gy = gy + v * ((self.wx1 if dx else self.wx0) * (1 if dy else -1))
        dgrid = None
        if want_grid:
            dgrid = xp.stack([gx * ((self.w - 1) / 2.0), gy * ((self.h - 1) / 2.0)], axis=1)
        return ddata, dgrid


def _nhwc(a):
    return a.transpose(0, 2, 3, 1)


def _grid_values(rng, shape):
    # sample points inside and a little outside the image, away from pixel centres (kinks)
    return rng.uniform(-1.15, 1.15, shape)


@register
class GridGenerator(Operator):
    """A sampling grid (N, 2, H, W) for ``BilinearSampler``.

    ``transform_type='affine'``: ``data`` (N, 6) holds affine maps (2 x 3, row-major) of the
    normalised target coordinates (x, y, 1), and ``target_shape`` is (H, W).
    ``'warp'``: ``data`` (N, 2, H, W) is a flow field in pixels, added to each pixel's own
    position and normalised.

    Example::

        >>> theta = mx.nd.array([[1, 0, 0, 0, 1, 0]])        # the identity map
        >>> mx.nd.GridGenerator(theta, transform_type='affine', target_shape=(2, 3))[0].asnumpy()
        array([[[-1.,  0.,  1.],
                [-1.,  0.,  1.]],
        <BLANKLINE>
               [[-1., -1., -1.],
                [ 1.,  1.,  1.]]], dtype=float32)
    """
    name = 'GridGenerator'
    params = {'transform_type': Param('str', choices={'affine', 'warp'}),
              'target_shape': Param('shape', (0, 0))}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'transform_type': 'affine', 'target_shape': (3, 4)}, {'data': (2, 6)}),
               Sample({'transform_type': 'warp'}, {'data': (2, 2, 3, 4)}))

    def infer_shape(self, in_shapes):
        d = in_shapes[0]
        if self.transform_type == 'affine':
            h, w = tuple(self.target_shape or (0, 0))
            if not (h and w):
                raise InferError('GridGenerator: affine needs target_shape (H, W), got %s'
                                 % (self.target_shape,))
            if d is None:
                return [d], [None], []
            if len(d) != 2 or d[1] not in (0, 6):
                raise InferError('GridGenerator: affine needs data of shape (batch, 6), got %s'
                                 % (tuple(d),))
            return [(d[0], 6)], [(d[0], 2, h, w)], []
        if d is None:
            return [d], [None], []
        if len(d) != 4 or d[1] not in (0, 2):
            raise InferError('GridGenerator: warp needs a flow field (batch, 2, H, W), got %s'
                             % (tuple(d),))
        return [tuple(d)], [tuple(d)], []

    def _warp_scale(self, xp, shape, dtype):
        h, w = shape[2], shape[3]
        return xp.asarray(np.array([2.0 / (w - 1), 2.0 / (h - 1)]).reshape(1, 2, 1, 1)
                          .astype(dtype))

    def forward(self, xp, ins, outs, aux, is_train):
        x, out = ins[0], outs[0]
        if self.transform_type == 'affine':
            out[...] = _affine_grid(xp, x, out.shape[2], out.shape[3])
            return
        h, w = x.shape[2], x.shape[3]
        pixel = xp.empty((1, 2, h, w), dtype=x.dtype)
        pixel[0, 0] = xp.arange(w, dtype=x.dtype).reshape(1, w)
        pixel[0, 1] = xp.arange(h, dtype=x.dtype).reshape(h, 1)
        out[...] = (x + pixel) * self._warp_scale(xp, x.shape, x.dtype) - 1

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx, g = igrads[0], ograds[0]
        if dx is None:
            return
        if self.transform_type == 'affine':
            dx[...] = _affine_grid_grad(xp, g, g.shape[2], g.shape[3])
        else:
            xp.multiply(g, self._warp_scale(xp, g.shape, g.dtype), out=dx)


@register
class BilinearSampler(Operator):
    """Sample ``data`` (N, C, H, W) bilinearly at the points of ``grid`` (N, 2, Ho, Wo), in
    normalised coordinates: the output is (N, C, Ho, Wo), zero where a point's pixels are all
    outside.  Both inputs get gradients.  ``cudnn_off`` is accepted and ignored.

    Example::

        >>> grid = mx.nd.GridGenerator(mx.nd.array([[1, 0, 0, 0, 1, 0]]),
        ...                            transform_type='affine', target_shape=(2, 2))
        >>> mx.nd.BilinearSampler(mx.nd.array([[[[1, 2], [3, 4]]]]), grid).asnumpy()
        array([[[[1., 2.],
                 [3., 4.]]]], dtype=float32)
    """
    name = 'BilinearSampler'
    params = {'cudnn_off': Param('bool', None)}
    arguments = ('data', 'grid')
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({}, {'data': (2, 3, 4, 5), 'grid': (2, 2, 3, 3)},
                      values={'grid': _grid_values}),)

    def infer_shape(self, in_shapes):
        d, grid = in_shapes
        if not (_known(d) and _known(grid)):
            return [d, grid], [None], []      # as MXNet: from known shapes only
        if len(d) != 4 or len(grid) != 4 or grid[1] != 2 or grid[0] != d[0]:
            raise InferError('BilinearSampler needs data (N, C, H, W) and grid (N, 2, H, W), '
                             'got data %s and grid %s' % (tuple(d), tuple(grid)))
        return [tuple(d), tuple(grid)], [(d[0], d[1], grid[2], grid[3])], []

    def forward(self, xp, ins, outs, aux, is_train):
        data, grid = ins
        outs[0][...] = _Bilinear(xp, data.shape, grid).sample(_nhwc(data)).transpose(0, 3, 1, 2)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        data, grid = ins
        dd, dg = igrads
        if dd is None and dg is None:
            return
        ddata, dgrid = _Bilinear(xp, data.shape, grid).backward(
            _nhwc(data), _nhwc(ograds[0]), dd is not None, dg is not None)
        if dd is not None:
            dd[...] = ddata.transpose(0, 3, 1, 2)
        if dg is not None:
            dg[...] = dgrid


@register
class SpatialTransformer(Operator):
    """A spatial transformer: the affine maps ``loc`` (N, 6) make a sampling grid over a
    ``target_shape`` (H, W) target, at which ``data`` (N, C, H', W') is sampled bilinearly;
    the output is (N, C, H, W).  Gradients flow to ``data`` and ``loc``.  The only
    ``transform_type`` is 'affine' and the only ``sampler_type`` 'bilinear', as in MXNet.

    Example::

        >>> out = mx.sym.SpatialTransformer(mx.sym.Variable('x'), mx.sym.Variable('loc'),
        ...     target_shape=(2, 2), transform_type='affine', sampler_type='bilinear')
        >>> out.infer_shape(x=(1, 3, 4, 4), loc=(1, 6))[1]
        [(1, 3, 2, 2)]
    """
    name = 'SpatialTransformer'
    params = {'target_shape': Param('shape', (0, 0)),
              'transform_type': Param('str', choices={'affine'}),
              'sampler_type': Param('str', choices={'bilinear'}),
              'cudnn_off': Param('bool', None)}
    arguments = ('data', 'loc')
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({'target_shape': (3, 3), 'transform_type': 'affine',
                       'sampler_type': 'bilinear'}, {'data': (2, 2, 4, 5), 'loc': (2, 6)},
                      values={'loc': lambda r, s: np.array([0.9, 0, 0, 0, 0.9, 0]) +
                              r.uniform(-0.25, 0.25, s)}),)

    def infer_shape(self, in_shapes):
        d, loc = in_shapes
        h, w = tuple(self.target_shape or (0, 0))
        if not (h > 0 and w > 0):
            raise InferError('SpatialTransformer needs target_shape (H, W), got %s'
                             % (self.target_shape,))
        if not (_known(d) and _known(loc)):
            return [d, loc], [None], []       # as MXNet: from known shapes only
        if len(d) != 4 or tuple(loc) != (d[0], 6):
            raise InferError('SpatialTransformer needs data (N, C, H, W) and loc (N, 6), got '
                             'data %s and loc %s' % (tuple(d), tuple(loc)))
        return [tuple(d), tuple(loc)], [(d[0], d[1], h, w)], []

    def forward(self, xp, ins, outs, aux, is_train):
        data, loc = ins
        out = outs[0]
        grid = _affine_grid(xp, loc, out.shape[2], out.shape[3])
        out[...] = _Bilinear(xp, data.shape, grid).sample(_nhwc(data)).transpose(0, 3, 1, 2)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        data, loc = ins
        dd, dl = igrads
        if dd is None and dl is None:
            return
        g = ograds[0]
        h, w = g.shape[2], g.shape[3]
        grid = _affine_grid(xp, loc, h, w)
        ddata, dgrid = _Bilinear(xp, data.shape, grid).backward(
            _nhwc(data), _nhwc(g), dd is not None, dl is not None)
        if dd is not None:
            dd[...] = ddata.transpose(0, 3, 1, 2)
        if dl is not None:
            dl[...] = _affine_grid_grad(xp, dgrid, h, w)


# ------------------------------------------------------------------------------------------

def _round_half_away(v):
    """C's ``round``: halves go away from zero."""
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


@register
class ROIPooling(Operator):
    """Max-pool each region of interest of ``data`` (N, C, H, W) into ``pooled_size`` (h, w)
    bins: ``rois`` (R, 5) rows are ``[batch index, x1, y1, x2, y2]`` in input-image pixels,
    scaled by ``spatial_scale`` onto the feature map and rounded.  The output is (R, C, h, w);
    an empty bin gives 0.  The gradient goes to each bin's maximum (the first on ties); the
    regions get none.

    Example::

        >>> out = mx.nd.ROIPooling(mx.nd.arange(16).reshape((1, 1, 4, 4)),
        ...                        mx.nd.array([[0, 0, 0, 3, 3]]), pooled_size=(2, 2),
        ...                        spatial_scale=1.0)
        >>> out.asnumpy().ravel().tolist()
        [5.0, 7.0, 13.0, 15.0]
    """
    name = 'ROIPooling'
    params = {'pooled_size': Param('shape'), 'spatial_scale': Param('float')}
    arguments = ('data', 'rois')
    nondiff = ('rois',)
    retain_inputs = ()          # backward uses the positions of the maxima kept from forward
    retain_outputs = ()
    samples = (Sample({'pooled_size': (2, 3), 'spatial_scale': 0.5},
                      {'data': (2, 3, 6, 8), 'rois': (3, 5)},
                      values={'rois': lambda r, s: np.array([[0, 0, 0, 15, 11],
                                                             [1, 2.4, 3, 9, 7.6],
                                                             [0, 6, 4, 6, 5]])}),)

    def setup(self):
        if len(self.pooled_size) != 2:
            raise InferError('ROIPooling: pooled_size must be (height, width), got %s'
                             % (self.pooled_size,))

    def infer_shape(self, in_shapes):
        d, rois = in_shapes
        if d is None or rois is None:
            return [d, rois], [None], []
        if len(d) != 4 or len(rois) != 2 or rois[1] not in (0, 5):
            raise InferError('ROIPooling needs data (N, C, H, W) and rois (R, 5), got data %s '
                             'and rois %s' % (tuple(d), tuple(rois)))
        ph, pw = self.pooled_size
        return [tuple(d), (rois[0], 5)], [(rois[0], d[1], ph, pw)], []

    def _bins(self, roi, height, width):
        """(batch index, [(bin row, bin col, h0, h1, w0, w1)]) of one region."""
        s = self.spatial_scale
        b = int(roi[0])
        x1, y1, x2, y2 = (_round_half_away(v * s) for v in roi[1:5])
        ph, pw = self.pooled_size
        bin_h = max(y2 - y1 + 1, 1) / float(ph)
        bin_w = max(x2 - x1 + 1, 1) / float(pw)
        bins = []
        for i in range(ph):
            h0 = min(max(int(math.floor(i * bin_h)) + y1, 0), height)
            h1 = min(max(int(math.ceil((i + 1) * bin_h)) + y1, 0), height)
            for j in range(pw):
                w0 = min(max(int(math.floor(j * bin_w)) + x1, 0), width)
                w1 = min(max(int(math.ceil((j + 1) * bin_w)) + x1, 0), width)
                bins.append((i, j, h0, h1, w0, w1))
        return b, bins

    def forward(self, xp, ins, outs, aux, is_train):
        data, rois = ins
        out = outs[0]
        n, c, height, width = data.shape
        # the flat position (in H*W) of every bin's maximum, -1 for an empty bin
        argmax = xp.full(out.shape, -1, dtype=np.int64)
        batch = []
        for r, roi in enumerate(rois.tolist()):
            b, bins = self._bins(roi, height, width)
            if not 0 <= b < n:
                raise InferError('ROIPooling: region %d has batch index %d, outside [0, %d)'
                                 % (r, b, n))
            batch.append(b)
            for i, j, h0, h1, w0, w1 in bins:
                if h1 <= h0 or w1 <= w0:
                    out[r, :, i, j] = 0
                    continue
                window = data[b, :, h0:h1, w0:w1].reshape(c, -1)
                k = window.argmax(axis=1)
                out[r, :, i, j] = window[xp.arange(c), k]
                argmax[r, :, i, j] = (h0 + k // (w1 - w0)) * width + w0 + k % (w1 - w0)
        self._argmax, self._batch = argmax, xp.asarray(np.array(batch, dtype=np.int64))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            n, c, height, width = dx.shape
            work = xp.zeros((n, c, height * width), dtype=dx.dtype)
            argmax = self._argmax
            valid = argmax >= 0
            rows = xp.broadcast_to(self._batch.reshape(-1, 1, 1, 1), argmax.shape)
            chans = xp.broadcast_to(xp.arange(c).reshape(1, -1, 1, 1), argmax.shape)
            xp.add.at(work, (rows[valid], chans[valid], argmax[valid]), ograds[0][valid])
            dx[...] = work.reshape(dx.shape)
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class Correlation(Operator):
    """FlowNet's correlation layer: for every position of ``data1`` and every displacement
    within ``max_displacement`` (in steps of ``stride2``), the mean over a ``kernel_size``
    window and the channels of ``data1 * data2`` (``is_multiply``) or ``|data1 - data2|``
    at the displaced position of ``data2``, both zero-padded by ``pad_size``; positions step
    by ``stride1``.  The output is (N, D*D, H', W') with ``D = 2*(max_displacement //
    stride2) + 1``.

    Example::

        >>> out = mx.sym.Correlation(mx.sym.Variable('a'), mx.sym.Variable('b'),
        ...                          max_displacement=2, pad_size=2)
        >>> out.infer_shape(a=(1, 3, 8, 8), b=(1, 3, 8, 8))[1]
        [(1, 25, 8, 8)]
    """
    name = 'Correlation'
    params = {'kernel_size': Param('int', 1), 'max_displacement': Param('int', 1),
              'stride1': Param('int', 1), 'stride2': Param('int', 1),
              'pad_size': Param('int', 0), 'is_multiply': Param('bool', True)}
    arguments = ('data1', 'data2')
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({'max_displacement': 1, 'pad_size': 1}, {'data1': (2, 3, 4, 5),
                                                               'data2': (2, 3, 4, 5)}),
               Sample({'kernel_size': 3, 'max_displacement': 2, 'stride1': 2, 'stride2': 2,
                       'pad_size': 3}, {'data1': (1, 2, 5, 6), 'data2': (1, 2, 5, 6)}),
               Sample({'is_multiply': False, 'max_displacement': 1, 'pad_size': 1},
                      {'data1': (1, 2, 3, 4), 'data2': (1, 2, 3, 4)}))

    def setup(self):
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise InferError('Correlation: kernel_size must be odd, got %d' % self.kernel_size)
        if min(self.stride1, self.stride2) < 1:
            raise InferError('Correlation: strides must be positive')

    def _geometry(self, shape):
        """(output height, width, grid radius, grid width) for data of ``shape``."""
        _, _, h, w = shape
        border = self.max_displacement + (self.kernel_size - 1) // 2
        ph, pw = h + 2 * self.pad_size, w + 2 * self.pad_size
        oh = int(math.ceil((ph - 2 * border) / float(self.stride1)))
        ow = int(math.ceil((pw - 2 * border) / float(self.stride1)))
        radius = self.max_displacement // self.stride2
        return oh, ow, radius, 2 * radius + 1

    def infer_shape(self, in_shapes):
        a, b = in_shapes
        s = a or b
        if not _known(s):
            return [a, b], [None], []
        if len(s) != 4:
            raise InferError('Correlation needs data (N, C, H, W), got %s' % (tuple(s),))
        if a is not None and b is not None and tuple(a) != tuple(b):
            raise InferError('Correlation needs data1 and data2 of one shape, got %s and %s'
                             % (tuple(a), tuple(b)))
        oh, ow, _, grid = self._geometry(s)
        if oh < 1 or ow < 1:
            raise InferError('Correlation: data of shape %s is too small for max_displacement '
                             '%d and kernel_size %d with pad_size %d'
                             % (tuple(s), self.max_displacement, self.kernel_size,
                                self.pad_size))
        return [tuple(s), tuple(s)], [(s[0], grid * grid, oh, ow)], []

    def _pad(self, xp, x):
        p = self.pad_size
        if not p:
            return x
        return xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))

    def _windows(self, shape):
        """The displacements (top channel, dy, dx) and the region of padded data1 read."""
        oh, ow, radius, grid = self._geometry(shape)
        d, k, s1 = self.max_displacement, self.kernel_size, self.stride1
        rows = slice(d, d + (oh - 1) * s1 + k)
        cols = slice(d, d + (ow - 1) * s1 + k)
        shifts = [(t, (t // grid - radius) * self.stride2, (t % grid - radius) * self.stride2)
                  for t in range(grid * grid)]
        return oh, ow, rows, cols, shifts

    @staticmethod
    def _shifted(sl, by):
        return slice(sl.start + by, sl.stop + by)

    def _box_taps(self, oh, ow):
        """Slices of the per-pixel map that, summed, give each output position's window."""
        s1, k = self.stride1, self.kernel_size
        return [(slice(i, i + (oh - 1) * s1 + 1, s1), slice(j, j + (ow - 1) * s1 + 1, s1))
                for i in range(k) for j in range(k)]

    def forward(self, xp, ins, outs, aux, is_train):
        a, b = self._pad(xp, ins[0]), self._pad(xp, ins[1])
        out = outs[0]
        oh, ow, rows, cols, shifts = self._windows(ins[0].shape)
        taps = self._box_taps(oh, ow)
        scale = 1.0 / (self.kernel_size ** 2 * ins[0].shape[1])
        first = a[:, :, rows, cols]
        for t, dy, dx in shifts:
            second = b[:, :, self._shifted(rows, dy), self._shifted(cols, dx)]
            per_pixel = (first * second if self.is_multiply else
                         xp.abs(first - second)).sum(axis=1)
            total = 0
            for ti, tj in taps:
                total = total + per_pixel[:, ti, tj]
            out[:, t] = total * scale

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        d1, d2 = igrads
        if d1 is None and d2 is None:
            return
        a, b = self._pad(xp, ins[0]), self._pad(xp, ins[1])
        oh, ow, rows, cols, shifts = self._windows(ins[0].shape)
        taps = self._box_taps(oh, ow)
        scale = 1.0 / (self.kernel_size ** 2 * ins[0].shape[1])
        ga, gb = xp.zeros(a.shape, dtype=a.dtype), xp.zeros(b.shape, dtype=b.dtype)
        first = a[:, :, rows, cols]
        region = first.shape[2:]
        for t, dy, dx in shifts:
            # spread each output's gradient over its window: the per-pixel map's gradient
            gmap = xp.zeros((a.shape[0],) + region, dtype=a.dtype)
            g = ograds[0][:, t] * scale
            for ti, tj in taps:
                gmap[:, ti, tj] += g
            gmap = gmap[:, None]
            srows, scols = self._shifted(rows, dy), self._shifted(cols, dx)
            second = b[:, :, srows, scols]
            if self.is_multiply:
                ga[:, :, rows, cols] += gmap * second
                gb[:, :, srows, scols] += gmap * first
            else:
                sign = xp.sign(first - second) * gmap
                ga[:, :, rows, cols] += sign
                gb[:, :, srows, scols] -= sign
        p = self.pad_size
        inner = (slice(None), slice(None), slice(p, p + ins[0].shape[2]),
                 slice(p, p + ins[0].shape[3]))
        if d1 is not None:
            d1[...] = ga[inner]
        if d2 is not None:
            d2[...] = gb[inner]



@register
class ROIAlign(Operator):
    """Average of bilinear samples of ``data`` (N, C, H, W) over each bin of each region of
    interest (Mask R-CNN's RoIAlign): ``rois`` (R, 5) rows ``[batch index, x1, y1, x2, y2]``
    in input-image pixels, scaled by ``spatial_scale`` without rounding; each of the
    ``pooled_size`` bins averages ``sample_ratio`` x ``sample_ratio`` points (``-1``: about
    one per feature-map pixel, ``ceil(bin size)``); ``aligned`` shifts by half a pixel (the
    continuous-coordinate convention).  A sample more than a pixel outside the map gives 0.
    The gradient spreads each bin's over its samples' four neighbours; the regions get none.

    Example::

        >>> out = mx.nd.contrib.ROIAlign(mx.nd.arange(16).reshape((1, 1, 4, 4)),
        ...                              mx.nd.array([[0, 0, 0, 3, 3]]), pooled_size=(1, 1),
        ...                              spatial_scale=1.0, sample_ratio=2)
        >>> out.asnumpy().ravel().tolist()
        [7.5]
    """
    name = '_contrib_ROIAlign'
    params = {'pooled_size': Param('shape'), 'spatial_scale': Param('float'),
              'sample_ratio': Param('int', -1), 'position_sensitive': Param('bool', False),
              'aligned': Param('bool', False)}
    arguments = ('data', 'rois')
    nondiff = ('rois',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({'pooled_size': (2, 3), 'spatial_scale': 0.5, 'sample_ratio': 2},
                      {'data': (2, 3, 6, 8), 'rois': (3, 5)},
                      values={'rois': lambda r, s: np.array([[0, 0.3, 0.6, 13.1, 10.2],
                                                             [1, 2.4, 3.1, 9.3, 7.6],
                                                             [0, 6.2, 4.3, 8.9, 9.4]])}),
               Sample({'pooled_size': (2, 2), 'spatial_scale': 1.0, 'aligned': True},
                      {'data': (1, 2, 5, 5), 'rois': (2, 5)},
                      values={'rois': lambda r, s: np.array([[0, 0.7, 0.9, 3.6, 3.2],
                                                             [0, 1.3, 0.4, 4.1, 2.2]])}))

    def setup(self):
        if len(self.pooled_size) != 2:
            raise InferError('ROIAlign: pooled_size must be (height, width), got %s'
                             % (self.pooled_size,))
        if self.position_sensitive:
            raise InferError('ROIAlign: position_sensitive=True is not supported by distmod')

    def infer_shape(self, in_shapes):
        d, rois = in_shapes
        if d is None or rois is None:
            return [d, rois], [None], []
        if len(d) != 4 or len(rois) != 2 or rois[1] != 5:
            raise InferError('ROIAlign needs data (N, C, H, W) and rois (R, 5), got data %s '
                             'and rois %s' % (tuple(d), tuple(rois)))
        ph, pw = self.pooled_size
        return [tuple(d), (rois[0], 5)], [(rois[0], d[1], ph, pw)], []

    def _points(self, roi, height, width):
        """``(batch, bins, [(index pairs, weights)])`` of one region's samples: for each of
        the four bilinear neighbours, the flat (H*W) positions and weights of every sample,
        shaped (ph, pw, samples)."""
        s, off = self.spatial_scale, 0.5 if self.aligned else 0.0
        b = int(roi[0])
        x1, y1, x2, y2 = (v * s - off for v in roi[1:5])
        rw, rh = x2 - x1, y2 - y1
        if not self.aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        ph, pw = self.pooled_size
        bh, bw = rh / ph, rw / pw
        gh = self.sample_ratio if self.sample_ratio > 0 else int(math.ceil(rh / ph))
        gw = self.sample_ratio if self.sample_ratio > 0 else int(math.ceil(rw / pw))
        gh, gw = max(gh, 1), max(gw, 1)
        ys = y1 + (np.arange(ph)[:, None] * bh + (np.arange(gh)[None, :] + 0.5) * bh / gh)
        xs = x1 + (np.arange(pw)[:, None] * bw + (np.arange(gw)[None, :] + 0.5) * bw / gw)
        y = np.broadcast_to(ys[:, None, :, None], (ph, pw, gh, gw)).reshape(ph, pw, -1)
        x = np.broadcast_to(xs[None, :, None, :], (ph, pw, gh, gw)).reshape(ph, pw, -1)
        outside = (y < -1.0) | (y > height) | (x < -1.0) | (x > width)
        y, x = np.clip(y, 0, None), np.clip(x, 0, None)
        y0 = np.floor(y).astype(np.int64)
        x0 = np.floor(x).astype(np.int64)
        top = y0 >= height - 1
        right = x0 >= width - 1
        y0 = np.where(top, height - 1, y0)
        x0 = np.where(right, width - 1, x0)
        y1_ = np.where(top, height - 1, y0 + 1)
        x1_ = np.where(right, width - 1, x0 + 1)
        y = np.where(top, y0, y)
        x = np.where(right, x0, x)
        ly, lx = y - y0, x - x0
        hy, hx = 1 - ly, 1 - lx
        keep = (~outside).astype(np.float64) / (gh * gw)
        corners = [(y0 * width + x0, hy * hx * keep), (y0 * width + x1_, hy * lx * keep),
                   (y1_ * width + x0, ly * hx * keep), (y1_ * width + x1_, ly * lx * keep)]
        return b, corners

    def _each(self, xp, rois, shape):
        n, _, height, width = shape
        for r, roi in enumerate(rois.tolist() if xp is np else rois.get().tolist()):
            b, corners = self._points(roi, height, width)
            if not 0 <= b < n:
                raise InferError('ROIAlign: region %d has batch index %d, outside [0, %d)'
                                 % (r, b, n))
            yield r, b, [(xp.asarray(i), xp.asarray(w)) for i, w in corners]

    def forward(self, xp, ins, outs, aux, is_train):
        data, rois = ins
        out = outs[0]
        n, c, height, width = data.shape
        for r, b, corners in self._each(xp, rois, data.shape):
            flat = data[b].reshape(c, -1)
            acc = 0
            for idx, w in corners:
                acc = acc + (flat[:, idx] * w.astype(data.dtype)).sum(axis=-1)
            out[r] = acc

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if igrads[1] is not None:
            igrads[1].fill(0)
        if dx is None:
            return
        dx[...] = 0
        n, c, height, width = dx.shape
        g = ograds[0]
        for r, b, corners in self._each(xp, ins[1], dx.shape):
            flat = dx[b].reshape(c, -1)
            for idx, w in corners:
                contrib = g[r][:, :, :, None] * w.astype(dx.dtype)[None]    # (C, ph, pw, S)
                # (repeated positions summed; flat transposed so the positions index rows)
                xp.add.at(flat.T, idx.reshape(-1), contrib.reshape(c, -1).T)
