"""``mx.init`` / ``mx.initializer``: parameter initialisers with MXNet's rules by name.

An initializer is called as ``init(desc, arr)``: ``desc`` names the parameter (an ``InitDesc``,
which carries the variable's attributes) and ``arr`` is the NDArray to fill in place.  A
``__init__`` attribute (``mx.sym.Variable('w', init=mx.init.Xavier())``) wins; otherwise the
name decides, as in MXNet 1.9: ``*weight`` gets the initializer's own rule, ``*bias`` and
``*beta`` zeros, ``*gamma`` ones, ``*min`` zeros, ``*max`` ones, and for ``*moving_mean``,
``*moving_inv_var``, ``*moving_avg`` zeros, ``*moving_var`` ones.  Random draws come from
``mx.random``'s generator, so ``mx.random.seed(n)`` makes initialisation repeatable.

Example::

    >>> mx.random.seed(0)
    >>> w = mx.nd.zeros((2, 3))
    >>> mx.init.Xavier()(mx.init.InitDesc('fc_weight'), w)
    >>> bool((abs(w.asnumpy()) <= 1.2).all())
    True
    >>> mx.init.Xavier().dumps()
    '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 3}]'
"""
import json
import logging
import re
import warnings
from math import sqrt

import numpy as np

from .base import MXNetError
from .context import array_module
from .ndarray.ndarray import NDArray, from_numpy_data
from . import random as _random

__all__ = ['InitializerError', 'InitDesc', 'Initializer', 'register', 'alias', 'create',
           'Load', 'Mixed', 'Zero', 'One', 'Constant', 'Uniform', 'Normal', 'Orthogonal',
           'Xavier', 'MSRAPrelu', 'Bilinear', 'LSTMBias', 'FusedRNN']


class InitializerError(MXNetError, ValueError):
    """A bad initializer, name or shape.  Also a ``ValueError``, which MXNet raises here."""


class InitDesc(str):
    """A parameter's name (it *is* the str) with its attributes and the global initializer.

    ``attrs`` are the variable's attributes (``Symbol.attr_dict()[name]``); ``global_init`` is
    the initializer a composite one (``FusedRNN``) falls back to.
    """

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


# ---- registry --------------------------------------------------------------------------------
_REGISTRY = {}


def _register(klass, name=None):
    if not (isinstance(klass, type) and issubclass(klass, Initializer)):
        raise InitializerError('Can only register subclass of Initializer, got %r' % (klass,))
    name = (name or klass.__name__).lower()
    old = _REGISTRY.get(name)
    if old is not None and old is not klass:
        warnings.warn('New initializer %s.%s registered with name %s is overriding existing '
                      'initializer %s.%s' % (klass.__module__, klass.__name__, name,
                                             old.__module__, old.__name__),
                      UserWarning, stacklevel=3)
    _REGISTRY[name] = klass
    return klass


def register(klass):
    """Register an Initializer subclass under its lower-cased class name, so that
    ``create('name')``, ``Module.init_params('name')`` and ``dumps()`` strings find it.

    Example::

        >>> @mx.init.register
        ... class HalfInit(mx.init.Initializer):
        ...     def _init_weight(self, _, arr):
        ...         arr[:] = 0.5
        >>> mx.init.create('halfinit').dumps()
        '["halfinit", {}]'
    """
    return _register(klass)


def alias(*aliases):
    """Class decorator registering an Initializer under extra names (``@alias('zeros')``)."""
    def reg(klass):
        for name in aliases:
            _register(klass, name)
        return klass
    return reg


def create(*args, **kwargs):
    """An initializer from an instance (returned as is), a registered name (case-insensitive)
    with constructor arguments, a ``dumps()`` string ``'["name", {...}]'``, a JSON object
    string or dict ``{"initializer": "name", ...}``.

    Example::

        >>> mx.init.create('xavier', magnitude=2).dumps()
        '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 2}]'
        >>> mx.init.create('["normal", {"sigma": 0.5}]').sigma
        0.5
    """
    if args:
        name, args = args[0], args[1:]
    elif 'initializer' in kwargs:
        name = kwargs.pop('initializer')
    else:
        raise InitializerError('create needs an initializer (an instance or a name)')
    if isinstance(name, Initializer):
        if args or kwargs:
            raise InitializerError('initializer is already an instance. Additional arguments '
                                   'are invalid')
        return name
    if isinstance(name, dict):
        return create(**name)
    if not isinstance(name, str):
        raise InitializerError('initializer must be an Initializer or a name, got %r'
                               % (name,))
    text = name.strip()
    if text.startswith(('[', '{')):
        if args or kwargs:
            raise InitializerError('no extra arguments may go with the JSON initializer %r'
                                   % name)
        try:
            spec = json.loads(text)
        except ValueError as e:
            raise InitializerError('cannot read initializer %r: %s' % (name, e)) from None
        if isinstance(spec, dict):
            return create(**spec)
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[1], dict)):
            raise InitializerError('initializer JSON must be ["name", {params}], got %r' % name)
        return create(spec[0], **spec[1])
    klass = _REGISTRY.get(text.lower())
    if klass is None:
        raise InitializerError('unknown initializer %r: not registered. Please register it '
                               'with mx.init.register first (known: %s)'
                               % (text, ', '.join(sorted(_REGISTRY))))
    return klass(*args, **kwargs)


# ---- filling helpers -------------------------------------------------------------------------
def _data(arr):
    """The numpy/cupy array behind ``arr`` (an NDArray, or a raw array used as is)."""
    return arr._data if isinstance(arr, NDArray) else arr


def _fill(arr, values):
    """Write ``values`` (scalar or array, numpy or the array's own module) into ``arr``."""
    data = _data(arr)
    if isinstance(values, NDArray):
        values = values._data
    xp = array_module(data)
    if xp is not np and isinstance(values, np.ndarray):
        values = xp.asarray(np.ascontiguousarray(values))
    elif xp is np and not isinstance(values, (np.ndarray, np.generic, int, float)):
        values = values.get() if hasattr(values, 'get') else np.asarray(values)
    data[...] = values


def _draw_dtype(data):
    return data.dtype if data.dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _fill_uniform(arr, low, high):
    data = _data(arr)
    gen = _random.generator(array_module(data))
    tmp = gen.random(data.shape, dtype=_draw_dtype(data))
    tmp *= high - low
    tmp += low
    data[...] = tmp


def _fill_normal(arr, loc, scale):
    data = _data(arr)
    gen = _random.generator(array_module(data))
    tmp = gen.standard_normal(data.shape, dtype=_draw_dtype(data))
    tmp *= scale
    tmp += loc
    data[...] = tmp


def _bilinear_weights(name, shape):
    if len(shape) != 4:
        raise InitializerError('bilinear initialisation of %s needs a 4-d weight '
                               '(num_filter, channels, height, width), got shape %s'
                               % (name, tuple(shape)))
    f = np.ceil(shape[3] / 2.)
    c = (2 * f - 1 - f % 2) / (2. * f)
    wx = 1 - np.abs(np.arange(shape[3]) / f - c)
    wy = 1 - np.abs(np.arange(shape[2]) / f - c)
    return np.broadcast_to((wy[:, None] * wx[None, :]).astype(np.float32), shape)


class Initializer:
    """Base initializer: routes each parameter by its name (see the module docstring).

    Subclasses override ``_init_weight`` (and optionally ``_init_bias``, ``_init_gamma``,
    ``_init_beta``, ``_init_default``) and pass their constructor arguments to
    ``super().__init__(**kwargs)``, which is what ``dumps()`` writes.
    """

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log ``Initialized NAME as PATTERN: STAT`` for every array; ``print_func(arr)``
        gives STAT (default: ``norm(arr) / sqrt(arr.size)``).  Returns self."""
        self._verbose = verbose
        if print_func is None:
            def print_func(x):
                data = x.asnumpy() if isinstance(x, NDArray) else np.asarray(x)
                return str(np.float32(np.linalg.norm(data.astype(np.float32).ravel())
                                      / sqrt(max(data.size, 1))))
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            logging.info('Initialized %s as %s: %s', desc, init, self._print_func(arr))

    def dumps(self):
        """The JSON string ``'["name", {params}]'`` that ``Variable(init=...)`` stores and
        ``create`` reads back."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        """Fill ``arr`` in place for the parameter ``desc`` (an ``InitDesc``; a plain str is
        MXNet's deprecated form with the older, wider name rules)."""
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get('__init__', '')
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method in self._RULES:
            if desc.endswith(suffix):
                getattr(self, method)(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        self._init_default(desc, arr)

    # MXNet 1.9's rules for an InitDesc, in order; the moving_* rules (which MXNet keeps for
    # plain-string names only, relying on operators' __init__ attributes) come last so that an
    # auxiliary state without that attribute still gets its usual value.
    _RULES = (('weight', '_init_weight'), ('bias', '_init_bias'), ('gamma', '_init_gamma'),
              ('beta', '_init_beta'), ('min', '_init_zero'), ('max', '_init_one'),
              ('weight_quantize', '_init_quantized_weight'),
              ('bias_quantize', '_init_quantized_bias'),
              ('moving_mean', '_init_zero'), ('moving_var', '_init_one'),
              ('moving_inv_var', '_init_zero'), ('moving_avg', '_init_zero'))

    def _legacy_init(self, name, arr):
        warnings.warn('Calling initializer with init(str, NDArray) has been deprecated. '
                      'please use init(mx.init.InitDesc(...), NDArray) instead.',
                      DeprecationWarning, stacklevel=3)
        if not isinstance(name, str):
            raise TypeError('name must be string, got %s' % type(name).__name__)
        if not isinstance(arr, NDArray):
            raise TypeError('arr must be NDArray, got %s for %s' % (type(arr).__name__, name))
        if name.startswith('upsampling'):
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
            self._init_weight(name, arr)
        elif name.endswith(('moving_mean', 'moving_inv_var', 'moving_avg', 'min')):
            self._init_zero(name, arr)
        elif name.endswith(('moving_var', 'max')):
            self._init_one(name, arr)
        else:
            self._init_default(name, arr)

    def _init_bilinear(self, name, arr):
        _fill(arr, _bilinear_weights(name, arr.shape))

    def _init_loc_bias(self, name, arr):
        if arr.shape[:1] != (6,):
            raise InitializerError('stn_loc bias %s must have 6 elements, got shape %s'
                                   % (name, arr.shape))
        _fill(arr, np.array([1.0, 0, 0, 0, 1.0, 0]))

    def _init_zero(self, _, arr):
        _fill(arr, 0.0)

    def _init_one(self, _, arr):
        _fill(arr, 1.0)

    def _init_bias(self, _, arr):
        _fill(arr, 0.0)

    def _init_gamma(self, _, arr):
        _fill(arr, 1.0)

    def _init_beta(self, _, arr):
        _fill(arr, 0.0)

    def _init_quantized_bias(self, _, arr):
        _fill(arr, 0)

    def _init_quantized_weight(self, _, arr):
        data = _data(arr)
        gen = _random.generator(array_module(data))
        _fill(arr, gen.integers(-127, 127, data.shape).astype(np.int8))

    def _init_weight(self, name, arr):
        raise NotImplementedError('%s does not define _init_weight, needed for %s'
                                  % (type(self).__name__, name))

    def _init_default(self, name, _):
        raise InitializerError(
            'Unknown initialization pattern for %s. Default initialization is now limited to '
            '"weight", "bias", "gamma" (1.0), and "beta" (0.0). Please use '
            'mx.sym.Variable(init=mx.init.*) to set initialization pattern' % name)

    def __eq__(self, other):
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = object.__hash__

    def __repr__(self):
        return '%s(%s)' % (type(self).__name__,
                           ', '.join('%s=%r' % kv for kv in self._kwargs.items()))


class Load:
    """Values from a dict of arrays or a ``.params`` file (``arg:``/``aux:`` prefixes are
    dropped); names not found go to ``default_init``.

    Example::

        >>> init = mx.init.Load({'arg:fc_weight': mx.nd.ones((2, 2))}, mx.init.Zero())
        >>> w = mx.nd.zeros((2, 2))
        >>> init(mx.init.InitDesc('fc_weight'), w)
        >>> w.asnumpy().tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from .ndarray.utils import load
            param = load(param)
        if not isinstance(param, dict):
            raise InitializerError('Load needs a dict of named arrays or a file of them, got %s'
                                   % type(param).__name__)
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
            if tuple(src.shape) != tuple(arr.shape):
                raise InitializerError('Parameter %s cannot be initialized from loading. Shape '
                                       'mismatch, target %s vs loaded %s'
                                       % (name, tuple(arr.shape), tuple(src.shape)))
            _fill(arr, src)
            if self.verbose:
                logging.info('Initialized %s by loading', name)
        else:
            if self.default_init is None:
                raise InitializerError('Cannot Initialize %s. Not found in loaded param and no '
                                       'default Initializer is provided.' % name)
            self.default_init(name, arr)
            if self.verbose:
                logging.info('Initialized %s by default', name)


class Mixed:
    """Per-parameter initializers: the first regex in ``patterns`` that matches the start of
    the name (``re.match``) picks the initializer.

    Example::

        >>> init = mx.init.Mixed(['bias', '.*'], [mx.init.Zero(), mx.init.Uniform(0.1)])
    """

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise InitializerError('Mixed: %d patterns for %d initializers'
                                   % (len(patterns), len(initializers)))
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise InitializerError('Parameter name %s did not match any pattern. Consider adding '
                               'a ".*" pattern at the end with a default Initializer.' % name)


@register
@alias('zeros')
class Zero(Initializer):
    """Weights 0 (biases, gammas... still follow the name rules)."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 0)


@register
@alias('ones')
class One(Initializer):
    """Weights 1 (biases, gammas... still follow the name rules)."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 1)


@register
class Constant(Initializer):
    """Weights set to ``value``: a scalar, or an array of the weight's shape."""

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        _fill(arr, self.value)

    def dumps(self):
        val = self._kwargs['value']
        if not np.isscalar(val):
            self._kwargs['value'] = (val.asnumpy() if isinstance(val, NDArray)
                                     else np.asarray(val)).tolist()
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])


@register
class Uniform(Initializer):
    """Weights uniform in [-scale, scale)."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _fill_uniform(arr, -self.scale, self.scale)


@register
class Normal(Initializer):
    """Weights from N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _fill_normal(arr, 0.0, self.sigma)


@register
class Orthogonal(Initializer):
    """``scale`` times an orthogonal matrix (from the SVD of a uniform or normal random one)
    reshaped to the weight (Saxe et al., arXiv:1312.6120)."""

    def __init__(self, scale=1.414, rand_type='uniform'):
        super().__init__(scale=scale, rand_type=rand_type)
        if rand_type not in ('uniform', 'normal'):
            raise InitializerError("Orthogonal rand_type must be 'uniform' or 'normal', got %r"
                                   % (rand_type,))
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        data = _data(arr)
        xp = array_module(data)
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        gen = _random.generator(xp)
        if self.rand_type == 'uniform':
            tmp = gen.random((nout, nin)) * 2.0 - 1.0
        else:
            tmp = gen.standard_normal((nout, nin))
        u, _, v = xp.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        data[...] = self.scale * res.reshape(arr.shape)


@register
class Xavier(Initializer):
    """Glorot initialisation: uniform in [-c, c] (or normal with std c) where
    ``c = sqrt(magnitude / n)`` and n is the fan in, the fan out or their average
    (``factor_type`` 'in', 'out', 'avg'); fans count the kernel's spatial size."""

    def __init__(self, rnd_type='uniform', factor_type='avg', magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        if rnd_type not in ('uniform', 'gaussian'):
            raise InitializerError("Xavier rnd_type must be 'uniform' or 'gaussian', got %r"
                                   % (rnd_type,))
        if factor_type not in ('avg', 'in', 'out'):
            raise InitializerError("Xavier factor_type must be 'avg', 'in' or 'out', got %r"
                                   % (factor_type,))
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise InitializerError('Xavier initializer cannot be applied to vector %s. It '
                                   'requires at least 2D.' % name)
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        factor = {'avg': (fan_in + fan_out) / 2.0, 'in': fan_in, 'out': fan_out}[
            self.factor_type]
        scale = np.sqrt(self.magnitude / factor)
        if self.rnd_type == 'uniform':
            _fill_uniform(arr, -scale, scale)
        else:
            _fill_normal(arr, 0.0, scale)


@register
class MSRAPrelu(Xavier):
    """He et al. (arXiv:1502.01852): Gaussian Xavier with magnitude ``2 / (1 + slope^2)``."""

    def __init__(self, factor_type='avg', slope=0.25):
        super().__init__('gaussian', factor_type, 2. / (1 + slope ** 2))
        self._kwargs = {'factor_type': factor_type, 'slope': slope}


@register
class Bilinear(Initializer):
    """Bilinear-interpolation kernels for upsampling (Deconvolution) weights of 4 dims."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, name, arr):
        self._init_bilinear(name, arr)


@register
class LSTMBias(Initializer):
    """LSTM biases: zeros except the forget gate (the second of the gates i, f, c, o), set to
    ``forget_bias`` (Jozefowicz et al. recommend 1.0)."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        _fill(arr, 0.0)
        hidden = int(arr.shape[0] / 4)
        _data(arr)[hidden:2 * hidden] = self.forget_bias


_GATES = {'rnn_relu': [''], 'rnn_tanh': [''], 'lstm': ['_i', '_f', '_c', '_o'],
          'gru': ['_r', '_z', '_o']}


@register
class FusedRNN(Initializer):
    """The flat ``parameters`` vector of a fused RNN layer (``mx.sym.RNN``), initialised piece
    by piece: each gate's i2h/h2h weight and bias (named like ``l0_i2h_f_weight``) goes to
    ``init`` (or the global initializer when None); LSTM forget-gate biases get
    ``forget_bias``.  The layout is cuDNN's: all weights (per layer, per direction: i2h gates,
    then h2h gates), then all biases in the same order."""

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False,
                 forget_bias=1.0):
        if isinstance(init, str):
            init = create(init)
        if mode not in _GATES:
            raise InitializerError('FusedRNN mode must be one of %s, got %r'
                                   % (sorted(_GATES), mode))
        super().__init__(init=init.dumps() if init is not None else None,
                         num_hidden=num_hidden, num_layers=num_layers, mode=mode,
                         bidirectional=bidirectional, forget_bias=forget_bias)
        self._init = init
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._forget_bias = forget_bias

    def _pieces(self, name, size):
        """(name, start, shape) of each piece of a flat vector of ``size`` elements."""
        gates = _GATES[self._mode]
        dirs = ['l', 'r'] if self._bidirectional else ['l']
        b, m, h, layers = len(dirs), len(gates), self._num_hidden, self._num_layers
        num_input = size // b // h // m - (layers - 1) * (h + b * h + 2) - h - 2
        pieces, p = [], 0
        for layer in range(layers):
            ni = b * h if layer > 0 else num_input
            for d in dirs:
                for kind, cols in (('i2h', ni), ('h2h', h)):
                    for g in gates:
                        pieces.append(('%s%d_%s%s_weight' % (d, layer, kind, g), p, (h, cols)))
                        p += h * cols
        for layer in range(layers):
            for d in dirs:
                for kind in ('i2h', 'h2h'):
                    for g in gates:
                        pieces.append(('%s%d_%s%s_bias' % (d, layer, kind, g), p, (h,)))
                        p += h
        if num_input < 1 or p != size:
            raise InitializerError(
                'Invalid parameters size for FusedRNNCell: %s has %d elements, which does not '
                'fit num_hidden=%d, num_layers=%d, mode=%s, bidirectional=%s'
                % (name, size, h, layers, self._mode, self._bidirectional))
        return pieces

    def _init_weight(self, desc, arr):
        data = _data(arr)
        if data.ndim != 1:
            raise InitializerError('FusedRNN initialises a flat parameter vector; %s has shape '
                                   '%s' % (desc, data.shape))
        ctx = arr.context if isinstance(arr, NDArray) else None
        global_init = getattr(desc, 'global_init', None)
        for name, start, shape in self._pieces(desc, data.size):
            n = int(np.prod(shape))
            view = from_numpy_data(data[start:start + n].reshape(shape), ctx)
            if self._mode == 'lstm' and name.endswith('_f_bias'):
                view._data[...] = self._forget_bias
            else:
                init = self._init if self._init is not None else global_init
                if init is None:
                    raise InitializerError('FusedRNN for %s has no init and no global '
                                           'initializer to fall back to' % desc)
                init(InitDesc(name, global_init=global_init), view)
