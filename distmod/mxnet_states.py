"""MXNet's own optimizer-states files (``.states``): read without running code, and written.

MXNet 1.9's ``Updater.get_states(dump_optimizer)`` is ``pickle.dumps(states)`` or, with
``dump_optimizer=True``, ``pickle.dumps((states, optimizer))``.  ``states`` is a dict from the
updater's key to what ``optimizer.create_state_multi_precision`` made: an NDArray, None, or
tuples of them (SGD with momentum: the momentum NDArray; Adam: ``(mean, var)``).  The keys are
the parameter's position in ``Module``'s parameter list (one device, or ``update_on_kvstore``
off: then ``position * num_device + device``), or the parameter's name when MXNet updates on
the kvstore (several devices with ``kvstore='local'``, and ``dist_*``).  An NDArray pickles
through ``NDArray.__reduce__`` as ``NDArray(None)`` followed by ``__setstate__({'handle':
bytearray(raw)})``, where ``raw`` is the array as ``MXNDArraySaveRawBytes`` writes it: one record
of a ``.params`` file (see :func:`distmod.serialization.dumps_array`).  The optimizer pickles
as its class (``mxnet.optimizer.optimizer.Adam``) built with ``__new__`` and given its
``__dict__``; its ``lr_scheduler`` likewise (``mxnet.lr_scheduler.FactorScheduler``).

Reading (:func:`loads`) uses an unpickler whose ``find_class`` admits only stand-ins written
here for those few names (MXNet's NDArray, optimizer and scheduler classes, ``bytearray``, and
NumPy scalars); no MXNet code and nothing named by the file is imported or called.  Arrays are
rebuilt from their raw bytes by distmod's own NDArray reader.  Writing (:func:`dumps`) emits
the pickle opcodes by hand, so that MXNet's ``pickle.loads`` yields real MXNet NDArrays.
"""
import pickle
import re
import struct

import numpy as np

from .ndarray.ndarray import NDArray
from .optimizer import OptimizerError
from .serialization import dumps_array, loads_array

__all__ = ['loads', 'dumps', 'is_pickle', 'position_map', 'remap', 'MXNetStates']

_REFUSAL = 'MXNet optimizer states hold only NDArrays, numbers and containers'
_MXNET_OPTIMIZERS = {'AdaDelta', 'AdaGrad', 'Adam', 'Adamax', 'DCASGD', 'FTML', 'Ftrl', 'LAMB',
                     'LARS', 'LBSGD', 'NAG', 'Nadam', 'RMSProp', 'SGD', 'SGLD', 'Signum', 'Test',
                     'ccSGD'}
_OPTIMIZER_MODULES = ('mxnet.optimizer.optimizer', 'mxnet.optimizer', 'mxnet.optimizer.contrib')
_SCHEDULER_MODULES = ('mxnet.lr_scheduler',)
_PY2_MODULES = {'__builtin__': 'builtins', 'copy_reg': 'copyreg'}
_IDENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_NUMPY_DTYPE = re.compile(r'^(b1|[iu][1248]|f[248]|c(8|16))$')


def where(source):
    """``optimizer states file 'x'`` (or ``optimizer states`` without a file name)."""
    return 'optimizer states file %r' % (source,) if source is not None else 'optimizer states'


def is_pickle(data):
    """True when ``data`` starts like a pickle MXNet writes (protocol 2 or later: 0x80)."""
    return bytes(data[:1]) == b'\x80'


# ---- stand-ins that the restricted unpickler hands out instead of the real classes -------
class _Refused(Exception):
    def __init__(self, module, name):
        super().__init__('%s.%s' % (module, name))
        self.name = '%s.%s' % (module, name)


class _MXNDArray:
    """Stands for ``mxnet.ndarray.ndarray.NDArray``: keeps the raw bytes of its state."""

    def __init__(self, handle=None, writable=True):
        if handle is not None:
            raise pickle.UnpicklingError('NDArray built from a live handle')
        self.raw = None

    def __setstate__(self, state):
        if not isinstance(state, dict) or set(state) != {'handle'}:
            raise pickle.UnpicklingError('NDArray state is not {"handle": bytes}')
        raw = state['handle']
        if raw is not None and not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError('NDArray handle is a %s, not bytes' % type(raw).__name__)
        self.raw = None if raw is None else bytes(raw)


class _MXObject:
    """Stands for an MXNet optimizer or learning-rate scheduler: keeps its ``__dict__``."""
    mx_module = mx_name = None

    def __init__(self):
        self.attrs = {}

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise pickle.UnpicklingError('%s.%s built with arguments'
                                         % (cls.mx_module, cls.mx_name))
        obj = object.__new__(cls)
        obj.attrs = {}
        return obj

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]          # (dict, slots) from protocol 0/1 writers
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError('%s.%s state is not a dict of attributes'
                                         % (self.mx_module, self.mx_name))
        self.attrs = state


class _MXOptimizer(_MXObject):
    pass


class _MXScheduler(_MXObject):
    pass


_STUBS = {}


def _stub(base, module, name):
    key = (base, module, name)
    if key not in _STUBS:
        _STUBS[key] = type(name, (base,), {'mx_module': module, 'mx_name': name})
    return _STUBS[key]


class _ObjectMarker:
    """Stands for ``builtins.object`` (the base ``copyreg._reconstructor`` is given)."""


def _reconstructor(cls, base, state):
    if not (isinstance(cls, type) and issubclass(cls, _MXObject)) or base is not _ObjectMarker \
            or state is not None:
        raise pickle.UnpicklingError('copyreg._reconstructor of something other than an MXNet '
                                     'optimizer or scheduler')
    return cls.__new__(cls)


def _bytearray(data=b'', encoding=None):
    if isinstance(data, (bytes, bytearray)) and encoding is None:
        return bytes(data)
    if isinstance(data, str) and encoding in ('latin-1', 'latin1'):
        return data.encode('latin-1')
    raise pickle.UnpicklingError('bytearray of %s' % type(data).__name__)


def _codecs_encode(text, encoding='utf-8'):
    if isinstance(text, str) and encoding in ('latin-1', 'latin1'):
        return text.encode('latin-1')
    raise pickle.UnpicklingError('_codecs.encode other than latin-1 text')


class _DType:
    """Stands for ``numpy.dtype`` of a plain number type (for pickled NumPy scalars)."""

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str) or not _NUMPY_DTYPE.match(name):
            raise pickle.UnpicklingError('numpy dtype %r' % (name,))
        self.name, self.order = name, '<'

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ('<', '>', '|', '='):
            self.order = state[1]

    def resolve(self):
        dt = np.dtype(self.name)
        return dt if self.order in ('|', '=') else dt.newbyteorder(self.order)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, _DType) or not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError('numpy scalar of something other than a number')
    dt = dtype.resolve()
    if len(data) != dt.itemsize:
        raise pickle.UnpicklingError('numpy scalar of %d bytes for %s' % (len(data), dt))
    return np.frombuffer(bytes(data), dtype=dt)[0]


_ALLOWED = {
    ('mxnet.ndarray.ndarray', 'NDArray'): _MXNDArray,
    ('builtins', 'bytearray'): _bytearray,
    ('builtins', 'object'): _ObjectMarker,
    ('copyreg', '_reconstructor'): _reconstructor,
    ('_codecs', 'encode'): _codecs_encode,
    ('numpy', 'dtype'): _DType,
    ('numpy.core.multiarray', 'scalar'): _numpy_scalar,
    ('numpy._core.multiarray', 'scalar'): _numpy_scalar,
}


class _StatesUnpickler(pickle.Unpickler):
    """Admits only the stand-ins above; every other global is refused before it is looked up."""

    def find_class(self, module, name):
        module = _PY2_MODULES.get(module, module)
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if _IDENT.match(name):
            if module in _OPTIMIZER_MODULES and name != 'Optimizer':
                return _stub(_MXOptimizer, module, name)
            if module in _SCHEDULER_MODULES:
                return _stub(_MXScheduler, module, name)
        raise _Refused(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError('persistent id %r' % (pid,))


# ---- reading ------------------------------------------------------------------------------
class MXNetStates:
    """What an MXNet ``.states`` pickle held, as plain distmod data.

    ``states``: dict key -> state (distmod NDArrays on the CPU, None, tuples/lists of them).
    ``optimizer``: None, or (with ``dump_optimizer=True``) a dict ``{'module', 'class',
    'attrs', 'current_counts', 'lr_scheduler'}`` describing the pickled optimizer: its class
    name, its attributes as plain data, the device whose update counts were current, and its
    scheduler as ``{'module', 'class', 'attrs'}`` (or None).  Nothing of MXNet's is built.
    """

    def __init__(self, states, optimizer=None):
        self.states = states
        self.optimizer = optimizer


def loads(data, source=None):
    """Read an MXNet optimizer-states pickle without running code: an :class:`MXNetStates`.

    Raises :class:`~distmod.optimizer.OptimizerError` naming ``source`` for a refused global,
    a truncated or corrupt pickle, or contents that are not optimizer states.
    """
    import io
    try:
        obj = _StatesUnpickler(io.BytesIO(bytes(data)), encoding='latin1').load()
    except _Refused as e:
        raise OptimizerError('%s: refused to load global %r: %s'
                             % (where(source), e.name, _REFUSAL)) from None
    except RecursionError:
        raise OptimizerError('%s: the pickle nests too deeply to be optimizer states'
                             % where(source)) from None
    except Exception as e:      # noqa: BLE001  EOFError, UnpicklingError, stand-ins' TypeErrors
        raise OptimizerError('%s: truncated or corrupt MXNet optimizer states (%s: %s)'
                             % (where(source), type(e).__name__, e)) from None
    optimizer = None
    if isinstance(obj, tuple) and len(obj) == 2:     # MXNet's own test: (states, optimizer)
        obj, optimizer = obj
        if not isinstance(optimizer, _MXOptimizer):
            raise OptimizerError('%s: holds (states, %s); MXNet writes (states, optimizer)'
                                 % (where(source), type(optimizer).__name__))
    if not isinstance(obj, dict):
        raise OptimizerError('%s: holds a %s; MXNet optimizer states are a dict of states'
                             % (where(source), type(obj).__name__))
    memo = {}
    try:
        states = {_convert(k, source, memo, 'a key'): _convert(v, source, memo,
                                                               'state %r' % (k,))
                  for k, v in obj.items()}
        desc = None if optimizer is None else _describe_optimizer(optimizer, source, memo)
    except TypeError as e:          # an unhashable key
        raise OptimizerError('%s: not optimizer states (%s)' % (where(source), e)) from None
    return MXNetStates(states, desc)


def _convert(obj, source, memo, what):
    """The unpickled tree as distmod data: NDArray stand-ins become distmod NDArrays."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic) and obj.dtype.kind in 'biufc':
        return obj
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, _MXNDArray):
        if obj.raw is None:
            out = None
        else:
            from .ndarray import array
            arr = loads_array(obj.raw, '%s: an NDArray in %s' % (where(source), what))
            out = array(arr, dtype=arr.dtype)
    elif isinstance(obj, tuple):
        out = tuple(_convert(v, source, memo, what) for v in obj)
    elif isinstance(obj, list):
        out = []
        memo[key] = out
        out.extend(_convert(v, source, memo, what) for v in obj)
    elif isinstance(obj, dict):
        out = {}
        memo[key] = out
        for k, v in obj.items():
            out[_convert(k, source, memo, what)] = _convert(v, source, memo, what)
    else:
        name = type(obj).__name__
        if isinstance(obj, _MXObject):
            name = '%s.%s' % (obj.mx_module, obj.mx_name)
        raise OptimizerError('%s: %s holds a %s: %s' % (where(source), what, name, _REFUSAL))
    memo[key] = out
    return out


def _describe_optimizer(opt, source, memo):
    attrs = dict(opt.attrs)
    sched = attrs.pop('lr_scheduler', None)
    current = attrs.pop('_index_update_count', None)
    counts = attrs.get('_all_index_update_counts')
    current_dev = None
    if isinstance(counts, dict):
        for dev, c in counts.items():
            if c is current:
                current_dev = dev
    desc = {'module': opt.mx_module, 'class': opt.mx_name, 'current_counts': current_dev,
            'attrs': {k: _convert(v, source, memo, 'optimizer attribute %r' % k)
                      for k, v in attrs.items()},
            'lr_scheduler': None}
    if current is not None and current_dev is None:
        desc['attrs']['_index_update_count'] = _convert(current, source, memo,
                                                        'optimizer attribute')
    if sched is not None:
        if not isinstance(sched, _MXScheduler):
            raise OptimizerError('%s: the optimizer\'s lr_scheduler is a %s: %s'
                                 % (where(source), type(sched).__name__, _REFUSAL))
        desc['lr_scheduler'] = {
            'module': sched.mx_module, 'class': sched.mx_name,
            'attrs': {k: _convert(v, source, memo, 'scheduler attribute %r' % k)
                      for k, v in sched.attrs.items()}}
    return desc


def _layout(state):
    """Structure and shapes of a state, to tell one parameter's copies apart from others."""
    if isinstance(state, NDArray):
        return ('nd', tuple(state.shape), str(state.dtype))
    if isinstance(state, (tuple, list)):
        return tuple(_layout(s) for s in state)
    return state if state is None else type(state).__name__


def position_map(states, param_names, source=None):
    """A function from MXNet's state keys to distmod's parameter positions (0..N-1, the index
    distmod's Module gives its updater), or None for keys that are dropped.

    MXNet keys states by position (one device), by ``position * num_device + device``
    (several devices without ``update_on_kvstore``: device 0's copy is kept; with gradients
    aggregated the copies are identical), or by parameter name (``update_on_kvstore``).
    The layout is read off the keys (and, for several devices, the copies' shapes).
    """
    names = list(param_names)
    pos = {n: i for i, n in enumerate(names)}
    keys = list(states)
    if all(isinstance(k, str) for k in keys):
        unknown = [k for k in keys if k not in pos]
        if unknown:
            raise OptimizerError('%s: holds states for %s, which are not among the parameters '
                                 '(%s)' % (where(source), ', '.join(map(repr, unknown)),
                                           ', '.join(names)))
        return lambda k: pos.get(k) if isinstance(k, str) else None
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in keys):
        raise OptimizerError('%s: keys %r are neither parameter positions nor names'
                             % (where(source), sorted(keys, key=repr)))
    n, top = len(names), max(keys)
    if top < n:
        return lambda k: k if isinstance(k, int) and 0 <= k < n else None
    for ndev in range(2, len(keys) + 1):
        if top >= n * ndev:
            continue
        groups = {}
        for k in keys:
            groups.setdefault(k // ndev, set()).add(k % ndev)
        if all(len(g) == ndev for g in groups.values()) and all(
                _layout(states[i * ndev + d]) == _layout(states[i * ndev])
                for i in groups for d in range(ndev)):
            return lambda k, d=ndev: k // d if isinstance(k, int) and k % d == 0 else None
    raise OptimizerError('%s: states keyed %s do not fit the %d parameters (%s), neither by '
                         'position nor as position * num_device + device'
                         % (where(source), sorted(keys), n, ', '.join(names)))


def remap(mapping, key_map):
    """``mapping`` with its keys passed through ``key_map`` (keys mapped to None dropped)."""
    out = {}
    for k, v in mapping.items():
        new = key_map(k)
        if new is not None:
            out[new] = v
    return out


# ---- writing ------------------------------------------------------------------------------
class _Writer:
    """Pickle protocol 3, opcode by opcode: only what MXNet's states need."""

    def __init__(self):
        self.out = [b'\x80\x03']
        self.memo = {}
        self.keep = []          # objects memoised by id must outlive the writing

    def emit(self, b):
        self.out.append(b)

    def put(self, obj):
        idx = len(self.memo)
        self.memo[id(obj)] = idx
        self.keep.append(obj)
        self.emit(b'q' + bytes([idx]) if idx < 256 else b'r' + struct.pack('<I', idx))

    def get(self, obj):
        idx = self.memo.get(id(obj))
        if idx is None:
            return False
        self.emit(b'h' + bytes([idx]) if idx < 256 else b'j' + struct.pack('<I', idx))
        return True

    def glob(self, module, name):
        self.emit(b'c' + module.encode('ascii') + b'\n' + name.encode('ascii') + b'\n')

    def str(self, s):
        raw = s.encode('utf-8')
        self.emit(b'X' + struct.pack('<I', len(raw)) + raw)

    def value(self, v, what):
        if v is None:
            self.emit(b'N')
        elif v is True or v is False or isinstance(v, np.bool_):
            self.emit(b'\x88' if v else b'\x89')
        elif isinstance(v, (int, np.integer)):
            v = int(v)
            if 0 <= v < 256:
                self.emit(b'K' + bytes([v]))
            elif -2 ** 31 <= v < 2 ** 31:
                self.emit(b'J' + struct.pack('<i', v))
            else:
                raw = pickle.encode_long(v)
                self.emit(b'\x8a' + bytes([len(raw)]) + raw)
        elif isinstance(v, (float, np.floating)):
            self.emit(b'G' + struct.pack('>d', float(v)))
        elif isinstance(v, str):
            self.str(v)
        elif isinstance(v, NDArray):
            self.ndarray(v)
        elif isinstance(v, tuple):
            if not v:
                self.emit(b')')
            elif len(v) <= 3:
                for x in v:
                    self.value(x, what)
                self.emit(b'\x85\x86\x87'[len(v) - 1:len(v)])
            else:
                self.emit(b'(')
                for x in v:
                    self.value(x, what)
                self.emit(b't')
        elif isinstance(v, list):
            if self.get(v):
                return
            self.emit(b']')
            self.put(v)
            if v:
                self.emit(b'(')
                for x in v:
                    self.value(x, what)
                self.emit(b'e')
        elif isinstance(v, dict):
            if self.get(v):
                return
            self.emit(b'}')
            self.put(v)
            if v:
                self.emit(b'(')
                for k, x in v.items():
                    self.value(k, what)
                    self.value(x, what)
                self.emit(b'u')
        else:
            raise OptimizerError('cannot write %s (a %s) in MXNet\'s optimizer-states format'
                                 % (what, type(v).__name__))

    def ndarray(self, nd):
        """``NDArray(None)`` then ``__setstate__({'handle': bytearray(raw bytes)})``."""
        if self.get(nd):
            return
        raw = dumps_array(nd.asnumpy())
        self.glob('mxnet.ndarray.ndarray', 'NDArray')
        self.emit(b'N\x85R')
        self.emit(b'}')
        self.str('handle')
        self.glob('builtins', 'bytearray')
        self.emit(b'B' + struct.pack('<I', len(raw)) + raw)
        self.emit(b'\x85Rsb')
        self.put(nd)

    def obj(self, module, name, attrs, what):
        """``cls.__new__(cls)`` then ``__setstate__(attrs)`` (or ``__dict__.update``)."""
        self.glob(module, name)
        self.emit(b')\x81')
        self.value(attrs, what)
        self.emit(b'b')

    def bytes(self):
        return b''.join(self.out) + b'.'


_NOT_WRITTEN = ('_buffers', 'param_dict')


def _class_global(obj, distmod_module, mxnet_module, known=None):
    cls = type(obj)
    if cls.__module__ == distmod_module:
        if known is not None and cls.__name__ not in known:
            raise OptimizerError('MXNet 1.9 has no optimizer %s; its optimizer cannot be written '
                                 'in MXNet\'s format (dump_optimizer=False can)' % cls.__name__)
        return mxnet_module, cls.__name__
    return cls.__module__, cls.__qualname__


def dumps(states, optimizer=None, rename=None):
    """MXNet's ``.states`` bytes for ``states`` (dict key -> NDArray/None/tuples of them).

    With ``optimizer`` (a distmod Optimizer), the pair ``(states, optimizer)`` that MXNet
    writes with ``dump_optimizer=True``: the optimizer as MXNet's class of the same name
    (``mxnet.optimizer.optimizer.SGD``) with distmod's attributes, which are MXNet's, and its
    scheduler as ``mxnet.lr_scheduler``'s class of the same name.  Optimizers and schedulers
    defined outside distmod are written under their own module and class name, as pickle
    would.  ``rename`` (key -> key written) renames the states' keys and the optimizer's
    per-key update counts.
    """
    if rename is not None:
        states = {rename(k): v for k, v in states.items()}
    w = _Writer()
    w.value(states, 'an optimizer state')
    if optimizer is None:
        return w.bytes()
    attrs = {k: v for k, v in vars(optimizer).items() if k not in _NOT_WRITTEN}
    attrs.setdefault('allow_np_array', False)        # MXNet 1.9's Updater reads it
    sched = attrs.pop('lr_scheduler', None)
    if rename is not None:
        current = attrs.get('_index_update_count')
        every = {dev: {rename(k): c for k, c in counts.items()}
                 for dev, counts in attrs.get('_all_index_update_counts', {}).items()}
        attrs['_all_index_update_counts'] = every
        for dev, counts in optimizer._all_index_update_counts.items():
            if counts is current:
                attrs['_index_update_count'] = every[dev]
    module, name = _class_global(optimizer, 'distmod.optimizer', 'mxnet.optimizer.optimizer',
                                 _MXNET_OPTIMIZERS)
    w.glob(module, name)
    w.emit(b')\x81}')
    w.put(attrs)
    w.emit(b'(')
    for k, v in attrs.items():
        w.str(k)
        w.value(v, 'optimizer attribute %r' % k)
    w.str('lr_scheduler')
    if sched is None:
        w.emit(b'N')
    else:
        smod, sname = _class_global(sched, 'distmod.lr_scheduler', 'mxnet.lr_scheduler')
        w.obj(smod, sname, dict(vars(sched)), 'an lr_scheduler attribute')
    w.emit(b'ub\x86')
    return w.bytes()
