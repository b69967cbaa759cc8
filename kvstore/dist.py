"""``dist_sync`` and ``dist_device_sync``: the local store, reduced across MPI ranks.

Every rank holds a full replica.  ``init`` first checks that the ranks agree on keys, shapes
and dtypes (one ``allgather``; a mismatch is an error naming the key and the ranks, raised on
every rank, so nobody hangs), then broadcasts rank 0's values.  ``push`` sums over local
devices, then over ranks with fused allreduces (:class:`FusedAllreduce`), then every rank
applies the same update to the same numbers, so replicas stay bit-identical.

An uncaught exception on a rank of a multi-rank job prints that rank's traceback and aborts
the whole MPI job (``MPI_Abort``), so the other ranks never wait forever in a collective.
"""
import sys
import traceback

import numpy as np

from ._common import (KVStoreError, array_module, signature, is_row_sparse, sum_rows,
                      to_module)
from .buckets import BucketAllreduce, FusedAllreduce, DEFAULT_BUCKET_BYTES, OVERLAP, _mpi
from .local import LocalStore

__all__ = ['DistSyncStore', 'BucketAllreduce', 'FusedAllreduce', 'agree',
           'DEFAULT_BUCKET_BYTES']


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


class DistSyncStore(LocalStore):
    """Synchronous data-parallel store over MPI (``dist_sync``, ``dist_device_sync``).

    Besides MXNet's key-value API it is the one door to the other ranks for the training
    loop: every collective a step makes is one of its methods (see :class:`LocalStore` for
    the list; there each is the one-process case).
    """

    def __init__(self, name='dist_sync', comm=None, bucket_bytes=None):
        super().__init__(name)
        MPI = _mpi()
        self._MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.num_workers = self.comm.Get_size()
        self.bucket_bytes = DEFAULT_BUCKET_BYTES if bucket_bytes is None else int(bucket_bytes)
        # gradients travel on their own communicator, so that a reduction still running on the
        # communication thread can never be matched with another collective of the caller's
        self.grad_comm = self.comm.Dup()
        self._reducers = {}
        self._agreed = set()
        self._flag = np.zeros(1, dtype=np.int32)
        install_abort_hook(self.comm)

    # ---- the collectives of a training step --------------------------------------------
    def barrier(self):
        """Wait until every rank has reached this call."""
        self.comm.Barrier()

    def agree(self, keys, arrays, what):
        """Raise the same KVStoreError on every rank unless all ranks pass the same keys,
        shapes and dtypes (one allgather)."""
        agree(self.comm, signature(keys, [a.shape for a in arrays], [a.dtype for a in arrays]),
              what)

    def sync(self, keys, arrays, what='sync'):
        if len(keys) != len(arrays):
            raise KVStoreError('%s: %d keys for %d arrays' % (what, len(keys), len(arrays)))
        self.agree(keys, arrays, what)
        self.broadcast_arrays(arrays)

    def broadcast_arrays(self, arrays, root=0):
        """Overwrite ``arrays`` on every rank with ``root``'s (same shapes everywhere; a
        row-sparse value gets ``root``'s rows)."""
        for a in arrays:
            if is_row_sparse(a):
                self._broadcast_rows(a, root)
            elif array_module(a) is np:
                if a.flags.c_contiguous:
                    self.comm.Bcast(a, root=root)
                else:       # MPI needs contiguous memory: go through a copy and back
                    tmp = np.ascontiguousarray(a)
                    self.comm.Bcast(tmp, root=root)
                    a[...] = tmp
            else:
                host = a.get()
                self.comm.Bcast(host, root=root)
                a.set(host)

    def _broadcast_rows(self, a, root):
        xp = array_module(a.values)
        n = self.comm.bcast(int(a.indices.shape[0]), root=root)
        idx = np.ascontiguousarray(to_module(np, a.indices), dtype=np.int64)
        vals = np.ascontiguousarray(to_module(np, a.values))
        if self.rank != root:
            idx = np.empty(n, dtype=np.int64)
            vals = np.empty((n,) + tuple(a.shape[1:]), dtype=a.values.dtype)
        self.comm.Bcast(idx, root=root)
        self.comm.Bcast(vals.reshape(-1).view(np.uint8), root=root)
        a.indices, a.values = to_module(xp, idx, a.values), to_module(xp, vals, a.values)

    def reduce_row_sparse(self, values):
        """Replace each row-sparse value by its sum over ranks, in place.

        Rows travel, not the dense tensor: one ``Allgather`` of every value's row count,
        then per value one ``Allgatherv`` of the indices and one of the rows (as bytes);
        every rank then sums the same gathered rows in the same order, so the results are
        bit-identical everywhere, and a row no rank holds stays absent.
        """
        if not values or self.num_workers == 1:
            return super().reduce_row_sparse(values)
        comm, size = self.comm, self.num_workers
        mine = np.array([int(v.indices.shape[0]) for v in values], dtype=np.int64)
        counts = np.empty((size, len(values)), dtype=np.int64)
        comm.Allgather(mine, counts)
        for j, v in enumerate(values):
            xp = array_module(v.values)
            n = counts[:, j]
            row = int(np.prod(v.shape[1:], dtype=np.int64)) * v.values.dtype.itemsize
            idx = np.ascontiguousarray(to_module(np, v.indices), dtype=np.int64)
            vals = np.ascontiguousarray(to_module(np, v.values))
            all_idx = np.empty(int(n.sum()), dtype=np.int64)
            all_vals = np.empty((int(n.sum()),) + tuple(v.shape[1:]), dtype=v.values.dtype)
            comm.Allgatherv(idx, [all_idx, n.tolist()])
            comm.Allgatherv(vals.reshape(-1).view(np.uint8),
                            [all_vals.reshape(-1).view(np.uint8), (n * row).tolist()])
            rows, sums = sum_rows(np, all_idx, all_vals)
            v.indices, v.values = to_module(xp, rows, v.values), to_module(xp, sums, v.values)

    def gradient_buckets(self, flats, members, overlap=None):
        """A :class:`BucketAllreduce` over ``flats`` on the gradient communicator."""
        return BucketAllreduce(self.grad_comm, flats, members, bucket_bytes=self.bucket_bytes,
                               overlap=OVERLAP if overlap is None else overlap)

    def average_arrays(self, arrays):
        """Replace each array by its mean over ranks, in place."""
        MPI = self._MPI
        for a in arrays:
            host = a if isinstance(a, np.ndarray) else a.get()
            if not host.flags.c_contiguous:
                host = np.ascontiguousarray(host)
            self.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
            host /= self.num_workers
            if host is not a:
                a[...] = host if isinstance(a, np.ndarray) else array_module(a).asarray(host)

    def all_true(self, flag):
        """True on every rank when ``flag`` is true on every rank (one tiny allreduce)."""
        MPI = self._MPI
        self._flag[0] = 1 if flag else 0
        self.comm.Allreduce(MPI.IN_PLACE, self._flag, op=MPI.MIN)
        return bool(self._flag[0])

    def sum_floats(self, values):
        """``values`` (a sequence of numbers) summed over ranks, as float64."""
        total = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self._MPI.IN_PLACE, total, op=self._MPI.SUM)
        return total

    # ---- push ---------------------------------------------------------------------------
    def _after_init(self, keys):
        stored = [self._store[k] for k in keys]
        self.sync(keys, stored, 'kvstore init')

    def _reduce(self, keys, arrays):
        if self.num_workers == 1:
            return
        sparse = [a for a in arrays if is_row_sparse(a)]
        if sparse:
            # the ranks must agree on which keys are row-sparse before they part ways (the
            # first time this list of keys is pushed with these storage types)
            stypes = tuple(is_row_sparse(a) for a in arrays)
            if (tuple(keys), stypes) not in self._agreed:
                agree(self.comm, signature(['%s (%s)' % (k, 'row_sparse' if s else 'dense')
                                            for k, s in zip(keys, stypes)],
                                           [a.shape for a in arrays],
                                           [a.dtype for a in arrays]), 'kvstore push')
                self._agreed.add((tuple(keys), stypes))
            dense = [(k, a) for k, a in zip(keys, arrays) if not is_row_sparse(a)]
            if dense:
                self.reducer([k for k, _ in dense], [a for _, a in dense]).run()
            self.reduce_row_sparse(sparse)
            return
        self.reducer(keys, arrays).run()

    def reducer(self, keys, arrays):
        """The :class:`FusedAllreduce` for this list of keys and buffers (made once, reused).

        The first time a list of keys is reduced the ranks check that they agree on it.
        """
        tag = (tuple(keys), tuple(id(a) for a in arrays))
        red = self._reducers.get(tag)
        if red is None:
            if tuple(keys) not in self._agreed:
                self.agree(keys, arrays, 'kvstore push')
                self._agreed.add(tuple(keys))
            red = FusedAllreduce(self.grad_comm, arrays, bucket_bytes=self.bucket_bytes,
                                 overlap=False)
            if len(self._reducers) > 64:
                self._reducers.clear()
            self._reducers[tag] = red
        return red
