"""kvstore across ranks: run under ``mpiexec -n 2`` and ``-n 3`` with ``pytest --with-mpi``
(tests/distributed/test_under_mpiexec.py does that); skipped in a plain pytest run."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _store(**kw):
    import kvstore
    return kvstore.create('dist_sync', **kw)


@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16', 'int32', 'int64'])
@pytest.mark.parametrize('bucket_bytes', [64, 1 << 20])
def test_pushpull_sums_over_ranks_for_every_dtype(dtype, bucket_bytes):
    kv = _store(bucket_bytes=bucket_bytes)
    r, n = kv.rank, kv.num_workers
    shapes = [(3,), (2, 5), (1,), (4, 3, 2), (7,)]
    keys = ['k%d' % i for i in range(len(shapes))]
    kv.init(keys, [np.zeros(s, dtype) for s in shapes])
    vals = [(np.arange(int(np.prod(s))).reshape(s) % 7 + r + 1).astype(dtype) for s in shapes]
    kv.pushpull(keys, vals)
    for s, v in zip(shapes, vals):
        base = np.arange(int(np.prod(s))).reshape(s) % 7
        want = (n * base + sum(range(1, n + 1))).astype(dtype)
        np.testing.assert_array_equal(v, want)


def test_many_small_keys_fused_into_few_buckets():
    from kvstore.dist import FusedAllreduce
    comm = _comm()
    arrays = [np.full((5,), comm.rank + i, np.float32) for i in range(300)]
    red = FusedAllreduce(comm, arrays, bucket_bytes=1024)
    assert len(red.buckets) == int(np.ceil(300 * 20 / 1024.0))
    for step in range(3):                       # buffers are reused step after step
        for i, a in enumerate(arrays):
            a[...] = comm.rank + i + step
        for i in range(len(arrays)):            # out of order: buckets still start in order
            red.ready((i * 7) % len(arrays))
        red.wait()
        n = comm.size
        for i, a in enumerate(arrays):
            assert a[0] == n * (i + step) + sum(range(n))


def test_several_local_devices_summed_first_then_ranks():
    kv = _store()
    n = kv.num_workers
    kv.init(7, np.zeros((2, 2)))
    devices = [np.full((2, 2), 1.0), np.full((2, 2), 2.0), np.full((2, 2), 3.0)]
    outs = [np.empty((2, 2)) for _ in range(3)]
    kv.pushpull(7, devices, out=outs)
    for o in outs:
        np.testing.assert_array_equal(o, np.full((2, 2), 6.0 * n))


def test_init_and_broadcast_give_rank0_values():
    kv = _store()
    kv.init('w', np.full(4, kv.rank + 10.0))
    out = np.empty(4)
    kv.pull('w', out=out)
    np.testing.assert_array_equal(out, np.full(4, 10.0))
    out2 = [np.empty(3), np.empty(3)]
    kv.broadcast('b', np.full(3, float(kv.rank)), out=out2)
    for o in out2:
        np.testing.assert_array_equal(o, np.zeros(3))


def test_mismatched_shapes_are_a_clear_error_on_every_rank():
    import kvstore
    kv = _store()
    with pytest.raises(kvstore.KVStoreError) as err:
        kv.init('fc1_weight', np.zeros((4, 3 + kv.rank)))
    msg = str(err.value)
    assert "'fc1_weight'" in msg and 'rank 0: shape (4, 3)' in msg and 'rank 1: shape (4, 4)' in msg
    with pytest.raises(KeyError):
        kv._store['fc1_weight']                # nothing half-initialised is left behind
    _comm().Barrier()


def test_mismatched_keys_are_a_clear_error_on_every_rank():
    import kvstore
    kv = _store()
    key = 'only_on_rank0' if kv.rank == 0 else 'other_%d' % kv.rank
    with pytest.raises(kvstore.KVStoreError) as err:
        kv.init(key, np.zeros(2))
    assert 'ranks disagree on key' in str(err.value) and 'no such key' in str(err.value)


def test_update_on_the_store_keeps_replicas_identical():
    import distmod as mx
    kv = mx.kv.create('dist_sync')
    assert kv.type == 'dist_sync' and kv.num_workers == _comm().size
    kv.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9, wd=1e-3))
    rng = np.random.RandomState(kv.rank)
    kv.init('w', mx.nd.array(rng.rand(5, 3)))
    for _ in range(3):
        kv.push('w', mx.nd.array(rng.rand(5, 3)))
    out = mx.nd.zeros((5, 3))
    kv.pull('w', out=out)
    everyone = _comm().allgather(out.asnumpy().tobytes())
    assert all(e == everyone[0] for e in everyone)


def test_optimizer_states_saved_by_rank0_load_everywhere(tmp_path_factory):
    import distmod as mx
    comm = _comm()
    folder = comm.bcast(str(tmp_path_factory.mktemp('states')) if comm.rank == 0 else None)
    kv = mx.kv.create('dist_sync')
    kv.set_optimizer(mx.optimizer.create('adam', learning_rate=0.01))
    kv.init(0, mx.nd.ones((3,)))
    kv.push(0, mx.nd.ones((3,)) * (kv.rank + 1))
    fname = folder + '/opt.states'
    kv.save_optimizer_states(fname)
    comm.Barrier()
    kv.load_optimizer_states(fname)
    kv.push(0, mx.nd.ones((3,)))
    out = mx.nd.zeros((3,))
    kv.pull(0, out=out)
    everyone = comm.allgather(out.asnumpy().tobytes())
    assert all(e == everyone[0] for e in everyone)


def test_gradient_compression_settings_are_checked_on_every_rank():
    import distmod as mx
    kv = mx.kv.create('dist_sync')
    kv.set_gradient_compression({'type': 'none'})
    with pytest.raises(mx.MXNetError, match="unknown type '4bit'"):
        kv.set_gradient_compression({'type': '4bit'})
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    assert kv.compression_params == {'type': '2bit', 'threshold': 0.5}
