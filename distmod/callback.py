"""``mx.callback``: what fit calls at the end of batches and epochs (MXNet's log lines).

In a data-parallel job only rank 0 logs, draws progress bars and writes checkpoints.
"""
import logging
import math
import sys
import time

from . import model as _model
from .base import is_root_rank

__all__ = ['Speedometer', 'do_checkpoint', 'module_checkpoint', 'log_train_metric',
           'ProgressBar', 'TqdmProgressBar', 'LogValidationMetricsCallback', 'save_checkpoint']

#: MXNet's ``mx.callback`` carries ``mx.model.save_checkpoint`` too.
save_checkpoint = _model.save_checkpoint


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    """Epoch-end callback: ``mod.save_checkpoint`` every ``period`` epochs."""
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    _callback._checkpoint_prefix = prefix
    return _callback


def do_checkpoint(prefix, period=1):
    """Epoch-end callback: ``prefix-symbol.json`` and ``prefix-%04d.params`` every ``period``.

    Inside ``fit`` the checkpoint is complete: the optimizer's states ``prefix-%04d.states``
    and the manifest ``prefix-%04d.json`` (with what an exact resume needs) come with it, so
    that ``Module.load(prefix, n, load_optimizer_states=True)`` and a restart by
    ``distmod-launch --max-restarts`` continue the run exactly.

    Example::

        >>> mod.fit(train, num_epoch=4, epoch_end_callback=mx.callback.do_checkpoint('mlp'))  # doctest: +SKIP
    """
    period = int(max(1, period))

    def _callback(iter_no, sym, arg, aux):
        if (iter_no + 1) % period == 0:
            _model.save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    _callback._checkpoint_prefix = prefix       # what a restarted job resumes from
    return _callback


def log_train_metric(period, auto_reset=False):
    """Batch-end callback: log the training metric every ``period`` batches."""
    def _callback(param):
        if not is_root_rank():
            return
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info('Iter[%d] Batch[%d] Train-%s=%f', param.epoch, param.nbatch,
                             name, value)
            if auto_reset:
                param.eval_metric.reset_local()
    return _callback


class Speedometer:
    """Batch-end callback: samples/sec (and the metric) every ``frequent`` batches.

    Logs MXNet's line: ``Epoch[0] Batch [50-100]\\tSpeed: 1234.56 samples/sec\\taccuracy=...``.
    """

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size = batch_size
        self.frequent = frequent
        self.auto_reset = auto_reset
        self.init = False
        self.tic = 0
        self.last_count = 0

    def __call__(self, param):
        if not is_root_rank():
            return
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count
        if not self.init:
            self.init = True
            self.tic = time.time()
            return
        if count % self.frequent != 0:
            return
        elapsed = time.time() - self.tic
        speed = self.frequent * self.batch_size / elapsed if elapsed > 0 else float('inf')
        if param.eval_metric is not None:
            name_value = param.eval_metric.get_name_value()
            if self.auto_reset:
                param.eval_metric.reset_local()
                msg = 'Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec'
                args = [param.epoch, count - self.frequent, count, speed]
            else:
                msg = 'Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec'
                args = [param.epoch, count, speed]
            msg += '\t%s=%f' * len(name_value)
            for name, value in name_value:
                args += [name, value]
            logging.info(msg, *args)
        else:
            logging.info('Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec', param.epoch, count,
                         speed)
        self.tic = time.time()


class ProgressBar:
    """Batch-end callback drawing a text progress bar of ``total`` batches."""

    def __init__(self, total, length=80):
        self.bar_len = length
        self.total = total

    def __call__(self, param):
        if not is_root_rank():
            return
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percents = math.ceil(100.0 * count / float(self.total))
        bar = '=' * filled + '-' * (self.bar_len - filled)
        sys.stdout.write('[%s] %s%s\r' % (bar, percents, '%'))


class TqdmProgressBar:
    """Batch-end callback showing a tqdm bar per epoch, with the metric as its postfix.

    Pass it as ``batch_end_callback`` to ``fit`` or ``score``; ``total`` is the number of
    batches per epoch if known.  Needs ``tqdm`` (``pip install 'distmod[progress]'``); without
    it the text ProgressBar is used when ``total`` is given, else nothing is drawn.
    """

    def __init__(self, total=None, desc='Epoch', leave=False):
        self.total = total
        self.desc = desc
        self.leave = leave
        self.bar = None
        self.epoch = None
        try:
            import tqdm
            self._tqdm = tqdm.tqdm
        except ImportError:
            self._tqdm = None
            self._fallback = ProgressBar(total) if total else None

    def __call__(self, param):
        if not is_root_rank():
            return
        if self._tqdm is None:
            if self._fallback is not None:
                self._fallback(param)
            return
        if self.bar is None or param.epoch != self.epoch or param.nbatch == 0:
            self.close()
            self.epoch = param.epoch
            self.bar = self._tqdm(total=self.total, desc='%s[%d]' % (self.desc, param.epoch),
                                  leave=self.leave)
        self.bar.update(1)
        if param.eval_metric is not None:
            self.bar.set_postfix(dict(param.eval_metric.get_name_value()), refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LogValidationMetricsCallback:
    """Eval-end callback: log every validation metric as ``Epoch[n] Validation-name=value``."""

    def __call__(self, param):
        if not is_root_rank():
            return
        if not param.eval_metric:
            return
        for name, value in param.eval_metric.get_name_value():
            logging.info('Epoch[%d] Validation-%s=%f', param.epoch, name, value)
