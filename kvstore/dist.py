"""``dist_sync`` and ``dist_device_sync``: the local store, reduced across MPI ranks.

Every rank holds a full replica.  ``init`` first checks that the ranks agree on keys, shapes
and dtypes (one ``allgather``; a mismatch is an error naming the key and the ranks, raised on
every rank, so nobody hangs), then broadcasts rank 0's values.  ``push`` sums over local
devices, then over ranks with fused allreduces (:class:`FusedAllreduce`), then every rank
applies the same update to the same numbers, so replicas stay bit-identical.

An uncaught exception on a rank of a multi-rank job prints that rank's traceback and aborts
the whole MPI job (``MPI_Abort``), so the other ranks never wait forever in a collective.
"""
import collections
import os
import sys
import threading
import traceback

import numpy as np

from ._common import KVStoreError, array_module, signature
from .local import LocalStore

__all__ = ['DistSyncStore', 'FusedAllreduce', 'agree', 'DEFAULT_BUCKET_BYTES']

#: Gradients are packed into buckets of about this many bytes (``DISTMOD_BUCKET_BYTES``).
DEFAULT_BUCKET_BYTES = int(os.environ.get('DISTMOD_BUCKET_BYTES', 4 << 20))


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as err:      # pragma: no cover - depends on the install
        raise KVStoreError('the distributed kvstore needs mpi4py: pip install "distmod[mpi]" '
                           '(%s)' % err) from None
    return MPI


def agree(comm, sig, what):
    """Check that every rank passed the same ``sig`` (a list of (key, shape, dtype)).

    On a mismatch every rank raises the same :class:`KVStoreError`, naming the first key that
    differs and which ranks have which version.
    """
    everyone = comm.allgather(sig)
    if all(s == everyone[0] for s in everyone[1:]):
        return
    by_key = []
    for rank, s in enumerate(everyone):
        by_key.append({k: (shape, dt) for k, shape, dt in s})
    keys = []
    for s in everyone:
        for k, _, _ in s:
            if k not in keys:
                keys.append(k)
    for k in keys:
        seen = {}
        for rank, d in enumerate(by_key):
            seen.setdefault(d.get(k), []).append(rank)
        if len(seen) > 1:
            parts = []
            for desc, ranks in seen.items():
                where = 'rank%s %s' % ('s' if len(ranks) > 1 else '',
                                       ','.join(str(r) for r in ranks))
                parts.append('%s: %s' % (where, 'no such key' if desc is None
                                         else 'shape %s %s' % desc))
            raise KVStoreError('%s: ranks disagree on key %r (%s)' % (what, k, '; '.join(parts)))
    orders = {}
    for rank, s in enumerate(everyone):
        orders.setdefault(tuple(k for k, _, _ in s), []).append(rank)
    raise KVStoreError('%s: ranks pass the same keys in different orders (%s)' % (
        what, '; '.join('ranks %s: %s' % (r, list(o)) for o, r in orders.items())))


_HOOKED = []


def install_abort_hook(comm):
    """Make an uncaught exception on this rank print its traceback and abort the whole job."""
    if _HOOKED or comm.Get_size() == 1:
        return
    previous = sys.excepthook
    rank = comm.Get_rank()

    def hook(kind, value, tb):
        try:
            sys.stderr.write('distmod: rank %d raised an exception; aborting the job\n' % rank)
            traceback.print_exception(kind, value, tb)
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            if kind is KeyboardInterrupt:
                previous(kind, value, tb)
            comm.Abort(1)

    sys.excepthook = hook
    _HOOKED.append(hook)


class _Bucket:
    __slots__ = ('flat', 'host', 'members', 'copy', 'left', 'size')

    def __init__(self, flat, host, members, copy):
        self.flat, self.host, self.members, self.copy = flat, host, members, copy
        self.left = len(members)
        self.size = int(flat.size)


class _CommThread:
    """One background thread that runs blocking allreduces, in the order they are handed in.

    mpi4py releases the GIL inside MPI calls and NumPy inside its kernels, so a bucket is
    reduced while the main thread goes on with backward.  Blocking ``Allreduce`` (MPI's tuned
    algorithms) is much faster than the non-blocking ``Iallreduce`` here, which without an MPI
    progress thread would mostly run inside its final ``Wait`` anyway.
    """

    def __init__(self, run):
        self._run = run
        self._todo = collections.deque()
        self._cond = threading.Condition()
        self._busy = 0
        self._error = None
        self._thread = threading.Thread(target=self._loop, name='kvstore-allreduce',
                                        daemon=True)
        self._thread.start()

    def submit(self, item):
        with self._cond:
            self._todo.append(item)
            self._busy += 1
            self._cond.notify_all()

    def drain(self):
        """Wait until everything submitted is done; re-raise the thread's error."""
        with self._cond:
            while self._busy:
                self._cond.wait()
            if self._error is not None:
                err, self._error = self._error, None
                raise err

    def close(self):
        """Stop the thread once what was submitted is done."""
        self.submit(None)
        self._thread.join()

    def _loop(self):
        while True:
            with self._cond:
                while not self._todo:
                    self._cond.wait()
                item = self._todo.popleft()
            if item is None:
                return
            try:
                self._run(item)
            except BaseException as err:      # handed to the main thread in drain()
                self._error = err
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()


def _thread_multiple():
    MPI = _mpi()
    return MPI.Query_thread() == MPI.THREAD_MULTIPLE


class FusedAllreduce:
    """Sum a fixed list of arrays over ranks, packed into buckets of ``bucket_bytes``.

    ``arrays`` are the caller's buffers (gradients), listed in the order they become ready
    (for backward, last layer first).  Call :meth:`ready(i)` as array ``i`` is final: as soon
    as a bucket and every earlier one are complete, the bucket goes to a communication thread
    that reduces it (blocking ``Allreduce``) while backward goes on.  :meth:`wait` reduces
    what is left on the calling thread and returns when everything is done; the sums are then
    in ``arrays``.  Every bucket is reduced with the same call, in the same order, on every
    rank, whatever order the gradients became ready in (MPI matches collectives by order).
    The last bucket, complete only when backward is over, is always reduced in ``wait``.
    Buffers are allocated once and reused every step.

    With ``adopt=True`` the reducer allocates the arrays itself, as views into its buckets
    (:attr:`arrays`): then nothing is copied in or out.  CuPy arrays are staged through host
    buffers.  ``overlap=False`` (or an MPI without ``MPI_THREAD_MULTIPLE``) reduces
    everything in ``wait``.
    """

    def __init__(self, comm, arrays=None, shapes=None, dtypes=None, bucket_bytes=None,
                 adopt=False, overlap=True):
        self.comm = comm
        self._op = _mpi().SUM
        bucket_bytes = DEFAULT_BUCKET_BYTES if bucket_bytes is None else int(bucket_bytes)
        if adopt:
            shapes = [tuple(s) for s in shapes]
            dtypes = [np.dtype(t) for t in dtypes]
            xps = [np] * len(shapes)
        else:
            shapes = [tuple(a.shape) for a in arrays]
            dtypes = [np.dtype(a.dtype) for a in arrays]
            xps = [array_module(a) for a in arrays]
        self.buckets = []
        self._bucket_of = [None] * len(shapes)
        self.arrays = list(arrays) if arrays is not None else [None] * len(shapes)
        # Group by (array module, device, dtype) keeping the ready order; cut at bucket_bytes.
        groups = {}
        for i, (shape, dt, xp) in enumerate(zip(shapes, dtypes, xps)):
            dev = None if adopt else getattr(arrays[i], 'device', None)
            groups.setdefault((xp.__name__, str(dev), dt.str), []).append(i)
        # Buckets are ordered by the position of their first member, so the start order
        # follows the ready order and is the same on every rank.
        pending = []
        self._groups = []     # NumPy groups: (one buffer, its buckets) for run()'s single call
        for (_, _, _), idx in groups.items():
            cur, nbytes = [], 0
            cuts = []
            for i in idx:
                size = int(np.prod(shapes[i], dtype=np.int64)) * dtypes[i].itemsize
                if cur and nbytes + size > bucket_bytes:
                    cuts.append(cur)
                    cur, nbytes = [], 0
                cur.append(i)
                nbytes += size
            if cur:
                cuts.append(cur)
            whole = None
            if xps[idx[0]] is np:
                # the group's buckets are consecutive slices of one buffer
                whole = np.empty(sum(int(np.prod(shapes[i], dtype=np.int64)) for i in idx),
                                 dtype=dtypes[idx[0]])
                self._groups.append((whole, []))
            off = 0
            for members in cuts:
                n = sum(int(np.prod(shapes[i], dtype=np.int64)) for i in members)
                pending.append((members, None if whole is None else whole[off:off + n],
                                len(self._groups) - 1 if whole is not None else None))
                off += n
        pending.sort(key=lambda item: item[0][0])
        for members, part, group in pending:
            xp = xps[members[0]]
            dt = dtypes[members[0]]
            total = sum(int(np.prod(shapes[i], dtype=np.int64)) for i in members)
            dev = None if adopt else getattr(self.arrays[members[0]], 'device', None)
            if xp is np:
                flat = part
                host = None
            else:
                with dev:
                    flat = xp.empty(total, dtype=dt)
                host = np.empty(total, dtype=dt)
            views, off = [], 0
            for i in members:
                n = int(np.prod(shapes[i], dtype=np.int64))
                view = flat[off:off + n].reshape(shapes[i])
                if adopt:
                    view[...] = 0
                    self.arrays[i] = view
                views.append((i, view))
                off += n
            copy = not adopt
            b = _Bucket(flat, host, views, copy)
            for i in members:
                self._bucket_of[i] = len(self.buckets)
            self.buckets.append(b)
            if group is not None:
                self._groups[group][1].append(b)
        self._next = 0       # the next bucket to hand to the thread
        self.bytes = sum(b.flat.nbytes for b in self.buckets)
        self._in_place = _mpi().IN_PLACE
        self._thread = _CommThread(self._reduce) \
            if overlap and len(self.buckets) > 1 and _thread_multiple() else None

    def ready(self, i):
        """Array ``i`` holds its final local value; hand complete buckets to the thread."""
        b = self.buckets[self._bucket_of[i]]
        b.left -= 1
        if b.left == 0 and self._thread is not None:
            buckets, last = self.buckets, len(self.buckets) - 1
            while self._next < last and buckets[self._next].left <= 0:
                self._thread.submit(buckets[self._next])
                self._next += 1

    def _reduce(self, b):
        if b.copy:
            arrays = self.arrays
            for i, view in b.members:
                view[...] = arrays[i]
        buf = b.flat
        if b.host is not None:
            b.flat.get(out=b.host)
            buf = b.host
        self.comm.Allreduce(self._in_place, buf, self._op)
        if b.host is not None:
            b.flat.set(b.host)
        if b.copy:
            arrays = self.arrays
            for i, view in b.members:
                arrays[i][...] = view

    def wait(self):
        """Finish every bucket (the thread's first, then the rest here, in bucket order)."""
        if self._thread is not None:
            self._thread.drain()
        buckets = self.buckets
        for k in range(self._next, len(buckets)):
            self._reduce(buckets[k])
        for b in buckets:
            b.left = len(b.members)
        self._next = 0

    def close(self):
        """Stop the communication thread (the reducer can still ``run`` without it)."""
        if self._thread is not None:
            self._thread.close()
            self._thread = None

    def run(self):
        """Reduce everything now, without overlap: one allreduce per dtype (fewer, larger
        calls are faster when nothing is left to overlap).  Every rank must use ``run`` for
        the same step (the kvstore's push does); within backward use ``ready``/``wait``."""
        if self._next or any(b.left != len(b.members) for b in self.buckets):
            self.wait()                  # something was handed out already: bucket by bucket
            return
        MPI = _mpi()
        arrays = self.arrays
        for whole, buckets in self._groups:
            for b in buckets:
                if b.copy:
                    for i, view in b.members:
                        view[...] = arrays[i]
            self.comm.Allreduce(MPI.IN_PLACE, whole, self._op)
            for b in buckets:
                if b.copy:
                    for i, view in b.members:
                        arrays[i][...] = view
        for b in self.buckets:
            if b.host is not None:
                self._reduce(b)


class DistSyncStore(LocalStore):
    """Synchronous data-parallel store over MPI (``dist_sync``, ``dist_device_sync``)."""

    def __init__(self, name='dist_sync', comm=None, bucket_bytes=None):
        super().__init__(name)
        MPI = _mpi()
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.num_workers = self.comm.Get_size()
        self.bucket_bytes = DEFAULT_BUCKET_BYTES if bucket_bytes is None else int(bucket_bytes)
        # gradients travel on their own communicator, so that a reduction still running on the
        # communication thread can never be matched with another collective of the caller's
        self.grad_comm = self.comm.Dup()
        self._reducers = {}
        self._agreed = set()
        install_abort_hook(self.comm)

    def barrier(self):
        """Wait until every rank has reached this call."""
        self.comm.Barrier()

    def _after_init(self, keys):
        stored = [self._store[k] for k in keys]
        agree(self.comm, signature(keys, [s.shape for s in stored], [s.dtype for s in stored]),
              'kvstore init')
        self.broadcast_arrays(stored)

    def sync(self, keys, arrays, what='sync'):
        if len(keys) != len(arrays):
            raise KVStoreError('%s: %d keys for %d arrays' % (what, len(keys), len(arrays)))
        agree(self.comm, signature(keys, [a.shape for a in arrays], [a.dtype for a in arrays]),
              what)
        self.broadcast_arrays(arrays)

    def broadcast_arrays(self, arrays, root=0):
        """Overwrite ``arrays`` on every rank with ``root``'s (same shapes everywhere)."""
        for a in arrays:
            if array_module(a) is np:
                self.comm.Bcast(np.ascontiguousarray(a) if not a.flags.c_contiguous else a,
                                root=root)
            else:
                host = a.get()
                self.comm.Bcast(host, root=root)
                a.set(host)

    def _reduce(self, keys, arrays):
        if self.num_workers == 1:
            return
        self.reducer(keys, arrays).run()

    def reducer(self, keys, arrays):
        """The :class:`FusedAllreduce` for this list of keys and buffers (made once, reused).

        The first time a list of keys is reduced the ranks check that they agree on it.
        """
        tag = (tuple(keys), tuple(id(a) for a in arrays))
        red = self._reducers.get(tag)
        if red is None:
            sig = signature(keys, [a.shape for a in arrays], [a.dtype for a in arrays])
            if tuple(keys) not in self._agreed:
                agree(self.comm, sig, 'kvstore push')
                self._agreed.add(tuple(keys))
            red = FusedAllreduce(self.grad_comm, arrays, bucket_bytes=self.bucket_bytes,
                                 overlap=False)
            if len(self._reducers) > 64:
                self._reducers.clear()
            self._reducers[tag] = red
        return red
