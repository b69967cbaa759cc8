"""Row-sparse gradients in the optimizers: SGD and Adam update lazily (only the gradient's rows,
their weight decay and state rows included) unless ``lazy_update=False``, which is the dense
update; every other optimizer uses the gradient as the dense array it stands for."""
import numpy as np
import pytest

import distmod as mx

W = np.random.RandomState(0).randn(6, 3).astype(np.float32)
G = np.random.RandomState(1).randn(2, 3).astype(np.float32) * 3
ROWS = [np.array([1, 4]), np.array([0, 4]), np.array([1, 4])]


def _grads():
    for step, rows in enumerate(ROWS):
        yield rows, G * (step + 1)


def _run(name, rsp, weight_stype='default', **kw):
    upd = mx.optimizer.get_updater(mx.optimizer.create(name, **kw))
    w = mx.nd.array(W)
    if weight_stype != 'default':
        w = w.tostype(weight_stype)
    for rows, vals in _grads():
        if rsp:
            g = mx.nd.sparse.row_sparse_array((vals, rows), shape=W.shape)
        else:
            dense = np.zeros_like(W)
            dense[rows] = vals
            g = mx.nd.array(dense)
        upd(0, g, w)
    st = upd.states[0]
    states = [s.asnumpy() for s in (st if isinstance(st, tuple) else (st,)) if s is not None]
    return w.asnumpy(), states


def _sgd_reference(lr, wd=0., momentum=0., clip=None, rescale=1., lazy=True):
    w, m = W.astype(np.float64), np.zeros(W.shape)
    for rows, vals in _grads():
        g = np.zeros(W.shape)
        g[rows] = vals
        r = rows if lazy else np.arange(len(W))
        step = rescale * g[r]
        if clip:
            step = np.clip(step, -clip, clip)
        if momentum:
            m[r] = momentum * m[r] - lr * wd * w[r] - lr * step
            w[r] += m[r]
        else:
            w[r] = (1 - lr * wd) * w[r] - lr * step
    return w, m


def _adam_reference(lr, wd=0., clip=None, rescale=1., lazy=True, b1=.9, b2=.999, eps=1e-8):
    w, m, v = W.astype(np.float64), np.zeros(W.shape), np.zeros(W.shape)
    for t, (rows, vals) in enumerate(_grads(), 1):
        g = np.zeros(W.shape)
        g[rows] = vals
        r = rows if lazy else np.arange(len(W))
        step = rescale * g[r] + wd * w[r]
        if clip:
            step = np.clip(step, -clip, clip)
        m[r] = b1 * m[r] + (1 - b1) * step
        v[r] = b2 * v[r] + (1 - b2) * step ** 2
        w[r] -= lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[r] / (np.sqrt(v[r]) + eps)
    return w, m, v


SGD_CASES = [dict(learning_rate=0.1), dict(learning_rate=0.1, wd=0.1),
             dict(learning_rate=0.1, wd=0.1, momentum=0.9),
             dict(learning_rate=0.1, wd=0.1, momentum=0.9, clip_gradient=1.0, rescale_grad=.5)]
ADAM_CASES = [dict(learning_rate=0.1), dict(learning_rate=0.1, wd=0.1),
              dict(learning_rate=0.1, wd=0.1, clip_gradient=1.0, rescale_grad=0.5)]


@pytest.mark.parametrize('lazy', [True, False])
@pytest.mark.parametrize('kw', SGD_CASES)
@pytest.mark.parametrize('weight_stype', ['default', 'row_sparse'])
def test_sgd_with_row_sparse_gradients(kw, lazy, weight_stype):
    w, states = _run('sgd', True, weight_stype, lazy_update=lazy, **kw)
    want_w, want_m = _sgd_reference(kw['learning_rate'], kw.get('wd', 0.),
                                    kw.get('momentum', 0.), kw.get('clip_gradient'),
                                    kw.get('rescale_grad', 1.), lazy)
    np.testing.assert_allclose(w, want_w, rtol=1e-5, atol=1e-6)
    if kw.get('momentum'):
        np.testing.assert_allclose(states[0], want_m, rtol=1e-5, atol=1e-6)
    if lazy:
        np.testing.assert_array_equal(w[[2, 3, 5]], W[[2, 3, 5]])   # never in a gradient


@pytest.mark.parametrize('lazy', [True, False])
@pytest.mark.parametrize('kw', ADAM_CASES)
def test_adam_with_row_sparse_gradients(kw, lazy):
    w, (mean, var) = _run('adam', True, lazy_update=lazy, **kw)
    want_w, want_m, want_v = _adam_reference(kw['learning_rate'], kw.get('wd', 0.),
                                             kw.get('clip_gradient'),
                                             kw.get('rescale_grad', 1.), lazy)
    np.testing.assert_allclose(w, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean, want_m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, want_v, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('name', ['sgd', 'adam'])
def test_lazy_update_without_a_sparse_gradient_is_the_dense_update(name):
    # lazy_update only matters to row-sparse gradients; and it is the dense arithmetic: the
    # same bits as a dense gradient holding the same numbers wherever the rows are the same
    kw = dict(learning_rate=0.1, wd=0.1, **({'momentum': 0.9} if name == 'sgd' else {}))
    dense_w, _ = _run(name, False, lazy_update=True, **kw)
    std_w, _ = _run(name, True, lazy_update=False, **kw)
    np.testing.assert_array_equal(dense_w, std_w)


@pytest.mark.parametrize('name,kw', [('rmsprop', {'wd': 0.1}), ('adagrad', {'wd': 0.1}),
                                     ('nag', {'momentum': 0.9, 'wd': 0.1}),
                                     ('ftrl', {'wd': 0.1}), ('adadelta', {}), ('signum', {})])
def test_other_optimizers_use_the_row_sparse_gradient_densely(name, kw):
    sparse_w, sparse_s = _run(name, True, learning_rate=0.05, **kw)
    dense_w, dense_s = _run(name, False, learning_rate=0.05, **kw)
    np.testing.assert_array_equal(sparse_w, dense_w)
    for a, b in zip(sparse_s, dense_s):
        np.testing.assert_array_equal(a, b)


def test_row_sparse_weights_are_updated_as_full_arrays():
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd', learning_rate=1.0))
    w = mx.nd.sparse.row_sparse_array(([[1, 1]], [2]), shape=(4, 2))
    upd(0, mx.nd.sparse.row_sparse_array(([[1, 2]], [0]), shape=(4, 2)), w)
    assert w.stype == 'row_sparse' and w.indices.asnumpy().tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(w.asnumpy(), [[-1, -2], [0, 0], [1, 1], [0, 0]])


def test_multi_precision_sgd_with_a_row_sparse_gradient():
    opt = mx.optimizer.create('sgd', learning_rate=0.5, momentum=0.5, multi_precision=True)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.ones((3, 2), dtype='float16')
    g = mx.nd.sparse.row_sparse_array((np.ones((1, 2), np.float16), [1]), shape=(3, 2))
    upd(0, g, w)
    upd(0, g, w)
    np.testing.assert_allclose(w.asnumpy(), [[1, 1], [-0.25, -0.25], [1, 1]])
    assert upd.states[0][1].dtype == np.float32


def test_unsorted_row_sparse_gradient_rows_are_summed_first():
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd', learning_rate=1.0))
    w = mx.nd.zeros((4, 1))
    g = mx.nd.sparse.row_sparse_array(([[1], [2], [4]], [3, 0, 3]), shape=(4, 1))
    upd(0, g, w)
    np.testing.assert_array_equal(w.asnumpy().ravel(), [-2, 0, 0, -5])
