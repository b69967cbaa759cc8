"""mx.nd.sparse: RowSparseNDArray and CSRNDArray, their constructors, conversions, copies,
arithmetic and the operators with sparse kernels, each checked against its dense meaning."""
import doctest

import numpy as np
import pytest

import distmod as mx
from distmod.ndarray import sparse as sp


def _dense(rows=6, cols=4, seed=0, density=0.4):
    rng = np.random.RandomState(seed)
    a = rng.randn(rows, cols).astype(np.float32)
    a[rng.rand(rows, cols) > density] = 0
    a[1] = 0                                    # at least one empty row
    return a


# ---- construction ----------------------------------------------------------------------------
def test_row_sparse_array_from_data_and_indices_keeps_the_given_rows():
    a = mx.nd.sparse.row_sparse_array(([[1, 2], [3, 4]], [3, 1]), shape=(5, 2))
    assert isinstance(a, mx.nd.sparse.RowSparseNDArray) and a.stype == 'row_sparse'
    assert a.shape == (5, 2) and a.dtype == np.float32 and a.indices.dtype == np.int64
    assert a.indices.asnumpy().tolist() == [3, 1]           # as given, as MXNet keeps them
    want = np.zeros((5, 2), np.float32)
    want[3], want[1] = [1, 2], [3, 4]
    np.testing.assert_array_equal(a.asnumpy(), want)
    assert repr(a) == '\n<RowSparseNDArray 5x2 @cpu(0)>'


def test_row_sparse_array_dtype_and_shape_rules():
    f64 = mx.nd.sparse.row_sparse_array((np.ones((1, 3)), [2]))
    assert f64.dtype == np.float64 and f64.shape == (3, 3)   # NumPy data keeps its dtype
    assert mx.nd.sparse.row_sparse_array(([[1, 2]], [0]), shape=(2, 2),
                                         dtype='float16').dtype == np.float16
    empty = mx.nd.sparse.row_sparse_array((4, 3))
    assert empty.shape == (4, 3) and empty.indices.shape == (0,) and empty.data.shape == (0, 3)
    with pytest.raises(ValueError, match='one row of data per index'):
        mx.nd.sparse.row_sparse_array(([1, 2], [0]), shape=(2, 2))
    with pytest.raises(ValueError, match='out of range'):
        mx.nd.sparse.row_sparse_array(([[1, 2]], [5]), shape=(2, 2))
    with pytest.raises(ValueError, match="rows have shape"):
        mx.nd.sparse.row_sparse_array(([[1, 2]], [0]), shape=(2, 3))


def test_row_sparse_array_of_a_dense_array_keeps_its_non_zero_rows():
    d = _dense()
    a = mx.nd.sparse.row_sparse_array(d)
    assert a.indices.asnumpy().tolist() == [i for i in range(6) if d[i].any()]
    np.testing.assert_array_equal(a.asnumpy(), d)
    np.testing.assert_array_equal(mx.nd.sparse.row_sparse_array(mx.nd.array(d)).asnumpy(), d)


def test_csr_matrix_from_parts_coordinates_dense_and_shape():
    m = mx.nd.sparse.csr_matrix(([1, 2, 3], [0, 2, 1], [0, 2, 2, 3]), shape=(3, 3))
    np.testing.assert_array_equal(m.asnumpy(), [[1, 0, 2], [0, 0, 0], [0, 3, 0]])
    assert (m.indices.dtype, m.indptr.dtype) == (np.int64, np.int64)
    assert repr(m) == '\n<CSRNDArray 3x3 @cpu(0)>'
    inferred = mx.nd.sparse.csr_matrix(([1, 2, 3], [0, 2, 1], [0, 2, 2, 3]))
    assert inferred.shape == (3, 3)
    coo = mx.nd.sparse.csr_matrix(([1, 2, 5], ([2, 0, 2], [1, 0, 1])), shape=(3, 2))
    np.testing.assert_array_equal(coo.asnumpy(), [[2, 0], [0, 0], [0, 6]])   # duplicates add
    d = _dense()
    c = mx.nd.sparse.csr_matrix(d)
    np.testing.assert_array_equal(c.asnumpy(), d)
    assert c.data.shape == (int((d != 0).sum()),)
    z = mx.nd.sparse.csr_matrix((2, 5))
    assert z.shape == (2, 5) and z.indptr.asnumpy().tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match='indptr'):
        mx.nd.sparse.csr_matrix(([1], [0], [0, 2]), shape=(1, 3))


def test_zeros_and_empty_of_every_storage_type():
    for stype in ('row_sparse', 'csr'):
        for z in (mx.nd.zeros((3, 4), stype=stype), mx.nd.sparse.zeros(stype, (3, 4)),
                  mx.nd.empty((3, 4), stype=stype), mx.nd.sparse.empty(stype, (3, 4))):
            assert z.stype == stype and z.shape == (3, 4)
            np.testing.assert_array_equal(z.asnumpy(), np.zeros((3, 4)))
    assert mx.nd.sparse.zeros('default', (2,)).stype == 'default'
    assert mx.nd.zeros((2, 2), stype='row_sparse', dtype='float64').dtype == np.float64
    with pytest.raises(mx.MXNetError, match='unknown storage type'):
        mx.nd.sparse.zeros('coo', (2, 2))


def test_data_and_indices_are_copies():
    a = mx.nd.sparse.row_sparse_array(([[1, 2]], [1]), shape=(2, 2))
    d = a.data
    d[:] = 100
    assert a.asnumpy().max() == 2


# ---- conversion and copies -------------------------------------------------------------------
@pytest.mark.parametrize('stype', ['row_sparse', 'csr'])
def test_tostype_round_trips(stype):
    d = _dense(seed=3)
    x = mx.nd.array(d)
    s = x.tostype(stype)
    assert s.stype == stype
    back = s.tostype('default')
    assert back.stype == 'default'
    np.testing.assert_array_equal(back.asnumpy(), d)
    np.testing.assert_array_equal(mx.nd.cast_storage(x, stype=stype).asnumpy(), d)
    other = 'csr' if stype == 'row_sparse' else 'row_sparse'
    np.testing.assert_array_equal(s.tostype(other).asnumpy(), d)
    same = s.tostype(stype)
    assert same is not s and same.stype == stype       # a copy, as MXNet's cast_storage
    assert x.tostype('default') is x


def test_copyto_between_storage_types_and_contexts():
    d = _dense(seed=4)
    rsp = mx.nd.array(d).tostype('row_sparse')
    dense = mx.nd.ones(d.shape)
    rsp.copyto(dense)
    np.testing.assert_array_equal(dense.asnumpy(), d)
    target = mx.nd.sparse.zeros('row_sparse', d.shape)
    mx.nd.array(d).copyto(target)
    assert target.stype == 'row_sparse'
    assert target.indices.asnumpy().tolist() == rsp.indices.asnumpy().tolist()
    moved = rsp.copyto(mx.cpu(1))
    assert moved.stype == 'row_sparse' and moved.context == mx.cpu(1)
    assert rsp.as_in_context(mx.cpu(0)) is rsp
    np.testing.assert_array_equal(rsp.as_in_context(mx.cpu(2)).asnumpy(), d)
    csr = rsp.tostype('csr')
    back = mx.nd.sparse.zeros('csr', d.shape)
    csr.copyto(back)
    np.testing.assert_array_equal(back.asnumpy(), d)
    with pytest.raises(mx.MXNetError, match='shape mismatch'):
        rsp.copyto(mx.nd.zeros((2, 2)))
    assert rsp.astype('float64').dtype == np.float64 and rsp.astype('float64').stype == \
        'row_sparse'
    assert mx.nd.array(rsp).stype == 'row_sparse' and mx.nd.sparse.array(csr).stype == 'csr'


def test_setitem_whole_array_only():
    a = mx.nd.sparse.zeros('row_sparse', (2, 3))
    a[:] = mx.nd.ones((2, 3))
    assert a.stype == 'row_sparse' and a.indices.asnumpy().tolist() == [0, 1]
    a[:] = 0
    assert a.indices.shape == (0,)
    a[:] = np.eye(2, 3)
    np.testing.assert_array_equal(a.asnumpy(), np.eye(2, 3))
    with pytest.raises(mx.MXNetError, match=r'\[:\] only'):
        a[0] = 1


def test_dense_fallback_reads_work_and_writes_are_refused():
    d = _dense(seed=5)
    rsp = mx.nd.array(d).tostype('row_sparse')
    np.testing.assert_allclose(mx.nd.exp(rsp).asnumpy(), np.exp(d), rtol=1e-6)
    assert mx.nd.exp(rsp).stype == 'default'           # no kernel: dense, as MXNet
    np.testing.assert_allclose(mx.nd.sum(rsp, axis=1).asnumpy(), d.sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(rsp.reshape((-1,)).asnumpy(), d.reshape(-1))
    np.testing.assert_array_equal((rsp + 1).asnumpy(), d + 1)
    with pytest.raises(ValueError, match='read-only'):
        rsp._data[0] = 1


# ---- arithmetic that keeps the storage type --------------------------------------------------
def test_row_sparse_arithmetic():
    a = mx.nd.sparse.row_sparse_array(([[1, 1], [2, 2]], [0, 3]), shape=(5, 2))
    b = mx.nd.sparse.row_sparse_array(([[10, 10], [20, 20]], [3, 4]), shape=(5, 2))
    for got, want in [(a + b, a.asnumpy() + b.asnumpy()), (a - b, a.asnumpy() - b.asnumpy()),
                      (a * 3, a.asnumpy() * 3), (3 * a, a.asnumpy() * 3),
                      (a / 2, a.asnumpy() / 2), (-a, -a.asnumpy())]:
        assert got.stype == 'row_sparse'
        np.testing.assert_array_equal(got.asnumpy(), want)
    assert (a + b).indices.asnumpy().tolist() == [0, 3, 4]
    assert (a + mx.nd.ones((5, 2))).stype == 'default'
    c = a.copy()
    c += b
    assert c.stype == 'row_sparse' and c.indices.asnumpy().tolist() == [0, 3, 4]
    c *= 2
    np.testing.assert_array_equal(c.asnumpy(), 2 * (a.asnumpy() + b.asnumpy()))
    c += mx.nd.ones((5, 2))                   # stays row-sparse, every row now
    assert c.stype == 'row_sparse' and c.indices.asnumpy().tolist() == [0, 1, 2, 3, 4]


def test_dense_plus_row_sparse_touches_only_its_rows():
    w = mx.nd.ones((4, 2))
    g = mx.nd.sparse.row_sparse_array(([[5, 5]], [2]), shape=(4, 2))
    w += g
    w -= g * 2
    np.testing.assert_array_equal(w.asnumpy(), [[1, 1], [1, 1], [-4, -4], [1, 1]])


def test_zero_keeping_operators_keep_the_storage_type():
    d = _dense(seed=6)
    for stype in ('row_sparse', 'csr'):
        s = mx.nd.array(d).tostype(stype)
        for name, fn in [('square', np.square), ('abs', np.abs), ('negative', np.negative),
                         ('sign', np.sign)]:
            got = getattr(mx.nd, name)(s)
            assert got.stype == stype, name
            np.testing.assert_allclose(got.asnumpy(), fn(d), rtol=1e-6)
        got = mx.nd.clip(s, -0.5, 0.5)
        assert got.stype == stype
        np.testing.assert_allclose(got.asnumpy(), np.clip(d, -0.5, 0.5))
        assert mx.nd.clip(s, 0.1, 0.5).stype == 'default'    # clip moves 0: dense
        assert mx.nd.zeros_like(s).stype == stype
        assert mx.nd.sparse.square(s).stype == stype


def test_elemwise_add_and_add_n_of_row_sparse_arrays():
    a = mx.nd.array(_dense(seed=1)).tostype('row_sparse')
    b = mx.nd.array(_dense(seed=2)).tostype('row_sparse')
    for got in (mx.nd.elemwise_add(a, b), mx.nd.add_n(a, b, a), mx.nd.sparse.add(a, b)):
        assert got.stype == 'row_sparse'
    np.testing.assert_allclose(mx.nd.add_n(a, b, a).asnumpy(),
                               2 * a.asnumpy() + b.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(mx.nd.elemwise_sub(a, b).asnumpy(), a.asnumpy() - b.asnumpy())
    out = mx.nd.zeros(a.shape)
    mx.nd.elemwise_add(a, b, out=out)
    np.testing.assert_allclose(out.asnumpy(), a.asnumpy() + b.asnumpy(), rtol=1e-6)


# ---- dot and retain --------------------------------------------------------------------------
def test_dot_of_csr_and_dense():
    d = _dense(7, 5, seed=8)
    csr = mx.nd.array(d).tostype('csr')
    rhs = np.random.RandomState(1).randn(5, 3).astype(np.float32)
    got = mx.nd.sparse.dot(csr, mx.nd.array(rhs))
    assert got.stype == 'default'
    np.testing.assert_allclose(got.asnumpy(), d @ rhs, rtol=1e-5, atol=1e-6)
    rhs_t = np.random.RandomState(2).randn(7, 3).astype(np.float32)
    got_t = mx.nd.dot(csr, mx.nd.array(rhs_t), transpose_a=True)
    assert got_t.stype == 'row_sparse'
    np.testing.assert_allclose(got_t.asnumpy(), d.T @ rhs_t, rtol=1e-5, atol=1e-6)
    assert got_t.indices.asnumpy().tolist() == [j for j in range(5) if d[:, j].any()]
    dense_t = mx.nd.sparse.dot(csr, mx.nd.array(rhs_t), transpose_a=True,
                               forward_stype='default')
    assert dense_t.stype == 'default'
    w = mx.nd.array(rhs).tostype('row_sparse')       # csr . row_sparse: computed densely
    np.testing.assert_allclose(mx.nd.dot(csr, w).asnumpy(), d @ rhs, rtol=1e-5, atol=1e-6)
    empty = mx.nd.sparse.zeros('csr', (3, 5))
    np.testing.assert_array_equal(mx.nd.sparse.dot(empty, mx.nd.array(rhs)).asnumpy(),
                                  np.zeros((3, 3)))


def test_retain_gives_each_requested_row_once_in_order():
    g = mx.nd.sparse.row_sparse_array(([[1, 1], [2, 2]], [1, 4]), shape=(6, 2))
    r = mx.nd.sparse.retain(g, mx.nd.array([4, 0, 4, 1]))
    assert r.indices.asnumpy().tolist() == [0, 1, 4]
    np.testing.assert_array_equal(r.data.asnumpy(), [[0, 0], [1, 1], [2, 2]])
    assert g.retain(mx.nd.array([5])).data.asnumpy().tolist() == [[0.0, 0.0]]


def test_csr_rows_slice_to_csr():
    d = _dense(5, 3, seed=9)
    csr = mx.nd.array(d).tostype('csr')
    for key, want in [(slice(1, 4), d[1:4]), (2, d[2:3]), (-1, d[4:5]), (slice(None), d)]:
        got = csr[key]
        assert got.stype == 'csr'
        np.testing.assert_array_equal(got.asnumpy(), want)
    got.check_format()


def test_check_format_names_the_problem():
    bad = mx.nd.sparse.row_sparse_array(([[1], [2]], [3, 1]), shape=(4, 1))
    with pytest.raises(mx.MXNetError, match='not strictly increasing'):
        bad.check_format()


# ---- test_utils ------------------------------------------------------------------------------
@pytest.mark.parametrize('stype', ['row_sparse', 'csr'])
def test_rand_ndarray_of_sparse_types(stype):
    np.random.seed(0)
    a = mx.test_utils.rand_ndarray((40, 6), stype, density=0.3)
    assert a.stype == stype and a.shape == (40, 6)
    a.check_format()
    share = (a.asnumpy() != 0).any(axis=1).mean() if stype == 'row_sparse' else \
        (a.asnumpy() != 0).mean()
    assert 0.1 < share < 0.5
    assert mx.test_utils.rand_ndarray((3, 2), stype, density=0).asnumpy().sum() == 0
    full, parts = mx.test_utils.rand_sparse_ndarray((5, 3), stype, density=1,
                                                    modifier_func=lambda x: x + 1)
    assert (full.asnumpy() >= 1).all()
    assert full.data.asnumpy().tolist() == parts[0].tolist()


def test_rand_sparse_ndarray_options():
    np.random.seed(1)
    rsp, (vals, idx) = mx.test_utils.rand_sparse_ndarray((6, 2), 'row_sparse',
                                                         rsp_indices=[4, 1])
    assert idx.tolist() == [1, 4] and rsp.indices.asnumpy().tolist() == [1, 4]
    csr, _ = mx.test_utils.rand_sparse_ndarray((8, 16), 'csr', density=0.3,
                                               distribution='powerlaw', data_init=2)
    host = csr.asnumpy()
    assert set(np.unique(host)) <= {0, 2}
    assert (host != 0).sum(axis=1)[0] == 1 and (host != 0).sum(axis=1)[1] == 2
    shuffled, _ = mx.test_utils.rand_sparse_ndarray((4, 30), 'csr', density=0.5,
                                                    shuffle_csr_indices=True)
    dense_back = mx.nd.sparse.csr_matrix(shuffled.asnumpy())
    np.testing.assert_array_equal(dense_back.asnumpy(), shuffled.asnumpy())


def test_docstring_examples_of_the_sparse_module_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(sp, 'sparse', globs={'mx': mx, 'np': np})
    tests += finder.find(mx.test_utils.rand_sparse_ndarray, 'rand_sparse_ndarray',
                         globs={'rand_sparse_ndarray': mx.test_utils.rand_sparse_ndarray})
    tests += finder.find(mx.test_utils.rand_ndarray, 'rand_ndarray',
                         globs={'rand_ndarray': mx.test_utils.rand_ndarray})
    ran = 0
    for test in tests:
        result = runner.run(test)
        assert result.failed == 0, test.name
        ran += result.attempted
    assert ran > 20
