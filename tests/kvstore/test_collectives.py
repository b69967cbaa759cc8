"""The local store is the one-process case of every collective of a training step: the same
methods as the distributed store, each the identity or a no-op."""
import numpy as np

import kvstore


def test_local_store_collectives_are_the_one_process_case():
    store = kvstore.create('local')
    a = np.arange(6.0).reshape(2, 3)
    store.broadcast_arrays([a])
    store.average_arrays([a])
    store.agree(['a'], [a], 'test')
    store.sync(['a'], [a])
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3))
    assert store.all_true(True) is True and store.all_true(0) is False
    np.testing.assert_array_equal(store.sum_floats([1, 2.5]), [1.0, 2.5])
    flat = np.ones(4, np.float32)
    red = store.gradient_buckets([flat], [(0, 0, 2), (0, 2, 4)])
    red.ready(1)
    red.ready(0)
    red.wait()
    red.run()
    assert not red.pending
    np.testing.assert_array_equal(flat, 1)


def test_dist_sync_without_mpi_in_one_process_is_the_local_store(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_mpi(name, *args, **kwargs):
        if name.startswith('mpi4py'):
            raise ImportError('no mpi4py here')
        return real(name, *args, **kwargs)
    for var in ('OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_RANK', 'MPI_LOCALNRANKS'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(builtins, '__import__', no_mpi)
    store = kvstore.create('dist_sync')
    assert isinstance(store, kvstore.LocalStore) and store.num_workers == 1
