"""The ring allreduce of big gradient buckets (kvstore/buckets.py ``ring_allreduce``), under
``mpiexec -n 2``/``-n 3``: sums equal MPI's within float rounding, bit-identical on every
rank, for sizes that do not divide by the number of ranks (and smaller than it); the bucket
reducer takes it above ``RING_BYTES``; Module.fit with it keeps replicas identical."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


@pytest.mark.parametrize('n', [1, 2, 7, 1000, 100003])
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_ring_sums_like_allreduce_and_identically_on_every_rank(n, dtype):
    from mpi4py import MPI
    from kvstore.buckets import ring_allreduce
    comm = _comm()
    a = np.random.RandomState(comm.rank).standard_normal(n).astype(dtype)
    want = a.copy()
    comm.Allreduce(MPI.IN_PLACE, want, op=MPI.SUM)
    ring_allreduce(comm, a)
    np.testing.assert_allclose(a, want, rtol=1e-5 if dtype == 'float32' else 1e-12,
                               atol=1e-5 if dtype == 'float32' else 1e-12)
    blobs = comm.allgather(a.tobytes())
    assert all(b == blobs[0] for b in blobs)


@pytest.mark.parametrize('piece', [1, 3, 64, 10 ** 6])
def test_the_ring_in_pieces_gives_the_same_bits(piece):
    from kvstore.buckets import ring_allreduce
    comm = _comm()
    for n in (5, 1000, 20011):
        a = np.random.RandomState(comm.rank).standard_normal(n).astype(np.float32)
        b = a.copy()
        ring_allreduce(comm, a)
        ring_allreduce(comm, b, piece=piece)
        assert a.tobytes() == b.tobytes()


def test_one_host_is_not_spanned():
    from mpi4py import MPI
    from kvstore.buckets import spans_hosts
    assert spans_hosts(_comm(), MPI) is False     # mpiexec on this host; across hosts: test_multihost


def _ringed_sizes(monkeypatch, **knobs):
    """Members of 800, 200 and 2000 floats in buckets of at most 4 KB ([800, 200] and
    [2000]) reduced with ``knobs`` set on kvstore.buckets: the sizes that went round the
    ring (the sums checked against MPI's, and identical on every rank)."""
    from mpi4py import MPI
    from kvstore import buckets
    comm = _comm()
    calls = []
    real = buckets.ring_allreduce
    for name, value in knobs.items():
        monkeypatch.setattr(buckets, name, value)
    monkeypatch.setattr(buckets, 'ring_allreduce',
                        lambda c, a, s=None, **kw: calls.append(a.size) or real(c, a, s, **kw))
    flat = np.random.RandomState(comm.rank).rand(3000).astype(np.float32)
    want = flat.copy()
    comm.Allreduce(MPI.IN_PLACE, want, op=MPI.SUM)
    red = buckets.BucketAllreduce(comm, [flat], [(0, 0, 800), (0, 800, 1000), (0, 1000, 3000)],
                                  bucket_bytes=4000, overlap=False)
    for i in range(3):
        red.ready(i)
    red.wait()
    np.testing.assert_allclose(flat, want, rtol=1e-6)
    blobs = comm.allgather(flat.tobytes())
    assert all(b == blobs[0] for b in blobs)
    red.close()
    return calls


def test_buckets_above_the_threshold_go_round_the_ring(monkeypatch):
    # both buckets are 4 KB or more
    assert _ringed_sizes(monkeypatch, RING_BYTES=4000) == [1000, 2000]


@pytest.mark.parametrize('across', [False, True])
def test_between_hosts_the_ring_starts_at_its_own_threshold(monkeypatch, across):
    got = _ringed_sizes(monkeypatch, RING_BYTES=1 << 20, RING_HOSTS_BYTES=4000,
                        spans_hosts=lambda c, mpi: across)
    assert got == ([1000, 2000] if across else [])


def fit_small_net_and_check_replicas():
    """Module.fit of a small MLP on dist_sync (3 epochs); asserts that every rank ends with
    the same parameters, bit for bit, and that it learned.  Returns the module."""
    import distmod as mx
    comm = _comm()
    rng = np.random.RandomState(0)
    centers = rng.randn(3, 12) * 2
    y = rng.randint(0, 3, 300)
    x = (centers[y] + rng.randn(300, 12)).astype(np.float32)
    net = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=16, name='fc1')
    net = mx.sym.Activation(net, act_type='relu')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=3, name='fc2'),
                               name='softmax')
    mod = mx.mod.Module(net)
    mod.fit(mx.io.NDArrayIter(x, y.astype(np.float32), batch_size=20), num_epoch=3,
            kvstore='dist_sync', optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
    args, _ = mod.get_params()
    blob = b''.join(args[k].asnumpy().tobytes() for k in sorted(args))
    blobs = comm.allgather(blob)
    assert all(b == blobs[0] for b in blobs)
    acc = dict(mod.score(mx.io.NDArrayIter(x, y.astype(np.float32), batch_size=20), 'acc'))
    assert acc['accuracy'] > 0.9
    return mod


def test_fit_through_the_ring_keeps_replicas_identical(monkeypatch):
    from kvstore import buckets, shm
    monkeypatch.setattr(buckets, 'RING_BYTES', 1)
    monkeypatch.setattr(shm, 'ENABLED', False)    # one host: shared memory would sum it
    calls = []
    real = buckets.ring_allreduce
    monkeypatch.setattr(buckets, 'ring_allreduce',
                        lambda c, a, s=None, **kw: calls.append(a.size) or real(c, a, s, **kw))
    fit_small_net_and_check_replicas()
    assert calls                                  # the gradients went round the ring
