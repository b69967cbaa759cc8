"""Neural-network layers: FullyConnected, Activation, LeakyReLU, Dropout, Embedding, softmax."""
import math

import numpy as np

from .registry import Operator, Param, Sample, InferError, register


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
