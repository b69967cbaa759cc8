"""Checkpoints are a unit and resuming from one repeats the uninterrupted run bit for bit
(shuffled data, Dropout, a learning-rate schedule, SGD with momentum and Adam); optimizer
states that do not fit the module are refused naming the file and the key."""
import json
import os
import socket

import numpy as np
import pytest

import distmod as mx
from distmod import model as _model

X = np.random.RandomState(0).randn(200, 10).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
OPTIMIZERS = {
    'sgd': {'learning_rate': 0.05, 'momentum': 0.9, 'wd': 1e-4},
    'adam': {'learning_rate': 0.01},
}


def net(hidden=16, name='fc1'):
    data = mx.sym.Variable('data')
    h = mx.sym.FullyConnected(data, num_hidden=hidden, name=name)
    h = mx.sym.Dropout(mx.sym.Activation(h, act_type='relu'), p=0.3)
    h = mx.sym.FullyConnected(h, num_hidden=2, name='fc2')
    return mx.sym.SoftmaxOutput(h, name='softmax')


def train(opt, num_epoch, begin_epoch=0, mod=None, callbacks=None, seed=7):
    mx.random.seed(seed)
    it = mx.io.NDArrayIter(X, Y, batch_size=20, shuffle=True)
    mod = mod or mx.mod.Module(net())
    params = dict(OPTIMIZERS[opt],
                  lr_scheduler=mx.lr_scheduler.FactorScheduler(step=15, factor=0.7))
    mod.fit(it, num_epoch=num_epoch, begin_epoch=begin_epoch, optimizer=opt,
            optimizer_params=params, initializer=mx.init.Xavier(), epoch_end_callback=callbacks)
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


@pytest.mark.parametrize('opt', sorted(OPTIMIZERS))
def test_resume_from_do_checkpoint_is_bit_identical(opt, tmp_path):
    prefix = str(tmp_path / 'm')
    whole = train(opt, 4, callbacks=mx.callback.do_checkpoint(prefix))
    mod = mx.mod.Module.load(prefix, 2, load_optimizer_states=True)
    resumed = train(opt, 4, begin_epoch=2, mod=mod, seed=12345)   # the seed is overridden
    for k in whole:
        np.testing.assert_array_equal(resumed[k], whole[k], err_msg=k)


def test_resume_without_the_record_differs(tmp_path):
    """The test above can fail: the same parameters and states without the checkpoint's
    random streams give another run (another shuffle and other Dropout masks)."""
    prefix = str(tmp_path / 'm')
    whole = train('adam', 4, callbacks=mx.callback.do_checkpoint(prefix))
    mod = mx.mod.Module.load(prefix, 2, load_optimizer_states=True)
    mod._resume_from = None
    resumed = train('adam', 4, begin_epoch=2, mod=mod)
    assert any(not np.array_equal(resumed[k], whole[k]) for k in whole)


def test_manifest_records_files_and_resume(tmp_path):
    prefix = str(tmp_path / 'm')
    train('sgd', 2, callbacks=mx.callback.do_checkpoint(prefix))
    manifest = _model.read_manifest(prefix, 2)
    assert sorted(manifest['files']) == ['m-0002.params', 'm-0002.states']
    for base, want in manifest['files'].items():
        assert os.path.getsize(str(tmp_path / base)) == want['bytes']
    rec = manifest['resume']
    assert rec['epoch'] == 2 and rec['num_workers'] == 1 and len(rec['ranks']) == 1
    assert rec['lr_scheduler']['class'] == 'FactorScheduler'
    json.dumps(manifest)                  # plain JSON: loading it runs nothing
    assert _model.latest_checkpoint(prefix) == 2


def test_a_save_cut_short_leaves_the_previous_checkpoint(tmp_path):
    """Params last is the commit point: without it epoch 2 does not count, and the temporary
    files of the crashed save are removed by the next load."""
    prefix = str(tmp_path / 'm')
    train('sgd', 2, callbacks=mx.callback.do_checkpoint(prefix))
    os.remove(prefix + '-0002.params')
    stale = '.m-0002.params.%s.%d.abcd.tmp' % (socket.gethostname(), 2 ** 22 + 1)  # no such pid
    (tmp_path / stale).write_bytes(b'x' * 1000)
    assert _model.latest_checkpoint(prefix) == 1
    _model.load_checkpoint(prefix, 1)
    with pytest.raises(mx.MXNetError):
        _model.load_checkpoint(prefix, 2)
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_a_truncated_file_is_named(tmp_path):
    prefix = str(tmp_path / 'm')
    train('sgd', 1, callbacks=mx.callback.do_checkpoint(prefix))
    with open(prefix + '-0001.states', 'r+b') as f:
        f.truncate(100)
    with pytest.raises(mx.MXNetError, match=r'm-0001\.states has 100 bytes'):
        mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
    with open(prefix + '-0001.params', 'r+b') as f:
        f.truncate(64)
    with pytest.raises(mx.MXNetError, match=r'm-0001\.params has 64 bytes.*truncated'):
        _model.load_checkpoint(prefix, 1)


def _bound(opt, **kw):
    mod = mx.mod.Module(net(**kw))
    it = mx.io.NDArrayIter(X, Y, batch_size=20)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params()
    mod.init_optimizer(optimizer=opt, optimizer_params=OPTIMIZERS[opt])
    return mod, it


@pytest.fixture
def adam_states(tmp_path):
    mod, it = _bound('adam')
    mod.forward_backward(next(iter(it)))
    mod.update()
    files = {}
    for fmt in ('distmod', 'mxnet'):
        files[fmt] = str(tmp_path / ('adam-%s.states' % fmt))
        mod.save_optimizer_states(files[fmt], fmt=fmt)
    return files


@pytest.mark.parametrize('fmt', ['distmod', 'mxnet'])
def test_states_of_another_optimizer_are_refused(adam_states, fmt):
    mod, _ = _bound('sgd')
    before = dict(mod._updater.states)
    with pytest.raises(mx.MXNetError, match=r"adam-%s\.states.*(optimizer 'adam'|key 0 "
                                             r"\('fc1_weight')" % fmt):
        mod.load_optimizer_states(adam_states[fmt])
    assert mod._updater.states == before          # nothing changed


@pytest.mark.parametrize('fmt', ['distmod', 'mxnet'])
def test_states_of_another_model_are_refused(adam_states, fmt):
    mod, _ = _bound('adam', hidden=32)
    with pytest.raises(mx.MXNetError, match=r"adam-%s\.states': key 0 \('fc1_weight', shape "
                                             r"\(32, 10\)\).*\(16, 10\)" % fmt):
        mod.load_optimizer_states(adam_states[fmt])


def test_states_with_other_parameter_names_are_refused(adam_states):
    mod, _ = _bound('adam', name='dense')
    with pytest.raises(mx.MXNetError, match=r"parameter 0 is 'fc1_weight' in the states but "
                                             r"'dense_weight'"):
        mod.load_optimizer_states(adam_states['distmod'])


def test_matching_states_load(adam_states):
    for fmt in ('distmod', 'mxnet'):
        mod, _ = _bound('adam')
        mod.load_optimizer_states(adam_states[fmt])
        assert sorted(mod._updater.states) == [0, 1, 2, 3]


def test_params_written_over_a_checkpoint_by_other_paths_do_not_meet_a_stale_manifest(tmp_path):
    """MXNet's own tests save one prefix from different models in turn: a params file
    written without its manifest (save_params, a BucketingModule's checkpoint) must load."""
    prefix = str(tmp_path / 'test')
    first = mx.mod.Module(net(hidden=4))
    first.bind([('data', (20, 10))], [('softmax_label', (20,))])
    first.init_params()
    first.save_checkpoint(prefix, 0)
    assert _model.read_manifest(prefix, 0) is not None
    second = mx.mod.Module(net(hidden=9))
    second.bind([('data', (20, 10))], [('softmax_label', (20,))])
    second.init_params()
    second.save_params(prefix + '-0000.params')
    assert _model.read_manifest(prefix, 0) is None
    arg, _ = _model.load_params(prefix, 0)
    assert arg['fc1_weight'].shape == (9, 10)
