"""Normalisation layers: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, LRN and
L2Normalization, as MXNet 1.9.1 defines them.

InstanceNorm, LayerNorm and GroupNorm share one backward: for ``xhat = (x - mean) * invstd``
taken over a set of axes, ``dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``
(BatchNorm computes the same in place, from the statistics its forward keeps).
"""
import numpy as np

from .. import _native
from .registry import Operator, Param, Sample, InferError, register
from ._util import norm_axis, prod


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
    """Shared by the layers with ``data, gamma, beta``: shape checks and the backward of
    ``gamma * (x - mean) / sqrt(var + eps) + beta``."""
    arguments = ('data', 'gamma', 'beta')
    retain_inputs = (0, 1)
    retain_outputs = ()

    def list_outputs(self):
        # ``outputs`` names the statistics that ``output_mean_var=True`` adds
        return list(self.outputs) if getattr(self, 'output_mean_var', False) else ['output']

    def _check_param(self, name, given, want, data):
        if given is not None and tuple(given) != tuple(want):
            raise InferError('%s must have shape %s for data of shape %s, got %s'
                             % (name, want, data, given))

    def _affine_backward(self, xp, x, gamma, g, igrads, axes, red):
        """Gradients with the statistics recomputed over ``axes`` of ``x`` and the parameter
        gradients summed over ``red``; ``x``, ``gamma`` and the head gradient ``g`` come
        reshaped so that they broadcast together (``igrads[0]`` gets the data's shape back)."""
        _, centred, var = _moments(x, axes)
        invstd = 1.0 / xp.sqrt(var + self.eps)
        xhat = centred * invstd
        if igrads[1] is not None:
            igrads[1][...] = (g * xhat).sum(axis=red)
        if igrads[2] is not None:
            igrads[2][...] = g.sum(axis=red)
        if igrads[0] is not None:
            dx = _norm_backward(xp, g * gamma, xhat, invstd, axes)
            igrads[0][...] = dx.reshape(igrads[0].shape)


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
    aliases = ('BatchNorm_v1',)      # MXNet's first version, in old checkpoints' JSON
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
               Sample({'fix_gamma': False, 'axis': 0, 'momentum': 0.5}, {'data': (2, 3)}),
               # eight values or more per (batch, channel): the per-channel GEMM reductions
               Sample({'fix_gamma': False}, {'data': (2, 3, 3, 3)}),
               Sample({}, {'data': (3, 2, 8)}),
               Sample({'fix_gamma': False, 'use_global_stats': True}, {'data': (2, 2, 9)}),
               Sample({'fix_gamma': False}, {'data': (2, 2, 8)}, is_train=False),
               Sample({'fix_gamma': False, 'axis': 0}, {'data': (2, 3, 4)}))

    def setup(self):
        # backward reads gamma only when it is learned, and the data for gamma's gradient or,
        # with batch statistics, for the data's; the statistics are kept on the op
        if not self.fix_gamma:
            self.retain_inputs = (0, 1)
        elif not self.use_global_stats:
            self.retain_inputs = (0,)
        else:
            self.retain_inputs = ()

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

    def _channels(self, x):
        """``x`` as (P, C, R), the channel axis in the middle (a view of the executor's
        contiguous buffers), or None where the per-channel GEMM reductions do not pay
        (half precision, channel last)."""
        a = norm_axis(self.axis, x.ndim)
        rest = prod(x.shape[a + 1:])
        if rest < 8 or x.dtype.kind != 'f' or x.dtype.itemsize < 4:
            return None
        return x.reshape(prod(x.shape[:a]), x.shape[a], rest)

    def _channel_sum(self, xp, a3):
        """Per-channel sums of a (P, C, R) array: a GEMV per (P, C) row, then P rows added
        (NumPy reduces over axes (0, 2, 3) several times slower)."""
        ones = getattr(self, '_ones', None)
        if ones is None or ones.shape[0] != a3.shape[2] or ones.dtype != a3.dtype \
                or not isinstance(ones, xp.ndarray):
            ones = self._ones = xp.ones(a3.shape[2], a3.dtype)
        return xp.matmul(a3, ones).sum(axis=0)

    @staticmethod
    def _channel_dot(xp, a3, b3):
        """Per-channel sums of ``a3 * b3`` (both (P, C, R)) without the product array."""
        return xp.matmul(a3[:, :, None, :], b3[:, :, :, None])[:, :, 0, 0].sum(axis=0)

    def _kernels(self, xp, x3, *arrays):
        """distmod's native BatchNorm kernels for these (P, C, R) float32 NumPy arrays, or
        None (then the NumPy passes below run)."""
        if xp is not np or x3 is None or not _native.BatchNormKernels.usable(*arrays):
            return None
        nk = getattr(self, '_nk', None)
        if nk is None or nk.mean.shape[0] != x3.shape[1]:
            nk = self._nk = _native.BatchNormKernels(x3.shape[1])
        return nk

    def forward(self, xp, ins, outs, aux, is_train):
        x, gamma, beta = ins
        axes, shape = self._layout(x)
        self._batch = is_train and not self.use_global_stats
        out = outs[0]
        x3 = self._channels(x)
        nk = self._kernels(xp, x3, x, out)
        if self._batch:
            n = x.size // x.shape[norm_axis(self.axis, x.ndim)]
            if nk is not None:
                mean, var = nk.stats(x, x3.shape)       # two passes, the second centred
            else:
                mean = x.mean(axis=axes) if x3 is None else self._channel_sum(xp, x3) / n
                xp.subtract(x, mean.reshape(shape), out=out)            # centred, in place
                if x3 is None:
                    sq = self._scratch(xp, x)
                    xp.multiply(out, out, out=sq)
                    var = sq.mean(axis=axes)
                else:
                    out3 = out.reshape(x3.shape)
                    var = self._channel_dot(xp, out3, out3) / n
            invstd = 1.0 / xp.sqrt(var + self.eps)
            m = self.momentum
            aux[0] *= m
            aux[0] += (1 - m) * mean.astype(aux[0].dtype, copy=False)
            aux[1] *= m
            aux[1] += (1 - m) * var.astype(aux[1].dtype, copy=False)
        else:
            mean = aux[0]
            invstd = 1.0 / xp.sqrt(aux[1] + self.eps)
            if nk is None:
                xp.subtract(x, mean.reshape(shape), out=out)
        self._mean, self._invstd = mean, invstd
        scale = invstd if self.fix_gamma else invstd * gamma
        if nk is not None:
            nk.apply(x, x3.shape, mean, scale, beta, out)    # one pass: centre, scale, shift
        else:
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
        need_gx = igrads[1] is not None and not self.fix_gamma or dx is not None and self._batch
        x3 = self._channels(x) if need_gx else None
        if x3 is not None:
            self._backward_channels(xp, g, x, x3, gamma, igrads, shape)
            return
        if igrads[2] is not None:
            igrads[2][...] = g.sum(axis=axes)
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

    def _backward_channels(self, xp, g, x, x3, gamma, igrads, shape):
        """The backward above in fewer passes over the data: the per-channel sums as GEMMs
        (or one pass of the native kernels, which also write ``dx`` in one), and, with batch
        statistics, ``dx = k * g + (x - mean) * c1 + c0`` for per-channel
        ``c1 = -k * invstd * sum(g * xhat) / n`` and ``c0 = -k * sum(g) / n``."""
        dx = igrads[0]
        invstd = self._invstd
        nk = self._kernels(xp, x3, g, x, *([] if dx is None else [dx]))
        if nk is not None:          # one native pass for both per-channel sums
            sum_g, sum_gx = nk.grad_sums(g, x, x3.shape, self._mean)
        else:
            g3 = g.reshape(x3.shape)
            centred = self._scratch(xp, x)
            xp.subtract(x, self._mean.reshape(shape), out=centred)
            sum_gx = self._channel_dot(xp, g3, centred.reshape(x3.shape))
            sum_g = self._channel_sum(xp, g3) if igrads[2] is not None or \
                dx is not None and self._batch else None
        sum_gx = sum_gx * invstd
        if igrads[2] is not None:
            igrads[2][...] = sum_g
        if igrads[1] is not None:
            igrads[1][...] = 0 if self.fix_gamma else sum_gx
        if dx is None:
            return
        k = invstd if self.fix_gamma else invstd * gamma
        n = x.size // k.size
        if nk is not None:          # and one for dx
            c1, c0 = ((-k * invstd * sum_gx / n, -k * sum_g / n) if self._batch
                      else (np.zeros_like(k),) * 2)
            nk.grad_apply(g, x, x3.shape, self._mean, k, c1, c0, dx)
            return
        xp.multiply(g, k.reshape(shape), out=dx)
        if not self._batch:
            return
        centred *= (-k * invstd * sum_gx / n).reshape(shape)
        dx += centred
        dx -= (k * sum_g / n).reshape(shape)


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
        x, gamma = ins[0], ins[1]
        axes, shape = self._layout(x)
        self._affine_backward(xp, x, gamma.reshape(shape), ograds[0], igrads, axes, (0,) + axes)


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
        x, gamma = ins[0], ins[1]
        a, shape = self._layout(x)
        red = tuple(i for i in range(x.ndim) if i != a)
        self._affine_backward(xp, x, gamma.reshape(shape), ograds[0], igrads, a, red)


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
        self._affine_backward(xp, self._grouped(ins[0]), ins[1].reshape(1, -1, 1),
                              self._grouped(ograds[0]), igrads, 2, (0, 2))


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
