"""``mx.model.FeedForward``: MXNet's older training interface, over :class:`Module`.

Scripts written before the Module API build a ``FeedForward`` from a symbol and call ``fit``
with NumPy arrays or data iterators, then ``predict``, ``score``, ``save`` and
``FeedForward.load``.  Here each call runs a :class:`~distmod.module.Module`, so training,
checkpoints (MXNet's files) and data parallelism are the Module's.

Example::

    >>> net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'),
    ...                                                  num_hidden=2), name='softmax')
    >>> x = np.random.rand(40, 3).astype('float32'); y = (x.sum(1) > 1.5).astype('float32')
    >>> model = mx.model.FeedForward(net, num_epoch=2, numpy_batch_size=10,
    ...                              learning_rate=0.1)
    >>> model.fit(x, y)
    >>> model.predict(x).shape
    (40, 2)
"""
import logging

import numpy as np

from ..base import MXNetError
from ..context import Context, cpu
from .. import io as _io
from .. import metric as _metric
from .. import model as _model
from ..ndarray.ndarray import NDArray
from .module import Module

__all__ = ['FeedForward']


def _is_data_arg(name):
    return name.endswith('data') or name.endswith('label')


class FeedForward:
    """A symbol with its parameters and how to train it (MXNet's ``mx.model.FeedForward``).

    ``ctx`` (a Context or a list), ``num_epoch``, ``epoch_size`` (batches per epoch; None: the
    whole iterator), ``optimizer`` (a name or an Optimizer, with ``**kwargs`` its parameters,
    e.g. ``learning_rate``), ``initializer``, ``numpy_batch_size`` (for NumPy inputs),
    ``arg_params``/``aux_params`` to start from, ``begin_epoch``.
    """

    def __init__(self, symbol, ctx=None, num_epoch=None, epoch_size=None, optimizer='sgd',
                 initializer=None, numpy_batch_size=128, arg_params=None, aux_params=None,
                 allow_extra_params=False, begin_epoch=0, **kwargs):
        from .. import initializer as _init
        if isinstance(symbol, type(None)):
            raise MXNetError('FeedForward: symbol is required')
        self.symbol = symbol
        if ctx is None:
            ctx = [cpu()]
        elif isinstance(ctx, Context):
            ctx = [ctx]
        self.ctx = list(ctx)
        self.num_epoch = num_epoch
        self.epoch_size = epoch_size
        self.optimizer = optimizer
        self.kwargs = dict(kwargs)
        self.initializer = initializer if initializer is not None else _init.Uniform(0.01)
        self.numpy_batch_size = numpy_batch_size
        self.arg_params = arg_params
        self.aux_params = aux_params
        self.allow_extra_params = allow_extra_params
        self.begin_epoch = begin_epoch
        self._module = None

    # ---- data ----------------------------------------------------------------------------
    def _init_iter(self, X, y, is_train):
        """A DataIter from an iterator, or from NumPy/NDArray data (and labels)."""
        if isinstance(X, (np.ndarray, NDArray)):
            if y is None:
                if is_train:
                    raise MXNetError('FeedForward.fit: y (the labels) is required with array '
                                     'data')
                y = np.zeros(X.shape[0])
            y = y.asnumpy() if isinstance(y, NDArray) else np.asarray(y)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y.ravel()
            if y.shape[0] != X.shape[0]:
                raise MXNetError('FeedForward: X has %d samples but y has %d'
                                 % (X.shape[0], y.shape[0]))
            batch = min(X.shape[0], self.numpy_batch_size)
            return _io.NDArrayIter(X, y, batch, shuffle=is_train,
                                   last_batch_handle='roll_over' if is_train else 'pad')
        if not isinstance(X, _io.DataIter):
            raise MXNetError('FeedForward: X must be a NumPy array, an NDArray or a DataIter, '
                             'got %s' % type(X).__name__)
        return X

    def _init_eval_iter(self, eval_data):
        if eval_data is None or isinstance(eval_data, _io.DataIter):
            return eval_data
        if isinstance(eval_data, (tuple, list)) and len(eval_data) == 2:
            return self._init_iter(eval_data[0], eval_data[1], is_train=False)
        raise MXNetError('FeedForward: eval_data must be a DataIter or a pair (X, y)')

    def _names(self, data):
        """The iterator's data names, and as labels what it provides or, as MXNet reads a
        FeedForward symbol, every other argument whose name ends with ``label``."""
        data_names = [d[0] for d in data.provide_data]
        args = self.symbol.list_arguments()
        given = [d[0] for d in (data.provide_label or []) if d[0] in args]
        labels = given or [n for n in args if _is_data_arg(n) and n not in data_names]
        return data_names, labels

    def _make_module(self, data, logger=None, work_load_list=None):
        data_names, label_names = self._names(data)
        return Module(self.symbol, data_names=data_names, label_names=label_names,
                      context=self.ctx, work_load_list=work_load_list,
                      logger=logger or logging)

    # ---- training ------------------------------------------------------------------------
    def fit(self, X, y=None, eval_data=None, eval_metric='acc', epoch_end_callback=None,
            batch_end_callback=None, kvstore='local', logger=None, work_load_list=None,
            monitor=None, eval_end_callback=None, eval_batch_end_callback=None):
        """Train for ``num_epoch`` epochs on ``X`` (and ``y``); validation on ``eval_data``."""
        if self.num_epoch is None:
            raise MXNetError('FeedForward.fit: num_epoch is not set')
        data = self._init_iter(X, y, is_train=True)
        if self.epoch_size is not None:
            data = _io.ResizeIter(data, self.epoch_size)
        eval_data = self._init_eval_iter(eval_data)
        mod = self._make_module(data, logger, work_load_list)
        optimizer = self.optimizer
        params = dict(self.kwargs)
        if not isinstance(optimizer, str):
            params = {}
        mod.fit(data, eval_data=eval_data, eval_metric=eval_metric,
                epoch_end_callback=epoch_end_callback, batch_end_callback=batch_end_callback,
                kvstore=kvstore, optimizer=optimizer, optimizer_params=params,
                eval_end_callback=eval_end_callback,
                eval_batch_end_callback=eval_batch_end_callback, initializer=self.initializer,
                arg_params=self.arg_params, aux_params=self.aux_params,
                allow_missing=self.arg_params is not None, begin_epoch=self.begin_epoch,
                num_epoch=self.num_epoch, monitor=monitor)
        self.arg_params, self.aux_params = mod.get_params()
        self._module = mod

    # ---- inference -----------------------------------------------------------------------
    def _predictor(self, data):
        if self.arg_params is None:
            raise MXNetError('FeedForward: the model has no parameters (fit or load it first)')
        mod = self._make_module(data)
        mod.bind(data.provide_data, data.provide_label or None, for_training=False)
        mod.set_params(self.arg_params, self.aux_params or {},
                       allow_extra=self.allow_extra_params)
        return mod

    def predict(self, X, num_batch=None, return_data=False, reset=True):
        """The outputs for ``X`` as NumPy arrays (a list when the symbol has several); with
        ``return_data`` also ``(outputs, data, label)``."""
        data = self._init_iter(X, None, is_train=False)
        if reset:
            data.reset()
        mod = self._predictor(data)
        outs, datas, labels = [], [], []
        for out, _, batch in mod.iter_predict(data, num_batch=num_batch, reset=False):
            keep = batch.data[0].shape[0] - (batch.pad or 0)
            outs.append([o.asnumpy()[:keep] for o in out])
            if return_data:
                datas.append([d.asnumpy()[:keep] for d in batch.data])
                labels.append([l.asnumpy()[:keep] for l in (batch.label or [])])
        if not outs:
            return []
        merged = [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        result = merged[0] if len(merged) == 1 else merged
        if return_data:
            d = [np.concatenate([x[i] for x in datas]) for i in range(len(datas[0]))]
            lab = [np.concatenate([x[i] for x in labels]) for i in range(len(labels[0]))] \
                if labels and labels[0] else []
            return (result, d[0] if len(d) == 1 else d,
                    lab[0] if len(lab) == 1 else lab)
        return result

    def score(self, X, eval_metric='acc', num_batch=None, batch_end_callback=None,
              reset=True):
        """The value of ``eval_metric`` over ``X`` (an iterator with labels)."""
        data = self._init_iter(X, None, is_train=False)
        mod = self._predictor(data)
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        res = mod.score(data, eval_metric, num_batch=num_batch,
                        batch_end_callback=batch_end_callback, reset=reset)
        return res[0][1] if len(res) == 1 else [v for _, v in res]

    # ---- checkpoints ---------------------------------------------------------------------
    def save(self, prefix, epoch=None, remove_amp_cast=True):
        """``prefix-symbol.json`` and ``prefix-%04d.params`` (epoch: ``num_epoch`` if None)."""
        if epoch is None:
            epoch = self.num_epoch
        if epoch is None:
            raise MXNetError('FeedForward.save: give epoch (num_epoch is not set)')
        _model.save_checkpoint(prefix, epoch, self.symbol, self.arg_params,
                               self.aux_params or {}, remove_amp_cast=remove_amp_cast)

    @staticmethod
    def load(prefix, epoch, ctx=None, **kwargs):
        """A FeedForward from ``prefix-symbol.json`` and ``prefix-%04d.params``; other
        arguments as for the constructor."""
        symbol, arg_params, aux_params = _model.load_checkpoint(prefix, epoch)
        return FeedForward(symbol, ctx=ctx, arg_params=arg_params, aux_params=aux_params,
                           begin_epoch=epoch, **kwargs)

    @staticmethod
    def create(symbol, X, y=None, ctx=None, num_epoch=None, epoch_size=None, optimizer='sgd',
               initializer=None, eval_data=None, eval_metric='acc', epoch_end_callback=None,
               batch_end_callback=None, kvstore='local', logger=None, work_load_list=None,
               eval_end_callback=None, eval_batch_end_callback=None, **kwargs):
        """Build a FeedForward and ``fit`` it at once."""
        model = FeedForward(symbol, ctx=ctx, num_epoch=num_epoch, epoch_size=epoch_size,
                            optimizer=optimizer, initializer=initializer, **kwargs)
        model.fit(X, y, eval_data=eval_data, eval_metric=eval_metric,
                  epoch_end_callback=epoch_end_callback, batch_end_callback=batch_end_callback,
                  kvstore=kvstore, logger=logger, work_load_list=work_load_list,
                  eval_end_callback=eval_end_callback,
                  eval_batch_end_callback=eval_batch_end_callback)
        return model
