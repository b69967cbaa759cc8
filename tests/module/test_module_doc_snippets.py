"""The Module API documentation's snippets, run as an MXNet user writes them.

The flow of MXNet's Module API page (construct, bind/init_params, fit with eval_data,
predict, iter_predict, score, do_checkpoint, load_checkpoint + set_params, resume with
arg_params/aux_params/begin_epoch), on the seed's MLP; only the import differs.  The data is
MNIST-shaped synthetic clusters so the test needs no download.
"""
import logging

import numpy as np

import distmod as mx


def _iters():
    rng = np.random.RandomState(0)
    centers = rng.randn(10, 784).astype(np.float32)
    y = rng.randint(0, 10, 1200)
    x = centers[y] + rng.randn(1200, 784).astype(np.float32)
    train_dataiter = mx.io.NDArrayIter(x[:1000], y[:1000], batch_size=100, shuffle=True)
    eval_dataiter = mx.io.NDArrayIter(x[1000:], y[1000:], batch_size=100)
    return train_dataiter, eval_dataiter


def test_module_api_snippets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logging.getLogger().setLevel(logging.INFO)
    train_dataiter, eval_dataiter = _iters()
    n_epoch = 6

    # construct a simple MLP
    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data, name='fc1', num_hidden=128)
    act1 = mx.sym.Activation(fc1, name='relu1', act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name='fc2', num_hidden=64)
    act2 = mx.sym.Activation(fc2, name='relu2', act_type="relu")
    fc3 = mx.sym.FullyConnected(act2, name='fc3', num_hidden=10)
    out = mx.sym.SoftmaxOutput(fc3, name='softmax')

    # construct the module
    mod = mx.mod.Module(out)

    # intermediate-level API: bind, init_params
    mod.bind(data_shapes=train_dataiter.provide_data,
             label_shapes=train_dataiter.provide_label)
    mod.init_params()

    # high-level API: fit with eval_data
    mod.fit(train_dataiter, eval_data=eval_dataiter,
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9}, num_epoch=n_epoch)

    # predict, iter_predict, score
    y = mod.predict(eval_dataiter)
    assert y.shape == (200, 10)
    correct = 0
    for preds, i_batch, batch in mod.iter_predict(eval_dataiter):
        pred_label = preds[0].asnumpy().argmax(axis=1)
        label = batch.label[0].asnumpy().astype('int32')
        correct += (pred_label == label).sum()
    metric = mx.metric.Accuracy()
    score = mod.score(eval_dataiter, metric)
    assert score[0][1] == correct / 200.0 and score[0][1] > 0.85

    # save a checkpoint every epoch, load one, set it, resume training from it
    model_prefix = 'mymodel'
    checkpoint = mx.callback.do_checkpoint(model_prefix)
    mod = mx.mod.Module(out)
    mod.fit(train_dataiter, num_epoch=n_epoch, epoch_end_callback=checkpoint,
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
    n_epoch_load = 5
    sym, arg_params, aux_params = mx.model.load_checkpoint(model_prefix, n_epoch_load)
    assert sym.tojson() == out.tojson()
    mod.set_params(arg_params, aux_params)
    mod = mx.mod.Module(symbol=sym)
    mod.fit(train_dataiter, num_epoch=8, arg_params=arg_params, aux_params=aux_params,
            begin_epoch=n_epoch_load)
    assert mod.score(eval_dataiter, 'acc')[0][1] > 0.85
