"""Row-sparse gradients in executors and modules: Embedding(sparse_grad=True) and
SparseEmbedding give MXNet's row_sparse weight gradient, summed by row where a weight is used
twice, kept out of the flat gradient buffers, and trained lazily by Module."""
import numpy as np
import pytest

import distmod as mx

IDS = np.array([[1, 2, 2], [5, 1, 9]], np.float32)


def _embedding(sparse=True, weight=None, name='embed'):
    data = mx.sym.Variable('data')
    kw = {'weight': weight} if weight is not None else {}
    return mx.sym.Embedding(data, input_dim=10, output_dim=3, sparse_grad=sparse, name=name,
                            **kw)


def _backward(sym, wname='embed_weight', grad_req='write', head=None):
    exe = sym.simple_bind(mx.cpu(), data=IDS.shape, grad_req={'data': 'null', wname: grad_req})
    exe.arg_dict['data'][:] = IDS
    exe.arg_dict[wname][:] = np.arange(30, dtype=np.float32).reshape(10, 3)
    exe.forward(is_train=True)
    out_shape = exe.outputs[0].shape
    exe.backward(mx.nd.array(head if head is not None else
                             np.random.RandomState(0).randn(*out_shape)))
    return exe, exe.grad_dict[wname]


def test_embedding_with_sparse_grad_gives_a_row_sparse_gradient():
    exe, g = _backward(_embedding())
    assert g.stype == 'row_sparse'
    assert g.indices.asnumpy().tolist() == [1, 2, 5, 9]         # the rows looked up
    _, dense = _backward(_embedding(sparse=False))
    assert dense.stype == 'default'
    np.testing.assert_allclose(g.asnumpy(), dense.asnumpy(), rtol=1e-6)
    # a second backward replaces the rows (grad_req='write')
    exe.arg_dict['data'][:] = np.zeros_like(IDS)
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones(exe.outputs[0].shape))
    assert g.indices.asnumpy().tolist() == [0]
    np.testing.assert_array_equal(g.data.asnumpy(), [[6, 6, 6]])


def test_sparse_embedding_operator():
    w = mx.sym.Variable('embed_weight', stype='row_sparse')
    sym = mx.sym.contrib.SparseEmbedding(data=mx.sym.Variable('data'), weight=w, input_dim=10,
                                         output_dim=3, name='embed')
    assert sym.list_arguments() == ['data', 'embed_weight']
    assert '_contrib_SparseEmbedding' in sym.tojson()
    _, g = _backward(sym)
    _, dense = _backward(_embedding(sparse=False))
    assert g.stype == 'row_sparse'
    np.testing.assert_allclose(g.asnumpy(), dense.asnumpy(), rtol=1e-6)
    np.testing.assert_array_equal(
        mx.nd.contrib.SparseEmbedding(mx.nd.array([2, 0]), mx.nd.arange(6).reshape((3, 2)),
                                      input_dim=3, output_dim=2).asnumpy(), [[4, 5], [0, 1]])


def test_a_weight_used_twice_sums_its_row_sparse_gradients_by_row():
    w = mx.sym.Variable('w')
    ids2 = np.array([[0, 9, 9], [3, 3, 1]], np.float32)

    def grad(sparse):
        a = mx.sym.Embedding(mx.sym.Variable('data'), weight=w, input_dim=10, output_dim=3,
                             sparse_grad=sparse, name='a')
        b = mx.sym.Embedding(mx.sym.Variable('data2'), weight=w, input_dim=10, output_dim=3,
                             sparse_grad=sparse, name='b')
        exe = (a + 2 * b).simple_bind(mx.cpu(), data=IDS.shape, data2=ids2.shape,
                                      grad_req={'data': 'null', 'data2': 'null', 'w': 'write'})
        exe.arg_dict['data'][:] = IDS
        exe.arg_dict['data2'][:] = ids2
        exe.forward(is_train=True)
        exe.backward(mx.nd.array(np.random.RandomState(0).randn(2, 3, 3)))
        return exe.grad_dict['w']

    g = grad(True)
    assert g.stype == 'row_sparse' and g.indices.asnumpy().tolist() == [0, 1, 2, 3, 5, 9]
    np.testing.assert_allclose(g.asnumpy(), grad(False).asnumpy(), rtol=1e-5)


def test_dense_gradient_when_another_operator_reads_the_weight_or_grad_req_is_add():
    w = mx.sym.Variable('w')
    mixed = mx.sym.FullyConnected(_embedding(weight=w), weight=w, num_hidden=10, no_bias=True,
                                  flatten=False)
    exe, g = _backward(mixed, 'w')
    assert g.stype == 'default'
    _, added = _backward(_embedding(), grad_req='add')
    assert added.stype == 'default'


def test_bind_with_a_row_sparse_gradient_array():
    sym = _embedding()
    w = mx.nd.array(np.arange(30).reshape(10, 3))
    grad = mx.nd.sparse.zeros('row_sparse', (10, 3))
    exe = sym.bind(mx.cpu(), {'data': mx.nd.array(IDS), 'embed_weight': w},
                   args_grad={'embed_weight': grad}, grad_req={'data': 'null',
                                                               'embed_weight': 'write'})
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((2, 3, 3)))
    assert exe.grad_dict['embed_weight'] is grad
    assert grad.indices.asnumpy().tolist() == [1, 2, 5, 9]
    fc = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2, name='fc')
    with pytest.raises(mx.MXNetError, match="gradient of 'fc_weight' is row_sparse"):
        fc.bind(mx.cpu(), {'data': mx.nd.ones((1, 3)), 'fc_weight': mx.nd.ones((2, 3)),
                           'fc_bias': mx.nd.ones(2)},
                args_grad={'fc_weight': mx.nd.sparse.zeros('row_sparse', (2, 3))})


def test_sparse_helper_operators_in_symbols():
    x = mx.sym.Variable('x')
    sym = mx.sym.Group([mx.sym._internal._square_sum(x, axis=1, keepdims=True),
                        mx.sym.cast_storage(x, stype='row_sparse'),
                        mx.sym.sparse.retain(x, mx.sym.Variable('rows'))])
    data = np.random.RandomState(2).randn(4, 3).astype(np.float32)
    exe = sym.simple_bind(mx.cpu(), x=(4, 3), rows=(2,), grad_req={'x': 'write',
                                                                   'rows': 'null'})
    exe.arg_dict['x'][:] = data
    exe.arg_dict['rows'][:] = [3, 1]
    outs = exe.forward(is_train=True)
    np.testing.assert_allclose(outs[0].asnumpy(), (data ** 2).sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(outs[1].asnumpy(), data)
    want = np.zeros_like(data)
    want[[1, 3]] = data[[1, 3]]
    np.testing.assert_array_equal(outs[2].asnumpy(), want)
    exe.backward([mx.nd.ones((4, 1)), mx.nd.ones((4, 3)), mx.nd.ones((4, 3))])
    mask = np.zeros((4, 1))
    mask[[1, 3]] = 1
    np.testing.assert_allclose(exe.grad_dict['x'].asnumpy(), 2 * data + 1 + mask, rtol=1e-6)


def _module(optimizer='sgd', **params):
    emb = _embedding()
    fc = mx.sym.FullyConnected(mx.sym.sum(emb, axis=1), num_hidden=2, name='fc')
    net = mx.sym.SoftmaxOutput(fc, name='softmax')
    mod = mx.mod.Module(net)
    mod.bind([('data', (4, 3))], [('softmax_label', (4,))])
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer=optimizer, optimizer_params=params)
    return mod


def test_module_keeps_row_sparse_gradients_out_of_the_flat_buffers():
    mod = _module()
    group = mod._exec_group
    assert group.sparse_grad_names == ['embed_weight']
    assert 'embed_weight' not in group.grad_buffers[0].views
    assert group.execs[0].grad_dict['embed_weight'].stype == 'row_sparse'
    assert group.grad_arrays[group.param_names.index('embed_weight')][0].stype == 'row_sparse'


@pytest.mark.parametrize('optimizer,params', [
    ('sgd', {'learning_rate': 0.5, 'momentum': 0.9, 'wd': 0.01}),
    ('adam', {'learning_rate': 0.05, 'wd': 0.01})])
def test_module_updates_only_the_rows_a_batch_looks_up(optimizer, params):
    mod = _module(optimizer, **params)
    before = mod.get_params()[0]['embed_weight'].asnumpy()
    batch = mx.io.DataBatch([mx.nd.array([[0, 1, 2], [2, 3, 3], [1, 1, 0], [3, 2, 1]])],
                            [mx.nd.array([0, 1, 0, 1])])
    for _ in range(3):
        mod.forward(batch)
        mod.backward()
        mod.update()
    after = mod.get_params()[0]['embed_weight'].asnumpy()
    np.testing.assert_array_equal(after[4:], before[4:])        # never looked up: untouched
    assert not np.allclose(after[:4], before[:4])


def test_module_with_sparse_embeddings_learns_on_several_devices():
    np.random.seed(0)
    x = np.random.randint(0, 10, size=(200, 3)).astype(np.float32)
    y = (x[:, 0] < 5).astype(np.float32)
    emb = _embedding()
    fc = mx.sym.FullyConnected(mx.sym.flatten(emb), num_hidden=2, name='fc')
    net = mx.sym.SoftmaxOutput(fc, name='softmax')
    it = mx.io.NDArrayIter(x, y, batch_size=20, shuffle=True)
    mod = mx.mod.Module(net, context=[mx.cpu(0), mx.cpu(1)])
    mx.random.seed(1)
    mod.fit(it, num_epoch=10, optimizer='adam', optimizer_params={'learning_rate': 0.05},
            initializer=mx.init.Xavier())
    assert mod._exec_group.execs[1].grad_dict['embed_weight'].stype == 'row_sparse'
    assert mod.score(it, 'acc')[0][1] > 0.9
