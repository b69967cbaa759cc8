"""kvstore.gpu's paths on a real GPU with real CuPy (and NCCL where CuPy has it): the calls
the device-semantics check only pretends (events, side streams, pinned memory, NCCL's
communicators and group calls) made for real, in one process on one GPU, with the sums
checked.  Across ranks the paths run in test_gpu_fit's two-rank job and bench/gpu_check.sh."""
import numpy as np
import pytest

from kvstore import gpu
from kvstore.buckets import BucketAllreduce


def _cupy():
    import cupy
    return cupy


class _Bucket:
    def __init__(self, buf):
        self.buf, self.host = buf, None


def _self_comm():
    MPI = pytest.importorskip('mpi4py.MPI')
    return MPI.COMM_SELF


def test_staged_path_copies_through_pinned_memory_on_a_side_stream():
    cp = _cupy()
    comm = _self_comm()
    flat = cp.arange(1000, dtype=cp.float32)
    b = _Bucket(flat[100:900])
    seen = []

    def allreduce(host):
        seen.append(host.copy())
        host *= 2                         # stands in for the sum over ranks

    dev = gpu.DeviceBuckets('staged', [b], comm, allreduce, lambda what: _Null())
    flat += 1                             # work on the compute stream before the copy
    dev.complete(b)
    dev.reduce(b)
    dev.finish()
    np.testing.assert_array_equal(seen[0], np.arange(100, 900, dtype=np.float32) + 1)
    expect = np.arange(1000, dtype=np.float32) + 1
    expect[100:900] *= 2
    np.testing.assert_array_equal(cp.asnumpy(flat), expect)


def test_nccl_allreduce_of_one_rank_leaves_the_sum_on_the_device():
    cp = _cupy()
    nccl = gpu.nccl_module(cp)
    if nccl is None:
        pytest.skip('this CuPy has no NCCL')
    comm = gpu.nccl_communicator(nccl, cp.cuda.Device(0), 1, 0, lambda v: v)
    flat = cp.arange(512, dtype=cp.float32)
    b = _Bucket(flat[:256])
    dev = gpu.DeviceBuckets('nccl', [b], _self_comm(), None, lambda what: _Null(),
                            nccl=nccl, nccl_comm=comm)
    dev.complete(b)
    dev.reduce(b)
    dev.finish()
    np.testing.assert_array_equal(cp.asnumpy(flat), np.arange(512, dtype=np.float32))


def test_the_local_clique_reduces_every_gpu_into_the_first():
    cp = _cupy()
    if gpu.nccl_module(cp) is None:
        pytest.skip('this CuPy has no NCCL')
    n = cp.cuda.runtime.getDeviceCount()
    arrays = []
    for d in range(n):
        with cp.cuda.Device(d):
            arrays.append(cp.full(300, d + 1, dtype=cp.float32))
    if n == 1:
        assert gpu.local_clique(arrays) is None            # nothing to sum between
        clique = gpu.LocalClique(gpu.nccl_module(cp), [0])
    else:
        clique = gpu.local_clique(arrays)
    clique.reduce(arrays)
    with cp.cuda.Device(0):
        got = cp.asnumpy(arrays[0])
    np.testing.assert_array_equal(got, np.full(300, n * (n + 1) / 2, np.float32))


def test_bucket_reducer_of_one_rank_on_the_gpu():
    cp = _cupy()
    comm = _self_comm()
    flat = cp.ones(64, dtype=cp.float32)
    red = BucketAllreduce(comm, [flat], [(0, 0, 32), (0, 32, 64)], device_path='staged')
    red.ready(0)
    red.ready(1)
    red.wait()
    np.testing.assert_array_equal(cp.asnumpy(flat), np.ones(64, np.float32))


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
