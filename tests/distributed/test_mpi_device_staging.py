"""GPU gradients summed across ranks on each of kvstore.gpu's paths, under the device-semantics
check (tests/device_semantics/strictdev.py: CuPy's rules on NumPy, every transfer counted, a
pretend NCCL and a pretend CUDA-aware MPI), run under ``mpiexec -n 2``/``-n 3``: each rank
trains on two pretend GPUs of its own (the second first: rank r on gpu(2r+1), gpu(2r)) with
``dist_sync``.

- staged (no NCCL, MPI not CUDA-aware): a step copies each bucket to a pinned host buffer and
  back once, and reads nothing else back;
- NCCL: a step copies nothing to the host; the rank's two GPUs are summed by a group of
  NCCL reduces, every bucket is one NCCL allreduce on a communicator bootstrapped with rank
  0's unique id;
- CUDA-aware MPI: a step copies nothing to the host; MPI is handed the device buffers;

and on each the replicas end bit-identical.  The ranks agree on the path: a rank without NCCL
takes every rank to the staged path, and a path forced with DISTMOD_GPU_REDUCE that a rank
cannot take is the same error on every rank."""
import os

import numpy as np
import pytest

from tests import nets

pytestmark = pytest.mark.mpi(min_size=2)

BATCH, EPOCHS = 40, 2


def _fit(comm, mx, strictdev):
    """Train the MLP on [gpu(1), gpu(0)]; ``(transfers at each batch end, parameter bytes)``."""
    rng = np.random.RandomState(comm.rank)
    centers = np.random.RandomState(0).randn(4, 12) * 3
    y = rng.randint(0, 4, 480)
    x = (centers[y] + rng.randn(480, 12)).astype(np.float32)
    mod = mx.mod.Module(nets.mlp(mx, 16, 4),
                        context=[mx.gpu(2 * comm.rank + 1), mx.gpu(2 * comm.rank)])
    seen = []

    def count(param):
        seen.append((strictdev.TRANSFERS.d2h, strictdev.TRANSFERS.h2d))

    mod.fit(mx.io.NDArrayIter(x, y.astype(np.float32), batch_size=BATCH),
            num_epoch=EPOCHS, kvstore='dist_sync', optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
            initializer=mx.init.Xavier(), batch_end_callback=count)
    per_epoch = len(x) // comm.size // BATCH        # fit reads this rank's shard
    assert len(seen) == EPOCHS * per_epoch
    steps = []
    for e in range(EPOCHS):
        mine = seen[e * per_epoch:(e + 1) * per_epoch]
        steps += [(b[0] - a[0], b[1] - a[1]) for a, b in zip(mine, mine[1:])][:-1]
    args, _ = mod.get_params()
    return steps, b''.join(args[k].asnumpy().tobytes() for k in sorted(args))


def _identical(comm, params):
    everyone = comm.allgather(params)
    assert all(b == everyone[0] for b in everyone)


@pytest.fixture
def world():
    from mpi4py import MPI
    import distmod as mx
    from tests.device_semantics import strictdev
    comm = MPI.COMM_WORLD
    devices, strictdev.NUM_DEVICES = strictdev.NUM_DEVICES, 2 * comm.size
    strictdev.install()
    saved = {k: os.environ.get(k) for k in ('DISTMOD_GPU_REDUCE', 'DISTMOD_CUDA_AWARE_MPI')}
    os.environ['DISTMOD_CUDA_AWARE_MPI'] = '0'
    try:
        yield comm, mx, strictdev
    finally:
        import kvstore.gpu
        kvstore.gpu._CLIQUES.clear()        # made with this test's pretend NCCL
        strictdev.NUM_DEVICES = devices
        strictdev.enable_nccl(False)
        strictdev.CUDA_AWARE_MPI[0] = False
        strictdev.uninstall()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_staged_each_bucket_goes_through_pinned_memory_once_and_replicas_stay_equal(world):
    comm, mx, strictdev = world
    pinned = strictdev.PINNED[0]
    steps, params = _fit(comm, mx, strictdev)
    # a step: each device's batch in (4 copies), each staged bucket out and back
    for d2h, h2d in steps:
        assert d2h >= 1 and h2d == 4 + d2h, (steps, strictdev.TRANSFERS.where('d2h'))
    assert len(set(steps)) == 1, steps
    assert strictdev.PINNED[0] - pinned >= 4 * (12 * 16 + 16 + 16 * 4 + 4)   # every gradient
    # everything else read back: rank 0's initial parameters broadcast (once), the metric's
    # sums when read, get_params at each epoch's end
    where = strictdev.TRANSFERS.where('d2h')
    known = ('gpu.py', 'broadcast_arrays', 'metric.py', 'group.py')
    assert all(any(k in w for k in known) for w in where), where
    _identical(comm, params)


def test_nccl_sums_on_the_devices_without_a_host_copy(world):
    comm, mx, strictdev = world
    strictdev.enable_nccl()
    before = dict(strictdev.NCCL)
    steps, params = _fit(comm, mx, strictdev)
    assert steps and all(s == (0, 4) for s in steps), (steps, strictdev.TRANSFERS.where('d2h'))
    made = {k: strictdev.NCCL[k] - before[k] for k in before}
    # one communicator across the ranks; one clique of this rank's two GPUs; every step sums
    # the two GPUs' gradients by a group of reduces, then the ranks' by allreduces
    assert made['communicators'] == 1 and made['cliques'] == 1
    assert made['allreduces'] >= len(steps) and made['reduces'] >= len(steps)
    _identical(comm, params)


def test_cuda_aware_mpi_is_handed_the_device_buffers(world):
    comm, mx, strictdev = world
    os.environ['DISTMOD_CUDA_AWARE_MPI'] = '1'
    strictdev.CUDA_AWARE_MPI[0] = True
    del strictdev.MPI_DEVICE_BUFFERS[:]
    steps, params = _fit(comm, mx, strictdev)
    assert steps and all(s == (0, 4) for s in steps), (steps, strictdev.TRANSFERS.where('d2h'))
    assert strictdev.MPI_DEVICE_BUFFERS
    _identical(comm, params)


def test_one_rank_without_nccl_takes_every_rank_to_the_staged_path(world):
    comm, mx, strictdev = world
    if comm.rank != comm.size - 1:
        strictdev.enable_nccl()
    calls = strictdev.NCCL['allreduces']
    steps, params = _fit(comm, mx, strictdev)
    assert strictdev.NCCL['allreduces'] == calls
    assert all(d2h >= 1 for d2h, _ in steps)
    _identical(comm, params)


def test_a_forced_path_some_rank_cannot_take_is_one_error_on_every_rank(world):
    comm, mx, strictdev = world
    import kvstore
    os.environ['DISTMOD_GPU_REDUCE'] = 'nccl'
    if comm.rank == 0:
        strictdev.enable_nccl()
    store = kvstore.create('dist_sync')
    with strictdev.Device(comm.rank):
        flat = strictdev.xp.zeros(8, dtype=np.float32)
    with pytest.raises(kvstore.KVStoreError) as e:
        store.gradient_buckets([flat], [(0, 0, 8)])
    others = ', '.join(str(r) for r in range(1, comm.size))
    assert 'DISTMOD_GPU_REDUCE=nccl' in str(e.value) and others in str(e.value), str(e.value)
    comm.Barrier()
