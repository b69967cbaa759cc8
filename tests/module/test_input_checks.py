"""A module refuses inputs it was not bound for, and its errors name the thing at fault.

What MXNet 1.9.1 does with the same calls (the reference venv, ``mx.mod.Module`` over
data 20 -> FC 16 -> relu -> FC 3 -> SoftmaxOutput bound for data (32, 20), label (32,); the
script is ``tests/fixtures/make_input_check_expectations.py``, its output recorded below):

- forward of a (32, 30) or a (32, 10) batch: ``MXNetError: Shape of unspecified arg:
  fc1_weight changed`` (nothing is computed);
- forward of an (8, 20) or a (40, 20) batch: outputs (8, 3) / (40, 3), ``data_shapes``
  becomes (8, 20) / (40, 20) (the executors are reshaped);
- ``predict``/``score``/``iter_predict`` over a 30-feature iterator: MXNetError;
- a BucketingModule and a SequentialModule given a (32, 30) batch: an error.
"""
import logging

import numpy as np
import pytest

import distmod as mx

#: MXNet 1.9.1's answers to the calls above (see the module docstring).
MXNET_REFUSES_WIDTHS = (30, 10)
MXNET_RESHAPES_BATCH = {8: (8, 3), 40: (40, 3)}


def _net(hidden=16):
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=hidden, name='fc1')
    net = mx.sym.Activation(net, act_type='relu', name='relu1')
    net = mx.sym.FullyConnected(net, num_hidden=3, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def _batch(n, width):
    return mx.io.DataBatch([mx.nd.array(np.random.rand(n, width))], [mx.nd.zeros((n,))])


def _bound(optimizer=True):
    mod = mx.mod.Module(_net())
    mod.bind([('data', (32, 20))], [('softmax_label', (32,))])
    mod.init_params(mx.init.Xavier())
    if optimizer:
        mod.init_optimizer(optimizer_params={'learning_rate': 0.1})
    return mod


def _snapshot(mod):
    arg, _ = mod.get_params()
    return {k: v.asnumpy().copy() for k, v in arg.items()}


@pytest.mark.parametrize('width', MXNET_REFUSES_WIDTHS)
def test_forward_refuses_a_batch_that_would_change_a_parameter_shape(width):
    mod = _bound()
    before = _snapshot(mod)
    with pytest.raises(mx.MXNetError) as err:
        mod.forward(_batch(32, width))
    msg = str(err.value)
    for part in ("data 'data'", '(32, %d)' % width, '(32, 20)', "'fc1_weight'", '(16, 20)',
                 '(16, %d)' % width, 'Shape of unspecified arg'):
        assert part in msg, msg
    # nothing changed: the module still takes batches of the bound shape
    assert [d.shape for d in mod.data_shapes] == [(32, 20)]
    mod.forward(_batch(32, 20))
    assert mod.get_outputs()[0].shape == (32, 3)
    after = _snapshot(mod)
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize('n', sorted(MXNET_RESHAPES_BATCH))
def test_forward_of_another_batch_size_reshapes_as_mxnet_does(n):
    mod = _bound()
    mod.forward(_batch(n, 20), is_train=True)
    assert mod.get_outputs()[0].shape == MXNET_RESHAPES_BATCH[n]
    assert [d.shape for d in mod.data_shapes] == [(n, 20)]
    mod.backward()
    mod.update()


@pytest.mark.parametrize('call', ['predict', 'score', 'iter_predict'])
def test_inference_over_data_of_another_width_is_refused(call):
    mod = _bound(optimizer=False)
    it = mx.io.NDArrayIter(np.random.rand(64, 30), np.zeros(64), batch_size=32)
    with pytest.raises(mx.MXNetError, match=r"data 'data' has shape \(32, 30\).*'fc1_weight'"):
        if call == 'predict':
            mod.predict(it)
        elif call == 'score':
            mod.score(it, 'acc')
        else:
            list(mod.iter_predict(it))


def test_fit_on_data_of_another_width_fails_before_any_update():
    mod = _bound()
    before = _snapshot(mod)
    it = mx.io.NDArrayIter(np.random.rand(64, 30), np.zeros(64), batch_size=32)
    with pytest.raises(mx.MXNetError, match=r"data 'data' has shape \(32, 30\).*'fc1_weight' "
                                            r"from \(16, 20\) to \(16, 30\)"):
        mod.fit(it, num_epoch=1)
    after = _snapshot(mod)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    out = mod.predict(mx.io.NDArrayIter(np.random.rand(64, 20), batch_size=32))
    assert out.shape == (64, 3)          # the module is intact


def test_bucketing_module_refuses_a_batch_that_would_change_a_parameter_shape():
    def sym_gen(key):
        data = mx.sym.Variable('data')
        net = mx.sym.FullyConnected(data, num_hidden=3, name='fc1')
        return mx.sym.SoftmaxOutput(net, name='softmax'), ('data',), ('softmax_label',)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=20)
    mod.bind([('data', (32, 20))], [('softmax_label', (32,))])
    mod.init_params()
    batch = mx.io.DataBatch([mx.nd.ones((32, 30))], [mx.nd.zeros((32,))], bucket_key=20,
                            provide_data=[mx.io.DataDesc('data', (32, 30))],
                            provide_label=[mx.io.DataDesc('softmax_label', (32,))])
    with pytest.raises(mx.MXNetError, match=r"data 'data' has shape \(32, 30\).*'fc1_weight'"):
        mod.forward(batch)


def test_sequential_module_refuses_a_batch_that_would_change_a_parameter_shape():
    first = mx.mod.Module(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=8,
                                                name='fcA'), label_names=None)
    head = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=3,
                                                      name='fcB'), name='softmax')
    seq = mx.mod.SequentialModule()
    seq.add(first).add(mx.mod.Module(head), take_labels=True, auto_wiring=True)
    seq.bind([('data', (32, 20))], [('softmax_label', (32,))])
    seq.init_params()
    with pytest.raises(mx.MXNetError, match=r"data 'data' has shape \(32, 30\).*'fcA_weight'"):
        seq.forward(_batch(32, 30))


def test_a_batch_whose_arrays_disagree_with_its_provide_data_names_the_input():
    mod = _bound()
    batch = mx.io.DataBatch([mx.nd.ones((32, 30))], [mx.nd.zeros((32,))],
                            provide_data=[mx.io.DataDesc('data', (32, 20))],
                            provide_label=[mx.io.DataDesc('softmax_label', (32,))])
    with pytest.raises(mx.MXNetError, match=r"data 'data' of the batch has shape \(32, 30\) "
                                            r"but the module is bound for \(32, 20\)"):
        mod.forward(batch)


def test_loaded_parameters_of_another_input_width_name_parameter_and_data(tmp_path):
    mod = _bound()
    prefix = str(tmp_path / 'mlp')
    mod.save_checkpoint(prefix, 1)
    loaded = mx.mod.Module.load(prefix, 1)
    with pytest.raises(mx.MXNetError) as err:
        loaded.bind([('data', (64, 30))], [('softmax_label', (64,))])
    msg = str(err.value)
    for part in ("parameter 'fc1_weight'", '(16, 20)', 'the loaded parameters',
                 "data 'data' of shape (64, 30)", '(16, 30)'):
        assert part in msg, msg
    assert not loaded.binded
    loaded.bind([('data', (64, 20))], [('softmax_label', (64,))])     # the right width binds
    assert loaded.predict(mx.io.NDArrayIter(np.ones((64, 20)), batch_size=64)).shape == (64, 3)


def test_init_params_with_arg_params_of_another_shape_names_parameter_and_data():
    mod = mx.mod.Module(_net())
    mod.bind([('data', (32, 30))], [('softmax_label', (32,))])
    arg, aux = _bound(optimizer=False).get_params()
    with pytest.raises(mx.MXNetError, match=r"parameter 'fc1_weight' has shape \(16, 20\) in "
                                            r"the given arg_params/aux_params, but data 'data' "
                                            r"of shape \(32, 30\)"):
        mod.init_params(arg_params=arg, aux_params=aux)


def test_fit_on_an_iterator_without_labels_says_the_label_is_missing():
    it = mx.io.NDArrayIter(np.random.rand(64, 20), batch_size=32)
    with pytest.raises(mx.MXNetError, match=r"the training iterator \(NDArrayIter\) yields no "
                                            r"label, but the module expects 'softmax_label'"):
        mx.mod.Module(_net()).fit(it, num_epoch=1)


def test_fit_of_a_network_without_labels_needs_none():
    data = mx.sym.Variable('data')
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.square(mx.sym.FullyConnected(
        data, num_hidden=2, name='fc'))), name='loss')
    mod = mx.mod.Module(loss, label_names=None)
    it = mx.io.NDArrayIter(np.random.rand(64, 20), batch_size=32)
    mod.fit(it, num_epoch=1, eval_metric=mx.metric.Loss())


def test_scoring_without_labels_names_the_expected_label_and_the_metric():
    mod = _bound(optimizer=False)
    it = mx.io.NDArrayIter(np.random.rand(64, 20), batch_size=32)
    with pytest.raises(mx.MXNetError, match=r"the batch holds no label, but the module expects "
                                            r"'softmax_label'.*metric 'accuracy' needs one"):
        mod.score(it, 'acc')
    # a metric that needs no label is fine without one
    assert mod.score(it, mx.metric.Loss())[0][0] == 'loss'


def test_fit_on_an_exhausted_iterator_suggests_reset():
    it = mx.io.NDArrayIter(np.random.rand(64, 20), np.zeros(64), batch_size=32)
    for _ in it:
        pass
    with pytest.raises(mx.MXNetError) as err:
        mx.mod.Module(_net()).fit(it, num_epoch=1)
    msg = str(err.value)
    assert 'yielded no batch' in msg and 'reset()' in msg and 'NDArrayIter' in msg, msg
    assert 'rank' not in msg, msg          # one process: no rank to name


class EmptyIter(mx.io.DataIter):
    """An iterator of the right shapes that yields nothing."""

    def __init__(self):
        super().__init__(32)
        self.provide_data = [mx.io.DataDesc('data', (32, 20))]
        self.provide_label = [mx.io.DataDesc('softmax_label', (32,))]

    def next(self):
        raise StopIteration


def test_fit_with_empty_validation_data_is_an_error_not_nan():
    x, y = np.random.rand(64, 20), np.zeros(64)
    train = mx.io.NDArrayIter(x, y, batch_size=32)
    val = EmptyIter()
    with pytest.raises(mx.MXNetError, match=r'the evaluation data \(EmptyIter\) yielded no '
                                            r'batch'):
        mx.mod.Module(_net()).fit(train, eval_data=val, num_epoch=1)


def test_score_of_empty_data_warns(caplog):
    mod = _bound(optimizer=False)
    with caplog.at_level(logging.WARNING):
        mod.score(EmptyIter(), 'acc')
    assert any('yielded no batch' in r.getMessage() for r in caplog.records)
