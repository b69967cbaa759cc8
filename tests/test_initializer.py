"""mx.init: name rules, distributions, dumps/create, Mixed, Load, FusedRNN and seeding.

Strings, deterministic values and error behaviour marked "MXNet 1.9.1" came from running
Apache MXNet 1.9.1 on the same calls.
"""
import doctest
import logging
import warnings

import numpy as np
import pytest

import distmod as mx
from distmod import initializer as I
from distmod.initializer import InitDesc


def _filled(init, name, shape, attrs=None, value=7.0):
    arr = mx.nd.full(shape, value)
    init(InitDesc(name, attrs), arr)
    return arr.asnumpy()


# ---- name rules ------------------------------------------------------------------------------
@pytest.mark.parametrize('name,expected', [
    ('fc1_bias', 0.0), ('bn_gamma', 1.0), ('bn_beta', 0.0), ('q_min', 0.0), ('q_max', 1.0),
    ('bn_moving_mean', 0.0), ('bn_moving_var', 1.0), ('x_moving_inv_var', 0.0),
    ('x_moving_avg', 0.0)])
def test_name_rules_fix_non_weights(name, expected):
    assert (_filled(mx.init.Uniform(0.5), name, (3, 2)) == expected).all()


@pytest.mark.parametrize('init', [mx.init.Constant(3), mx.init.One(), mx.init.Zero()])
def test_name_rules_win_over_constant_initializers(init):
    # MXNet 1.9.1: Constant/One/Zero only set *weights*; bias 0, gamma 1 regardless.
    assert (_filled(init, 'fc_bias', (2,)) == 0).all()
    assert (_filled(init, 'bn_gamma', (2,)) == 1).all()
    assert (_filled(init, 'bn_beta', (2,)) == 0).all()


def test_weight_gets_the_initializers_own_rule():
    assert (_filled(mx.init.Constant(2.5), 'fc_weight', (2, 3)) == 2.5).all()
    assert (_filled(mx.init.One(), 'conv_weight', (2, 3)) == 1).all()
    assert (_filled(mx.init.Zero(), 'conv_weight', (2, 3)) == 0).all()


def test_init_attr_overrides_the_name_rule():
    # A Variable(init=...) stores dumps() under __init__; it wins even over bias/var rules.
    attrs = {'__init__': mx.init.Constant(4).dumps()}
    assert (_filled(mx.init.Uniform(), 'fc_bias', (2,), attrs) == 4).all()
    assert (_filled(mx.init.Uniform(), 'bn_moving_var', (2,),
                    {'__init__': '["one", {}]'}) == 1).all()
    assert (_filled(mx.init.Uniform(), 'anything', (3,), {'__init__': '["zero", {}]'}) == 0).all()
    w = mx.sym.Variable('w', init=mx.init.Constant(-2))
    attrs = w.attr_dict()['w']
    assert attrs['__init__'] == '["constant", {"value": -2}]'
    assert (_filled(mx.init.Xavier(), 'w', (2, 2), attrs) == -2).all()


def test_unknown_name_is_a_clear_error_naming_the_parameter():
    with pytest.raises(ValueError, match='Unknown initialization pattern for foo_state'):
        _filled(mx.init.Uniform(), 'foo_state', (2,))
    with pytest.raises(mx.MXNetError, match='Unknown initialization pattern for foo'):
        _filled(mx.init.Constant(3), 'foo', (2,))


def test_stn_loc_and_quantized_names():
    # InitDesc path (MXNet 1.9.1): stn_loc_weight is an ordinary weight, *_weight_quantize
    # int8-range integers, *_bias_quantize zeros.
    assert (_filled(mx.init.One(), 'stn_loc_weight', (6, 4)) == 1).all()
    q = _filled(mx.init.One(), 'fc_weight_quantize', (50,))
    assert (q == np.round(q)).all() and q.min() >= -127 and q.max() < 127
    assert (_filled(mx.init.One(), 'fc_bias_quantize', (4,)) == 0).all()


def test_plain_string_name_uses_mxnets_legacy_rules_with_a_deprecation_warning():
    arr = mx.nd.full((6,), 7)
    with pytest.warns(DeprecationWarning, match='InitDesc'):
        mx.init.Uniform()('stn_loc_bias', arr)
    assert arr.asnumpy().tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # MXNet 1.9.1
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        w = mx.nd.full((6, 4), 7)
        mx.init.One()('stn_loc_weight', w)
        assert (w.asnumpy() == 0).all()
        up = mx.nd.zeros((1, 1, 2, 3))
        mx.init.Uniform()('upsampling0', up)
        assert up.asnumpy().tolist() == [[[[0.0625, 0.1875, 0.1875],
                                            [0.1875, 0.5625, 0.5625]]]]  # MXNet 1.9.1
        with pytest.raises(TypeError, match='arr must be NDArray'):
            mx.init.Uniform()('x_weight', np.zeros(3))


# ---- distributions ---------------------------------------------------------------------------
def test_uniform_and_normal_statistics():
    mx.random.seed(1)
    u = _filled(mx.init.Uniform(0.2), 'fc_weight', (300, 200))
    assert -0.2 <= u.min() < -0.199 and 0.199 < u.max() < 0.2
    assert abs(u.mean()) < 0.003 and abs(u.std() - 0.2 / np.sqrt(3)) < 0.002
    n = _filled(mx.init.Normal(0.5), 'fc_weight', (300, 200))
    assert abs(n.mean()) < 0.01 and abs(n.std() - 0.5) < 0.005
    assert u.dtype == np.float32 and n.dtype == np.float32


@pytest.mark.parametrize('factor_type,factor', [('avg', (64 * 9 + 32 * 9) / 2.0),
                                                ('in', 32 * 9), ('out', 64 * 9)])
def test_xavier_bounds_for_each_factor_type(factor_type, factor):
    mx.random.seed(2)
    shape = (64, 32, 3, 3)          # fan_in = 32*3*3, fan_out = 64*3*3
    bound = np.sqrt(3.0 / factor)
    w = _filled(mx.init.Xavier('uniform', factor_type, 3), 'conv_weight', shape)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound
    g = _filled(mx.init.Xavier('gaussian', factor_type, 2), 'conv_weight', shape)
    assert abs(g.std() - np.sqrt(2.0 / factor)) < 0.02 * np.sqrt(2.0 / factor)


def test_msraprelu_is_gaussian_with_he_magnitude():
    mx.random.seed(3)
    w = _filled(mx.init.MSRAPrelu('in', 0.0), 'fc_weight', (256, 400))
    assert abs(w.std() - np.sqrt(2.0 / 400)) < 0.02 * np.sqrt(2.0 / 400)


def test_orthogonal_rows_or_columns_are_orthonormal_times_scale():
    mx.random.seed(4)
    w = _filled(mx.init.Orthogonal(scale=2.0), 'fc_weight', (20, 5))
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(5), atol=1e-4)
    w = _filled(mx.init.Orthogonal(rand_type='normal'), 'conv_weight', (4, 3, 2, 2))
    m = w.reshape(4, 12)
    np.testing.assert_allclose(m @ m.T, 1.414 ** 2 * np.eye(4), atol=1e-4)


def test_bilinear_weights_equal_mxnets():
    w = _filled(mx.init.Bilinear(), 'up_weight', (2, 1, 4, 4))
    row = [0.0625, 0.1875, 0.1875, 0.0625]
    mid = [0.1875, 0.5625, 0.5625, 0.1875]
    assert w[1, 0].tolist() == [row, mid, mid, row]  # MXNet 1.9.1
    w = _filled(mx.init.Bilinear(), 'up_weight', (1, 1, 3, 4))
    assert w.tolist() == [[[row, mid, mid]]]  # MXNet 1.9.1
    with pytest.raises(mx.MXNetError, match='up_weight.*4-d'):
        _filled(mx.init.Bilinear(), 'up_weight', (4, 4))


def test_lstm_bias_sets_the_forget_gate_only():
    attrs = {'__init__': mx.init.LSTMBias(2.5).dumps()}
    b = _filled(mx.init.Uniform(), 'lstm_i2h_bias', (8,), attrs)
    assert b.tolist() == [0, 0, 2.5, 2.5, 0, 0, 0, 0]  # MXNet 1.9.1


def test_constant_accepts_an_array_value():
    init = mx.init.Constant(mx.nd.array([[1, 2], [3, 4]]))
    assert _filled(init, 'c_weight', (2, 2)).tolist() == [[1, 2], [3, 4]]
    assert init.dumps() == '["constant", {"value": [[1.0, 2.0], [3.0, 4.0]]}]'


def test_float64_and_float16_arrays_are_filled_in_their_dtype():
    mx.random.seed(5)
    for dtype in ('float64', 'float16'):
        arr = mx.nd.zeros((10, 10), dtype=dtype)
        data = arr._data
        mx.init.Xavier()(InitDesc('fc_weight'), arr)
        assert arr._data is data and arr.dtype == np.dtype(dtype)
        assert np.abs(arr.asnumpy()).max() <= np.sqrt(3 / 10.0) + 1e-3


def test_arrays_are_filled_in_place():
    arr = mx.nd.zeros((4, 5))
    data = arr._data
    mx.init.Normal(1.0)(InitDesc('fc_weight'), arr)
    assert arr._data is data and np.abs(data).sum() > 0


# ---- seeding ---------------------------------------------------------------------------------
@pytest.mark.parametrize('init', [mx.init.Uniform(), mx.init.Normal(), mx.init.Xavier(),
                                  mx.init.MSRAPrelu(), mx.init.Orthogonal()])
def test_seed_makes_initialisation_repeatable(init):
    def draw(seed):
        mx.random.seed(seed)
        return _filled(init, 'fc_weight', (6, 4)), _filled(init, 'fc2_weight', (6, 4))
    a, b, c = draw(11), draw(11), draw(12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], c[0])


# ---- dumps / create / register ---------------------------------------------------------------
@pytest.mark.parametrize('init,expected', [   # every string: MXNet 1.9.1
    (mx.init.Uniform(), '["uniform", {"scale": 0.07}]'),
    (mx.init.Uniform(0.1), '["uniform", {"scale": 0.1}]'),
    (mx.init.Normal(), '["normal", {"sigma": 0.01}]'),
    (mx.init.Normal(0.5), '["normal", {"sigma": 0.5}]'),
    (mx.init.Xavier(), '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 3}]'),
    (mx.init.Xavier('gaussian', 'in', 2),
     '["xavier", {"rnd_type": "gaussian", "factor_type": "in", "magnitude": 2}]'),
    (mx.init.Xavier(factor_type='out', magnitude=2.34),
     '["xavier", {"rnd_type": "uniform", "factor_type": "out", "magnitude": 2.34}]'),
    (mx.init.MSRAPrelu(), '["msraprelu", {"factor_type": "avg", "slope": 0.25}]'),
    (mx.init.MSRAPrelu('in', 0.1), '["msraprelu", {"factor_type": "in", "slope": 0.1}]'),
    (mx.init.Orthogonal(), '["orthogonal", {"scale": 1.414, "rand_type": "uniform"}]'),
    (mx.init.Orthogonal(2.0, 'normal'), '["orthogonal", {"scale": 2.0, "rand_type": "normal"}]'),
    (mx.init.Constant(2.5), '["constant", {"value": 2.5}]'),
    (mx.init.Constant(mx.nd.array([[1, 2]])), '["constant", {"value": [[1.0, 2.0]]}]'),
    (mx.init.Zero(), '["zero", {}]'),
    (mx.init.One(), '["one", {}]'),
    (mx.init.Bilinear(), '["bilinear", {}]'),
    (mx.init.LSTMBias(), '["lstmbias", {"forget_bias": 1.0}]'),
    (mx.init.LSTMBias(2.0), '["lstmbias", {"forget_bias": 2.0}]'),
    (mx.init.FusedRNN(mx.init.Xavier(), 4, 2, 'gru', True, 0.5),
     '["fusedrnn", {"init": "[\\"xavier\\", {\\"rnd_type\\": \\"uniform\\", \\"factor_type\\": '
     '\\"avg\\", \\"magnitude\\": 3}]", "num_hidden": 4, "num_layers": 2, "mode": "gru", '
     '"bidirectional": true, "forget_bias": 0.5}]'),
    (mx.init.FusedRNN(None, 3, 1, 'lstm'),
     '["fusedrnn", {"init": null, "num_hidden": 3, "num_layers": 1, "mode": "lstm", '
     '"bidirectional": false, "forget_bias": 1.0}]'),
])
def test_dumps_equals_mxnet_and_round_trips_through_create(init, expected):
    assert init.dumps() == expected
    again = mx.init.create(expected)
    assert type(again) is type(init) and again.dumps() == expected


@pytest.mark.parametrize('spec,cls,dumps', [   # MXNet 1.9.1
    ('zeros', 'Zero', '["zero", {}]'),
    ('ONES', 'One', '["one", {}]'),
    ('msraprelu', 'MSRAPrelu', '["msraprelu", {"factor_type": "avg", "slope": 0.25}]'),
    ('xavier', 'Xavier',
     '["xavier", {"rnd_type": "uniform", "factor_type": "avg", "magnitude": 3}]'),
    ('{"initializer": "normal", "sigma": 0.3}', 'Normal', '["normal", {"sigma": 0.3}]'),
    ({'initializer': 'uniform', 'scale': 0.2}, 'Uniform', '["uniform", {"scale": 0.2}]'),
])
def test_create_from_names_json_and_dicts(spec, cls, dumps):
    init = mx.init.create(spec)
    assert type(init).__name__ == cls and init.dumps() == dumps


def test_create_passes_arguments_and_returns_instances_as_is():
    assert mx.init.create('uniform', 0.2).dumps() == '["uniform", {"scale": 0.2}]'
    assert mx.initializer.create(initializer='constant', value=3).dumps() == \
        '["constant", {"value": 3}]'
    x = mx.init.Xavier()
    assert mx.init.create(x) is x
    with pytest.raises(mx.MXNetError, match='already an instance'):
        mx.init.create(x, magnitude=2)


def test_create_errors_name_the_problem():
    with pytest.raises(mx.MXNetError, match="unknown initializer 'glorot'.*xavier"):
        mx.init.create('glorot')
    with pytest.raises(mx.MXNetError, match='cannot read initializer'):
        mx.init.create('["xavier", {')
    with pytest.raises(mx.MXNetError, match='must be an Initializer or a name'):
        mx.init.create(3)


def test_register_and_alias_a_custom_initializer():
    @mx.init.register
    @mx.init.alias('partway')
    class PartInit(mx.init.Initializer):
        def __init__(self, half=0.5):
            super().__init__(half=half)
            self.half = half

        def _init_weight(self, _, arr):
            arr[:] = self.half

        def _init_bias(self, _, arr):
            arr[:] = -1

    assert mx.init.create('partinit').dumps() == '["partinit", {"half": 0.5}]'
    init = mx.init.create('partway', half=0.25)
    assert (_filled(init, 'fc_weight', (2,)) == 0.25).all()
    assert (_filled(init, 'fc_bias', (2,)) == -1).all()
    assert (_filled(mx.init.Uniform(), 'v', (2,), {'__init__': init.dumps()}) == 0.25).all()
    with pytest.raises(mx.MXNetError, match='Can only register subclass of Initializer'):
        mx.init.register(dict)


def test_equality_compares_class_and_arguments():
    assert mx.init.Xavier() == mx.init.Xavier()
    assert mx.init.Xavier() != mx.init.Xavier(magnitude=2)
    assert mx.init.Zero() != mx.init.One()


def test_bad_constructor_arguments_are_rejected_early():
    with pytest.raises(mx.MXNetError, match="rnd_type must be 'uniform' or 'gaussian'"):
        mx.init.Xavier(rnd_type='normal')
    with pytest.raises(mx.MXNetError, match="factor_type must be 'avg', 'in' or 'out'"):
        mx.init.Xavier(factor_type='fan')
    with pytest.raises(mx.MXNetError, match="rand_type must be 'uniform' or 'normal'"):
        mx.init.Orthogonal(rand_type='gaussian')
    with pytest.raises(ValueError, match='cannot be applied to vector v_weight'):
        _filled(mx.init.Xavier(), 'v_weight', (3,))
    with pytest.raises(NotImplementedError, match='Initializer does not define _init_weight'):
        _filled(mx.init.Initializer(), 'fc_weight', (3,))


# ---- Mixed and Load --------------------------------------------------------------------------
def test_mixed_picks_the_first_matching_pattern():
    mixed = mx.init.Mixed(['.*bias', 'fc1_.*', '.*'],
                          [mx.init.Constant(3), mx.init.Constant(5), mx.init.One()])
    # the chosen initializer still applies its name rules: a bias stays 0 (MXNet 1.9.1)
    assert (_filled(mixed, 'fc1_bias', (2,)) == 0).all()
    assert (_filled(mixed, 'fc1_weight', (2, 2)) == 5).all()
    assert (_filled(mixed, 'fc2_weight', (2, 2)) == 1).all()
    assert (_filled(mixed, 'fc2_bias', (2, 2), {'__init__': '["constant", {"value": 9}]'})
            == 9).all()
    strict = mx.init.Mixed(['fc.*'], [mx.init.One()])
    with pytest.raises(ValueError, match='conv_weight did not match any pattern'):
        _filled(strict, 'conv_weight', (2,))
    with pytest.raises(mx.MXNetError, match='2 patterns for 1 initializers'):
        mx.init.Mixed(['a', 'b'], [mx.init.One()])


def test_load_from_a_dict_strips_prefixes_and_falls_back():
    load = mx.init.Load({'arg:fc_weight': mx.nd.full((2, 2), 7), 'aux:bn_moving_mean':
                         mx.nd.array([1, 2]), 'plain': mx.nd.array([3])},
                        default_init=mx.init.Zero())
    assert (_filled(load, 'fc_weight', (2, 2)) == 7).all()
    assert _filled(load, 'bn_moving_mean', (2,)).tolist() == [1, 2]
    assert _filled(load, 'plain', (1,)).tolist() == [3]
    assert (_filled(load, 'fc_bias', (3,)) == 0).all()
    with pytest.raises(mx.MXNetError,
                       match=r'fc_weight.*Shape mismatch, target \(3, 3\) vs loaded \(2, 2\)'):
        _filled(load, 'fc_weight', (3, 3))
    with pytest.raises(mx.MXNetError, match='Cannot Initialize other_weight. Not found'):
        _filled(mx.init.Load({}), 'other_weight', (2,))
    with pytest.raises(mx.MXNetError, match='dict of named arrays'):
        mx.init.Load([1, 2])


def test_load_from_a_params_file(tmp_path, caplog):
    fname = str(tmp_path / 'net-0001.params')
    mx.nd.save(fname, {'arg:fc_weight': mx.nd.array([[1, 2], [3, 4]]),
                       'aux:bn_moving_var': mx.nd.array([5, 6])})
    caplog.set_level(logging.INFO)
    load = mx.init.Load(fname, default_init=mx.init.One(), verbose=True)
    assert sorted(load.param) == ['bn_moving_var', 'fc_weight']
    assert _filled(load, 'fc_weight', (2, 2)).tolist() == [[1, 2], [3, 4]]
    assert _filled(load, 'bn_moving_var', (2,)).tolist() == [5, 6]
    assert (_filled(load, 'fc2_weight', (2,)) == 1).all()
    assert [r.getMessage() for r in caplog.records] == [
        'Initialized fc_weight by loading', 'Initialized bn_moving_var by loading',
        'Initialized fc2_weight by default']


# ---- FusedRNN --------------------------------------------------------------------------------
class _ByName(mx.init.Initializer):
    """Fills each piece with a number derived from its name, to pin the packing layout."""

    def _code(self, name):
        return float(sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 101)

    def _init_weight(self, name, arr):
        arr[:] = self._code(name)

    def _init_bias(self, name, arr):
        arr[:] = -self._code(name)


FUSED = [  # (num_hidden, num_layers, mode, bidirectional, forget_bias, init or global): MXNet 1.9.1
    ((2, 1, 'lstm', False, 1.5, 'init'), 56, [
        18, 18, 18, 18, 18, 18, 95, 95, 95, 95, 95, 95, 71, 71, 71, 71, 71, 71, 66, 66, 66, 66,
        66, 66, 14, 14, 14, 14, 91, 91, 91, 91, 67, 67, 67, 67, 62, 62, 62, 62, -49, -49, 1.5,
        1.5, -1, -1, -97, -97, -45, -45, 1.5, 1.5, -98, -98, -93, -93]),
    ((1, 2, 'gru', True, 1.0, 'init'), 66, [
        90, 90, 90, 53, 53, 53, 66, 66, 66, 86, 49, 62, 96, 96, 96, 59, 59, 59, 72, 72, 72, 92,
        55, 68, 92, 92, 55, 55, 68, 68, 88, 51, 64, 98, 98, 61, 61, 74, 74, 94, 57, 70, -20,
        -84, -97, -16, -80, -93, -26, -90, -2, -22, -86, -99, -22, -86, -99, -18, -82, -95,
        -28, -92, -4, -24, -88, 0]),
    ((2, 1, 'rnn_relu', True, 1.0, 'global'), 20, [
        57, 57, 53, 53, 53, 53, 63, 63, 59, 59, 59, 59, -49, -49, -45, -45, -55, -55, -51,
        -51]),
]


@pytest.mark.parametrize('config,size,expected', FUSED, ids=['lstm', 'gru-bi-2', 'relu-bi'])
def test_fused_rnn_packs_pieces_in_mxnets_layout(config, size, expected):
    h, layers, mode, bi, forget, which = config
    arr = mx.nd.zeros((size,))
    if which == 'init':     # pieces go to FusedRNN's own init
        fused = mx.init.FusedRNN(_ByName(), h, layers, mode, bi, forget)
        fused._init_weight(InitDesc('rnn_parameters', global_init=mx.init.Constant(-1)), arr)
    else:                   # init=None: pieces go to the global initializer
        fused = mx.init.FusedRNN(None, h, layers, mode, bi, forget)
        _ByName()(InitDesc('rnn_parameters', {'__init__': fused.dumps()}), arr)
    assert arr.asnumpy().tolist() == expected


def test_fused_rnn_from_its_dumps_string_and_size_errors():
    init = mx.init.FusedRNN(mx.init.One(), 2, 1, 'lstm', forget_bias=3.0)
    arr = mx.nd.zeros((56,))
    # MXNet 1.9.1 cannot rebuild a FusedRNN from its own dumps() (a registry KeyError); we can.
    mx.init.Uniform()(InitDesc('rnn_parameters', {'__init__': init.dumps()}), arr)
    values = arr.asnumpy()
    assert (values[:40] == 1).all() and sorted(set(values[40:].tolist())) == [0.0, 3.0]
    with pytest.raises(mx.MXNetError, match='rnn_parameters has 57 elements'):
        mx.init.Uniform()(InitDesc('rnn_parameters', {'__init__': init.dumps()}),
                          mx.nd.zeros((57,)))
    with pytest.raises(mx.MXNetError, match='mode must be one of'):
        mx.init.FusedRNN(None, 2, 1, 'LSTM')


# ---- logging and module docstring ------------------------------------------------------------
def test_set_verbosity_logs_mxnets_lines(caplog):
    caplog.set_level(logging.INFO)
    init = mx.init.Uniform().set_verbosity(True)
    init(InitDesc('fc_bias'), mx.nd.ones((2, 2)))
    init(InitDesc('w', {'__init__': '["one", {}]'}), mx.nd.ones((2, 2)))
    init(InitDesc('w', {'__init__': '["constant", {"value": 3}]'}), mx.nd.ones((2, 3)))
    mx.init.Uniform().set_verbosity(True, print_func=lambda a: 'custom')(
        InitDesc('fc_weight'), mx.nd.ones((2, 2)))
    assert [r.getMessage() for r in caplog.records] == [   # MXNet 1.9.1 (but the last)
        'Initialized fc_bias as bias: 0.0',
        'Initialized w as ["one", {}]: 1.0',
        'Initialized w as ["constant", {"value": 3}]: 3.0',
        'Initialized fc_weight as weight: custom']


def test_module_init_params_uses_the_rules():
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=3, name='fc')
    mod = mx.mod.Module(net, data_names=['data'], label_names=None)
    mod.bind(data_shapes=[('data', (2, 4))])
    mod.init_params(mx.init.Constant(0.5))
    args, _ = mod.get_params()
    assert (args['fc_weight'].asnumpy() == 0.5).all() and (args['fc_bias'].asnumpy() == 0).all()


def test_module_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(I, 'initializer', globs={'mx': mx}):
        assert runner.run(test).failed == 0, test.name
