"""The operator registry: one class per operator, and everything else derives from it.

An operator is data about itself: its MXNet name and aliases, its argument, output and auxiliary
names, its parameters with types and defaults, shape and type inference, and a forward and a
backward over ``xp`` (numpy or cupy, passed in; operators never import cupy).  ``mx.sym.NAME``,
``mx.nd.NAME``, JSON (de)serialisation, the executor and the gradient check in the tests are all
built from these entries.

Conventions for an operator class (see ``nn.py`` for the fullest examples):

* ``params``: ``{name: Param(kind, default)}``.  An instance has each parsed value as an
  attribute (``self.num_hidden``), and ``self.attrs``, the user-given values as MXNet strings,
  which is what symbol JSON stores.
* ``arguments``, ``outputs``, ``auxiliary``: names, or override ``list_arguments()`` etc.
* ``infer_shape(in_shapes)`` gets one entry per argument, a tuple or ``None`` when unknown, and
  returns ``(in_shapes, out_shapes, aux_shapes)`` with whatever it could fill in; the caller
  checks what it returns against what it already knew and names both shapes on a mismatch.
  Raise ``InferError`` for a problem that is not a plain mismatch.
* ``forward(xp, ins, outs, aux, is_train)`` writes into the preallocated ``outs``.
* ``backward(xp, ograds, ins, outs, igrads, aux)`` writes (never adds) into each ``igrads[i]``
  that is not ``None``; the executor takes care of ``grad_req='add'`` and of summing gradients
  of an array used twice.
* ``retain_inputs`` / ``retain_outputs``: what backward keeps of forward, so that the executor
  can free (or reuse the memory of) every other forward buffer before backward runs.  Each is
  a tuple of positions in ``list_arguments()`` / ``list_outputs()`` *of the instance* (``bias``
  is position 2 only when there is one; a variadic operator's ``arg3`` is position 3), or
  ``ALL``.  Precisely:

  - backward may read the values of the inputs and outputs at those positions, and of no
    others;
  - it may always read every input's and output's shape and dtype, the head gradients
    (``ograds``), the auxiliary states (never freed) and the arrays the operator made and
    stored on itself in forward (statistics, masks, scratch);
  - an undeclared buffer may, by the time backward runs, hold other data, or be replaced in
    ``ins``/``outs`` by another array of the same shape and dtype.  So its values must not be
    read at all: not through ``ins``/``outs``, not through a reference to it kept from forward,
    and not through a cache keyed on its identity;
  - the default, for an operator that says nothing, is ``ALL`` (keep everything), which is
    always safe; ``()`` keeps nothing.  Every registered operator declares both, as tightly as
    is true; where what backward reads depends on the parameters (the activation type,
    ``fix_gamma``...), ``setup()`` sets them on the instance, so the executor must read them
    from the instance (``retained_inputs()`` / ``retained_outputs()`` resolve ``ALL`` too).

  ``tests/ops/test_gradients.py`` enforces both directions on every sample: backward must give
  the same gradients when every undeclared buffer is overwritten with garbage and replaced,
  and different ones when any single declared buffer is.
* ``nondiff``: argument names that take no gradient (labels, indices, conditions).
* ``loss(xp, ins)`` (loss layers only): the scalar whose gradient ``backward`` computes, for the
  gradient check; such layers ignore the head gradient.
* ``surrogate(xp, ins)`` (straight-through estimators and gradient scalers only): the outputs
  of the function whose derivative ``backward`` computes, which the gradient check
  differentiates instead of the forward.
* ``samples``: cases for the generic finite-difference gradient check (``Sample``).  Every
  registered operator must have at least one, which the test suite enforces.
* ``open_params`` (``Custom`` only): the operator takes parameters it does not declare (what
  the user's ``CustomOpProp`` takes) and its instance decides its argument, output and
  auxiliary names.  Its ``params`` is an :class:`OpenParams`, which holds every name but
  MXNet's attribute keys; a call's keyword is an input when its value is an input (a Symbol
  or an NDArray) and a parameter otherwise, and input names are checked against the
  instance's lists, not the class's.
"""
import ast

import numpy as np

from ..base import MXNetError, dtype_np

__all__ = ['Param', 'Operator', 'Sample', 'InferError', 'register', 'get', 'find', 'all_ops',
           'REQUIRED', 'ALL', 'OpenParams']

_REGISTRY = {}      # every name and alias -> class
_CANONICAL = {}     # canonical name -> class


class InferError(MXNetError):
    """Raised by an operator's inference; the caller adds the operator instance's name."""


class _Required:
    def __repr__(self):
        return 'REQUIRED'


REQUIRED = _Required()


class _All:
    def __repr__(self):
        return 'ALL'


ALL = _All()     # retain_inputs / retain_outputs: backward keeps every input (output)


def _parse_tuple(text):
    text = text.strip()
    if text in ('None', ''):
        return None
    value = ast.literal_eval(text.replace('L', '')) if text[0] in '([' else ast.literal_eval(text)
    if isinstance(value, (int, float)):
        return (int(value),)
    return tuple(int(v) if v is not None else None for v in value)


def _parse_bool(text):
    low = text.strip().lower()
    if low in ('true', '1'):
        return True
    if low in ('false', '0'):
        return False
    raise ValueError('not a boolean: %r' % text)


def _parse_optional(inner):
    def parse(text):
        return None if text.strip() in ('None', '') else inner(text)
    return parse


def _parse_float(text):
    return float(text)


def _parse_int(text):
    return int(float(text)) if text.strip() not in ('None',) else None


def _parse_axis(text):
    """An axis parameter: an int, a tuple of ints, or None (``()`` also means None)."""
    value = _parse_tuple(text)
    if value is None or len(value) == 0:
        return None
    return value


_PARSERS = {
    'int': int, 'float': _parse_float, 'bool': _parse_bool, 'str': str,
    'shape': _parse_tuple, 'axis': _parse_axis,
    'int_or_none': _parse_optional(int), 'float_or_none': _parse_optional(_parse_float),
    'dtype': lambda s: s, 'dtype_or_none': _parse_optional(lambda s: s),
    'str_or_none': _parse_optional(str),
}


def format_value(value):
    """A parameter value as MXNet's Python front end writes it into symbol attributes."""
    if isinstance(value, (np.dtype, type)):
        return np.dtype(value).name
    if isinstance(value, (list, tuple, np.ndarray)):
        value = tuple(_plain(v) for v in value)
    return str(_plain(value))


def _plain(value):
    """NumPy scalars as Python numbers (NumPy 2 writes ``np.int64(3)`` for ``repr``)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class Param:
    """One operator parameter: its kind (a key of the parsers above), default and choices."""

    __slots__ = ('kind', 'default', 'choices', 'doc')

    def __init__(self, kind, default=REQUIRED, choices=None, doc=''):
        if kind not in _PARSERS:
            raise ValueError('unknown parameter kind %r' % kind)
        self.kind = kind
        self.default = default
        self.choices = choices
        self.doc = doc

    def parse(self, op_name, pname, value):
        """The typed value of ``value`` (a string from JSON or a Python value from a call)."""
        try:
            if isinstance(value, str):
                out = _PARSERS[self.kind](value)
            elif self.kind in ('shape', 'axis'):
                out = None if value is None else (
                    (int(value),) if np.isscalar(value) else
                    tuple(None if v is None else int(v) for v in value))
                if self.kind == 'axis' and out == ():
                    out = None
            elif self.kind in ('dtype', 'dtype_or_none'):
                out = None if value is None else dtype_np(value).name
            elif value is None and self.kind.endswith('_or_none'):
                out = None
            elif self.kind.startswith('int'):
                out = int(value)
            elif self.kind.startswith('float'):
                out = float(value)
            elif self.kind == 'bool':
                out = bool(value)
            else:
                out = value
        except (ValueError, TypeError, SyntaxError) as e:
            raise MXNetError('operator %s: cannot read parameter %s=%r as %s'
                             % (op_name, pname, value, self.kind)) from e
        if self.choices is not None and out not in self.choices:
            raise MXNetError('operator %s: parameter %s=%r is not one of %s'
                             % (op_name, pname, value, sorted(self.choices)))
        return out


#: MXNet's attribute keys that are not operator parameters, besides ``__dunder__`` keys (the
#: keys ``distmod.symbol`` keeps hidden as ``__key__``).
ATTRIBUTE_KEYS = ('ctx_group', 'lr_mult', 'wd_mult', 'force_mirroring', 'mirror_stage',
                  'profiler_scope')


class OpenParams(dict):
    """The ``params`` of an ``open_params`` operator: the declared parameters, and also every
    other name except MXNet's attribute keys (``__dunder__`` and ``ATTRIBUTE_KEYS``), read as
    a string.  Iterating it gives the declared ones only."""

    def __contains__(self, key):
        if dict.__contains__(self, key):
            return True
        return (isinstance(key, str) and not (key.startswith('__') and key.endswith('__'))
                and key not in ATTRIBUTE_KEYS)

    def __missing__(self, key):
        if key in self:
            return Param('str')
        raise KeyError(key)


class Sample:
    """One case for the generic gradient check.

    ``shapes``: shapes of enough arguments for inference to complete.  ``values``: for arguments
    that need special values, ``{name: fn(rng, shape) -> ndarray}``.  ``rtol``/``atol`` loosen
    the comparison where an operator's math warrants it.
    """

    def __init__(self, attrs=None, shapes=None, values=None, rtol=1e-4, atol=1e-6,
                 is_train=True):
        self.attrs = dict(attrs or {})
        self.shapes = dict(shapes or {})
        self.values = dict(values or {})
        self.rtol = rtol
        self.atol = atol
        self.is_train = is_train

    def __repr__(self):
        return 'Sample(%r, %r)' % (self.attrs, self.shapes)


class Operator:
    """Base of every operator; see the module docstring for what a subclass declares."""

    name = None
    aliases = ()
    params = {}
    arguments = ('data',)
    outputs = ('output',)
    auxiliary = ()
    nondiff = ()
    variadic = False          # takes ``*args``; the count is the ``num_args`` parameter
    open_params = False       # takes undeclared parameters; the instance names its inputs
    retain_inputs = ALL       # see the module docstring
    retain_outputs = ALL
    samples = ()
    key_var_num_args = None   # the parameter holding the count of a variadic op's inputs

    def __init__(self, attrs=None, **kwargs):
        attrs = dict(attrs or {})
        attrs.update(kwargs)
        known = self.params
        self.attrs = {}
        for key, value in attrs.items():
            if key not in known:
                raise MXNetError('operator %s got an unknown parameter %r; it takes %s'
                                 % (self.name, key, sorted(known) or 'none'))
            self.attrs[key] = value if isinstance(value, str) else format_value(value)
            setattr(self, key, known[key].parse(self.name, key, value))
        for key, param in known.items():
            if key not in attrs:
                if param.default is REQUIRED:
                    raise MXNetError('operator %s: required parameter %r is missing'
                                     % (self.name, key))
                setattr(self, key, param.default)
        self.setup()

    def setup(self):
        """Hook for work that depends on the parsed parameters (validation, constants)."""

    # ---- names -------------------------------------------------------------------------
    def list_arguments(self):
        if self.variadic:
            return ['arg%d' % i for i in range(getattr(self, self.key_var_num_args))]
        return list(self.arguments)

    def list_outputs(self):
        return list(self.outputs)

    def list_auxiliary_states(self):
        return list(self.auxiliary)

    def output_count(self):
        return len(self.list_outputs())

    # ---- what backward keeps -------------------------------------------------------------
    def retained_inputs(self):
        """Positions in ``list_arguments()`` whose values backward reads."""
        return _positions(self.retain_inputs, len(self.list_arguments()))

    def retained_outputs(self):
        """Positions in ``list_outputs()`` whose values backward reads."""
        return _positions(self.retain_outputs, self.output_count())

    # ---- inference ---------------------------------------------------------------------
    def infer_shape(self, in_shapes):
        """Default: every input and output has one shape, what all known inputs say of it
        together (0 marks a dimension one input does not know)."""
        known = None
        for s in in_shapes:
            if s is None:
                continue
            if known is None or len(known) != len(s):
                known = tuple(s) if known is None else known
                continue
            known = tuple(b if a == 0 else a for a, b in zip(known, s))
        return [known] * len(in_shapes), [known] * self.output_count(), []

    def infer_type(self, in_types):
        """Default: every input, output and auxiliary state has the first known dtype."""
        known = next((t for t in in_types if t is not None), None)
        return ([known] * len(in_types), [known] * self.output_count(),
                [known] * len(self.list_auxiliary_states()))

    # ---- compute -----------------------------------------------------------------------
    def forward(self, xp, ins, outs, aux, is_train):
        raise NotImplementedError('%s has no forward' % self.name)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        raise NotImplementedError('%s has no backward' % self.name)

    loss = None   # loss layers define loss(self, xp, ins) -> scalar
    # an operator whose backward is by design not its forward's derivative (straight-through
    # estimators, gradient scaling) defines surrogate(self, xp, ins) -> outputs, the function
    # whose derivative backward computes; the gradient check differentiates that instead
    surrogate = None

    def __repr__(self):
        return '%s(%s)' % (self.name, ', '.join('%s=%s' % kv for kv in sorted(self.attrs.items())))


def _positions(declared, count):
    return tuple(range(count)) if declared is ALL else tuple(declared)


def check_input_names(cls, names):
    """Refuse keyword arguments that are neither a parameter nor a possible input of ``cls``.

    ``arguments`` and ``auxiliary`` list every input an operator can take (``list_arguments``
    may drop some, e.g. ``bias`` with ``no_bias``); variadic operators take ``arg0``, ``arg1``...
    An ``open_params`` operator's inputs are known only to its instance, which the callers
    check the names against.
    """
    if cls.open_params:
        return
    possible = set(cls.arguments) | set(cls.auxiliary)
    bad = [k for k in names if k not in possible and
           not (cls.variadic and k.startswith('arg') and k[3:].isdigit())]
    if bad:
        raise MXNetError('operator %s got an unknown parameter %r; it takes %s and inputs %s'
                         % (cls.name, bad[0], sorted(cls.params) or 'no parameters',
                            list(cls.arguments) + list(cls.auxiliary)))


def register(cls):
    """Class decorator: add an operator (and its aliases) to the registry."""
    if not cls.name:
        raise ValueError('%s has no name' % cls.__name__)
    reserved = set(dir(Operator))
    clash = [p for p in cls.params if p in reserved]
    if clash:
        raise ValueError('%s: parameter names %s clash with Operator attributes' % (cls.name, clash))
    for key in (cls.name,) + tuple(cls.aliases):
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError('operator name %r registered twice' % key)
        _REGISTRY[key] = cls
    _CANONICAL[cls.name] = cls
    return cls


def get(name):
    """The operator class registered under ``name`` (canonical name or alias)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MXNetError('unknown operator %r' % name) from None


def find(name):
    return _REGISTRY.get(name)


def all_ops():
    """Canonical name -> class, for every operator."""
    return dict(_CANONICAL)


def all_names():
    """Every name and alias -> class."""
    return dict(_REGISTRY)


#: MXNet's operator namespaces: an operator registered as ``_contrib_Foo`` is also
#: ``mx.sym.contrib.Foo`` and ``mx.nd.contrib.Foo``; every name that starts with ``_`` is in
#: ``_internal`` under its own name.
NAMESPACE_PREFIXES = (('contrib', '_contrib_'), ('linalg', '_linalg_'), ('sparse', '_sparse_'),
                      ('image', '_image_'))


def install_namespaces(package, functions, label, named=None):
    """Make ``package``'s (``mx.sym`` or ``mx.nd``) operator namespace modules: each of
    :func:`namespaces` becomes the module ``package.NAME`` (an existing one, e.g. a real
    ``sparse`` module, gets the operators added) holding ``functions[operator name]`` under
    its public name, or ``named(operator name, public name)`` where given (outside
    ``_internal``: symbols name their nodes after the public name)."""
    import sys
    import types
    for ns, names in namespaces().items():
        full = '%s.%s' % (package.__name__, ns)
        module = sys.modules.get(full) or getattr(package, ns, None)
        if not isinstance(module, types.ModuleType):
            module = types.ModuleType(full, '%s.%s: MXNet\'s %s operators.' % (label, ns, ns))
            sys.modules[full] = module
            setattr(package, ns, module)
        for public, op_name in names.items():
            if not hasattr(module, public):
                fn = functions[op_name] if named is None or ns == '_internal' else \
                    named(op_name, public)
                setattr(module, public, fn)


def namespaces():
    """``{namespace: {public name: operator name}}`` for MXNet's operator namespaces."""
    out = {ns: {} for ns, _ in NAMESPACE_PREFIXES}
    out['_internal'] = {}
    for name in _REGISTRY:
        for ns, prefix in NAMESPACE_PREFIXES:
            if name.startswith(prefix) and len(name) > len(prefix):
                out[ns][name[len(prefix):]] = name
        if name.startswith('_'):
            out['_internal'][name] = name
    return out
