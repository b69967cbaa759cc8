"""``mx.lr_scheduler``: the learning rate as a function of the update count, with warmup.

The optimizer calls ``scheduler(num_update)`` (its update count, from 1) before each update and
uses the returned rate.  Schedulers keep state (the current rate), and the arithmetic follows
MXNet 1.9 step for step, so the sequences agree to the last bit.

Example::

    >>> sched = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    >>> [sched(n) for n in range(1, 7)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
"""
import logging
from math import cos, pi

from .base import MXNetError

__all__ = ['LRSchedulerError', 'LRScheduler', 'FactorScheduler', 'MultiFactorScheduler',
           'PolyScheduler', 'CosineScheduler']


class LRSchedulerError(MXNetError, ValueError):
    """A bad scheduler argument.  Also a ``ValueError``, which MXNet raises here."""


def _check_max_update(max_update):
    if not isinstance(max_update, int):
        raise LRSchedulerError('max_update must be an int, got %r' % (max_update,))
    if max_update < 1:
        raise LRSchedulerError('maximum number of updates must be strictly positive, got %d'
                               % max_update)


class LRScheduler:
    """Base class: holds ``base_lr`` and the warmup, ``warmup_steps`` updates that start at
    ``warmup_begin_lr`` and rise linearly to ``base_lr`` (``warmup_mode='linear'``) or stay
    at ``warmup_begin_lr`` (``'constant'``).  Subclasses define ``__call__(num_update)``."""

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode='linear'):
        self.base_lr = base_lr
        if not isinstance(warmup_steps, int):
            raise LRSchedulerError('warmup_steps must be an int, got %r' % (warmup_steps,))
        self.warmup_steps = warmup_steps
        # Fixed here: an optimizer that later sets base_lr does not move the warmup's target.
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise LRSchedulerError('Base lr has to be higher than warmup_begin_lr (base_lr=%s, '
                                   'warmup_begin_lr=%s)' % (base_lr, warmup_begin_lr))
        if self.warmup_steps < 0:
            raise LRSchedulerError('Warmup steps has to be positive or 0, got %d'
                                   % warmup_steps)
        if warmup_mode not in ('linear', 'constant'):
            raise LRSchedulerError('Supports only linear and constant modes of warmup, got %r'
                                   % (warmup_mode,))
        self.warmup_mode = warmup_mode

    def _checkpoint_state(self):
        """The scheduler's state as JSON data (its numbers, strings and lists of numbers:
        the current rate, the step counters); a checkpoint keeps it for an exact resume."""
        plain = (bool, int, float, str, type(None))
        return {k: (list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in vars(self).items()
                if isinstance(v, plain) or (isinstance(v, (list, tuple)) and
                                            all(isinstance(x, plain) for x in v))}

    def _restore_checkpoint_state(self, state):
        """Take back what :meth:`_checkpoint_state` gave."""
        for k, v in state.items():
            if k in vars(self):
                setattr(self, k, type(getattr(self, k))(v) if isinstance(getattr(self, k), tuple)
                        else v)

    def get_warmup_lr(self, num_update):
        """The rate at update ``num_update`` (< ``warmup_steps``) of the warmup."""
        if num_update >= self.warmup_steps:
            raise LRSchedulerError('update %d is past the %d warmup steps'
                                   % (num_update, self.warmup_steps))
        if self.warmup_mode == 'constant':
            return self.warmup_begin_lr
        increase = (self.warmup_final_lr - self.warmup_begin_lr) \
            * float(num_update) / float(self.warmup_steps)
        return self.warmup_begin_lr + increase

    def __call__(self, num_update):
        """The learning rate for update ``num_update`` (the most updates any weight has had)."""
        raise NotImplementedError('must override this')


class FactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` every ``step`` updates (``base_lr * factor **
    floor((num_update - 1) / step)``), never below ``stop_factor_lr``.  Logs each change."""

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode='linear'):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise LRSchedulerError('Schedule step must be greater or equal than 1 round, got %s'
                                   % (step,))
        if factor > 1.0:
            raise LRSchedulerError('Factor must be no more than 1 to make lr reduce, got %s'
                                   % (factor,))
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # Catch up with every step boundary passed since the last call (calls may skip).
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info('Update[%d]: now learning rate arrived at %0.5e, will not '
                             'change in the future', num_update, self.base_lr)
            else:
                logging.info('Update[%d]: Change learning rate to %0.5e',
                             num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` once past each update count in ``step`` (an increasing
    list): ``base_lr * factor ** k`` for ``step[k-1] < num_update <= step[k]``."""

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode='linear'):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or len(step) < 1:
            raise LRSchedulerError('step must be a non-empty list of update counts, got %r'
                                   % (step,))
        for i, s in enumerate(step):
            if i != 0 and step[i] <= step[i - 1]:
                raise LRSchedulerError('Schedule step must be an increasing integer list, '
                                       'got %r' % (step,))
            if s < 1:
                raise LRSchedulerError('Schedule step must be greater or equal than 1 round, '
                                       'got %r' % (step,))
        if factor > 1.0:
            raise LRSchedulerError('Factor must be no more than 1 to make lr reduce, got %s'
                                   % (factor,))
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
            logging.info('Update[%d]: Change learning rate to %0.5e', num_update, self.base_lr)
        return self.base_lr


class PolyScheduler(LRScheduler):
    """Polynomial decay after warmup: ``final_lr + (base_lr - final_lr) * (1 - t / T) ** pwr``
    with ``t = num_update - warmup_steps`` and ``T = max_update - warmup_steps``; ``final_lr``
    from ``max_update`` on."""

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode='linear'):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update(max_update)
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * \
                pow(1 - float(num_update - self.warmup_steps) / float(self.max_steps),
                    self.power)
        return self.base_lr


class CosineScheduler(LRScheduler):
    """Cosine decay after warmup: ``final_lr + (base_lr - final_lr) * (1 + cos(pi * t / T)) /
    2`` with ``t``, ``T`` as in ``PolyScheduler``; ``final_lr`` from ``max_update`` on."""

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode='linear'):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update(max_update)
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * \
                (1 + cos(pi * (num_update - self.warmup_steps) / self.max_steps)) / 2
        return self.base_lr
