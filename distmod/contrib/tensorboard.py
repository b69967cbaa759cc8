"""``mx.contrib.tensorboard``: a callback that writes metrics for TensorBoard."""
import logging

__all__ = ['LogMetricsCallback']


class LogMetricsCallback:
    """Write the metric values a batch-end or eval-end callback receives as TensorBoard
    scalars (through ``mxboard``'s ``SummaryWriter``, as MXNet), ``prefix-name`` when a
    ``prefix`` is given, at step ``param.epoch``.

    Example::

        >>> cb = mx.contrib.tensorboard.LogMetricsCallback('logs/train')     # doctest: +SKIP
        >>> mod.fit(train, batch_end_callback=cb, num_epoch=2)               # doctest: +SKIP
    """

    def __init__(self, logging_dir, prefix=None):
        self.prefix = prefix
        self.summary_writer = None
        try:
            from mxboard import SummaryWriter
            self.summary_writer = SummaryWriter(logging_dir)
        except ImportError:
            logging.error('You can install mxboard via `pip install mxboard`.')

    def __call__(self, param):
        if param.eval_metric is None:
            return
        if self.summary_writer is None:
            raise RuntimeError('LogMetricsCallback: mxboard is not installed '
                               '(pip install mxboard)')
        for name, value in param.eval_metric.get_name_value():
            if self.prefix is not None:
                name = '%s-%s' % (self.prefix, name)
            self.summary_writer.add_scalar(name, value, global_step=param.epoch)
