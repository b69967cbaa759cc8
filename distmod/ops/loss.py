"""Loss layers: SoftmaxOutput, the regression outputs, MakeLoss/make_loss and BlockGrad.

A loss layer's forward gives the prediction; its backward gives the gradient of the loss it
stands for and ignores the head gradient (MXNet's convention), so ``Executor.backward()`` needs
no ``out_grads``.  Each defines ``loss()`` for the gradient check.
"""
import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from .elemwise import sigmoid_into
from .nn import softmax_into


def _labels(high):
    return lambda rng, shape: rng.integers(0, high, shape)


@register
class SoftmaxOutput(Operator):
    """Softmax in forward; in backward the gradient of cross-entropy: softmax - onehot(label).

    Modes as in MXNet: by default ``data`` is treated as (N, rest) and softmax runs over
    ``rest``; ``multi_output`` takes (N, C, d1, ...) with labels (N, d1, ...) and runs over C;
    ``preserve_shape`` runs over the last axis.  A label shaped like ``data`` is a probability
    distribution.  ``normalization`` is 'null', 'batch' or 'valid' (non-ignored labels).

    Example::

        >>> out = mx.sym.SoftmaxOutput(mx.sym.Variable('fc'), name='softmax')
        >>> out.list_arguments()
        ['fc', 'softmax_label']
    """
    name = 'SoftmaxOutput'
    aliases = ('Softmax',)
    params = {'grad_scale': Param('float', 1.0), 'ignore_label': Param('float', -1.0),
              'multi_output': Param('bool', False), 'use_ignore': Param('bool', False),
              'preserve_shape': Param('bool', False),
              'normalization': Param('str', 'null', choices={'null', 'batch', 'valid'}),
              'out_grad': Param('bool', False), 'smooth_alpha': Param('float', 0.0)}
    arguments = ('data', 'label')
    nondiff = ('label',)
    retain_inputs = (1,)           # the gradient is the output (softmax) less the label's
    retain_outputs = (0,)
    samples = (Sample({}, {'data': (4, 3)}, values={'label': _labels(3)}),
               Sample({'normalization': 'batch', 'grad_scale': 2.0}, {'data': (4, 3)},
                      values={'label': _labels(3)}),
               Sample({'use_ignore': True, 'ignore_label': 1, 'normalization': 'valid'},
                      {'data': (5, 3)}, values={'label': lambda r, s: np.array([0, 1, 2, 1, 0])}),
               Sample({'smooth_alpha': 0.2}, {'data': (3, 4)}, values={'label': _labels(4)}),
               Sample({'multi_output': True}, {'data': (2, 3, 2)}, values={'label': _labels(3)}),
               Sample({'multi_output': True, 'normalization': 'batch'}, {'data': (2, 3, 2)},
                      values={'label': _labels(3)}),
               Sample({'preserve_shape': True}, {'data': (2, 2, 3)}, values={'label': _labels(3)}),
               Sample({}, {'data': (3, 4), 'label': (3, 4)},
                      values={'label': lambda r, s: np.full(s, 0.25)}))

    def infer_shape(self, in_shapes):
        d, label = in_shapes
        if d is None:
            return in_shapes, [None], []
        if label is not None and tuple(label) == tuple(d):
            return [d, d], [d], []           # probabilities as labels
        if self.multi_output:
            if len(d) < 2:
                raise InferError('multi_output needs data of at least 2 dimensions, got %s'
                                 % (d,))
            want = (d[0],) + tuple(d[2:])
        else:
            want = tuple(d[:-1]) if len(d) > 1 else (d[0],)
        if label is not None and len(d) == 2 and tuple(label) == (d[0], 1):
            want = label
        return [d, want], [d], []

    # The three modes viewed as one: (rows, classes, positions) with labels (rows, positions).
    def _as3d(self, x):
        if self.multi_output:
            return x.reshape(x.shape[0], x.shape[1], -1)
        if self.preserve_shape:
            return x.reshape(-1, x.shape[-1], 1)
        return x.reshape(x.shape[0], -1, 1)

    def _label2d(self, label, rows):
        if self.multi_output:
            return label.reshape(rows, -1)
        if self.preserve_shape:
            return label.reshape(-1, 1)
        return label.reshape(rows, -1)[:, :1]

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        if not (self.multi_output or self.preserve_shape) and x.ndim == 2:
            softmax_into(xp, x, 1, outs[0])                       # the common case
        else:
            softmax_into(xp, self._as3d(x), 1, self._as3d(outs[0]))

    def _target(self, xp, label, data_shape, out3):
        """(class ids or 3-D probabilities, mask of counted positions or None)."""
        rows, classes, positions = out3.shape
        if label.shape == data_shape:
            return self._as3d(label), None
        lab = self._label2d(label, rows)
        ids = lab.astype(np.int64)
        mask = None
        if self.use_ignore:
            mask = lab != self.ignore_label
            ids = xp.where(mask, ids, 0)
        ids = xp.clip(ids, 0, classes - 1)
        return ids, mask

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        x, label = ins
        out3 = self._as3d(outs[0])
        g3 = self._as3d(igrads[0])
        rows, classes, positions = out3.shape
        target, mask = self._target(xp, label, x.shape, out3)
        if target.ndim == 3:           # probability labels
            xp.subtract(out3, target, out=g3)
        else:
            alpha = self.smooth_alpha
            if alpha:
                xp.subtract(out3, alpha / (classes - 1), out=g3)
                on = 1.0 - alpha - alpha / (classes - 1)
            else:
                g3[...] = out3
                on = 1.0
            r = xp.arange(rows).reshape(-1, 1)
            p = xp.arange(positions).reshape(1, -1)
            g3[r, target, p] -= on
            if mask is not None:
                g3 *= mask.reshape(rows, 1, positions)
        scale = self.grad_scale / self._normalizer(xp, rows, positions, mask)
        if scale != 1.0:
            igrads[0] *= scale
        if self.out_grad:
            igrads[0] *= ograds[0]

    def _normalizer(self, xp, rows, positions, mask):
        if self.normalization == 'valid':
            valid = rows * positions if mask is None else int(mask.sum())
            return float(max(valid, 1))
        per_position = positions if self.multi_output else 1
        if self.normalization == 'batch':
            return float(rows * per_position)
        return float(per_position)

    def loss(self, xp, ins):
        x, label = ins
        x3 = self._as3d(x)
        logp = x3 - x3.max(axis=1, keepdims=True)
        logp = logp - xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
        rows, classes, positions = x3.shape
        target, mask = self._target(xp, label, x.shape, x3)
        if target.ndim != 3:
            onehot = xp.zeros(x3.shape)
            r = xp.arange(rows).reshape(-1, 1)
            p = xp.arange(positions).reshape(1, -1)
            onehot[r, target, p] = 1.0
            if self.smooth_alpha:
                a = self.smooth_alpha
                onehot = onehot * (1 - a) + (1 - onehot) * a / (classes - 1)
            if mask is not None:
                onehot *= mask.reshape(rows, 1, positions)
            target = onehot
        ce = -(target * logp).sum()
        return ce * self.grad_scale / self._normalizer(xp, rows, positions, mask)


class _Regression(Operator):
    """Shared shape rules and scaling of the regression outputs."""
    params = {'grad_scale': Param('float', 1.0)}
    arguments = ('data', 'label')
    nondiff = ('label',)
    retain_inputs = (1,)
    retain_outputs = (0,)

    def infer_shape(self, in_shapes):
        d, label = in_shapes
        if d is None:
            return [d, label], [None], []
        if label is not None and len(d) == 2 and d[1] == 1 and tuple(label) == (d[0],):
            return [d, label], [d], []
        return [d, d], [d], []

    def _scale(self, out):
        return self.grad_scale / (out.size // out.shape[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            self.grad(xp, outs[0], ins[1].reshape(outs[0].shape), igrads[0])
            igrads[0] *= self._scale(outs[0])

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]


@register
class LinearRegressionOutput(_Regression):
    """Identity forward; backward gives the gradient of 0.5*(out - label)^2, per output."""
    name = 'LinearRegressionOutput'
    samples = (Sample({}, {'data': (3, 2)}), Sample({'grad_scale': 2.0}, {'data': (3, 1),
                                                                          'label': (3,)}))

    def grad(self, xp, out, label, g):
        xp.subtract(out, label, out=g)

    def loss(self, xp, ins):
        x, label = ins
        return 0.5 * ((x - label.reshape(x.shape)) ** 2).sum() * self._scale(x)


@register
class MAERegressionOutput(_Regression):
    """Identity forward; backward gives sign(out - label), the gradient of |out - label|."""
    name = 'MAERegressionOutput'
    samples = (Sample({'grad_scale': 0.5}, {'data': (3, 2)},
                      values={'label': lambda r, s: np.full(s, 10.0)}),)

    def grad(self, xp, out, label, g):
        xp.sign(out - label, out=g)

    def loss(self, xp, ins):
        x, label = ins
        return xp.abs(x - label.reshape(x.shape)).sum() * self._scale(x)


@register
class LogisticRegressionOutput(_Regression):
    """Sigmoid forward; backward gives sigmoid(x) - label (logistic loss gradient)."""
    name = 'LogisticRegressionOutput'
    samples = (Sample({}, {'data': (3, 2)}, values={'label': _labels(2)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        sigmoid_into(xp, ins[0], outs[0])

    def grad(self, xp, out, label, g):
        xp.subtract(out, label, out=g)

    def loss(self, xp, ins):
        x, label = ins
        label = label.reshape(x.shape)
        # -[l log s(x) + (1 - l) log(1 - s(x))] = log(1 + e^x) - l x
        return (xp.logaddexp(0, x) - label * x).sum() * self._scale(x)


class _IdentityLoss(Operator):
    """Identity forward; backward fills the data's gradient with ``_value`` (the head gradient
    is ignored), the gradient of ``loss = sum(data) * _value``."""
    retain_inputs = retain_outputs = ()
    grad_value = 0.0

    def _value(self, xp, x):
        return self.grad_value

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(self._value(xp, ins[0]))

    def loss(self, xp, ins):
        return ins[0].sum() * self._value(xp, ins[0])


@register
class MakeLoss(_IdentityLoss):
    """Treat ``data`` as a loss: backward gives ``grad_scale`` (normalised) everywhere."""
    name = 'MakeLoss'
    params = {'grad_scale': Param('float', 1.0), 'valid_thresh': Param('float', 0.0),
              'normalization': Param('str', 'null', choices={'null', 'batch', 'valid'})}
    samples = (Sample({}, {'data': (2, 3)}),
               Sample({'normalization': 'batch', 'grad_scale': 3.0}, {'data': (2, 3)}),
               Sample({'normalization': 'valid', 'valid_thresh': 0.1}, {'data': (2, 3)},
                      values={'data': lambda r, s: np.array([[1, 0, 2], [0, 0.5, 0]])}))

    def setup(self):
        # only 'valid' looks at the data, to count the entries above valid_thresh (a count
        # that is piecewise constant, so a constant for the gradient check's loss)
        self.retain_inputs = (0,) if self.normalization == 'valid' else ()

    def _value(self, xp, x):
        if self.normalization == 'batch':
            return self.grad_scale / x.shape[0]
        if self.normalization == 'valid':
            return self.grad_scale / max(int((x > self.valid_thresh).sum()), 1)
        return self.grad_scale


@register
class make_loss(_IdentityLoss):
    """The functional ``make_loss``: identity forward, ones as gradient; output named 'loss'."""
    name = 'make_loss'
    outputs = ('loss',)
    grad_value = 1.0
    samples = (Sample({}, {'data': (2, 3)}),)


@register
class BlockGrad(_IdentityLoss):
    """Identity forward; no gradient flows back (``stop_gradient``)."""
    name = 'BlockGrad'
    aliases = ('stop_gradient',)
    grad_value = 0.0      # the output is a constant as far as gradients go
    samples = (Sample({}, {'data': (2, 3)}),)
