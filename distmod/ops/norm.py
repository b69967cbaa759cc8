"""Normalisation and resizing layers: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, LRN,
L2Normalization, SoftmaxActivation, UpSampling, Pad and Crop, as MXNet 1.9.1 defines them.

Every normalisation here shares one backward: for ``xhat = (x - mean) * invstd`` taken over a
set of axes, ``dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``.
"""
from .registry import Operator, Param, Sample, InferError, register
from ._util import norm_axis


def _norm_backward(xp, dxhat, xhat, invstd, axes):
    """Gradient through ``xhat = (x - mean(x)) * invstd`` with batch statistics over ``axes``."""
    m1 = dxhat.mean(axis=axes, keepdims=True)
    m2 = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return invstd * (dxhat - m1 - xhat * m2)


def _moments(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    return mean, centred, var


class _Normalization(Operator):
    """Shared shape checks of the layers with ``data, gamma, beta``."""
    arguments = ('data', 'gamma', 'beta')
    retain_inputs = (0, 1)

    def _check_param(self, name, given, want, data):
        if given is not None and tuple(given) != tuple(want):
            raise InferError('%s must have shape %s for data of shape %s, got %s'
                             % (name, want, data, given))


@register
class BatchNorm(_Normalization):
    """Normalise each channel (``axis``) by the batch's mean and variance, then scale by
    ``gamma`` and shift by ``beta``.

    Training forward uses the batch statistics and folds them into the auxiliary states:
    ``moving = moving * momentum + batch * (1 - momentum)`` (the biased batch variance).
    Inference, or ``use_global_stats=True``, uses ``moving_mean``/``moving_var`` instead.
    ``fix_gamma=True`` treats gamma as 1 (its gradient is 0).  ``output_mean_var=True`` adds
    the outputs ``mean`` and ``var``; as in MXNet, ``var`` holds the inverse standard
    deviation ``1 / sqrt(var + eps)`` of the statistics used.

    MXNet's CPU build folds the batch statistics in during backward and writes 1 into a fixed
    gamma; here it happens in the training forward (as on MXNet's GPUs) and gamma is only read.

    Example::

        >>> x = mx.nd.array([[1, 2], [3, 6]])
        >>> mx.nd.BatchNorm(x, mx.nd.ones(2), mx.nd.zeros(2), mx.nd.zeros(2),
        ...                 mx.nd.ones(2), use_global_stats=True).asnumpy().round(3)
        array([[1.   , 1.999],
               [2.999, 5.997]], dtype=float32)
    """
    name = 'BatchNorm'
    params = {'eps': Param('float', 1e-3), 'momentum': Param('float', 0.9),
              'fix_gamma': Param('bool', True), 'use_global_stats': Param('bool', False),
              'output_mean_var': Param('bool', False), 'axis': Param('int', 1),
              'cudnn_off': Param('bool', False),
              'min_calib_range': Param('float_or_none', None),
              'max_calib_range': Param('float_or_none', None)}
    auxiliary = ('moving_mean', 'moving_var')
    outputs = ('output', 'mean', 'var')
    samples = (Sample({}, {'data': (4, 3)}),
               Sample({'fix_gamma': False}, {'data': (3, 2, 2)}),
               Sample({'fix_gamma': False, 'use_global_stats': True}, {'data': (2, 3, 2)}),
               Sample({'fix_gamma': True, 'use_global_stats': True, 'output_mean_var': True},
                      {'data': (2, 2, 2)}),
               Sample({'fix_gamma': False}, {'data': (2, 3, 2)}, is_train=False),
               Sample({'fix_gamma': False, 'axis': -1, 'eps': 1e-4}, {'data': (3, 2, 2)}),
               Sample({'fix_gamma': False, 'axis': 0, 'momentum': 0.5}, {'data': (2, 3)}))

    def list_outputs(self):
        return ['output', 'mean', 'var'] if self.output_mean_var else ['output']

    def infer_shape(self, in_shapes):
        data = in_shapes[0]
        nout = self.output_count()
        if data is None:
            c = next((s for s in in_shapes[1:] if s is not None), None)
            return in_shapes, [None] + [c] * (nout - 1), [c, c] if c else []
        if len(data) < 1 or not -len(data) <= self.axis < len(data):
            raise InferError('channel axis %d is out of range for data of shape %s'
                             % (self.axis, data))
        c = (data[norm_axis(self.axis, len(data))],)
        self._check_param('gamma', in_shapes[1], c, data)
        self._check_param('beta', in_shapes[2], c, data)
        return [data, c, c], [data] + [c] * (nout - 1), [c, c]

    def infer_type(self, in_types):
        t = in_types[0] or next((x for x in in_types if x is not None), None)
        # as in MXNet, half-precision data keeps its statistics and parameters in float32
        p = 'float32' if t == 'float16' else (in_types[1] or t)
        return [t, p, p], [t] + [p] * (self.output_count() - 1), [p, p]

    def _layout(self, x):
        a = norm_axis(self.axis, x.ndim)
        axes = tuple(i for i in range(x.ndim) if i != a)
        shape = tuple(x.shape[a] if i == a else 1 for i in range(x.ndim))
        return axes, shape

    def _scratch(self, xp, x):
        """A buffer like ``x``, kept between calls (the executor repeats the same shapes)."""
        buf = getattr(self, '_buf', None)
        if buf is None or buf.shape != x.shape or buf.dtype != x.dtype:
            buf = self._buf = xp.empty_like(x)
        return buf

    def forward(self, xp, ins, outs, aux, is_train):
        x, gamma, beta = ins
        axes, shape = self._layout(x)
        self._batch = is_train and not self.use_global_stats
        out = outs[0]
        if self._batch:
            mean = x.mean(axis=axes)
            xp.subtract(x, mean.reshape(shape), out=out)            # centred, in place
            sq = self._scratch(xp, x)
            xp.multiply(out, out, out=sq)
            var = sq.mean(axis=axes)
            invstd = 1.0 / xp.sqrt(var + self.eps)
            m = self.momentum
            aux[0] *= m
            aux[0] += (1 - m) * mean.astype(aux[0].dtype, copy=False)
            aux[1] *= m
            aux[1] += (1 - m) * var.astype(aux[1].dtype, copy=False)
        else:
            mean = aux[0]
            invstd = 1.0 / xp.sqrt(aux[1] + self.eps)
            xp.subtract(x, mean.reshape(shape), out=out)
        self._mean, self._invstd = mean, invstd
        scale = invstd if self.fix_gamma else invstd * gamma
        out *= scale.reshape(shape)
        out += beta.reshape(shape)
        if self.output_mean_var:
            outs[1][...] = mean
            outs[2][...] = invstd

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, gamma, _ = ins
        axes, shape = self._layout(x)
        g = ograds[0]
        dx = igrads[0]
        invstd = self._invstd
        if igrads[2] is not None:
            igrads[2][...] = g.sum(axis=axes)
        need_gx = igrads[1] is not None and not self.fix_gamma or dx is not None and self._batch
        if need_gx:
            xhat = self._scratch(xp, x)
            xp.subtract(x, self._mean.reshape(shape), out=xhat)
            xhat *= invstd.reshape(shape)
            tmp = dx if dx is not None else xhat
            xp.multiply(g, xhat, out=tmp)
            sum_gx = tmp.sum(axis=axes)
        if igrads[1] is not None:
            if self.fix_gamma:
                igrads[1][...] = 0
            else:
                igrads[1][...] = sum_gx
        if dx is None:
            return
        k = invstd if self.fix_gamma else invstd * gamma
        if self._batch:
            # dx = k * (g - mean(g) - xhat * mean(g * xhat)), means per channel
            n = x.size // k.size
            sum_g = igrads[2] if igrads[2] is not None else g.sum(axis=axes)
            xp.multiply(xhat, (sum_gx / n).reshape(shape), out=dx)
            xp.subtract(g, dx, out=dx)
            dx -= (sum_g / n).reshape(shape)
            dx *= k.reshape(shape)
        else:
            xp.multiply(g, k.reshape(shape), out=dx)


@register
class InstanceNorm(_Normalization):
    """Normalise each (instance, channel) over its spatial axes, then ``gamma * . + beta``
    per channel.  Data is (batch, channel, spatial...) with at least one spatial axis.

    Example::

        >>> x = mx.nd.array([[[1, 3], [2, 2]]])
        >>> mx.nd.InstanceNorm(x, mx.nd.ones(2), mx.nd.zeros(2)).asnumpy().round(3)
        array([[[-1.,  1.],
                [ 0.,  0.]]], dtype=float32)
    """
    name = 'InstanceNorm'
    params = {'eps': Param('float', 1e-3)}
    samples = (Sample({}, {'data': (2, 3, 3)}), Sample({'eps': 0.1}, {'data': (1, 2, 2, 2)}))

    def infer_shape(self, in_shapes):
        data = in_shapes[0]
        if data is None:
            return in_shapes, [None], []
        if len(data) < 3:
            raise InferError('data must be (batch, channel, spatial...) with 3 or more '
                             'dimensions, got shape %s' % (data,))
        c = (data[1],)
        self._check_param('gamma', in_shapes[1], c, data)
        self._check_param('beta', in_shapes[2], c, data)
        return [data, c, c], [data], []

    def _layout(self, x):
        return tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)

    def forward(self, xp, ins, outs, aux, is_train):
        x, gamma, beta = ins
        axes, shape = self._layout(x)
        _, centred, var = _moments(x, axes)
        xp.multiply(centred, gamma.reshape(shape) / xp.sqrt(var + self.eps), out=outs[0])
        outs[0] += beta.reshape(shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, gamma, _ = ins
        axes, shape = self._layout(x)
        _, centred, var = _moments(x, axes)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        xhat = centred * invstd
        g = ograds[0]
        red = (0,) + axes
        if igrads[1] is not None:
            igrads[1][...] = (g * xhat).sum(axis=red)
        if igrads[2] is not None:
            igrads[2][...] = g.sum(axis=red)
        if igrads[0] is not None:
            igrads[0][...] = _norm_backward(xp, g * gamma.reshape(shape), xhat, invstd, axes)


@register
class LayerNorm(_Normalization):
    """Normalise along ``axis``, then ``gamma * . + beta`` with gamma and beta along that axis.

    ``output_mean_var=True`` adds the outputs ``mean`` and ``std`` (= sqrt(var + eps)), shaped
    like data with ``axis`` reduced to 1.  As in MXNet, their head gradients are not propagated.

    Example::

        >>> mx.nd.LayerNorm(mx.nd.array([[1, 3]]), mx.nd.ones(2), mx.nd.zeros(2)).asnumpy()
        array([[-0.999995,  0.999995]], dtype=float32)
    """
    name = 'LayerNorm'
    params = {'axis': Param('int', -1), 'eps': Param('float', 1e-5),
              'output_mean_var': Param('bool', False)}
    outputs = ('output', 'mean', 'std')
    samples = (Sample({}, {'data': (2, 3, 4)}), Sample({'axis': 0, 'eps': 0.01}, {'data': (3, 2)}))

    def list_outputs(self):
        return ['output', 'mean', 'std'] if self.output_mean_var else ['output']

    def infer_shape(self, in_shapes):
        data = in_shapes[0]
        nout = self.output_count()
        if data is None:
            return in_shapes, [None] * nout, []
        if not -len(data) <= self.axis < len(data):
            raise InferError('axis %d is out of range for data of shape %s' % (self.axis, data))
        a = norm_axis(self.axis, len(data))
        c = (data[a],)
        self._check_param('gamma', in_shapes[1], c, data)
        self._check_param('beta', in_shapes[2], c, data)
        red = tuple(1 if i == a else d for i, d in enumerate(data))
        return [data, c, c], [data] + [red] * (nout - 1), []

    def _layout(self, x):
        a = norm_axis(self.axis, x.ndim)
        return a, tuple(x.shape[a] if i == a else 1 for i in range(x.ndim))

    def forward(self, xp, ins, outs, aux, is_train):
        x, gamma, beta = ins
        a, shape = self._layout(x)
        mean, centred, var = _moments(x, a)
        std = xp.sqrt(var + self.eps)
        xp.multiply(centred / std, gamma.reshape(shape), out=outs[0])
        outs[0] += beta.reshape(shape)
        if self.output_mean_var:
            outs[1][...] = mean
            outs[2][...] = std

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, gamma, _ = ins
        a, shape = self._layout(x)
        _, centred, var = _moments(x, a)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        xhat = centred * invstd
        g = ograds[0]
        red = tuple(i for i in range(x.ndim) if i != a)
        if igrads[1] is not None:
            igrads[1][...] = (g * xhat).sum(axis=red)
        if igrads[2] is not None:
            igrads[2][...] = g.sum(axis=red)
        if igrads[0] is not None:
            igrads[0][...] = _norm_backward(xp, g * gamma.reshape(shape), xhat, invstd, a)


@register
class GroupNorm(_Normalization):
    """Split the channels into ``num_groups`` groups and normalise each (instance, group).

    As in MXNet 1.9.1, ``gamma`` and ``beta`` hold one value per *group* (shape
    ``(num_groups,)``).  ``output_mean_var=True`` adds ``mean`` and ``std`` of shape
    (batch, num_groups); their head gradients are not propagated.

    Example::

        >>> x = mx.nd.array([[[1.], [3.], [5.], [5.]]])
        >>> mx.nd.GroupNorm(x, mx.nd.ones(2), mx.nd.zeros(2), num_groups=2).asnumpy()[0, :, 0]
        array([-0.999995,  0.999995,  0.      ,  0.      ], dtype=float32)
    """
    name = 'GroupNorm'
    params = {'num_groups': Param('int', 1), 'eps': Param('float', 1e-5),
              'output_mean_var': Param('bool', False)}
    outputs = ('output', 'mean', 'std')
    samples = (Sample({'num_groups': 2}, {'data': (2, 4, 3)}),
               Sample({'eps': 0.01}, {'data': (1, 2, 2, 2)}))

    def setup(self):
        if self.num_groups < 1:
            raise InferError('GroupNorm needs num_groups >= 1, got %d' % self.num_groups)

    def list_outputs(self):
        return ['output', 'mean', 'std'] if self.output_mean_var else ['output']

    def infer_shape(self, in_shapes):
        data = in_shapes[0]
        nout = self.output_count()
        g = (self.num_groups,)
        if data is None:
            return [None, g, g], [None] * nout, []
        if len(data) < 3:
            raise InferError('data must be (batch, channel, spatial...) with 3 or more '
                             'dimensions, got shape %s' % (data,))
        if data[1] % self.num_groups:
            raise InferError('the %d channels of data %s cannot be split into num_groups=%d '
                             'groups' % (data[1], data, self.num_groups))
        self._check_param('gamma', in_shapes[1], g, data)
        self._check_param('beta', in_shapes[2], g, data)
        return [data, g, g], [data] + [(data[0], self.num_groups)] * (nout - 1), []

    def _grouped(self, x):
        return x.reshape(x.shape[0], self.num_groups, -1)

    def forward(self, xp, ins, outs, aux, is_train):
        x, gamma, beta = ins
        xg = self._grouped(x)
        mean, centred, var = _moments(xg, 2)
        std = xp.sqrt(var + self.eps)
        y = centred / std * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)
        outs[0][...] = y.reshape(x.shape)
        if self.output_mean_var:
            outs[1][...] = mean.reshape(outs[1].shape)
            outs[2][...] = std.reshape(outs[2].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, gamma, _ = ins
        xg = self._grouped(x)
        _, centred, var = _moments(xg, 2)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        xhat = centred * invstd
        g = self._grouped(ograds[0])
        if igrads[1] is not None:
            igrads[1][...] = (g * xhat).sum(axis=(0, 2))
        if igrads[2] is not None:
            igrads[2][...] = g.sum(axis=(0, 2))
        if igrads[0] is not None:
            dx = _norm_backward(xp, g * gamma.reshape(1, -1, 1), xhat, invstd, 2)
            igrads[0][...] = dx.reshape(x.shape)


def _window_sum(xp, v, lo, hi):
    """``out[:, i] = sum(v[:, i - lo : i + hi + 1])`` along axis 1, clipped at the edges."""
    c = v.shape[1]
    pad = [(0, 0)] * v.ndim
    pad[1] = (lo + 1, hi)
    cs = xp.cumsum(xp.pad(v, pad), axis=1)
    return cs[:, lo + 1 + hi:lo + 1 + hi + c] - cs[:, :c]


@register
class LRN(Operator):
    """Local response normalisation across channels:
    ``out = x / (knorm + alpha / nsize * sum_{window} x^2) ** beta``, the window being the
    channels within (nsize - 1) // 2 of each one (clipped at the edges).

    Example::

        >>> y = mx.nd.LRN(mx.nd.ones((1, 3, 1, 1)), nsize=3, alpha=3, knorm=1, beta=1)
        >>> y.asnumpy()[0, :, 0, 0]
        array([0.33333334, 0.25      , 0.33333334], dtype=float32)
    """
    name = 'LRN'
    params = {'alpha': Param('float', 1e-4), 'beta': Param('float', 0.75),
              'knorm': Param('float', 2.0), 'nsize': Param('int')}
    retain_inputs = (0,)
    retain_outputs = (0,)
    samples = (Sample({'nsize': 3, 'alpha': 0.5}, {'data': (2, 4, 2)}),
               Sample({'nsize': 4, 'alpha': 0.3, 'beta': 0.6, 'knorm': 1.5},
                      {'data': (1, 5, 2, 2)}))

    def setup(self):
        if self.nsize < 1:
            raise InferError('LRN needs nsize >= 1, got %d' % self.nsize)
        # the window is channels [i - (nsize-1)//2, i + (nsize-1)//2]: for an even nsize that is
        # nsize - 1 channels, as in MXNet's default (oneDNN) CPU build; its plain kernel
        # refuses an even nsize
        self._lo = self._hi = (self.nsize - 1) // 2

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is not None and len(s) < 2:
            raise InferError('data must have a channel axis (at least 2 dimensions), got '
                             'shape %s' % (s,))
        return [s], [s], []

    def _norm(self, xp, x):
        return self.knorm + (self.alpha / self.nsize) * _window_sum(xp, x * x, self._lo, self._hi)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        xp.multiply(x, self._norm(xp, x) ** -self.beta, out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        x, y, g = ins[0], outs[0], ograds[0]
        n = self._norm(xp, x)
        # d out_i / d x_j = [i==j] n_i^-b - 2 b alpha/nsize x_i x_j n_i^(-b-1), j in window(i);
        # summing over i is the mirrored window over j
        t = _window_sum(xp, g * y / n, self._hi, self._lo)
        igrads[0][...] = g * n ** -self.beta - (2 * self.beta * self.alpha / self.nsize) * x * t


@register
class L2Normalization(Operator):
    """``out = x / sqrt(sum(x^2) + eps)``, the sum taken per instance (every axis but the
    first), per channel (axis 1, for each position) or per spatial map (axes 2...).

    Example::

        >>> mx.nd.L2Normalization(mx.nd.array([[3, 4]])).asnumpy()
        array([[0.6, 0.8]], dtype=float32)
    """
    name = 'L2Normalization'
    params = {'eps': Param('float', 1e-10),
              'mode': Param('str', 'instance', choices={'instance', 'channel', 'spatial'})}
    retain_outputs = (0,)
    retain_inputs = (0,)
    samples = (Sample({}, {'data': (2, 3, 2)}), Sample({'mode': 'channel'}, {'data': (2, 3, 2)}),
               Sample({'mode': 'spatial', 'eps': 0.1}, {'data': (2, 2, 2, 2)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is not None and self.mode != 'instance' and len(s) < 3:
            raise InferError('mode=%r needs data with 3 or more dimensions, got shape %s'
                             % (self.mode, s))
        return [s], [s], []

    def _axes(self, ndim):
        if self.mode == 'instance':
            return tuple(range(1, ndim))
        if self.mode == 'channel':
            return (1,)
        return tuple(range(2, ndim))

    def _norm(self, xp, x):
        return xp.sqrt((x * x).sum(axis=self._axes(x.ndim), keepdims=True) + self.eps)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        if x.ndim == 1:          # MXNet treats each element as its own instance
            outs[0][...] = x / xp.sqrt(x * x + self.eps)
            return
        xp.divide(x, self._norm(xp, x), out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        x, y, g = ins[0], outs[0], ograds[0]
        if x.ndim == 1:
            n = xp.sqrt(x * x + self.eps)
            igrads[0][...] = (g - y * g * y) / n
            return
        axes = self._axes(x.ndim)
        igrads[0][...] = (g - y * (g * y).sum(axis=axes, keepdims=True)) / self._norm(xp, x)


@register
class SoftmaxActivation(Operator):
    """Softmax per instance or, with ``mode='channel'``, across channels (axis 1) at each
    position.  As in MXNet, ``instance`` mode flattens data to 2-D keeping the last axis, so
    for data of more than 2 dimensions it is a softmax along the last axis (MXNet 1.9.1's
    backward then differentiates a softmax along axis 1 instead; distmod differentiates the
    forward it computes).  Deprecated in MXNet in favour of ``softmax``.

    Example::

        >>> mx.nd.SoftmaxActivation(mx.nd.array([[0, 0]])).asnumpy()
        array([[0.5, 0.5]], dtype=float32)
    """
    name = 'SoftmaxActivation'
    params = {'mode': Param('str', 'instance', choices={'instance', 'channel'})}
    retain_outputs = (0,)
    samples = (Sample({}, {'data': (2, 3, 2)}), Sample({'mode': 'channel'}, {'data': (2, 3, 2)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is not None and self.mode == 'channel' and len(s) < 2:
            raise InferError("mode='channel' needs data with a channel axis, got shape %s"
                             % (s,))
        return [s], [s], []

    def _view(self, a):
        return a.reshape(-1, a.shape[-1]) if self.mode == 'instance' else a

    def forward(self, xp, ins, outs, aux, is_train):
        x, out = self._view(ins[0]), self._view(outs[0])
        xp.subtract(x, x.max(axis=1, keepdims=True), out=out)
        xp.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        y, g = self._view(outs[0]), self._view(ograds[0])
        gy = g * y
        self._view(igrads[0])[...] = gy - y * gy.sum(axis=1, keepdims=True)


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
    retain_inputs = (0, 1)
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
