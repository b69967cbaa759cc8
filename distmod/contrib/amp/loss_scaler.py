"""Dynamic loss scaling for AMP: halve the scale when gradients overflow, double it after a
run of clean steps (MXNet's schedule: start at 2**16, at most 2**24, 2000 clean steps)."""
import logging

import numpy as np

__all__ = ['LossScaler']


def _grad_of(param):
    """The gradient array of a parameter-like object (``_grad`` list or ``grad``) or of an
    array given directly; None when it has none."""
    grad = getattr(param, '_grad', None)
    if grad is not None:
        return grad[0] if isinstance(grad, (list, tuple)) else grad
    if hasattr(param, 'asnumpy') or isinstance(param, np.ndarray):
        return param
    return getattr(param, 'grad', None)


class LossScaler:
    """The current loss scale and its update rule.

    Example::

        >>> from distmod.contrib.amp.loss_scaler import LossScaler
        >>> ls = LossScaler()
        >>> ls.has_overflow([mx.nd.array([1.0, float('inf')])]), ls.loss_scale
        (True, 65536.0)
    """

    def __init__(self):
        self._loss_scale = 2.0 ** 16
        self._next_loss_scale = self._loss_scale
        self._max_loss_scale = 2.0 ** 24
        self._scale_seq_len = 2000
        self._unskipped = 0

    @property
    def loss_scale(self):
        return self._loss_scale

    def has_overflow(self, params):
        """Whether any gradient holds an inf or NaN; moves the scale on for the next step.

        ``params``: gradient arrays, or objects holding one (``_grad`` or ``grad``).
        """
        finite = True
        for p in params:
            g = _grad_of(p)
            if g is None:
                continue
            values = g.asnumpy() if hasattr(g, 'asnumpy') else np.asarray(g)
            if not np.isfinite(values).all():
                finite = False
                break
        overflow = not finite
        self._loss_scale = self._next_loss_scale
        if overflow:
            self._next_loss_scale = self._loss_scale / 2.0
            self._unskipped = 0
            logging.info('AMP: decreasing loss scale to %f', self._next_loss_scale)
        else:
            self._unskipped += 1
        if self._unskipped == self._scale_seq_len:
            self._unskipped = 0
            self._next_loss_scale = min(self._max_loss_scale, self._loss_scale * 2.0)
            logging.info('AMP: increasing loss scale to %f', self._next_loss_scale)
        return overflow
