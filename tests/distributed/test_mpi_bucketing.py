"""BucketingModule across ranks (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``): ranks whose
batches fall in different buckets in the same step still make the same collectives and keep
bit-identical replicas, even when a bucket's graph leaves a shared parameter unused."""
import numpy as np
import pytest

from tests.module.test_bucketing_sequential import BucketIter, FEAT, CLASSES

pytestmark = pytest.mark.mpi(min_size=2)


def sym_gen(seq_len):
    """Long buckets use an extra layer that short buckets leave out."""
    import distmod as mx
    data = mx.sym.Variable('data')
    pooled = mx.sym.sum(data, axis=1) / float(seq_len)
    if seq_len >= 8:
        pooled = mx.sym.Activation(mx.sym.FullyConnected(pooled, num_hidden=FEAT,
                                                         name='fc_extra'), act_type='tanh')
    fc = mx.sym.FullyConnected(pooled, num_hidden=CLASSES, name='fc')
    return mx.sym.SoftmaxOutput(fc, name='softmax'), ('data',), ('softmax_label',)


def test_ranks_in_different_buckets_keep_identical_replicas():
    import distmod as mx
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    keys = [3, 6, 10]
    keys = keys[comm.rank % 3:] + keys[:comm.rank % 3]      # a different bucket every step
    it = BucketIter(keys, seed=comm.rank)
    mx.random.seed(comm.rank)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=10)
    mod.fit(it, num_epoch=3, kvstore='dist_sync', optimizer='sgd',
            optimizer_params={'learning_rate': 0.3, 'momentum': 0.9, 'wd': 1e-3})
    assert set(mod._buckets) == {3, 6, 10}
    arg, aux = mod.get_params()
    blob = b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg))
    everyone = comm.allgather(blob)
    assert all(e == everyone[0] for e in everyone)
    assert sorted(arg) == ['fc_bias', 'fc_extra_bias', 'fc_extra_weight', 'fc_weight']


def test_a_bucket_bound_before_init_optimizer_still_reduces_its_gradients():
    import distmod as mx
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    it = BucketIter([3, 10], seed=comm.rank)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=10)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(initializer=mx.init.Xavier())
    mod.prepare(it.batches[0])                # binds bucket 3 before the kvstore exists
    assert 3 in mod._buckets
    mod.init_optimizer(kvstore='dist_sync', optimizer='sgd',
                       optimizer_params={'learning_rate': 0.5})
    before = {k: v.asnumpy().copy() for k, v in mod.get_params()[0].items()}
    mod.forward_backward(it.batches[0])       # bucket 3 first
    grad = mod._buckets[3]._exec_group.execs[0].grad_dict['fc_weight'].asnumpy().copy()
    mod.update()
    after = mod.get_params()[0]
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0   # reached the reduced buffers
    assert np.abs(grad).max() < 10
    assert not np.array_equal(before['fc_weight'], after['fc_weight'].asnumpy())
    for batch in it.batches[1:]:
        mod.forward_backward(batch)
        mod.update()
    arg, _ = mod.get_params()
    blob = b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg))
    everyone = comm.allgather(blob)
    assert all(e == everyone[0] for e in everyone)


def test_many_small_gradient_buckets_with_ranks_in_different_buckets():
    """Tiny buckets: the communication thread reduces some buckets during backward on one
    rank while another rank (whose graph leaves a parameter unused) reduces them in wait()."""
    import distmod as mx
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    kv = mx.kv.create('dist_sync')
    kv.raw.bucket_bytes = 48                 # a few parameters per bucket
    keys = [3, 10] if comm.rank % 2 == 0 else [10, 3]
    it = BucketIter(keys, seed=comm.rank)
    mx.random.seed(comm.rank)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=10)
    mod.fit(it, num_epoch=3, kvstore=kv, optimizer='sgd',
            optimizer_params={'learning_rate': 0.3, 'momentum': 0.9})
    layout = mod._buckets[10]._exec_group.grad_buffers[0]
    reducer = kv._reducers[id(layout)][1]
    assert len(reducer.buckets) > 2 and reducer._thread is not None
    arg, _ = mod.get_params()
    blob = b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg))
    everyone = comm.allgather(blob)
    assert all(e == everyone[0] for e in everyone)
