"""Loss layers: SoftmaxOutput, the regression outputs, MakeLoss/make_loss, BlockGrad,
SVMOutput and IdentityAttachKLSparseReg; and softmax_cross_entropy and softmin, which are
ordinary operators (they honour the head gradient).

A loss layer's forward gives the prediction; its backward gives the gradient of the loss it
stands for and ignores the head gradient (MXNet's convention), so ``Executor.backward()`` needs
no ``out_grads``.  Each defines ``loss()`` for the gradient check.
"""
import warnings

import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from .elemwise import sigmoid_into
from .nn import softmax_into, softmax_grad


def _labels(high):
    return lambda rng, shape: rng.integers(0, high, shape)


#: A class label outside ``[0, num_classes)`` reaching SoftmaxOutput's backward.  MXNet 1.9.1
#: says nothing and counts it as no class at all (mshadow's ``SoftmaxGrad``: no ``-1``
#: anywhere, the gradient is the softmax itself); distmod counts it as the nearest class
#: (clipped).  Either way the gradient is silently wrong, so by default SoftmaxOutput warns,
#: once per operator.  While ``STRICT_LABELS`` is true it records the first such label in
#: ``BAD_LABEL`` instead, and fit's numerics guard (``check_numerics=True``), which makes it
#: true while it trains, raises after that batch's backward, naming epoch and batch.
STRICT_LABELS = False
BAD_LABEL = None          # {'op', 'value', 'index', 'count', 'total', 'classes', 'taken_as'}
_WARNED_LABELS = set()    # the operators that have warned (a name, or the type's)


def label_range_message(record, node_name=None):
    """The one line that describes a recorded out-of-range label (``BAD_LABEL``)."""
    op = record['op']
    name = node_name or getattr(op, 'node_name', None)
    return ('%s%s: label %s at index %s is outside [0, %d), num_classes being the data\'s '
            'size on the class axis (%d of %d labels out of range)' % (
                op.name, " '%s'" % name if name else '', '%g' % record['value'],
                record['index'], record['classes'], record['count'], record['total']))


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
    node_name = None               # the graph node's name where the executor sets it (messages)
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

    def _target(self, xp, label, data_shape, out3, check=False):
        """(class ids or 3-D probabilities, mask of counted positions or None); with
        ``check``, labels outside the classes are reported first (see ``STRICT_LABELS``)."""
        rows, classes, positions = out3.shape
        if label.shape == data_shape:
            return self._as3d(label), None
        lab = self._label2d(label, rows)
        ids = lab.astype(np.int64)
        mask = None
        if self.use_ignore:
            mask = lab != self.ignore_label
            ids = xp.where(mask, ids, 0)
        # one reduction, one scalar to the host: read as unsigned, a negative id is huge
        # (on a GPU that is a sync per step: there only under fit's numerics guard)
        if check and (STRICT_LABELS or xp is np):
            if int(ids.view(np.uint64).max()) < classes:
                return ids, mask           # every id a class: nothing to clip
            self._bad_labels(xp, ids, label, rows, classes)
        ids = xp.clip(ids, 0, classes - 1)
        return ids, mask

    def _bad_labels(self, xp, ids, label, rows, classes):
        """Warn once per operator, or record for fit's numerics guard (``STRICT_LABELS``)."""
        global BAD_LABEL
        bad = (ids < 0) | (ids >= classes)
        first = int(xp.argmax(bad.reshape(-1).view(np.uint8)))
        row = first // ids.shape[1]
        # back to an index of the label as given: its flat order is (row, position) except
        # by default, where only each row's first label counts
        flat = row * (label.size // rows) if not (self.multi_output or self.preserve_shape) \
            else first
        index = tuple(int(i) for i in np.unravel_index(flat, label.shape))
        record = {'op': self, 'value': float(label.reshape(-1)[flat]), 'index': index,
                  'count': int(bad.sum()), 'total': int(ids.size), 'classes': classes,
                  'taken_as': min(max(int(ids.reshape(-1)[first]), 0), classes - 1)}
        if STRICT_LABELS:
            if BAD_LABEL is None:
                BAD_LABEL = record
            return
        key = self.node_name or self.name
        if key in _WARNED_LABELS:
            return
        _WARNED_LABELS.add(key)
        warnings.warn('%s; it counts as class %s (MXNet 1.9.1 counts it as no class), so '
                      'the gradient is wrong: check the labels (use_ignore=True with '
                      'ignore_label for padding). fit(check_numerics=True) makes this an '
                      'error; warned once per operator.'
                      % (label_range_message(record), record['taken_as']),
                      RuntimeWarning, stacklevel=2)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        x, label = ins
        out3 = self._as3d(outs[0])
        g3 = self._as3d(igrads[0])
        rows, classes, positions = out3.shape
        target, mask = self._target(xp, label, x.shape, out3, check=True)
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
            if positions == 1:             # (rows, classes): one index pair per row
                g3.reshape(rows, classes)[self._row_ids(xp, rows), target.reshape(rows)] -= on
            else:
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

    def _row_ids(self, xp, rows):
        """``arange(rows)``, kept between steps (the batch size rarely changes)."""
        cached = getattr(self, '_rows_cache', None)
        if cached is None or cached[0] is not xp or cached[1] != rows:
            cached = self._rows_cache = (xp, rows, xp.arange(rows))
        return cached[2]

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
    inplace_inputs = (0,)     # the output may take the data's memory when nothing else reads it

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
    zero_gradient = True  # so nothing upstream needs a backward for what flows through here
    samples = (Sample({}, {'data': (2, 3)}),)


@register
class SVMOutput(Operator):
    """Identity forward; backward gives the gradient of the (squared, or with ``use_linear``
    plain) hinge loss of a one-vs-rest SVM over the last axis, scaled by
    ``regularization_coefficient``, ignoring the head gradient.

    For a row ``x`` with label ``k`` the loss is ``max(0, margin - x[k])^p +
    sum_{j != k} max(0, margin + x[j])^p`` (``p`` = 2, or 1 with ``use_linear``); a label
    outside the classes counts every class as ``j``.  ``label`` has ``data``'s shape without
    the last axis.

    Example::

        >>> out = mx.sym.SVMOutput(mx.sym.Variable('fc'), name='svm')
        >>> out.list_arguments()
        ['fc', 'svm_label']
    """
    name = 'SVMOutput'
    params = {'margin': Param('float', 1.0), 'regularization_coefficient': Param('float', 1.0),
              'use_linear': Param('bool', False)}
    arguments = ('data', 'label')
    nondiff = ('label',)
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({}, {'data': (4, 3)}, values={'label': _labels(3)}),
               Sample({'margin': 0.5, 'regularization_coefficient': 2.0}, {'data': (3, 4)},
                      values={'label': lambda r, s: np.array([0, 5, 2])}),
               Sample({'use_linear': True, 'margin': 2.0}, {'data': (2, 2, 3)},
                      values={'data': lambda r, s: r.uniform(-4, 4, s),
                              'label': _labels(3)}))

    def infer_shape(self, in_shapes):
        d, label = in_shapes
        if d is None:
            return [d, label], [None], []
        return [tuple(d), tuple(d[:-1]) or (1,)], [tuple(d)], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def _terms(self, xp, x, label):
        """(rows x classes view of x, one-hot of the labels, the margin violations)."""
        x2 = x.reshape(-1, x.shape[-1])
        ids = label.reshape(-1).astype(np.int64)
        onehot = ids.reshape(-1, 1) == xp.arange(x2.shape[1]).reshape(1, -1)
        # the label's score should be above margin, every other one below -margin
        signed = xp.where(onehot, -x2, x2)
        return x2, onehot, signed + self.margin

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        x2, onehot, slack = self._terms(xp, ins[0], ins[1])
        active = slack > 0
        grad = active.astype(slack.dtype) if self.use_linear else 2 * slack * active
        grad = xp.where(onehot, -grad, grad) * self.regularization_coefficient
        dx[...] = grad.reshape(dx.shape)

    def loss(self, xp, ins):
        _, _, slack = self._terms(xp, ins[0], ins[1])
        hinge = xp.maximum(slack, 0)
        return (hinge if self.use_linear else hinge * hinge).sum() * \
            self.regularization_coefficient


@register
class IdentityAttachKLSparseReg(Operator):
    """Identity forward; backward adds to the head gradient the gradient of a KL-divergence
    sparseness penalty on the mean activation of each unit (axis 1), for sparse autoencoders.

    Backward first updates the auxiliary state ``moving_avg`` (per unit) with the batch's mean
    activation, ``momentum * moving_avg + (1 - momentum) * mean``, then adds
    ``penalty * (-rho / moving_avg + (1 - rho) / (1 - moving_avg))`` (``rho`` =
    ``sparseness_target``), as MXNet does.  Activations should be in (0, 1) (after a sigmoid).

    Example::

        >>> s = mx.sym.IdentityAttachKLSparseReg(mx.sym.Variable('h'), name='kl')
        >>> s.list_auxiliary_states()
        ['kl_moving_avg']
    """
    name = 'IdentityAttachKLSparseReg'
    params = {'sparseness_target': Param('float', 0.1), 'penalty': Param('float', 0.001),
              'momentum': Param('float', 0.9)}
    auxiliary = ('moving_avg',)
    retain_inputs = (0,)
    retain_outputs = ()
    # the penalty's term is no derivative of the forward (the identity), so the generic check
    # runs without it; tests/ops/test_more_ops_forward.py compares it with MXNet
    samples = (Sample({'penalty': 0.0}, {'data': (4, 3)},
                      values={'data': lambda r, s: r.uniform(0.1, 0.9, s)}),)

    def setup(self):
        # the batch mean only matters when there is a penalty to add
        self.retain_inputs = (0,) if self.penalty else ()

    def infer_shape(self, in_shapes):
        d = in_shapes[0]
        if d is None:
            return [d], [None], [None]
        if len(d) < 2:
            raise InferError('IdentityAttachKLSparseReg needs data of at least 2 dimensions '
                             '(batch, units), got %s' % (tuple(d),))
        return [tuple(d)], [tuple(d)], [(d[1],)]

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if not self.penalty:
            if dx is not None:
                dx[...] = ograds[0]
            return
        x, avg = ins[0], aux[0]
        axes = tuple(i for i in range(x.ndim) if i != 1)
        batch_mean = x.mean(axis=axes)
        avg *= self.momentum
        avg += (1 - self.momentum) * batch_mean
        if dx is None:
            return
        shape = (1, -1) + (1,) * (x.ndim - 2)
        rho = self.sparseness_target
        term = -rho / avg + (1 - rho) / (1 - avg)
        xp.add(ograds[0], self.penalty * term.reshape(shape), out=dx)


@register
class SoftmaxCrossEntropy(Operator):
    """The summed cross-entropy of ``softmax(data)`` (N, C) against class labels (N,): one
    number, shape (1,).  Unlike the loss layers it honours the head gradient: the gradient is
    ``head * (softmax(data) - onehot(label))``.  Labels are truncated to integers.

    Example::

        >>> mx.nd.softmax_cross_entropy(mx.nd.zeros((2, 4)), mx.nd.array([1, 3])).asnumpy()
        array([2.7725887], dtype=float32)
    """
    name = 'softmax_cross_entropy'
    arguments = ('data', 'label')
    nondiff = ('label',)
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = (Sample({}, {'data': (3, 4)}, values={'label': _labels(4)}),)

    def infer_shape(self, in_shapes):
        d, label = in_shapes
        if d is None:
            return [d, label], [None], []
        if len(d) != 2:
            raise InferError('softmax_cross_entropy needs 2-D data (batch, classes), got %s'
                             % (tuple(d),))
        if label is not None and len(label) != 1:
            raise InferError('softmax_cross_entropy needs 1-D labels, got %s' % (tuple(label),))
        return [tuple(d), (d[0],)], [(1,)], []

    def _softmax_and_ids(self, xp, x, label):
        p = softmax_into(xp, x, 1, xp.empty(x.shape, dtype=x.dtype))
        ids = xp.clip(label.astype(np.int64), 0, x.shape[1] - 1)
        return p, ids

    def forward(self, xp, ins, outs, aux, is_train):
        x, label = ins
        p, ids = self._softmax_and_ids(xp, x, label)
        picked = p[xp.arange(x.shape[0]), ids]
        outs[0][...] = -xp.log(picked).sum()

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            x, label = ins
            p, ids = self._softmax_and_ids(xp, x, label)
            p[xp.arange(x.shape[0]), ids] -= 1
            xp.multiply(p, ograds[0].reshape(1, 1), out=dx)
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class softmin(Operator):
    """``softmax(-data / temperature)`` along ``axis`` (it lives here with the other softmax
    heads; ``softmax`` itself is in ``nn``).

    Example::

        >>> mx.nd.softmin(mx.nd.array([[0, 0]])).asnumpy()
        array([[0.5, 0.5]], dtype=float32)
    """
    name = 'softmin'
    params = {'axis': Param('int', -1), 'temperature': Param('float_or_none', None),
              'dtype': Param('dtype_or_none', None,
                             choices={None, 'float16', 'float32', 'float64'}),
              'use_length': Param('bool', False)}
    retain_inputs = ()
    retain_outputs = (0,)
    samples = (Sample({}, {'data': (3, 4)}), Sample({'axis': 0, 'temperature': 2.0},
                                                    {'data': (3, 4)}))

    def setup(self):
        if self.use_length:
            raise InferError('softmin: use_length=True is not supported by distmod yet')

    def infer_type(self, in_types):
        return [in_types[0]], [self.dtype or in_types[0]], []

    def _scale(self):
        return -1.0 / (self.temperature if self.temperature is not None else 1.0)

    def forward(self, xp, ins, outs, aux, is_train):
        softmax_into(xp, ins[0] * self._scale(), self.axis, outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            gx = softmax_grad(outs[0], ograds[0], self.axis)
            xp.multiply(gx, self._scale(), out=igrads[0])


def _ctc_labels(blank_first, high, width, pad):
    """Label rows for the CTC gradient check: 1..width tokens of [1, high) (``first``) or
    [0, high - 1) (``last``), padded with ``pad``."""
    def make(rng, shape):
        n, L = shape
        out = np.full(shape, pad, dtype=np.float64)
        for i in range(n):
            k = rng.integers(1, L + 1)
            out[i, :k] = rng.integers(1, high, k) if blank_first else rng.integers(0, high - 1, k)
        return out
    return make


def _logaddexp3(xp, a, b, c):
    m = xp.maximum(xp.maximum(a, b), c)
    finite = xp.isfinite(m)
    m0 = xp.where(finite, m, 0)
    with np.errstate(divide='ignore'):
        s = xp.log(xp.exp(a - m0) + xp.exp(b - m0) + xp.exp(c - m0)) + m0
    return xp.where(finite, s, -np.inf)


@register
class CTCLoss(Operator):
    """Connectionist Temporal Classification loss (Graves et al., 2006): for each sample,
    ``-log p(label | data)`` over every alignment, with a softmax over the alphabet applied
    inside.

    ``data`` is ``(T, N, C)`` activations (no softmax), ``label`` ``(N, L)`` integer tokens;
    the output is ``(N,)``.  ``blank_label='first'``: channel 0 is the blank, tokens are
    ``1..C-1`` and a label row ends at its first 0; ``'last'``: channel ``C-1`` is the blank,
    tokens ``0..C-2``, padding ``-1``.  ``use_data_lengths`` / ``use_label_lengths`` take the
    lengths from ``data_lengths`` / ``label_lengths`` (``(N,)``) instead; steps past a sample's
    length get no gradient.  A label no alignment of the data can produce (too many repeats
    for its length) has loss 0 and gradient 0, as MXNet's.  The gradient, computed in forward
    as MXNet's is, is scaled by the head gradient of each sample (use it under ``MakeLoss``).

    Example::

        >>> mx.nd.CTCLoss(mx.nd.ones((3, 2, 4)), mx.nd.array([[1, 2], [3, 0]])).asnumpy()
        array([2.5494452, 2.3671236], dtype=float32)
    """
    name = 'CTCLoss'
    aliases = ('ctc_loss', '_contrib_CTCLoss', '_contrib_ctc_loss')
    params = {'use_data_lengths': Param('bool', False), 'use_label_lengths': Param('bool', False),
              'blank_label': Param('str', 'first', choices={'first', 'last'})}
    arguments = ('data', 'label', 'data_lengths', 'label_lengths')
    outputs = ('output0',)
    nondiff = ('label', 'data_lengths', 'label_lengths')
    retain_inputs = ()
    retain_outputs = ()
    samples = (
        Sample({}, {'data': (5, 3, 4), 'label': (3, 2)},
               values={'label': _ctc_labels(True, 4, 2, 0)}, rtol=1e-3, atol=1e-5),
        Sample({'blank_label': 'last', 'use_data_lengths': True},
               {'data': (5, 2, 4), 'label': (2, 2)},
               values={'label': _ctc_labels(False, 4, 2, -1),
                       'data_lengths': lambda rng, shape: np.array([5, 4])[:shape[0]]},
               rtol=1e-3, atol=1e-5),
        Sample({'use_label_lengths': True}, {'data': (4, 2, 3), 'label': (2, 2)},
               values={'label': lambda rng, shape: rng.integers(1, 3, shape),
                       'label_lengths': lambda rng, shape: np.array([1, 2])[:shape[0]]},
               rtol=1e-3, atol=1e-5),
    )

    def list_arguments(self):
        return ['data', 'label'] + (['data_lengths'] if self.use_data_lengths else []) + \
            (['label_lengths'] if self.use_label_lengths else [])

    def infer_shape(self, in_shapes):
        d, label = in_shapes[0], in_shapes[1]
        rest = list(in_shapes[2:])
        if d is None or len(d) != 3:
            if d is not None:
                raise InferError('CTCLoss needs 3-D data (sequence length, batch, alphabet '
                                 'size), got %s' % (tuple(d),))
            return in_shapes, [None], []
        T, N, _ = d
        if label is not None:
            if len(label) != 2 or label[0] != N:
                raise InferError('CTCLoss: label must be (batch, label length) = (%d, L), got %s'
                                 % (N, tuple(label)))
            if label[1] > T:
                raise InferError('CTCLoss: labels of %d tokens cannot fit in sequences of %d '
                                 'steps (the label length may not exceed the data\'s)'
                                 % (label[1], T))
        return [tuple(d), label] + [(N,)] * len(rest), [(N,)], []

    def infer_type(self, in_types):
        t = in_types[0]
        return [t] + [x or t for x in in_types[1:]], [t], []

    def _lengths(self, xp, ins):
        x, label = ins[0], ins[1]
        T, N, C = x.shape
        pos = 2
        if self.use_data_lengths:
            tlen = xp.clip(ins[pos].astype(np.int64), 0, T)
            pos += 1
        else:
            tlen = xp.full((N,), T, dtype=np.int64)
        lab = label.astype(np.int64)
        if self.use_label_lengths:
            llen = xp.clip(ins[pos].astype(np.int64), 0, lab.shape[1])
        else:
            pad = 0 if self.blank_label == 'first' else -1
            hit = lab == pad
            llen = xp.where(hit.any(axis=1), hit.argmax(axis=1), lab.shape[1])
        return tlen, lab, llen

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        T, N, C = x.shape
        tlen, lab, llen = self._lengths(xp, ins)
        blank = 0 if self.blank_label == 'first' else C - 1
        L = lab.shape[1]
        S = 2 * L + 1
        ext = xp.full((N, S), blank, dtype=np.int64)
        ext[:, 1::2] = xp.clip(lab, 0, C - 1)
        slen = 2 * llen + 1
        sidx = xp.arange(S).reshape(1, -1)
        valid = sidx < slen.reshape(-1, 1)
        ext = xp.where(valid, ext, blank)
        skip = xp.zeros((N, S), dtype=bool)
        if S > 2:
            skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        # log-softmax over the alphabet, in float64
        z = x.astype(np.float64)
        z = z - z.max(axis=2, keepdims=True)
        logp = z - xp.log(xp.exp(z).sum(axis=2, keepdims=True))
        rows = xp.arange(N).reshape(-1, 1)
        lp = logp[:, rows, ext]                                  # (T, N, S)
        ninf = -np.inf
        alpha = xp.full((T, N, S), ninf)
        alpha[0, :, 0] = lp[0, :, 0]
        if S > 1:
            alpha[0, :, 1] = xp.where(llen > 0, lp[0, :, 1], ninf)
        pad1 = xp.full((N, 1), ninf)
        pad2 = xp.full((N, 2), ninf)
        for t in range(1, T):
            a = alpha[t - 1]
            a1 = xp.concatenate([pad1, a[:, :-1]], axis=1)
            a2 = xp.where(skip, xp.concatenate([pad2, a[:, :-2]], axis=1)[:, :S], ninf)
            alpha[t] = xp.where(valid, _logaddexp3(xp, a, a1, a2) + lp[t], ninf)
        last = xp.clip(tlen - 1, 0, T - 1)
        n = xp.arange(N)
        end1 = alpha[last, n, slen - 1]
        end2 = xp.where(slen > 1, alpha[last, n, xp.clip(slen - 2, 0, S - 1)], ninf)
        ll = _logaddexp3(xp, end1, end2, xp.full((N,), ninf))
        feasible = xp.isfinite(ll) & (tlen > 0)
        outs[0][...] = xp.where(feasible, -ll, 0).astype(outs[0].dtype)
        if not is_train:
            return
        beta = xp.full((T, N, S), ninf)
        ends = (sidx == (slen - 1).reshape(-1, 1)) | \
            ((sidx == (slen - 2).reshape(-1, 1)) & (slen > 1).reshape(-1, 1))
        skip_next = xp.zeros((N, S), dtype=bool)        # s may go to s + 2
        if S > 2:
            skip_next[:, :-2] = skip[:, 2:]
        for t in range(T - 1, -1, -1):
            at_end = (last == t).reshape(-1, 1)
            inside = (t < last).reshape(-1, 1)
            if t + 1 < T:
                b = beta[t + 1]
                b1 = xp.concatenate([b[:, 1:], pad1], axis=1)
                b2 = xp.where(skip_next, xp.concatenate([b[:, 2:], pad2], axis=1)[:, :S], ninf)
                rec = _logaddexp3(xp, b, b1, b2) + lp[t]
            else:
                rec = xp.full((N, S), ninf)
            beta[t] = xp.where(valid & at_end & ends, lp[t],
                               xp.where(valid & inside, rec, ninf))
        gamma = alpha + beta - lp                               # paths through (t, s)
        with np.errstate(invalid='ignore', over='ignore'):
            occ = xp.exp(gamma - xp.where(feasible, ll, 0).reshape(1, -1, 1))
        occ = xp.where(xp.isfinite(occ), occ, 0)
        onehot = (ext.reshape(N, S, 1) == xp.arange(C).reshape(1, 1, C)).astype(np.float64)
        post = xp.einsum('tns,nsc->tnc', occ, onehot)
        grad = xp.exp(logp) - post
        inside = (xp.arange(T).reshape(-1, 1) < tlen.reshape(1, -1)) & feasible.reshape(1, -1)
        grad *= inside.reshape(T, N, 1)
        self._grad = grad.astype(x.dtype)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            xp.multiply(self._grad, ograds[0].reshape(1, -1, 1), out=igrads[0])
        for g in igrads[1:]:
            if g is not None:
                g.fill(0)
