"""mx.optimizer: every optimizer's updates, multipliers, multi-precision and the safe Updater
state format, against numbers from MXNet 1.9.1."""
import pickle

import numpy as np
import pytest

import distmod as mx

W0 = np.array([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]], np.float32)
B0 = np.array([0.2, -0.4], np.float32)
GW = [np.array([[1.0, -2.0, 0.5], [3.0, -0.1, 0.2]], np.float32),
      np.array([[-0.5, 1.0, 2.5], [0.3, 0.4, -4.0]], np.float32),
      np.array([[0.2, 0.2, -0.2], [1.0, -1.0, 0.0]], np.float32),
      np.array([[0.7, -0.3, 0.1], [-2.0, 0.5, 0.6]], np.float32)]
GB = [np.array([0.5, -1.5], np.float32), np.array([2.0, 0.1], np.float32),
      np.array([-0.3, 0.3], np.float32), np.array([1.0, -1.0], np.float32)]


class ConstantSchedule:
    """An lr_scheduler as MXNet accepts one: a callable with ``base_lr``."""

    def __init__(self, lr):
        self.base_lr = lr

    def __call__(self, num_update):
        return self.base_lr


def run_two_params(name, kwargs, scheduled):
    """Four updates of 'fc_weight' (index 0) and 'fc_bias' (index 1, lr_mult 2, and wd_mult 0
    by MXNet's naming rule), as the expected numbers were made in MXNet 1.9.1."""
    kwargs = dict(kwargs)
    if scheduled:
        kwargs['lr_scheduler'] = ConstantSchedule(kwargs.get('learning_rate', 0.01))
    opt = mx.optimizer.create(name, param_idx2name={0: 'fc_weight', 1: 'fc_bias'}, **kwargs)
    opt.set_lr_mult({'fc_bias': 2.0})
    upd = mx.optimizer.get_updater(opt)
    w, b = mx.nd.array(W0), mx.nd.array(B0)
    for gw, gb in zip(GW, GB):
        upd(0, mx.nd.array(gw), w)
        upd(1, mx.nd.array(gb), b)
    return w.asnumpy(), b.asnumpy()


# Weights after the four updates above, from MXNet 1.9.1 (its lr_scheduler was the constant
# schedule; the same numbers come without one).  MXNet 1.9.1 has no 'adamw' optimizer, and its
# DCASGD with momentum fails ('truth value of an NDArray'), so neither is here.
CASES_WANT = [
    ('sgd', {'learning_rate': 0.1},
     [[[0.36, -0.89, 1.71], [-0.13, 0.02, 0.02]], [-0.44, 0.02]]),
    ('sgd', {'learning_rate': 0.1, 'momentum': 0.9, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.3211759, -0.7881418, 1.5971079], [-0.2550647, 0.0328995, -0.1082777]], [-0.5027499, 0.13175]]),
    ('sgd', {'learning_rate': 0.1, 'momentum': 0.0, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4206216, -0.935944, 1.8515199], [0.0347578, 0.0098749, -0.2447934]], [-0.1, -0.19]]),
    ('nag', {'learning_rate': 0.1, 'momentum': 0.9, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.2628911, -0.7504535, 1.495751], [-0.2765155, 0.0391355, -0.0754697]], [-0.7324749, 0.288575]]),
    ('nag', {'learning_rate': 0.1, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4206216, -0.935944, 1.8515199], [0.0347578, 0.0098749, -0.2447933]], [-0.1, -0.19]]),
    ('adam', {'learning_rate': 0.01, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4772423, -0.9830889, 1.9666651], [0.0723125, 0.0093669, -0.2954478]], [0.1365468, -0.3496599]]),
    ('adam', {'learning_rate': 0.01, 'beta1': 0.8, 'beta2': 0.99, 'epsilon': 0.0001},
     [[[0.4797915, -0.9854296, 1.9704585], [0.0749094, 0.0092282, -0.2938799]], [0.1372911, -0.3522397]]),
    ('adagrad', {'learning_rate': 0.1, 'eps': 0.001, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.366066, -0.9250301, 1.772508], [0.0009123, 0.0382487, -0.3210623]], [-0.252732, -0.1433695]]),
    ('rmsprop', {'learning_rate': 0.01, 'gamma1': 0.8, 'epsilon': 0.001, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.467213, -0.9841713, 1.9528366], [0.0776269, 0.0027619, -0.3027465]], [0.0969789, -0.339719]]),
    ('rmsprop', {'learning_rate': 0.01, 'centered': True, 'gamma1': 0.95, 'gamma2': 0.8, 'epsilon': 0.001, 'clip_weights': 1.5, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.3700685, -0.9112584, 1.3086274], [-0.0646401, 0.0100721, -0.2715893]], [-0.2691669, -0.1294557]]),
    ('adadelta', {'rho': 0.8, 'epsilon': 0.001, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.3043445, -0.7937765, 1.4918015], [0.0329683, -0.0028743, -0.2567587]], [-0.0085117, -0.2974963]]),
    ('adamax', {'learning_rate': 0.01, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4812674, -0.9853322, 1.9747447], [0.0776339, 0.0090019, -0.3007982]], [0.151499, -0.3603759]]),
    ('nadam', {'learning_rate': 0.01, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4831464, -0.990763, 1.977018], [0.0885486, 0.0067239, -0.3035652]], [0.1572068, -0.3743802]]),
    ('ftrl', {'learning_rate': 0.1, 'lamda1': 0.05, 'beta': 0.5, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.1783437, -0.6023564, 0.5634412], [0.0031293, 0.001475, -0.0148062]], [-0.1614893, -0.0730131]]),
    ('ftml', {'learning_rate': 0.05, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.433559, -0.9632285, 1.9021807], [0.0513549, 0.0284504, -0.3190715]], [-0.0140829, -0.2729524]]),
    ('signum', {'learning_rate': 0.01, 'momentum': 0.9, 'wd_lh': 0.02, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4596122, -0.9592124, 1.9584126], [0.059932, 0.019996, -0.2797601]], [0.1197282, -0.3194083]]),
    ('signum', {'learning_rate': 0.01, 'momentum': 0.0, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4790107, -0.9980015, 1.9760227], [0.0798301, -1e-05, -0.3093954]], [0.16, -0.4]]),
    ('lamb', {'learning_rate': 0.01, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4670494, -0.9782006, 1.9476169], [0.0617014, 0.0100971, -0.2845584]], [0.1724051, -0.3790139]]),
    ('lamb', {'learning_rate': 0.01, 'bias_correction': False, 'lower_bound': 0.1, 'upper_bound': 1.0, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4853332, -0.9912354, 1.9782114], [0.0826913, 0.0045512, -0.2930382]], [0.1724054, -0.3790137]]),
    ('dcasgd', {'learning_rate': 0.1, 'lamda': 0.5, 'wd': 0.05, 'rescale_grad': 0.5, 'clip_gradient': 0.9},
     [[[0.4208484, -0.9370905, 1.8529721], [0.0370608, 0.0099569, -0.2444574]], [-0.096314, -0.1892655]]),
    ('test', {'rescale_grad': 0.5},
     [[[1.2, -1.55, 3.45], [1.25, -0.1, -1.9000001]], [1.8000001, -1.45]]),
]


@pytest.mark.parametrize('scheduled', [False, True], ids=['lr', 'scheduler'])
@pytest.mark.parametrize('name,kwargs,want', CASES_WANT,
                         ids=['%s-%d' % (c[0], i) for i, c in enumerate(CASES_WANT)])
def test_updates_match_mxnet(name, kwargs, want, scheduled):
    w, b = run_two_params(name, kwargs, scheduled)
    np.testing.assert_allclose(w, want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, want[1], rtol=1e-5, atol=1e-6)


def test_updates_are_in_place_and_reuse_their_buffers():
    opt = mx.optimizer.create('adam', wd=0.1, clip_gradient=1.0)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(W0)
    buf, before = w._data, W0.copy()
    upd(0, mx.nd.array(GW[0]), w)
    states = [s._data for s in upd.states[0]]
    scratch = dict(opt._buffers)
    upd(0, mx.nd.array(GW[1]), w)
    assert w._data is buf and not np.array_equal(buf, before)
    assert [s._data for s in upd.states[0]] == states
    assert all(opt._buffers[k] is v for k, v in scratch.items()) and len(opt._buffers) == len(scratch)


def test_adamw_decouples_weight_decay():
    """MXNet 1.9.1's contrib.adamw_update (eta=1) with Adam's bias-corrected rate."""
    opt = mx.optimizer.create('adamw', learning_rate=0.01, wd=0.01, rescale_grad=0.5,
                              clip_gradient=1.0, param_idx2name={0: 'fc_weight'})
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(W0)
    for g in GW[:3]:
        upd(0, mx.nd.array(g), w)
    np.testing.assert_allclose(w.asnumpy(), [[0.469559, -0.95638, 1.915854],
                                             [0.071386, 0.00852, -0.289011]], atol=3e-6)


@pytest.mark.parametrize('name,weight16,master', [   # from MXNet 1.9.1
    ('sgd', [[0.3212890625, -0.7880859375, 1.5966796875],
             [-0.255126953125, 0.03289794921875, -0.10833740234375]],
     [[0.3211708, -0.7881348, 1.5971043], [-0.2550946, 0.0329085, -0.1083209]]),
    ('nag', [[0.262939453125, -0.75048828125, 1.49609375],
             [-0.276611328125, 0.039154052734375, -0.07550048828125]],
     [[0.2628791, -0.7504422, 1.4957467], [-0.2765466, 0.0391471, -0.0755152]]),
    ('adam', [[0.477294921875, -0.98291015625, 1.966796875],
              [0.072265625, 0.009368896484375, -0.29541015625]],
     [[0.4772423, -0.9830885, 1.9666649], [0.0722878, 0.0093678, -0.2954963]]),
])
def test_multi_precision_keeps_float32_master_weights(name, weight16, master):
    lr = 0.01 if name == 'adam' else 0.1
    kwargs = dict(learning_rate=lr, wd=0.05, rescale_grad=0.5, clip_gradient=0.9)
    if name != 'adam':
        kwargs['momentum'] = 0.9
    opt = mx.optimizer.create(name, multi_precision=True, param_idx2name={0: 'fc_weight'},
                              **kwargs)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(W0, dtype='float16')
    for g in GW:
        upd(0, mx.nd.array(g, dtype='float16'), w)
    assert w.dtype == np.float16
    state = upd.states[0]        # MXNet's layouts: SGD/NAG (mom, master), others (master, state)
    master_nd = state[1] if name in ('sgd', 'nag') else state[0]
    assert master_nd.dtype == np.float32
    np.testing.assert_allclose(master_nd.asnumpy(), master, atol=2e-6)
    np.testing.assert_allclose(w.asnumpy().astype(float), weight16, atol=1e-3)


def test_float16_without_multi_precision_warns():
    opt = mx.optimizer.create('sgd', momentum=0.9)
    with pytest.warns(UserWarning, match='multi_precision=True'):
        mx.optimizer.get_updater(opt)(0, mx.nd.ones((2,), dtype='float16'),
                                      mx.nd.ones((2,), dtype='float16'))


def test_lr_and_wd_mult_come_from_symbol_attributes():
    x = mx.sym.Variable('x')
    w = mx.sym.Variable('w', lr_mult=2.0, wd_mult=3.0)
    fc = mx.sym.FullyConnected(x, w, num_hidden=2, name='fc')
    opt = mx.optimizer.create('sgd', sym=fc, param_idx2name={0: 'w', 1: 'fc_bias'},
                              learning_rate=0.1, wd=0.1, momentum=0.9)
    assert opt.lr_mult == {'w': 2.0}
    assert opt.wd_mult == {'w': 3.0, 'fc_bias': 0.0}      # no _weight/_gamma suffix: 0
    assert (opt._get_lr(0), opt._get_lr(1), opt._get_wd(1)) == (0.2, 0.1, 0.0)
    assert opt._get_wd(0) == pytest.approx(0.3)
    upd = mx.optimizer.get_updater(opt)
    wt, b = mx.nd.array(W0), mx.nd.array(B0)
    for gw, gb in zip(GW, GB):
        upd(0, mx.nd.array(gw), wt)
        upd(1, mx.nd.array(gb), b)
    np.testing.assert_allclose(wt.asnumpy(), [[-0.2958339, 0.1508679, -0.4701228],  # MXNet
                                              [-1.8170969, 0.1275021, 1.6001557]], atol=2e-6)
    np.testing.assert_allclose(b.asnumpy(), [-0.55695, 0.13175], atol=2e-6)


def test_learning_rate_and_scheduler_rules_follow_mxnet():
    sched = ConstantSchedule(0.8)
    opt = mx.optimizer.create('sgd', lr_scheduler=sched)     # no learning_rate: keep base_lr
    assert (opt.lr, sched.base_lr, opt.learning_rate) == (None, 0.8, 0.8)
    opt = mx.optimizer.create('sgd', lr_scheduler=sched, learning_rate=0.3)
    assert (opt.lr, sched.base_lr) == (0.3, 0.3)
    opt = mx.optimizer.create('adam', lr_scheduler=sched)    # Adam's default 0.001 overrides
    assert sched.base_lr == 0.001
    with pytest.raises(UserWarning, match='LRScheduler of the optimizer'):
        opt.set_learning_rate(0.1)
    opt = mx.optimizer.create('sgd')
    assert opt.learning_rate == 0.01
    opt.set_learning_rate(0.5)
    assert opt.learning_rate == 0.5


def test_update_counts_and_begin_num_update():
    opt = mx.optimizer.create('sgd', begin_num_update=10)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.zeros((2,))
    upd(0, mx.nd.ones((2,)), w)
    upd([0, 1], [mx.nd.ones((2,)), mx.nd.ones((2,))], [w, mx.nd.zeros((2,))])
    assert opt._index_update_count == {0: 12, 1: 11} and opt.num_update == 12


def test_clip_gradient_zero_means_off_for_fused_kernels():
    opt = mx.optimizer.create('sgd', learning_rate=0.1, clip_gradient=0.0)
    w = mx.nd.array([1.0])
    mx.optimizer.get_updater(opt)(0, mx.nd.array([5.0]), w)
    assert w.asnumpy().tolist() == [0.5]                       # MXNet 1.9.1: [0.5]


def test_create_by_name_and_unknown_name_lists_known_ones():
    assert type(mx.optimizer.create('SGD')) is mx.optimizer.SGD
    assert type(mx.optimizer.Optimizer.create_optimizer('adam')) is mx.optimizer.Adam
    assert mx.optimizer.Optimizer.opt_registry['nag'] is mx.optimizer.NAG
    with pytest.raises(ValueError, match=r'Cannot find optimizer sgdd; known: .*adam.*sgd'):
        mx.optimizer.create('sgdd')

    @mx.optimizer.register
    class MyOpt(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight._data -= grad._data

    try:
        assert isinstance(mx.optimizer.create('myopt'), MyOpt)
    finally:
        del mx.optimizer.Optimizer.opt_registry['myopt']


def _trained_updater(name, **kwargs):
    opt = mx.optimizer.create(name, param_idx2name={0: 'fc_weight', 1: 'fc_bias'}, **kwargs)
    upd = mx.optimizer.get_updater(opt)
    w, b = mx.nd.array(W0), mx.nd.array(B0)
    for gw, gb in zip(GW[:2], GB[:2]):
        upd(0, mx.nd.array(gw), w)
        upd(1, mx.nd.array(gb), b)
    return upd, w, b


@pytest.mark.parametrize('name,kwargs', [('adam', dict(wd=0.1)), ('sgd', dict(momentum=0.9)),
                                         ('rmsprop', dict(centered=True)), ('ftml', {}),
                                         ('sgd', dict(momentum=0.9, multi_precision=True))])
def test_updater_states_round_trip_and_training_continues_identically(name, kwargs):
    upd, w, b = _trained_updater(name, **kwargs)
    blob = upd.get_states()
    assert blob[:2] == b'PK' and blob[:1] != b'\x80'     # an npz (zip), not a pickle
    upd2 = mx.optimizer.get_updater(mx.optimizer.create(
        name, param_idx2name={0: 'fc_weight', 1: 'fc_bias'}, **kwargs))
    upd2.set_states(blob)
    w2, b2 = w.copy(), b.copy()
    for gw, gb in zip(GW[2:], GB[2:]):
        upd(0, mx.nd.array(gw), w)
        upd(1, mx.nd.array(gb), b)
        upd2(0, mx.nd.array(gw), w2)
        upd2(1, mx.nd.array(gb), b2)
    np.testing.assert_array_equal(w.asnumpy(), w2.asnumpy())
    np.testing.assert_array_equal(b.asnumpy(), b2.asnumpy())


def test_dump_optimizer_restores_hyper_parameters_without_pickle():
    upd, w, _ = _trained_updater('sgd', learning_rate=0.3, momentum=0.8, wd=0.01,
                                 lr_scheduler=ConstantSchedule(0.3))
    upd.optimizer.set_lr_mult({'fc_bias': 2.0})
    blob = upd.get_states(dump_optimizer=True)
    fresh = mx.optimizer.get_updater(mx.optimizer.create('adam'))
    with pytest.warns(UserWarning, match="scheduler 'ConstantSchedule'"):
        fresh.set_states(blob)
    opt = fresh.optimizer
    assert type(opt) is mx.optimizer.SGD
    assert (opt.lr, opt.momentum, opt.wd, opt.num_update) == (0.3, 0.8, 0.01, 2)
    assert opt.lr_mult == {'fc_bias': 2.0} and opt.idx2name == {0: 'fc_weight', 1: 'fc_bias'}
    assert opt._index_update_count == {0: 2, 1: 2}
    assert opt.lr_scheduler is None              # a user-defined scheduler class is not rebuilt
    same = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    keep = same.optimizer
    with pytest.warns(UserWarning):
        same.set_states(blob)
    assert same.optimizer is keep and keep.lr == 0.3   # restored in place when the class matches


def test_set_states_reads_mxnet_pickles_without_code_and_refuses_garbage():
    upd = mx.optimizer.get_updater(mx.optimizer.create('adam'))
    for blob in (pickle.dumps({0: None}), pickle.dumps({0: None}, protocol=0)):
        upd.set_states(blob)                  # MXNet's format, read without running code
        assert upd.states == {0: None}
    with pytest.raises(ValueError, match='not distmod optimizer states'):
        upd.set_states(b'garbage')
    with pytest.raises(mx.MXNetError, match='expects the bytes'):
        upd.set_states({0: None})


def test_optimizers_refuse_to_be_pickled():
    with pytest.raises(TypeError, match='get_states'):
        pickle.dumps(mx.optimizer.create('sgd'))


def test_dump_optimizer_rebuilds_a_known_scheduler():
    sched = mx.lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    upd, _, _ = _trained_updater('sgd', learning_rate=1.0, lr_scheduler=sched)
    fresh = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    fresh.set_states(upd.get_states(dump_optimizer=True))
    got = fresh.optimizer.lr_scheduler
    assert type(got) is mx.lr_scheduler.FactorScheduler and got is not sched
    assert [got(n) for n in range(1, 6)] == [sched(n) for n in range(1, 6)]


def test_lars_matches_mxnet():
    """Three LARS steps of a weight and a bias (no scaling, no decay for the bias); MXNet
    1.9.1's numbers (mx.optimizer.create('lars', ...) on the same draws)."""
    rng = np.random.RandomState(0)
    w0 = rng.randn(5, 4).astype(np.float32)
    b0 = rng.randn(4).astype(np.float32)
    opt = mx.optimizer.create('lars', learning_rate=0.5, momentum=0.9, wd=0.01, eta=0.01,
                              rescale_grad=0.5, param_idx2name={0: 'fc_weight', 1: 'fc_bias'})
    w, b = mx.nd.array(w0), mx.nd.array(b0)
    sw, sb = opt.create_state(0, w), opt.create_state(1, b)
    for _ in range(3):
        gw, gb = mx.nd.array(rng.randn(5, 4)), mx.nd.array(rng.randn(4))
        opt.update(0, w, gw, sw)
        opt.update(1, b, gb, sb)
    mxnet = [1.750830054283142, 0.42474400997161865, 0.9860789775848389, 2.24064302444458,
             1.8596609830856323, -0.9765679836273193, 0.9497029781341553, -0.160739004611969,
             -0.08825799822807312, 0.4244999885559082, 0.15289700031280518, 1.4635390043258667,
             0.7473199963569641, 0.10297500342130661, 0.4515320062637329, 0.3577769994735718,
             1.5081939697265625, -0.18976399302482605, 0.352836012840271, -0.8868079781532288,
             -1.8288019895553589, 0.6815800070762634, 1.2777949571609497, -1.5068249702453613]
    got = np.concatenate([w.asnumpy().ravel(), b.asnumpy().ravel()])
    np.testing.assert_allclose(got, mxnet, rtol=1e-5, atol=1e-6)
