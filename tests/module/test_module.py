"""Module: fit/score/predict, checkpoints both ways with MXNet, several devices, errors."""
import logging
import os
import subprocess

import numpy as np
import pytest

import distmod as mx

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'mxnet')
VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')


def mlp(hidden=32):
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=hidden, name='fc1')
    net = mx.sym.Activation(net, act_type='relu', name='relu1')
    net = mx.sym.FullyConnected(net, num_hidden=4, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def blobs(n=600, dim=10, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4, dim)) * 2
    y = rng.integers(0, 4, n)
    return (centers[y] + rng.standard_normal((n, dim))).astype(np.float32), y.astype(np.float32)


def iters(batch=50):
    x, y = blobs()
    return (mx.io.NDArrayIter(x[:400], y[:400], batch_size=batch, shuffle=True),
            mx.io.NDArrayIter(x[400:], y[400:], batch_size=batch))


def trained(num_epoch=4, **kwargs):
    mx.random.seed(0)
    train, val = iters()
    mod = mx.mod.Module(mlp(), **kwargs)
    mod.fit(train, eval_data=val, num_epoch=num_epoch, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9},
            initializer=mx.init.Xavier())
    return mod, val


def test_fit_trains_and_logs_like_mxnet(caplog):
    with caplog.at_level(logging.INFO):
        mod, val = trained()
    text = caplog.text
    for line in ('Epoch[0] Train-accuracy=', 'Epoch[0] Time cost=', 'Epoch[3] Validation-accuracy='):
        assert line in text
    (name, acc), = mod.score(val, 'acc')
    assert name == 'accuracy' and acc > 0.95


def test_predict_drops_padding_and_iter_predict():
    mod, _ = trained(num_epoch=1)
    x, _ = blobs(n=123, seed=5)
    it = mx.io.NDArrayIter(x, batch_size=50)
    out = mod.predict(it)
    assert out.shape == (123, 4)
    np.testing.assert_allclose(out.asnumpy().sum(axis=1), 1, rtol=1e-5)
    pieces = [o[0].shape[0] for o, _, _ in mod.iter_predict(it)]
    assert pieces == [50, 50, 23]
    lst = mod.predict(it, merge_batches=False)
    assert len(lst) == 3 and lst[2][0].shape == (23, 4)


def test_checkpoint_round_trip_and_resume(tmp_path):
    mod, val = trained(num_epoch=2)
    prefix = str(tmp_path / 'mlp')
    mod.save_checkpoint(prefix, 2, save_optimizer_states=True)
    assert sorted(os.listdir(tmp_path)) == ['mlp-0002.json', 'mlp-0002.params',
                                            'mlp-0002.states', 'mlp-symbol.json']
    loaded = mx.mod.Module.load(prefix, 2, load_optimizer_states=True)
    loaded.bind(data_shapes=val.provide_data, label_shapes=val.provide_label)
    np.testing.assert_allclose(loaded.predict(val).asnumpy(), mod.predict(val).asnumpy(),
                               rtol=1e-6)
    sym, arg, aux = mx.model.load_checkpoint(prefix, 2)
    resumed = mx.mod.Module(sym)
    train, _ = iters()
    resumed.fit(train, num_epoch=3, begin_epoch=2, arg_params=arg, aux_params=aux,
                optimizer_params={'learning_rate': 0.01})
    assert resumed.score(val, 'acc')[0][1] > 0.9
    loaded.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.1,
                                                              'momentum': 0.9})
    assert loaded._updater.states     # the momentum came back from the .states file


def test_do_checkpoint_callback(tmp_path):
    train, _ = iters()
    mod = mx.mod.Module(mlp())
    prefix = str(tmp_path / 'cb')
    mod.fit(train, num_epoch=2, epoch_end_callback=mx.callback.do_checkpoint(prefix))
    # inside fit the checkpoint is whole: the optimizer's states and the manifest come too
    assert sorted(os.listdir(tmp_path)) == ['cb-0001.json', 'cb-0001.params', 'cb-0001.states',
                                          'cb-0002.json', 'cb-0002.params', 'cb-0002.states',
                                          'cb-symbol.json']


def test_two_devices_match_one():
    x, y = blobs(n=40)
    results = []
    for ctx in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        mx.random.seed(1)
        mod = mx.mod.Module(mlp(), context=ctx)
        it = mx.io.NDArrayIter(x, y, batch_size=40)
        mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.5})
        batch = next(iter(it))
        for _ in range(3):
            mod.forward_backward(batch)
            mod.update()
        results.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    for k in results[0]:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-5, atol=1e-6)


def test_mxnet_checkpoint_predicts_what_mxnet_computed():
    io_arrays = mx.nd.load(os.path.join(FIX, 'mlp-io.params'))
    mod = mx.mod.Module.load(os.path.join(FIX, 'mlp'), 0)
    data = io_arrays['data']
    mod.bind(data_shapes=[('data', data.shape)], for_training=False)
    out = mod.predict(mx.io.NDArrayIter(data, batch_size=data.shape[0]))
    np.testing.assert_allclose(out.asnumpy(), io_arrays['out:0'].asnumpy(), rtol=1e-4,
                               atol=1e-6)


@pytest.mark.skipif(not os.path.exists(VENV_PY), reason='reference MXNet venv not found at %s '
                    '(build it with ../shared/anchors/mxnet-venv.sh)' % VENV_PY)
def test_our_checkpoint_loads_in_mxnet(tmp_path):
    mod, _ = trained(num_epoch=1)
    prefix = str(tmp_path / 'ours')
    mod.save_checkpoint(prefix, 1)
    x, _ = blobs(n=20, seed=9)
    np.save(str(tmp_path / 'x.npy'), x)
    ours = mod.predict(mx.io.NDArrayIter(x, batch_size=20)).asnumpy()
    code = ('import sys, numpy as np, mxnet as mx\n'
            'p = sys.argv[1]\n'
            'mod = mx.mod.Module.load(p + "/ours", 1, label_names=None)\n'
            'x = np.load(p + "/x.npy")\n'
            'mod.bind(data_shapes=[("data", x.shape)], for_training=False)\n'
            'np.save(p + "/theirs.npy", mod.predict(mx.io.NDArrayIter(x, batch_size=20)).asnumpy())\n')
    subprocess.run([VENV_PY, '-c', code, str(tmp_path)], check=True, timeout=300,
                   env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True)
    np.testing.assert_allclose(ours, np.load(str(tmp_path / 'theirs.npy')), rtol=1e-5,
                               atol=1e-6)


def test_bad_input_is_named():
    with pytest.raises(mx.MXNetError, match="input with name 'image' is not found"):
        mx.mod.Module(mlp(), data_names=['image'])
    mod = mx.mod.Module(mlp())
    with pytest.raises(mx.MXNetError, match=r"data_shapes don't match names specified by "
                                            r"data_names \(\['x'\] vs. \['data'\]\)"):
        mod.bind(data_shapes=[('x', (5, 10))])
    mod.bind(data_shapes=[('data', (5, 10))], label_shapes=[('softmax_label', (5,))])
    with pytest.raises(mx.MXNetError, match='fc1_bias is not presented'):
        mod.init_params(arg_params={'fc1_weight': mx.nd.zeros((32, 10))})
    with pytest.raises(mx.MXNetError, match="'fc1_weight' has shape"):
        mod.init_params(arg_params={'fc1_weight': mx.nd.zeros((3, 3))}, allow_missing=True,
                        force_init=True)
    with pytest.raises(mx.MXNetError, match='init_optimizer'):
        mx.mod.Module(mlp()).update()


def test_input_grads_states_monitor_and_reshape():
    x, y = blobs(n=20)
    it = mx.io.NDArrayIter(x, y, batch_size=10)
    mod = mx.mod.Module(mlp())
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label, inputs_need_grad=True)
    mod.init_params(mx.init.Xavier())
    batch = next(iter(it))
    mod.forward_backward(batch)
    (g,) = mod.get_input_grads()
    assert g.shape == (10, 10) and np.abs(g.asnumpy()).sum() > 0
    assert mod.output_shapes == [('softmax_output', (10, 4))]
    mon = mx.monitor.Monitor(1, pattern='fc.*')
    mod.install_monitor(mon)
    mon.tic()
    mod.forward(batch, is_train=False)
    names = [k for _, k, _ in mon.toc()]
    assert 'fc1_output' in names and 'fc2_weight' in names and 'relu1_output' not in names
    mod.reshape(data_shapes=[('data', (4, 10))], label_shapes=[('softmax_label', (4,))])
    mod.forward(mx.io.DataBatch([mx.nd.array(x[:4])], [mx.nd.array(y[:4])]), is_train=False)
    assert mod.get_outputs()[0].shape == (4, 4)
    # a smaller batch reshapes on the fly, as MXNet's forward does
    mod.forward(mx.io.DataBatch([mx.nd.array(x[:3])], [mx.nd.array(y[:3])]), is_train=False)
    assert mod.get_outputs()[0].shape == (3, 4)


def test_states_and_fixed_params():
    data = mx.sym.Variable('data')
    state = mx.sym.Variable('state')
    net = mx.sym.FullyConnected(data, num_hidden=3, name='fc') + state
    mod = mx.mod.Module(mx.sym.MakeLoss(net, name='loss'), label_names=None,
                        state_names=['state'], fixed_param_names=['fc_bias'])
    mod.bind(data_shapes=[('data', (2, 4))])
    mod.init_params(mx.init.One())
    mod.set_states(value=1.5)
    assert mod.get_states()[0].asnumpy().tolist() == [[1.5] * 3] * 2
    mod.init_optimizer(optimizer_params={'learning_rate': 1.0})
    mod.forward_backward(mx.io.DataBatch([mx.nd.ones((2, 4))], None))
    mod.update()
    arg, _ = mod.get_params()
    assert (arg['fc_bias'].asnumpy() == 0).all()            # fixed: not trained (Zero bias)
    assert (arg['fc_weight'].asnumpy() != 1).all()


def test_truncated_params_file_is_named(tmp_path):
    mod, _ = trained(num_epoch=1)
    prefix = str(tmp_path / 'cut')
    mod.save_checkpoint(prefix, 1)
    with open(prefix + '-0001.params', 'rb') as f:
        raw = f.read()
    with open(prefix + '-0001.params', 'wb') as f:
        f.write(raw[:len(raw) // 2])
    with pytest.raises(mx.MXNetError, match='cut-0001.params.*truncated'):
        mx.mod.Module.load(prefix, 1)


def test_shapes_that_do_not_fit_the_symbol_are_named():
    data = mx.sym.Variable('data')
    net = mx.sym.Reshape(data, shape=(0, 3, -1), name='rs')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=2, name='fc'), name='sm')
    mod = mx.mod.Module(net, label_names=['sm_label'])
    with pytest.raises(mx.MXNetError, match=r"Module.bind with data \[\('data', \(5, 10\)\)\].*'rs'"):
        mod.bind(data_shapes=[('data', (5, 10))], label_shapes=[('sm_label', (5,))])
    with pytest.raises(mx.MXNetError, match=r"group2ctxs\['dev1'\] has 2 contexts for 1"):
        mx.mod.Module(net, label_names=['sm_label'],
                      group2ctxs={'dev1': [mx.cpu(1), mx.cpu(2)]}).bind(
            data_shapes=[('data', (5, 12))], label_shapes=[('sm_label', (5,))])
