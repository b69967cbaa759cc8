"""The runnable examples in mx.contrib's docstrings run and print what they say."""
import doctest

import numpy as np
import pytest

import distmod as mx
from distmod.contrib import amp, tensorboard
from distmod.contrib.amp import loss_scaler
from distmod.contrib.svrg_optimization import svrg_module, svrg_optimizer

MODULES = [amp.amp, loss_scaler, tensorboard, svrg_module, svrg_optimizer]


@pytest.mark.parametrize('module', MODULES, ids=[m.__name__ for m in MODULES])
def test_docstring_examples_run(module):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(module, module.__name__,
                            globs={'mx': mx, 'np': np, 'amp': amp}):
        assert runner.run(test).failed == 0, test.name


def test_tensorboard_callback_needs_mxboard():
    cb = tensorboard.LogMetricsCallback('/tmp/unused-logs', prefix='train')
    metric = mx.metric.MSE()
    metric.update([mx.nd.ones(2)], [mx.nd.zeros(2)])
    param = mx.model.BatchEndParam(epoch=0, nbatch=0, eval_metric=metric, locals={})
    if cb.summary_writer is None:
        with pytest.raises(RuntimeError, match='mxboard'):
            cb(param)
    else:
        cb(param)


@pytest.mark.parametrize('name, attr', [('autograd', 'train_section'),
                                        ('quantization', 'quantize_model'),
                                        ('quant', 'quantize_model'),
                                        ('onnx', 'import_model'), ('text', 'embedding'),
                                        ('io', 'DataLoaderIter')])
def test_the_pieces_distmod_lacks_say_so(name, attr):
    module = getattr(mx.contrib, name)
    with pytest.raises(mx.base.MXNetError, match='not available in distmod'):
        getattr(module, attr)
    assert not hasattr(module, attr)        # hasattr sees an AttributeError


def test_import_paths_of_the_pieces_distmod_lacks():
    import importlib
    onnx = importlib.import_module('distmod.contrib.onnx')
    with pytest.raises(mx.base.MXNetError, match='ONNX'):
        onnx.import_model('model.onnx')
