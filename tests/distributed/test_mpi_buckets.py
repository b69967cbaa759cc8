"""kvstore's gradient buckets and the training loop's collectives across ranks, without a
Module (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``)."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _store(**kw):
    import kvstore
    return kvstore.create('dist_sync', **kw)


def _layout(sizes, dtypes):
    """Flat buffers per dtype and the members, in the given (ready) order."""
    flats, members, used = {}, [], {}
    for n, dt in zip(sizes, dtypes):
        start = used.get(dt, 0)
        used[dt] = start + n
        members.append((dt, start, start + n))
    order = list(dict.fromkeys(dtypes))
    flats = [np.zeros(used[dt], dtype=dt) for dt in order]
    return flats, [(order.index(dt), a, b) for dt, a, b in members]


@pytest.mark.parametrize('bucket_bytes', [16, 100, 1 << 20])
def test_buckets_of_flat_buffers_sum_in_place_whatever_the_ready_order(bucket_bytes):
    store = _store(bucket_bytes=bucket_bytes)
    r, n = store.rank, store.num_workers
    sizes = [3, 7, 1, 12, 5, 2, 9]
    dtypes = ['float32', 'float64', 'float32', 'float32', 'float64', 'int32', 'float32']
    flats, members = _layout(sizes, dtypes)
    red = store.gradient_buckets(flats, members, overlap=True)
    assert red.bytes == sum(f.nbytes for f in flats)
    rng = np.random.RandomState(0)
    for step in range(4):                       # the same buffers, step after step
        for f in flats:
            f[...] = np.arange(f.size) + r + step
        order = rng.permutation(len(members)) if r % 2 else np.arange(len(members))
        if step % 2:
            for i in order:                     # as backward reports them
                red.ready(int(i))
            red.wait()
        else:
            red.run()                           # all at once (kvstore push)
        for f in flats:
            want = n * (np.arange(f.size) + step) + sum(range(n))
            np.testing.assert_array_equal(f, want.astype(f.dtype))
    red.close()


def test_bucket_cuts_follow_bucket_bytes_and_dtype():
    store = _store(bucket_bytes=40)
    flats, members = _layout([4, 4, 4, 4, 4], ['float32', 'float32', 'float64', 'float32',
                                               'float32'])
    red = store.gradient_buckets(flats, members, overlap=False)
    # float32 members 0,1 (32 bytes), then 3,4; the float64 member alone
    assert [b.members for b in red.buckets] == [[0, 1], [2], [3, 4]]


def test_the_training_loops_collectives():
    store = _store()
    r, n = store.rank, store.num_workers
    a = np.full((3, 4), float(r))
    strided = np.full((4, 6), float(r + 5))[:, ::2]         # not contiguous
    store.broadcast_arrays([a, strided])
    np.testing.assert_array_equal(a, 0.0)
    np.testing.assert_array_equal(strided, 5.0)             # the caller's array is updated
    m = np.full(5, float(r), np.float32)
    store.average_arrays([m])
    np.testing.assert_allclose(m, np.mean(range(n)))
    assert store.all_true(True) is True
    assert store.all_true(r != n - 1) is False
    np.testing.assert_array_equal(store.sum_floats([1.0, r]), [n, sum(range(n))])


def test_agree_names_the_key_and_the_ranks_on_every_rank():
    import kvstore
    store = _store()
    with pytest.raises(kvstore.KVStoreError, match=r"ranks disagree on key 'w'"):
        store.agree(['w'], [np.zeros(2 + store.rank)], 'test')
