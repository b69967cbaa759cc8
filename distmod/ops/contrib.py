"""``mx.sym.contrib`` / ``mx.nd.contrib`` operators (registered as ``_contrib_NAME``), and the
two casts automatic mixed precision inserts (``amp_cast``, ``amp_multicast``).

* AMP: ``amp_cast`` and ``amp_multicast`` are plain-named MXNet operators (``mx.sym.amp_cast``),
  not contrib ones; they live here because only ``mx.contrib.amp`` puts them into graphs.
* Element-wise and shape helpers: ``quadratic`` (MXNet's example operator), ``div_sqrt_dim``,
  ``arange_like``, ``index_array``, ``index_copy``.
* Resizing: ``BilinearResize2D``.
* Object detection (the SSD example's operators): ``box_iou``, ``box_nms``,
  ``MultiBoxPrior``, ``MultiBoxTarget``, ``MultiBoxDetection``.

The detection operators work per image with small Python loops (NMS and matching are
sequential by nature); they run on the host array module's values and write back with ``xp``.
"""
import ast
import math

import numpy as np

from ..base import MXNetError
from .registry import Operator, Param, Sample, InferError, register
from ._util import norm_axis

# ---------------------------------------------------------------------------------------------
# AMP casts
# ---------------------------------------------------------------------------------------------

#: The float types AMP casts between; any other input passes through unchanged (as MXNet).
_AMP_FLOATS = ('float16', 'float32', 'bfloat16')
_AMP_DTYPES = {'float16', 'float32', 'float64', 'bfloat16', 'int32', 'int64', 'int8', 'uint8',
               'bool'}


def _cast_into(xp, out, x):
    """``out[...] = x``; a float16 overflow becomes inf quietly, as in MXNet."""
    if xp is np:
        with np.errstate(over='ignore'):
            out[...] = x
    else:
        out[...] = x


def _no_bfloat16(op_name, dtype):
    if dtype == 'bfloat16':
        raise InferError("%s: dtype 'bfloat16' is not supported by distmod's NumPy backend; "
                         "convert with target_dtype='float16' (a bfloat16 graph can still be "
                         "built, saved and loaded)" % op_name)
    return dtype


@register
class amp_cast(Operator):
    """Cast between float16 and float32 (what AMP inserts); other types pass through.

    The gradient is cast back to the input's type.  ``Symbol.save``/``tojson`` drop these
    nodes by default (``remove_amp_cast=True``), as MXNet does.

    Example::

        >>> mx.nd.amp_cast(mx.nd.array([1.5, 70000]), dtype='float16').asnumpy()
        array([1.5, inf], dtype=float16)
    """
    name = 'amp_cast'
    params = {'dtype': Param('dtype', choices=_AMP_DTYPES)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'dtype': 'float16'}, {'data': (2, 3)}),
               Sample({'dtype': 'float32'}, {'data': (3,)}))

    def _out_type(self, t):
        if t is None:
            return None
        return _no_bfloat16(self.name, self.dtype) if t in _AMP_FLOATS else t

    def infer_type(self, in_types):
        return list(in_types), [self._out_type(in_types[0])], []

    def forward(self, xp, ins, outs, aux, is_train):
        _cast_into(xp, outs[0], ins[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            _cast_into(xp, igrads[0], ograds[0])


@register
class amp_multicast(Operator):
    """Cast ``num_outputs`` inputs to one float type: the widest (float16 inputs become
    float32 when any input is float32), or with ``cast_narrow`` the narrowest (float32
    inputs become float16 when any input is float16).  MXNet's rule exactly, including that
    without a float32 input a float16 input takes the first input's type.

    Example::

        >>> a, b = mx.nd.amp_multicast(mx.nd.ones(2, dtype='float16'), mx.nd.ones(2),
        ...                            num_outputs=2)
        >>> a.dtype, b.dtype
        (<class 'numpy.float32'>, <class 'numpy.float32'>)
    """
    name = 'amp_multicast'
    variadic = True
    key_var_num_args = 'num_outputs'
    params = {'num_outputs': Param('int'), 'cast_narrow': Param('bool', False)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'num_outputs': 2}, {'arg0': (2, 3), 'arg1': (3,)}),
               Sample({'num_outputs': 2, 'cast_narrow': True}, {'arg0': (2,), 'arg1': (2,)}))

    def list_outputs(self):
        return ['output%d' % i for i in range(self.num_outputs)]

    def infer_shape(self, in_shapes):
        return list(in_shapes), list(in_shapes), []

    def infer_type(self, in_types):
        if any(t is None for t in in_types):
            return list(in_types), [None] * self.num_outputs, []
        if self.cast_narrow:
            low = 'float16' if 'float16' in in_types else None
            out = [low if t == 'float32' and low else t for t in in_types]
        else:
            wide = 'float32' if 'float32' in in_types else in_types[0]
            out = [wide if t in ('float16', 'bfloat16') else t for t in in_types]
        return list(in_types), [_no_bfloat16(self.name, t) for t in out], []

    def forward(self, xp, ins, outs, aux, is_train):
        for x, y in zip(ins, outs):
            _cast_into(xp, y, x)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        for g, dx in zip(ograds, igrads):
            if dx is not None:
                _cast_into(xp, dx, g)


# ---------------------------------------------------------------------------------------------
# element-wise and shape helpers
# ---------------------------------------------------------------------------------------------

@register
class _contrib_quadratic(Operator):
    """``a * x**2 + b * x + c`` element-wise (MXNet's example of a new operator).

    Example::

        >>> mx.nd.contrib.quadratic(mx.nd.array([[1, 2], [3, 4]]), a=1, b=2, c=3).asnumpy()
        array([[ 6., 11.],
               [18., 27.]], dtype=float32)
    """
    name = '_contrib_quadratic'
    params = {'a': Param('float', 0.0), 'b': Param('float', 0.0), 'c': Param('float', 0.0)}
    retain_inputs = (0,)
    retain_outputs = ()
    samples = (Sample({'a': 1.5, 'b': -2.0, 'c': 0.5}, {'data': (3, 4)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        outs[0][...] = (self.a * x + self.b) * x + self.c

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0] * (2 * self.a * ins[0] + self.b)


@register
class _contrib_div_sqrt_dim(Operator):
    """``data / sqrt(data.shape[-1])`` (the scaling of dot-product attention)."""
    name = '_contrib_div_sqrt_dim'
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (2, 5)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0] * (1.0 / math.sqrt(ins[0].shape[-1]))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0] * (1.0 / math.sqrt(ograds[0].shape[-1]))


def _no_gradient(igrads):
    for g in igrads:
        if g is not None:
            g.fill(0)


@register
class _contrib_arange_like(Operator):
    """``start, start + step, ...`` (each value ``repeat`` times) shaped like ``data``, or
    along one ``axis`` of it (a 1-D result); the dtype is the input's.

    Example::

        >>> mx.nd.contrib.arange_like(mx.nd.zeros((2, 3)), start=1).asnumpy()
        array([[1., 2., 3.],
               [4., 5., 6.]], dtype=float32)
    """
    name = '_contrib_arange_like'
    params = {'start': Param('float', 0.0), 'step': Param('float', 1.0),
              'repeat': Param('int', 1), 'ctx': Param('str', ''),
              'axis': Param('int_or_none', None)}
    nondiff = ('data',)
    retain_inputs = retain_outputs = ()
    samples = (Sample({'start': 1.0, 'step': 0.5, 'repeat': 2}, {'data': (2, 3)}),
               Sample({'axis': -1}, {'data': (2, 3)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        if self.axis is None:
            return [s], [tuple(s)], []
        return [s], [(s[norm_axis(self.axis, len(s))],)], []

    def forward(self, xp, ins, outs, aux, is_train):
        n = outs[0].size
        values = self.start + (xp.arange(n) // self.repeat) * self.step
        outs[0][...] = values.reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        _no_gradient(igrads)


@register
class _contrib_index_array(Operator):
    """Every element's index: for data of shape ``(d1, ..., dn)`` an int64 array of shape
    ``(d1, ..., dn, n)`` (or ``len(axes)``, the indices along those axes only)."""
    name = '_contrib_index_array'
    params = {'axes': Param('shape', None)}
    nondiff = ('data',)
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (2, 3)}), Sample({'axes': (-1, 0)}, {'data': (2, 3, 2)}))

    def _axes(self, ndim):
        if self.axes is None:
            return tuple(range(ndim))
        return tuple(norm_axis(a, ndim) for a in self.axes)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        return [s], [tuple(s) + (len(self._axes(len(s))),)], []

    def infer_type(self, in_types):
        return list(in_types), ['int64'], []

    def forward(self, xp, ins, outs, aux, is_train):
        shape = ins[0].shape
        grids = xp.indices(shape, dtype=np.int64) if shape else xp.zeros((0,), np.int64)
        for j, a in enumerate(self._axes(len(shape))):
            outs[0][..., j] = grids[a]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        _no_gradient(igrads)


@register
class _contrib_index_copy(Operator):
    """``old_tensor`` with row ``index_vector[i]`` replaced by row ``i`` of ``new_tensor``.

    The gradient of ``old_tensor`` is the head gradient with the replaced rows zeroed; that
    of ``new_tensor`` the head gradient's rows at ``index_vector``.
    """
    name = '_contrib_index_copy'
    arguments = ('old_tensor', 'index_vector', 'new_tensor')
    nondiff = ('index_vector',)
    retain_inputs = (1,)
    retain_outputs = ()
    samples = (Sample({}, {'old_tensor': (5, 3), 'index_vector': (3,), 'new_tensor': (3, 3)},
                      values={'index_vector': lambda rng, s: np.array([0, 4, 2])}),)

    def infer_shape(self, in_shapes):
        old, idx, new = in_shapes
        if new is not None and idx is None:
            idx = (new[0],)
        if old is not None and new is not None:
            if len(old) != len(new) or tuple(old[1:]) != tuple(new[1:]):
                raise InferError('new_tensor of shape %s does not fit rows of old_tensor of '
                                 'shape %s' % (new, old))
            if new[0] > old[0]:
                raise InferError('new_tensor has %d rows, more than old_tensor\'s %d'
                                 % (new[0], old[0]))
        return [old, idx, new], [old], []

    def infer_type(self, in_types):
        t = in_types[0] or in_types[2]
        return [t, in_types[1] or t, t], [t], []

    @staticmethod
    def _rows(xp, index):
        return index.astype(np.int64).reshape(-1)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]
        outs[0][self._rows(xp, ins[1])] = ins[2]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        rows = self._rows(xp, ins[1])
        if igrads[0] is not None:
            igrads[0][...] = ograds[0]
            igrads[0][rows] = 0
        if igrads[2] is not None:
            igrads[2][...] = ograds[0][rows]


# ---------------------------------------------------------------------------------------------
# BilinearResize2D
# ---------------------------------------------------------------------------------------------

def _resized(size, mode, target, scale, like):
    """One spatial size after resizing (MXNet's modes)."""
    if mode == 'size':
        return int(size * scale) if scale is not None else target
    if mode == 'odd_scale':
        if scale is None:
            raise InferError("mode='odd_scale' needs scale_height and scale_width")
        return int((size - 1) * scale) + 1 if size % 2 else int(size * scale)
    if mode == 'like':
        return like
    if mode == 'to_even_down':
        return size - size % 2
    if mode == 'to_even_up':
        return size + size % 2
    if mode == 'to_odd_down':
        return size - 1 if size % 2 == 0 else size
    return size + 1 if size % 2 == 0 else size        # to_odd_up


def _interp_matrix(n_in, n_out, align_corners):
    """The (n_out, n_in) matrix of 1-D linear interpolation weights."""
    m = np.zeros((n_out, n_in))
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = np.arange(n_out) * scale
    else:
        scale = n_in / n_out
        src = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


@register
class _contrib_BilinearResize2D(Operator):
    """Resize NCHW data by bilinear interpolation to ``(height, width)``, by a scale, or to
    the spatial size of ``like`` (``mode='like'``), with MXNet's ``align_corners``.

    Example::

        >>> x = mx.nd.arange(4).reshape((1, 1, 2, 2))
        >>> mx.nd.contrib.BilinearResize2D(x, height=3, width=3)[0, 0].asnumpy()
        array([[0. , 0.5, 1. ],
               [1. , 1.5, 2. ],
               [2. , 2.5, 3. ]], dtype=float32)
    """
    name = '_contrib_BilinearResize2D'
    modes = {'size', 'odd_scale', 'like', 'to_even_down', 'to_even_up', 'to_odd_down',
             'to_odd_up'}
    params = {'height': Param('int', 1), 'width': Param('int', 1),
              'scale_height': Param('float_or_none', None),
              'scale_width': Param('float_or_none', None),
              'mode': Param('str', 'size', choices=modes),
              'align_corners': Param('bool', True)}
    arguments = ('data', 'like')
    nondiff = ('like',)
    retain_inputs = retain_outputs = ()
    samples = (Sample({'height': 3, 'width': 5}, {'data': (2, 2, 4, 3)}),
               Sample({'height': 5, 'width': 2, 'align_corners': False}, {'data': (1, 2, 3, 4)}),
               Sample({'mode': 'like'}, {'data': (1, 1, 3, 3), 'like': (1, 1, 4, 2)}),
               Sample({'mode': 'odd_scale', 'scale_height': 2.0, 'scale_width': 0.5},
                      {'data': (1, 1, 3, 4)}))

    def list_arguments(self):
        return ['data', 'like'] if self.mode == 'like' else ['data']

    def _out_hw(self, s, like):
        if len(s) != 4:
            raise InferError('data must be 4-D (NCHW), got shape %s' % (s,))
        lh, lw = (like[2], like[3]) if like is not None else (None, None)
        return (_resized(s[2], self.mode, self.height, self.scale_height, lh),
                _resized(s[3], self.mode, self.width, self.scale_width, lw))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        like = in_shapes[1] if self.mode == 'like' else None
        if s is None or (self.mode == 'like' and like is None):
            return in_shapes, [None], []
        h, w = self._out_hw(s, like)
        return list(in_shapes), [(s[0], s[1], h, w)], []

    def _matrices(self, xp, in_hw, out_hw, dtype):
        key = (in_hw, out_hw)
        cache = getattr(self, '_cache', None)
        if cache is None or cache[0] != key:
            mh = _interp_matrix(in_hw[0], out_hw[0], self.align_corners)
            mw = _interp_matrix(in_hw[1], out_hw[1], self.align_corners)
            self._cache = cache = (key, mh, mw)
        return (xp.asarray(cache[1], dtype=dtype), xp.asarray(cache[2], dtype=dtype))

    def forward(self, xp, ins, outs, aux, is_train):
        x, y = ins[0], outs[0]
        mh, mw = self._matrices(xp, x.shape[2:], y.shape[2:], x.dtype)
        y[...] = xp.matmul(xp.matmul(mh, x), mw.T)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        g = ograds[0]
        if igrads[0] is not None:
            mh, mw = self._matrices(xp, igrads[0].shape[2:], g.shape[2:], g.dtype)
            igrads[0][...] = xp.matmul(xp.matmul(mh.T, g), mw)
        if len(igrads) > 1 and igrads[1] is not None:
            igrads[1].fill(0)


# ---------------------------------------------------------------------------------------------
# object detection
# ---------------------------------------------------------------------------------------------

def _host(xp, a):
    """A NumPy copy of an array of the operator's array module."""
    return a.get() if hasattr(a, 'get') and xp is not np else np.asarray(a)


def _corners(boxes, fmt):
    """``boxes[..., :4]`` as (xmin, ymin, xmax, ymax) from 'corner' or 'center' format."""
    if fmt == 'corner':
        return boxes[..., :4]
    x, y, w, h = (boxes[..., i] for i in range(4))
    return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=-1)


def _centers(corners):
    l, t, r, b = (corners[..., i] for i in range(4))
    return np.stack([(l + r) / 2, (t + b) / 2, r - l, b - t], axis=-1)


def _iou_matrix(a, b):
    """IoU of every corner box in ``a`` (n, 4) with every one in ``b`` (m, 4); 0 where the
    union is not positive."""
    iw = np.maximum(0, np.minimum(a[:, None, 2], b[None, :, 2]) -
                    np.maximum(a[:, None, 0], b[None, :, 0]))
    ih = np.maximum(0, np.minimum(a[:, None, 3], b[None, :, 3]) -
                    np.maximum(a[:, None, 1], b[None, :, 1]))
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _boxes(rng, shape):
    """Random valid corner boxes in the unit square, for the gradient samples."""
    lo = rng.uniform(0, 0.6, shape[:-1] + (2,))
    size = rng.uniform(0.1, 0.4, shape[:-1] + (2,))
    return np.concatenate([lo, lo + size] + ([rng.standard_normal(shape[:-1] + (shape[-1] - 4,))]
                                             if shape[-1] > 4 else []), axis=-1)


@register
class _contrib_box_iou(Operator):
    """Intersection over union of every box in ``lhs`` (..., 4) with every box in ``rhs``
    (..., 4): an array of shape ``lhs.shape[:-1] + rhs.shape[:-1]``; no gradient flows.

    Example::

        >>> x = mx.nd.array([[0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]])
        >>> y = mx.nd.array([[0.25, 0.25, 0.75, 0.75]])
        >>> mx.nd.contrib.box_iou(x, y).asnumpy().round(4)
        array([[0.1429],
               [0.1429]], dtype=float32)
    """
    name = '_contrib_box_iou'
    params = {'format': Param('str', 'corner', choices={'corner', 'center'})}
    arguments = ('lhs', 'rhs')
    nondiff = ('lhs', 'rhs')
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'lhs': (2, 3, 4), 'rhs': (4, 4)},
                      values={'lhs': _boxes, 'rhs': _boxes}),)

    def infer_shape(self, in_shapes):
        a, b = in_shapes
        for name, s in (('lhs', a), ('rhs', b)):
            if s is not None and s[-1] != 4:
                raise InferError('%s must end in a dimension of 4 (a box), got shape %s'
                                 % (name, s))
        if a is None or b is None:
            return in_shapes, [None], []
        return [a, b], [tuple(a[:-1]) + tuple(b[:-1])], []

    def forward(self, xp, ins, outs, aux, is_train):
        a = _corners(_host(xp, ins[0]).reshape(-1, 4).astype(np.float64), self.format)
        b = _corners(_host(xp, ins[1]).reshape(-1, 4).astype(np.float64), self.format)
        outs[0][...] = xp.asarray(_iou_matrix(a, b).reshape(outs[0].shape))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        _no_gradient(igrads)


def _nms_keep(corners, scores, ids, order, thresh, by_class):
    """Greedy NMS over the candidates in ``order`` (best first): the positions kept."""
    keep = []
    alive = np.ones(len(order), dtype=bool)
    cand = corners[order]
    iou = _iou_matrix(cand, cand)
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(order[i])
        later = np.arange(i + 1, len(order))
        hit = iou[i, later] > thresh
        if by_class:
            hit &= ids[order[later]] == ids[order[i]]
        alive[later[hit]] = False
    return keep


@register
class _contrib_box_nms(Operator):
    """Non-maximum suppression over boxes ``[id, score, x1, y1, x2, y2, ...]`` (MXNet's).

    Per batch (every axis but the last two), boxes scoring above ``valid_thresh`` (and, with
    ``id_index``, not of class ``background_id``) are sorted by score, the best ``topk`` kept,
    and a box whose IoU with a better kept box exceeds ``overlap_thresh`` is dropped (only
    within its class when ``id_index >= 0`` and not ``force_suppress``).  The kept boxes come
    first, in descending score, coordinates in ``out_format``; the rest of the rows are -1.
    The gradient follows each kept box back to its input row, as it is (also across a format
    change, as in MXNet); dropped rows get 0.

    Example::

        >>> x = mx.nd.array([[0, 0.5, 0.1, 0.1, 0.2, 0.2], [1, 0.4, 0.1, 0.1, 0.2, 0.2],
        ...                  [0, 0.3, 0.1, 0.1, 0.14, 0.14], [2, 0.6, 0.5, 0.5, 0.7, 0.8]])
        >>> mx.nd.contrib.box_nms(x, overlap_thresh=0.1, id_index=0,
        ...                       force_suppress=True)[:, 0].asnumpy()
        array([ 2.,  0., -1., -1.], dtype=float32)
    """
    name = '_contrib_box_nms'
    aliases = ('_contrib_box_non_maximum_suppression',)
    params = {'overlap_thresh': Param('float', 0.5), 'valid_thresh': Param('float', 0.0),
              'topk': Param('int', -1), 'coord_start': Param('int', 2),
              'score_index': Param('int', 1), 'id_index': Param('int', -1),
              'background_id': Param('int', -1), 'force_suppress': Param('bool', False),
              'in_format': Param('str', 'corner', choices={'corner', 'center'}),
              'out_format': Param('str', 'corner', choices={'corner', 'center'})}
    outputs = ('output0',)
    retain_inputs = retain_outputs = ()     # backward uses the row map kept from forward
    samples = (Sample({'overlap_thresh': 0.3}, {'data': (2, 5, 6)},
                      values={'data': lambda rng, s: _nms_sample(rng, s)}),
               Sample({'id_index': 0, 'topk': 3, 'valid_thresh': 0.2}, {'data': (6, 6)},
                      values={'data': lambda rng, s: _nms_sample(rng, s)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is not None:
            if len(s) < 2:
                raise InferError('data must have at least 2 dimensions (boxes, width), got %s'
                                 % (s,))
            width = s[-1]
            if max(self.coord_start + 4, self.score_index + 1, self.id_index + 1) > width:
                raise InferError('boxes of width %d cannot hold coord_start=%d, score_index=%d, '
                                 'id_index=%d' % (width, self.coord_start, self.score_index,
                                                  self.id_index))
        return [s], [s], []

    def forward(self, xp, ins, outs, aux, is_train):
        data = _host(xp, ins[0])
        n, k = data.shape[-2], data.shape[-1]
        batches = data.reshape(-1, n, k)
        out = np.full(batches.shape, -1, dtype=data.dtype)
        rows = np.full(batches.shape[:2], -1, dtype=np.int64)   # output row -> input row
        c = self.coord_start
        by_class = self.id_index >= 0 and not self.force_suppress
        for b, boxes in enumerate(batches):
            scores = boxes[:, self.score_index]
            valid = scores > self.valid_thresh
            ids = boxes[:, self.id_index] if self.id_index >= 0 else np.zeros(n)
            if self.id_index >= 0 and self.background_id >= 0:
                valid &= ids != self.background_id
            cand = np.flatnonzero(valid)
            order = cand[np.argsort(-scores[cand], kind='stable')]
            if self.topk > 0:
                order = order[:self.topk]
            corners = _corners(boxes[:, c:c + 4].astype(np.float64), self.in_format)
            keep = _nms_keep(corners, scores, ids, order, self.overlap_thresh, by_class)
            out[b, :len(keep)] = boxes[keep]
            if self.in_format != self.out_format:
                conv = _centers(corners[keep]) if self.out_format == 'center' else corners[keep]
                out[b, :len(keep), c:c + 4] = conv
            rows[b, :len(keep)] = keep
        self._rows = rows
        outs[0][...] = xp.asarray(out.reshape(data.shape))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        n, k = igrads[0].shape[-2], igrads[0].shape[-1]
        g = _host(xp, ograds[0]).reshape(-1, n, k)
        dx = np.zeros_like(g)
        for b, rows in enumerate(self._rows):
            kept = rows >= 0
            dx[b, rows[kept]] = g[b, kept]
        igrads[0][...] = xp.asarray(dx.reshape(igrads[0].shape))


def _nms_sample(rng, shape):
    """Boxes with distinct scores well apart, a few overlapping, for the gradient check."""
    n = shape[-2]
    data = np.zeros(shape)
    flat = data.reshape(-1, n, shape[-1])
    for b in range(flat.shape[0]):
        flat[b, :, 0] = rng.integers(0, 3, n)
        flat[b, :, 1] = rng.permutation(n) / n + 0.05
        flat[b, :, 2:6] = _boxes(rng, (n, 4))
        flat[b, 1, 2:6] = flat[b, 0, 2:6] + 0.01        # a near duplicate to suppress
    return data


def _float_tuple(value, what):
    """A parameter that MXNet types as a tuple of floats, from a string or a sequence."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = ast.literal_eval(text) if text else ()
        except (ValueError, SyntaxError):
            raise MXNetError('%s=%r is not a tuple of numbers' % (what, value)) from None
    if np.isscalar(value):
        value = (value,)
    return tuple(float(v) for v in value)


@register
class _contrib_MultiBoxPrior(Operator):
    """SSD's anchor boxes for a feature map (N, C, H, W): per position, one box per size (ratio
    1) and one per further ratio (size ``sizes[0]``), as ``(1, H*W*(len(sizes)+len(ratios)-1),
    4)`` corner boxes in [0, 1] coordinates; no gradient flows.

    Example::

        >>> mx.nd.contrib.MultiBoxPrior(mx.nd.zeros((1, 3, 2, 2)), sizes=(0.5,)).shape
        (1, 4, 4)
    """
    name = '_contrib_MultiBoxPrior'
    params = {'sizes': Param('str', (1.0,)), 'ratios': Param('str', (1.0,)),
              'clip': Param('bool', False), 'steps': Param('str', (-1.0, -1.0)),
              'offsets': Param('str', (0.5, 0.5))}
    nondiff = ('data',)
    retain_inputs = retain_outputs = ()
    samples = (Sample({'sizes': (0.5, 0.25), 'ratios': (1, 2, 0.5)}, {'data': (1, 2, 3, 4)}),)

    def setup(self):
        for key in ('sizes', 'ratios', 'steps', 'offsets'):
            setattr(self, key, _float_tuple(getattr(self, key), key))
        if not self.sizes or not self.ratios:
            raise InferError('MultiBoxPrior needs at least one size and one ratio')
        if len(self.steps) != 2 or len(self.offsets) != 2:
            raise InferError('steps and offsets must each hold 2 values (y, x)')

    def _per_position(self):
        return len(self.sizes) + len(self.ratios) - 1

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        if len(s) != 4:
            raise InferError('data must be 4-D (NCHW), got shape %s' % (s,))
        return [s], [(1, s[2] * s[3] * self._per_position(), 4)], []

    def anchors(self, height, width):
        """The anchors of an ``height`` x ``width`` map, as a NumPy (H*W*k, 4) array."""
        step_y = self.steps[0] if self.steps[0] > 0 else 1.0 / height
        step_x = self.steps[1] if self.steps[1] > 0 else 1.0 / width
        half = []
        for size in self.sizes:
            half.append((size * height / width / 2, size / 2))
        for ratio in self.ratios[1:]:
            r = math.sqrt(ratio)
            half.append((self.sizes[0] * height / width * r / 2, self.sizes[0] / r / 2))
        half = np.array(half, dtype=np.float32)                            # (k, 2): w/2, h/2
        cy = ((np.arange(height, dtype=np.float32) + self.offsets[0]) * step_y)
        cx = ((np.arange(width, dtype=np.float32) + self.offsets[1]) * step_x)
        cy, cx = np.meshgrid(cy, cx, indexing='ij')
        centre = np.stack([cx, cy], axis=-1).reshape(-1, 1, 2)            # (H*W, 1, 2)
        out = np.concatenate([centre - half, centre + half], axis=-1).reshape(-1, 4)
        return np.clip(out, 0, 1) if self.clip else out

    def forward(self, xp, ins, outs, aux, is_train):
        h, w = ins[0].shape[2:]
        outs[0][...] = xp.asarray(self.anchors(h, w).reshape(outs[0].shape))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        _no_gradient(igrads)


def _labels(rng, shape):
    """Padded ground truth (B, M, 5): a few boxes with class ids, the rest -1."""
    out = -np.ones(shape)
    for b in range(shape[0]):
        count = 1 + b % shape[1]
        out[b, :count, 0] = rng.integers(0, 3, count)
        out[b, :count, 1:5] = _boxes(rng, (count, 4))
    return out


def _anchor_sample(rng, shape):
    return _boxes(rng, shape)


@register
class _contrib_MultiBoxTarget(Operator):
    """SSD training targets: match each anchor (1, A, 4) to the ground truth ``label``
    (B, M, 5+: class, corners; rows of -1 pad) and give ``loc_target`` (B, A*4, the encoded
    offsets, scaled by ``variances``), ``loc_mask`` (B, A*4) and ``cls_target`` (B, A: class +
    1, 0 for background, ``ignore_label`` where hard-negative mining leaves an anchor out).
    MXNet's algorithm: each ground truth first takes its best anchor, then every anchor whose
    best IoU exceeds ``overlap_threshold``; with ``negative_mining_ratio > 0`` only the
    negatives the network is most wrong about (by ``cls_pred``, B x classes x A) count.
    No gradient flows.
    """
    name = '_contrib_MultiBoxTarget'
    params = {'overlap_threshold': Param('float', 0.5), 'ignore_label': Param('float', -1.0),
              'negative_mining_ratio': Param('float', -1.0),
              'negative_mining_thresh': Param('float', 0.5),
              'minimum_negative_samples': Param('int', 0),
              'variances': Param('str', (0.1, 0.1, 0.2, 0.2))}
    arguments = ('anchor', 'label', 'cls_pred')
    outputs = ('loc_target', 'loc_mask', 'cls_target')
    nondiff = ('anchor', 'label', 'cls_pred')
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'anchor': (1, 6, 4), 'label': (2, 3, 5), 'cls_pred': (2, 3, 6)},
                      values={'anchor': _anchor_sample, 'label': _labels}),
               Sample({'negative_mining_ratio': 2.0},
                      {'anchor': (1, 8, 4), 'label': (2, 2, 5), 'cls_pred': (2, 3, 8)},
                      values={'anchor': _anchor_sample, 'label': _labels}))

    def setup(self):
        self.variances = _float_tuple(self.variances, 'variances')
        if len(self.variances) != 4:
            raise InferError('variances must hold 4 values')

    def infer_shape(self, in_shapes):
        a, l, p = in_shapes
        if a is not None and (len(a) != 3 or a[0] != 1 or a[2] != 4):
            raise InferError('anchor must be (1, num_anchors, 4), got %s' % (a,))
        if l is not None and (len(l) != 3 or l[2] < 5):
            raise InferError('label must be (batch, num_labels, >=5), got %s' % (l,))
        if p is not None and len(p) != 3:
            raise InferError('cls_pred must be (batch, num_classes, num_anchors), got %s' % (p,))
        if a is not None and p is not None and p[2] != a[1]:
            raise InferError('cls_pred has %d anchors, anchor has %d' % (p[2], a[1]))
        if a is None or l is None:
            return in_shapes, [None] * 3, []
        loc = (l[0], a[1] * 4)
        return list(in_shapes), [loc, loc, (l[0], a[1])], []

    def forward(self, xp, ins, outs, aux, is_train):
        anchors = _host(xp, ins[0]).reshape(-1, 4).astype(np.float32)
        labels = _host(xp, ins[1]).astype(np.float32)
        preds = _host(xp, ins[2]).astype(np.float32)
        nb, na = labels.shape[0], anchors.shape[0]
        loc_t = np.zeros((nb, na, 4), np.float32)
        loc_m = np.zeros((nb, na, 4), np.float32)
        cls_t = np.full((nb, na), self.ignore_label, np.float32)
        for b in range(nb):
            self._one(anchors, labels[b], preds[b], loc_t[b], loc_m[b], cls_t[b])
        outs[0][...] = xp.asarray(loc_t.reshape(nb, -1))
        outs[1][...] = xp.asarray(loc_m.reshape(nb, -1))
        outs[2][...] = xp.asarray(cls_t)

    def _one(self, anchors, label, pred, loc_t, loc_m, cls_t):
        pad = np.flatnonzero(label[:, 0] == -1)
        ngt = int(pad[0]) if pad.size else label.shape[0]
        if ngt == 0:
            return
        gt = label[:ngt]
        iou = _iou_matrix(anchors.astype(np.float64), gt[:, 1:5].astype(np.float64))
        iou = iou.astype(np.float32)
        na = anchors.shape[0]
        match = np.full(na, -1, np.int64)        # the ground truth an anchor is matched to
        best_iou = np.full(na, -1.0, np.float32)
        flag = np.full(na, -1, np.int8)           # 1 positive, 0 negative, -1 ignored
        # every ground truth takes its best free anchor, best pairs first
        gt_done = np.zeros(ngt, bool)
        work = iou.copy()
        while not gt_done.all():
            masked = np.where(flag[:, None] == 1, -np.inf, np.where(gt_done[None, :], -np.inf,
                                                                     work))
            j, k = np.unravel_index(np.argmax(masked), masked.shape)
            if not masked[j, k] > 1e-6:
                break
            match[j], best_iou[j], flag[j], gt_done[k] = k, masked[j, k], 1, True
        if self.overlap_threshold > 0:
            for j in np.flatnonzero(flag != 1):
                k = int(np.argmax(iou[j]))
                match[j], best_iou[j] = k, iou[j, k]
                if iou[j, k] > self.overlap_threshold:
                    flag[j] = 1
        positives = int((flag == 1).sum())
        if self.negative_mining_ratio > 0:
            num_neg = min(int(positives * self.negative_mining_ratio), na - positives)
            if num_neg > 0:
                cand = []
                for j in range(na):
                    if flag[j] == 1:
                        continue
                    if best_iou[j] < 0:
                        k = int(np.argmax(iou[j]))
                        match[j], best_iou[j] = k, iou[j, k]
                    if best_iou[j] < self.negative_mining_thresh and flag[j] == -1:
                        logits = pred[:, j]
                        e = np.exp(logits - logits.max())
                        cand.append((-(e[0] / e.sum()), j))     # most wrong background first
                order = sorted(range(len(cand)), key=lambda i: -cand[i][0])
                for i in order[:num_neg]:
                    flag[cand[i][1]] = 0
        else:
            flag[flag != 1] = 0
        pos = np.flatnonzero(flag == 1)
        neg = np.flatnonzero(flag == 0)
        cls_t[pos] = gt[match[pos], 0] + 1
        cls_t[neg] = 0
        loc_m[pos] = 1
        a, g = anchors[pos], gt[match[pos], 1:5]
        aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        ax, ay = (a[:, 0] + a[:, 2]) * 0.5, (a[:, 1] + a[:, 3]) * 0.5
        gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
        gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
        vx, vy, vw, vh = self.variances
        with np.errstate(divide='ignore', invalid='ignore'):
            loc_t[pos] = np.stack([(gx - ax) / aw / vx, (gy - ay) / ah / vy,
                                   np.log(gw / aw) / vw, np.log(gh / ah) / vh], axis=-1)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        _no_gradient(igrads)


@register
class _contrib_MultiBoxDetection(Operator):
    """SSD detections: decode ``loc_pred`` (B, A*4) against the anchors (1, A, 4), take each
    anchor's best non-background class from ``cls_prob`` (B, classes, A) when it reaches
    ``threshold``, then NMS (``nms_threshold``, within a class unless ``force_suppress``,
    after keeping the best ``nms_topk``).  Output (B, A, 6): ``[class, score, x1, y1, x2,
    y2]`` in descending score, suppressed rows with class -1, empty rows all -1.

    As MXNet 1.9.1's CPU kernel: class 0 is the background (``background_id`` is accepted
    and not used) and the output ids count the other classes from 0; beyond ``nms_topk`` the
    other detections stay in anchor order, marked -1.  No gradient flows.
    """
    name = '_contrib_MultiBoxDetection'
    params = {'clip': Param('bool', True), 'threshold': Param('float', 0.01),
              'background_id': Param('int', 0), 'nms_threshold': Param('float', 0.5),
              'force_suppress': Param('bool', False),
              'variances': Param('str', (0.1, 0.1, 0.2, 0.2)), 'nms_topk': Param('int', -1)}
    arguments = ('cls_prob', 'loc_pred', 'anchor')
    nondiff = ('cls_prob', 'loc_pred', 'anchor')
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'cls_prob': (2, 3, 5), 'loc_pred': (2, 20), 'anchor': (1, 5, 4)},
                      values={'anchor': _anchor_sample,
                              'cls_prob': lambda rng, s: rng.uniform(0, 1, s)}),)

    def setup(self):
        self.variances = _float_tuple(self.variances, 'variances')
        if len(self.variances) != 4:
            raise InferError('variances must hold 4 values')

    def infer_shape(self, in_shapes):
        c, l, a = in_shapes
        if c is not None and len(c) != 3:
            raise InferError('cls_prob must be (batch, num_classes, num_anchors), got %s' % (c,))
        if a is not None and (len(a) != 3 or a[2] != 4):
            raise InferError('anchor must be (1, num_anchors, 4), got %s' % (a,))
        if c is None:
            return in_shapes, [None], []
        na = c[2]
        return [c, (c[0], na * 4), (1, na, 4)], [(c[0], na, 6)], []

    def _decode(self, anchors, loc):
        vx, vy, vw, vh = self.variances
        aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        ax, ay = (anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2
        ox, oy = loc[:, 0] * vx * aw + ax, loc[:, 1] * vy * ah + ay
        ow, oh = np.exp(loc[:, 2] * vw) * aw / 2, np.exp(loc[:, 3] * vh) * ah / 2
        out = np.stack([ox - ow, oy - oh, ox + ow, oy + oh], axis=-1)
        return np.clip(out, 0, 1) if self.clip else out

    def forward(self, xp, ins, outs, aux, is_train):
        prob = _host(xp, ins[0]).astype(np.float32)
        loc = _host(xp, ins[1]).astype(np.float32)
        anchors = _host(xp, ins[2]).reshape(-1, 4).astype(np.float32)
        nb, ncls, na = prob.shape
        out = np.full((nb, na, 6), -1, np.float32)
        for b in range(nb):
            if ncls < 2:
                continue
            p = prob[b][1:]                                            # class 0: background
            best = np.argmax(p, axis=0)
            score = p[best, np.arange(na)]
            valid = np.flatnonzero(score >= self.threshold)
            if valid.size == 0:
                continue
            ids = best[valid].astype(np.float32)
            boxes = self._decode(anchors[valid], loc[b].reshape(-1, 4)[valid])
            rows = np.concatenate([ids[:, None], score[valid][:, None], boxes], axis=1)
            if not 0 < self.nms_threshold <= 1:
                out[b, :len(rows)] = rows
                continue
            order = np.argsort(-rows[:, 1], kind='stable')
            if 0 < self.nms_topk < len(rows):
                # as MXNet: the best nms_topk rows come first; the other valid rows stay
                # where they were, in anchor order, marked removed
                rest = rows[self.nms_topk:].copy()
                rest[:, 0] = -1
                rows = np.concatenate([rows[order[:self.nms_topk]], rest])
            else:
                rows = rows[order]
            iou = _iou_matrix(rows[:, 2:6].astype(np.float64), rows[:, 2:6].astype(np.float64))
            for i in range(len(rows)):
                if rows[i, 0] < 0:
                    continue
                for j in range(i + 1, len(rows)):
                    if rows[j, 0] < 0:
                        continue
                    if (self.force_suppress or rows[i, 0] == rows[j, 0]) and \
                            iou[i, j] >= self.nms_threshold:
                        rows[j, 0] = -1
            out[b, :len(rows)] = rows
        outs[0][...] = xp.asarray(out)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        _no_gradient(igrads)


@register
class _contrib_gradientmultiplier(Operator):
    """The identity forward; backward multiplies the gradient by ``scalar`` (a negative one
    reverses it: gradient reversal for domain adaptation).

    Example::

        >>> mx.nd.contrib.gradientmultiplier(mx.nd.array([1, 2]), scalar=-1.0).asnumpy()
        array([1., 2.], dtype=float32)
    """
    name = '_contrib_gradientmultiplier'
    params = {'scalar': Param('float', 1.0), 'is_int': Param('bool', True)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'scalar': -0.5}, {'data': (3, 4)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def surrogate(self, xp, ins):
        return [ins[0] * self.scalar]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            xp.multiply(ograds[0], self.scalar, out=igrads[0])


class _StraightThrough(Operator):
    """A rounding forward whose backward passes the gradient through unchanged (the
    straight-through estimator): the gradient of the identity."""
    retain_inputs = retain_outputs = ()

    def surrogate(self, xp, ins):
        return [ins[0]]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0]


@register
class _contrib_round_ste(_StraightThrough):
    """``round`` (halves away from zero) forward, identity backward.

    Example::

        >>> mx.nd.contrib.round_ste(mx.nd.array([1.5, -0.4, 2.6])).asnumpy()
        array([ 2., -0.,  3.], dtype=float32)
    """
    name = '_contrib_round_ste'
    samples = (Sample({}, {'data': (3, 4)}, values={
        'data': lambda rng, s: rng.integers(-3, 4, s) + rng.uniform(-0.3, 0.3, s)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        outs[0][...] = xp.sign(x) * xp.floor(xp.abs(x) + 0.5)


@register
class _contrib_sign_ste(_StraightThrough):
    """``sign`` forward, identity backward.

    Example::

        >>> mx.nd.contrib.sign_ste(mx.nd.array([1.5, -0.4, 0])).asnumpy()
        array([ 1., -1.,  0.], dtype=float32)
    """
    name = '_contrib_sign_ste'
    samples = (Sample({}, {'data': (3, 4)}, values={
        'data': lambda rng, s: rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 1.5, s)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        xp.sign(ins[0], out=outs[0])


@register
class _contrib_allclose(Operator):
    """``1`` (a 0-d array) when ``|a - b| <= atol + rtol * |b|`` everywhere (NaNs equal with
    ``equal_nan``), else ``0``.

    Example::

        >>> float(mx.nd.contrib.allclose(mx.nd.array([1, 2]), mx.nd.array([1, 2])).asnumpy())
        1.0
    """
    name = '_contrib_allclose'
    params = {'rtol': Param('float', 1e-5), 'atol': Param('float', 1e-8),
              'equal_nan': Param('bool', True)}
    arguments = ('a', 'b')
    nondiff = ('a', 'b')
    retain_inputs = retain_outputs = ()
    zero_gradient = True
    samples = (Sample({}, {'a': (3,), 'b': (3,)}),)

    def infer_shape(self, in_shapes):
        return in_shapes, [()], []

    def infer_type(self, in_types):
        return in_types, [np.float32], []

    def forward(self, xp, ins, outs, aux, is_train):
        close = xp.isclose(ins[0], ins[1], rtol=self.rtol, atol=self.atol,
                           equal_nan=self.equal_nan).all()
        outs[0][...] = close

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        for g in igrads:
            if g is not None:
                g.fill(0)


def _adaptive_bins(n, out):
    """MXNet's adaptive pooling windows: bin ``i`` covers ``[floor(i n / out),
    ceil((i + 1) n / out))``."""
    return [(int(math.floor(i * n / out)), int(math.ceil((i + 1) * n / out)))
            for i in range(out)]


@register
class _contrib_AdaptiveAvgPooling2D(Operator):
    """Average pooling of NCHW ``data`` to ``output_size`` (one int: square; empty: 1x1), each
    output cell averaging the window ``[floor(i H / oh), ceil((i + 1) H / oh))`` (and the
    same in width).

    Example::

        >>> x = mx.nd.arange(16).reshape((1, 1, 4, 4))
        >>> mx.nd.contrib.AdaptiveAvgPooling2D(x, output_size=2).asnumpy()[0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]], dtype=float32)
    """
    name = '_contrib_AdaptiveAvgPooling2D'
    params = {'output_size': Param('shape', ())}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'output_size': (2, 3)}, {'data': (2, 3, 5, 7)}),
               Sample({'output_size': (3,)}, {'data': (1, 2, 4, 4)}))

    def _out_hw(self):
        size = tuple(self.output_size or ())
        if not size:
            return 1, 1
        return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])

    def infer_shape(self, in_shapes):
        d = in_shapes[0]
        if d is None:
            return in_shapes, [None], []
        if len(d) != 4:
            raise InferError('AdaptiveAvgPooling2D needs NCHW data, got %s' % (tuple(d),))
        oh, ow = self._out_hw()
        return in_shapes, [tuple(d[:2]) + (oh, ow)], []

    def _bins(self, shape):
        oh, ow = self._out_hw()
        return _adaptive_bins(shape[2], oh), _adaptive_bins(shape[3], ow)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        rows, cols = self._bins(x.shape)
        for i, (r0, r1) in enumerate(rows):
            band = x[:, :, r0:r1, :]
            for j, (c0, c1) in enumerate(cols):
                outs[0][:, :, i, j] = band[:, :, :, c0:c1].mean(axis=(2, 3))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        dx[...] = 0
        rows, cols = self._bins(dx.shape)
        g = ograds[0]
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                share = g[:, :, i, j] / ((r1 - r0) * (c1 - c0))
                dx[:, :, r0:r1, c0:c1] += share[:, :, None, None]


# ---- region proposals (Faster R-CNN's RPN) ----------------------------------------------------

def _anchors(stride, ratios, scales):
    """The ``len(ratios) * len(scales)`` anchors (x1, y1, x2, y2) of one feature-map cell at the
    origin, ratio by ratio, as Faster R-CNN generates them (sizes rounded, pixel-inclusive)."""
    base = stride - 1.0
    ctr = 0.5 * base
    out = []
    for r in ratios:
        w0 = np.round(np.sqrt(stride * stride / r))
        h0 = np.round(w0 * r)
        for s in scales:
            w, h = w0 * s, h0 * s
            out.append([ctr - 0.5 * (w - 1), ctr - 0.5 * (h - 1),
                        ctr + 0.5 * (w - 1), ctr + 0.5 * (h - 1)])
    return np.array(out, dtype=np.float64)


def _nms(boxes, scores, threshold, limit):
    """Greedy non-maximum suppression (areas pixel-inclusive) of boxes sorted by score."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.arange(len(boxes))
    keep = []
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= threshold]
    return np.array(keep, dtype=np.int64)


class _ProposalBase(Operator):
    params = {'rpn_pre_nms_top_n': Param('int', 6000), 'rpn_post_nms_top_n': Param('int', 300),
              'threshold': Param('float', 0.7), 'rpn_min_size': Param('int', 16),
              'scales': Param('str', (4.0, 8.0, 16.0, 32.0)),
              'ratios': Param('str', (0.5, 1.0, 2.0)), 'feature_stride': Param('int', 16),
              'output_score': Param('bool', False), 'iou_loss': Param('bool', False)}
    arguments = ('cls_prob', 'bbox_pred', 'im_info')
    nondiff = ('cls_prob', 'bbox_pred', 'im_info')
    retain_inputs = retain_outputs = ()
    zero_gradient = True

    def setup(self):
        self.scales = _float_tuple(self.scales, 'scales')
        self.ratios = _float_tuple(self.ratios, 'ratios')
        if self.iou_loss:
            raise InferError('%s: iou_loss=True is not supported by distmod' % self.name)

    def list_outputs(self):
        return ['output', 'score'] if self.output_score else ['output']

    def _count(self):
        return len(self.scales) * len(self.ratios)

    def infer_shape(self, in_shapes):
        cls, bbox, info = in_shapes
        if cls is None:
            return in_shapes, [None] * self.output_count(), []
        n, c, h, w = cls
        a = self._count()
        if c != 2 * a:
            raise InferError('%s: cls_prob has %d channels; %d scales x %d ratios need %d'
                             % (self.name, c, len(self.scales), len(self.ratios), 2 * a))
        rows = self._rows(n)
        outs = [(rows, 5)] + ([(rows, 1)] if self.output_score else [])
        return [tuple(cls), (n, 4 * a, h, w), (n, 3)], outs, []

    def _image(self, scores, deltas, info):
        """(rois (post_nms, 4), scores (post_nms,)) of one image: scores (A, H, W) of the
        foreground, deltas (4A, H, W), info (height, width, scale)."""
        a, height, width = scores.shape
        stride = self.feature_stride
        anchors = _anchors(float(stride), self.ratios, self.scales)          # (A, 4)
        sy, sx = np.meshgrid(np.arange(height) * stride, np.arange(width) * stride,
                             indexing='ij')
        shifts = np.stack([sx, sy, sx, sy], axis=-1).astype(np.float64)       # (H, W, 4)
        boxes = (shifts[:, :, None, :] + anchors[None, None]).reshape(-1, 4)   # (H*W*A, 4)
        d = deltas.reshape(a, 4, height, width).transpose(2, 3, 0, 1).reshape(-1, 4)
        score = scores.transpose(1, 2, 0).reshape(-1).astype(np.float64)
        im_h, im_w, im_scale = (float(v) for v in info)
        # cells past the real image (the data is padded to a batch's size) propose nothing
        real_h, real_w = int(im_h / stride), int(im_w / stride)
        cell_h = np.repeat(np.arange(height), width * a)
        cell_w = np.tile(np.repeat(np.arange(width), a), height)
        score = np.where((cell_h >= real_h) | (cell_w >= real_w), -1.0, score)
        widths = boxes[:, 2] - boxes[:, 0] + 1.0
        heights = boxes[:, 3] - boxes[:, 1] + 1.0
        cx = boxes[:, 0] + 0.5 * (widths - 1.0)
        cy = boxes[:, 1] + 0.5 * (heights - 1.0)
        pcx, pcy = d[:, 0] * widths + cx, d[:, 1] * heights + cy
        pw, ph = np.exp(d[:, 2]) * widths, np.exp(d[:, 3]) * heights
        pred = np.stack([pcx - 0.5 * (pw - 1.0), pcy - 0.5 * (ph - 1.0),
                         pcx + 0.5 * (pw - 1.0), pcy + 0.5 * (ph - 1.0)], axis=1)
        pred[:, 0::2] = np.clip(pred[:, 0::2], 0, im_w - 1.0)
        pred[:, 1::2] = np.clip(pred[:, 1::2], 0, im_h - 1.0)
        # boxes under the minimum size lose their score (and grow by it, as MXNet's)
        min_size = self.rpn_min_size * im_scale
        small = ((pred[:, 2] - pred[:, 0] + 1) < min_size) | ((pred[:, 3] - pred[:, 1] + 1) <
                                                              min_size)
        pred[small, :2] -= min_size / 2
        pred[small, 2:] += min_size / 2
        score = np.where(small, -1.0, score)
        order = np.argsort(-score, kind='stable')[:min(self.rpn_pre_nms_top_n, len(score))]
        keep = _nms(pred[order], score[order], self.threshold, self.rpn_post_nms_top_n)
        chosen = order[keep] if len(keep) else order[:1]
        pick = chosen[np.arange(self.rpn_post_nms_top_n) % len(chosen)]   # repeats to fill
        return pred[pick], score[pick]

    def _proposals(self, xp, ins, outs, images):
        cls, bbox, info = ((x.get() if xp is not np else x) for x in ins)
        a = self._count()
        rows, scores = [], []
        for b in images:
            roi, sc = self._image(cls[b, a:], bbox[b], info[b])
            rows.append(np.concatenate([np.full((len(roi), 1), b, np.float64), roi], axis=1))
            scores.append(sc)
        outs[0][...] = xp.asarray(np.concatenate(rows).astype(outs[0].dtype))
        if self.output_score:
            outs[1][...] = xp.asarray(np.concatenate(scores).reshape(-1, 1).astype(
                outs[1].dtype))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        for g in igrads:
            if g is not None:
                g.fill(0)


def _rpn_sample(rng, shape):
    return rng.uniform(0, 1, shape)


@register
class _contrib_Proposal(_ProposalBase):
    """Faster R-CNN's region proposals for one image: anchors of ``scales`` x ``ratios`` at
    every ``feature_stride`` cell moved by ``bbox_pred`` (1, 4A, H, W), clipped to the image
    (``im_info`` (1, 3): height, width, scale), those under ``rpn_min_size`` (scaled)
    dropped, the best ``rpn_pre_nms_top_n`` by foreground score (the second half of
    ``cls_prob``'s 2A channels) kept through non-maximum suppression at ``threshold``, and
    the first ``rpn_post_nms_top_n`` returned as ``[0, x1, y1, x2, y2]`` rows (repeated when
    fewer remain), with their scores under ``output_score``.  No gradient.

    Example::

        >>> p = mx.nd.contrib.Proposal(mx.nd.ones((1, 2, 2, 2)), mx.nd.zeros((1, 4, 2, 2)),
        ...     mx.nd.array([[32, 32, 1]]), scales=(1,), ratios=(1,), rpn_post_nms_top_n=4,
        ...     rpn_min_size=1)
        >>> p.asnumpy()[0].tolist()
        [0.0, 0.0, 0.0, 15.0, 15.0]
    """
    name = '_contrib_Proposal'
    samples = (Sample({'scales': (2.0,), 'ratios': (1.0,), 'rpn_post_nms_top_n': 5,
                       'rpn_pre_nms_top_n': 20, 'rpn_min_size': 2},
                      {'cls_prob': (1, 2, 3, 4), 'bbox_pred': (1, 4, 3, 4), 'im_info': (1, 3)},
                      values={'im_info': lambda r, s: np.array([[48, 64, 1.0]]),
                              'cls_prob': _rpn_sample}),)

    def _rows(self, n):
        return self.rpn_post_nms_top_n

    def forward(self, xp, ins, outs, aux, is_train):
        if ins[0].shape[0] != 1:
            raise InferError('Proposal takes one image (batch size 1, as MXNet\'s); '
                             'MultiProposal takes a batch')
        self._proposals(xp, ins, outs, [0])


@register
class _contrib_MultiProposal(_ProposalBase):
    """``Proposal`` for every image of a batch: ``rpn_post_nms_top_n`` rows per image, each
    starting with its image's index."""
    name = '_contrib_MultiProposal'
    samples = (Sample({'scales': (2.0,), 'ratios': (1.0, 2.0), 'rpn_post_nms_top_n': 4,
                       'rpn_pre_nms_top_n': 30, 'rpn_min_size': 2, 'output_score': True},
                      {'cls_prob': (2, 4, 3, 4), 'bbox_pred': (2, 8, 3, 4), 'im_info': (2, 3)},
                      values={'im_info': lambda r, s: np.array([[48, 64, 1.0], [40, 50, 2.0]]),
                              'cls_prob': _rpn_sample}),)

    def _rows(self, n):
        return n * self.rpn_post_nms_top_n

    def forward(self, xp, ins, outs, aux, is_train):
        self._proposals(xp, ins, outs, range(ins[0].shape[0]))


# ---- box coding and matching (SSD / Faster R-CNN targets) ---------------------------------------

def _box_centers(xp, boxes):
    """(x, y, w, h) of corner boxes (x1, y1, x2, y2), sizes without the pixel-inclusive +1."""
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


class _NoGradient(Operator):
    retain_inputs = retain_outputs = ()
    zero_gradient = True

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        for g in igrads:
            if g is not None:
                g.fill(0)


@register
class _contrib_box_encode(_NoGradient):
    """Regression targets of matched anchors: for each anchor whose ``samples`` value is
    positive (> 0.5), its matched reference box ``refs[b, matches]`` relative to it,
    ``((rx - ax) / aw, (ry - ay) / ah, log(rw / aw), log(rh / ah))``, less ``means`` and over
    ``stds``; zero elsewhere.  Outputs ``(targets, masks)``, both (B, N, 4); boxes are
    corners.

    Example::

        >>> t, m = mx.nd.contrib.box_encode(mx.nd.array([[1]]), mx.nd.array([[0]]),
        ...     mx.nd.array([[[0, 0, 2, 2]]]), mx.nd.array([[[0, 0, 2, 4]]]),
        ...     mx.nd.zeros(4), mx.nd.ones(4))
        >>> t.asnumpy().astype(float).round(4).tolist()
        [[[0.0, 0.5, 0.0, 0.6931]]]
    """
    name = '_contrib_box_encode'
    arguments = ('samples', 'matches', 'anchors', 'refs', 'means', 'stds')
    nondiff = arguments
    outputs = ('output0', 'output1')
    samples = (Sample({}, {'samples': (1, 3), 'matches': (1, 3), 'anchors': (1, 3, 4),
                           'refs': (1, 2, 4), 'means': (4,), 'stds': (4,)},
                      values={'samples': lambda r, s: np.array([[1, 0, -1]]),
                              'matches': lambda r, s: np.array([[1, 0, 0]]),
                              'anchors': lambda r, s: np.array([[[0, 0, 2, 2], [1, 1, 3, 3],
                                                                 [0, 0, 1, 1]]]),
                              'refs': lambda r, s: np.array([[[0, 0, 2, 3], [1, 1, 4, 4]]]),
                              'stds': lambda r, s: np.array([.1, .1, .2, .2])}),)

    def infer_shape(self, in_shapes):
        anchors = in_shapes[2]
        return in_shapes, [anchors, anchors], []

    def forward(self, xp, ins, outs, aux, is_train):
        samples, matches, anchors, refs, means, stds = ins
        b = xp.arange(refs.shape[0]).reshape(-1, 1)
        ref = refs[b, xp.clip(matches.astype(np.int64), 0, refs.shape[1] - 1)]
        ax, ay, aw, ah = _box_centers(xp, anchors)
        rx, ry, rw, rh = _box_centers(xp, ref)
        pos = samples > 0.5
        safe_w, safe_h = xp.where(pos, aw, 1), xp.where(pos, ah, 1)
        with np.errstate(divide='ignore', invalid='ignore'):
            t = xp.stack([(rx - ax) / safe_w, (ry - ay) / safe_h,
                          xp.log(xp.where(pos, rw, 1) / safe_w),
                          xp.log(xp.where(pos, rh, 1) / safe_h)], axis=-1)
        t = (t - means) / stds
        mask = xp.broadcast_to(pos[..., None], t.shape)
        outs[0][...] = xp.where(mask, t, 0)
        outs[1][...] = mask


@register
class _contrib_box_decode(_NoGradient):
    """Boxes (corners) from regression ``data`` (B, N, 4) relative to ``anchors`` (1, N, 4,
    corners with ``format='corner'``, (x, y, w, h) with ``'center'``): centre
    ``d * std * size + anchor centre``, size ``exp(d * std) * anchor size`` (its exponent
    capped at ``clip`` when positive).

    Example::

        >>> mx.nd.contrib.box_decode(mx.nd.zeros((1, 1, 4)), mx.nd.array([[[0, 0, 4, 2]]]),
        ...                          format='corner').asnumpy().tolist()
        [[[0.0, 0.0, 4.0, 2.0]]]
    """
    name = '_contrib_box_decode'
    params = {'std0': Param('float', 1.0), 'std1': Param('float', 1.0),
              'std2': Param('float', 1.0), 'std3': Param('float', 1.0),
              'clip': Param('float', -1.0),
              'format': Param('str', 'center', choices={'center', 'corner'})}
    arguments = ('data', 'anchors')
    nondiff = arguments
    samples = (Sample({'format': 'corner', 'std0': 0.1, 'std2': 0.2},
                      {'data': (2, 3, 4), 'anchors': (1, 3, 4)},
                      values={'anchors': lambda r, s: np.array([[[10, 10, 20, 20], [0, 0, 4, 8],
                                                                 [1, 2, 3, 5]]])}),)

    def infer_shape(self, in_shapes):
        return in_shapes, [in_shapes[0]], []

    def forward(self, xp, ins, outs, aux, is_train):
        d, a = ins
        if self.format == 'corner':
            ax, ay, aw, ah = _box_centers(xp, a)
        else:
            ax, ay, aw, ah = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
        ox = d[..., 0] * self.std0 * aw + ax
        oy = d[..., 1] * self.std1 * ah + ay
        dw, dh = d[..., 2] * self.std2, d[..., 3] * self.std3
        if self.clip > 0:
            dw, dh = xp.minimum(dw, self.clip), xp.minimum(dh, self.clip)
        ow, oh = xp.exp(dw) * aw / 2, xp.exp(dh) * ah / 2
        outs[0][...] = xp.stack([ox - ow, oy - oh, ox + ow, oy + oh], axis=-1)


@register
class _contrib_bipartite_matching(_NoGradient):
    """Greedy bipartite matching of score matrices ``data`` (..., N, M): pairs are taken best
    first (highest, or lowest with ``is_ascend``) while both row and column are free and the
    score is not beyond ``threshold``; with ``topk`` > 0 it stops once more than ``topk`` are
    matched (so ``topk + 1`` at most, as MXNet's).  Outputs the column of each row and the
    row of each column, -1 where unmatched.

    Example::

        >>> rows, cols = mx.nd.contrib.bipartite_matching(
        ...     mx.nd.array([[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]]), threshold=1e-12)
        >>> rows.asnumpy().tolist(), cols.asnumpy().tolist()
        ([1.0, -1.0, 0.0], [2.0, 0.0])
    """
    name = '_contrib_bipartite_matching'
    params = {'is_ascend': Param('bool', False), 'threshold': Param('float'),
              'topk': Param('int', -1)}
    outputs = ('output0', 'output1')
    samples = (Sample({'threshold': 0.1}, {'data': (2, 3, 4)}),)

    def infer_shape(self, in_shapes):
        d = in_shapes[0]
        if d is None:
            return in_shapes, [None, None], []
        return in_shapes, [tuple(d[:-1]), tuple(d[:-2]) + (d[-1],)], []

    def forward(self, xp, ins, outs, aux, is_train):
        data = ins[0].get() if xp is not np else ins[0]
        n, m = data.shape[-2:]
        flat = data.reshape(-1, n, m)
        rows_out = np.full((flat.shape[0], n), -1.0)
        cols_out = np.full((flat.shape[0], m), -1.0)
        for k, scores in enumerate(flat):
            order = np.argsort(scores.reshape(-1) if self.is_ascend else -scores.reshape(-1),
                               kind='stable')
            taken = 0
            for pos in order:
                if 0 < self.topk < taken:      # (MXNet's count: topk + 1 matches at most)
                    break
                i, j = divmod(int(pos), m)
                s = scores[i, j]
                if (s > self.threshold) if self.is_ascend else (s < self.threshold):
                    break
                if rows_out[k, i] < 0 and cols_out[k, j] < 0:
                    rows_out[k, i], cols_out[k, j] = j, i
                    taken += 1
        outs[0][...] = xp.asarray(rows_out.reshape(outs[0].shape).astype(outs[0].dtype))
        outs[1][...] = xp.asarray(cols_out.reshape(outs[1].shape).astype(outs[1].dtype))
