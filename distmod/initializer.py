"""``mx.init`` / ``mx.initializer``: parameter initialisers with MXNet's rules by name.

An initializer is called with an ``InitDesc`` (the parameter's name and attributes) and the
array to fill.  A ``__init__`` attribute on the variable (``mx.sym.Variable('w',
init=mx.init.Xavier())``) wins; otherwise the name decides: ``*_weight`` gets the
initializer's own rule, biases and betas zeros, gammas ones, moving means zeros and moving
variances ones.  Random draws come from ``mx.random``'s generator, so ``mx.random.seed`` makes
initialisation repeatable.
"""
import json
import logging
import re

import numpy as np

from .base import MXNetError
from .ndarray.ndarray import NDArray
from . import random as _random

__all__ = ['InitDesc', 'Initializer', 'register', 'create', 'Uniform', 'Normal', 'Xavier',
           'MSRAPrelu', 'Orthogonal', 'Constant', 'Zero', 'One', 'Mixed', 'Load', 'Bilinear',
           'LSTMBias']

_REGISTRY = {}


class InitDesc(str):
    """A parameter's name with its attributes (``attrs``) and the global initializer."""

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


def register(klass):
    """Register an Initializer class under its lower-case name (for ``create``/``dumps``)."""
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def create(init, **kwargs):
    """An initializer from an instance, a registered name, or a ``dumps()`` JSON string."""
    if isinstance(init, Initializer):
        return init
    if isinstance(init, str):
        text = init.strip()
        if text.startswith('['):
            try:
                name, params = json.loads(text)
            except ValueError as e:
                raise MXNetError('cannot read initializer %r: %s' % (init, e)) from None
            return create(name, **params)
        klass = _REGISTRY.get(text.lower())
        if klass is None:
            raise MXNetError('unknown initializer %r; known: %s' % (init, sorted(_REGISTRY)))
        return klass(**kwargs)
    raise MXNetError('cannot make an initializer from %r' % (init,))


def _fill(arr, values):
    arr[:] = values


class Initializer:
    """Base initializer: dispatches on the parameter's name (see the module docstring)."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log every initialised array (with ``print_func(arr)`` as the summary)."""
        self._verbose = verbose
        self._print_func = print_func or (lambda x: str(np.linalg.norm(x.asnumpy())))
        return self

    def dumps(self):
        """``'["name", {params}]'``: what ``Variable(init=...)`` stores and ``create`` reads."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        if not isinstance(desc, InitDesc):
            desc = InitDesc(str(desc))
        if not isinstance(arr, NDArray):
            raise MXNetError('initializer for %s needs an NDArray, got %s'
                             % (desc, type(arr).__name__))
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get('__init__', '') if desc.attrs else ''
        if init:
            create(init)._init_weight(desc, arr)
            self._log(desc, arr)
            return
        name = str(desc)
        if name.endswith('upsampling'):
            self._init_bilinear(name, arr)
        elif name.startswith('stn_loc') and name.endswith('weight'):
            self._init_zero(name, arr)
        elif name.startswith('stn_loc') and name.endswith('bias'):
            self._init_loc_bias(name, arr)
        elif name.endswith('bias'):
            self._init_bias(name, arr)
        elif name.endswith('gamma'):
            self._init_gamma(name, arr)
        elif name.endswith('beta'):
            self._init_beta(name, arr)
        elif name.endswith('weight'):
            self._init_weight(desc, arr)
        elif name.endswith(('moving_mean', 'moving_inv_var', 'moving_avg', 'min')):
            self._init_zero(name, arr)
        elif name.endswith(('moving_var', 'max')):
            self._init_one(name, arr)
        else:
            self._init_default(name, arr)
        self._log(desc, arr)

    def _log(self, desc, arr):
        if self._verbose:
            logging.info('Initialized %s as %s: %s', desc, type(self).__name__,
                         self._print_func(arr))

    def _init_bilinear(self, _, arr):
        shape = arr.shape
        weight = np.zeros(int(np.prod(shape)), dtype='float32')
        f = np.ceil(shape[3] / 2.)
        c = (2 * f - 1 - f % 2) / (2. * f)
        for i in range(weight.size):
            x = i % shape[3]
            y = (i // shape[3]) % shape[2]
            weight[i] = (1 - abs(x / f - c)) * (1 - abs(y / f - c))
        _fill(arr, weight.reshape(shape))

    def _init_loc_bias(self, _, arr):
        if arr.shape[0] != 6:
            raise MXNetError('stn_loc bias must have 6 elements, got shape %s' % (arr.shape,))
        _fill(arr, np.array([1.0, 0, 0, 0, 1.0, 0]))

    def _init_zero(self, _, arr):
        _fill(arr, 0.0)

    def _init_one(self, _, arr):
        _fill(arr, 1.0)

    _init_bias = _init_zero
    _init_gamma = _init_one
    _init_beta = _init_zero

    def _init_weight(self, name, arr):
        raise MXNetError('%s cannot initialise weight %s; use a concrete initializer'
                         % (type(self).__name__, name))

    def _init_default(self, name, arr):
        raise MXNetError(
            'Unknown initialization pattern for %s. Default initialization is now limited to '
            '"weight", "bias", "gamma" (1.0), and "beta" (0.0). Please use '
            'mx.sym.Variable(init=mx.init.*) to set initialization pattern' % name)

    def __eq__(self, other):
        return isinstance(other, Initializer) and self.dumps() == other.dumps()

    __hash__ = object.__hash__


def _rng():
    return _random.generator()


@register
class Uniform(Initializer):
    """Weights uniform in [-scale, scale]."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _fill(arr, _rng().uniform(-self.scale, self.scale, arr.shape))


@register
class Normal(Initializer):
    """Weights from N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _fill(arr, _rng().normal(0, self.sigma, arr.shape))


@register
class Constant(Initializer):
    """Every element ``value``."""

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        _fill(arr, self.value)



@register
class Zero(Initializer):
    """Zeros."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 0.0)



@register
class One(Initializer):
    """Ones."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 1.0)



_REGISTRY['zeros'] = Zero
_REGISTRY['ones'] = One


@register
class Xavier(Initializer):
    """Glorot: scale sqrt(magnitude / factor), factor the fan in, out or their average."""

    def __init__(self, rnd_type='uniform', factor_type='avg', magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        if rnd_type not in ('uniform', 'gaussian'):
            raise MXNetError('Xavier rnd_type must be uniform or gaussian, got %r' % rnd_type)
        if factor_type not in ('avg', 'in', 'out'):
            raise MXNetError('Xavier factor_type must be avg, in or out, got %r' % factor_type)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise MXNetError('Xavier initializer cannot be applied to vector %s. It requires '
                             'at least 2D.' % name)
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        factor = {'avg': (fan_in + fan_out) / 2.0, 'in': fan_in, 'out': fan_out}[self.factor_type]
        scale = np.sqrt(self.magnitude / factor)
        if self.rnd_type == 'uniform':
            _fill(arr, _rng().uniform(-scale, scale, shape))
        else:
            _fill(arr, _rng().normal(0, scale, shape))


@register
class MSRAPrelu(Xavier):
    """He initialisation for PReLU nets: Gaussian Xavier with magnitude 2 / (1 + slope^2)."""

    def __init__(self, factor_type='avg', slope=0.25):
        magnitude = 2. / (1 + slope ** 2)
        super().__init__('gaussian', factor_type, magnitude)
        self._kwargs = {'factor_type': factor_type, 'slope': slope}


@register
class Orthogonal(Initializer):
    """An orthogonal matrix (SVD of a random one) times ``scale``."""

    def __init__(self, scale=1.414, rand_type='uniform'):
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type == 'uniform':
            tmp = _rng().uniform(-1.0, 1.0, (nout, nin))
        else:
            tmp = _rng().normal(0.0, 1.0, (nout, nin))
        u, _, v = np.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        _fill(arr, self.scale * res.reshape(arr.shape))


@register
class Bilinear(Initializer):
    """Bilinear upsampling weights (for Deconvolution)."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, name, arr):
        self._init_bilinear(name, arr)


@register
class LSTMBias(Initializer):
    """Zero biases except the forget gate's, set to ``forget_bias`` (gate order i, f, c, o)."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        values = np.zeros(arr.shape, dtype='float32')
        hidden = arr.shape[0] // 4
        values[hidden:2 * hidden] = self.forget_bias
        _fill(arr, values)


class Mixed:
    """Per-name initializers: the first regex in ``patterns`` that matches the name wins."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise MXNetError('Mixed: %d patterns for %d initializers'
                             % (len(patterns), len(initializers)))
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise MXNetError('Parameter name %s did not match any pattern. Consider adding a '
                         '".*" pattern at the end with a default Initializer.' % name)


class Load:
    """Values from a dict or a ``.params`` file (``arg:``/``aux:`` prefixes dropped); names it
    lacks go to ``default_init``."""

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from .ndarray import load
            param = load(param)
        if not isinstance(param, dict):
            raise MXNetError('Load needs a dict of arrays or a file of named arrays')
        self.param = {}
        for name, arr in param.items():
            if name.startswith(('arg:', 'aux:')):
                name = name[4:]
            self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            src = self.param[name]
            if tuple(src.shape) != arr.shape:
                raise MXNetError('Parameter %s cannot be initialized from loading. Shape '
                                 'mismatch, target %s vs loaded %s'
                                 % (name, arr.shape, tuple(src.shape)))
            arr[:] = src.asnumpy() if isinstance(src, NDArray) else src
            if self.verbose:
                logging.info('Initialized %s by loading', name)
        else:
            if self.default_init is None:
                raise MXNetError('Cannot Initialize %s. Not found in loaded param and no '
                                 'default Initializer is provided.' % name)
            self.default_init(name, arr)
            if self.verbose:
                logging.info('Initialized %s by default', name)
