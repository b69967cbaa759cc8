"""Sums through shared memory where every rank is on this host (kvstore/shm.py), under
``mpiexec -n 2``/``-n 3``: equal to MPI's Allreduce within rounding and bit-identical on
every rank, for dtypes and sizes that do not divide by the number of ranks, smaller than it,
and larger than a segment (pieces); the shared file is gone once made; no room, or the
switch off, leaves every rank on MPI; a store's gradient buckets and pushes take it, and
Module.fit with it keeps replicas identical."""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _mpi():
    from mpi4py import MPI
    return MPI


def _identical(comm, a):
    blobs = comm.allgather(a.tobytes())
    return all(b == blobs[0] for b in blobs)


@pytest.fixture(scope='module')
def reducer():
    from kvstore.shm import HostReduce
    MPI = _mpi()
    red = HostReduce.create(MPI.COMM_WORLD, 4096, MPI)
    assert red is not None, 'every rank of this test runs on one host'
    yield red
    red.close()


@pytest.mark.parametrize('n', [0, 1, 2, 7, 1000, 100003])
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'int32'])
def test_sums_like_allreduce_and_identically_on_every_rank(reducer, n, dtype):
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    rng = np.random.RandomState(comm.rank + 10 * n)
    a = (rng.standard_normal(n) * 100).astype(dtype)
    want = a.copy()
    comm.Allreduce(MPI.IN_PLACE, want, op=MPI.SUM)
    reducer.allreduce(a)         # 4 KiB segments: 100003 float64 go in 196 pieces
    if dtype == 'int32':
        assert np.array_equal(a, want)
    else:
        np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-4)
    assert _identical(comm, a)


def test_many_sums_in_a_row_alternate_the_segments_safely(reducer):
    # a fast rank's next copy-in must never land on what a slow one still reads
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    for step in range(50):
        a = np.full(513, float(comm.rank + step), np.float32)
        if comm.rank == step % comm.size:
            for _ in range(2000):        # this rank is late this time
                pass
        reducer.allreduce(a)
        want = sum(r + step for r in range(comm.size))
        assert (a == want).all(), (step, a[:3])


def test_the_shared_file_is_gone_once_made(reducer):
    comm = _mpi().COMM_WORLD
    pids = comm.allgather(os.getpid())          # rank 0's pid names the file
    left = [f for f in os.listdir('/dev/shm')
            if any(f.startswith('distmod-%d-' % pid) for pid in pids)]
    assert not left
    assert reducer.size == comm.size


def test_no_room_or_switched_off_leaves_every_rank_on_mpi(monkeypatch):
    from kvstore import shm
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    # rank 0 cannot make the file (no tmp_path here: the ranks share pytest's basetemp)
    monkeypatch.setattr(shm, '_DIR', '/nonexistent/distmod-test')
    assert shm.HostReduce.create(comm, 4096, MPI) is None
    monkeypatch.setattr(shm, '_DIR', '/dev/shm')
    monkeypatch.setattr(shm, 'ENABLED', False)
    assert shm.HostReduce.create(comm, 4096, MPI) is None


def test_a_stores_buckets_and_pushes_take_it(monkeypatch):
    import distmod as mx
    from kvstore import shm
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    calls = []
    real = shm.HostReduce.allreduce
    monkeypatch.setattr(shm.HostReduce, 'allreduce',
                        lambda self, a: calls.append(a.size) or real(self, a))
    kv = mx.kv.create('dist_sync')
    store = kv._store
    flat = np.random.RandomState(comm.rank).rand(3000).astype(np.float32)
    want = flat.copy()
    comm.Allreduce(MPI.IN_PLACE, want, op=MPI.SUM)
    red = store.gradient_buckets([flat], [(0, 0, 800), (0, 800, 3000)], overlap=False)
    red.ready(0)
    red.ready(1)
    red.wait()
    np.testing.assert_allclose(flat, want, rtol=1e-6)
    assert _identical(comm, flat)
    assert calls == [3000]
    kv.init('w', mx.nd.zeros((4, 5)))
    kv.push('w', mx.nd.ones((4, 5)) * (comm.rank + 1))
    out = mx.nd.zeros((4, 5))
    kv.pull('w', out=out)
    assert (out.asnumpy() == sum(range(1, comm.size + 1))).all()
    assert calls[1:] == [20]
    red.close()


def test_fit_through_shared_memory_keeps_replicas_identical():
    from tests.distributed.test_mpi_ring import fit_small_net_and_check_replicas
    mod = fit_small_net_and_check_replicas()
    assert mod._kvstore._store._host.reducer is not None
