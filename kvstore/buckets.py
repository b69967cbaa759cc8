"""Gradient buckets: sums over ranks of slices of flat buffers, started while backward runs.

The caller lays each dtype's gradients out in one flat buffer in the order backward finishes
them (distmod's executor group does, at bind: PyTorch DDP's ``gradient_as_bucket_view``) and
describes where each gradient lives.  :class:`BucketAllreduce` cuts the flats into buckets of
about ``bucket_bytes`` and sums each bucket over ranks in place: as soon as a bucket and every
earlier one are complete (``ready(i)``), a communication thread reduces it with a blocking
``Allreduce`` while backward goes on; ``wait()`` finishes the rest.  Every bucket is reduced
with the same call, in the same order, on every rank, whatever order the gradients became
ready in (MPI matches collectives by order).

:class:`FusedAllreduce` does the same for arrays that live elsewhere (``kvstore.push``): it
packs them into its own flats and back.

With a gradient compression setting (:mod:`kvstore.compression`, MXNet's ``2bit``/``1bit``)
a bucket of floating-point gradients is not summed by ``Allreduce``: each rank encodes its
slice with its own residual (kept by the reducer, one per gradient element), the packed
codes travel (:func:`kvstore.compression.reduce_compressed`: an ``Allgather``, or past 5
ranks an all-to-all to the owners of slices and an ``Allgatherv`` of their counts), and every
rank writes the counts times the sent value into the slice, so the sums are the same on
every rank, bit for bit.  Buckets, their order, the communication thread and the overlap with backward are the
same as without; without a setting nothing of this runs.

A bucket (or a ``run`` span) of at least ``RING_BYTES`` of floats is summed by a ring instead
of ``Allreduce`` (:func:`ring_allreduce`): a reduce-scatter then an allgather between
neighbours, each rank sending 2(p-1)/p of the bucket, the bandwidth-optimal amount.  Open
MPI's default allreduce over TCP sent 2 to 3.7 times that on 2 to 4 hosts shaped to 1 and
10 Gbit/s (``bench/bench_scaling.py``); PyTorch's gloo rings too.  Every element's sum is
computed by one rank, in one fixed order for a given number of ranks, and copied to the
others: replicas stay bit-identical.

The knobs: ``DISTMOD_BUCKET_BYTES`` (default 4 MiB), ``DISTMOD_OVERLAP`` (``0``: reduce
every bucket in ``wait``, after backward) and ``DISTMOD_RING_BYTES`` (default 1 MiB; 0: never
the ring); between hosts ``DISTMOD_RING_HOSTS_BYTES`` (default 128 KiB) takes its place and
``DISTMOD_RING_PIECE_BYTES`` (default 63 KiB) cuts the ring's messages under Open MPI's TCP
eager limit.
"""
import collections
import os
import threading

import numpy as np

from ._common import KVStoreError, array_module
from .compression import Workspace, reduce_compressed

__all__ = ['BucketAllreduce', 'FusedAllreduce', 'LocalBuckets', 'DEFAULT_BUCKET_BYTES',
           'OVERLAP', 'RING_BYTES', 'RING_PIECE_BYTES', 'ring_allreduce', 'spans_hosts']

#: Gradients are packed into buckets of about this many bytes (``DISTMOD_BUCKET_BYTES``).
DEFAULT_BUCKET_BYTES = int(os.environ.get('DISTMOD_BUCKET_BYTES', 4 << 20))

#: Start each bucket's reduction from inside backward (``DISTMOD_OVERLAP=0`` turns it off).
OVERLAP = os.environ.get('DISTMOD_OVERLAP', '1') != '0'

#: Floating-point sums of at least this many bytes go round a ring (``DISTMOD_RING_BYTES``).
RING_BYTES = int(os.environ.get('DISTMOD_RING_BYTES', 1 << 20))

#: The same where the ranks span hosts (``DISTMOD_RING_HOSTS_BYTES``; default
#: ``DISTMOD_RING_BYTES`` where that is set, else 128 KiB).  Below 1 MiB, Open MPI's own
#: allreduce over TCP on 3 hosts sent the whole sum three times (recursive doubling, with a
#: fold for a rank count that is not a power of two): 437 KB on 3 hosts shaped to 1 Gbit/s,
#: 10.1 ms against 4.6 round the ring (10 Gbit/s: 0.85 against 0.49; 262 KB: 5.4 against
#: 2.1); on 2 and 4 hosts the ring is as fast or faster from 256 KB; at 64 KB they are even.
RING_HOSTS_BYTES = int(os.environ.get('DISTMOD_RING_HOSTS_BYTES',
                                      os.environ.get('DISTMOD_RING_BYTES', 128 << 10)))

#: Between hosts the ring sends its chunks as messages of at most this many bytes, all posted
#: at once (``DISTMOD_RING_PIECE_BYTES``; 0: one message per step).  Just under Open MPI's TCP
#: eager limit (64 KiB with its header): a bigger message waits for the receiver's go-ahead,
#: which queues behind the receiver's own outgoing data, and a ring sends both ways at once.
#: Two hosts shaped to 1 Gbit/s, 44.7 MB in 4 MiB buckets: 0.69 s in whole chunks, 0.375 s in
#: pieces (the link's rate; one 44.7 MB ring: 0.376 s); at 10 Gbit/s 0.055 -> 0.041 s.
RING_PIECE_BYTES = int(os.environ.get('DISTMOD_RING_PIECE_BYTES', 63 << 10))


def _ring_chunks(n, p):
    counts = [n // p + (1 if i < n % p else 0) for i in range(p)]
    starts = [0]
    for c in counts[:-1]:
        starts.append(starts[-1] + c)
    return [slice(a, a + c) for a, c in zip(starts, counts)]


def ring_allreduce(comm, buf, scratch=None, piece=0):
    """Sum the contiguous 1-D NumPy array ``buf`` over ``comm`` in place, round a ring.

    ``buf`` is cut into ``p`` chunks.  Reduce-scatter: in step ``s`` rank ``r`` sends chunk
    ``r - s`` to its right neighbour and adds chunk ``r - s - 1`` from its left one, so after
    ``p - 1`` steps it holds the whole sum of chunk ``r + 1``.  Allgather: ``p - 1`` more
    steps pass the finished chunks on.  ``scratch`` (one chunk of ``buf``'s dtype) is used
    where it is big enough; returns the scratch it used, for the next call.

    ``piece`` (elements; 0: whole chunks) sends each step's chunk as messages of at most
    that many elements, all posted at once (see ``RING_PIECE_BYTES``); only the transport
    changes, not a bit of the sums.  Every rank must give the same ``piece``.
    """
    p, r = comm.size, comm.rank
    if p == 1:
        return scratch
    chunks = _ring_chunks(buf.size, p)
    largest = chunks[0].stop - chunks[0].start
    if scratch is None or scratch.dtype != buf.dtype or scratch.size < largest:
        scratch = np.empty(largest, buf.dtype)
    right, left = (r + 1) % p, (r - 1) % p
    if piece and piece < largest:
        def swap(send, recv, tag):
            # receives first, then sends; one tag per step (MPI keeps their order)
            reqs = [comm.Irecv(recv[i:i + piece], source=left, tag=tag)
                    for i in range(0, recv.size, piece)]
            reqs += [comm.Isend(send[i:i + piece], dest=right, tag=tag)
                     for i in range(0, send.size, piece)]
            type(reqs[0]).Waitall(reqs)
    else:
        def swap(send, recv, tag):
            comm.Sendrecv(send, dest=right, sendtag=tag, recvbuf=recv, source=left, recvtag=tag)
    for s in range(p - 1):
        out, into = chunks[(r - s) % p], chunks[(r - s - 1) % p]
        got = scratch[:into.stop - into.start]
        swap(buf[out], got, s)
        np.add(buf[into], got, out=buf[into])
    for s in range(p - 1):
        out, into = chunks[(r - s + 1) % p], chunks[(r - s) % p]
        swap(buf[out], buf[into], p + s)
    return scratch


def spans_hosts(comm, MPI):
    """True when ``comm``'s ranks are on more than one host (collective; the same answer on
    every rank)."""
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size() < comm.Get_size()
    finally:
        node.Free()


def _mpi():
    try:
        from .watchdog import import_mpi
        MPI = import_mpi()          # MPI_Init, under the first deadline
    except ImportError as err:      # pragma: no cover - depends on the install
        raise KVStoreError('the distributed kvstore needs mpi4py: pip install "distmod[mpi]" '
                           '(%s)' % err) from None
    return MPI


class _NoGuard:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_GUARD = _NoGuard()


class _Bucket:
    __slots__ = ('flat', 'start', 'stop', 'members', 'host', 'left', 'buf', 'residual',
                 'on_device', 'device', 'ready_event', 'done_event', 'side', 'nccl_type')

    def __init__(self, flat, start, member):
        self.flat, self.start, self.stop = flat, start, start
        self.members = [member]
        self.host = None
        self.on_device = False
        self.left = 0
        self.buf = None             # flats[flat][start:stop], made once
        self.residual = None        # compression's residual of the slice (host memory)


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


class BucketAllreduce:
    """Sum slices of ``flats`` over the ranks of ``comm``, bucket by bucket, in place.

    ``flats`` are 1-D NumPy or CuPy arrays; ``members[i] = (flat, start, stop)`` says where
    gradient ``i`` lives, members listed in the order backward finishes them.  Consecutive
    members of one flat that touch form a bucket, cut at ``bucket_bytes``; buckets are
    ordered by their first member.  Call :meth:`ready` as member ``i`` is final and
    :meth:`wait` before using the sums; or :meth:`run` (no ``ready`` at all) to reduce
    everything at once, one call per flat.  CuPy slices go by ``device_path``
    (:mod:`kvstore.gpu`: ``'nccl'``, ``'mpi'``, ``'staged'``, the default; ``nccl`` and
    ``nccl_comm`` for the first).  ``overlap=False`` (or an MPI without ``MPI_THREAD_MULTIPLE``) reduces everything in
    ``wait``; so is the last bucket, complete only when backward is over.

    ``compression`` (a :class:`kvstore.compression.GradientCompression`, or None for exact
    sums; see :meth:`set_compression`) compresses the buckets of floating-point flats.
    ``comm`` None is the one-rank case (no MPI needed): sums are the local values, compressed
    when a compression is set.
    """

    def __init__(self, comm, flats, members, bucket_bytes=None, overlap=True,
                 compression=None, device_path=None, nccl=None, nccl_comm=None, host=None):
        self.comm = comm
        self.host = host
        self._size = 1 if comm is None else comm.Get_size()
        self.flats = list(flats)
        self.members = [(int(f), int(a), int(b)) for f, a, b in members]
        if comm is not None:
            MPI = _mpi()
            self._op, self._in_place = MPI.SUM, MPI.IN_PLACE
        self.compression = None
        self._residuals = None
        self._work = Workspace()
        limit = DEFAULT_BUCKET_BYTES if bucket_bytes is None else int(bucket_bytes)
        self.buckets = []
        self._bucket_of = [None] * len(self.members)
        open_ = {}                   # flat -> its bucket being filled
        for i, (f, start, stop) in enumerate(self.members):
            itemsize = self.flats[f].dtype.itemsize
            cur = open_.get(f)
            if cur is not None and (cur.stop != start or
                                    (stop - cur.start) * itemsize > limit):
                cur = None
            if cur is None:
                cur = _Bucket(f, start, i)
                open_[f] = cur
                self.buckets.append(cur)
            else:
                cur.members.append(i)
            cur.stop = stop
        self.buckets.sort(key=lambda b: b.members[0])
        for k, b in enumerate(self.buckets):
            b.left = len(b.members)
            for i in b.members:
                self._bucket_of[i] = k
            b.buf = self.flats[b.flat][b.start:b.stop]
            b.on_device = array_module(b.buf) is not np
        self.bytes = sum(b.buf.nbytes for b in self.buckets)
        # run(): one allreduce over the span of each NumPy flat's buckets
        spans = {}
        for b in self.buckets:
            if not b.on_device:
                lo, hi = spans.get(b.flat, (b.start, b.stop))
                spans[b.flat] = (min(lo, b.start), max(hi, b.stop))
        self._spans = [self.flats[f][lo:hi] for f, (lo, hi) in sorted(spans.items())]
        # the largest host sum: the shared-memory segments' size, where this reducer makes
        # them (kvstore.shm)
        self._host_need = max([b.buf.nbytes for b in self.buckets] +
                              [s.nbytes for s in self._spans] + [0])
        self._staged = [b for b in self.buckets if b.on_device]
        # GPU buckets go on a path of kvstore.gpu (NCCL, CUDA-aware MPI, pinned staging: the
        # one a store has not agreed on another)
        self._device = None
        if self._staged and self._size > 1:
            from .gpu import DeviceBuckets
            self._device = DeviceBuckets(device_path or 'staged', self._staged, comm,
                                         self._allreduce, self._blocking, nccl=nccl,
                                         nccl_comm=nccl_comm)
        self._ring_scratch = None   # one chunk of the ring's largest sum (the comm thread's)
        self._ring_piece = None     # bytes per ring message (0: whole chunks), at the first ring
        self._ring_from = None      # bytes from which a sum rings (RING_BYTES or RING_HOSTS_BYTES)
        self._next = 0       # the next bucket to hand to the thread
        # the watchdog (kvstore.watchdog) and this reducer's channel, set by the store: each
        # reduction starts with a non-blocking gate (where a late rank is waited for without
        # spinning), then MPI's blocking allreduces, each under its deadline
        self.guard = None
        self._gated = False
        self._thread = _CommThread(self._reduce) \
            if overlap and comm is not None and len(self.buckets) > 1 and \
            _thread_multiple() else None
        if compression is not None:
            self.set_compression(compression)

    def set_compression(self, compression):
        """Compress floating-point buckets from the next reduction on (None: exact sums).

        Residuals start at zero.  A reduction in flight is finished first, so every rank
        must call this at the same point (the store's ``set_gradient_compression`` does).
        """
        if self.pending:
            self.wait()
        self.compression = compression
        self._residuals = None
        for b in self.buckets:
            b.residual = None
        if compression is None:
            return
        self._residuals = {}
        for b in self.buckets:
            dt = np.dtype(self.flats[b.flat].dtype)
            if dt.kind != 'f':
                continue                 # integer gradients are summed exactly
            if b.flat not in self._residuals:
                self._residuals[b.flat] = np.zeros(self.flats[b.flat].size, dtype=dt)
            b.residual = self._residuals[b.flat][b.start:b.stop]

    @property
    def payload_bytes(self):
        """Bytes this rank puts on the wire per reduction: its packed codes for compressed
        buckets, the values of the others."""
        gc = self.compression
        return sum(gc.code_bytes(b.buf.size) if b.residual is not None else b.buf.nbytes
                   for b in self.buckets)

    @property
    def pending(self):
        """True when some member was reported ready since the last ``wait``."""
        return self._next > 0 or any(b.left != len(b.members) for b in self.buckets)

    def ready(self, i):
        """Member ``i`` holds its final local value; hand complete buckets to the thread."""
        b = self.buckets[self._bucket_of[i]]
        b.left -= 1
        if b.left == 0 and self._thread is not None:
            buckets, last = self.buckets, len(self.buckets) - 1
            while self._next < last and buckets[self._next].left <= 0:
                self._complete(buckets[self._next])
                self._thread.submit(buckets[self._next])
                self._next += 1

    def _complete(self, b):
        """Bucket ``b``'s gradients are computed (on this thread's current stream)."""
        if b.on_device and self._device is not None:
            self._device.complete(b)

    def _stage_in(self, b):
        """Hook: bring the bucket's members into its slice (FusedAllreduce copies)."""

    def _stage_out(self, b):
        """Hook: hand the sums back to the members (FusedAllreduce copies)."""

    def _stage_all_in(self):
        """Hook: ``_stage_in`` of every NumPy bucket, before ``run``'s allreduces."""

    def _stage_all_out(self):
        """Hook: ``_stage_out`` of every NumPy bucket, after them."""

    def _gate(self):
        if self.guard is not None and not self._gated:
            dog, channel = self.guard
            dog.gate(self.comm, channel, 'the gradient reduction (every rank at the same step)')
            self._gated = True

    def _blocking(self, what):
        return _NO_GUARD if self.guard is None else self.guard[0].blocking(self.guard[1], what)

    def _reduce(self, b):
        self._stage_in(b)
        buf = b.buf
        if self.comm is not None:
            self._gate()
        if b.residual is not None:
            with self._blocking('the compressed gradient reduction'):
                self._reduce_compressed(b)
        elif self.comm is None or self._size == 1:
            pass                         # one rank: the local values are the sums
        elif b.on_device:
            self._device.reduce(b)
        else:
            with self._blocking('the gradient allreduce'):
                self._allreduce(buf)
        self._stage_out(b)

    def _allreduce(self, a):
        """Sum the host array ``a`` over ranks in place: through shared memory where every
        rank is on this host (``host``, :mod:`kvstore.shm`), else round a ring when it is big
        and floating-point (see the module doc), else MPI's Allreduce."""
        if self.host is not None:
            red = self.host.get(self._host_need)     # collective the first time
            if red is not None and red.takes(a):
                red.allreduce(a)
                return
        least = min([b for b in (RING_BYTES, RING_HOSTS_BYTES) if b] or [0])
        if least and a.nbytes >= least and a.dtype.kind == 'f' and self.comm.size > 1 and \
                a.flags.c_contiguous:
            if self._ring_piece is None:        # collective, at the same bucket on every rank
                across = spans_hosts(self.comm, _mpi())
                self._ring_piece = RING_PIECE_BYTES if across else 0
                self._ring_from = RING_HOSTS_BYTES if across else RING_BYTES
            if self._ring_from and a.nbytes >= self._ring_from:
                self._ring_scratch = ring_allreduce(self.comm, a, self._ring_scratch,
                                                    piece=self._ring_piece // a.itemsize)
                return
        self.comm.Allreduce(self._in_place, a, self._op)

    def _reduce_compressed(self, b):
        """Encode with this rank's residual and reduce the codes
        (:func:`kvstore.compression.reduce_compressed`)."""
        host = b.buf
        if b.on_device:
            if b.host is None:
                b.host = np.empty(b.buf.size, dtype=b.buf.dtype)
            host = b.host
            b.buf.get(out=host)
        reduce_compressed(self.compression, [host], [b.residual], self.comm, self._work)
        if b.on_device:
            b.buf.set(host)

    def wait(self):
        """Finish every bucket (the thread's first, then the rest here, in bucket order)."""
        if self._thread is not None:
            self._thread.drain()
        buckets = self.buckets
        for k in range(self._next, len(buckets)):
            self._complete(buckets[k])
            self._reduce(buckets[k])
        if self._device is not None:
            self._device.finish()
        for b in buckets:
            b.left = len(b.members)
        self._next = 0
        self._gated = False

    def run(self):
        """Reduce everything now, without overlap: one allreduce per NumPy flat (fewer,
        larger calls are faster when nothing is left to overlap).  Every rank must use
        ``run`` for the same step (the kvstore's push does); within backward use
        ``ready``/``wait``."""
        if self.pending or self.compression is not None or self.comm is None:
            self.wait()                  # bucket by bucket, in order
            return
        self._stage_all_in()
        self._gate()
        for span in self._spans:
            with self._blocking('the allreduce of kvstore push'):
                self._allreduce(span)
        self._stage_all_out()
        for b in self._staged:
            self._complete(b)
            self._reduce(b)
        if self._device is not None:
            self._device.finish()
        self._gated = False

    def close(self):
        """Stop the communication thread (``wait`` and ``run`` still work without it)."""
        if self._thread is not None:
            self._thread.close()
            self._thread = None


class FusedAllreduce(BucketAllreduce):
    """Sum a fixed list of arrays over ranks through buckets of flat buffers of its own.

    ``arrays`` (the caller's, listed in the order they become ready) are grouped by array
    module, device and dtype; each group gets one flat buffer, and each bucket's members are
    copied in before its allreduce and back after.  Buffers are allocated once and reused.
    """

    def __init__(self, comm, arrays, bucket_bytes=None, overlap=True, **device):
        self.arrays = list(arrays)
        groups, flats, members, sizes = {}, [], [], {}
        for a in self.arrays:
            key = (array_module(a).__name__, str(getattr(a, 'device', None)),
                   np.dtype(a.dtype).str)
            if key not in groups:
                groups[key] = (len(flats), a)
                flats.append(None)
            f = groups[key][0]
            start = sizes.get(f, 0)
            sizes[f] = start + int(a.size)
            members.append((f, start, sizes[f]))
        for f, a in groups.values():
            xp = array_module(a)
            if xp is np:
                flats[f] = np.empty(sizes[f], dtype=a.dtype)
            else:
                with a.device:
                    flats[f] = xp.empty(sizes[f], dtype=a.dtype)
        super().__init__(comm, flats, members, bucket_bytes=bucket_bytes, overlap=overlap,
                         **device)
        # each member's slot, shaped like it (made once: staging is a loop of copies)
        self._slots = [self.flats[f][start:stop].reshape(a.shape)
                       for (f, start, stop), a in zip(self.members, self.arrays)]
        self._numpy_pairs = [(self._slots[i], self.arrays[i]) for b in self.buckets
                             if not b.on_device for i in b.members]

    def _stage_in(self, b):
        slots, arrays = self._slots, self.arrays
        for i in b.members:
            slots[i][...] = arrays[i]

    def _stage_out(self, b):
        slots, arrays = self._slots, self.arrays
        for i in b.members:
            arrays[i][...] = slots[i]

    def _stage_all_in(self):
        for slot, array in self._numpy_pairs:
            slot[...] = array

    def _stage_all_out(self):
        for slot, array in self._numpy_pairs:
            array[...] = slot


class LocalBuckets:
    """The one-process case of :class:`BucketAllreduce`: the local sums are the sums."""

    pending = False
    buckets = ()

    def __init__(self, flats=(), members=()):
        self.flats, self.members = list(flats), list(members)

    def ready(self, i):
        pass

    def wait(self):
        pass

    def run(self):
        pass

    def close(self):
        pass


def _thread_multiple():
    MPI = _mpi()
    return MPI.Query_thread() == MPI.THREAD_MULTIPLE
