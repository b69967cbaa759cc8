"""kvstore: distmod's communication layer (local, device, dist_sync over MPI).

It moves raw NumPy/CuPy buffers and never imports distmod (see DESIGN.md); ``distmod.kvstore``
(``mx.kv``) is the MXNet-compatible face over it.

>>> import numpy as np, kvstore
>>> kv = kvstore.create('local')
>>> kv.init('w', np.zeros(3, np.float32))
>>> kv.push('w', [np.ones(3, np.float32), np.ones(3, np.float32)])   # two devices, summed
>>> out = np.empty(3, np.float32); kv.pull('w', out); out
array([2., 2., 2.], dtype=float32)
"""
from ._common import (KVStoreError, atomic_write, is_row_sparse, launched_by_mpi,
                      remove_stale_temps, signature, sum_rows)
from .buckets import DEFAULT_BUCKET_BYTES, OVERLAP, LocalBuckets
from .compression import GradientCompression
from .local import LocalStore

__all__ = ['create', 'KVStoreError', 'LocalStore', 'DistSyncStore', 'BucketAllreduce',
           'FusedAllreduce', 'LocalBuckets', 'GradientCompression', 'SUPPORTED', 'atomic_write',
           'remove_stale_temps', 'signature', 'gather_world_text', 'sum_rows',
           'is_row_sparse',
           'DEFAULT_BUCKET_BYTES', 'OVERLAP']

#: The store names ``create`` knows.  MXNet's one-process variants (where reductions and
#: updates run) are all the local store here; the name is kept as its ``type``.
LOCAL_TYPES = ('local', 'device', 'local_update_cpu', 'local_allreduce_cpu',
               'local_allreduce_device', 'nccl')
SUPPORTED = LOCAL_TYPES + ('dist_sync', 'dist_device_sync')


def create(name='local', comm=None, bucket_bytes=None):
    """A new store: ``local``/``device`` in one process, ``dist_sync``/``dist_device_sync`` over
    MPI (``comm``, default ``MPI.COMM_WORLD``; gradients fused into ``bucket_bytes`` buckets).
    """
    if not isinstance(name, str):
        raise KVStoreError('kvstore.create: the name must be a string, got %r' % (name,))
    if name in LOCAL_TYPES:
        return LocalStore(name)
    if name in ('dist_sync', 'dist_device_sync'):
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            if comm is None and not launched_by_mpi():
                # one process without MPI: the same store as one rank of one
                return LocalStore(name)
            raise KVStoreError('kvstore %r needs mpi4py under an MPI launcher: pip install '
                               '"distmod[mpi]"' % name) from None
        from .dist import DistSyncStore
        return DistSyncStore(name, comm=comm, bucket_bytes=bucket_bytes)
    hint = ''
    if name.startswith('dist'):
        hint = ' (asynchronous and parameter-server modes are not provided: use dist_sync)'
    raise KVStoreError('unknown kvstore type %r%s; supported: %s'
                       % (name, hint, ', '.join(SUPPORTED)))


def gather_world_text(text, what='gathering text'):
    """Every rank's ``text`` over the whole MPI job (``COMM_WORLD``), in rank order, under
    the watchdog's deadline; None where there is no MPI job (no launcher, or no mpi4py).
    Usable before any store is made (the agreement before training)."""
    if not launched_by_mpi():
        return None
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    from .dist import gather_world_text as gather
    return gather(text, what)


def __getattr__(name):
    # the MPI pieces import mpi4py: only when asked for
    if name in ('DistSyncStore', 'BucketAllreduce', 'FusedAllreduce'):
        from . import dist
        return getattr(dist, name)
    raise AttributeError(name)
