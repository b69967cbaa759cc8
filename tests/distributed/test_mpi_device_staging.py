"""The host-staged reduction of GPU gradients across ranks, under the device-semantics check
(tests/device_semantics/strictdev.py: CuPy's rules on NumPy, every transfer counted), run
under ``mpiexec -n 2``/``-n 3``: each rank trains on two pretend GPUs (device 1 first) with
``dist_sync``; a step copies each staged bucket to the host and back once, reads nothing
else back, and the replicas end bit-identical."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def test_dist_sync_on_two_devices_stages_each_bucket_once_and_keeps_replicas_equal():
    from mpi4py import MPI
    import distmod as mx
    from tests.device_semantics import strictdev
    comm = MPI.COMM_WORLD
    rng = np.random.RandomState(comm.rank)
    centers = np.random.RandomState(0).randn(4, 12) * 3
    y = rng.randint(0, 4, 480)
    x = (centers[y] + rng.randn(480, 12)).astype(np.float32)
    batch, epochs = 40, 2
    with strictdev.installed():
        net = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=16, name='fc1')
        net = mx.sym.Activation(net, act_type='relu')
        net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=4, name='fc2'),
                                   name='softmax')
        mod = mx.mod.Module(net, context=[mx.gpu(1), mx.gpu(0)])
        seen = []

        def count(param):
            seen.append((strictdev.TRANSFERS.d2h, strictdev.TRANSFERS.h2d))

        mod.fit(mx.io.NDArrayIter(x, y.astype(np.float32), batch_size=batch),
                num_epoch=epochs, kvstore='dist_sync', optimizer='sgd',
                optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
                initializer=mx.init.Xavier(), batch_end_callback=count)
        per_epoch = len(x) // comm.size // batch        # fit reads this rank's shard
        assert len(seen) == epochs * per_epoch
        staged = set()
        for e in range(epochs):
            mine = seen[e * per_epoch:(e + 1) * per_epoch]
            steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(mine, mine[1:])]
            # a step: each device's batch in (4 copies), each staged bucket out and back
            for d2h, h2d in steps[:-1]:
                assert d2h >= 1 and h2d == 4 + d2h, (steps, strictdev.TRANSFERS.where('d2h'))
                staged.add(d2h)
        assert len(staged) == 1, staged
        # everything else read back: rank 0's initial parameters broadcast (once), the
        # metric's sums when read, get_params at each epoch's end
        where = strictdev.TRANSFERS.where('d2h')
        known = ('buckets.py', 'broadcast_arrays', 'metric.py', 'group.py')
        assert all(any(k in w for k in known) for w in where), where
        args, aux = mod.get_params()
        mine = b''.join(args[k].asnumpy().tobytes() for k in sorted(args))
    everyone = comm.allgather(mine)
    assert all(b == everyone[0] for b in everyone)
