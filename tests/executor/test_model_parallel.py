"""Model parallelism: nodes placed by their ctx_group on group2ctx's contexts, copies where
the graph crosses contexts, and the same numbers as without placement."""
import numpy as np
import pytest

import distmod as mx


def _graph():
    with mx.AttrScope(ctx_group='dev1'):
        a = mx.sym.Variable('a')
        h = mx.sym.FullyConnected(a * 2, num_hidden=4, name='fc1')
    with mx.AttrScope(ctx_group='dev2'):
        b = mx.sym.Variable('b')
        out = mx.sym.FullyConnected(mx.sym.tanh(h) + b, num_hidden=3, name='fc2')
    return out


def _run(exe, seed=0):
    rng = np.random.RandomState(seed)
    for name, arr in sorted(exe.arg_dict.items()):
        arr[:] = rng.uniform(-1, 1, arr.shape)
    out = exe.forward(is_train=True)[0].asnumpy()
    exe.backward([mx.nd.ones(out.shape)])
    return out, {k: g.asnumpy() for k, g in exe.grad_dict.items() if g is not None}


def test_placed_graph_computes_what_the_plain_one_does_and_arrays_live_on_their_groups():
    net = _graph()
    g2c = {'dev1': mx.cpu(1), 'dev2': mx.cpu(2)}
    placed = net.simple_bind(mx.cpu(0), a=(5, 6), b=(5, 4), group2ctx=g2c)
    plain = net.simple_bind(mx.cpu(0), a=(5, 6), b=(5, 4))
    out1, grads1 = _run(placed)
    out2, grads2 = _run(plain)
    np.testing.assert_allclose(out1, out2, rtol=1e-6)
    for k in grads2:
        np.testing.assert_allclose(grads1[k], grads2[k], rtol=1e-6, err_msg=k)
    assert placed.arg_dict['a'].context == mx.cpu(1)
    assert placed.grad_dict['fc1_weight'].context == mx.cpu(1)
    assert placed.arg_dict['b'].context == mx.cpu(2)
    assert placed.grad_dict['fc2_weight'].context == mx.cpu(2)
    assert placed.outputs[0].context == mx.cpu(2)
    ops = [n['op'] for n in __import__('json').loads(
        placed.get_optimized_symbol().tojson())['nodes']]
    assert ops.count('_CrossDeviceCopy') == 1           # tanh(fc1) crosses from dev1 to dev2


def test_module_with_group2ctxs_trains_like_one_without():
    net = mx.sym.LinearRegressionOutput(_graph(), name='lro')
    rng = np.random.RandomState(1)
    a, b, y = rng.rand(40, 6), rng.rand(40, 4), rng.rand(40, 3)
    results = []
    for g2c in (None, {'dev1': mx.cpu(1), 'dev2': [mx.cpu(2)]}):
        mx.random.seed(3)
        mod = mx.mod.Module(net, data_names=['a', 'b'], label_names=['lro_label'],
                            group2ctxs=g2c)
        it = mx.io.NDArrayIter({'a': a, 'b': b}, {'lro_label': y}, batch_size=10)
        mod.fit(it, num_epoch=2, optimizer_params={'learning_rate': 0.1})
        arg, _ = mod.get_params()
        results.append({k: v.asnumpy() for k, v in arg.items()})
    for k in results[0]:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-5, err_msg=k)


def test_group2ctxs_per_device_forms_and_errors():
    from distmod.executor.group import _group2ctxs_per_device as per_device
    c = [mx.cpu(i) for i in range(4)]
    assert per_device({'g': c[1]}, 2) == [{'g': c[1]}, {'g': c[1]}]
    assert per_device({'g': [c[1], c[2]]}, 2) == [{'g': c[1]}, {'g': c[2]}]
    assert per_device([{'g': c[1]}, {'g': c[3]}], 2) == [{'g': c[1]}, {'g': c[3]}]
    with pytest.raises(mx.MXNetError, match=r"group2ctxs\['g'\] has 3 contexts for 2"):
        per_device({'g': c[:3]}, 2)
