"""``mx.contrib.svrg_optimization``: SVRGModule's training against MXNet 1.9.1's on a fixed
linear regression (tests/fixtures/contrib/svrg.npz, written by
tests/fixtures/make_contrib_fixtures.py), and SVRG beating plain SGD in the same epochs as
MXNet's own SVRG example shows."""
import json
import logging
import os

import numpy as np
import pytest

import distmod as mx
from distmod.contrib.svrg_optimization.svrg_module import SVRGModule
from distmod.contrib.svrg_optimization.svrg_optimizer import _SVRGOptimizer

FIXTURE = np.load(os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'contrib',
                               'svrg.npz'))
RUNS = json.loads(str(FIXTURE['__runs__']))


def _net():
    data = mx.sym.Variable('data')
    label = mx.sym.Variable('lin_reg_label')
    fc = mx.sym.FullyConnected(data, num_hidden=1, name='fc')
    return mx.sym.LinearRegressionOutput(fc, label, name='lro')


def _train(run, num_epoch=None):
    x, y = FIXTURE['x'], FIXTURE['y']
    it = mx.io.NDArrayIter(x, y, batch_size=run['batch_size'], shuffle=False,
                           label_name='lin_reg_label')
    if run['svrg']:
        mod = SVRGModule(_net(), data_names=['data'], label_names=['lin_reg_label'],
                         update_freq=run['update_freq'])
    else:
        mod = mx.mod.Module(_net(), data_names=['data'], label_names=['lin_reg_label'])
    history = []

    def keep(epoch, sym, arg, aux):
        history.append(np.concatenate([arg['fc_weight'].asnumpy().ravel(),
                                       arg['fc_bias'].asnumpy().ravel()]))
    params = {'learning_rate': run['lr']}
    if run['momentum']:
        params['momentum'] = run['momentum']
    mod.fit(it, eval_metric='mse', optimizer='sgd', optimizer_params=params,
            arg_params={'fc_weight': mx.nd.array(FIXTURE['w0']),
                        'fc_bias': mx.nd.array(FIXTURE['b0'])},
            num_epoch=num_epoch or run['epochs'], epoch_end_callback=keep)
    return mod, np.stack(history), mod.score(it, mx.metric.MSE())[0][1]


@pytest.mark.parametrize('run', RUNS, ids=[r['name'] for r in RUNS])
def test_training_matches_mxnet_epoch_by_epoch(run):
    _, history, mse = _train(run)
    np.testing.assert_allclose(history, FIXTURE['%s/history' % run['name']], rtol=1e-5,
                               atol=1e-6)
    assert mse == pytest.approx(float(FIXTURE['%s/mse' % run['name']]), rel=1e-5)


@pytest.mark.parametrize('svrg, sgd', [('svrg', 'sgd'), ('svrg_high_lr', 'sgd_high_lr')])
def test_svrg_reaches_lower_loss_than_sgd_in_the_same_epochs(svrg, sgd):
    runs = {r['name']: r for r in RUNS}
    _, _, svrg_mse = _train(runs[svrg])
    _, _, sgd_mse = _train(runs[sgd])
    assert svrg_mse < sgd_mse
    # and MXNet shows the same
    assert float(FIXTURE['%s/mse' % svrg]) < float(FIXTURE['%s/mse' % sgd])


def test_full_gradient_is_the_average_gradient_at_the_snapshot():
    run = dict(RUNS[0])
    mod, _, _ = _train(run, num_epoch=1)
    x, y = FIXTURE['x'], FIXTURE['y']
    it = mx.io.NDArrayIter(x, y, batch_size=run['batch_size'], shuffle=False,
                           label_name='lin_reg_label')
    before = {k: v.asnumpy().copy() for k, v in mod._param_dict[0].items()}
    mod.update_full_grads(it)
    w = mod.get_params()[0]
    pred = x @ w['fc_weight'].asnumpy().T + w['fc_bias'].asnumpy()
    err = pred.ravel() - y                         # LinearRegressionOutput's gradient
    nbatch = len(x) // run['batch_size']
    want_w = (err[:, None] * x).sum(0) / nbatch    # mean over batches of the batch sums
    # MXNet 1.9.1 adds the new gradients to the previous full gradient before dividing
    np.testing.assert_allclose(mod._param_dict[0]['fc_weight'].asnumpy().ravel(),
                               before['fc_weight'].ravel() / nbatch + want_w, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(mod._param_dict[0]['fc_bias'].asnumpy(),
                               before['fc_bias'] / nbatch + err.sum() / nbatch, rtol=1e-4,
                               atol=1e-5)


def test_module_api_pieces():
    mod = SVRGModule(_net(), data_names=['data'], label_names=['lin_reg_label'],
                     update_freq=2, logger=logging)
    assert isinstance(mod, mx.mod.Module)
    mod.bind([('data', (8, 4))], [('lin_reg_label', (8,))])
    assert mod._mod_aux.binded
    mod.init_params()
    mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.1,
                                                          'momentum': 0.9})
    opt = mod._optimizer
    assert isinstance(opt, _SVRGOptimizer)
    assert opt.default_opt.momentum == 0.9 and opt.default_opt.rescale_grad == 1 / 8.0
    assert sorted(opt.idx2name.values()) == ['fc_bias', 'fc_bias_full', 'fc_weight',
                                             'fc_weight_full']
    with pytest.raises(mx.base.MXNetError, match='update_full_grads'):
        mod.forward(mx.io.DataBatch([mx.nd.ones((8, 4))], [mx.nd.ones((8,))]), is_train=True)
    it = mx.io.NDArrayIter(FIXTURE['x'][:16], FIXTURE['y'][:16], batch_size=8,
                           label_name='lin_reg_label')
    mod.update_full_grads(it)
    # MXNet's low-level loop: full gradients, then forward_backward/update per batch
    it.reset()
    for batch in it:
        mod.forward_backward(batch)
        mod.update()
    # a different batch size reshapes both modules
    mod.forward(mx.io.DataBatch([mx.nd.ones((4, 4))], [mx.nd.ones((4,))]), is_train=True)
    assert mod._mod_aux.data_shapes[0].shape == (4, 4)
    # inference only binds the main module
    infer = SVRGModule(_net(), data_names=['data'], label_names=['lin_reg_label'],
                       update_freq=1)
    infer.bind([('data', (8, 4))], [('lin_reg_label', (8,))], for_training=False)
    assert not infer._mod_aux.binded


@pytest.mark.parametrize('freq, error', [(0, ValueError), (-1, ValueError), (None, TypeError),
                                         (1.5, TypeError)])
def test_update_freq_must_be_a_positive_int(freq, error):
    with pytest.raises(error, match='update_freq'):
        SVRGModule(_net(), data_names=['data'], label_names=['lin_reg_label'],
                   update_freq=freq)


def test_the_mxnet_import_paths():
    from distmod.contrib import svrg_optimization
    assert svrg_optimization.svrg_module.SVRGModule is SVRGModule
    assert mx.contrib.svrg_optimization.svrg_optimizer._SVRGOptimizer is _SVRGOptimizer
    assert isinstance(mx.optimizer.create('_SVRGOptimizer', default_optimizer='sgd'),
                      _SVRGOptimizer)
