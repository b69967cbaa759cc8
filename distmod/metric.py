"""``mx.metric``: evaluation metrics with MXNet's names, aliases and numbers.

Each metric keeps a local sum and count (reset by ``reset_local``, e.g. by Speedometer) and a
global one (reset by ``reset``); as in MXNet, a metric made without ``has_global_stats=True``
(every built-in passes it; a user's subclass usually does not) reports its local sums from
``get_global`` too.  ``_state()``/``_set_state()`` expose the global sums as
numbers so that data-parallel ranks can add them up before ``get``.
"""
import contextlib
import math

import numpy

from .base import MXNetError
from .ndarray.ndarray import NDArray

__all__ = ['EvalMetric', 'CompositeEvalMetric', 'Accuracy', 'TopKAccuracy', 'F1', 'MCC', 'MAE',
           'MSE', 'RMSE', 'CrossEntropy', 'NegativeLogLikelihood', 'Perplexity',
           'PearsonCorrelation', 'PCC', 'Loss', 'Torch', 'Caffe', 'CustomMetric', 'np', 'create',
           'register', 'alias',
           'check_label_shapes']

_REGISTRY = {}


def register(klass, *names):
    """Register a metric class under its lower-case name and ``names``."""
    for name in (klass.__name__.lower(),) + names:
        _REGISTRY[name.lower()] = klass
    return klass


def alias(*names):
    def deco(klass):
        return register(klass, *names)
    return deco


def create(metric, *args, **kwargs):
    """A metric from a name ('acc', 'ce', ...), a callable ``feval(label, pred)``, an
    EvalMetric, or a list of those (a CompositeEvalMetric)."""
    if callable(metric) and not isinstance(metric, EvalMetric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, EvalMetric):
        return metric
    if isinstance(metric, (list, tuple)):
        composite = CompositeEvalMetric()
        for m in metric:
            composite.add(create(m, *args, **kwargs))
        return composite
    if isinstance(metric, str):
        klass = _REGISTRY.get(metric.lower())
        if klass is None:
            raise MXNetError('unknown metric %r; known metrics: %s'
                             % (metric, ', '.join(sorted(_REGISTRY))))
        return klass(*args, **kwargs)
    raise MXNetError('cannot make a metric from %r' % (metric,))


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Labels and predictions must agree in count (or in shape when ``shape``)."""
    if not shape:
        a, b = len(labels), len(preds)
    else:
        a, b = labels.shape, preds.shape
    if a != b:
        raise MXNetError('Shape of labels %s does not match shape of predictions %s' % (a, b))
    if wrap:
        if isinstance(labels, (NDArray, numpy.ndarray)):
            labels = [labels]
        if isinstance(preds, (NDArray, numpy.ndarray)):
            preds = [preds]
    return labels, preds


def _np(x):
    return x.asnumpy() if isinstance(x, NDArray) else numpy.asarray(x)


def _data(x, device):
    """``x``'s array where it is (``device``, a GPU context), else as NumPy."""
    return x._data if device is not None else _np(x)


def _scope(device):
    return device.device() if device is not None else _HOST


_HOST = contextlib.nullcontext()


def _same_device(*arrays):
    """The GPU context holding every one of ``arrays`` (dense NDArrays), else None: a metric
    then computes there instead of reading the arrays back."""
    ctx = None
    for a in arrays:
        if not isinstance(a, NDArray) or a._sparse or a.context.device_type != 'gpu':
            return None
        if ctx is not None and a.context != ctx:
            return None
        ctx = a.context
    return ctx


def _flushed(attr):
    """A metric's sum ``attr`` as a property that first adds what is pending on devices."""
    def get(self):
        if self.__dict__.get('_pending'):
            self._flush()
        return getattr(self, attr)

    def put(self, value):
        setattr(self, attr, value)
    return property(get, put)


class EvalMetric:
    """Base class: ``update(labels, preds)`` then ``get()`` -> (name, value)."""

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop('has_global_stats', False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return 'EvalMetric: {}'.format(dict(self.get_name_value()))

    def get_config(self):
        config = self._kwargs.copy()
        config.update({'metric': self.__class__.__name__, 'name': self.name,
                       'output_names': self.output_names, 'label_names': self.label_names})
        return config

    def update_dict(self, label, pred):
        """Update from dicts name -> array, picking ``output_names``/``label_names``."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        raise NotImplementedError('%s does not define update' % type(self).__name__)

    def reset(self):
        self._pending = {}
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        self._flush()
        self.num_inst = 0
        self.sum_metric = 0.0

    # Sums computed on a GPU stay there (one running 0-d array per device, and a count where
    # it too is computed there) until a sum or a count is read, so that update() never waits
    # for the device: a training step reads nothing back.
    sum_metric = _flushed('_sum_metric')
    global_sum_metric = _flushed('_global_sum_metric')
    num_inst = _flushed('_num_inst')
    global_num_inst = _flushed('_global_num_inst')

    def _add_device(self, value, count, device):
        """Add ``value``, a 0-d array on ``device`` (an NDArray's context), without reading
        it back; ``count`` instances: a host number, or a 0-d array on the device too."""
        pending = self.__dict__.setdefault('_pending', {})
        on_device = not isinstance(count, (int, numpy.integer))
        with device.device():
            held = pending.get(device)
            if held is None:
                pending[device] = [value, count if on_device else None]
            else:
                held[0] = held[0] + value
                if on_device:
                    held[1] = count if held[1] is None else held[1] + count
        if not on_device:
            self._num_inst += count
            self._global_num_inst += count

    def _flush(self):
        pending, self._pending = self.__dict__.get('_pending') or {}, {}
        for value, count in pending.values():
            v = float(value)                    # the one read back per device
            self._sum_metric += v
            self._global_sum_metric += v
            if count is not None:
                c = int(count)
                self._num_inst += c
                self._global_num_inst += c

    def _add_where(self, value, count, device, kind):
        """``_add`` of ``kind(value)`` on the host, ``_add_device`` where ``device`` is set."""
        if device is None:
            self._add(kind(value), count)
        else:
            self._add_device(value, count, device)

    def _add(self, value, count):
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def get(self):
        if self.num_inst == 0:
            return self.name, float('nan')
        return self.name, self.sum_metric / self.num_inst

    def get_global(self):
        # As MXNet: a metric made without has_global_stats (a user's subclass whose update
        # adds to sum_metric/num_inst only) reports its local sums.
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return self.name, float('nan')
        return self.name, self.global_sum_metric / self.global_num_inst

    def get_name_value(self):
        name, value = self.get()
        if not isinstance(name, list):
            name, value = [name], [value]
        return list(zip(name, value))

    def get_global_name_value(self):
        if not self._has_global_stats:
            return self.get_name_value()
        name, value = self.get_global()
        if not isinstance(name, list):
            name, value = [name], [value]
        return list(zip(name, value))

    # the seam for summing across ranks
    def _state(self):
        return [self.sum_metric, self.num_inst, self.global_sum_metric, self.global_num_inst]

    def _set_state(self, state):
        self.sum_metric, self.num_inst, self.global_sum_metric, self.global_num_inst = state


class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; ``get`` returns lists of names and values."""

    def __init__(self, metrics=None, name='composite', output_names=None, label_names=None):
        self.metrics = [create(m) for m in (metrics or [])]
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def add(self, metric):
        self.metrics.append(create(metric))

    def get_metric(self, index):
        try:
            return self.metrics[index]
        except IndexError:
            raise ValueError('Metric index {} is out of range 0 and {}'.format(
                index, len(self.metrics)))

    def update_dict(self, labels, preds):
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        for metric in getattr(self, 'metrics', []):
            metric.reset()

    def reset_local(self):
        for metric in self.metrics:
            metric.reset_local()

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            if isinstance(name, str):
                name, value = [name], [value]
            names.extend(name)
            values.extend(value)
        return names, values

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def _state(self):
        return [m._state() for m in self.metrics]

    def _set_state(self, state):
        for m, s in zip(self.metrics, state):
            m._set_state(s)


@alias('acc')
class Accuracy(EvalMetric):
    """Fraction of predictions whose arg-max (along ``axis``) equals the label."""

    def __init__(self, axis=1, name='accuracy', output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            device = _same_device(label, pred)      # counted where the arrays are
            with _scope(device):
                pred = _data(pred, device)
                label = _data(label, device)
                if pred.shape != label.shape:
                    pred = pred.argmax(axis=self.axis)
                pred = pred.astype('int64').ravel()
                label = label.astype('int64').ravel()
                check_label_shapes(label, pred, shape=True)
                self._add_where((pred == label).sum(), len(pred), device, int)


@alias('top_k_accuracy', 'top_k_acc')
class TopKAccuracy(EvalMetric):
    """Fraction of labels among the ``top_k`` highest predictions."""

    def __init__(self, top_k=1, name='top_k_accuracy', output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.top_k = top_k
        if top_k <= 1:
            raise MXNetError('Please use Accuracy if top_k is no more than 1')
        self.name += '_%d' % top_k

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            device = _same_device(label, pred)
            xp = numpy if device is None else device.xp
            with _scope(device):
                pred = _data(pred, device).astype('float32')
                label = _data(label, device).astype('int64').ravel()
                order = xp.argpartition(pred, -self.top_k, axis=1)[:, -self.top_k:]
                hits = (order == label.reshape(-1, 1)).any(axis=1).sum()
                self._add_where(hits, pred.shape[0], device, int)


class _BinaryCounts(EvalMetric):
    """Binary classification counts (positive class 1, prediction = arg-max over axis 1).

    ``average='macro'`` averages the per-batch scores (as MXNet); 'micro' pools the counts.
    """

    def __init__(self, name, average='macro', output_names=None, label_names=None):
        if average not in ('macro', 'micro'):
            raise MXNetError("average must be 'macro' or 'micro', got %r" % average)
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def reset(self):
        super().reset()
        self.counts = numpy.zeros(4)           # tp, fp, fn, tn (micro, global)
        self.local_counts = numpy.zeros(4)

    def reset_local(self):
        super().reset_local()
        self.local_counts = numpy.zeros(4)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred = _np(pred)
            label = _np(label).astype('int64').ravel()
            if pred.ndim > 1:
                pred = pred.argmax(axis=1)
            pred = pred.astype('int64').ravel()
            check_label_shapes(label, pred, shape=True)
            if len(numpy.unique(label)) > 2 or label.max(initial=0) > 1:
                raise MXNetError('%s is a binary metric: labels must be 0 or 1' % self.name)
            c = numpy.array([((pred == 1) & (label == 1)).sum(), ((pred == 1) & (label == 0)).sum(),
                             ((pred == 0) & (label == 1)).sum(), ((pred == 0) & (label == 0)).sum()],
                            dtype=float)
            if self.average == 'macro':
                self._add(self.score(c), 1)
            else:
                self.counts += c
                self.local_counts += c
                self.num_inst += int(c.sum())
                self.global_num_inst += int(c.sum())

    def get(self):
        if self.average == 'micro':
            return self.name, self.score(self.local_counts) if self.num_inst else float('nan')
        return super().get()

    def get_global(self):
        if self.average == 'micro':
            return self.name, self.score(self.counts) if self.global_num_inst else float('nan')
        return super().get_global()

    def _state(self):
        return super()._state() + [self.counts.tolist(), self.local_counts.tolist()]

    def _set_state(self, state):
        super()._set_state(state[:4])
        self.counts, self.local_counts = numpy.array(state[4]), numpy.array(state[5])


@register
class F1(_BinaryCounts):
    """F1 score of the positive class: 2 * precision * recall / (precision + recall)."""

    def __init__(self, name='f1', output_names=None, label_names=None, average='macro'):
        super().__init__(name, average, output_names, label_names)

    @staticmethod
    def score(c):
        tp, fp, fn, _ = c
        precision = tp / (tp + fp) if tp + fp > 0 else 0.
        recall = tp / (tp + fn) if tp + fn > 0 else 0.
        return float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.


@register
class MCC(_BinaryCounts):
    """Matthews correlation coefficient of binary predictions."""

    def __init__(self, name='mcc', output_names=None, label_names=None, average='macro'):
        super().__init__(name, average, output_names, label_names)

    @staticmethod
    def score(c):
        tp, fp, fn, tn = c
        denom = numpy.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return float((tp * tn - fp * fn) / denom) if denom > 0 else 0.


@register
class Perplexity(EvalMetric):
    """exp of the mean negative log-likelihood; labels equal to ``ignore_label`` are skipped."""

    def __init__(self, ignore_label, axis=-1, name='perplexity', output_names=None,
                 label_names=None):
        super().__init__(name, ignore_label=ignore_label, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            device = _same_device(label, pred)
            xp = numpy if device is None else device.xp
            with _scope(device):
                pred = _data(pred, device)
                label = _data(label, device).astype('int64').ravel()
                pred = xp.moveaxis(pred, self.axis, -1).reshape(-1, pred.shape[self.axis])
                if label.shape[0] != pred.shape[0]:
                    raise MXNetError('Shape of labels %s does not match shape of predictions '
                                     '%s' % (label.shape, pred.shape))
                probs = pred[xp.arange(label.shape[0]), xp.clip(label, 0, pred.shape[1] - 1)]
                count = label.shape[0]
                if self.ignore_label is not None:
                    ignore = label == self.ignore_label
                    probs = xp.where(ignore, 1.0, probs)
                    count = count - ignore.sum()      # on the device where the labels are
                total = -xp.log(xp.maximum(1e-10, probs)).sum()
                if device is None:
                    self._add(float(total), int(count))
                else:
                    self._add_device(total, count, device)

    def get(self):
        if self.num_inst == 0:
            return self.name, float('nan')
        return self.name, math.exp(self.sum_metric / self.num_inst)

    def get_global(self):
        if self.global_num_inst == 0:
            return self.name, float('nan')
        return self.name, math.exp(self.global_sum_metric / self.global_num_inst)


@alias('pearsonr')
class PearsonCorrelation(EvalMetric):
    """Pearson's r between predictions and labels ('macro': per batch, then averaged)."""

    def __init__(self, name='pearsonr', output_names=None, label_names=None, average='macro'):
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def reset(self):
        super().reset()
        self.moments = numpy.zeros(6)      # n, sum x, sum y, sum xy, sum xx, sum yy (global)
        self.local_moments = numpy.zeros(6)

    def reset_local(self):
        super().reset_local()
        self.local_moments = numpy.zeros(6)

    @staticmethod
    def _r(m):
        n, sx, sy, sxy, sxx, syy = m
        cov = sxy - sx * sy / n
        var = (sxx - sx * sx / n) * (syy - sy * sy / n)
        return float(cov / numpy.sqrt(var)) if var > 0 else float('nan')

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _np(label).astype('float64'), _np(pred).astype('float64')
            check_label_shapes(label, pred, False, True)
            x, y = pred.ravel(), label.ravel()
            m = numpy.array([x.size, x.sum(), y.sum(), (x * y).sum(), (x * x).sum(),
                             (y * y).sum()])
            if self.average == 'macro':
                self._add(self._r(m), 1)
            else:
                self.moments += m
                self.local_moments += m
                self.num_inst += 1
                self.global_num_inst += 1

    def get(self):
        if self.average == 'micro':
            return self.name, self._r(self.local_moments) if self.num_inst else float('nan')
        return super().get()

    def get_global(self):
        if self.average == 'micro':
            return self.name, self._r(self.moments) if self.global_num_inst else float('nan')
        return super().get_global()


@register
class PCC(EvalMetric):
    """The multiclass Matthews correlation (Gorodkin's R_K, a Pearson correlation of the
    one-hot predictions and labels) from the confusion matrix of every update since the last
    reset; for two classes it is MCC.  Predictions are class scores (argmax taken) or class
    ids; the matrix grows with the largest class seen.

    Across ranks (``fit`` with a dist store) the value is the ranks' values weighted by their
    update counts, as for the other metrics' sums: the ranks' matrices are not merged.

    Example::

        >>> m = mx.metric.PCC()
        >>> m.update([mx.nd.array([0, 1, 1])], [mx.nd.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])])
        >>> round(m.get()[1], 4)
        0.5
    """

    def __init__(self, name='pcc', output_names=None, label_names=None, has_global_stats=True):
        self.k = 2
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=has_global_stats)

    def reset(self):
        self._reduced = None
        self.global_num_inst = 0
        self.gcm = numpy.zeros((self.k, self.k))
        self.reset_local()

    def reset_local(self):
        self._reduced = None
        self.num_inst = 0
        self.lcm = numpy.zeros((self.k, self.k))

    @staticmethod
    def _value(cm):
        n = cm.sum()
        rows, cols = cm.sum(axis=1), cm.sum(axis=0)
        spread_rows = float((rows * (n - rows)).sum())
        spread_cols = float((cols * (n - cols)).sum())
        if spread_rows == 0 or spread_cols == 0:
            return float('nan')
        agree = float((numpy.diagonal(cm) * n - rows * cols).sum())
        return agree / (spread_rows * spread_cols) ** 0.5

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _np(label), _np(pred)
            # class scores (another shape than the labels') or the class ids themselves
            pred = (pred.argmax(axis=1) if pred.shape != label.shape else pred)
            label = label.astype(numpy.int64).ravel()
            pred = pred.astype(numpy.int64).ravel()
            top = int(max(pred.max(initial=0), label.max(initial=0))) + 1
            if top > self.k:
                grow = ((0, top - self.k), (0, top - self.k))
                self.lcm, self.gcm = numpy.pad(self.lcm, grow), numpy.pad(self.gcm, grow)
                self.k = top
            batch = numpy.zeros((self.k, self.k))
            numpy.add.at(batch, (pred, label), 1)
            self.lcm += batch
            self.gcm += batch
        self._reduced = None
        self.num_inst += 1
        self.global_num_inst += 1

    def get(self):
        if self._reduced is not None:
            s, n = self._reduced[0], self._reduced[1]
            return self.name, s / n if n else float('nan')
        return self.name, self._value(self.lcm) if self.num_inst else float('nan')

    def get_global(self):
        if not self._has_global_stats:
            return self.get()
        if self._reduced is not None:
            s, n = self._reduced[2], self._reduced[3]
            return self.name, s / n if n else float('nan')
        return self.name, self._value(self.gcm) if self.global_num_inst else float('nan')

    def _state(self):
        local = self._value(self.lcm) if self.num_inst else 0.0
        glob = self._value(self.gcm) if self.global_num_inst else 0.0
        local, glob = (0.0 if v != v else v for v in (local, glob))
        return [local * self.num_inst, self.num_inst, glob * self.global_num_inst,
                self.global_num_inst]

    def _set_state(self, state):
        self._reduced = list(state)


class _Regression(EvalMetric):
    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            device = _same_device(label, pred)
            with _scope(device):
                label = _data(label, device)
                pred = _data(pred, device)
                if label.ndim == 1:
                    label = label.reshape(label.shape[0], 1)
                if pred.ndim == 1:
                    pred = pred.reshape(pred.shape[0], 1)
                self._add_where(self.value(label, pred), 1, device, float)


@register
class MAE(_Regression):
    """Mean absolute error (averaged per batch, as MXNet)."""

    def __init__(self, name='mae', output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    @staticmethod
    def value(label, pred):
        return abs(label - pred).mean()


@register
class MSE(_Regression):
    """Mean squared error (averaged per batch, as MXNet)."""

    def __init__(self, name='mse', output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    @staticmethod
    def value(label, pred):
        return ((label - pred) ** 2.0).mean()


@register
class RMSE(_Regression):
    """Root mean squared error (per batch, then averaged, as MXNet)."""

    def __init__(self, name='rmse', output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    @staticmethod
    def value(label, pred):
        return ((label - pred) ** 2.0).mean() ** 0.5


@alias('ce')
class CrossEntropy(EvalMetric):
    """Mean of -log(probability of the true class)."""

    def __init__(self, eps=1e-12, name='cross-entropy', output_names=None, label_names=None):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            device = _same_device(label, pred)
            xp = numpy if device is None else device.xp
            with _scope(device):
                label = _data(label, device).ravel()
                pred = _data(pred, device)
                if label.shape[0] != pred.shape[0]:
                    raise MXNetError('Shape of labels %s does not match shape of predictions '
                                     '%s' % (label.shape, pred.shape))
                prob = pred[xp.arange(label.shape[0]), label.astype('int64')]
                self._add_where((-xp.log(prob + self.eps)).sum(), label.shape[0], device,
                                float)


@alias('nll_loss')
class NegativeLogLikelihood(CrossEntropy):
    """Same as CrossEntropy, named 'nll-loss'."""

    def __init__(self, eps=1e-12, name='nll-loss', output_names=None, label_names=None):
        super().__init__(eps=eps, name=name, output_names=output_names, label_names=label_names)


@register
class Loss(EvalMetric):
    """Mean of the outputs themselves (for MakeLoss heads); labels are ignored."""

    def __init__(self, name='loss', output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _, preds):
        if isinstance(preds, (NDArray, numpy.ndarray)):
            preds = [preds]
        for pred in preds:
            device = _same_device(pred)
            with _scope(device):
                pred = _data(pred, device)
                self._add_where(pred.sum(), pred.size, device, float)


@register
class Torch(Loss):
    """The mean of the outputs (a loss computed by the network), named 'torch'."""

    def __init__(self, name='torch', output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class Caffe(Loss):
    """The mean of the outputs (a loss computed by the network), named 'caffe'."""

    def __init__(self, name='caffe', output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


class CustomMetric(EvalMetric):
    """A metric from ``feval(label, pred) -> value`` (or ``(sum, count)``) on NumPy arrays."""

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if name is None:
            name = feval.__name__
            if name.find('<') != -1:
                name = 'custom(%s)' % name
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names, has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        for pred, label in zip(preds, labels):
            reval = self._feval(_np(label), _np(pred))
            if isinstance(reval, tuple):
                self._add(reval[0], reval[1])
            else:
                self._add(reval, 1)


def np(numpy_feval, name=None, allow_extra_outputs=False):   # noqa: F811 (MXNet's name)
    """A CustomMetric from a function of NumPy arrays: ``mx.metric.np(fn)``."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)


register(CustomMetric, 'custom')
register(CompositeEvalMetric, 'composite')
