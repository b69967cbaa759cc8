"""Resume across ranks (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``): from a checkpoint
``do_checkpoint`` wrote, ``fit(begin_epoch=k)`` gives, on every rank, the parameters of the
uninterrupted run bit for bit, with shuffled data and Dropout, for SGD with momentum and
Adam (each rank shuffles its own shard from its own stream)."""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _net(mx):
    data = mx.sym.Variable('data')
    h = mx.sym.FullyConnected(data, num_hidden=16, name='fc1')
    h = mx.sym.Dropout(mx.sym.Activation(h, act_type='relu'), p=0.25)
    h = mx.sym.FullyConnected(h, num_hidden=3, name='fc2')
    return mx.sym.SoftmaxOutput(h, name='softmax')


def _data(n=360, d=12, k=3):
    rng = np.random.RandomState(0)
    centers = rng.randn(k, d) * 2
    y = rng.randint(0, k, n)
    return (centers[y] + rng.randn(n, d)).astype(np.float32), y.astype(np.float32)


OPTIMIZERS = {'sgd': {'learning_rate': 0.05, 'momentum': 0.9},
              'adam': {'learning_rate': 0.01}}


def _fit(mx, opt, num_epoch, begin_epoch=0, mod=None, cb=None, seed=0):
    x, y = _data()
    mx.random.seed(seed + 10 * _comm().rank)
    it = mx.io.NDArrayIter(x, y, batch_size=10, shuffle=True)
    mod = mod or mx.mod.Module(_net(mx))
    params = dict(OPTIMIZERS[opt],
                  lr_scheduler=mx.lr_scheduler.FactorScheduler(step=10, factor=0.8))
    mod.fit(it, num_epoch=num_epoch, begin_epoch=begin_epoch, kvstore='dist_sync',
            optimizer=opt, optimizer_params=params, initializer=mx.init.Xavier(),
            epoch_end_callback=cb)
    arg, aux = mod.get_params()
    return b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg))


@pytest.mark.parametrize('opt', sorted(OPTIMIZERS))
def test_resume_on_every_rank_is_bit_identical(opt, tmp_path_factory):
    import distmod as mx
    comm = _comm()
    folder = comm.bcast(str(tmp_path_factory.mktemp('resume')) if comm.rank == 0 else None)
    prefix = os.path.join(folder, opt)
    whole = _fit(mx, opt, 3, cb=mx.callback.do_checkpoint(prefix))
    comm.Barrier()
    mod = mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
    resumed = _fit(mx, opt, 3, begin_epoch=1, mod=mod, seed=999)
    everyone = comm.allgather(resumed)
    assert all(e == whole for e in everyone)
    manifest = mx.model.read_manifest(prefix, 1)
    assert manifest['resume']['num_workers'] == comm.size
