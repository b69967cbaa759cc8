"""SVRGModule across ranks (``mpiexec -n 2 python -m pytest --with-mpi
tests/contrib/test_svrg_mpi.py``): identical replicas, and the same numbers as one rank with
the global batch (the full gradient and the snapshot gradients are summed over ranks like the
gradients they correct)."""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _net(mx):
    data = mx.sym.Variable('data')
    fc = mx.sym.FullyConnected(data, num_hidden=1, name='fc')
    return mx.sym.LinearRegressionOutput(fc, mx.sym.Variable('lin_reg_label'), name='lro')


def test_n_ranks_batch_b_match_one_rank_batch_nb():
    import distmod as mx
    from mpi4py import MPI
    from distmod.contrib.svrg_optimization.svrg_module import SVRGModule
    comm = MPI.COMM_WORLD
    n, b = comm.size, 4
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16 * n, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3 * rng.standard_normal(16 * n)
         ).astype(np.float32)
    init = {'fc_weight': mx.nd.zeros((1, 3)), 'fc_bias': mx.nd.zeros((1,))}
    opt = {'learning_rate': 0.05, 'momentum': 0.5}

    def train(data, label, batch, kvstore):
        mod = SVRGModule(_net(mx), data_names=['data'], label_names=['lin_reg_label'],
                         update_freq=2)
        mod.fit(mx.io.NDArrayIter(data, label, batch_size=batch, label_name='lin_reg_label'),
                num_epoch=4, kvstore=kvstore, optimizer='sgd', optimizer_params=dict(opt),
                arg_params={k: v.copy() for k, v in init.items()}, eval_metric='mse')
        return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}

    dist = train(x, y, b, 'dist_sync')
    blobs = comm.allgather(b''.join(dist[k].tobytes() for k in sorted(dist)))
    assert all(blob == blobs[0] for blob in blobs)
    # one process: the same global batches (rank r's k-th batch, for every r, in order)
    m = x.shape[0] // n
    order = np.concatenate([np.concatenate([np.arange(r * m + k * b, r * m + (k + 1) * b)
                                            for r in range(n)]) for k in range(m // b)])
    one = train(x[order], y[order], n * b, 'local')
    for k in sorted(dist):
        np.testing.assert_allclose(dist[k], one[k], rtol=2e-5, atol=2e-6)
