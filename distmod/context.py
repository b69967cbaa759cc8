"""Devices: ``mx.cpu(i)`` computes with NumPy, ``mx.gpu(i)`` with CuPy on GPU ``i``."""
import os
import socket
import threading

import numpy as np

from .base import MXNetError, WORLD

__all__ = ['Context', 'cpu', 'gpu', 'cpu_pinned', 'current_context', 'num_gpus', 'array_module',
           'default_context', 'gpu_memory_info']

_cupy = None
_cupy_checked = False


def _get_cupy():
    """CuPy, imported on first use so that CPU-only installs never pay for it."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy
            _cupy = cupy
        except Exception:           # ImportError, or a CUDA library that fails to load
            _cupy = None
    return _cupy


def num_gpus():
    """How many GPUs CuPy can see (0 when CuPy or a GPU is missing)."""
    cp = _get_cupy()
    if cp is None:
        return 0
    try:
        return cp.cuda.runtime.getDeviceCount()
    except Exception:
        return 0


class Context:
    """A device: ``Context('cpu', 0)`` or ``Context('gpu', 1)``; also a ``with`` scope.

    Example::

        >>> with mx.Context('cpu', 0):
        ...     a = mx.nd.zeros((2,))       # created on the scope's context
    """

    devtype2str = {1: 'cpu', 2: 'gpu', 3: 'cpu_pinned', 5: 'cpu_shared'}
    devstr2type = {'cpu': 1, 'gpu': 2, 'cpu_pinned': 3, 'cpu_shared': 5}
    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            device_type, device_id = device_type.device_type, device_type.device_id
        if isinstance(device_type, int):
            device_type = self.devtype2str.get(device_type, device_type)
        if device_type not in self.devstr2type:
            raise MXNetError('unknown device type %r; use cpu or gpu' % (device_type,))
        self.device_type = device_type
        self.device_id = int(device_id)
        self._old = None

    @property
    def device_typeid(self):
        return self.devstr2type[self.device_type]

    @property
    def xp(self):
        """The array module for this device: numpy, or cupy for a GPU."""
        if self.device_type != 'gpu':
            return np
        cp = _get_cupy()
        if cp is None:
            raise MXNetError('%s needs CuPy, which is not installed (pip install distmod[gpu])'
                             % self)
        n = num_gpus()
        if self.device_id >= n:
            raise MXNetError('%s: CuPy sees %d GPU(s) on host %s%s' % (
                self, n, socket.gethostname(), _rank_words()))
        return cp

    def device(self):
        """A ``with`` scope that makes CuPy allocate on this GPU (a no-op on the CPU)."""
        if self.device_type == 'gpu':
            return self.xp.cuda.Device(self.device_id)
        return _NULL_SCOPE

    def __hash__(self):
        return hash((self.device_type, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_type == other.device_type
                and self.device_id == other.device_id)

    def __str__(self):
        return '%s(%d)' % (self.device_type, self.device_id)

    __repr__ = __str__

    def __enter__(self):
        self._old = getattr(Context._default, 'value', None)
        Context._default.value = self
        return self

    def __exit__(self, *exc):
        Context._default.value = self._old

    def empty_cache(self):
        if self.device_type == 'gpu':
            self.xp.get_default_memory_pool().free_all_blocks()


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NULL_SCOPE = _NullScope()


def gpu_memory_info(device_id=0):
    """``(free, total)`` bytes of GPU ``device_id`` (CUDA's ``cudaMemGetInfo``, through
    CuPy)."""
    cp = _get_cupy()
    if cp is None:
        raise MXNetError('gpu_memory_info needs CuPy and a GPU (pip install distmod[gpu])')
    with cp.cuda.Device(device_id):
        free, total = cp.cuda.runtime.memGetInfo()
    return int(free), int(total)


def cpu(device_id=0):
    """The CPU context (NumPy). ``device_id`` only tells executors apart."""
    return Context('cpu', device_id)


def cpu_pinned(device_id=0):
    return Context('cpu_pinned', device_id)


def gpu(device_id=0):
    """GPU ``device_id`` (CuPy). Using it without CuPy or a GPU raises a clear error."""
    return Context('gpu', device_id)


_LOCAL_RANK_VARS = ('LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID',
                    'PMI_LOCAL_RANK', 'SLURM_LOCALID')


def _local_rank():
    for name in _LOCAL_RANK_VARS:
        value = os.environ.get(name, '').strip()
        if value.isdigit():
            return int(value)
    return 0


def _rank_words():
    if WORLD['num_workers'] == 1:
        return ''
    return ' (rank %d of %d)' % (WORLD['rank'], WORLD['num_workers'])


def default_context():
    """The context of a Module given none: ``cpu()``, or, where ``distmod-launch
    --gpus-per-host G`` started the job (``DISTMOD_GPUS_PER_HOST``), this rank's GPU,
    ``gpu(local_rank % G)`` (the local rank from the launcher: LOCAL_RANK, Open MPI's, MPICH's
    or Slurm's variable)."""
    per_host = os.environ.get('DISTMOD_GPUS_PER_HOST', '').strip()
    if not per_host:
        return cpu()
    if not per_host.isdigit() or int(per_host) < 1:
        raise MXNetError('DISTMOD_GPUS_PER_HOST=%r: give the number of GPUs per host'
                         % per_host)
    return gpu(_local_rank() % int(per_host))


def current_context():
    """The innermost ``with Context`` scope's device, else ``cpu(0)``."""
    ctx = getattr(Context._default, 'value', None)
    return ctx if ctx is not None else Context('cpu', 0)


def array_module(array):
    """numpy or cupy, whichever owns ``array``."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np
    cp = _get_cupy()
    if cp is not None and isinstance(array, cp.ndarray):
        return cp
    return np
