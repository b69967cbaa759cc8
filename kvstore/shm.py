"""Sums over the ranks of one host through shared memory, for the gradient buckets.

When every rank of a reducer's communicator runs on this host, :class:`HostReduce` sums a
host array over them without MPI's transport: each rank has two segments of one shared
file (``/dev/shm``, unlinked as soon as every rank has mapped it, so nothing is left
behind whatever happens later), and a sum is

1. each rank copies its array into its segment (the two segments alternate from call to
   call, so a rank never overwrites what a slower one may still read);
2. a barrier;
3. rank ``r`` adds up slice ``r`` of every segment, in rank order, into its array, and
   puts the result back into its own segment;
4. a barrier;
5. each rank copies the other slices' sums from their owners' segments.

Every element is summed by one rank, in one fixed order, and copied to the others, so the
replicas stay bit-identical (as with the ring, :func:`kvstore.buckets.ring_allreduce`).
The barriers are MPI's, on the host's communicator, under the watchdog's deadline as MPI's
allreduce is.

It pays for sums that stay in cache.  Measured on this project's 2-vCPU machine, 2 ranks,
float32, best of 5 (shared memory / MPI's ``Allreduce``, us): 64 KB 22.5 / 23.2, 256 KB
42.6 / 63.0, 512 KB 49.2 / 96.2, 1 MB 79.8 / 119.4, 2 MB 182 / 221, 4 MB 475 / 439, 8 MB
2100 / 976; so only sums of at most ``SEGMENT_BYTES`` come here (the bigger ones stay with
MPI and the ring).  The seed MLP's 437 KB of gradients: 62 against 92 us
(``python bench/bench_dist.py``).

``DISTMOD_SHM=0`` turns it off; ``DISTMOD_SHM_BYTES`` (default 2 MiB) is the largest sum it
takes.  Where ``/dev/shm`` is missing or too small, or the ranks span hosts, every sum stays
with MPI.
"""
import mmap
import os
import secrets

import numpy as np

__all__ = ['HostReduce', 'HostSlot', 'ENABLED', 'SEGMENT_BYTES']

#: Sum over shared memory where the ranks share a host (``DISTMOD_SHM=0``: never).
ENABLED = os.environ.get('DISTMOD_SHM', '1') != '0'

#: The largest sum taken here, and the segments' largest size (``DISTMOD_SHM_BYTES``).
SEGMENT_BYTES = int(os.environ.get('DISTMOD_SHM_BYTES', 2 << 20))

_DIR = '/dev/shm'
_KINDS = 'fiu'                 # the dtypes summed here (MPI.SUM's meaning in NumPy)


class HostReduce:
    """In-place sums of contiguous host arrays over ``node`` (every rank on this host)."""

    def __init__(self, node, mem, cap):
        self.node = node
        self.rank, self.size = node.Get_rank(), node.Get_size()
        self._mem = mem
        raw = np.frombuffer(mem, dtype=np.uint8)
        self._seg = raw.reshape(self.size, 2, cap)
        self.cap = cap
        self._parity = 0

    @classmethod
    def create(cls, comm, need, MPI):
        """A reducer over ``comm`` with segments for arrays of ``need`` bytes (at most
        ``SEGMENT_BYTES``), or None where it cannot run: turned off, one rank, ranks on
        several hosts, no ``/dev/shm`` or no room in it.  Collective over ``comm``: every
        rank calls it at the same point, and all get a reducer or all get None."""
        if not ENABLED or comm is None or comm.Get_size() < 2 or need <= 0:
            return None
        node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
        if node.Get_size() != comm.Get_size():
            node.Free()
            return None
        cap = -(-min(int(need), SEGMENT_BYTES) // 64) * 64
        total = node.Get_size() * 2 * cap
        path, fd = None, -1
        if node.Get_rank() == 0:
            path = os.path.join(_DIR, 'distmod-%d-%s' % (os.getpid(), secrets.token_hex(8)))
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
                os.posix_fallocate(fd, 0, total)   # no room: fails now, not as SIGBUS later
            except (OSError, AttributeError):
                if fd >= 0:
                    os.close(fd)
                    os.unlink(path)
                path, fd = None, -1
        path = node.bcast(path, root=0)
        mem, ok = None, path is not None
        if ok:
            try:
                if fd < 0:
                    fd = os.open(path, os.O_RDWR)
                mem = mmap.mmap(fd, total)
            except OSError:
                ok = False
            finally:
                if fd >= 0:
                    os.close(fd)
        # everyone has mapped it (or failed to): the name goes, the memory stays mapped
        ok = node.allreduce(int(ok), op=MPI.MIN) == 1
        if node.Get_rank() == 0 and path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
        if not ok:
            if mem is not None:
                mem.close()
            node.Free()
            return None
        return cls(node, mem, cap)

    @staticmethod
    def takes(a):
        """Whether ``a`` is summed here: a contiguous NumPy array of numbers, of at most
        ``SEGMENT_BYTES``."""
        return (isinstance(a, np.ndarray) and a.dtype.kind in _KINDS and a.flags.c_contiguous
                and a.nbytes <= SEGMENT_BYTES)

    def allreduce(self, a):
        """Sum ``a`` over the host's ranks in place (every rank calls it with its array of
        the same size and dtype); pieces of at most ``cap`` bytes (a sum larger than the
        first reducer's segments)."""
        flat = a.reshape(-1)
        step = self.cap // a.itemsize
        for lo in range(0, flat.size, step):
            self._piece(flat[lo:lo + step])

    def _piece(self, a):
        n, r, size = a.size, self.rank, self.size
        s = self._parity
        self._parity = 1 - s
        nbytes = n * a.itemsize
        segs = [self._seg[q, s, :nbytes].view(a.dtype) for q in range(size)]
        segs[r][...] = a
        self.node.Barrier()
        bounds = [n * q // size for q in range(size + 1)]
        lo, hi = bounds[r], bounds[r + 1]
        mine = a[lo:hi]
        np.add(segs[0][lo:hi], segs[1][lo:hi], out=mine)
        for q in range(2, size):
            mine += segs[q][lo:hi]
        segs[r][lo:hi] = mine
        self.node.Barrier()
        for q in range(size):
            if q != r:
                a[bounds[q]:bounds[q + 1]] = segs[q][bounds[q]:bounds[q + 1]]

    def close(self):
        """Unmap the segments (not collective)."""
        self._seg = None
        if self._mem is not None:
            try:
                self._mem.close()
            except BufferError:        # a view still exported: the mapping goes with it
                pass
            self._mem = None


class HostSlot:
    """A store's :class:`HostReduce`, shared by its reducers and made by the first sum of any
    of them: a point every rank reaches in the same order, since MPI matches the store's
    collectives by order.  ``need`` (the bytes of the first reducer's largest sum, the same
    on every rank) sizes the segments, at least 1 MiB and at most ``SEGMENT_BYTES``; later
    larger sums go through in pieces."""

    def __init__(self, comm, MPI):
        self.comm, self.MPI = comm, MPI
        self.reducer = None
        self._made = False

    def get(self, need):
        """The reducer, or None where sums stay with MPI (the same answer on every rank)."""
        if not self._made:
            self._made = True
            self.reducer = HostReduce.create(self.comm, max(int(need), 1 << 20), self.MPI)
        return self.reducer
