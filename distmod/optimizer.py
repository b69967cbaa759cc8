"""``mx.optimizer``: optimizers, updaters and their states in a safe format.

Updates run in place on the weight's buffer with NumPy/CuPy ufuncs (``out=``), so a training
step allocates nothing per parameter beyond a few temporaries the math needs.

Optimizer states (``Updater.get_states``) are a ``.npz`` archive: one array per state tensor
plus ``__meta__``, a UTF-8 JSON document (optimizer name, update counts, and each index's state
as a tree whose leaves name arrays in the archive).  Loading it never unpickles anything.
"""
import io
import json
import math

import numpy as np

from .base import MXNetError
from .context import array_module
from .ndarray.ndarray import NDArray, _wrap

__all__ = ['Optimizer', 'SGD', 'NAG', 'Adam', 'AdamW', 'AdaGrad', 'RMSProp', 'AdaDelta', 'Adamax',
           'Nadam', 'Ftrl', 'Signum', 'LAMB', 'Updater', 'get_updater', 'create', 'register']


class Optimizer:
    """Base optimizer: learning rate (or scheduler), weight decay, gradient rescaling and
    clipping, per-parameter ``lr_mult``/``wd_mult`` and update counts."""

    opt_registry = {}

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if learning_rate is None:
            learning_rate = 0.01
        if lr_scheduler is not None and hasattr(lr_scheduler, 'base_lr'):
            lr_scheduler.base_lr = learning_rate
        self.lr = learning_rate
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
            raise MXNetError('param_idx2name should be a dict of param indexes to names.')
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    # ---- registry ----------------------------------------------------------------------
    @staticmethod
    def register(klass):
        name = klass.__name__.lower()
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        klass = Optimizer.opt_registry.get(name.lower())
        if klass is None:
            raise MXNetError('Cannot find optimizer %r; known: %s'
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

    def set_lr_mult(self, args_lr_mult):
        """Per-name learning-rate multipliers; symbol ``__lr_mult__`` attributes come first."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__lr_mult__' in attr[name]:
                    self.lr_mult[name] = float(attr[name]['__lr_mult__'])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Per-name weight-decay multipliers: 0 for names not ending in _weight or _gamma,
        then symbol ``__wd_mult__`` attributes, then ``args_wd_mult``."""
        self.wd_mult = {}
        for n in self.idx2name.values():
            if not (n.endswith('_weight') or n.endswith('_gamma')):
                self.wd_mult[n] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__wd_mult__' in attr[name]:
                    self.wd_mult[name] = float(attr[name]['__wd_mult__'])
        self.wd_mult.update(args_wd_mult)

    def _update_count(self, index):
        indices = index if isinstance(index, (list, tuple)) else [index]
        for idx in indices:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _mult(self, index, table, attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lr(self, index):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return lr * self._mult(index, self.lr_mult, 'lr_mult')

    def _get_wd(self, index):
        return self.wd * self._mult(index, self.wd_mult, 'wd_mult')

    # ---- states and updates ------------------------------------------------------------
    def create_state(self, index, weight):
        return None

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
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

    def _prepared_grad(self, xp, grad, scratch):
        """rescale_grad * grad, clipped; into ``scratch`` (a cached buffer)."""
        xp.multiply(grad, self.rescale_grad, out=scratch)
        if self.clip_gradient is not None:
            xp.clip(scratch, -self.clip_gradient, self.clip_gradient, out=scratch)
        return scratch

    def _scratch(self, index, like):
        cache = self.__dict__.setdefault('_scratch_buffers', {})
        buf = cache.get(index)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = array_module(like).empty_like(like)
            cache[index] = buf
        return buf

    def __getstate__(self):
        raise TypeError('optimizers are not pickled in distmod; save states with '
                        'Updater.get_states()')


register = Optimizer.register


def create(name, **kwargs):
    """``mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)``."""
    return Optimizer.create_optimizer(name, **kwargs)


def _zeros_like(weight):
    return _wrap(array_module(weight._data).zeros_like(weight._data), weight.context)


@register
class SGD(Optimizer):
    """SGD with momentum and weight decay:
    ``mom = momentum * mom - lr * (rescale_grad * grad + wd * weight); weight += mom``."""

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._prepared_grad(xp, grad._data, self._scratch(index, w))
        if wd:
            g += xp.multiply(w, wd)
        if state is None:
            g *= lr
            w -= g
        else:
            mom = state._data
            mom *= self.momentum
            g *= lr
            mom -= g
            w += mom


@register
class NAG(Optimizer):
    """Nesterov accelerated gradient (MXNet's form)."""

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = self._prepared_grad(xp, grad._data, self._scratch(index, w))
        if wd:
            g += xp.multiply(w, wd)
        if state is None:
            w -= lr * g
            return
        mom = state._data
        mom *= self.momentum
        mom += g
        g += self.momentum * mom
        w -= lr * g


@register
class Adam(Optimizer):
    """Adam with MXNet's bias correction folded into the learning rate."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
        w, xp = weight._data, array_module(weight._data)
        g = self._scratch(index, w)
        xp.multiply(grad._data, self.rescale_grad, out=g)
        if wd:                      # Adam adds weight decay before clipping (SGD after)
            g += xp.multiply(w, wd)
        if self.clip_gradient is not None:
            xp.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        mean, var = state[0]._data, state[1]._data
        mean *= self.beta1
        mean += (1. - self.beta1) * g
        var *= self.beta2
        var += (1. - self.beta2) * g * g
        w -= lr * mean / (xp.sqrt(var) + self.epsilon)


# ---- updater and its safe state format -----------------------------------------------
def _encode(state, arrays):
    if state is None:
        return None
    if isinstance(state, NDArray):
        key = 's%d' % len(arrays)
        arrays[key] = state.asnumpy()
        return {'array': key}
    if isinstance(state, (list, tuple)):
        return {'list': [_encode(s, arrays) for s in state]}
    if isinstance(state, (int, float)):
        return {'number': state}
    raise MXNetError('cannot save an optimizer state of type %s' % type(state).__name__)


def _decode(tree, arrays, ctx):
    if tree is None:
        return None
    if 'array' in tree:
        from .ndarray import array
        value = arrays[tree['array']]
        return array(value, ctx=ctx, dtype=value.dtype)
    if 'list' in tree:
        return tuple(_decode(t, arrays, ctx) for t in tree['list'])
    if 'number' in tree:
        return tree['number']
    raise MXNetError('optimizer states: unknown entry %r' % (tree,))


class Updater:
    """``updater(index, grad, weight)``: the optimizer's update with per-index states."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        if index not in self.states:
            self.states[index] = self.optimizer.create_state_multi_precision(index, weight)
            self.states_synced[index] = True
        self.optimizer.update_multi_precision(index, weight, grad, self.states[index])

    def get_states(self, dump_optimizer=False):
        """The states as bytes in distmod's safe format (see the module docstring)."""
        arrays = {}
        meta = {'format': 'distmod-optimizer-states', 'version': 1,
                'optimizer': type(self.optimizer).__name__.lower(),
                'num_update': self.optimizer.num_update,
                'index_update_count': [[k, v] for k, v in
                                       self.optimizer._index_update_count.items()],
                'states': [[k, _encode(v, arrays)] for k, v in self.states.items()]}
        arrays['__meta__'] = np.frombuffer(json.dumps(meta).encode('utf-8'), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def set_states(self, states):
        """Restore what ``get_states`` returned; refuses anything else (pickles included)."""
        if isinstance(states, (bytes, bytearray)) and states[:1] == b'\x80':
            raise MXNetError('refusing to load pickled optimizer states: distmod reads only its '
                             'own safe format (Updater.get_states)')
        try:
            with np.load(io.BytesIO(states), allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            meta = json.loads(bytes(arrays.pop('__meta__')).decode('utf-8'))
        except MXNetError:
            raise
        except Exception as e:
            raise MXNetError('not distmod optimizer states: %s' % e) from None
        if meta.get('format') != 'distmod-optimizer-states':
            raise MXNetError('not distmod optimizer states (format %r)' % meta.get('format'))
        from .context import cpu
        self.states = {}
        for index, tree in meta['states']:
            key = tuple(index) if isinstance(index, list) else index
            self.states[key] = _decode(tree, arrays, cpu())
            self.states_synced[key] = False
        self.optimizer.num_update = meta['num_update']
        self.optimizer._index_update_count.clear()
        self.optimizer._index_update_count.update(
            {(tuple(k) if isinstance(k, list) else k): v for k, v in meta['index_update_count']})


def get_updater(optimizer):
    """An Updater for ``optimizer``."""
    return Updater(optimizer)


# ---- more optimizers: each keeps MXNet 1.9's update rule and defaults -----------------------
def _decayed_grad(opt, xp, index, weight, grad, wd, clip_after_wd):
    """rescale_grad * grad plus ``wd * weight``, clipped before or after adding the decay."""
    w = weight._data
    g = opt._scratch(index, w)
    xp.multiply(grad._data, opt.rescale_grad, out=g)
    if clip_after_wd and wd:
        g += xp.multiply(w, wd)
    if opt.clip_gradient is not None:
        xp.clip(g, -opt.clip_gradient, opt.clip_gradient, out=g)
    if not clip_after_wd and wd:
        g += xp.multiply(w, wd)
    return g


@register
class AdaGrad(Optimizer):
    """AdaGrad: ``history += g^2; w -= lr * (g / (sqrt(history) + eps) + wd * w)``."""

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, xp = weight._data, array_module(weight._data)
        g = _decayed_grad(self, xp, index, weight, grad, 0.0, False)
        hist = state._data
        hist += g * g
        w -= lr * (g / (xp.sqrt(hist) + self.float_stable_eps) + wd * w)


@register
class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton), or the centered form of Graves with ``centered=True``."""

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
        g = _decayed_grad(self, xp, index, weight, grad, wd, True)
        n = state[0]._data
        n *= self.gamma1
        n += (1 - self.gamma1) * g * g
        if not self.centered:
            w -= lr * g / xp.sqrt(n + self.epsilon)
        else:
            mean, delta = state[1]._data, state[2]._data
            mean *= self.gamma1
            mean += (1 - self.gamma1) * g
            delta *= self.gamma2
            delta -= lr * g / xp.sqrt(n - mean * mean + self.epsilon)
            w += delta
        if self.clip_weights:
            xp.clip(w, -self.clip_weights, self.clip_weights, out=w)


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler): step sizes from running averages of squared gradients and steps."""

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
        g = _decayed_grad(self, xp, index, weight, grad, 0.0, False)
        acc_g, acc_delta = state[0]._data, state[1]._data
        acc_g *= self.rho
        acc_g += (1. - self.rho) * g * g
        step = xp.sqrt(acc_delta + self.epsilon) / xp.sqrt(acc_g + self.epsilon) * g
        acc_delta *= self.rho
        acc_delta += (1. - self.rho) * step * step
        w -= step + wd * w


@register
class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm of past gradients."""

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
        g = _decayed_grad(self, xp, index, weight, grad, wd, True)
        m, u = state[0]._data, state[1]._data
        m *= self.beta1
        m += (1. - self.beta1) * g
        xp.maximum(self.beta2 * u, xp.abs(g), out=u)
        w -= lr * m / u


@register
class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat), with its momentum schedule."""

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
        g = _decayed_grad(self, xp, index, weight, grad, wd, True)
        mom_t = self.beta1 * (1. - 0.5 * (pow(0.96, t * self.schedule_decay)))
        mom_t1 = self.beta1 * (1. - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * mom_t
        m_schedule_next = self.m_schedule * mom_t1
        m, v = state[0]._data, state[1]._data
        m *= self.beta1
        m += (1. - self.beta1) * g
        v *= self.beta2
        v += (1. - self.beta2) * g * g
        g_prime = g / (1. - self.m_schedule)
        m_prime = m / (1. - m_schedule_next)
        v_prime = v / (1. - pow(self.beta2, t))
        m_bar = (1. - mom_t) * g_prime + mom_t1 * m_prime
        w -= lr * m_bar / (xp.sqrt(v_prime) + self.epsilon)


@register
class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al.) with L1 strength ``lamda1``."""

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
        g = _decayed_grad(self, xp, index, weight, grad, 0.0, False)
        z, n = state[0]._data, state[1]._data
        z += g - (xp.sqrt(n + g * g) - xp.sqrt(n)) * w / lr
        n += g * g
        w[...] = (xp.sign(z) * self.lamda1 - z) / ((self.beta + xp.sqrt(n)) / lr + wd) * \
            (xp.abs(z) > self.lamda1)


@register
class Signum(Optimizer):
    """signSGD / Signum (Bernstein et al.): steps by the sign of the (momentum) gradient."""

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
        g = _decayed_grad(self, xp, index, weight, grad, 0.0, False)
        if state is not None:
            mom = state._data
            mom *= self.momentum
            mom -= (1 - self.momentum) * (g + wd * w)
            w *= 1 - lr * self.wd_lh
            w += lr * xp.sign(mom)
        else:                            # signSGD: weight decay outside the sign
            w *= 1 - lr * (self.wd_lh + wd)
            w -= lr * xp.sign(g)


@register
class LAMB(Optimizer):
    """LAMB (You et al.): Adam steps scaled per layer by ||w|| / ||step||."""

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
        g = _decayed_grad(self, xp, index, weight, grad, 0.0, False)
        m, v = state[0]._data, state[1]._data
        m *= self.beta1
        m += (1. - self.beta1) * g
        v *= self.beta2
        v += (1. - self.beta2) * g * g
        if self.bias_correction:
            step = (m / (1. - self.beta1 ** t)) / (xp.sqrt(v / (1. - self.beta2 ** t)) +
                                                   self.epsilon)
        else:
            step = m / (xp.sqrt(v) + self.epsilon)
        step += wd * w
        r1 = float(xp.linalg.norm(w))
        if self.lower_bound is not None:
            r1 = max(r1, self.lower_bound)
        if self.upper_bound is not None:
            r1 = min(r1, self.upper_bound)
        r2 = float(xp.linalg.norm(step))
        ratio = r1 / r2 if r1 > 0 and r2 > 0 else 1.0
        w -= lr * ratio * step


@register
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter):
    ``w -= lr_t * m / (sqrt(v) + eps) + wd * w`` with Adam's bias correction in ``lr_t``.
    MXNet 1.9 has no 'adamw' in mx.optimizer; this is its ``contrib.adamw_update`` operator
    with ``eta=1`` and the bias-corrected rate, as its Gluon AdamW passes it."""

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        w, xp = weight._data, array_module(weight._data)
        g = _decayed_grad(self, xp, index, weight, grad, 0.0, False)
        mean, var = state[0]._data, state[1]._data
        mean *= self.beta1
        mean += (1. - self.beta1) * g
        var *= self.beta2
        var += (1. - self.beta2) * g * g
        lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)    # bias correction
        w -= lr * mean / (xp.sqrt(var) + self.epsilon) + wd * w
