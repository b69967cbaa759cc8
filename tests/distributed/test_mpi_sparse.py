"""Row-sparse values across ranks: run under ``mpiexec -n 2`` and ``-n 3`` with ``pytest
--with-mpi`` (tests/distributed/test_under_mpiexec.py does that); skipped in a plain run.

Every rank pushes different rows; the sum is the gather of every rank's rows, identical (bit
for bit) on every rank, and a row no rank pushed stays absent.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _gathered(comm, a):
    return comm.allgather(np.asarray(a))


def _rank_rows(rank, rows=10):
    """Rank r's rows: r, r + 1 and 7 (shared by all), values from the rank."""
    idx = np.array(sorted({rank % rows, (rank + 1) % rows, 7}), dtype=np.int64)
    vals = np.stack([np.full(3, (rank + 1) * 10 + i, np.float32) for i in idx])
    return idx, vals


def _dense_sum(n, rows=10):
    total = np.zeros((rows, 3), np.float32)
    for r in range(n):
        idx, vals = _rank_rows(r, rows)
        total[idx] += vals
    return total


def test_push_of_row_sparse_values_gathers_rows_from_every_rank():
    import distmod as mx
    comm = _comm()
    kv = mx.kv.create('dist_sync')
    n = kv.num_workers
    kv.init('emb', mx.nd.sparse.zeros('row_sparse', (10, 3)))
    idx, vals = _rank_rows(kv.rank)
    kv.push('emb', mx.nd.sparse.row_sparse_array((vals, idx), shape=(10, 3)))
    dense = mx.nd.zeros((10, 3))
    kv.pull('emb', out=dense)
    np.testing.assert_array_equal(dense.asnumpy(), _dense_sum(n))
    out = mx.nd.sparse.zeros('row_sparse', (10, 3))
    kv.row_sparse_pull('emb', out=out, row_ids=mx.nd.array([9, 7, 0, 7]))
    assert out.indices.asnumpy().tolist() == [0, 7, 9]
    np.testing.assert_array_equal(out.data.asnumpy(), _dense_sum(n)[[0, 7, 9]])
    everyone = _gathered(comm, out.data.asnumpy())
    assert all(np.array_equal(e, everyone[0]) for e in everyone)
    full = mx.nd.sparse.zeros('row_sparse', (10, 3))
    kv.pull('emb', out=full, ignore_sparse=False)
    pushed = sorted({i for r in range(n) for i in _rank_rows(r)[0]})
    assert full.indices.asnumpy().tolist() == pushed          # absent rows stay absent


class RowSparse:
    """A row-sparse value as the raw store takes it: any object with these attributes."""
    stype = 'row_sparse'

    def __init__(self, indices, values, shape):
        self.indices, self.values, self.shape = indices, values, shape

    @property
    def dtype(self):
        return self.values.dtype


def test_raw_store_reduce_row_sparse_is_identical_everywhere():
    import kvstore
    comm = _comm()
    store = kvstore.create('dist_sync')
    rng = np.random.RandomState(comm.rank)
    values = []
    for shape in [(50, 4), (5,), (20, 2, 3)]:
        rows = np.unique(rng.randint(0, shape[0], size=7)).astype(np.int64)
        values.append(RowSparse(rows, rng.randn(len(rows), *shape[1:]), shape))
    empty = RowSparse(np.zeros(0, np.int64), np.zeros((0, 3)), (4, 3))
    expected = []
    for v in values:
        dense = np.zeros(v.shape)
        for idx, vals in comm.allgather((v.indices, v.values)):
            dense[idx] += vals
        expected.append(dense)
    store.reduce_row_sparse(values + [empty])
    for v, want in zip(values, expected):
        got = np.zeros(v.shape)
        got[v.indices] = v.values
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert np.all(np.diff(v.indices) > 0)
        everyone = comm.allgather((v.indices, v.values))
        assert all(np.array_equal(i, everyone[0][0]) and np.array_equal(x, everyone[0][1])
                   for i, x in everyone)
    assert empty.indices.shape == (0,) and empty.values.shape == (0, 3)


def test_init_of_a_row_sparse_value_broadcasts_rank_zeros_rows():
    import distmod as mx
    kv = mx.kv.create('dist_sync')
    idx, vals = _rank_rows(kv.rank)
    kv.init('w', mx.nd.sparse.row_sparse_array((vals, idx), shape=(10, 3)))
    out = mx.nd.zeros((10, 3))
    kv.pull('w', out=out)
    want = np.zeros((10, 3), np.float32)
    i0, v0 = _rank_rows(0)
    want[i0] = v0
    np.testing.assert_array_equal(out.asnumpy(), want)


def _embedding_module(kvstore, optimizer, seed=3):
    import distmod as mx
    data = mx.sym.Variable('data')
    emb = mx.sym.Embedding(data, input_dim=30, output_dim=4, sparse_grad=True, name='embed')
    fc = mx.sym.FullyConnected(mx.sym.sum(emb, axis=1), num_hidden=2, name='fc')
    net = mx.sym.SoftmaxOutput(fc, name='softmax')
    mod = mx.mod.Module(net)
    mod.bind([('data', (6, 3))], [('softmax_label', (6,))])
    mx.random.seed(seed)
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                       optimizer_params={'learning_rate': 0.1})
    return mod


@pytest.mark.parametrize('optimizer', ['sgd', 'adam'])
def test_module_sparse_embedding_over_ranks_matches_one_process_on_the_whole_batch(optimizer):
    # each rank trains on its part of every batch; the sparse gradients meet by rows; the
    # result is the one-process run on the whole batch, on every rank
    import distmod as mx
    comm = _comm()
    r, n = comm.rank, comm.size
    rng = np.random.RandomState(0)
    batches = [(rng.randint(0, 30, size=(6 * n, 3)).astype(np.float32),
                rng.randint(0, 2, size=6 * n).astype(np.float32)) for _ in range(4)]
    dist = _embedding_module('dist_sync', optimizer)
    for x, y in batches:
        part = slice(6 * r, 6 * r + 6)
        dist.forward(mx.io.DataBatch([mx.nd.array(x[part])], [mx.nd.array(y[part])]))
        dist.backward()
        assert dist._exec_group.execs[0].grad_dict['embed_weight'].stype == 'row_sparse'
        dist.update()
    got = {k: v.asnumpy() for k, v in dist.get_params()[0].items()}
    everyone = comm.allgather(got)
    for k in got:
        assert all(np.array_equal(e[k], got[k]) for e in everyone), k
    # one process, the whole batch: MXNet's rescale_grad is 1/(batch x ranks) either way
    alone = mx.mod.Module(dist.symbol)
    alone.bind([('data', (6 * n, 3))], [('softmax_label', (6 * n,))])
    mx.random.seed(3)
    alone.init_params(mx.init.Uniform(0.5))
    alone.init_optimizer(kvstore='local', optimizer=optimizer,
                         optimizer_params={'learning_rate': 0.1})
    for x, y in batches:
        alone.forward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
        alone.backward()
        alone.update()
    for k, v in alone.get_params()[0].items():
        np.testing.assert_allclose(got[k], v.asnumpy(), rtol=1e-5, atol=1e-6, err_msg=k)
