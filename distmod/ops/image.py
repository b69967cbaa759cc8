"""Resizing the spatial axes of (batch, channel, spatial...) images: UpSampling, Pad and Crop,
as MXNet 1.9.1 defines them."""
from .registry import Operator, Param, Sample, InferError, register


def _bilinear_kernel(scale):
    # kernel 2s - s%2, padding ceil((s - 1) / 2): the output is exactly s times the input
    return 2 * scale - scale % 2, scale // 2


@register
class UpSampling(Operator):
    """Enlarge (batch, channel, y, x) inputs by an integer ``scale``.

    ``sample_type='nearest'``: each of the ``num_args`` inputs is repeated up to
    (scale * h0, scale * w0) of the first; ``multi_input_mode`` ``concat`` joins them along
    the channels, ``sum`` adds them.  ``sample_type='bilinear'``: ``data`` and a ``weight`` of
    shape (channels, 1, k, k), k = 2 * scale - scale % 2, make a per-channel transposed
    convolution with stride ``scale`` and padding ceil((scale - 1) / 2) (initialise the weight
    with ``mx.init.Bilinear`` for true bilinear interpolation); ``num_filter`` must equal the
    channel count.

    Example::

        >>> mx.nd.UpSampling(mx.nd.array([[[[1, 2]]]]), scale=2, sample_type='nearest').asnumpy()
        array([[[[1., 1., 2., 2.],
                 [1., 1., 2., 2.]]]], dtype=float32)
    """
    name = 'UpSampling'
    params = {'scale': Param('int'), 'num_filter': Param('int', 0),
              'sample_type': Param('str', choices={'nearest', 'bilinear'}),
              'multi_input_mode': Param('str', 'concat', choices={'concat', 'sum'}),
              'num_args': Param('int', 1), 'workspace': Param('int', 512)}
    arguments = ('data', 'weight')       # bilinear; nearest takes arg0, arg1, ...
    variadic = True
    key_var_num_args = 'num_args'
    samples = (Sample({'scale': 2, 'sample_type': 'nearest'}, {'arg0': (1, 2, 2, 3)}),
               Sample({'scale': 2, 'sample_type': 'nearest', 'num_args': 2},
                      {'arg0': (1, 2, 2, 2), 'arg1': (1, 1, 1, 2)}),
               Sample({'scale': 3, 'sample_type': 'nearest', 'num_args': 2,
                       'multi_input_mode': 'sum'}, {'arg0': (1, 1, 1, 2), 'arg1': (1, 1, 3, 6)}),
               Sample({'scale': 2, 'sample_type': 'bilinear', 'num_filter': 2},
                      {'data': (1, 2, 2, 3)}),
               Sample({'scale': 3, 'sample_type': 'bilinear', 'num_filter': 1},
                      {'data': (2, 1, 2, 2)}))

    def setup(self):
        if self.scale < 1:
            raise InferError('UpSampling needs scale >= 1, got %d' % self.scale)
        if self.num_args < 1:
            raise InferError('UpSampling needs num_args >= 1, got %d' % self.num_args)
        self._k, self._pad = _bilinear_kernel(self.scale)
        # nearest backward only sums blocks of the head gradient; bilinear is a convolution
        self.retain_inputs = (0, 1) if self.sample_type == 'bilinear' else ()
        self.retain_outputs = ()

    def list_arguments(self):
        if self.sample_type == 'bilinear':
            return ['data', 'weight']
        return ['arg%d' % i for i in range(self.num_args)]

    def infer_shape(self, in_shapes):
        names = self.list_arguments()
        for n, s in zip(names, in_shapes):
            if s is not None and len(s) != 4 and n != 'weight':
                raise InferError('input %s must be 4-D (batch, channel, y, x), got shape %s'
                                 % (n, s))
        first = in_shapes[0]
        if self.sample_type == 'bilinear':
            if first is None:
                return in_shapes, [None], []
            c = first[1]
            if self.num_filter != c:
                raise InferError('bilinear upsampling needs num_filter equal to the channels '
                                 'of data; got num_filter=%d for data of shape %s'
                                 % (self.num_filter, first))
            w = (c, 1, self._k, self._k)
            if in_shapes[1] is not None and tuple(in_shapes[1]) != w:
                raise InferError('weight must have shape %s for data of shape %s and scale %d, '
                                 'got %s' % (w, first, self.scale, in_shapes[1]))
            return [first, w], [(first[0], c, first[2] * self.scale,
                                 first[3] * self.scale)], []
        if first is None:
            return in_shapes, [None], []
        oh, ow = first[2] * self.scale, first[3] * self.scale
        channels = 0
        for n, s in zip(names, in_shapes):
            if s is None:
                continue
            if s[0] != first[0]:
                raise InferError('input %s of shape %s has a batch size other than %s of '
                                 'shape %s' % (n, s, names[0], first))
            if oh % s[2] or ow % s[3]:
                raise InferError('input %s of shape %s does not divide the output size '
                                 '(%d, %d) evenly' % (n, s, oh, ow))
            if self.multi_input_mode == 'sum' and s[1] != first[1]:
                raise InferError("multi_input_mode='sum' needs inputs with the same number of "
                                 "channels; %s has shape %s, %s has %s"
                                 % (names[0], first, n, s))
            channels += s[1]
        if any(s is None for s in in_shapes):
            return in_shapes, [None], []
        c = first[1] if self.multi_input_mode == 'sum' else channels
        return in_shapes, [(first[0], c, oh, ow)], []

    # ---- nearest --------------------------------------------------------------------------
    @staticmethod
    def _blocks(out, x):
        """``out`` as (n, c, h, sh, w, sw) over the input ``x`` it repeats."""
        n, c, h, w = x.shape
        return out.reshape(n, c, h, out.shape[2] // h, w, out.shape[3] // w)

    def _slots(self, ins, out):
        start = 0
        for x in ins:
            if self.multi_input_mode == 'sum':
                yield x, out
            else:
                yield x, out[:, start:start + x.shape[1]]
                start += x.shape[1]

    def forward(self, xp, ins, outs, aux, is_train):
        if self.sample_type == 'bilinear':
            return self._bilinear_forward(xp, ins[0], ins[1], outs[0])
        out = outs[0]
        if self.multi_input_mode == 'sum':
            out.fill(0)
        for x, part in self._slots(ins, out):
            view = part if part.flags.c_contiguous else xp.empty_like(part)
            if self.multi_input_mode == 'sum':
                self._blocks(view, x)[...] += x[:, :, :, None, :, None]
            else:
                self._blocks(view, x)[...] = x[:, :, :, None, :, None]
            if view is not part:
                part[...] = view

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if self.sample_type == 'bilinear':
            return self._bilinear_backward(xp, ograds[0], ins[0], ins[1], igrads)
        for (x, part), dx in zip(self._slots(ins, ograds[0]), igrads):
            if dx is not None:
                self._blocks(xp.ascontiguousarray(part), x).sum(axis=(3, 5), out=dx)

    # ---- bilinear: a depthwise transposed convolution ---------------------------------
    def _bilinear_forward(self, xp, x, w, out):
        s, k, p = self.scale, self._k, self._pad
        n, c, h, wd = x.shape
        full = xp.zeros((n, c, (h - 1) * s + k, (wd - 1) * s + k), dtype=out.dtype)
        for i in range(k):
            for j in range(k):
                full[:, :, i:i + (h - 1) * s + 1:s, j:j + (wd - 1) * s + 1:s] += \
                    x * w[:, 0, i, j].reshape(1, c, 1, 1)
        out[...] = full[:, :, p:p + out.shape[2], p:p + out.shape[3]]

    def _bilinear_backward(self, xp, g, x, w, igrads):
        s, k, p = self.scale, self._k, self._pad
        n, c, h, wd = x.shape
        full = xp.zeros((n, c, (h - 1) * s + k, (wd - 1) * s + k), dtype=g.dtype)
        full[:, :, p:p + g.shape[2], p:p + g.shape[3]] = g
        dx = xp.zeros(x.shape, dtype=x.dtype) if igrads[0] is not None else None
        dw = igrads[1]
        for i in range(k):
            for j in range(k):
                gij = full[:, :, i:i + (h - 1) * s + 1:s, j:j + (wd - 1) * s + 1:s]
                if dx is not None:
                    dx += gij * w[:, 0, i, j].reshape(1, c, 1, 1)
                if dw is not None:
                    dw[:, 0, i, j] = (gij * x).sum(axis=(0, 2, 3))
        if dx is not None:
            igrads[0][...] = dx


@register
class Pad(Operator):
    """Pad the spatial axes of a 4-D or 5-D array; ``pad_width`` is (before, after) for every
    axis, flattened, with zeros for the first two.  ``mode``: ``constant`` (with
    ``constant_value``), ``edge`` (repeat the border) or ``reflect`` (mirror, not repeating
    the border; each pad smaller than its axis).

    Example::

        >>> mx.nd.Pad(mx.nd.ones((1, 1, 1, 2)), mode='constant', pad_width=(0, 0, 0, 0, 0, 1, 1, 0),
        ...           constant_value=5).asnumpy()
        array([[[[5., 1., 1.],
                 [5., 5., 5.]]]], dtype=float32)
    """
    name = 'Pad'
    aliases = ('pad',)
    params = {'mode': Param('str', choices={'constant', 'edge', 'reflect'}),
              'pad_width': Param('shape'), 'constant_value': Param('float', 0.0)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'mode': 'constant', 'pad_width': (0, 0, 0, 0, 1, 0, 0, 2),
                       'constant_value': 2.0}, {'data': (1, 2, 2, 2)}),
               Sample({'mode': 'edge', 'pad_width': (0, 0, 0, 0, 2, 1, 1, 0)},
                      {'data': (1, 1, 2, 3)}),
               Sample({'mode': 'reflect', 'pad_width': (0, 0, 0, 0, 1, 2, 2, 1)},
                      {'data': (1, 1, 3, 3)}),
               Sample({'mode': 'reflect', 'pad_width': (0, 0, 0, 0, 1, 0, 0, 1, 1, 1)},
                      {'data': (1, 1, 2, 2, 2)}))

    def _pairs(self, ndim):
        pw = tuple(self.pad_width or ())
        return [(pw[2 * i], pw[2 * i + 1]) for i in range(ndim)]

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        if len(s) not in (4, 5):
            raise InferError('only 4-D and 5-D data can be padded, got shape %s' % (s,))
        pw = tuple(self.pad_width or ())
        if len(pw) != 2 * len(s):
            raise InferError('pad_width %s must hold 2 values per axis of data of shape %s '
                             '(%d values)' % (pw, s, 2 * len(s)))
        pairs = self._pairs(len(s))
        if any(pairs[0]) or any(pairs[1]):
            raise InferError('pad_width %s pads the first two axes of data of shape %s; only '
                             'the spatial axes can be padded' % (pw, s))
        if any(v < 0 for v in pw):
            raise InferError('pad_width %s holds a negative width' % (pw,))
        if self.mode == 'reflect' and any(b >= d or a >= d for (b, a), d in zip(pairs, s)):
            raise InferError('reflect padding needs every pad smaller than its axis; '
                             'pad_width %s, data of shape %s' % (pw, s))
        return [s], [tuple(d + b + a for d, (b, a) in zip(s, pairs))], []

    def forward(self, xp, ins, outs, aux, is_train):
        pairs = self._pairs(ins[0].ndim)
        if self.mode == 'constant':
            outs[0][...] = xp.pad(ins[0], pairs, mode='constant',
                                  constant_values=self.constant_value)
        else:
            outs[0][...] = xp.pad(ins[0], pairs, mode=self.mode)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        g = ograds[0]
        for axis, (b, a) in enumerate(self._pairs(g.ndim)):
            if not b and not a:
                continue
            n = g.shape[axis] - b - a
            g = xp.moveaxis(g, axis, 0)
            res = g[b:b + n].copy()
            if self.mode == 'edge':
                res[0] += g[:b].sum(axis=0)
                res[n - 1] += g[b + n:].sum(axis=0)
            elif self.mode == 'reflect':
                res[1:b + 1] += g[:b][::-1]
                res[n - 1 - a:n - 1] += g[b + n:][::-1]
            g = xp.moveaxis(res, 0, axis)
        igrads[0][...] = g


@register
class Crop(Operator):
    """Cut a (height, width) window out of 4-D data: of size ``h_w`` (one input) or of the
    spatial size of a second input (``crop_like``, which gets a zero gradient), at ``offset``
    (y, x) or, with ``center_crop=True``, centred.

    Example::

        >>> x = mx.nd.array([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]])
        >>> mx.nd.Crop(x, h_w=(2, 2), offset=(1, 1)).asnumpy()
        array([[[[5., 6.],
                 [8., 9.]]]], dtype=float32)
    """
    name = 'Crop'
    params = {'num_args': Param('int'), 'offset': Param('shape', (0, 0)),
              'h_w': Param('shape', (0, 0)), 'center_crop': Param('bool', False)}
    variadic = True
    key_var_num_args = 'num_args'
    retain_inputs = retain_outputs = ()
    samples = (Sample({'num_args': 1, 'h_w': (2, 2), 'offset': (1, 0)}, {'arg0': (1, 2, 3, 3)}),
               Sample({'num_args': 1, 'h_w': (1, 2), 'center_crop': True},
                      {'arg0': (2, 1, 4, 4)}),
               Sample({'num_args': 2, 'offset': (0, 1)},
                      {'arg0': (1, 1, 3, 4), 'arg1': (1, 1, 2, 2)}))

    def setup(self):
        if self.num_args not in (1, 2):
            raise InferError('Crop takes 1 or 2 inputs (num_args), got %d' % self.num_args)
        if len(self.offset or ()) != 2 or len(self.h_w or ()) != 2:
            raise InferError('Crop needs offset and h_w as (y, x) pairs, got offset=%s h_w=%s'
                             % (self.offset, self.h_w))

    def _window(self, data, like):
        h, w = (like[2], like[3]) if like is not None else self.h_w
        if self.center_crop:
            y, x = (data[2] - h) // 2, (data[3] - w) // 2
        else:
            y, x = self.offset
        return y, x, h, w

    def infer_shape(self, in_shapes):
        names = self.list_arguments()
        for n, s in zip(names, in_shapes):
            if s is not None and len(s) != 4:
                raise InferError('input %s must be 4-D (batch, channel, y, x), got shape %s'
                                 % (n, s))
        data = in_shapes[0]
        like = in_shapes[1] if self.num_args == 2 else None
        if data is None or (self.num_args == 2 and like is None):
            return in_shapes, [None], []
        if self.num_args == 1 and (self.h_w[0] < 1 or self.h_w[1] < 1):
            raise InferError('h_w %s must give a crop height and width of at least 1'
                             % (self.h_w,))
        y, x, h, w = self._window(data, like)
        if y < 0 or x < 0 or y + h > data[2] or x + w > data[3]:
            raise InferError('a (%d, %d) window at offset (%d, %d) does not fit in data of '
                             'shape %s' % (h, w, y, x, data))
        return in_shapes, [(data[0], data[1], h, w)], []

    def _index(self, ins):
        y, x, h, w = self._window(ins[0].shape, ins[1].shape if self.num_args == 2 else None)
        return (slice(None), slice(None), slice(y, y + h), slice(x, x + w))

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0][self._index(ins)]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)
            igrads[0][self._index(ins)] = ograds[0]
        if len(igrads) > 1 and igrads[1] is not None:
            igrads[1].fill(0)
