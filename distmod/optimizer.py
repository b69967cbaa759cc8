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

__all__ = ['Optimizer', 'SGD', 'NAG', 'Adam', 'Updater', 'get_updater', 'create', 'register']


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
