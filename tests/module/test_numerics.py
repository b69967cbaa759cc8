"""fit's numerics guard (check_numerics / DISTMOD_CHECK_NUMERICS) and SoftmaxOutput's label
range check: real training runs made to blow up, and the error each one gives."""
import logging
import warnings

import numpy as np
import pytest

import distmod as mx
from distmod.module import numerics
from distmod.ops import loss

FEAT, CLASSES, BATCH = 6, 4, 10


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    """No DISTMOD_CHECK_NUMERICS from outside; every test sees the label warning afresh."""
    monkeypatch.delenv(numerics.ENV, raising=False)
    monkeypatch.setattr(loss, '_WARNED_LABELS', set())
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def _data(n=60, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, CLASSES, n)
    x = rng.randn(n, FEAT).astype(np.float32) * 0.3
    x[np.arange(n), y] += 1.0
    return x, y.astype(np.float32)


def _mlp(middle=None):
    """data -> fc1 -> (relu, or ``middle``) -> fc2 -> SoftmaxOutput 'softmax'."""
    net = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=8, name='fc1')
    net = middle(net) if middle is not None else mx.sym.Activation(net, act_type='relu',
                                                                    name='relu1')
    net = mx.sym.FullyConnected(net, num_hidden=CLASSES, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def _fit(net, x, y, check_numerics=None, num_epoch=2, lr=0.1, context=None, **kwargs):
    mx.random.seed(0)
    mod = mx.mod.Module(net, context=context or mx.cpu())
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=num_epoch,
            optimizer_params={'learning_rate': lr}, initializer=mx.init.Xavier(),
            check_numerics=check_numerics, **kwargs)
    return mod


def _log_net():
    return _mlp(lambda h: mx.sym.log(h, name='log0'))      # fc1 is negative somewhere


# ---- on, off ----------------------------------------------------------------------------------
def test_off_by_default_the_guard_is_not_built_and_nan_trains_silently(monkeypatch):
    built = []
    real = numerics.guard_for
    monkeypatch.setattr(numerics, 'guard_for', lambda *a: built.append(real(*a)) or built[-1])
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        mod = _fit(_log_net(), x, y)                       # NaN everywhere, no error
    assert built == [None]
    assert np.isnan(mod.get_params()[0]['fc1_weight'].asnumpy()).any()


def test_guard_for_follows_the_argument_then_the_environment(monkeypatch):
    mod = mx.mod.Module(_mlp())
    assert numerics.guard_for(mod) is None
    assert numerics.guard_for(mod, False) is None
    for value in ('1', 'true', 'YES'):
        monkeypatch.setenv(numerics.ENV, value)
        guard = numerics.guard_for(mod)
        assert isinstance(guard, numerics.NumericsGuard)
        assert numerics.guard_for(mod, False) is None     # the argument wins
    monkeypatch.setenv(numerics.ENV, '0')
    assert numerics.guard_for(mod) is None


def test_environment_variable_turns_the_guard_on(monkeypatch):
    monkeypatch.setenv(numerics.ENV, '1')
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError, match="operator 'log0' \\(log\\)"):
            _fit(_log_net(), x, y)


# ---- what the errors name --------------------------------------------------------------------
def test_nan_made_by_an_operator_is_traced_to_it():
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError) as err:
            _fit(_log_net(), x, y, check_numerics=True, begin_epoch=3, num_epoch=5)
    msg = str(err.value)
    assert msg.startswith('check_numerics: epoch 3, batch 0: ')
    assert "output 'softmax_output' holds non-finite values" in msg
    assert "It first appears in the output of operator 'log0' (log), whose inputs are " \
           "finite" in msg
    assert 'learning rate' in msg and 'clip_gradient' in msg


def test_nan_in_the_data_names_the_input_epoch_batch_and_index():
    x, y = _data()
    x[34, 3] = np.nan                                   # batch 3, row 4
    with pytest.raises(mx.MXNetError) as err:
        _fit(_mlp(), x, y, check_numerics=True)
    msg = str(err.value)
    assert msg.startswith('check_numerics: epoch 0, batch 3: ')
    assert "output 'softmax_output' holds non-finite values: %d of %d values are NaN or Inf " \
           "(the first, at index (4, 0), is nan)" % (CLASSES, BATCH * CLASSES) in msg
    assert "It comes from the batch's input 'data', where 1 of %d values are NaN or Inf " \
           "(the first, at index (4, 3), is nan)" % (BATCH * FEAT) in msg


def test_an_operator_whose_output_memory_was_reused_is_named_as_a_candidate():
    # a huge fc1 weight: fc2's output overflows to inf; SoftmaxOutput keeps only its own
    # output, so fc2's memory is reused and both are named
    x, y = _data()
    net = _mlp()
    mod = mx.mod.Module(net)
    mod.bind([('data', (BATCH, FEAT))], [('softmax_label', (BATCH,))])
    mod.init_params(mx.init.Xavier())
    arg, aux = mod.get_params()
    arg['fc2_weight'][:] = 3e38
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError) as err:
            mod.fit(mx.io.NDArrayIter(np.abs(x) + 1, y, batch_size=BATCH), num_epoch=1,
                    arg_params=arg, aux_params=aux, force_init=True, check_numerics=True)
    msg = str(err.value)
    assert "epoch 0, batch 0: output 'softmax_output'" in msg
    assert "It starts in operator 'softmax' (SoftmaxOutput) or before it, in 'fc2' " \
           "(FullyConnected)" in msg


def test_non_finite_gradient_names_the_parameter():
    # sqrt of a zero parameter: the output is finite, its gradient 1/(2 sqrt(0)) is not
    def middle(h):
        return mx.sym.broadcast_mul(h, mx.sym.sqrt(mx.sym.Variable('gain_bias',
                                                                   shape=(1, 8))))
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError) as err:
            _fit(_mlp(middle), x, y, check_numerics=True)
    msg = str(err.value)
    assert msg.startswith("check_numerics: epoch 0, batch 0: gradient of parameter "
                          "'gain_bias' holds non-finite values: 8 of 8 values")
    assert 'fc1' not in msg                      # the other gradients are finite


def test_parameter_overflowing_in_the_update_is_named():
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError) as err:
            _fit(_mlp(), x, y, check_numerics=True, lr=1e300)     # inf in float32
    msg = str(err.value)
    assert msg.startswith("check_numerics: epoch 0, batch 0: parameter 'fc1_weight' holds "
                          "non-finite values")
    assert 'It became so in the update, while every gradient of this batch was finite' in msg


def test_a_blowing_up_mlp_stops_at_the_first_non_finite_batch():
    x, y = _data(200)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError, match=r'check_numerics: epoch \d+, batch \d+: '):
            _fit(_mlp(), x * 1e3, y, check_numerics=True, lr=1e4, num_epoch=50,
                 batch_end_callback=lambda p: seen.append((p.epoch, p.nbatch)))
    assert seen                                     # some batches were fine first


def test_several_devices_name_the_device():
    x, y = _data()
    x[27, 1] = np.inf                                  # batch 2, second half
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError) as err:
            _fit(_mlp(), x, y, check_numerics=True, context=[mx.cpu(0), mx.cpu(1)])
    msg = str(err.value)
    assert "epoch 0, batch 2: output 'softmax_output' on device 1 of 2 holds" in msg
    assert "the batch's input 'data'" in msg and 'is inf)' in msg


# ---- BucketingModule, SequentialModule -------------------------------------------------------
class _BucketIter(mx.io.DataIter):
    """Sequences whose length is the bucket key; one batch per key, NaN in one of them."""

    def __init__(self, keys, nan_key=None):
        super().__init__(BATCH)
        rng = np.random.RandomState(0)
        self.batches = []
        for k in keys:
            x = rng.randn(BATCH, k, FEAT).astype(np.float32)
            if k == nan_key:
                x[2, 1, 0] = np.nan
            y = rng.randint(0, CLASSES, BATCH).astype(np.float32)
            self.batches.append(mx.io.DataBatch(
                [mx.nd.array(x)], [mx.nd.array(y)], bucket_key=k,
                provide_data=[mx.io.DataDesc('data', x.shape)],
                provide_label=[mx.io.DataDesc('softmax_label', y.shape)]))
        self.provide_data = [mx.io.DataDesc('data', (BATCH, max(keys), FEAT))]
        self.provide_label = [mx.io.DataDesc('softmax_label', (BATCH,))]
        self.cur = 0

    def reset(self):
        self.cur = 0

    def next(self):
        if self.cur == len(self.batches):
            raise StopIteration
        self.cur += 1
        return self.batches[self.cur - 1]


def _sym_gen(seq_len):
    pooled = mx.sym.sum(mx.sym.Variable('data'), axis=1) / float(seq_len)
    fc = mx.sym.FullyConnected(pooled, num_hidden=CLASSES, name='fc')
    return mx.sym.SoftmaxOutput(fc, name='softmax'), ('data',), ('softmax_label',)


def test_bucketing_module_names_the_bucket():
    it = _BucketIter((10, 5, 7), nan_key=5)
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=10)
    with pytest.raises(mx.MXNetError) as err:
        mod.fit(it, num_epoch=1, check_numerics=True)
    msg = str(err.value)
    assert "epoch 0, batch 1: output 'softmax_output' (bucket 5) holds" in msg
    assert "the batch's input 'data', where 1 of %d values" % (BATCH * 5 * FEAT) in msg


def test_bucketing_module_trains_without_nan_under_the_guard():
    it = _BucketIter((10, 5, 7))
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=10)
    mod.fit(it, num_epoch=2, check_numerics=True)
    assert np.isfinite(mod.get_params()[0]['fc_weight'].asnumpy()).all()


def test_sequential_module_checks_each_sub_module():
    body = mx.sym.log(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=8,
                                            name='fc1'), name='log0')
    head = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'),
                                                      num_hidden=CLASSES, name='fc2'),
                                name='softmax')
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body, label_names=None))
    seq.add(mx.mod.Module(head), take_labels=True, auto_wiring=True)
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(mx.MXNetError) as err:
            seq.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=1,
                    initializer=mx.init.Xavier(), check_numerics=True)
    msg = str(err.value)
    assert "output 'log0_output' (module 0 of 2 of the SequentialModule) holds" in msg
    assert "operator 'log0' (log), whose inputs are finite" in msg


# ---- the guard changes no number -------------------------------------------------------------
def test_a_valid_run_under_the_guard_is_bit_identical():
    x, y = _data(100)
    runs = []
    for check in (False, True):
        mx.random.seed(0)
        mod = mx.mod.Module(_mlp(), context=mx.cpu())
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH, shuffle=True), num_epoch=3,
                optimizer='sgd', optimizer_params={'learning_rate': 0.3, 'momentum': 0.9},
                initializer=mx.init.Xavier(), check_numerics=check)
        runs.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


def test_finite_values_that_overflow_the_fast_test_are_no_error():
    # the guard runs its fast tests with overflow warnings off, as here
    with np.errstate(over='ignore', invalid='ignore'):
        huge = numerics._Item('x', np.full(1000, 1e30, np.float32), None)   # x.x overflows
        assert not np.isfinite(np.float32(huge.test(*huge.args)))
        assert numerics._scan(numerics._floats([huge])) is None
        bad = np.full((4, 5), 1e30, np.float32)
        bad[2, 3], bad[3, 0] = -np.inf, np.nan
        item, found = numerics._scan(numerics._floats([huge, numerics._Item('y', bad, None)]))
    assert item.what == 'y' and found[:2] == (2, (2, 3)) and found[2] == -np.inf
    half = numerics._Item('z', np.full(8, 6e4, np.float16), None)        # float16 sums
    assert numerics._scan(numerics._floats([half])) is None
    ints = numerics._Item('i', np.arange(5), None)
    assert numerics._floats([ints]) == []


# ---- SoftmaxOutput labels outside the classes ------------------------------------------------
def _bad_labels(y, value=CLASSES, at=(13, 37)):
    y = y.copy()
    y[list(at)] = value
    return y


def test_out_of_range_labels_warn_once_by_default():
    x, y = _data()
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter('always')
        _fit(_mlp(), x, _bad_labels(y), num_epoch=3)          # 2 bad batches x 3 epochs
    label = [w for w in got if 'outside [0,' in str(w.message)]
    assert len(label) == 1 and label[0].category is RuntimeWarning
    msg = str(label[0].message)
    assert 'SoftmaxOutput' in msg and 'label 4 at index (3,) is outside [0, 4)' in msg
    assert 'check_numerics=True' in msg and '\n' not in msg


def test_out_of_range_labels_raise_under_the_guard_and_warn_after():
    x, y = _data()
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter('always')
        with pytest.raises(mx.MXNetError) as err:
            _fit(_mlp(), x, _bad_labels(y, -3), check_numerics=True)
    assert not [w for w in got if 'outside [0,' in str(w.message)]
    msg = str(err.value)
    assert msg.startswith("check_numerics: epoch 0, batch 1: SoftmaxOutput 'softmax': label "
                          "-3 at index (3,) is outside [0, 4)")
    assert 'count it as class 0' in msg
    # fit has left (by an error): the check is back to a warning, nothing is recorded
    assert not loss.STRICT_LABELS and loss.BAD_LABEL is None
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter('always')
        _fit(_mlp(), x, _bad_labels(y, -3), num_epoch=1)
    assert len([w for w in got if 'outside [0,' in str(w.message)]) == 1


def _backward_with_labels(op_kwargs, data_shape, label):
    net = mx.sym.SoftmaxOutput(mx.sym.Variable('data'), name='sm', **op_kwargs)
    exe = net.simple_bind(mx.cpu(), data=data_shape, sm_label=label.shape)
    exe.arg_dict['data'][:] = np.random.RandomState(0).randn(*data_shape)
    exe.arg_dict['sm_label'][:] = label
    exe.forward(is_train=True)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter('always')
        exe.backward()
    return [str(w.message) for w in got if 'outside [0,' in str(w.message)]


@pytest.mark.parametrize('kwargs, data_shape, label, index', [
    ({}, (4, 3), [0, 1, 3, 2], '(2,)'),
    ({'use_ignore': True, 'ignore_label': -1}, (4, 3), [0, -1, -2, 2], '(2,)'),
    ({'multi_output': True}, (2, 3, 4), [[0, 1, 2, 0], [1, 1, 5, 0]], '(1, 2)'),
    ({'preserve_shape': True}, (2, 2, 3), [[0, 1], [2, 7]], '(1, 1)'),
])
def test_label_check_follows_the_operator_modes(kwargs, data_shape, label, index):
    label = np.array(label, np.float32)
    msgs = _backward_with_labels(kwargs, data_shape, label)
    assert len(msgs) == 1 and 'at index %s' % index in msgs[0]
    assert 'outside [0, %d)' % data_shape[1 if kwargs.get('multi_output') else -1] in msgs[0]


def test_ignored_and_in_range_labels_do_not_warn():
    assert _backward_with_labels({'use_ignore': True, 'ignore_label': -1}, (4, 3),
                                 np.array([0, -1, 2, -1], np.float32)) == []
    assert _backward_with_labels({}, (4, 3), np.array([0, 2.7, -0.5, 1], np.float32)) == []
    assert _backward_with_labels({}, (2, 3), np.full((2, 3), 1 / 3.0, np.float32)) == []
