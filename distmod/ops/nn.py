"""Neural-network layers: FullyConnected, Activation, LeakyReLU, Dropout, Embedding and the
softmax family (softmax, log_softmax, SoftmaxActivation)."""
import math

import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import erf, norm_axis, prod, retention, split_matmul
from .elemwise import ACTIVATIONS, UnaryOp
from .. import random as _random


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
    retain_outputs = ()
    samples = (Sample({'num_hidden': 3}, {'data': (2, 4)}),
               Sample({'num_hidden': 2, 'no_bias': True}, {'data': (3, 2, 2)}),
               Sample({'num_hidden': 3, 'flatten': False}, {'data': (2, 3, 4)}))

    def list_arguments(self):
        return ['data', 'weight'] if self.no_bias else ['data', 'weight', 'bias']

    def _in_dim(self, dshape):
        # a 1-D (batch,) input is (batch, 1) to a flattening layer, as in MXNet
        return prod(dshape[1:]) if self.flatten else dshape[-1]

    def infer_shape(self, in_shapes):
        dshape = in_shapes[0]
        n = self.num_hidden
        if dshape is None:
            return in_shapes, [None], []
        if len(dshape) < 1:
            raise InferError('data must have at least 1 dimension, got %s' % (dshape,))
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
        split_matmul(xp, x, w.T, out) or xp.dot(x, w.T, out=out)
        if not self.no_bias:
            out += ins[2]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, w = self._2d(ins[0]), ins[1]
        g = ograds[0].reshape(x.shape[0], w.shape[0])
        if igrads[0] is not None:
            dx = igrads[0].reshape(x.shape)
            split_matmul(xp, g, w, dx) or xp.dot(g, w, out=dx)
        if igrads[1] is not None:
            split_matmul(xp, g.T, x, igrads[1]) or xp.dot(g.T, x, out=igrads[1])
        if not self.no_bias and igrads[2] is not None:
            g.sum(axis=0, out=igrads[2])


@register
class Activation(UnaryOp):
    """Element-wise activation: relu, sigmoid, tanh, softrelu (log(1+e^x)) or softsign.

    Example::

        >>> mx.nd.Activation(mx.nd.array([-1, 2]), act_type='relu').asnumpy()
        array([0., 2.], dtype=float32)
    """
    name = 'Activation'
    params = {'act_type': Param('str', choices=set(ACTIVATIONS))}
    # the output may take the input's memory where nothing else reads it (as MXNet's
    # in-place option for Activation): every act_type's forward is safe in place.  One
    # buffer fewer per activation; the stochastic-depth convnet's step measured about 5%
    # faster at 1 thread (36.5-37.2 against 38.5-39.6 ms)
    inplace_inputs = (0,)
    samples = tuple(Sample({'act_type': a}, {'data': (3, 4)})
                    for a in ('relu', 'sigmoid', 'tanh', 'softrelu', 'softsign'))

    def setup(self):
        # the math of the unary operator of that name, and what its backward reads (x for
        # softsign, y for the others)
        self.fn, self.grad, keep = ACTIVATIONS[self.act_type]
        for attr, value in retention(keep).items():
            setattr(self, attr, value)


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
    _x = {'data': _away_from_zero}
    samples = (Sample({'act_type': 'leaky', 'slope': 0.1}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'elu', 'slope': 0.7}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'elu', 'slope': -0.5}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'prelu'}, {'data': (2, 3, 2)}, values=_x),
               Sample({'act_type': 'prelu'}, {'data': (3, 4), 'gamma': (1,)}, values=_x),
               Sample({'act_type': 'selu'}, {'data': (3, 4)}, values=_x),
               Sample({'act_type': 'gelu'}, {'data': (3, 4)}, rtol=1e-3, atol=1e-6),
               Sample({'act_type': 'rrelu'}, {'data': (3, 4)}, values=_x))

    def setup(self):
        # elu and selu differentiate from the output, and where x > 0 is where y > 0 (for elu
        # when slope > 0), so they need not keep x; prelu also reads gamma, rrelu the mask it
        # keeps from forward
        act = self.act_type
        if act == 'prelu':
            self.retain_inputs = (0, 1)
        elif act == 'selu' or act == 'elu' and self.slope > 0:
            self.retain_inputs = ()
        else:
            self.retain_inputs = (0,)
        self.retain_outputs = (0,) if act in ('elu', 'selu') else ()

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
        elif act in ('elu', 'selu'):
            pos = x > 0 if self.retain_inputs else y > 0      # see setup
            if act == 'elu':
                xp.multiply(g, xp.where(pos, 1, y + self.slope), out=dx)
            else:
                xp.multiply(g, xp.where(pos, _SELU_LAMBDA, y + _SELU_LAMBDA * _SELU_ALPHA),
                            out=dx)
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
    retain_inputs = retain_outputs = ()        # the mask drawn in forward is kept on the op
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
    """Look up rows of ``weight`` (input_dim x output_dim) by the integer ids in ``data``.

    With ``sparse_grad=True`` the weight's gradient is row-sparse (only the rows looked up),
    as MXNet gives it; see :mod:`distmod.ops.sparse`.
    """
    name = 'Embedding'
    params = {'input_dim': Param('int'), 'output_dim': Param('int'),
              'dtype': Param('dtype', 'float32'), 'sparse_grad': Param('bool', False)}
    arguments = ('data', 'weight')
    nondiff = ('data',)
    retain_inputs = (0,)
    retain_outputs = ()
    samples = (Sample({'input_dim': 5, 'output_dim': 3, 'dtype': 'float64'}, {'data': (2, 3)},
                      values={'data': _indices}),)

    def sparse_grad_inputs(self):
        """Positions whose gradient this instance writes as row-sparse when handed a
        row-sparse buffer: the weight's with ``sparse_grad``."""
        return (1,) if self.sparse_grad else ()

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
        from .sparse import write_row_gradient      # the row arithmetic of sparse gradients
        if igrads[1] is not None:
            write_row_gradient(xp, igrads[1], self._ids(xp, ins[0]),
                               ograds[0].reshape(-1, self.output_dim))


class _SoftmaxBase(Operator):
    """softmax and log_softmax of ``x / temperature``; subclasses set ``_grad(xp, y, g)``, the
    gradient with respect to the scaled logits, from the output ``y``."""
    params = {'axis': Param('int', -1), 'temperature': Param('float_or_none', None),
              'dtype': Param('dtype_or_none', None), 'use_length': Param('bool', False)}
    retain_inputs = ()
    retain_outputs = (0,)

    def setup(self):
        if self.use_length:
            raise InferError('%s: use_length=True is not supported by distmod yet' % self.name)

    def infer_type(self, in_types):
        t = in_types[0]
        return [t], [self.dtype or t], []

    def _scaled(self):
        return self.temperature is not None and self.temperature != 1.0

    def _logits(self, xp, x):
        return x / self.temperature if self._scaled() else x

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        gx = self._grad(xp, outs[0], ograds[0])
        if self._scaled():
            gx /= self.temperature
        igrads[0][...] = gx


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

    def _grad(self, xp, y, g):
        return softmax_grad(y, g, self.axis)


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

    def _grad(self, xp, y, g):
        return g - xp.exp(y) * g.sum(axis=self.axis, keepdims=True)


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
    retain_inputs = ()
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
        softmax_into(xp, self._view(ins[0]), 1, self._view(outs[0]))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            self._view(igrads[0])[...] = softmax_grad(self._view(outs[0]),
                                                      self._view(ograds[0]), 1)


def softmax_into(xp, x, axis, out):
    """Stable softmax of ``x`` along ``axis`` written into ``out`` (a temporary for the sums)."""
    xp.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    xp.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)
    return out


def softmax_grad(y, g, axis):
    """The gradient through ``y = softmax(x)`` along ``axis`` for the head gradient ``g``."""
    gy = g * y
    return gy - y * gy.sum(axis=axis, keepdims=True)
