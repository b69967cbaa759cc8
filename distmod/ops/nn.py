"""Neural-network layers: FullyConnected, Activation, LeakyReLU, Dropout, Embedding, softmax."""
import math

import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import erf, norm_axis
from .. import random as _random


def _prod(shape):
    out = 1
    for d in shape:
        out *= d
    return out


@register
class FullyConnected(Operator):
    """``out = data . weight^T + bias``; ``flatten`` folds all but the first axis of ``data``.

    Example::

        >>> x = mx.nd.ones((2, 3)); w = mx.nd.ones((4, 3)); b = mx.nd.zeros((4,))
        >>> mx.nd.FullyConnected(x, w, b, num_hidden=4).shape
        (2, 4)
    """
    name = 'FullyConnected'
    params = {'num_hidden': Param('int'), 'no_bias': Param('bool', False),
              'flatten': Param('bool', True)}
    arguments = ('data', 'weight', 'bias')
    retain_inputs = (0, 1)
    samples = (Sample({'num_hidden': 3}, {'data': (2, 4)}),
               Sample({'num_hidden': 2, 'no_bias': True}, {'data': (3, 2, 2)}),
               Sample({'num_hidden': 3, 'flatten': False}, {'data': (2, 3, 4)}))

    def list_arguments(self):
        return ['data', 'weight'] if self.no_bias else ['data', 'weight', 'bias']

    def _in_dim(self, dshape):
        return _prod(dshape[1:]) if self.flatten else dshape[-1]

    def infer_shape(self, in_shapes):
        dshape = in_shapes[0]
        n = self.num_hidden
        if dshape is None:
            return in_shapes, [None], []
        if len(dshape) < (2 if self.flatten else 1):
            raise InferError('data must have at least 2 dimensions, got %s' % (dshape,))
        ins = [dshape, (n, self._in_dim(dshape))] + ([] if self.no_bias else [(n,)])
        out = (dshape[0], n) if self.flatten else tuple(dshape[:-1]) + (n,)
        return ins, [out], []

    def infer_shape_backward(self, in_shapes, out_shapes):
        """The data's unknown leading dimensions (0) from the output's."""
        d, o = in_shapes[0], out_shapes[0]
        if d is None or o is None:
            return in_shapes
        lead = 1 if self.flatten else len(d) - 1
        if len(o) < lead:
            return in_shapes
        d = tuple(o[i] if i < lead and d[i] in (0, None) else d[i] for i in range(len(d)))
        return [d] + list(in_shapes[1:])

    def _2d(self, x):
        return x.reshape(x.shape[0], -1) if self.flatten else x.reshape(-1, x.shape[-1])

    def forward(self, xp, ins, outs, aux, is_train):
        x, w = self._2d(ins[0]), ins[1]
        out = outs[0].reshape(x.shape[0], w.shape[0])
        xp.dot(x, w.T, out=out)
        if not self.no_bias:
            out += ins[2]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, w = self._2d(ins[0]), ins[1]
        g = ograds[0].reshape(x.shape[0], w.shape[0])
        if igrads[0] is not None:
            xp.dot(g, w, out=igrads[0].reshape(x.shape))
        if igrads[1] is not None:
            xp.dot(g.T, x, out=igrads[1])
        if not self.no_bias and igrads[2] is not None:
            g.sum(axis=0, out=igrads[2])


@register
class Activation(Operator):
    """Element-wise activation: relu, sigmoid, tanh, softrelu (log(1+e^x)) or softsign.

    Example::

        >>> mx.nd.Activation(mx.nd.array([-1, 2]), act_type='relu').asnumpy()
        array([0., 2.], dtype=float32)
    """
    name = 'Activation'
    params = {'act_type': Param('str', choices={'relu', 'sigmoid', 'tanh', 'softrelu',
                                                'softsign'})}
    retain_inputs = (0,)
    retain_outputs = (0,)
    samples = tuple(Sample({'act_type': a}, {'data': (3, 4)})
                    for a in ('relu', 'sigmoid', 'tanh', 'softrelu', 'softsign'))

    def forward(self, xp, ins, outs, aux, is_train):
        x, y = ins[0], outs[0]
        act = self.act_type
        if act == 'relu':
            xp.maximum(x, 0, out=y)
        elif act == 'sigmoid':
            _sigmoid(xp, x, y)
        elif act == 'tanh':
            xp.tanh(x, out=y)
        elif act == 'softrelu':
            # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)
            xp.logaddexp(x, 0, out=y)
        else:
            xp.divide(x, 1 + xp.abs(x), out=y)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        g, x, y, dx = ograds[0], ins[0], outs[0], igrads[0]
        act = self.act_type
        if act == 'relu':
            xp.multiply(g, x > 0, out=dx)
        elif act in ('sigmoid', 'tanh') and dx is not g:
            # in place in dx: no per-step temporaries (each one a fresh page-faulting array)
            if act == 'sigmoid':
                xp.subtract(1, y, out=dx)
                dx *= y
            else:
                xp.multiply(y, y, out=dx)
                xp.subtract(1, dx, out=dx)
            dx *= g
        elif act == 'sigmoid':
            xp.multiply(g, y * (1 - y), out=dx)
        elif act == 'tanh':
            xp.multiply(g, 1 - y * y, out=dx)
        elif act == 'softrelu':
            # d/dx log(1+e^x) = sigmoid(x) = 1 - e^-y
            xp.multiply(g, -xp.expm1(-y), out=dx)
        else:
            d = 1 + xp.abs(x)
            xp.divide(g, d * d, out=dx)


def _sigmoid(xp, x, out):
    """Numerically safe logistic function written into ``out``."""
    # 0.5 * (1 + tanh(x / 2)) never overflows, unlike 1 / (1 + exp(-x))
    xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_LAMBDA = 1.0507009873554804934193349852946


def _away_from_zero(rng, shape):
    """Values with |x| >= 0.1, so finite differences never straddle a kink."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-9) * 0.1 + x, x)


@register
class LeakyReLU(Operator):
    """Leaky rectifiers: leaky, elu, prelu (learned ``gamma``), rrelu, selu and gelu.

    Example::

        >>> mx.nd.LeakyReLU(mx.nd.array([-2, 3]), act_type='leaky', slope=0.1).asnumpy()
        array([-0.2,  3. ], dtype=float32)
    """
    name = 'LeakyReLU'
    params = {'act_type': Param('str', 'leaky', choices={'leaky', 'elu', 'prelu', 'rrelu',
                                                         'selu', 'gelu'}),
              'slope': Param('float', 0.25), 'lower_bound': Param('float', 0.125),
              'upper_bound': Param('float', 0.334)}
    arguments = ('data', 'gamma')        # gamma only for prelu (see list_arguments)
    retain_inputs = (0, 1)
    _x = {'data': _away_from_zero}
    samples = (Sample({'act_type': 'leaky', 'slope': 0.1}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'elu', 'slope': 0.7}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'prelu'}, {'data': (2, 3, 2)}, values=_x),
               Sample({'act_type': 'prelu'}, {'data': (3, 4), 'gamma': (1,)}, values=_x),
               Sample({'act_type': 'selu'}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'gelu'}, {'data': (3, 4)}, rtol=1e-3, atol=1e-6),
               Sample({'act_type': 'rrelu'}, {'data': (3, 4)}, values=_x))

    def list_arguments(self):
        return ['data', 'gamma'] if self.act_type == 'prelu' else ['data']

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if self.act_type != 'prelu':
            return [s], [s], []
        gamma = in_shapes[1]
        if s is None:
            return in_shapes, [None], []
        if gamma is None:
            gamma = (s[1],) if len(s) > 1 else (1,)
        if gamma != (1,) and (len(s) < 2 or gamma != (s[1],)):
            raise InferError('gamma of shape %s must be (1,) or (%s,) for data of shape %s'
                             % (gamma, s[1] if len(s) > 1 else 1, s))
        return [s, gamma], [s], []

    def _gamma(self, x, gamma):
        if gamma.size == 1 or x.ndim < 2:
            return gamma.reshape(())
        return gamma.reshape((1, -1) + (1,) * (x.ndim - 2))

    def forward(self, xp, ins, outs, aux, is_train):
        x, y = ins[0], outs[0]
        act = self.act_type
        if act == 'leaky':
            xp.multiply(x, xp.where(x > 0, 1.0, self.slope).astype(x.dtype, copy=False), out=y)
        elif act == 'prelu':
            xp.multiply(x, xp.where(x > 0, 1, self._gamma(x, ins[1])), out=y)
        elif act == 'rrelu':
            if is_train:
                self.mask = _random.generator(xp).uniform(
                    self.lower_bound, self.upper_bound, x.shape).astype(x.dtype)
            else:
                self.mask = (self.lower_bound + self.upper_bound) / 2.0
            xp.multiply(x, xp.where(x > 0, 1, self.mask), out=y)
        elif act == 'elu':
            y[...] = xp.where(x > 0, x, self.slope * xp.expm1(xp.minimum(x, 0)))
        elif act == 'selu':
            y[...] = _SELU_LAMBDA * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))
        else:   # gelu, the exact erf form MXNet uses
            y[...] = 0.5 * x * (1 + erf(xp, x * (1 / math.sqrt(2))))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, y, g = ins[0], outs[0], ograds[0]
        act = self.act_type
        dx = igrads[0]
        if act == 'prelu':
            gamma = self._gamma(x, ins[1])
            if dx is not None:
                xp.multiply(g, xp.where(x > 0, 1, gamma), out=dx)
            if igrads[1] is not None:
                contrib = g * xp.where(x > 0, 0, x)
                if ins[1].size == 1 or x.ndim < 2:
                    igrads[1][...] = contrib.sum()
                else:
                    axes = (0,) + tuple(range(2, x.ndim))
                    igrads[1][...] = contrib.sum(axis=axes)
            return
        if dx is None:
            return
        if act == 'leaky':
            xp.multiply(g, xp.where(x > 0, 1.0, self.slope).astype(x.dtype, copy=False), out=dx)
        elif act == 'rrelu':
            xp.multiply(g, xp.where(x > 0, 1, self.mask), out=dx)
        elif act == 'elu':
            xp.multiply(g, xp.where(x > 0, 1, y + self.slope), out=dx)
        elif act == 'selu':
            xp.multiply(g, xp.where(x > 0, _SELU_LAMBDA, y + _SELU_LAMBDA * _SELU_ALPHA), out=dx)
        else:
            cdf = 0.5 * (1 + erf(xp, x * (1 / math.sqrt(2))))
            pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
            xp.multiply(g, cdf + x * pdf, out=dx)


@register
class Dropout(Operator):
    """Zero each element with probability ``p`` in training and scale the rest by 1/(1-p).

    At inference it is the identity unless ``mode='always'``; ``axes`` shares one mask value
    along those axes.  The mask drawn in forward is the one backward uses.
    """
    name = 'Dropout'
    params = {'p': Param('float', 0.5), 'mode': Param('str', 'training',
                                                      choices={'training', 'always'}),
              'axes': Param('shape', ()), 'cudnn_off': Param('bool', False)}
    samples = (Sample({'p': 0.3}, {'data': (4, 5)}),
               Sample({'p': 0.5, 'axes': (1,)}, {'data': (3, 4)}),
               Sample({'p': 0.5}, {'data': (3, 4)}, is_train=False),
               Sample({'p': 0.4, 'mode': 'always'}, {'data': (3, 4)}, is_train=False))

    def _active(self, is_train):
        return (is_train or self.mode == 'always') and self.p > 0

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        self.mask = None
        if not self._active(is_train):
            outs[0][...] = x
            return
        shape = list(x.shape)
        for a in self.axes:
            shape[norm_axis(a, x.ndim)] = 1
        keep = _random.generator(xp).random(tuple(shape), dtype=np.float32) >= self.p
        self.mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.p)) if self.p < 1 else \
            xp.zeros(tuple(shape), x.dtype)
        xp.multiply(x, self.mask, out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        if self.mask is None:
            igrads[0][...] = ograds[0]
        else:
            xp.multiply(ograds[0], self.mask, out=igrads[0])


def _indices(rng, shape, high=5):
    return rng.integers(0, high, shape)


@register
class Embedding(Operator):
    """Look up rows of ``weight`` (input_dim x output_dim) by the integer ids in ``data``."""
    name = 'Embedding'
    params = {'input_dim': Param('int'), 'output_dim': Param('int'),
              'dtype': Param('dtype', 'float32'), 'sparse_grad': Param('bool', False)}
    arguments = ('data', 'weight')
    nondiff = ('data',)
    retain_inputs = (0,)
    samples = (Sample({'input_dim': 5, 'output_dim': 3, 'dtype': 'float64'}, {'data': (2, 3)},
                      values={'data': _indices}),)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        w = (self.input_dim, self.output_dim)
        return [s, w], [None if s is None else tuple(s) + (self.output_dim,)], []

    def infer_type(self, in_types):
        return [in_types[0] or self.dtype, self.dtype], [self.dtype], []

    def _ids(self, xp, data):
        ids = data.astype(np.int64).reshape(-1)
        return xp.clip(ids, 0, self.input_dim - 1, out=ids)

    def forward(self, xp, ins, outs, aux, is_train):
        xp.take(ins[1], self._ids(xp, ins[0]), axis=0,
                out=outs[0].reshape(-1, self.output_dim))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[1] is None:
            return
        igrads[1].fill(0)
        xp.add.at(igrads[1], self._ids(xp, ins[0]), ograds[0].reshape(-1, self.output_dim))


class _SoftmaxBase(Operator):
    params = {'axis': Param('int', -1), 'temperature': Param('float_or_none', None),
              'dtype': Param('dtype_or_none', None), 'use_length': Param('bool', False)}
    retain_outputs = (0,)

    def setup(self):
        if self.use_length:
            raise InferError('%s: use_length=True is not supported by distmod yet' % self.name)

    def infer_type(self, in_types):
        t = in_types[0]
        return [t], [self.dtype or t], []

    def _logits(self, xp, x):
        if self.temperature is not None and self.temperature != 1.0:
            return x / self.temperature
        return x


@register
class softmax(_SoftmaxBase):
    """exp(x/T) normalised along ``axis``.

    Example::

        >>> mx.nd.softmax(mx.nd.array([[1, 1]])).asnumpy()
        array([[0.5, 0.5]], dtype=float32)
    """
    name = 'softmax'
    samples = (Sample({}, {'data': (3, 4)}), Sample({'axis': 0, 'temperature': 2.0},
                                                    {'data': (3, 4)}))

    def forward(self, xp, ins, outs, aux, is_train):
        softmax_into(xp, self._logits(xp, ins[0]), self.axis, outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        y, g = outs[0], ograds[0]
        gy = g * y
        gx = gy - y * gy.sum(axis=self.axis, keepdims=True)
        if self.temperature is not None and self.temperature != 1.0:
            gx /= self.temperature
        igrads[0][...] = gx


@register
class log_softmax(_SoftmaxBase):
    """log(softmax(x)) along ``axis``, computed stably."""
    name = 'log_softmax'
    samples = (Sample({}, {'data': (3, 4)}), Sample({'axis': 0}, {'data': (3, 4)}))

    def forward(self, xp, ins, outs, aux, is_train):
        x = self._logits(xp, ins[0])
        shifted = x - x.max(axis=self.axis, keepdims=True)
        lse = xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        xp.subtract(shifted, lse, out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        g = ograds[0]
        gx = g - xp.exp(outs[0]) * g.sum(axis=self.axis, keepdims=True)
        if self.temperature is not None and self.temperature != 1.0:
            gx /= self.temperature
        igrads[0][...] = gx


def softmax_into(xp, x, axis, out):
    """Stable softmax of ``x`` along ``axis`` written into ``out`` (a temporary for the sums)."""
    xp.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    xp.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out
