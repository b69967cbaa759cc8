"""The pieces Module.fit touches (io, metric, init, optimizer) against MXNet 1.9.1's numbers."""
import numpy as np
import pytest

import distmod as mx

# ---- io ----------------------------------------------------------------------------------
EXPECTED_BATCHES = {   # data rows and pad per batch, three epochs, from MXNet 1.9.1
    'pad': [[([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0), ([8, 9, 0, 1], 2)]] * 3,
    'discard': [[([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0)]] * 3,
    'roll_over': [[([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0)],
                  [([8, 9, 0, 1], 2), ([2, 3, 4, 5], 0), ([6, 7, 8, 9], 0)],
                  [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0)]],
}


@pytest.mark.parametrize('mode', sorted(EXPECTED_BATCHES))
def test_ndarray_iter_last_batch_modes_match_mxnet(mode):
    it = mx.io.NDArrayIter(np.arange(10).reshape(10, 1), np.arange(10), batch_size=4,
                           last_batch_handle=mode)
    for epoch in EXPECTED_BATCHES[mode]:
        got = [(b.data[0].asnumpy().ravel().astype(int).tolist(), b.pad) for b in it]
        assert got == epoch
        it.reset()


def test_ndarray_iter_names_dtypes_and_errors():
    it = mx.io.NDArrayIter({'b': np.zeros((5, 2)), 'a': np.ones((5, 3))}, {'lab': np.zeros(5)},
                           batch_size=2)
    assert [(d.name, d.shape) for d in it.provide_data] == [('a', (2, 3)), ('b', (2, 2))]
    assert [(d.name, d.shape) for d in it.provide_label] == [('lab', (2,))]
    assert it.provide_data[0].dtype == np.float32      # MXNet makes float32 of NumPy input
    it = mx.io.NDArrayIter([np.zeros((5, 2)), np.ones((5, 3))], batch_size=2)
    assert [d.name for d in it.provide_data] == ['_0_data', '_1_data']
    assert it.provide_label == []
    with pytest.raises(mx.MXNetError, match="'softmax_label' has 4"):
        mx.io.NDArrayIter(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(mx.MXNetError, match='last_batch_handle'):
        mx.io.NDArrayIter(np.zeros((5, 2)), last_batch_handle='keep')


def test_ndarray_iter_shards_are_disjoint_and_equal():
    data = np.arange(22).reshape(22, 1)
    parts = [mx.io.NDArrayIter(data, batch_size=3, num_parts=3, part_index=i,
                               last_batch_handle='discard') for i in range(3)]
    seen = [[int(v) for b in p for v in b.data[0].asnumpy().ravel()] for p in parts]
    assert [len(s) for s in seen] == [6, 6, 6]
    assert len(set(sum(seen, []))) == 18


def test_shuffle_is_repeatable_with_the_seed():
    def order():
        mx.random.seed(3)
        it = mx.io.NDArrayIter(np.arange(12).reshape(12, 1), batch_size=4, shuffle=True)
        return [b.data[0].asnumpy().ravel().tolist() for b in it]
    first = order()
    assert first == order() and sorted(sum(first, [])) == list(range(12))


# ---- metric ------------------------------------------------------------------------------
def test_metrics():
    pred = mx.nd.array([[0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    label = mx.nd.array([1, 1, 0])
    acc = mx.metric.create('acc')
    acc.update([label], [pred])
    assert acc.get() == ('accuracy', 1 / 3)
    ce = mx.metric.create('ce')
    ce.update([label], [pred])
    assert ce.get()[1] == pytest.approx(-(np.log(0.7) + np.log(0.4) + np.log(0.2)) / 3)
    comp = mx.metric.create(['acc', 'mse'])
    comp.update([label], [mx.nd.array([[0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])])
    names, _ = comp.get()
    assert names == ['accuracy', 'mse']
    custom = mx.metric.np(lambda l, p: float((l == p.argmax(1)).mean()))
    custom.update([label], [pred])
    assert custom.get()[1] == pytest.approx(1 / 3)
    acc.reset_local()
    assert np.isnan(acc.get()[1]) and acc.get_global()[1] == 1 / 3
    with pytest.raises(mx.MXNetError, match='unknown metric'):
        mx.metric.create('accuracyy')
    with pytest.raises(mx.MXNetError, match='does not match'):
        acc.update([label, label], [pred])


def test_metric_states_add_up_across_parts():
    pred = np.random.default_rng(0).random((8, 3))
    label = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    whole, a, b = (mx.metric.Accuracy() for _ in range(3))
    whole.update([mx.nd.array(label)], [mx.nd.array(pred)])
    a.update([mx.nd.array(label[:4])], [mx.nd.array(pred[:4])])
    b.update([mx.nd.array(label[4:])], [mx.nd.array(pred[4:])])
    a._set_state([x + y for x, y in zip(a._state(), b._state())])
    assert a.get() == whole.get()


# ---- initializer -------------------------------------------------------------------------
def test_initializer_rules_and_dumps():
    init = mx.init.Xavier()
    assert init.dumps() == \
        '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 3}]'
    w = mx.nd.zeros((20, 30))
    init(mx.init.InitDesc('fc_weight'), w)
    bound = np.sqrt(3.0 / 25)
    assert 0 < np.abs(w.asnumpy()).max() <= bound
    for name, value in (('fc_bias', 0), ('bn_gamma', 1), ('bn_beta', 0), ('bn_moving_var', 1),
                        ('bn_moving_mean', 0)):
        arr = mx.nd.full((3,), 7)
        init(mx.init.InitDesc(name), arr)
        assert (arr.asnumpy() == value).all(), name
    with pytest.raises(mx.MXNetError, match='Unknown initialization pattern for foo'):
        init(mx.init.InitDesc('foo'), mx.nd.zeros((2,)))
    arr = mx.nd.zeros((2, 2))
    init(mx.init.InitDesc('w_weight', {'__init__': mx.init.Constant(5).dumps()}), arr)
    assert (arr.asnumpy() == 5).all()
    assert isinstance(mx.init.create(init.dumps()), mx.init.Xavier)


def test_initialisation_repeats_with_the_seed():
    def draw():
        mx.random.seed(11)
        w = mx.nd.zeros((4, 4))
        mx.init.Uniform(0.5)(mx.init.InitDesc('a_weight'), w)
        return w.asnumpy()
    assert (draw() == draw()).all()


# ---- optimizer ---------------------------------------------------------------------------
W0 = np.array([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]], np.float32)
GRADS = [np.array([[1.0, -2.0, 0.5], [3.0, -0.1, 0.2]], np.float32),
         np.array([[-0.5, 1.0, 2.5], [0.3, 0.4, -4.0]], np.float32),
         np.array([[0.2, 0.2, -0.2], [1.0, -1.0, 0.0]], np.float32)]
OPT_CASES = [   # three updates each, results from MXNet 1.9.1
    ('sgd', dict(learning_rate=0.1), [[0.43, -0.92, 1.72], [-0.33, 0.07, 0.08]]),
    ('sgd', dict(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5, clip_gradient=0.8),
     [[0.399362, -0.882849, 1.779215], [-0.195542, 0.025551, -0.17346]]),
    ('nag', dict(learning_rate=0.1, momentum=0.9),
     [[0.2536, -0.6212, 1.18855], [-1.203, 0.11599, 0.71522]]),
    ('adam', dict(learning_rate=0.01, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.483939, -0.985664, 1.97468], [0.074068, 0.008661, -0.297995]]),
    ('adam', dict(), [[0.498418, -0.998586, 1.997525], [0.097514, 0.000866, -0.299742]]),
    ('adagrad', dict(learning_rate=0.1, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.425769, -0.950788, 1.806945], [-0.059243, 0.095331, -0.299496]]),
    ('rmsprop', dict(learning_rate=0.01, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.476431, -0.9857, 1.940338], [0.04819, 0.030306, -0.300033]]),
    ('rmsprop', dict(learning_rate=0.01, centered=True, wd=0.01, clip_weights=1.5),
     [[0.431252, -0.940515, 1.382134], [-0.008972, 0.060275, -0.327349]]),
    ('adadelta', dict(wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.47893, -0.968521, 1.919174], [0.078328, 0.014097, -0.286939]]),
    ('adamax', dict(learning_rate=0.01, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.485668, -0.98681, 1.979622], [0.079115, 0.00858, -0.302151]]),
    ('nadam', dict(learning_rate=0.01, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.491089, -0.994112, 1.979178], [0.081557, 0.010803, -0.299526]]),
    ('ftrl', dict(learning_rate=0.1, lamda1=0.01, beta=1, wd=0.01, rescale_grad=0.5,
                  clip_gradient=1.0),
     [[0.14223, -0.47758, 0.334589], [-0.030442, 0.020027, 0.013431]]),
    ('signum', dict(learning_rate=0.01, momentum=0.9, wd_lh=0.01, wd=0.01, rescale_grad=0.5,
                    clip_gradient=1.0),
     [[0.469853, -0.969703, 1.969403], [0.069973, 0.009999, -0.289909]]),
    ('signum', dict(learning_rate=0.01, momentum=0.0, wd=0.01),
     [[0.489851, -1.009701, 1.989403], [0.069973, 0.009999, -0.299909]]),
    ('lamb', dict(learning_rate=0.01, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.480815, -0.983564, 1.965517], [0.064445, 0.008515, -0.289908]]),
    ('lamb', dict(learning_rate=0.01, bias_correction=False, lower_bound=0.1, upper_bound=2.0),
     [[0.483193, -0.985891, 1.970446], [0.069931, 0.007576, -0.289841]]),
    # MXNet 1.9 has AdamW only as contrib.adamw_update (eta=1, bias-corrected rate)
    ('adamw', dict(learning_rate=0.01, wd=0.01, rescale_grad=0.5, clip_gradient=1.0),
     [[0.469559, -0.95638, 1.915854], [0.071386, 0.00852, -0.289011]]),
]


@pytest.mark.parametrize('name,kwargs,want', OPT_CASES)
def test_optimizer_updates_match_mxnet(name, kwargs, want):
    opt = mx.optimizer.create(name, param_idx2name={0: 'fc_weight'}, **kwargs)
    updater = mx.optimizer.get_updater(opt)
    w = mx.nd.array(W0)
    for g in GRADS:
        updater(0, mx.nd.array(g), w)
    np.testing.assert_allclose(w.asnumpy(), want, atol=3e-6)


def test_sgd_multi_precision_keeps_float32_master_weights():
    w = mx.nd.array(W0, dtype='float16')
    opt = mx.optimizer.create('sgd', learning_rate=0.001, momentum=0.9, multi_precision=True)
    upd = mx.optimizer.get_updater(opt)
    for g in GRADS:
        upd(0, mx.nd.array(g, dtype='float16'), w)
    assert w.dtype is np.float16
    np.testing.assert_allclose(w.asnumpy().astype(float),     # MXNet 1.9.1's float16 result
                               [[0.498046875, -0.99658203125, 1.994140625],
                                [0.09027099609375, 0.00051116943359375, -0.29296875]])


def test_lr_and_wd_mult_follow_symbol_attributes():
    x = mx.sym.Variable('x')
    w = mx.sym.Variable('w', lr_mult=2.0, wd_mult=3.0)
    fc = mx.sym.FullyConnected(x, w, num_hidden=2, name='fc')
    opt = mx.optimizer.create('sgd', sym=fc, param_idx2name={0: 'w', 1: 'fc_bias'},
                              learning_rate=0.1, wd=0.1)
    assert (opt._get_lr(0), opt._get_lr(1), opt._get_wd(1)) == (0.2, 0.1, 0.0)
    assert opt._get_wd(0) == pytest.approx(0.3)
    with pytest.raises(mx.MXNetError, match='known: .*sgd'):
        mx.optimizer.create('sgdd')


def test_updater_states_round_trip_without_pickle():
    opt = mx.optimizer.create('adam')
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(W0)
    upd(0, mx.nd.array(GRADS[0]), w)
    blob = upd.get_states()
    assert blob[:2] == b'PK'           # a zip of arrays and JSON, never a pickle
    upd2 = mx.optimizer.get_updater(mx.optimizer.create('adam'))
    upd2.set_states(blob)
    w2 = w.copy()
    upd(0, mx.nd.array(GRADS[1]), w)
    upd2(0, mx.nd.array(GRADS[1]), w2)
    np.testing.assert_array_equal(w.asnumpy(), w2.asnumpy())
    import pickle
    with pytest.raises(mx.MXNetError, match="refused to load global 'os.system'"):
        upd2.set_states(b'\x80\x03cos\nsystem\nX\x04\x00\x00\x00true\x85R.')
    with pytest.raises(mx.MXNetError, match='not distmod optimizer states'):
        upd2.set_states(b'garbage')


def _write_idx(path, arr, magic):
    import struct
    with open(path, 'wb') as f:
        f.write(struct.pack('>i', magic))
        f.write(struct.pack('>%di' % arr.ndim, *arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


def test_mnist_iter_reads_idx_files(tmp_path):
    images = np.arange(10 * 28 * 28).reshape(10, 28, 28) % 256
    labels = np.arange(10) % 10
    _write_idx(str(tmp_path / 'img'), images, 2051)
    _write_idx(str(tmp_path / 'lab'), labels, 2049)
    it = mx.io.MNISTIter(image=str(tmp_path / 'img'), label=str(tmp_path / 'lab'), batch_size=4,
                         silent=True)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0]     # MXNet drops the last partial batch
    assert batches[0].data[0].shape == (4, 1, 28, 28)
    np.testing.assert_allclose(batches[0].data[0].asnumpy()[1, 0], images[1] / 256.0, rtol=1e-6)
    assert batches[1].label[0].asnumpy().tolist() == [4, 5, 6, 7]
    flat = mx.io.MNISTIter(image=str(tmp_path / 'img'), label=str(tmp_path / 'lab'),
                           batch_size=5, flat=True, shuffle=True, seed=1, silent=True)
    first = next(iter(flat))
    assert first.data[0].shape == (5, 784)
    assert sorted(sum((b.label[0].asnumpy().tolist() for b in flat), first.label[0].asnumpy()
                      .tolist())) == list(range(10))
    with pytest.raises(mx.MXNetError, match='lab: IDX magic number is 2049, expected 2051'):
        mx.io.MNISTIter(image=str(tmp_path / 'lab'), label=str(tmp_path / 'lab'))
    with pytest.raises(mx.MXNetError, match='10 images.*3 labels'):
        _write_idx(str(tmp_path / 'lab3'), labels[:3], 2049)
        mx.io.MNISTIter(image=str(tmp_path / 'img'), label=str(tmp_path / 'lab3'))


# ---- lr_scheduler ------------------------------------------------------------------------
LR_CASES = [   # learning rates for updates 1..12, from MXNet 1.9.1
    ('FactorScheduler', dict(step=3, factor=0.5, base_lr=1.0, stop_factor_lr=0.1),
     [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125]),
    ('FactorScheduler', dict(step=3, factor=0.5, base_lr=1.0, warmup_steps=4, warmup_begin_lr=0.2),
     [0.4, 0.6, 0.8, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125]),
    ('MultiFactorScheduler', dict(step=[2, 5, 9], factor=0.1, base_lr=1.0),
     [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001]),
    ('PolyScheduler', dict(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1),
     [0.829, 0.676, 0.541, 0.424, 0.325, 0.244, 0.181, 0.136, 0.109, 0.1, 0.1, 0.1]),
    ('PolyScheduler', dict(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1, warmup_steps=3,
                           warmup_mode='constant', warmup_begin_lr=0.5),
     [0.5, 0.5, 1.0, 0.761224, 0.559184, 0.393878, 0.265306, 0.173469, 0.118367, 0.1, 0.1, 0.1]),
    ('CosineScheduler', dict(max_update=10, base_lr=1.0, final_lr=0.1),
     [0.977975, 0.914058, 0.814503, 0.689058, 0.55, 0.410942, 0.285497, 0.185942, 0.122025,
      0.1, 0.1, 0.1]),
    ('CosineScheduler', dict(max_update=10, base_lr=1.0, final_lr=0.1, warmup_steps=2,
                             warmup_begin_lr=0.),
     [0.5, 1.0, 0.965746, 0.868198, 0.722208, 0.55, 0.377792, 0.231802, 0.134254, 0.1, 0.1,
      0.1]),
]


@pytest.mark.parametrize('name,kwargs,want', LR_CASES)
def test_lr_schedulers_match_mxnet(name, kwargs, want):
    sched = getattr(mx.lr_scheduler, name)(**kwargs)
    np.testing.assert_allclose([sched(i) for i in range(1, 13)], want, atol=1e-6)


def test_optimizer_follows_its_scheduler():
    sched = mx.lr_scheduler.FactorScheduler(step=1, factor=0.5)
    opt = mx.optimizer.create('sgd', learning_rate=1.0, lr_scheduler=sched)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.zeros((1,))
    for _ in range(3):
        upd(0, mx.nd.ones((1,)), w)
    assert w.asnumpy().tolist() == [-(1.0 + 0.5 + 0.25)]


P1 = [[0.3, 0.7], [0.6, 0.4], [0.2, 0.8], [0.9, 0.1]]
L1 = [1, 1, 0, 0]
P2 = [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]]
L2 = [1, 0, 0]
METRIC_CASES = [   # (name, kwargs, value after batch 1, after batch 2), from MXNet 1.9.1
    ('f1', {}, 0.5, 0.5833333333333333), ('f1', {'average': 'micro'}, 0.5, 0.5714285714285715),
    ('mcc', {}, 0.0, 0.25), ('mcc', {'average': 'micro'}, 0.0, 0.16666666666666666),
    ('perplexity', {'ignore_label': None}, 2.110534071733404, 1.8306137274340384),
    ('top_k_accuracy', {'top_k': 2}, 1.0, 1.0),
    ('nll_loss', {}, 0.7469410300254822, 0.6046512808118548),
    ('ce', {}, 0.7469410300254822, 0.6046512808118548), ('loss', {}, 0.5, 0.5),
    ('mae', {}, 0.5, 0.5), ('mse', {}, 0.32499998807907104, 0.3308333307504654),
    ('rmse', {}, 0.570087730884552, 0.5751587748527527), ('acc', {}, 0.5, 4 / 7),
]


@pytest.mark.parametrize('name,kwargs,first,second', METRIC_CASES)
def test_metric_values_match_mxnet(name, kwargs, first, second):
    m = mx.metric.create(name, **kwargs)
    m.update([mx.nd.array(L1)], [mx.nd.array(P1)])
    assert m.get()[1] == pytest.approx(first, rel=1e-6)
    m.update([mx.nd.array(L2)], [mx.nd.array(P2)])
    assert m.get()[1] == pytest.approx(second, rel=1e-6)
    assert m.get_global()[1] == pytest.approx(second, rel=1e-6)


def test_pearson_and_perplexity_ignore_match_mxnet():
    for average, want in (('macro', -0.04035573497281997), ('micro', 0.8957167230420183)):
        m = mx.metric.create('pearsonr', average=average)
        m.update([mx.nd.array([1., 2, 3, 5])], [mx.nd.array([1.5, 2., 2., 6])])
        m.update([mx.nd.array([0., 1])], [mx.nd.array([1., 0])])
        assert m.get()[1] == pytest.approx(want, rel=1e-6)
    m = mx.metric.create('perplexity', ignore_label=0)
    m.update([mx.nd.array(L1)], [mx.nd.array(P1)])
    assert m.get()[1] == pytest.approx(1.8898223592057068, rel=1e-6)
    assert mx.metric.create('top_k_accuracy', top_k=2).name == 'top_k_accuracy_2'


def test_csv_iter_matches_mxnet(tmp_path):
    (tmp_path / 'd.csv').write_text('1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n')
    (tmp_path / 'l.csv').write_text('0\n1\n2\n3\n4\n')
    it = mx.io.CSVIter(data_csv=str(tmp_path / 'd.csv'), data_shape=(3,),
                       label_csv=str(tmp_path / 'l.csv'), batch_size=2)
    epochs = []
    for _ in range(2):     # MXNet 1.9.1: the next epoch starts after the borrowed row
        epochs.append([(b.data[0].asnumpy()[:, 0].tolist(), b.label[0].asnumpy().tolist(), b.pad)
                       for b in it])
        it.reset()
    assert epochs == [[([1, 4], [0, 1], 0), ([7, 10], [2, 3], 0), ([13, 1], [4, 0], 1)],
                      [([4, 7], [1, 2], 0), ([10, 13], [3, 4], 0)]]
    it = mx.io.CSVIter(data_csv=str(tmp_path / 'd.csv'), data_shape=(1, 3), batch_size=2)
    assert it.provide_data[0].shape == (2, 1, 3) and it.provide_label[0].shape == (2,)
    with pytest.raises(mx.MXNetError, match='d.csv has 3 columns but shape'):
        mx.io.CSVIter(data_csv=str(tmp_path / 'd.csv'), data_shape=(4,))


def test_resize_iter_matches_mxnet():
    r = mx.io.ResizeIter(mx.io.NDArrayIter(np.arange(10).reshape(10, 1), batch_size=3), 5)
    want = [([0, 1, 2], 0), ([3, 4, 5], 0), ([6, 7, 8], 0), ([9, 0, 1], 2), ([0, 1, 2], 0)]
    for _ in range(2):
        assert [(b.data[0].asnumpy().ravel().tolist(), b.pad) for b in r] == want
        r.reset()
    r = mx.io.ResizeIter(mx.io.NDArrayIter(np.arange(10).reshape(10, 1), batch_size=3), 2,
                         reset_internal=False)
    got = []
    for _ in range(3):
        got.append([b.data[0].asnumpy().ravel()[0] for b in r])
        r.reset()
    assert got == [[0, 3], [6, 9], [0, 3]]


def test_prefetching_iter_yields_the_same_batches_and_reraises():
    inner = mx.io.NDArrayIter(np.arange(6).reshape(6, 1), np.arange(6), batch_size=4)
    p = mx.io.PrefetchingIter(inner, rename_data=[{'data': 'x'}])
    assert [d.name for d in p.provide_data] == ['x']
    for _ in range(2):
        assert [(b.data[0].asnumpy().ravel().tolist(), b.pad) for b in p] == \
            [([0, 1, 2, 3], 0), ([4, 5, 0, 1], 2)]
        p.reset()
    p.close()

    class Broken(mx.io.NDArrayIter):
        def next(self):
            raise IOError('disk gone')
    p = mx.io.PrefetchingIter(Broken(np.zeros((4, 1)), batch_size=2))
    with pytest.raises(IOError, match='disk gone'):
        next(iter(p))
    p.close()
