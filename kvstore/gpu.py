"""How gradient buckets that live on GPUs are summed across ranks.

Three paths; a store picks one per reducer, the same on every rank (a rank's capabilities are
gathered from every rank first, and a path is taken only where every rank can take it, so no
rank ever waits in NCCL for a rank that went to MPI):

``nccl``
    NCCL's allreduce on the device buffers (``cupy.cuda.nccl``), on a side stream of the
    bucket's GPU that first waits for the event recorded when the bucket's gradients were
    complete; the compute stream waits for the allreduce's event before the update, so the
    host never copies a gradient and never waits for one.  The communicator spans every
    rank's GPU (one per rank: the device the bucket lives on) and is bootstrapped through MPI:
    rank 0 makes NCCL's unique id and the store broadcasts it, as ChainerMN's ``pure_nccl``
    does.  NCCL reduces each element on one rank and sends that sum to the others, so the
    replicas stay bit-identical.
``mpi`` (CUDA-aware MPI)
    MPI's allreduce on the device buffers directly (mpi4py passes CuPy arrays through
    ``__cuda_array_interface__``), after the side stream has waited for the gradients.  Taken
    where the MPI library says it is CUDA-aware (Open MPI's ``MPIX_Query_cuda_support``,
    MPICH's ``MPICH_GPU_SUPPORT_ENABLED=1``) or ``DISTMOD_CUDA_AWARE_MPI=1`` says so.
``staged``
    Through page-locked (pinned) host buffers, one per bucket, made once: the side stream
    copies the bucket down once its gradients are complete, MPI (or distmod's ring) sums the
    host copy, the side stream copies it back and records an event the compute stream waits
    for.  The copies run on the communication thread, overlapped with backward like the
    CPU buckets.

``DISTMOD_GPU_REDUCE`` (``auto``, the default, or ``nccl``, ``mpi``, ``staged``) chooses; a
path asked for that some rank cannot take is an error on every rank, naming those ranks.
Rank 0 logs (logger ``kvstore``) which path a job's GPU gradients take, once.

Within one process, several GPUs' gradients are summed into the first GPU's by NCCL too
(:class:`LocalClique`, ``ncclCommInitAll``) where CuPy has it; otherwise by peer copies.
"""
import ctypes
import logging
import os
import socket

import numpy as np

from ._common import KVStoreError, array_module

__all__ = ['PATHS', 'capabilities', 'choose_path', 'cuda_aware_mpi', 'nccl_module',
           'DeviceBuckets', 'LocalClique', 'local_clique']

PATHS = ('nccl', 'mpi', 'staged')
_log = logging.getLogger('kvstore')
_logged = set()
_NO_NCCL = set()


def nccl_module(xp):
    """The NCCL binding of array module ``xp`` (``cupy.cuda.nccl``), or None."""
    cuda = getattr(xp, 'cuda', None)
    mod = getattr(cuda, 'nccl', None)
    if mod is None and cuda is not None:
        if xp.__name__ in _NO_NCCL:
            return None
        try:
            import importlib
            mod = importlib.import_module(xp.__name__ + '.cuda.nccl')
        except Exception:          # ImportError, or CuPy built without NCCL
            _NO_NCCL.add(xp.__name__)      # (a failed import is tried again each time)
            return None
    if mod is None or not getattr(mod, 'available', True):
        return None
    return mod if hasattr(mod, 'NcclCommunicator') else None


def _libmpi():
    """The MPI library this process has loaded (for its extensions), or None."""
    try:
        with open('/proc/self/maps') as f:
            paths = {line.split()[-1] for line in f if 'libmpi' in line and '/' in line}
    except OSError:
        return None
    for path in sorted(paths, key=len):
        if os.path.basename(path).startswith(('libmpi.so', 'libmpi_')):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


def cuda_aware_mpi(env=None):
    """True when MPI can reduce device buffers: ``DISTMOD_CUDA_AWARE_MPI`` (1/0) if set, else
    Open MPI's ``MPIX_Query_cuda_support()``, else MPICH's ``MPICH_GPU_SUPPORT_ENABLED``."""
    env = os.environ if env is None else env
    said = env.get('DISTMOD_CUDA_AWARE_MPI')
    if said is not None:
        return said.strip().lower() in ('1', 'true', 'yes', 'on')
    if env.get('MPICH_GPU_SUPPORT_ENABLED') == '1':
        return True
    lib = _libmpi()
    query = getattr(lib, 'MPIX_Query_cuda_support', None) if lib is not None else None
    if query is None:
        return False
    query.restype = ctypes.c_int
    try:
        return bool(query())
    except Exception:              # pragma: no cover - a broken extension
        return False


def capabilities(flats, env=None):
    """What this rank can do for the device flats among ``flats``: ``(device, nccl, mpi,
    host)``, device None where every flat is a NumPy array (then nothing is probed)."""
    host = socket.gethostname()
    for f in flats:
        xp = array_module(f)
        if xp is not np:
            return int(f.device.id), nccl_module(xp) is not None, cuda_aware_mpi(env), host
    return None, False, False, host


def choose_path(everyone, wanted=None):
    """The path for one reducer from every rank's :func:`capabilities` (rank order), the same
    on every rank; ``wanted`` (default ``DISTMOD_GPU_REDUCE``) may force one.  None where no
    rank has device flats."""
    wanted = (os.environ.get('DISTMOD_GPU_REDUCE', 'auto') if wanted is None else wanted)
    wanted = wanted.strip().lower() or 'auto'
    if wanted not in PATHS + ('auto',):
        raise KVStoreError('DISTMOD_GPU_REDUCE=%r: choose one of auto, %s'
                           % (wanted, ', '.join(PATHS)))
    everyone = [tuple(c) + (None,) * (4 - len(c)) for c in everyone]
    if all(c[0] is None for c in everyone):
        return None
    # NCCL takes one rank per GPU: ranks sharing a host's GPU cannot use it
    first = {}
    for r, (dev, _, _, host) in enumerate(everyone):
        first.setdefault((host, dev), r)
    can = {'nccl': [r for r, (dev, nccl, _, host) in enumerate(everyone)
                    if dev is None or not nccl or first[(host, dev)] != r],
           'mpi': [r for r, (dev, _, mpi, _) in enumerate(everyone) if dev is None or not mpi],
           'staged': []}
    if wanted != 'auto':
        if can[wanted]:
            why = {'nccl': 'no GPU buckets, no NCCL, or a GPU another rank uses', 'mpi': 'no GPU '
                   'buckets or an MPI that is not CUDA-aware'}[wanted]
            raise KVStoreError('DISTMOD_GPU_REDUCE=%s: rank%s %s cannot (%s); unset it to let '
                               'the ranks agree on a path' % (
                                   wanted, 's' if len(can[wanted]) > 1 else '',
                                   ', '.join(map(str, can[wanted])), why))
        return wanted
    return next(p for p in PATHS if not can[p])


def log_path(path, size, rank):
    """Rank 0 says once which path GPU gradients take."""
    if rank != 0 or path is None or path in _logged:
        return
    _logged.add(path)
    how = {'nccl': 'by NCCL on the GPUs',
           'mpi': 'by CUDA-aware MPI on the GPUs',
           'staged': 'through pinned host buffers and MPI'}[path]
    _log.info('kvstore: GPU gradients are summed across %d ranks %s', size, how)


_NCCL_TYPES = {'float16': 'NCCL_FLOAT16', 'float32': 'NCCL_FLOAT32', 'float64': 'NCCL_FLOAT64',
               'int8': 'NCCL_INT8', 'uint8': 'NCCL_UINT8', 'int32': 'NCCL_INT32',
               'int64': 'NCCL_INT64', 'uint32': 'NCCL_UINT32', 'uint64': 'NCCL_UINT64'}


def nccl_communicator(nccl, device, size, rank, bcast):
    """An NCCL communicator of ``size`` ranks for ``device`` (a CuPy Device): rank 0's unique
    id reaches the others through ``bcast`` (the store's broadcast of a Python value)."""
    uid = bcast(nccl.get_unique_id() if rank == 0 else None)
    with device:
        return nccl.NcclCommunicator(size, uid, rank)


def _pinned(xp, n, dtype):
    """A page-locked host array of ``n`` elements (a plain one where the module has none)."""
    alloc = getattr(getattr(xp, 'cuda', None), 'alloc_pinned_memory', None)
    dtype = np.dtype(dtype)
    if alloc is None or n == 0:
        return np.empty(n, dtype)
    mem = alloc(n * dtype.itemsize)
    return np.frombuffer(mem, dtype, n)


class DeviceBuckets:
    """The device side of a reducer's GPU buckets on one path (see the module doc).

    ``buckets`` are the reducer's buckets whose slices are device arrays; for each it keeps an
    event (recorded on the compute stream when the bucket is complete), a done event
    (recorded on the side stream after its sum is back) and, staged, a pinned host copy.
    ``allreduce(host)`` is the reducer's host sum (MPI or its ring); ``blocking(what)`` its
    watchdog context; ``nccl_comm`` the NCCL communicator on the ``nccl`` path.
    """

    def __init__(self, path, buckets, comm, allreduce, blocking, nccl=None, nccl_comm=None):
        self.path, self.comm, self._allreduce, self._blocking = path, comm, allreduce, blocking
        self.buckets = list(buckets)
        self._nccl, self._nccl_comm = nccl, nccl_comm
        if path == 'mpi':
            from mpi4py import MPI
            self._in_place, self._sum = MPI.IN_PLACE, MPI.SUM
        self._streams = {}
        self._pending = []                 # buckets summed here since the last finish()
        for b in self.buckets:
            xp = array_module(b.buf)
            b.device = b.buf.device
            with b.device:
                b.ready_event = xp.cuda.Event(disable_timing=True)
                b.done_event = xp.cuda.Event(disable_timing=True)
                if b.device.id not in self._streams:
                    self._streams[b.device.id] = xp.cuda.Stream(non_blocking=True)
            b.side = self._streams[b.device.id]
            if path == 'staged':
                b.host = _pinned(xp, b.buf.size, b.buf.dtype)
            if path == 'nccl':
                name = _NCCL_TYPES.get(np.dtype(b.buf.dtype).name)
                if name is None:
                    raise KVStoreError('NCCL cannot sum %s gradients' % b.buf.dtype)
                b.nccl_type = getattr(nccl, name)

    def complete(self, b):
        """Bucket ``b``'s gradients are all computed (on the caller's current stream)."""
        with b.device:
            b.ready_event.record()

    def reduce(self, b):
        """Sum bucket ``b`` over the ranks (on the communication thread or the caller's)."""
        with b.device:
            side = b.side
            side.wait_event(b.ready_event)
            if self.path == 'nccl':
                with self._blocking('the NCCL gradient allreduce'):
                    self._nccl_comm.allReduce(b.buf.data.ptr, b.buf.data.ptr, b.buf.size,
                                              b.nccl_type, self._nccl.NCCL_SUM, side.ptr)
                    b.done_event.record(side)
                    b.done_event.synchronize()   # under the deadline: a lost rank ends the job
            elif self.path == 'mpi':
                side.synchronize()
                with self._blocking('the CUDA-aware MPI gradient allreduce'):
                    self.comm.Allreduce(self._in_place, b.buf, self._sum)
                b.done_event.record(side)
            else:
                b.buf.get(stream=side, out=b.host)
                side.synchronize()                       # the copy has landed
                with self._blocking('the gradient allreduce'):
                    self._allreduce(b.host)
                b.buf.set(b.host, stream=side)
                b.done_event.record(side)
        self._pending.append(b)

    def finish(self):
        """Make the compute streams wait for the sum of every bucket reduced here since the
        last call (no host wait; a compressed bucket is summed on the host, outside)."""
        for b in self._pending:
            with b.device:
                array_module(b.buf).cuda.get_current_stream().wait_event(b.done_event)
        self._pending = []


class LocalClique:
    """NCCL between this process's GPUs (``NcclCommunicator.initAll``): sums of one buffer per
    device into the first device's, as ``kvstore='device'`` does with several GPUs.

    Made once per list of devices (:func:`local_clique`); a sum is one NCCL group of reduces,
    one per device, each on its device's current stream: the host neither copies nor waits.
    """

    def __init__(self, nccl, device_ids):
        self.nccl, self.device_ids = nccl, tuple(device_ids)
        self.comms = nccl.NcclCommunicator.initAll(list(self.device_ids))

    def reduce(self, arrays):
        """``arrays[0] = sum(arrays)`` (``arrays[i]`` contiguous, on ``device_ids[i]``)."""
        nccl = self.nccl
        first = arrays[0]
        code = getattr(nccl, _NCCL_TYPES[np.dtype(first.dtype).name])
        nccl.groupStart()
        try:
            for comm, a in zip(self.comms, arrays):
                with a.device:
                    stream = array_module(a).cuda.get_current_stream()
                    comm.reduce(a.data.ptr, a.data.ptr, a.size, code, nccl.NCCL_SUM, 0,
                                stream.ptr)
        finally:
            nccl.groupEnd()


_CLIQUES = {}


def local_clique(arrays):
    """The :class:`LocalClique` of the devices of ``arrays`` (one per device, in order), or
    None where NCCL cannot sum them: no NCCL, host arrays, a device twice, a dtype NCCL has
    not, or memory that is not contiguous.  ``DISTMOD_GPU_REDUCE=staged`` or ``mpi`` also
    keep NCCL out of the process."""
    if len(arrays) < 2 or os.environ.get('DISTMOD_GPU_REDUCE', 'auto').strip().lower() in (
            'staged', 'mpi'):
        return None
    xp = array_module(arrays[0])
    if xp is np or any(array_module(a) is not xp for a in arrays):
        return None
    ids = tuple(int(a.device.id) for a in arrays)
    if len(set(ids)) != len(ids) or np.dtype(arrays[0].dtype).name not in _NCCL_TYPES or \
            any(a.dtype != arrays[0].dtype or a.size != arrays[0].size or
                not a.flags.c_contiguous for a in arrays):
        return None
    key = (xp.__name__, ids)
    clique = _CLIQUES.get(key)
    if clique is None:
        nccl = nccl_module(xp)
        if nccl is None:
            return None
        clique = _CLIQUES[key] = LocalClique(nccl, ids)
    return clique
