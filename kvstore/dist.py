"""``dist_sync`` and ``dist_device_sync``: the local store, reduced across MPI ranks.

Every rank holds a full replica.  ``init`` first checks that the ranks agree on keys, shapes
and dtypes (one ``allgather``; a mismatch is an error naming the key and the ranks, raised on
every rank, so nobody hangs), then broadcasts rank 0's values.  ``push`` sums over local
devices, then over ranks with fused allreduces (:class:`FusedAllreduce`), then every rank
applies the same update to the same numbers, so replicas stay bit-identical.

With ``set_gradient_compression`` (MXNet's ``2bit``/``1bit``) each rank quantises its sum over
devices with its own residual per key (gradient buckets: per element of the bucket), the
codes travel between the ranks (allgathered, or on 6 ranks and more scattered to the owners
of slices that allgather their counts: :func:`kvstore.compression.reduce_compressed`, one
pair of collectives per bucket, or per push), and every rank writes each element's count of
sent values times the value: the same sums on every rank, bit for bit, so replicas still
stay identical.

An uncaught exception on a rank of a multi-rank job prints that rank's traceback and aborts
the whole MPI job (``MPI_Abort``), so the other ranks never wait forever in a collective.
"""
import pickle
import sys
import traceback

import numpy as np

from ._common import (KVStoreError, array_module, signature, is_row_sparse, sum_rows,
                      to_module)
from .buckets import BucketAllreduce, FusedAllreduce, DEFAULT_BUCKET_BYTES, OVERLAP, _mpi
from .shm import HostSlot
from .local import LocalStore
from . import gpu
from . import watchdog as _watchdog

__all__ = ['DistSyncStore', 'BucketAllreduce', 'FusedAllreduce', 'agree',
           'DEFAULT_BUCKET_BYTES']


def agree(comm, sig, what, gather=None):
    """Check that every rank passed the same ``sig`` (a list of (key, shape, dtype)).

    On a mismatch every rank raises the same :class:`KVStoreError`, naming the first key that
    differs and which ranks have which version.  ``gather`` (a store's ``gather_objects``)
    does the allgather under the watchdog.
    """
    everyone = gather(sig, what) if gather is not None else comm.allgather(sig)
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
_STORES = []        # one entry per distributed store made (they are made in the same order)


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


def gather_world_text(text, what):
    """Every rank's ``text`` over ``COMM_WORLD`` (see ``kvstore.gather_world_text``): two
    non-blocking allgathers (sizes, then bytes) waited for under the watchdog."""
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return [str(text)]
    dog = _watchdog.get(comm, MPI)

    def wait(req):
        if dog is None:
            req.Wait()
        else:
            dog.wait(req, 'world', what)
    data = np.frombuffer(str(text).encode('utf-8'), dtype=np.uint8)
    sizes = np.empty(comm.Get_size(), dtype=np.int64)
    wait(comm.Iallgather(np.array([data.size], dtype=np.int64), sizes))
    out = np.empty(max(1, int(sizes.sum())), dtype=np.uint8)
    wait(comm.Iallgatherv(data, [out, sizes.tolist()]))
    ends = np.cumsum(sizes)
    return [out[e - n:e].tobytes().decode('utf-8') for n, e in zip(sizes.tolist(), ends)]


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
        # every collective is waited for under the watchdog's deadline, on a channel of its
        # communicator (kvstore.watchdog); made with the first store, after every rank is here
        fresh = not _watchdog._DOG
        self._dog = _watchdog.get(self.comm, MPI) if self.num_workers > 1 else None
        fresh = fresh or self._dog is None
        _STORES.append(None)
        self._channel = 'kvstore %d' % len(_STORES)
        self._grad_channel = 'gradients %d' % len(_STORES)
        if self._dog is not None and not fresh:
            _watchdog.rendezvous(self.comm, MPI, self._dog.timeout(), 'making kvstore %s #%d'
                                 % (name, len(_STORES)))
        # gradients travel on their own communicator, so that a reduction still running on the
        # communication thread can never be matched with another collective of the caller's
        self.grad_comm = self.comm.Dup()
        # where every rank shares this host, its sums go through shared memory (kvstore.shm)
        self._host = HostSlot(self.grad_comm, MPI)
        self._reducers = {}
        self._nccl_comms = {}       # every rank's device (rank order) -> NCCL communicator
        self._paths = {}            # a push's keys -> its reducers' GPU path (agreed once)
        self._agreed = set()
        self._flag = np.zeros(1, dtype=np.int32)
        install_abort_hook(self.comm)

    # ---- waiting under the watchdog ----------------------------------------------------
    def _wait(self, req, what):
        """Wait for non-blocking collective ``req`` on the store's communicator."""
        if self._dog is None:
            req.Wait()
        else:
            self._dog.wait(req, self._channel, what)

    def gather_objects(self, obj, what='gather'):
        """Every rank's ``obj`` (plain data), in rank order: two non-blocking allgathers
        (sizes, then bytes) waited for under the deadline.  Between our own ranks only."""
        MPI = self._MPI
        data = np.frombuffer(pickle.dumps(obj, protocol=4), dtype=np.uint8)
        sizes = np.empty(self.num_workers, dtype=np.int64)
        self._wait(self.comm.Iallgather(np.array([data.size], dtype=np.int64), sizes), what)
        out = np.empty(int(sizes.sum()), dtype=np.uint8)
        self._wait(self.comm.Iallgatherv(data, [out, sizes.tolist()]), what)
        del MPI
        ends = np.cumsum(sizes)
        return [pickle.loads(out[e - n:e].tobytes()) for n, e in zip(sizes.tolist(), ends)]

    def set_location(self, **where):
        """Tell the watchdog where the caller is (``epoch=``, ``batch=``, ``phase=``)."""
        if self._dog is not None:
            self._dog.where(**where)

    def first_step_done(self):
        """From now on the steady deadline applies (``DISTMOD_TIMEOUT``)."""
        if self._dog is not None:
            self._dog.first_step_done()

    def busy(self, what):
        """A context: this rank does ``what``, which the others wait for (see the watchdog)."""
        return self._dog.busy(what) if self._dog is not None else _watchdog._Idle()

    def _grad_guard(self, what):
        if self._dog is None:
            return super()._grad_guard(what)
        self._dog.gate(self.grad_comm, self._grad_channel, what)
        return self._dog.blocking(self._grad_channel, what)

    # ---- the collectives of a training step --------------------------------------------
    def barrier(self):
        """Wait until every rank has reached this call."""
        self._wait(self.comm.Ibarrier(), 'kvstore barrier')

    def agree(self, keys, arrays, what):
        """Raise the same KVStoreError on every rank unless all ranks pass the same keys,
        shapes and dtypes (one allgather)."""
        agree(self.comm, signature(keys, [a.shape for a in arrays], [a.dtype for a in arrays]),
              what, gather=self.gather_objects)

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
                    self._wait(self.comm.Ibcast(a, root=root), 'broadcasting rank 0\'s values')
                else:       # MPI needs contiguous memory: go through a copy and back
                    tmp = np.ascontiguousarray(a)
                    self._wait(self.comm.Ibcast(tmp, root=root),
                               'broadcasting rank 0\'s values')
                    a[...] = tmp
            else:
                host = a.get()
                self._wait(self.comm.Ibcast(host, root=root), 'broadcasting rank 0\'s values')
                a.set(host)

    def _broadcast_rows(self, a, root):
        xp = array_module(a.values)
        what = 'broadcasting rank 0\'s rows'
        count = np.array([int(a.indices.shape[0])], dtype=np.int64)
        self._wait(self.comm.Ibcast(count, root=root), what)
        n = int(count[0])
        idx = np.ascontiguousarray(to_module(np, a.indices), dtype=np.int64)
        vals = np.ascontiguousarray(to_module(np, a.values))
        if self.rank != root:
            idx = np.empty(n, dtype=np.int64)
            vals = np.empty((n,) + tuple(a.shape[1:]), dtype=a.values.dtype)
        self._wait(self.comm.Ibcast(idx, root=root), what)
        self._wait(self.comm.Ibcast(vals.reshape(-1).view(np.uint8), root=root), what)
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
        what = 'the row-sparse gradient allgather'
        self._wait(comm.Iallgather(mine, counts), what)
        for j, v in enumerate(values):
            xp = array_module(v.values)
            n = counts[:, j]
            row = int(np.prod(v.shape[1:], dtype=np.int64)) * v.values.dtype.itemsize
            idx = np.ascontiguousarray(to_module(np, v.indices), dtype=np.int64)
            vals = np.ascontiguousarray(to_module(np, v.values))
            all_idx = np.empty(int(n.sum()), dtype=np.int64)
            all_vals = np.empty((int(n.sum()),) + tuple(v.shape[1:]), dtype=v.values.dtype)
            self._wait(comm.Iallgatherv(idx, [all_idx, n.tolist()]), what)
            self._wait(comm.Iallgatherv(vals.reshape(-1).view(np.uint8),
                                        [all_vals.reshape(-1).view(np.uint8),
                                         (n * row).tolist()]), what)
            rows, sums = sum_rows(np, all_idx, all_vals)
            v.indices, v.values = to_module(xp, rows, v.values), to_module(xp, sums, v.values)

    def gradient_buckets(self, flats, members, overlap=None):
        """A :class:`BucketAllreduce` over ``flats`` on the gradient communicator (compressed
        while a compression is set: ``set_gradient_compression``)."""
        red = BucketAllreduce(self.grad_comm, flats, members, bucket_bytes=self.bucket_bytes,
                              overlap=OVERLAP if overlap is None else overlap,
                              compression=self._codec, host=self._host,
                              **self._device_path(flats))
        if self._dog is not None:
            red.guard = (self._dog, self._grad_channel)
        self._bucket_reducers.add(red)
        return red

    def _device_path(self, arrays, keys=None):
        """How a new reducer sums its GPU buckets (:mod:`kvstore.gpu`), agreed by every rank
        (one allgather of what each can do): the reducer's ``device_path``, ``nccl`` and
        ``nccl_comm`` keywords.  NCCL communicators are made once per set of devices; a
        push's list of ``keys`` is agreed once (reducers are cached by buffer, which ranks
        need not share)."""
        if self.num_workers == 1:
            return {}
        if keys is not None and keys in self._paths:
            return self._paths[keys]
        out = self._agree_device_path(arrays)
        if keys is not None:
            self._paths[keys] = out
        return out

    def _agree_device_path(self, arrays):
        mine = gpu.capabilities(arrays)
        everyone = [tuple(c) for c in self.gather_objects(mine, 'agreeing how GPU gradients '
                                                                'are summed')]
        path = gpu.choose_path(everyone)
        gpu.log_path(path, self.num_workers, self.rank)
        if path is None:
            return {}
        out = {'device_path': path}
        if path == 'nccl':
            xp = next(array_module(a) for a in arrays if array_module(a) is not np)
            nccl = gpu.nccl_module(xp)
            devices = tuple((c[3], c[0]) for c in everyone)
            comm = self._nccl_comms.get(devices)
            if comm is None:
                comm = gpu.nccl_communicator(
                    nccl, xp.cuda.Device(mine[0]), self.num_workers, self.rank,
                    lambda value: self.gather_objects(value, 'broadcasting NCCL\'s id')[0])
                self._nccl_comms[devices] = comm
            out.update(nccl=nccl, nccl_comm=comm)
        return out

    def average_arrays(self, arrays):
        """Replace each array by its mean over ranks, in place."""
        MPI = self._MPI
        for a in arrays:
            host = a if isinstance(a, np.ndarray) else a.get()
            if not host.flags.c_contiguous:
                host = np.ascontiguousarray(host)
            self._wait(self.comm.Iallreduce(MPI.IN_PLACE, host, op=MPI.SUM),
                       'averaging the auxiliary states')
            host /= self.num_workers
            if host is not a:
                a[...] = host if isinstance(a, np.ndarray) else array_module(a).asarray(host)

    def all_true(self, flag):
        """True on every rank when ``flag`` is true on every rank (one tiny allreduce)."""
        MPI = self._MPI
        self._flag[0] = 1 if flag else 0
        self._wait(self.comm.Iallreduce(MPI.IN_PLACE, self._flag, op=MPI.MIN),
                   'the check that every rank has a batch')
        return bool(self._flag[0])

    def sum_floats(self, values):
        """``values`` (a sequence of numbers) summed over ranks, as float64."""
        total = np.array(values, dtype=np.float64)
        self._wait(self.comm.Iallreduce(self._MPI.IN_PLACE, total, op=self._MPI.SUM),
                   'summing the metrics')
        return total

    def gather_text(self, text, what='gathering text'):
        """Every rank's ``text`` (a str), in rank order (one allgather)."""
        return [str(t) for t in self.gather_objects(str(text), what)]

    # ---- push ---------------------------------------------------------------------------
    def _after_init(self, keys):
        stored = [self._store[k] for k in keys]
        self.sync(keys, stored, 'kvstore init')

    def _reduce(self, keys, arrays):
        if self._codec is not None:
            # compressed: dense floating-point values travel as codes (every rank checks
            # first, once per list of keys, that the others push the same keys and shapes)
            if tuple(keys) not in self._agreed:
                self.agree(keys, arrays, 'kvstore push')
                self._agreed.add(tuple(keys))
            keys, arrays = self._reduce_compressed(keys, arrays, self.grad_comm)
        if self.num_workers == 1 or not keys:
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
                                           [a.dtype for a in arrays]), 'kvstore push',
                      gather=self.gather_objects)
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
                                 overlap=False, host=self._host,
                                 **self._device_path(arrays, tuple(keys)))
            if self._dog is not None:
                red.guard = (self._dog, self._grad_channel)
            if len(self._reducers) > 64:
                self._reducers.clear()
            self._reducers[tag] = red
        return red
