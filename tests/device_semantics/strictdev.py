"""A device-semantics check: an array module that behaves like CuPy where the correctness of
distmod's GPU path depends on it, backed by NumPy so that it runs on every CPU machine (CI).

It is not a GPU and proves nothing about speed or CUDA; it pins the rules CuPy enforces that
code written on NumPy silently breaks:

- no implicit conversion to NumPy: ``np.asarray(dev)``, ``np.array(dev)`` and anything else
  that calls ``__array__`` raise ``TypeError``, as CuPy's arrays do;
- no mixing with host arrays: an operation given a device array and a NumPy array raises
  ``TypeError`` (CuPy: "Unsupported type <class 'numpy.ndarray'>");
- an array is used on its own device: an operation on an array of device 1 while device 0 is
  current raises ``ValueError``, as CuPy's kernels do;
- reductions return 0-d device arrays, not host scalars;
- every device-to-host transfer (``get``, ``asnumpy``, ``float``/``int``/``bool``, ``item``,
  ``tolist``, ``repr``) and host-to-device one (``asarray``/``array`` of host data, a host value
  assigned into a device array, ``set``) is counted in ``TRANSFERS``, with where it came from.

Install it as distmod's GPU module with ``install()`` (``mx.gpu(i)`` then computes here, on
``NUM_DEVICES`` pretend devices) and undo it with ``uninstall()``.
"""
import contextlib
import threading
import traceback
import types

import numpy as np

NUM_DEVICES = 2

_state = threading.local()


def _current():
    return getattr(_state, 'device', 0)


class Transfers:
    """Counts of device-to-host (``d2h``) and host-to-device (``h2d``) copies, with the
    innermost distmod frame of each, so that a test can say where an unexpected one is."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.d2h, self.h2d = 0, 0
        self.log = []

    def record(self, kind, nbytes, what):
        if kind == 'd2h':
            self.d2h += 1
        else:
            self.h2d += 1
        frames = [f for f in traceback.extract_stack()[:-3]
                  if '/distmod/' in f.filename or '/kvstore/' in f.filename]
        where = ' < '.join('%s:%d %s' % (f.filename.rsplit('/', 1)[-1], f.lineno, f.name)
                           for f in reversed(frames[-3:])) or '?'
        self.log.append((kind, what, nbytes, where))

    def where(self, kind=None):
        """``{location: count}`` of the transfers logged (of ``kind`` only, if given)."""
        out = {}
        for k, what, _, where in self.log:
            if kind is None or k == kind:
                key = '%s %s at %s' % (k, what, where)
                out[key] = out.get(key, 0) + 1
        return out


TRANSFERS = Transfers()


def _host_error(where):
    return TypeError('Unsupported type <class \'numpy.ndarray\'>: a host array given to %s '
                     'with device arrays (CuPy refuses to mix them)' % where)


def _unwrap(x, where, allow_host=False):
    t = type(x)
    if t is ndarray:
        if x._dev != _current():
            raise ValueError('Array device must be same as the current device: array device '
                             '= %d while current = %d (in %s)' % (x._dev, _current(), where))
        return x._a
    if t is np.ndarray:
        if not allow_host:
            raise _host_error(where)
        TRANSFERS.record('h2d', x.nbytes, where)
        return x
    if t in (list, tuple):
        return t(_unwrap(i, where, allow_host) for i in x)
    if t is dict:
        return {k: _unwrap(v, where, allow_host) for k, v in x.items()}
    if t is slice:
        return slice(_unwrap(x.start, where), _unwrap(x.stop, where), _unwrap(x.step, where))
    return x


def _wrap(r, keep=None):
    """NumPy results back as device arrays (on the current device); ``keep`` maps the ids of
    the unwrapped inputs to their wrappers, so that ``out=`` returns the very array given."""
    if isinstance(r, np.ndarray):
        if keep is not None and id(r) in keep:
            return keep[id(r)]
        return ndarray(r, _current())
    if isinstance(r, np.generic):
        return ndarray(np.asarray(r), _current())
    if type(r) in (list, tuple):
        return type(r)(_wrap(i, keep) for i in r)
    if isinstance(r, (np.random.Generator, np.random.RandomState)):
        return _Generator(r)
    return r


class _Generator:
    """A random generator drawing device arrays (``cupy.random.default_rng``'s)."""

    def __init__(self, gen):
        self._gen = gen

    def __getattr__(self, name):
        attr = getattr(self._gen, name)
        if not callable(attr):
            return attr

        def method(*args, **kwargs):
            return _call(attr, 'Generator.%s' % name, args, kwargs)
        return method


def _inputs(args, kwargs):
    keep = {}
    for v in list(args) + list(kwargs.values()):
        for item in (v if type(v) in (list, tuple) else (v,)):
            if type(item) is ndarray:
                keep[id(item._a)] = item
    return keep


def _call(fn, where, args, kwargs, allow_host=False):
    keep = _inputs(args, kwargs)
    a = _unwrap(args, where, allow_host)
    k = _unwrap(kwargs, where, allow_host)
    return _wrap(fn(*a, **k), keep)


def _d2h(x, what):
    TRANSFERS.record('d2h', x._a.nbytes, what)
    return x._a


class ndarray:
    """A device array: a NumPy array that only device operations may touch."""

    __slots__ = ('_a', '_dev', '__weakref__')
    __array_priority__ = 1000

    def __init__(self, a, dev):
        self._a, self._dev = a, dev

    # -- what CuPy refuses or charges for --
    def __array__(self, *args, **kwargs):
        raise TypeError('Implicit conversion to a NumPy array is not allowed. Please use '
                        '`.get()` to construct a NumPy array explicitly.')

    def get(self, stream=None, order='C', out=None):
        host = _d2h(self, 'get').copy()
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        TRANSFERS.record('h2d', arr.nbytes, 'set')
        self._a[...] = arr

    def item(self):
        return _d2h(self, 'item').item()

    def tolist(self):
        return _d2h(self, 'tolist').tolist()

    def tobytes(self, order='C'):
        return _d2h(self, 'tobytes').tobytes(order)

    def __float__(self):
        return float(_d2h(self, 'float()'))

    def __int__(self):
        return int(_d2h(self, 'int()'))

    def __bool__(self):
        return bool(_d2h(self, 'bool()'))

    def __index__(self):
        if self._a.ndim:
            raise TypeError('only integer scalar arrays can be converted to a scalar index')
        return int(_d2h(self, 'index'))

    def __complex__(self):
        return complex(_d2h(self, 'complex()'))

    def __repr__(self):
        return 'strictdev.ndarray(%r, device=%d)' % (_d2h(self, 'repr'), self._dev)

    __str__ = __repr__

    # -- what a CuPy array has --
    @property
    def device(self):
        return Device(self._dev)

    @property
    def __cuda_array_interface__(self):
        if not CUDA_AWARE_MPI[0]:
            raise AttributeError('strictdev arrays have no real device memory')
        # the pretend CUDA-aware MPI: mpi4py hands MPI the pointer, which is host memory here
        if _current() != self._dev:
            raise ValueError('a device %d buffer handed to MPI while device %d is current'
                             % (self._dev, _current()))
        MPI_DEVICE_BUFFERS.append(self.nbytes)
        cai = dict(self._a.__array_interface__)
        cai['version'] = 3
        cai['stream'] = None
        return cai

    @property
    def data(self):
        """``.data.ptr``: a handle that the pretend NCCL turns back into this array."""
        _POINTERS[id(self)] = self
        return types.SimpleNamespace(ptr=id(self))

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: None if self._a.base is None else ndarray(self._a.base,
                                                                            self._dev))
    T = property(lambda self: ndarray(self._a.T, self._dev))
    real = property(lambda self: ndarray(self._a.real, self._dev))
    imag = property(lambda self: ndarray(self._a.imag, self._dev))

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    def __getattr__(self, name):
        if name in ('ctypes', 'data', '__array_interface__', '__array_struct__', 'tofile',
                    'dump', 'dumps', '__dlpack__', '__dlpack_device__'):
            # (CuPy's DLPack capsules say CUDA; NumPy's would pass for host memory)
            raise AttributeError('a device array has no %s' % name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)
        dev = self._dev

        def method(*args, **kwargs):
            with Device(dev):
                return _call(attr, 'ndarray.%s' % name, args, kwargs)
        return method

    def copy(self, order='C'):
        """On the current device, from any device (CuPy's peer copy)."""
        return ndarray(self._a.copy(order), _current())

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(row), self._dev) if not isinstance(row, np.ndarray)
                else ndarray(row, self._dev) for row in self._a)

    def __getitem__(self, key):
        with Device(self._dev):                # a view stays on its array's device
            return _wrap(self._a[_unwrap(key, 'getitem')], {id(self._a): self})

    def __setitem__(self, key, value):
        if self._dev != _current():            # the copy is a kernel on the current device
            raise ValueError('Array device must be same as the current device: array device '
                             '= %d while current = %d (in setitem)' % (self._dev, _current()))
        k = _unwrap(key, 'setitem')
        if type(value) is np.ndarray:          # CuPy copies a host value in
            TRANSFERS.record('h2d', value.nbytes, 'setitem')
            self._a[k] = value
            return
        self._a[k] = _unwrap(value, 'setitem')

    __hash__ = None

    # -- NumPy's protocols: np.add(dev, ...) and np.sum(dev) run on the device, as CuPy's --
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = getattr(ufunc, method)
        return _call(fn, 'numpy.%s' % ufunc.__name__, inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        if func in (np.asarray, np.array, np.asanyarray, np.ascontiguousarray):
            raise TypeError('Implicit conversion to a NumPy array is not allowed.')
        return _call(func, 'numpy.%s' % func.__name__, args, kwargs)


def _binary(name):
    def op(self, other):
        return _call(getattr(np.ndarray, name), name, (self, other), {})
    op.__name__ = name
    return op


def _unary(name):
    def op(self):
        return _call(getattr(np.ndarray, name), name, (self,), {})
    op.__name__ = name
    return op


for _n in ('add', 'sub', 'mul', 'truediv', 'floordiv', 'mod', 'pow', 'matmul', 'and', 'or',
           'xor', 'lshift', 'rshift', 'divmod'):
    for _f in ('__%s__', '__r%s__', '__i%s__'):
        _name = _f % _n
        if hasattr(np.ndarray, _name):
            setattr(ndarray, _name, _binary(_name))
for _name in ('__lt__', '__le__', '__gt__', '__ge__', '__eq__', '__ne__'):
    setattr(ndarray, _name, _binary(_name))
for _name in ('__neg__', '__pos__', '__abs__', '__invert__'):
    setattr(ndarray, _name, _unary(_name))


# ---- the module ---------------------------------------------------------------------------
_CREATE_FROM_HOST = {'array', 'asarray', 'asanyarray', 'ascontiguousarray'}


def asnumpy(a, stream=None, order='C', out=None):
    if type(a) is ndarray:
        host = _d2h(a, 'asnumpy').copy()
        if out is not None:
            out[...] = host
            return out
        return host
    return np.asarray(a)


def _creator(name):
    fn = getattr(np, name)

    def create(obj, *args, **kwargs):
        if type(obj) is ndarray and obj._dev != _current():
            # CuPy copies between devices here (peer to peer), never through the host
            obj = ndarray(obj._a, _current())
        host = type(obj) is not ndarray and not np.isscalar(obj) and obj is not None
        if host and not isinstance(obj, np.ndarray):
            TRANSFERS.record('h2d', 0, name)
        out = _call(fn, name, (obj,) + args, kwargs, allow_host=True)
        if name in ('array',) and type(out) is ndarray and type(obj) is ndarray \
                and kwargs.get('copy', True) and out._a is obj._a:
            out = ndarray(out._a.copy(), _current())
        return out
    create.__name__ = name
    return create


class _Namespace(types.ModuleType):
    """A NumPy namespace whose functions compute on device arrays only."""

    def __init__(self, name, base):
        super().__init__(name)
        self._base = base

    def __getattr__(self, name):
        attr = getattr(self._base, name)
        if isinstance(attr, types.ModuleType):
            sub = _Namespace('%s.%s' % (self.__name__, name), attr)
            setattr(self, name, sub)
            return sub
        if isinstance(attr, type) or not callable(attr):
            return attr                        # dtypes, constants
        if isinstance(attr, np.ufunc):
            fn = _Ufunc(attr)
        else:
            def fn(*args, **kwargs):
                return _call(attr, name, args, kwargs)
            fn.__name__ = name
        setattr(self, name, fn)
        return fn


class _Ufunc:
    """A ufunc on device arrays, with its methods (``add.at``, ``maximum.reduce``...)."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        return _call(self._uf, self.__name__, args, kwargs)

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if not callable(attr):
            return attr

        def method(*args, **kwargs):
            return _call(attr, '%s.%s' % (self.__name__, name), args, kwargs)
        return method


class Device:
    """``strictdev.cuda.Device(i)``: a ``with`` scope making device ``i`` current."""

    def __init__(self, device=None):
        self.id = _current() if device is None else int(device)
        if not 0 <= self.id < NUM_DEVICES:
            raise ValueError('device %d: there are %d strictdev devices'
                             % (self.id, NUM_DEVICES))
        self._old = []

    def __enter__(self):
        self._old.append(_current())
        _state.device = self.id
        return self

    def __exit__(self, *exc):
        _state.device = self._old.pop()
        return False

    def use(self):
        _state.device = self.id

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


class Event:
    """``strictdev.cuda.Event``: work is done at once here, so an event only checks use:
    waiting for one that was never recorded (a race on a GPU) raises."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.device = _current()
        self.recorded = 0

    def record(self, stream=None):
        if _current() != self.device:
            raise ValueError('an event of device %d recorded while device %d is current'
                             % (self.device, _current()))
        self.recorded += 1

    def synchronize(self):
        self._check('synchronized')

    @property
    def done(self):
        self._check('queried')
        return True

    def _check(self, how):
        if not self.recorded:
            raise RuntimeError('an event %s before it was ever recorded' % how)


class _Stream:
    def __init__(self, null=False, non_blocking=False, ptr=None):
        self.device = _current()
        self.ptr = 0 if null else id(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass

    def wait_event(self, event):
        if event.device != self.device or _current() != self.device:
            raise ValueError('a stream of device %d waits for an event of device %d (device %d '
                             'current)' % (self.device, event.device, _current()))
        event._check('waited for')

    def record(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    @property
    def done(self):
        return True

    use = __enter__


def _current_stream():
    return _Stream(null=True)


#: bytes of the page-locked host memory allocated (``alloc_pinned_memory``)
PINNED = [0]
#: set CUDA_AWARE_MPI[0] to let mpi4py take device arrays (see ``__cuda_array_interface__``);
#: MPI_DEVICE_BUFFERS lists the sizes of the device buffers handed to MPI
CUDA_AWARE_MPI = [False]
MPI_DEVICE_BUFFERS = []
_POINTERS = {}


def _alloc_pinned(nbytes):
    PINNED[0] += nbytes
    return bytearray(nbytes)


class _NcclCommunicator:
    """The pretend NCCL: an MPI communicator of its own under NCCL's calls.  It checks what
    a real one needs: every rank given the same unique id, the rank and size right, the
    buffers on the communicator's device, which is current, and their type code."""

    def __init__(self, ndev, commId, rank):
        from mpi4py import MPI
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD.Dup()
        if (self._comm.size, self._comm.rank) != (ndev, rank):
            raise RuntimeError('NCCL: rank %d of %d given, MPI says %d of %d'
                               % (rank, ndev, self._comm.rank, self._comm.size))
        ids = self._comm.allgather(tuple(commId))
        if any(i != ids[0] for i in ids):
            raise RuntimeError('NCCL: the ranks were given different unique ids')
        self.device = _current()
        NCCL['communicators'] += 1

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        send, recv = _POINTERS[sendbuf], _POINTERS[recvbuf]
        for a in (send, recv):
            if a._dev != self.device or _current() != self.device:
                raise ValueError('NCCL: a device %d buffer on a communicator of device %d '
                                 '(device %d current)' % (a._dev, self.device, _current()))
        if _NCCL_CODES[datatype] != a.dtype or op != 0 or count != a.size:
            raise ValueError('NCCL: type code %r, op %r, count %d for a %s array of %d'
                             % (datatype, op, count, a.dtype, a.size))
        if send is not recv:
            recv._a[...] = send._a
        self._comm.Allreduce(self._MPI.IN_PLACE, recv._a.reshape(-1), op=self._MPI.SUM)
        NCCL['allreduces'] += 1

    def destroy(self):
        self._comm.Free()

    abort = destroy

    @staticmethod
    def initAll(devices):
        """One process's clique (ncclCommInitAll): its collectives run between
        ``groupStart()`` and ``groupEnd()``, one call per member, as NCCL needs."""
        devices = list(range(devices)) if isinstance(devices, int) else list(devices)
        clique = {'size': len(devices), 'calls': []}
        NCCL['cliques'] += 1
        return [_CliqueMember(clique, r, d) for r, d in enumerate(devices)]


class _CliqueMember:
    def __init__(self, clique, rank, device):
        self._clique, self.rank, self.device = clique, rank, device

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        if not _GROUP:
            raise RuntimeError('NCCL: a collective of one process\'s clique outside '
                               'groupStart()/groupEnd() would wait forever')
        send, recv = _POINTERS[sendbuf], _POINTERS[recvbuf]
        if send._dev != self.device or _current() != self.device:
            raise ValueError('NCCL: member of device %d given a device %d buffer (device %d '
                             'current)' % (self.device, send._dev, _current()))
        if _NCCL_CODES[datatype] != send.dtype or op != 0 or count != send.size:
            raise ValueError('NCCL: type code %r, op %r, count %d for a %s array of %d'
                             % (datatype, op, count, send.dtype, send.size))
        _GROUP[-1].append((self._clique, self.rank, root, send, recv))


_GROUP = []


def _group_start():
    _GROUP.append([])


def _group_end():
    calls = _GROUP.pop()
    cliques = {}
    for clique, rank, root, send, recv in calls:
        cliques.setdefault(id(clique), (clique, {}))[1][rank] = (root, send, recv)
    for clique, members in cliques.values():
        if len(members) != clique['size'] or len({m[0] for m in members.values()}) != 1:
            raise RuntimeError('NCCL: %d of the clique\'s %d members called (roots %s); the '
                               'group would wait forever' % (
                                   len(members), clique['size'],
                                   sorted({m[0] for m in members.values()})))
        root = members[0][0]
        members[root][2]._a[...] = _ordered_sum([members[r][1]._a for r in sorted(members)])
        NCCL['reduces'] += 1


_NCCL_CODES = {7: np.dtype(np.float32), 8: np.dtype(np.float64), 6: np.dtype(np.float16),
               2: np.dtype(np.int32), 4: np.dtype(np.int64), 1: np.dtype(np.uint8)}
#: counts of the pretend NCCL's communicators across ranks and their allreduces, and of one
#: process's cliques (initAll) and their reduces
NCCL = {'communicators': 0, 'allreduces': 0, 'cliques': 0, 'reduces': 0}


def _ordered_sum(parts):
    out = parts[0].copy()
    for p in parts[1:]:
        out += p
    return out


def _nccl_module():
    m = types.ModuleType('strictdev.cuda.nccl')
    m.available = True
    m.NcclCommunicator = _NcclCommunicator
    m.get_unique_id = lambda: tuple(int(v) for v in np.random.randint(-128, 128, 128))
    m.groupStart, m.groupEnd = _group_start, _group_end
    m.NCCL_SUM = 0
    m.NCCL_FLOAT32, m.NCCL_FLOAT64, m.NCCL_FLOAT16 = 7, 8, 6
    m.NCCL_INT32, m.NCCL_INT64, m.NCCL_UINT8 = 2, 4, 1
    return m


def enable_nccl(on=True):
    """Give strictdev's ``cuda`` a pretend ``nccl`` (over MPI), or take it away."""
    if on:
        xp.cuda.nccl = _nccl_module()
    elif hasattr(xp.cuda, 'nccl'):
        del xp.cuda.nccl


class _MemoryPool:
    def free_all_blocks(self):
        pass

    def used_bytes(self):
        return 0


def _module():
    m = _Namespace('strictdev', np)
    m.ndarray = ndarray
    m.asnumpy = asnumpy
    for name in _CREATE_FROM_HOST:
        setattr(m, name, _creator(name))
    cuda = types.ModuleType('strictdev.cuda')
    cuda.Device = Device
    cuda.Stream = _Stream
    cuda.Event = Event
    cuda.get_current_stream = _current_stream
    cuda.alloc_pinned_memory = _alloc_pinned
    cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: NUM_DEVICES)
    cuda.get_device_id = _current
    m.cuda = cuda
    m.get_default_memory_pool = _MemoryPool
    m.get_array_module = lambda *arrays: m if any(type(a) is ndarray for a in arrays) else np
    m.fuse = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))
    m.TRANSFERS = TRANSFERS
    return m


xp = _module()


def install():
    """Make ``mx.gpu(i)`` compute on strictdev (and the kvstore recognise its arrays)."""
    from distmod import context
    import kvstore._common as kc
    context._cupy, context._cupy_checked = xp, True
    kc.register_array_module(ndarray, xp)
    TRANSFERS.reset()


def uninstall():
    from distmod import context
    import kvstore._common as kc
    context._cupy, context._cupy_checked = None, False
    kc.register_array_module(ndarray, None)


@contextlib.contextmanager
def installed():
    install()
    try:
        yield xp
    finally:
        uninstall()
