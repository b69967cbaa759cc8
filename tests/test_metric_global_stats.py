"""Global statistics of metrics: a user's EvalMetric that only adds to ``sum_metric`` and
``num_inst`` (MXNet's NCE example's NceAccuracy) reports those from ``get_global``, as in
MXNet, so ``fit``'s Train-/Validation- lines show its value, not NaN."""
import logging

import numpy as np

import distmod as mx


class _LocalOnlyAccuracy(mx.metric.EvalMetric):
    """Like MXNet's example metrics: no has_global_stats, update touches local sums only."""

    def __init__(self):
        super().__init__('local-acc')

    def update(self, labels, preds):
        label = labels[0].asnumpy()
        pred = preds[0].asnumpy()
        self.sum_metric += float((pred.argmax(1) == label).sum())
        self.num_inst += len(label)


def test_user_metric_without_global_stats_reports_local_sums_from_get_global():
    m = _LocalOnlyAccuracy()
    m.update([mx.nd.array([0, 1, 1])], [mx.nd.array([[1, 0], [0, 1], [1, 0]])])
    assert m.get_global() == ('local-acc', 2 / 3)
    assert m.get_global_name_value() == [('local-acc', 2 / 3)]
    m.reset_local()
    assert np.isnan(m.get_global()[1])          # as MXNet: the local sums are all it has


def test_builtin_metrics_keep_global_stats_across_reset_local():
    for metric in (mx.metric.Accuracy(), mx.metric.MSE(), mx.metric.Perplexity(None),
                   mx.metric.CustomMetric(lambda l, p: 1.0),
                   mx.metric.create(['acc', 'mae'])):
        assert metric._has_global_stats, type(metric).__name__
    acc = mx.metric.Accuracy()
    acc.update([mx.nd.array([0, 1])], [mx.nd.array([[1, 0], [0, 1]])])
    acc.reset_local()
    assert acc.get_global() == ('accuracy', 1.0)
    assert np.isnan(acc.get()[1])


def test_fit_logs_a_user_metric_that_updates_only_local_sums(caplog):
    rng = np.random.RandomState(0)
    x = rng.rand(64, 4).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2,
                                                     name='fc'), name='softmax')
    model = mx.model.FeedForward(net, num_epoch=1, learning_rate=0.1)
    with caplog.at_level(logging.INFO):
        model.fit(mx.io.NDArrayIter(x, y, batch_size=16),
                  eval_data=mx.io.NDArrayIter(x, y, batch_size=16),
                  eval_metric=_LocalOnlyAccuracy())
    values = [float(r.getMessage().rsplit('=', 1)[1]) for r in caplog.records
              if 'local-acc=' in r.getMessage()]
    assert values and not any(np.isnan(values)), [r.getMessage() for r in caplog.records]
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.bind([('data', (16, 4))], [('softmax_label', (16,))])
    mod.init_params()
    (name, value), = mod.score(mx.io.NDArrayIter(x, y, batch_size=16), _LocalOnlyAccuracy())
    assert name == 'local-acc' and 0 <= value <= 1


def test_pcc_matches_mxnet_and_is_mcc_for_two_classes():
    import distmod as mx
    rng = np.random.RandomState(0)
    labels, scores = rng.randint(0, 4, 50), rng.rand(50, 4)
    m = mx.metric.create('pcc')
    m.update([mx.nd.array(labels)], [mx.nd.array(scores)])
    m.update([mx.nd.array(labels[:10])], [mx.nd.array(labels[:10])])      # class ids too
    assert abs(m.get()[1] - 0.18435100221599263) < 1e-12        # MXNet 1.9.1's value
    assert m.get_global() == m.get()
    two = (mx.nd.array([0, 1, 1, 0, 1]), mx.nd.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4],
                                                      [0.3, 0.7], [0.1, 0.9]]))
    pcc, mcc = mx.metric.PCC(), mx.metric.MCC()
    pcc.update([two[0]], [two[1]])
    mcc.update([two[0]], [two[1]])
    assert abs(pcc.get()[1] - mcc.get()[1]) < 1e-12
    m.reset_local()
    assert np.isnan(m.get()[1]) and abs(m.get_global()[1] - 0.18435100221599263) < 1e-12
    assert mx.metric.create('torch').name == 'torch' and mx.metric.Caffe().name == 'caffe'
    # class ids in a column, like the labels: compared as they are (MXNet 1.9.1's value)
    col = mx.metric.PCC()
    col.update([mx.nd.array([[0], [1], [1], [0]])], [mx.nd.array([[0], [1], [0], [0]])])
    assert abs(col.get()[1] - 0.5773502691896258) < 1e-12
