"""Callbacks (MXNet's log lines) and the initializers beyond the defaults."""
import logging
import os

import numpy as np
import pytest

import distmod as mx
from distmod.model import BatchEndParam


def _metric(value):
    m = mx.metric.Accuracy()
    m.update([mx.nd.array([1, 0])], [mx.nd.array([[0, 1], [1, 0]] if value else [[1, 0], [0, 1]])])
    return m


def test_speedometer_lines(caplog):
    speed = mx.callback.Speedometer(batch_size=10, frequent=2)
    metric = _metric(True)
    with caplog.at_level(logging.INFO):
        for n in range(5):
            speed(BatchEndParam(epoch=1, nbatch=n, eval_metric=metric, locals=None))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith('Epoch[1] Batch [0-2]\tSpeed: ')
    assert lines[0].endswith('samples/sec\taccuracy=1.000000')
    assert lines[1].startswith('Epoch[1] Batch [2-4]')
    assert np.isnan(metric.get()[1])         # auto_reset cleared the local counts


def test_log_callbacks(caplog):
    with caplog.at_level(logging.INFO):
        mx.callback.log_train_metric(1)(BatchEndParam(0, 3, _metric(True), None))
        mx.callback.LogValidationMetricsCallback()(BatchEndParam(2, 0, _metric(False), None))
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ['Iter[0] Batch[3] Train-accuracy=1.000000',
                    'Epoch[2] Validation-accuracy=0.000000']


def test_progress_bar(capsys):
    bar = mx.callback.ProgressBar(total=4, length=8)
    bar(BatchEndParam(0, 2, None, None))
    assert capsys.readouterr().out == '[====----] 50%\r'


def test_module_checkpoint_every_period(tmp_path):
    x = np.random.rand(20, 3).astype(np.float32)
    mod = mx.mod.Module(mx.sym.LinearRegressionOutput(
        mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=1, name='fc'), name='lro'),
        label_names=['lro_label'])
    it = mx.io.NDArrayIter(x, x[:, :1], batch_size=5, label_name='lro_label')
    prefix = str(tmp_path / 'm')
    mod.fit(it, num_epoch=4, eval_metric='mse',
            epoch_end_callback=mx.callback.module_checkpoint(mod, prefix, period=2,
                                                             save_optimizer_states=True))
    assert sorted(os.listdir(tmp_path)) == ['m-0002.json', 'm-0002.params', 'm-0002.states',
                                            'm-0004.json', 'm-0004.params', 'm-0004.states',
                                            'm-symbol.json']


def test_more_initializers():
    mx.random.seed(0)
    w = mx.nd.zeros((64, 32))
    mx.init.Normal(0.5)(mx.init.InitDesc('a_weight'), w)
    assert abs(w.asnumpy().std() - 0.5) < 0.05
    mx.init.MSRAPrelu()(mx.init.InitDesc('a_weight'), w)
    assert abs(w.asnumpy().std() - np.sqrt(2 / (1 + 0.25 ** 2) / 48)) < 0.02
    mx.init.Orthogonal(scale=1.0)(mx.init.InitDesc('a_weight'), w)
    q = w.asnumpy()
    np.testing.assert_allclose(q.T @ q, np.eye(32), atol=1e-5)
    assert mx.init.MSRAPrelu().dumps() == '["msraprelu", {"factor_type": "avg", "slope": 0.25}]'
    mixed = mx.init.Mixed(['.*bias', '.*'], [mx.init.Constant(3), mx.init.One()])
    b = mx.nd.full((2,), 5)
    mixed('fc_bias', b)          # MXNet: the name rule still makes a bias zero
    mixed('fc_weight', w)
    assert b.asnumpy().tolist() == [0, 0] and (w.asnumpy() == 1).all()
    with pytest.raises(mx.MXNetError, match='Unknown initialization pattern for foo'):
        mx.init.Constant(3)(mx.init.InitDesc('foo'), b)
    load = mx.init.Load({'arg:fc_weight': mx.nd.full((2, 2), 7)}, default_init=mx.init.Zero())
    a, c = mx.nd.ones((2, 2)), mx.nd.ones((3,))
    load('fc_weight', a)
    load('fc_bias', c)
    assert (a.asnumpy() == 7).all() and (c.asnumpy() == 0).all()
    with pytest.raises(mx.MXNetError, match='fc_weight.*Shape mismatch'):
        load('fc_weight', mx.nd.ones((3, 3)))
    with pytest.raises(mx.MXNetError, match='cannot be applied to vector v_weight'):
        mx.init.Xavier()(mx.init.InitDesc('v_weight'), mx.nd.zeros((3,)))
    with pytest.raises(mx.MXNetError, match='unknown initializer'):
        mx.init.create('glorot')


def test_tqdm_progress_bar_counts_batches(capsys):
    pytest.importorskip('tqdm', reason='tqdm (the progress extra) is not installed')
    bar = mx.callback.TqdmProgressBar(total=3, leave=True)
    for n in range(3):
        bar(BatchEndParam(0, n, _metric(True), None))
    assert bar.bar.n == 3
    bar.close()
    assert 'Epoch[0]' in capsys.readouterr().err
