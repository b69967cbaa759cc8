"""``mx.optimizer``: optimizers, updaters and their states in a safe format.

Every optimizer keeps MXNet 1.9's update rule, defaults and order of operations (where
``rescale_grad``, ``clip_gradient`` and ``wd`` enter, bias corrections).  Updates run in place
on the weight's buffer with NumPy/CuPy ufuncs (``out=``) and a few scratch buffers cached per
parameter, so a training step allocates nothing per parameter once warm.

Example::

    >>> import distmod as mx
    >>> opt = mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)
    >>> updater = mx.optimizer.get_updater(opt)
    >>> w = mx.nd.ones((2,))
    >>> updater(0, mx.nd.ones((2,)), w)
    >>> w.asnumpy().tolist()
    [0.8999999761581421, 0.8999999761581421]

Row-sparse gradients (``Embedding(sparse_grad=True)``, ``mx.nd.sparse``) are *lazy* in SGD
(and NAG without momentum) and Adam with ``lazy_update=True``, as in MXNet: only the rows the
gradient holds are updated, weight decay and momentum/moment rows included; with
``lazy_update=False``, and in every other optimizer, a row-sparse gradient is used as the dense
array it stands for (the standard update).  A row-sparse weight is updated as the full array.

Optimizer states (``Updater.get_states``) are distmod's own format, never a pickle, unless
MXNet's format is asked for (``fmt='mxnet'``); ``Updater.set_states`` reads both, and reads
MXNet's pickles without running code (:mod:`distmod.mxnet_states`).  ``save_states_file`` and
``load_states_file`` do the same with files.
"""
import io
import json
import math
import warnings

import numpy as np

from . import _native
from .base import MXNetError, register_by_name
from .context import array_module, cpu
from .ndarray.ndarray import NDArray, _wrap

__all__ = ['Optimizer', 'SGD', 'ccSGD', 'LARS', 'NAG', 'Adam', 'AdamW', 'AdaGrad', 'RMSProp',
           'AdaDelta',
           'Adamax', 'Nadam', 'Ftrl', 'FTML', 'Signum', 'LAMB', 'DCASGD', 'SGLD', 'Test',
           'Updater', 'get_updater', 'create', 'register', 'OptimizerError', 'save_states_file',
           'load_states_file']


class OptimizerError(MXNetError, ValueError):
    """Unknown optimizer names and unreadable optimizer states (a ValueError, as in MXNet)."""


class Optimizer:
    """Base optimizer: learning rate (or scheduler), weight decay, gradient rescaling and
    clipping, per-parameter ``lr_mult``/``wd_mult`` and update counts.

    Parameters are MXNet 1.9's: ``rescale_grad`` scales every gradient first;
    ``clip_gradient`` clips it to ``[-c, c]``; ``wd`` is the L2 weight decay; ``learning_rate``
    (0.01 when neither it nor ``lr_scheduler`` is given; when both are, it overwrites the
    scheduler's ``base_lr``); ``sym`` supplies ``__lr_mult__``/``__wd_mult__`` attributes;
    ``param_idx2name`` maps update indices to names (names not ending in ``_weight`` or
    ``_gamma`` get ``wd_mult`` 0); ``begin_num_update`` starts the update counts;
    ``multi_precision`` keeps float32 master weights for float16 parameters.
    """

    opt_registry = {}
    # MXNet's fused kernels clip only when ``clip_gradient`` is truthy (0 means off); the
    # optimizers it writes in Python clip whenever it is not None.
    _clip_when_truthy = True

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None:
            if getattr(lr_scheduler, 'base_lr', None) != learning_rate:
                lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise OptimizerError('param_idx2name should be a dict of param indexes to names, '
                                 'not %s' % type(param_idx2name).__name__)
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self._buffers = {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    # ---- registry ----------------------------------------------------------------------
    @staticmethod
    def register(klass):
        """Register an Optimizer subclass under its lower-cased class name."""
        return register_by_name(Optimizer.opt_registry, klass, 'optimizer', OptimizerError)

    @staticmethod
    def create_optimizer(name, **kwargs):
        """An instance of the optimizer registered as ``name`` (case-insensitive)."""
        klass = Optimizer.opt_registry.get(str(name).lower())
        if klass is None:
            raise OptimizerError('Cannot find optimizer %s; known: %s'
                                 % (name, ', '.join(sorted(Optimizer.opt_registry))))
        return klass(**kwargs)

    # ---- learning rate and weight decay ------------------------------------------------
    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        if self.lr_scheduler is not None:
            raise UserWarning('LRScheduler of the optimizer has already been defined. Note '
                              'that set_learning_rate can mutate the value of the learning '
                              'rate of the optimizer only when the LRScheduler of the '
                              'optimizer is undefined.')
        self.lr = lr

    def set_lr_scale(self, args_lrscale):
        """[DEPRECATED in MXNet] use ``set_lr_mult``."""
        raise DeprecationWarning

    def set_lr_mult(self, args_lr_mult):
        """Per-name (or index) learning-rate multipliers; symbol ``__lr_mult__`` attributes
        first, then ``args_lr_mult``."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__lr_mult__' in attr[name]:
                    self.lr_mult[name] = float(attr[name]['__lr_mult__'])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Per-name weight-decay multipliers: 0 for names in ``param_idx2name`` not ending in
        ``_weight`` or ``_gamma``, then symbol ``__wd_mult__`` attributes, then
        ``args_wd_mult``."""
        self.wd_mult = {}
        for n in self.idx2name.values():
            if not self._decays(n):
                self.wd_mult[n] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__wd_mult__' in attr[name]:
                    self.wd_mult[name] = float(attr[name]['__wd_mult__'])
        self.wd_mult.update(args_wd_mult)

    @staticmethod
    def _decays(name):
        """Whether weight decay applies to parameter ``name`` by default."""
        return name.endswith('_weight') or name.endswith('_gamma')

    def _set_current_context(self, device_id):
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        indices = index if isinstance(index, (list, tuple)) else [index]
        counts = self._index_update_count
        for idx in indices:
            counts[idx] = counts.get(idx, self.begin_num_update) + 1
            if counts[idx] > self.num_update:
                self.num_update = counts[idx]

    def _mult(self, index, table, attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(i, self.lr_mult, 'lr_mult') for i in indices]

    def _get_lr(self, index):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return lr * self._mult(index, self.lr_mult, 'lr_mult')

    def _get_wds(self, indices):
        return [self.wd * self._mult(i, self.wd_mult, 'wd_mult') for i in indices]

    def _get_wd(self, index):
        return self.wd * self._mult(index, self.wd_mult, 'wd_mult')

    # ---- states and updates ------------------------------------------------------------
    def create_state(self, index, weight):
        return None

    def create_state_multi_precision(self, index, weight):
        """``(float32 master copy, state)`` for float16 weights under ``multi_precision``."""
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn('Accumulating with float16 in optimizer can lead to poor accuracy or '
                          'slow convergence. Consider using multi_precision=True option of the '
                          '%s optimizer' % type(self).__name__)
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        raise NotImplementedError('%s does not define update' % type(self).__name__)

    def update_multi_precision(self, index, weight, grad, state):
        if self.multi_precision and weight.dtype == np.float16:
            master, inner = state
            self.update(index, master, grad.astype(np.float32), inner)
            weight._data[...] = master._data
            return
        self.update(index, weight, grad, state)

    # ---- helpers for in-place updates --------------------------------------------------
    def _tmp(self, index, slot, like):
        """A scratch buffer shaped like ``like``, cached per (index, slot)."""
        key = (index, slot)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = array_module(like).empty_like(like)
            self._buffers[key] = buf
        return buf

    def _clips(self):
        c = self.clip_gradient
        return (c is not None and c > 0) if self._clip_when_truthy else c is not None

    def _grad(self, xp, index, w, grad, wd=0.0, clip_after_wd=True):
        """``rescale_grad * grad`` (plus ``wd * w``, added before or after clipping) in a
        cached buffer."""
        g = self._tmp(index, 'g', w)
        xp.multiply(grad._data, self.rescale_grad, out=g, dtype=g.dtype)
        if wd and clip_after_wd:
            g += self._scaled(xp, index, w, wd)
        if self._clips():
            xp.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        if wd and not clip_after_wd:
            g += self._scaled(xp, index, w, wd)
        return g

    def _scaled(self, xp, index, a, factor, slot='t'):
        t = self._tmp(index, slot, a)
        xp.multiply(a, factor, out=t)
        return t

    def _lazy(self, grad):
        """True when ``grad`` is row-sparse and this optimizer updates lazily."""
        return grad._sparse and grad.stype == 'row_sparse' and \
            getattr(self, 'lazy_update', False)

    def _grad_rows(self, xp, w, grad, wd=0.0):
        """``(rows, g)`` of a row-sparse ``grad``: its distinct rows (increasing) and
        ``clip(rescale_grad * grad[rows] + wd * w[rows])`` (a new array of ``w``'s dtype)."""
        sp = grad._sp
        rows = xp.asarray(sp.indices)
        vals = xp.asarray(sp.values)
        if rows.shape[0] > 1 and not bool((rows[1:] > rows[:-1]).all()):
            from .ops.sparse import sum_rows
            rows, vals = sum_rows(xp, rows, vals)
        g = xp.multiply(vals, self.rescale_grad, dtype=w.dtype)
        if wd:
            g += wd * w[rows]
        if self._clips():
            xp.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return rows, g

    def __getstate__(self):
        raise TypeError('distmod optimizers are not pickled; save them with '
                        'Updater.get_states(dump_optimizer=True)')


register = Optimizer.register


def create(name, **kwargs):
    """``mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)``."""
    return Optimizer.create_optimizer(name, **kwargs)


def _zeros_like(weight):
    return _wrap(array_module(weight._data).zeros_like(weight._data), weight.context)


@register
class SGD(Optimizer):
    """SGD with momentum and weight decay, as MXNet's ``sgd_update``/``sgd_mom_update``::

        mom = momentum * mom - lr * wd * w - lr * clip(rescale_grad * grad)
        w += mom            # without momentum: w = (1 - lr * wd) * w - lr * clip(...)

    ``lazy_update`` is accepted (storage is always dense here).  Under ``multi_precision``
    the state of a float16 weight is ``(momentum or None, float32 master weight)``.
    """

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            return (self.create_state(index, master), master)
        return super().create_state_multi_precision(index, weight)

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def _step(self, index, w, grad, mom, lr, wd):
        xp = array_module(w)
        if grad._sparse and self._lazy(grad):
            return self._lazy_step(xp, w, grad, mom, lr, wd)
        heavy = mom is not None and self.momentum > 0
        clips = self._clips()
        if xp is np and not grad._sparse and not (clips and self.clip_gradient < 0):
            kernel = self._buffers.get((index, 'native'))    # scratch: never saved
            if kernel is None:
                kernel = self._buffers[(index, 'native')] = _native.SGDStep()
            if kernel.step(w, grad._data, mom if heavy else None, self.rescale_grad, lr,
                           self.momentum, lr * wd if wd else 0.0,
                           1. - lr * wd if wd else 1.0, self.clip_gradient if clips else -1.0):
                return        # the lines below in one pass, the same bits (elementwise.c)
        g = self._grad(xp, index, w, grad)
        g *= lr
        if not heavy:
            if wd:
                w *= 1. - lr * wd
            w -= g
            return
        mom *= self.momentum
        if wd:
            mom -= self._scaled(xp, index, w, lr * wd)
        mom -= g
        w += mom

    def _lazy_step(self, xp, w, grad, mom, lr, wd):
        """The dense step's arithmetic, in its order, on the gradient's rows only."""
        rows, g = self._grad_rows(xp, w, grad)
        g *= lr
        if mom is None or not self.momentum > 0:
            wr = w[rows]
            if wd:
                wr *= 1. - lr * wd
            wr -= g
            w[rows] = wr
            return
        m = mom[rows]
        m *= self.momentum
        if wd:
            m -= w[rows] * (lr * wd)
        m -= g
        mom[rows] = m
        w[rows] += m

    def update(self, index, weight, grad, state):
        self._update_count(index)
        self._step(index, weight._data, grad, None if state is None else state._data,
                   self._get_lr(index), self._get_wd(index))

    def update_multi_precision(self, index, weight, grad, state):
        if not (self.multi_precision and weight.dtype == np.float16):
            return self.update(index, weight, grad, state)
        self._update_count(index)
        mom, master = state
        self._step(index, master._data, grad, None if mom is None else mom._data,
                   self._get_lr(index), self._get_wd(index))
        weight._data[...] = master._data


@register
class LARS(SGD):
    """Layer-wise adaptive rate scaling (You et al., 2017): SGD with momentum whose learning
    rate for each weight is scaled by ``eta * |w| / (|rescale_grad * g| + wd * |w| + eps)``
    (norms over the whole array; unscaled where either norm is 0, and for names ending in
    ``gamma``, ``beta`` or ``bias``).  Weight decay applies to ``*_weight`` only.  With
    ``momentum_correction`` the momentum of a weight is scaled by its learning rate's change
    since its last update (Goyal et al., 2017), so a scheduler's step does not jolt it.
    (MXNet corrects only the first group of weights it updates after the change; here each
    weight's first update after it is corrected.)
    """

    def __init__(self, momentum=0.0, lazy_update=True, eta=0.001, eps=0, momentum_correction=True,
                 **kwargs):
        super().__init__(momentum=momentum, lazy_update=lazy_update, **kwargs)
        self.eta, self.eps, self.momentum_correction = eta, eps, momentum_correction
        self._last_lr = {}

    @staticmethod
    def _decays(name):
        return name.endswith('_weight')         # (not BatchNorm's gamma, unlike the others)

    def _ratio(self, index, w, grad, wd):
        name = self.idx2name.get(index, str(index))
        if name.endswith(('gamma', 'beta', 'bias')):
            return 1.0
        xp = array_module(w)
        w_norm = float(xp.sqrt((w.astype(np.float32) ** 2).sum()))
        g = grad._data.astype(np.float32) * self.rescale_grad
        g_norm = float(xp.sqrt((g * g).sum()))
        if w_norm > 0 and g_norm > 0:
            return self.eta * w_norm / (g_norm + wd * w_norm + self.eps)
        return 1.0

    def _lars_step(self, index, w, grad, mom):
        lr, wd = self._get_lr(index), self._get_wd(index)
        last = self._last_lr.get(index, lr)
        self._last_lr[index] = lr
        momentum = self.momentum
        if self.momentum_correction and last:
            self.momentum = momentum * (lr / last)
        try:
            self._step(index, w, grad, mom, lr * self._ratio(index, w, grad, wd), wd)
        finally:
            self.momentum = momentum

    def update(self, index, weight, grad, state):
        self._update_count(index)
        self._lars_step(index, weight._data, grad, None if state is None else state._data)

    def update_multi_precision(self, index, weight, grad, state):
        if not (self.multi_precision and weight.dtype == np.float16):
            return self.update(index, weight, grad, state)
        self._update_count(index)
        mom, master = state
        self._lars_step(index, master._data, grad, None if mom is None else mom._data)
        weight._data[...] = master._data


@register
class ccSGD(SGD):     # noqa: N801  (MXNet's name)
    """[Deprecated in MXNet] the same as SGD."""


@register
class NAG(SGD):
    """Nesterov accelerated gradient, as MXNet 1.9's ``nag_mom_update`` computes it in place
    (the momentum is a velocity, like SGD's)::

        w_new = w + momentum^2 * mom - (1 + momentum) * lr * (clip(rescale_grad * grad) + wd * w)
        mom = momentum * mom - lr * (clip(rescale_grad * grad) + wd * w_new)

    MXNet's kernel writes the weight before the momentum and reads the weight back, hence
    ``w_new`` in the second line; it only matters when ``wd`` is not 0.
    """

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(momentum=momentum, **kwargs)

    def _step(self, index, w, grad, mom, lr, wd):
        if mom is None or not self.momentum > 0:
            return super()._step(index, w, grad, mom, lr, wd)
        xp, mu = array_module(w), self.momentum
        g = self._grad(xp, index, w, grad)
        t = self._tmp(index, 't', w)
        self._plus_decay(xp, g, w, wd, t)
        t *= (1. + mu) * lr
        w -= t
        xp.multiply(mom, mu * mu, out=t)
        w += t
        self._plus_decay(xp, g, w, wd, t)       # from the new weight, as MXNet's kernel reads it
        t *= lr
        mom *= mu
        mom -= t

    @staticmethod
    def _plus_decay(xp, g, w, wd, out):
        if wd:
            xp.multiply(w, wd, out=out)
            out += g
        else:
            out[...] = g


@register
class Adam(Optimizer):
    """Adam, as MXNet's ``adam_update`` with the bias correction folded into the rate::

        lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        g = clip(rescale_grad * grad + wd * w)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        w -= lr_t * m / (sqrt(v) + epsilon)
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def _moments(self, xp, index, g, mean, var):
        t = self._tmp(index, 't', g)
        mean *= self.beta1
        xp.multiply(g, 1. - self.beta1, out=t)
        mean += t
        var *= self.beta2
        xp.square(g, out=t)
        t *= 1. - self.beta2
        var += t
        return t

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
        w, xp = weight._data, array_module(weight._data)
        mean, var = state[0]._data, state[1]._data
        if grad._sparse and self._lazy(grad):
            rows, g = self._grad_rows(xp, w, grad, wd)
            m, v = mean[rows], var[rows]
            tmp = self._moments(xp, ('lazy', index), g, m, v)
            mean[rows], var[rows] = m, v
            xp.sqrt(v, out=tmp)
            tmp += self.epsilon
            xp.divide(m, tmp, out=tmp)
            tmp *= lr
            w[rows] -= tmp
            return
        g = self._grad(xp, index, w, grad, wd, clip_after_wd=True)
        tmp = self._moments(xp, index, g, mean, var)
        xp.sqrt(var, out=tmp)
        tmp += self.epsilon
        xp.divide(mean, tmp, out=tmp)
        tmp *= lr
        w -= tmp


@register
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)::

        g = clip(rescale_grad * grad)
        m, v as in Adam;  w -= lr_t * m / (sqrt(v) + epsilon) + wd * w

    with Adam's bias correction in ``lr_t``.  MXNet 1.9 has no 'adamw' in ``mx.optimizer``
    (only the ``contrib.adamw_update`` operator); this is that operator with ``eta=1`` and
    the bias-corrected rate, as MXNet's Gluon-NLP AdamW passes it.
    """

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        mean, var = state[0]._data, state[1]._data
        tmp = self._moments(xp, index, g, mean, var)
        xp.sqrt(var, out=tmp)
        tmp += self.epsilon
        xp.divide(mean, tmp, out=tmp)
        tmp *= lr
        if wd:
            w -= self._scaled(xp, index, w, wd, slot='g')
        w -= tmp


@register
class AdaGrad(Optimizer):
    """AdaGrad, as MXNet's dense path::

        g = clip(rescale_grad * grad);  history += g^2
        w += (g / sqrt(history + eps) + wd * w) * -lr
    """
    _clip_when_truthy = False

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        hist, t = state._data, self._tmp(index, 't', w)
        xp.square(g, out=t)
        hist += t
        xp.add(hist, self.float_stable_eps, out=t)
        xp.sqrt(t, out=t)
        g /= t
        if wd:
            g += self._scaled(xp, index, w, wd)
        g *= -lr
        w += g


@register
class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton), or Graves' centered form with ``centered=True``::

        g = clip(rescale_grad * grad + wd * w)
        n = gamma1 * n + (1 - gamma1) * g^2
        plain:    w -= lr * g / sqrt(n + epsilon)
        centered: mu = gamma1 * mu + (1 - gamma1) * g
                  delta = gamma2 * delta - lr * g / sqrt(n - mu^2 + epsilon);  w += delta
        then w is clipped to [-clip_weights, clip_weights] when clip_weights is set.
    """

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))
        return (_zeros_like(weight),)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad, wd, clip_after_wd=True)
        n, t = state[0]._data, self._tmp(index, 't', w)
        n *= self.gamma1
        xp.square(g, out=t)
        t *= 1 - self.gamma1
        n += t
        if not self.centered:
            xp.add(n, self.epsilon, out=t)
            xp.sqrt(t, out=t)
            g /= t
            g *= lr
            w -= g
        else:
            mean, delta = state[1]._data, state[2]._data
            mean *= self.gamma1
            xp.multiply(g, 1 - self.gamma1, out=t)
            mean += t
            xp.square(mean, out=t)
            xp.subtract(n, t, out=t)
            t += self.epsilon
            xp.sqrt(t, out=t)
            g /= t
            g *= lr
            delta *= self.gamma2
            delta -= g
            w += delta
        if self.clip_weights:
            xp.clip(w, -self.clip_weights, self.clip_weights, out=w)


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler)::

        g = clip(rescale_grad * grad)
        acc_g = rho * acc_g + (1 - rho) * g^2
        step = sqrt(acc_delta + epsilon) / sqrt(acc_g + epsilon) * g
        acc_delta = rho * acc_delta + (1 - rho) * step^2
        w -= step + wd * w
    """
    _clip_when_truthy = False

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        wd = self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        acc_g, acc_delta = state[0]._data, state[1]._data
        t, s = self._tmp(index, 't', w), self._tmp(index, 's', w)
        acc_g *= self.rho
        xp.square(g, out=t)
        t *= 1. - self.rho
        acc_g += t
        xp.add(acc_delta, self.epsilon, out=t)
        xp.sqrt(t, out=t)
        xp.add(acc_g, self.epsilon, out=s)
        xp.sqrt(s, out=s)
        t /= s
        t *= g                                   # t = step
        acc_delta *= self.rho
        xp.square(t, out=s)
        s *= 1. - self.rho
        acc_delta += s
        if wd:
            t += self._scaled(xp, index, w, wd, slot='s')
        w -= t


@register
class Adamax(Optimizer):
    """Adamax (Kingma & Ba), Adam with the infinity norm::

        lr_t = lr / (1 - beta1^t);  g = clip(rescale_grad * grad + wd * w)
        m = beta1 * m + (1 - beta1) * g;  u = max(beta2 * u, |g|);  w -= lr_t * m / u
    """
    _clip_when_truthy = False

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr /= (1. - self.beta1 ** t)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad, wd, clip_after_wd=True)
        m, u, tmp = state[0]._data, state[1]._data, self._tmp(index, 't', w)
        m *= self.beta1
        xp.multiply(g, 1. - self.beta1, out=tmp)
        m += tmp
        u *= self.beta2
        xp.abs(g, out=tmp)
        xp.maximum(u, tmp, out=u)
        xp.divide(m, u, out=tmp)
        tmp *= lr
        w -= tmp


@register
class Nadam(Optimizer):
    """Nadam (Dozat): Adam with Nesterov momentum and the momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * schedule_decay))``; ``g = clip(rescale_grad * grad
    + wd * w)``."""
    _clip_when_truthy = False

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad, wd, clip_after_wd=True)
        mom_t = self.beta1 * (1. - 0.5 * (pow(0.96, t * self.schedule_decay)))
        mom_t1 = self.beta1 * (1. - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * mom_t
        m_schedule_next = self.m_schedule * mom_t1
        m, v = state[0]._data, state[1]._data
        tmp, s = self._tmp(index, 't', w), self._tmp(index, 's', w)
        m *= self.beta1
        xp.multiply(g, 1. - self.beta1, out=tmp)
        m += tmp
        v *= self.beta2
        xp.square(g, out=tmp)
        tmp *= 1. - self.beta2
        v += tmp
        # m_bar = (1 - mom_t) * g / (1 - m_schedule) + mom_t1 * m / (1 - m_schedule_next)
        g *= (1. - mom_t) / (1. - self.m_schedule)
        xp.multiply(m, mom_t1 / (1. - m_schedule_next), out=tmp)
        g += tmp
        xp.divide(v, 1. - pow(self.beta2, t), out=s)
        xp.sqrt(s, out=s)
        s += self.epsilon
        g /= s
        g *= lr
        w -= g


@register
class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al.), as MXNet's ``ftrl_update``::

        g = clip(rescale_grad * grad)
        z += g - (sqrt(n + g^2) - sqrt(n)) * w / lr;  n += g^2
        w = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1)
    """

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.lamda1 = lamda1
        self.beta = beta

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))     # z, n

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        z, n = state[0]._data, state[1]._data
        t, s = self._tmp(index, 't', w), self._tmp(index, 's', w)
        xp.square(g, out=s)
        xp.add(n, s, out=t)
        xp.sqrt(t, out=t)
        n += s                                  # n is now n + g^2
        xp.subtract(n, s, out=s)
        xp.sqrt(s, out=s)                       # sqrt(old n)
        t -= s
        t *= w
        t /= lr
        z += g
        z -= t
        # w = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1)
        xp.sqrt(n, out=s)
        s += self.beta
        s /= lr
        s += wd
        xp.sign(z, out=t)
        t *= self.lamda1
        t -= z
        t /= s
        xp.abs(z, out=s)
        xp.greater(s, self.lamda1, out=s, casting='unsafe')
        xp.multiply(t, s, out=w, casting='unsafe')


@register
class FTML(Optimizer):
    """FTML (Zheng & Kwok), as MXNet's ``ftml_update``::

        g = clip(rescale_grad * grad + wd * w)
        v = beta2 * v + (1 - beta2) * g^2
        d_t = (1 - beta1^t) / lr * (sqrt(v / (1 - beta2^t)) + epsilon)
        z = beta1 * z + (1 - beta1) * g - (d_t - beta1 * d_{t-1}) * w
        w = -z / d_t
    """

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))   # d, v, z

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad, wd, clip_after_wd=True)
        d, v, z = state[0]._data, state[1]._data, state[2]._data
        tmp, s = self._tmp(index, 't', w), self._tmp(index, 's', w)
        v *= self.beta2
        xp.square(g, out=tmp)
        tmp *= 1. - self.beta2
        v += tmp
        xp.divide(v, 1. - self.beta2 ** t, out=s)
        xp.sqrt(s, out=s)
        s += self.epsilon
        s *= (1. - self.beta1 ** t) / lr         # s = d_t
        d *= -self.beta1
        d += s                                  # d = sigma_t = d_t - beta1 * d_{t-1}
        z *= self.beta1
        g *= 1. - self.beta1
        z += g
        d *= w
        z -= d
        d[...] = s
        xp.divide(z, s, out=w)
        xp.negative(w, out=w)


@register
class Signum(Optimizer):
    """Signum / signSGD (Bernstein et al.), as MXNet's ``signum_update``/``signsgd_update``::

        momentum:  mom = momentum * mom - (1 - momentum) * (clip(rescale_grad * grad) + wd * w)
                   w = (1 - lr * wd_lh) * w + lr * sign(mom)
        without:   w = (1 - lr * wd) * w - lr * sign(clip(rescale_grad * grad))
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        if state is not None:
            if wd:
                g += self._scaled(xp, index, w, wd)
            mom = state._data
            mom *= self.momentum
            g *= 1 - self.momentum
            mom -= g
            if self.wd_lh:
                w *= 1 - lr * self.wd_lh
            xp.sign(mom, out=g)
            g *= lr
            w += g
        else:
            if wd:                          # signSGD keeps weight decay outside the sign
                w *= 1 - lr * wd
            xp.sign(g, out=g)
            g *= lr
            w -= g


@register
class LAMB(Optimizer):
    """LAMB (You et al.): Adam steps scaled per layer by ``||w|| / ||step||``, as MXNet's
    ``lamb_update_phase1``/``phase2``::

        g = clip(rescale_grad * grad);  m, v as in Adam
        step = m_hat / (sqrt(v_hat) + epsilon) + wd * w      (hats: bias-corrected)
        r1 = clip(||w||, lower_bound, upper_bound);  r2 = ||step||
        w -= lr * (r1 / r2 if r1 > 0 and r2 > 0 else 1) * step
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6,
                 lower_bound=None, upper_bound=None, bias_correction=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self.bias_correction = bias_correction

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        m, v = state[0]._data, state[1]._data
        tmp = self._tmp(index, 't', w)
        m *= self.beta1
        xp.multiply(g, 1. - self.beta1, out=tmp)
        m += tmp
        v *= self.beta2
        xp.square(g, out=tmp)
        tmp *= 1. - self.beta2
        v += tmp
        if self.bias_correction:
            xp.divide(v, 1. - self.beta2 ** t, out=tmp)
            xp.sqrt(tmp, out=tmp)
            tmp += self.epsilon
            xp.divide(m, 1. - self.beta1 ** t, out=g)
        else:
            xp.sqrt(v, out=tmp)
            tmp += self.epsilon
            g[...] = m
        g /= tmp                                # g = step
        if wd:
            g += self._scaled(xp, index, w, wd)
        r1 = float(xp.linalg.norm(w))
        if self.lower_bound is not None and self.lower_bound > 0:
            r1 = max(r1, self.lower_bound)
        if self.upper_bound is not None and self.upper_bound > 0:
            r1 = min(r1, self.upper_bound)
        r2 = float(xp.linalg.norm(g))
        ratio = r1 / r2 if r1 > 0 and r2 > 0 else 1.0
        g *= lr * ratio
        w -= g


@register
class DCASGD(Optimizer):
    """DCASGD (Zheng et al.): SGD with delay compensation ``lamda * g^2 * (w - w_prev)``::

        g = clip(rescale_grad * grad)
        mom = momentum * mom - lr * (g + wd * w + lamda * g^2 * (w - w_prev))
        w_prev = w;  w += mom
    """
    _clip_when_truthy = False

    def __init__(self, momentum=0.0, lamda=0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.weight_previous = {}
        self.lamda = lamda

    def create_state(self, index, weight):
        mom = _zeros_like(weight) if self.momentum != 0.0 else None
        return (mom, weight.copy())

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        mom, prev = state
        prev = prev._data
        tmp = self._tmp(index, 't', w)
        xp.subtract(w, prev, out=tmp)
        tmp *= g
        tmp *= g
        tmp *= self.lamda
        if wd:
            g += self._scaled(xp, index, w, wd, slot='s')
        g += tmp
        g *= -lr
        if mom is not None:
            mom = mom._data
            mom *= self.momentum
            mom += g
            g = mom
        prev[...] = w
        w += g


@register
class SGLD(Optimizer):
    """Stochastic gradient Langevin dynamics::

        g = clip(rescale_grad * grad);  w += -lr / 2 * (g + wd * w) + N(0, sqrt(lr))

    The noise comes from ``mx.random`` (seeded by ``mx.random.seed``), not MXNet's stream.
    """
    _clip_when_truthy = False

    def update(self, index, weight, grad, state):
        from .random import generator
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._grad(xp, index, w, grad)
        if wd:
            g += self._scaled(xp, index, w, wd)
        g *= -lr / 2
        w += g
        w += generator(xp).normal(0, math.sqrt(lr), size=w.shape).astype(w.dtype, copy=False)


@register
class Test(Optimizer):
    """MXNet's test optimizer: ``w += rescale_grad * grad``; the state mirrors the weight."""

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        w, xp = weight._data, array_module(weight._data)
        w += self._scaled(xp, index, grad._data, self.rescale_grad)
        state._data[...] = w


# ---- updater and its safe state format -----------------------------------------------
_FORMAT = 'distmod-optimizer-states'
_NOT_SAVED = {'_buffers', 'param_dict', 'lr_scheduler', '_index_update_count'}
_PICKLE_PREFIXES = (b'\x80', b'(', b']', b'}', b'c', b'I', b'N', b'S', b'V', b'X', b'\x8c')


def _encode(value, arrays, strict=True):
    """A JSON tree for ``value``; arrays go into ``arrays`` and are named by the tree."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, NDArray):
        key = 'a%d' % len(arrays)
        arrays[key] = value.asnumpy()
        return {'nd': key}
    if isinstance(value, np.ndarray):
        key = 'a%d' % len(arrays)
        arrays[key] = value
        return {'np': key}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, strict) for v in value]
        return {'tuple' if isinstance(value, tuple) else 'list': items}
    if isinstance(value, dict):
        return {'dict': [[_encode(k, arrays, strict), _encode(v, arrays, strict)]
                         for k, v in value.items()]}
    if strict:
        raise OptimizerError('cannot save an optimizer state of type %s'
                             % type(value).__name__)
    raise _Unsaveable()


class _Unsaveable(Exception):
    pass


def _decode(tree, arrays, ctx):
    """Inverse of ``_encode``: plain data only, nothing is called or imported."""
    if tree is None or isinstance(tree, (bool, str, int, float)):
        return tree
    if not isinstance(tree, dict) or len(tree) != 1:
        raise OptimizerError('optimizer states: malformed entry %r' % (tree,))
    (kind, body), = tree.items()
    if kind in ('nd', 'np'):
        if body not in arrays:
            raise OptimizerError('optimizer states: missing array %r' % (body,))
        if kind == 'np':
            return arrays[body]
        from .ndarray import array
        value = arrays[body]
        return array(value, ctx=ctx, dtype=value.dtype)
    if kind == 'list':
        return [_decode(t, arrays, ctx) for t in body]
    if kind == 'tuple':
        return tuple(_decode(t, arrays, ctx) for t in body)
    if kind == 'dict':
        return {_hashable(_decode(k, arrays, ctx)): _decode(v, arrays, ctx) for k, v in body}
    raise OptimizerError('optimizer states: unknown entry kind %r' % (kind,))


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def _optimizer_meta(opt, arrays):
    attrs, skipped = {}, []
    for name, value in vars(opt).items():
        if name in _NOT_SAVED:
            continue
        try:
            attrs[name] = _encode(value, arrays, strict=False)
        except _Unsaveable:
            skipped.append(name)
    meta = {'class': type(opt).__name__.lower(), 'attrs': attrs, 'skipped': skipped,
            'current_counts': _current_device(opt)}
    sched = opt.lr_scheduler
    if sched is not None:
        sattrs = {}
        for name, value in vars(sched).items():
            try:
                sattrs[name] = _encode(value, arrays, strict=False)
            except _Unsaveable:
                pass
        meta['lr_scheduler'] = {'class': type(sched).__name__, 'attrs': sattrs}
    return meta


def _current_device(opt):
    for dev, counts in opt._all_index_update_counts.items():
        if counts is opt._index_update_count:
            return dev
    return None


def _restore_optimizer(current, meta, arrays):
    """The optimizer described by ``meta``: ``current`` updated in place when it is of the
    same registered class (so that whoever holds it sees the restored values), else a new
    instance of the registered class."""
    klass = Optimizer.opt_registry.get(meta['class'])
    if klass is None:
        raise OptimizerError('optimizer states name optimizer %r, which is not registered; '
                             'known optimizers: %s'
                             % (meta['class'], ', '.join(sorted(Optimizer.opt_registry))))
    opt = current if type(current) is klass else klass()
    for name, tree in meta['attrs'].items():
        setattr(opt, name, _decode(tree, arrays, cpu()))
    opt._buffers = {}
    counts = opt._all_index_update_counts
    dev = meta.get('current_counts')
    opt._index_update_count = counts.setdefault(dev if dev is not None else 0, {})
    smeta = meta.get('lr_scheduler')
    if smeta is not None:
        sched = opt.lr_scheduler
        if sched is None or type(sched).__name__ != smeta['class']:
            from . import lr_scheduler as lr_mod
            klass = getattr(lr_mod, smeta['class'], None)
            base = getattr(lr_mod, 'LRScheduler', None)
            if not (isinstance(klass, type) and base is not None and issubclass(klass, base)):
                warnings.warn('optimizer states name learning-rate scheduler %r, which '
                              'mx.lr_scheduler does not define; keeping the optimizer\'s '
                              'current scheduler (%r)' % (smeta['class'], sched))
                return opt
            sched = klass.__new__(klass)        # attributes come from the file below
        for name, tree in smeta['attrs'].items():
            setattr(sched, name, _decode(tree, arrays, cpu()))
        opt.lr_scheduler = sched
    return opt


class Updater:
    """``updater(index, grad, weight)``: the optimizer's update with per-index states.

    ``index``, ``grad`` and ``weight`` may also be equal-length lists.  States are created on
    first use with ``optimizer.create_state_multi_precision`` and moved to the weight's
    context after ``set_states``.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}
        self.aggregate_updates = optimizer.aggregate_num > 0

    def __call__(self, index, grad, weight):
        if isinstance(index, (list, tuple)):
            indices, grads, weights = list(index), grad, weight
        else:
            indices, grads, weights = [index], [grad], [weight]
        if weights:
            self.optimizer._set_current_context(weights[0].context.device_id)
        opt, states = self.optimizer, self.states
        for idx, g, w in zip(indices, grads, weights):
            if isinstance(idx, bytes):
                idx = idx.decode('utf-8')
            if w._sparse:
                w = _full_rows(w)
            with w.context.device():            # states and updates on the weight's device
                if idx not in states:
                    states[idx] = opt.create_state_multi_precision(idx, w)
                    self.states_synced[idx] = True
                elif not self.states_synced[idx]:
                    states[idx] = self.sync_state_context(states[idx], w.context)
                    self.states_synced[idx] = True
                opt.update_multi_precision(idx, w, g, states[idx])

    def sync_state_context(self, state, context):
        """``state`` (an NDArray or nested tuples/lists of them) on ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def get_states(self, dump_optimizer=False, fmt='distmod', keys='index', param_names=None):
        """The states as bytes: distmod's safe format (``fmt='distmod'``) or MXNet's pickle
        (``fmt='mxnet'``).

        ``fmt='mxnet'`` writes what MXNet 1.9's ``Updater.get_states`` writes (see
        :mod:`distmod.mxnet_states`): MXNet's ``set_states`` and ``Module.load_optimizer_states``
        read it into real MXNet NDArrays.  The keys are the updater's own (a Module's: the
        parameter's position, which is how MXNet keys them on one device); ``keys='name'``
        writes parameter names instead (``param_names[i]``, else the optimizer's
        ``idx2name``), as MXNet keys them when it updates on the kvstore (several devices with
        ``kvstore='local'``, or ``dist_*``).  With ``dump_optimizer=True`` the optimizer and
        its scheduler are pickled as MXNet's classes of the same names.

        distmod's format is a NumPy ``.npz`` archive (a zip; it starts with ``PK``, never with
        a pickle opcode).  Member ``__meta__`` is a uint8 array holding UTF-8 JSON::

            {"format": "distmod-optimizer-states", "version": 1,
             "optimizer": "<registered name>",
             "states": [[index, tree], ...],          # per index, as created by the optimizer
             "index_update_count": [[index, count], ...], "num_update": n,
             "dump_optimizer": bool,
             "optimizer_meta": {...}}                 # only with dump_optimizer=True

        A ``tree`` is JSON data where an NDArray is ``{"nd": "a3"}`` (member ``a3`` of the
        archive), a tuple ``{"tuple": [...]}``, a list ``{"list": [...]}``, a dict
        ``{"dict": [[key, value], ...]}``; numbers, strings and null stand for themselves.
        With ``dump_optimizer=True``, ``optimizer_meta`` holds the optimizer's class name and
        its JSON-representable attributes (learning rate, wd, multipliers, update counts...)
        and those of its ``lr_scheduler``; ``set_states`` restores them onto the registered
        class of that name.  Loading reads the archive with ``allow_pickle=False`` and only
        builds plain data and arrays: it never runs code from the file.
        """
        if fmt not in ('distmod', 'mxnet'):
            raise OptimizerError("get_states: fmt must be 'distmod' or 'mxnet', not %r" % (fmt,))
        if keys not in ('index', 'name'):
            raise OptimizerError("get_states: keys must be 'index' or 'name', not %r" % (keys,))
        if fmt == 'mxnet':
            from . import mxnet_states
            rename = self._key_names(param_names) if keys == 'name' else None
            return mxnet_states.dumps(self.states, self.optimizer if dump_optimizer else None,
                                      rename=rename)
        if keys != 'index':
            raise OptimizerError("get_states: keys='name' is for fmt='mxnet'; distmod's format "
                                 "keeps the updater's keys")
        arrays = {}
        opt = self.optimizer
        meta = {'format': _FORMAT, 'version': 1,
                'optimizer': type(opt).__name__.lower(),
                'num_update': opt.num_update,
                'index_update_count': [[_encode(k, arrays), v]
                                       for k, v in opt._index_update_count.items()],
                'dump_optimizer': bool(dump_optimizer),
                'param_names': list(param_names) if param_names is not None else None,
                'states': [[_encode(k, arrays), _encode(v, arrays)]
                           for k, v in self.states.items()]}
        if dump_optimizer:
            meta['optimizer_meta'] = _optimizer_meta(opt, arrays)
        arrays['__meta__'] = np.frombuffer(json.dumps(meta).encode('utf-8'), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def _key_names(self, param_names):
        names = dict(enumerate(param_names)) if param_names is not None \
            else self.optimizer.idx2name

        def rename(key):
            if isinstance(key, str):
                return key
            if key not in names:
                raise OptimizerError("get_states(keys='name'): no parameter name for key %r "
                                     "(pass param_names, or give the optimizer param_idx2name)"
                                     % (key,))
            return names[key]
        return rename

    def set_states(self, states, source=None, param_names=None, param_shapes=None,
                   param_dtypes=None):
        """Restore states from ``get_states`` (either format) or from MXNet's own ``.states``.

        The format is told from the bytes: ``PK`` is distmod's archive, ``0x80`` a pickle as
        MXNet writes them.  MXNet's pickle is read without running code: only NDArrays (rebuilt
        from their saved bytes by distmod), numbers, strings, None and containers are admitted,
        plus, in a ``dump_optimizer=True`` file, MXNet's optimizer and scheduler as plain
        attributes (mapped onto the distmod optimizer of the same name, as in distmod's own
        ``dump_optimizer`` files).  Any other global is refused, naming it.  ``source`` (a file
        name) is named in every error.

        ``param_names`` (the parameters in order, as a Module binds them) re-keys MXNet's
        states by position, whichever way MXNet keyed them: by position, by name (MXNet
        updating on the kvstore) or by ``position * num_device + device``.  Without it the keys
        are kept as stored.

        distmod's format restores the per-index update counts too (MXNet restores only the
        states, so Adam's bias correction restarts after a resume; here it continues).  An
        MXNet file without the optimizer leaves the counts as they are, as MXNet does.

        With ``param_shapes`` (the parameters' shapes, in ``param_names``' order; a Module
        passes both) the states are checked against the model before anything changes: the
        optimizer that wrote them, the parameter names (distmod's files record them), and each
        state's structure and shapes against what this optimizer makes for that parameter.
        The error names the file and the first key that differs.
        """
        from .mxnet_states import where
        if not isinstance(states, (bytes, bytearray, memoryview)):
            raise OptimizerError('set_states expects the bytes from Updater.get_states, not %s'
                                 % type(states).__name__)
        data = bytes(states)
        model = None if param_shapes is None else \
            (list(param_names), list(param_shapes),
             list(param_dtypes) if param_dtypes is not None else [np.float32] * len(param_shapes))
        if data[:2] == b'PK':
            return self._set_distmod_states(data, where(source), model)
        if data[:1] in _PICKLE_PREFIXES:
            return self._set_mxnet_states(data, source, param_names, model)
        raise OptimizerError('%s: not distmod optimizer states nor MXNet\'s pickle (%s)'
                             % (where(source), 'empty' if not data else
                                'it starts with %r' % data[:8]))

    def _check_model(self, states, model, saved_names):
        _check_model_states(self, states, model, saved_names)

    def _set_distmod_states(self, states, where, model=None):
        try:
            with np.load(io.BytesIO(states), allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            meta = json.loads(bytes(arrays.pop('__meta__')).decode('utf-8'))
        except Exception as e:         # noqa: BLE001  any reader failure means "not ours"
            raise OptimizerError('%s: not distmod optimizer states, or truncated or corrupt '
                                 '(%s: %s)' % (where, type(e).__name__, e)) from None
        if not isinstance(meta, dict) or meta.get('format') != _FORMAT:
            raise OptimizerError('%s: not distmod optimizer states (format %r)'
                                 % (where, meta.get('format') if isinstance(meta, dict)
                                    else meta))
        if meta.get('version') != 1:
            raise OptimizerError('%s: distmod optimizer states version %r is not supported'
                                 % (where, meta.get('version')))
        try:
            new_states = {}
            for index, tree in meta['states']:
                new_states[_hashable(_decode(index, arrays, cpu()))] = \
                    _decode(tree, arrays, cpu())
            if model is not None:
                saved = meta.get('optimizer')
                mine = type(self.optimizer).__name__.lower()
                if saved != mine and not meta.get('dump_optimizer'):
                    raise OptimizerError(
                        'holds the states of optimizer %r, but this module trains with %r: '
                        'load states saved by the same optimizer (or create the module with '
                        'optimizer=%r)' % (saved, mine, saved))
                self._check_model(new_states, model, meta.get('param_names'))
            if meta.get('dump_optimizer'):
                self.optimizer = _restore_optimizer(self.optimizer, meta['optimizer_meta'],
                                                    arrays)
                self.aggregate_updates = self.optimizer.aggregate_num > 0
            else:
                opt = self.optimizer
                counts = {_hashable(_decode(k, arrays, cpu())): v
                          for k, v in meta['index_update_count']}
                opt.num_update = meta['num_update']
                opt._index_update_count.clear()
                opt._index_update_count.update(counts)
        except OptimizerError as e:
            raise OptimizerError('%s: %s' % (where, e)) from None
        except (KeyError, TypeError, ValueError) as e:
            raise OptimizerError('%s: malformed distmod optimizer states (%s: %s)'
                                 % (where, type(e).__name__, e)) from None
        self.states = new_states
        self.states_synced = dict.fromkeys(self.states, False)

    def _set_mxnet_states(self, data, source, param_names, model=None):
        from . import mxnet_states
        got = mxnet_states.loads(data, source)
        states, key_map = got.states, None
        if param_names is not None and states:
            key_map = mxnet_states.position_map(states, param_names, source)
            states = mxnet_states.remap(states, key_map)
        if model is not None and got.optimizer is None:
            try:
                self._check_model(states, model, None)
            except OptimizerError as e:
                raise OptimizerError('%s: %s' % (mxnet_states.where(source), e)) from None
        if got.optimizer is not None:
            meta, arrays = _meta_from_mxnet(got.optimizer, key_map, param_names,
                                            mxnet_states.where(source))
            self.optimizer = _restore_optimizer(self.optimizer, meta, arrays)
            self.aggregate_updates = self.optimizer.aggregate_num > 0
        self.states = states
        self.states_synced = dict.fromkeys(self.states, False)


def _describe_tree(tree):
    """A state's structure in words: 'an array (16, 10)', 'a pair of ...', 'None'."""
    if tree is None:
        return 'nothing'
    if isinstance(tree, (tuple, list)):
        return '(%s)' % ', '.join(_describe_tree(t) for t in tree)
    shape = getattr(tree, 'shape', None)
    if shape is not None:
        return 'an array of shape %s' % (tuple(shape),)
    return 'a %s' % type(tree).__name__


def _same_structure(got, want):
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, (tuple, list)):
        return isinstance(got, (tuple, list)) and len(got) == len(want) and \
            all(_same_structure(g, w) for g, w in zip(got, want))
    wshape = getattr(want, 'shape', None)
    if wshape is not None:
        return getattr(got, 'shape', None) is not None and tuple(got.shape) == tuple(wshape)
    return getattr(got, 'shape', None) is None


def _check_model_states(updater, states, model, saved_names):
    """Raise (naming the first key that differs) unless ``states`` fit the model
    ``(param_names, param_shapes)`` and the updater's optimizer."""
    names, shapes, dtypes = model
    if saved_names is not None:
        for i, (a, b) in enumerate(zip(saved_names, names)):
            if a != b:
                raise OptimizerError(
                    'parameter %d is %r in the states but %r in this module: the states are '
                    "from another model (or its parameters' order differs)" % (i, a, b))
        if len(saved_names) != len(names):
            raise OptimizerError('the states are for %d parameters, this module has %d: they '
                                 'are from another model' % (len(saved_names), len(names)))
    opt = updater.optimizer
    for key in sorted(states, key=lambda k: (not isinstance(k, int), str(k))):
        if not isinstance(key, int):
            continue          # kept as stored (names of an MXNet file with no position map)
        if not 0 <= key < len(names):
            raise OptimizerError('key %d: the module has only %d parameters: the states are '
                                 'from another model' % (key, len(names)))
        weight = _wrap(np.zeros(shapes[key], dtype=dtypes[key]), cpu())
        want = opt.create_state_multi_precision(key, weight)
        got = states[key]
        if not _same_structure(got, want):
            raise OptimizerError(
                'key %d (%r, shape %s): the state is %s, but %s keeps %s for it: the states '
                'are from another model or another optimizer'
                % (key, names[key], tuple(shapes[key]), _describe_tree(got),
                   type(opt).__name__, _describe_tree(want)))


def _meta_from_mxnet(desc, key_map, param_names, where):
    """``_restore_optimizer``'s description of MXNet's pickled optimizer: the attributes that
    the distmod class of the same name has (MXNet's and distmod's are the same names), with
    per-key tables re-keyed like the states."""
    from .mxnet_states import remap
    name = desc['class'].lower()
    klass = Optimizer.opt_registry.get(name)
    if klass is None:
        raise OptimizerError('%s: holds MXNet optimizer %s.%s, which distmod does not have; '
                             'known optimizers: %s' % (where, desc['module'], desc['class'],
                                                       ', '.join(sorted(Optimizer.opt_registry))))
    known = set(vars(klass())) - _NOT_SAVED
    attrs = {k: v for k, v in desc['attrs'].items() if k in known}
    if key_map is not None:
        counts = attrs.get('_all_index_update_counts')
        if isinstance(counts, dict):
            attrs['_all_index_update_counts'] = {
                dev: remap(c, key_map) if isinstance(c, dict) else c for dev, c in counts.items()}
        if '_index_update_count' in attrs and isinstance(attrs['_index_update_count'], dict):
            attrs['_index_update_count'] = remap(attrs['_index_update_count'], key_map)
        attrs['idx2name'] = dict(enumerate(param_names))
    arrays = {}
    meta = {'class': name, 'current_counts': desc['current_counts'],
            'attrs': _encodable(attrs, arrays)}
    sched = desc['lr_scheduler']
    if sched is not None:
        meta['lr_scheduler'] = {'class': sched['class'],
                                'attrs': _encodable(sched['attrs'], arrays)}
    return meta, arrays


def _encodable(attrs, arrays):
    out = {}
    for k, v in attrs.items():
        try:
            out[k] = _encode(v, arrays, strict=False)
        except _Unsaveable:
            pass
    return out


def _states_format(fmt):
    import os
    fmt = fmt if fmt is not None else os.environ.get('DISTMOD_STATES_FORMAT', 'distmod')
    if fmt not in ('distmod', 'mxnet'):
        raise OptimizerError("optimizer states format must be 'distmod' or 'mxnet', not %r"
                             % (fmt,))
    return fmt


def save_states_file(fname, updater, fmt=None, dump_optimizer=False, keys='index',
                     param_names=None):
    """Write ``updater``'s states to ``fname`` atomically, in distmod's format or MXNet's.

    ``fmt``: ``'distmod'`` (the safe archive) or ``'mxnet'`` (MXNet 1.9's pickle, which real
    MXNet loads); None reads the environment variable ``DISTMOD_STATES_FORMAT`` (default
    ``'distmod'``).  ``keys``/``param_names``: see :meth:`Updater.get_states`.

    >>> import distmod as mx, os, tempfile
    >>> upd = mx.optimizer.get_updater(mx.optimizer.create('sgd', momentum=0.9))
    >>> upd(0, mx.nd.ones((2,)), mx.nd.ones((2,)))
    >>> f = os.path.join(tempfile.mkdtemp(), 'm.states')
    >>> mx.optimizer.save_states_file(f, upd, fmt='mxnet')
    >>> open(f, 'rb').read(1)
    b'\x80'
    >>> fresh = mx.optimizer.get_updater(mx.optimizer.create('sgd', momentum=0.9))
    >>> mx.optimizer.load_states_file(f, fresh)
    >>> fresh.states[0].asnumpy().tolist()
    [-0.009999999776482582, -0.009999999776482582]
    """
    from .serialization import atomic_write
    data = updater.get_states(dump_optimizer, fmt=_states_format(fmt), keys=keys,
                              param_names=param_names)
    atomic_write(fname, data)


def load_states_file(fname, updater, param_names=None, param_shapes=None, param_dtypes=None):
    """Read ``fname`` (distmod's format or MXNet's ``.states`` pickle, told apart by their
    first bytes) into ``updater``; errors name the file.  See :meth:`Updater.set_states`."""
    import os
    fname = os.fspath(fname)
    with open(fname, 'rb') as f:
        data = f.read()
    updater.set_states(data, source=fname, param_names=param_names, param_shapes=param_shapes,
                       param_dtypes=param_dtypes)


def _full_rows(weight):
    """A dense NDArray over a row-sparse ``weight``'s values, after giving it every row
    (the missing ones as zeros): optimizers update it as the full array, in place."""
    if weight.stype != 'row_sparse':
        raise OptimizerError('optimizers update dense or row_sparse weights, not %s'
                             % weight.stype)
    sp, ctx = weight._sp, weight.context
    xp = ctx.xp
    n = weight.shape[0]
    idx = sp.indices
    if not (idx.shape[0] == n and (n == 0 or (int(idx[0]) == 0 and int(idx[-1]) == n - 1 and
                                              bool((idx[1:] > idx[:-1]).all())))):
        values = xp.zeros(weight.shape, dtype=sp.values.dtype)
        values[xp.asarray(idx)] = sp.values
        sp.indices, sp.values = xp.arange(n, dtype=np.int64), values
    return _wrap(sp.values, ctx)


def get_updater(optimizer):
    """An :class:`Updater` for ``optimizer`` (the closure kvstore calls)."""
    return Updater(optimizer)
