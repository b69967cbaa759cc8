"""mx.kv with row-sparse values in one process: push sums rows, pull and row_sparse_pull
copy what MXNet copies, the updater sees row-sparse gradients."""
import numpy as np
import pytest

import distmod as mx


def _rsp(rows, shape=(6, 2), scale=1.0):
    vals = np.stack([np.full(shape[1:], (i + 1) * scale, np.float32) for i in rows])
    return mx.nd.sparse.row_sparse_array((vals, rows), shape=shape)


def _dense(value):
    out = mx.nd.zeros(value.shape)
    value.copyto(out)
    return out.asnumpy()


def test_push_over_devices_sums_the_union_of_rows_and_replaces_the_value():
    kv = mx.kv.create('local')
    kv.init('e', mx.nd.ones((6, 2)).tostype('row_sparse'))
    parts = [_rsp([1, 4]).copyto(mx.cpu(i)) for i in range(3)] + [_rsp([4, 5])]
    kv.push('e', parts)
    want = sum(_dense(p) for p in parts)
    got = mx.nd.zeros((6, 2))
    kv.pull('e', out=got)
    np.testing.assert_array_equal(got.asnumpy(), want)         # rows 0, 2, 3 are now zero
    rsp = mx.nd.sparse.zeros('row_sparse', (6, 2))
    kv.pull('e', out=rsp, ignore_sparse=False)
    assert rsp.indices.asnumpy().tolist() == [1, 4, 5]          # the pushed rows only


def test_pull_into_a_row_sparse_out_is_skipped_unless_asked():
    kv = mx.kv.create('local')
    kv.init(3, mx.nd.ones((4, 2)) * 2)
    out = mx.nd.sparse.zeros('row_sparse', (4, 2))
    kv.pull(3, out=out)
    assert out.indices.shape == (0,)                            # ignored, as in MXNet
    kv.pull(3, out=out, ignore_sparse=False)
    np.testing.assert_array_equal(out.asnumpy(), np.full((4, 2), 2.0))
    kv.pushpull(3, _rsp([0], shape=(4, 2)), out=out)            # pushpull pulls as pull does
    dense = mx.nd.zeros((4, 2))
    kv.pull(3, out=dense)
    np.testing.assert_array_equal(dense.asnumpy()[0], [1, 1])


def test_row_sparse_pull_gives_each_requested_row_once_in_order():
    kv = mx.kv.create('local')
    w = np.arange(12, dtype=np.float32).reshape(6, 2)
    kv.init('w', mx.nd.array(w).tostype('row_sparse'))
    out = mx.nd.sparse.zeros('row_sparse', (6, 2))
    kv.row_sparse_pull('w', out=out, row_ids=mx.nd.array([4, 1, 1, 4, 0]))
    assert out.indices.asnumpy().tolist() == [0, 1, 4]
    np.testing.assert_array_equal(out.data.asnumpy(), w[[0, 1, 4]])
    kv.row_sparse_pull('w', out=out, row_ids=mx.nd.array([[5, 3], [3, 5]]))   # any shape
    assert out.indices.asnumpy().tolist() == [3, 5]
    outs = [mx.nd.sparse.zeros('row_sparse', (6, 2), ctx=mx.cpu(i)) for i in range(3)]
    kv.row_sparse_pull('w', out=outs, row_ids=mx.nd.array([2]))  # one row_ids for all
    for i, o in enumerate(outs):
        assert o.context == mx.cpu(i) and o.indices.asnumpy().tolist() == [2]
    kv.row_sparse_pull('w', out=outs, row_ids=[mx.nd.array([i]) for i in range(3)])
    assert [o.indices.asnumpy().tolist() for o in outs] == [[0], [1], [2]]


def test_row_sparse_pull_of_absent_rows_and_of_an_empty_value():
    kv = mx.kv.create('local')
    kv.init(['a', 'z', 'd'], [_rsp([2]), mx.nd.sparse.zeros('row_sparse', (6, 2)),
                              mx.nd.ones((6, 2))])
    out = mx.nd.sparse.zeros('row_sparse', (6, 2))
    kv.row_sparse_pull('a', out=out, row_ids=mx.nd.array([0, 2, 3]))
    assert out.indices.asnumpy().tolist() == [0, 2, 3]          # absent rows come as zeros
    np.testing.assert_array_equal(out.data.asnumpy(), [[0, 0], [3, 3], [0, 0]])
    kv.row_sparse_pull('z', out=out, row_ids=mx.nd.array([0, 1]))
    assert out.indices.shape == (0,)                            # MXNet: nothing stored
    kv.row_sparse_pull('d', out=out, row_ids=mx.nd.array([5]))  # a dense value works too
    np.testing.assert_array_equal(out.asnumpy()[5], [1, 1])


def test_row_sparse_pull_errors():
    kv = mx.kv.create('local')
    kv.init('w', mx.nd.ones((4, 2)).tostype('row_sparse'))
    with pytest.raises(mx.MXNetError, match='row_sparse outputs'):
        kv.row_sparse_pull('w', out=mx.nd.zeros((4, 2)), row_ids=mx.nd.array([1]))
    out = mx.nd.sparse.zeros('row_sparse', (4, 2))
    with pytest.raises(mx.MXNetError, match=r'out of range for key .w. of 4 rows'):
        kv.row_sparse_pull('w', out=out, row_ids=mx.nd.array([4]))
    with pytest.raises(mx.MXNetError, match='must be integers'):
        kv.row_sparse_pull('w', out=out, row_ids=mx.nd.array([1.5]))
    with pytest.raises(mx.MXNetError, match='has not been initialised'):
        kv.row_sparse_pull('nope', out=out, row_ids=mx.nd.array([1]))
    with pytest.raises(mx.MXNetError, match=r'shape \(4, 2\) but out has shape \(3, 2\)'):
        kv.row_sparse_pull('w', out=mx.nd.sparse.zeros('row_sparse', (3, 2)),
                           row_ids=mx.nd.array([1]))
    with pytest.raises(mx.MXNetError, match='dense or row_sparse'):
        kv.push('w', mx.nd.ones((4, 2)).tostype('csr'))


def test_updater_receives_row_sparse_sums():
    seen = []

    def updater(key, grad, weight):
        seen.append((key, grad.stype, weight.stype, grad.indices.asnumpy().tolist()))
        weight += grad

    kv = mx.kv.create('local')
    kv._set_updater(updater)
    kv.init(3, mx.nd.zeros((6, 2)))
    kv.push(3, [_rsp([2]), _rsp([4, 2])])
    assert seen == [(3, 'row_sparse', 'default', [2, 4])]
    out = mx.nd.zeros((6, 2))
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out.asnumpy()[[2, 4]], [[6, 6], [5, 5]])


def test_optimizer_on_the_store_updates_only_the_pushed_rows():
    kv = mx.kv.create('local')
    kv.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.5, momentum=0.9, wd=0.1))
    kv.init('emb', mx.nd.ones((6, 2)))
    kv.init('rsp', mx.nd.ones((6, 2)).tostype('row_sparse'))
    for key in ('emb', 'rsp'):
        kv.push(key, _rsp([1, 3]))
        out = mx.nd.zeros((6, 2))
        kv.pull(key, out=out)
        got = out.asnumpy()
        np.testing.assert_array_equal(got[[0, 2, 4, 5]], np.ones((4, 2)))   # untouched
        np.testing.assert_allclose(got[1], 1 - 0.5 * (0.1 + 2), rtol=1e-6)


def test_row_sparse_values_on_the_store_keep_their_dtype():
    kv = mx.kv.create('local')
    kv.init('h', mx.nd.zeros((4, 3), dtype='float64').tostype('row_sparse'))
    kv.push('h', mx.nd.sparse.row_sparse_array((np.ones((1, 3)), [2]), shape=(4, 3)))
    out = mx.nd.sparse.zeros('row_sparse', (4, 3), dtype='float64')
    kv.row_sparse_pull('h', out=out, row_ids=mx.nd.array([2]))
    assert out.dtype == np.float64 and out.data.asnumpy().tolist() == [[1.0, 1.0, 1.0]]


def test_docstring_example_of_mx_kv_runs():
    import doctest
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mx.kvstore, 'mx.kv', globs={'mx': mx, 'np': np}):
        assert runner.run(test).failed == 0
        assert 'row_sparse_pull' in test.docstring
