"""MXNet's pickled optimizer states (``.states``): read without running code, written so that
real MXNet 1.9.1 loads them, keyed as MXNet keys them, and refused when they hold anything but
NDArrays, numbers and containers.  Fixtures: tests/fixtures/mxnet_states (see its README)."""
import doctest
import json
import os
import pickle
import pickletools
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import distmod as mx
from distmod import mxnet_states
from distmod.serialization import dumps_array, load_arrays

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, 'fixtures', 'mxnet_states')
MXNET_PY = '/tmp/mxnet-anchor/bin/python'
META = json.load(open(os.path.join(FIX, 'sets.json')))
SETS = META['sets']
BATCH, NBATCH = META['batch_size'], META['num_batches']
BEFORE, RESUME = META['before'], META['resume']
DATA = load_arrays(os.path.join(FIX, 'data.params'))
PARAM_NAMES = ['fc1_weight', 'fc1_bias', 'fc2_weight', 'fc2_bias']
RESUME_BATCHES = [b % NBATCH for b in range(BEFORE, BEFORE + RESUME)]
needs_mxnet = pytest.mark.skipif(not os.path.exists(MXNET_PY),
                                 reason='the MXNet 1.9.1 venv (%s) is absent' % MXNET_PY)


def prefix(name):
    return os.path.join(FIX, name)


def optimizer_params(spec):
    kw = dict(spec['params'])
    if spec.get('scheduler'):
        kw['lr_scheduler'] = mx.lr_scheduler.FactorScheduler(base_lr=kw['learning_rate'],
                                                             **spec['scheduler'])
    return kw


def train(mod, batches):
    for b in batches:
        sl = slice(b * BATCH, (b + 1) * BATCH)
        mod.forward_backward(mx.io.DataBatch([mx.nd.array(DATA['data'][sl])],
                                             [mx.nd.array(DATA['label'][sl])]))
        mod.update()


def bound(pre, epoch, spec, **load_kwargs):
    mod = mx.mod.Module.load(pre, epoch, **load_kwargs)
    mod.bind(data_shapes=[('data', (BATCH, 20))], label_shapes=[('softmax_label', (BATCH,))])
    mod.init_optimizer(kvstore='local', optimizer=spec['optimizer'],
                       optimizer_params=optimizer_params(spec))
    return mod


def params_of(mod):
    args, _ = mod.get_params()
    return {k: v.asnumpy() for k, v in args.items()}


def resumed_want(name):
    return {k[4:]: v for k, v in load_arrays(prefix(name) + '-resumed.params').items()}


def assert_params_close(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)


# ---- reading MXNet's files ------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(SETS))
def test_resuming_from_mxnet_states_reproduces_mxnets_resumed_parameters(name):
    """One device, two devices updating on the kvstore (states keyed by name), two devices
    without (keyed position * 2 + device), and (states, optimizer) with a scheduler."""
    spec = SETS[name]
    mod = bound(prefix(name), 1, spec)
    fname = prefix(name) + '-0001.states'
    mx.optimizer.load_states_file(fname, mod._updater, param_names=PARAM_NAMES)
    assert sorted(mod._updater.states) == [0, 1, 2, 3]
    train(mod, RESUME_BATCHES)
    assert_params_close(params_of(mod), resumed_want(name))


def test_without_the_states_the_resume_differs():
    """The check above has teeth: momentum matters for these numbers."""
    mod = bound(prefix('sgd'), 1, SETS['sgd'])
    train(mod, RESUME_BATCHES)
    got, want = params_of(mod), resumed_want('sgd')
    assert not np.allclose(got['fc1_weight'], want['fc1_weight'], rtol=1e-3)


@pytest.mark.parametrize('name', ['sgd', 'adam', 'adam_dump'])
def test_module_load_with_optimizer_states_reads_mxnets_file(name):
    """MXNet keys one device's states by position, as distmod's Module does, so the Module's
    own loading path reads them as they are."""
    spec = SETS[name]
    mod = bound(prefix(name), 1, spec, load_optimizer_states=True)
    train(mod, RESUME_BATCHES)
    assert_params_close(params_of(mod), resumed_want(name))


def test_dumped_optimizer_is_mapped_onto_distmods_by_its_attributes():
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    upd.set_states(open(prefix('adam_dump') + '-0001.states', 'rb').read(), source='x')
    opt = upd.optimizer
    assert type(opt) is mx.optimizer.Adam
    assert (opt.lr, opt.wd, opt.rescale_grad, opt.num_update) == (0.01, 0.001, 0.125, 5)
    assert opt._index_update_count == {0: 5, 1: 5, 2: 5, 3: 5}
    assert opt._index_update_count is opt._all_index_update_counts[0]
    assert opt.idx2name == dict(enumerate(PARAM_NAMES))
    assert opt.wd_mult == {'fc1_bias': 0.0, 'fc2_bias': 0.0}
    sched = opt.lr_scheduler
    assert type(sched) is mx.lr_scheduler.FactorScheduler
    assert (sched.base_lr, sched.count, sched.step, sched.factor) == (0.0025, 4, 2, 0.5)
    assert not hasattr(opt, 'allow_np_array')         # MXNet-only attributes are left out


def test_states_keyed_by_name_or_by_device_map_to_positions():
    for name in ('sgd_kv', 'adam_dev2'):
        got = mxnet_states.loads(open(prefix(name) + '-0001.states', 'rb').read())
        key_map = mxnet_states.position_map(got.states, PARAM_NAMES)
        states = mxnet_states.remap(got.states, key_map)
        assert sorted(states) == [0, 1, 2, 3]
        first = states[1][0] if isinstance(states[1], tuple) else states[1]
        assert first.shape == (16,)
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd', momentum=0.9))
    upd.set_states(open(prefix('sgd_kv') + '-0001.states', 'rb').read())
    assert sorted(upd.states) == sorted(PARAM_NAMES)      # without param_names: as stored
    with pytest.raises(mx.MXNetError, match=r"file 'f.states': holds states for 'fc1_weight'"):
        upd.set_states(open(prefix('sgd_kv') + '-0001.states', 'rb').read(), source='f.states',
                       param_names=['a', 'b'])
    with pytest.raises(mx.MXNetError, match=r"do not fit the 3 parameters"):
        upd.set_states(open(prefix('adam_dev2') + '-0001.states', 'rb').read(), source='f',
                       param_names=['a', 'b', 'c'])


# ---- writing MXNet's format -----------------------------------------------------------------
def _trained_updater(name, **kwargs):
    opt = mx.optimizer.create(name, param_idx2name={0: 'w', 1: 'b'}, **kwargs)
    upd = mx.optimizer.get_updater(opt)
    rng = np.random.RandomState(0)
    w = mx.nd.array(rng.normal(size=(3, 2)).astype(np.float32))
    b = mx.nd.array(rng.normal(size=(2,)).astype(np.float32))
    for _ in range(2):
        upd(0, mx.nd.array(rng.normal(size=(3, 2)).astype(w.dtype)), w)
        upd(1, mx.nd.array(rng.normal(size=(2,)).astype(np.float32)), b)
    return upd, w, b, rng


@pytest.mark.parametrize('name,kwargs', [('sgd', dict(momentum=0.9)), ('sgd', {}),
                                         ('adam', dict(wd=0.1)), ('rmsprop', dict(centered=True)),
                                         ('dcasgd', dict(momentum=0.5)), ('ftml', {})])
def test_mxnet_format_round_trips_and_training_continues_identically(name, kwargs):
    upd, w, b, rng = _trained_updater(name, **kwargs)
    blob = upd.get_states(fmt='mxnet')
    assert blob[:2] == b'\x80\x03'
    globals_used = {arg for op, arg, _ in pickletools.genops(blob)
                    if op.name == 'GLOBAL'}
    assert globals_used <= {'mxnet.ndarray.ndarray NDArray', 'builtins bytearray'}
    upd2 = mx.optimizer.get_updater(mx.optimizer.create(name, param_idx2name={0: 'w', 1: 'b'},
                                                        **kwargs))
    for opt in (upd.optimizer, upd2.optimizer):      # MXNet's file has no update counts
        opt._index_update_count.clear()
        opt.num_update = 0
    upd2.set_states(blob)
    w2, b2 = w.copy(), b.copy()
    for _ in range(2):
        gw, gb = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
        upd(0, mx.nd.array(gw), w)
        upd(1, mx.nd.array(gb), b)
        upd2(0, mx.nd.array(gw), w2)
        upd2(1, mx.nd.array(gb), b2)
    np.testing.assert_array_equal(w.asnumpy(), w2.asnumpy())
    np.testing.assert_array_equal(b.asnumpy(), b2.asnumpy())


def test_multi_precision_states_and_dumped_optimizer_round_trip():
    opt = mx.optimizer.create('sgd', momentum=0.9, multi_precision=True, learning_rate=0.5,
                              lr_scheduler=mx.lr_scheduler.FactorScheduler(step=1, factor=0.9,
                                                                           base_lr=0.5))
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(np.ones((2, 2), np.float16), dtype=np.float16)
    upd(0, mx.nd.array(np.ones((2, 2)), dtype=np.float16), w)
    blob = upd.get_states(dump_optimizer=True, fmt='mxnet')
    names = [arg for op, arg, _ in pickletools.genops(blob) if op.name == 'GLOBAL']
    assert 'mxnet.optimizer.optimizer SGD' in names
    assert 'mxnet.lr_scheduler FactorScheduler' in names
    fresh = mx.optimizer.get_updater(mx.optimizer.create('adam'))
    fresh.set_states(blob)
    mom, master = fresh.states[0]
    assert (mom.dtype, master.dtype) == (np.float32, np.float32)
    np.testing.assert_array_equal(master.asnumpy(), upd.states[0][1].asnumpy())
    got = fresh.optimizer
    assert type(got) is mx.optimizer.SGD and got.multi_precision and got.num_update == 1
    assert type(got.lr_scheduler) is mx.lr_scheduler.FactorScheduler
    assert got.lr_scheduler.base_lr == opt.lr_scheduler.base_lr


def test_keys_name_writes_parameter_names():
    upd, _, _, _ = _trained_updater('sgd', momentum=0.9)
    got = mxnet_states.loads(upd.get_states(fmt='mxnet', keys='name'))
    assert sorted(got.states) == ['b', 'w']
    got = mxnet_states.loads(upd.get_states(fmt='mxnet', keys='name', param_names=['x', 'y'],
                                            dump_optimizer=True))
    assert sorted(got.states) == ['x', 'y']
    assert got.optimizer['attrs']['_all_index_update_counts'] == {0: {'x': 2, 'y': 2}}
    with pytest.raises(mx.MXNetError, match="fmt must be 'distmod' or 'mxnet'"):
        upd.get_states(fmt='pickle')


def test_refuses_to_write_an_optimizer_mxnet_lacks():
    upd, _, _, _ = _trained_updater('adamw')
    upd.get_states(fmt='mxnet')                        # its states are fine
    with pytest.raises(mx.MXNetError, match='MXNet 1.9 has no optimizer AdamW'):
        upd.get_states(fmt='mxnet', dump_optimizer=True)


class _FakeMXNetNDArray:
    """Pickles the way mxnet.ndarray.ndarray.NDArray does (NDArray.__reduce__)."""

    def __init__(self, arr):
        self.raw = bytearray(dumps_array(arr))

    def __reduce__(self):
        return type(self), (None,), {'handle': self.raw}


@pytest.mark.parametrize('protocol', [0, 1, 2, 3, 4, 5])
def test_reads_every_pickle_protocol_mxnet_could_have_written(protocol, monkeypatch):
    """MXNet pickles with Python's default protocol (4 on 3.8-3.13, 5 on 3.14; bytearray is
    then its own opcode) -- or any other: ``get_states`` is plain ``pickle.dumps``."""
    for mod_name in ('mxnet', 'mxnet.ndarray', 'mxnet.ndarray.ndarray'):   # stand-ins only
        fake = types.ModuleType(mod_name)
        monkeypatch.setitem(sys.modules, mod_name, fake)
    _FakeMXNetNDArray.__module__, _FakeMXNetNDArray.__qualname__ = fake.__name__, 'NDArray'
    fake.NDArray = _FakeMXNetNDArray
    try:
        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        b = np.array([1.5, -2], np.float64)
        blob = pickle.dumps({0: _FakeMXNetNDArray(a), 1: (_FakeMXNetNDArray(b), None), 2: None},
                            protocol=protocol)
    finally:
        _FakeMXNetNDArray.__module__, _FakeMXNetNDArray.__qualname__ = __name__, \
            '_FakeMXNetNDArray'
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    upd.set_states(blob)
    np.testing.assert_array_equal(upd.states[0].asnumpy(), a)
    assert upd.states[1][0].dtype == np.float64 and upd.states[1][1] is None
    np.testing.assert_array_equal(upd.states[1][0].asnumpy(), b)
    assert upd.states[2] is None


def test_plain_data_pickles_and_numpy_scalars_are_states():
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    upd.set_states(pickle.dumps({0: None, 'x': (1, 2.5, [np.float32(3)], True, 'y')}))
    assert upd.states == {0: None, 'x': (1, 2.5, [np.float32(3)], True, 'y')}


# ---- refusing what is not optimizer states --------------------------------------------------
class _Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


def _hand_pickle(module, name, arg):
    """A protocol-3 pickle ``{0: module.name(arg)}`` written opcode by opcode."""
    raw = arg.encode()
    return (b'\x80\x03}q\x00K\x00c' + module.encode() + b'\n' + name.encode() + b'\n'
            + b'X' + len(raw).to_bytes(4, 'little') + raw + b'\x85Rs.')


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / 'ran'
    cmd = 'touch %s' % marker
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    cases = [(_hand_pickle('os', 'system', cmd), 'os.system'),
             (pickle.dumps({0: _Evil(os.system, cmd)}), '%s.system' % os.system.__module__),
             (_hand_pickle('builtins', 'eval', '__import__("os").system(%r)' % cmd),
              'builtins.eval'),
             (pickle.dumps((_Evil(eval, 'open(%r, "w")' % str(marker)), None)), 'builtins.eval'),
             (_hand_pickle('mxnet.ndarray.ndarray', 'load', cmd), 'mxnet.ndarray.ndarray.load'),
             (_hand_pickle('subprocess', 'getoutput', cmd), 'subprocess.getoutput')]
    for i, (blob, glob) in enumerate(cases):
        fname = str(tmp_path / ('evil%d.states' % i))
        with open(fname, 'wb') as f:
            f.write(blob)
        want = ("optimizer states file '%s': refused to load global '%s': MXNet optimizer "
                "states hold only NDArrays, numbers and containers" % (fname, glob))
        with pytest.raises(mx.MXNetError) as err:
            mx.optimizer.load_states_file(fname, upd)
        assert str(err.value) == want
        assert not marker.exists()
    assert upd.states == {}


def test_stand_ins_cannot_be_misused():
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd'))
    # an MXNet optimizer class called with arguments, a bytearray of a non-bytes object,
    # an NDArray with a live handle, and an optimizer where a state should be
    for blob in (_hand_pickle('mxnet.optimizer.optimizer', 'SGD', 'x'),
                 _hand_pickle('builtins', 'bytearray', 'x'),
                 _hand_pickle('mxnet.ndarray.ndarray', 'NDArray', 'x'),
                 b'\x80\x03}K\x00cmxnet.optimizer.optimizer\nSGD\n)\x81s.'):
        with pytest.raises(mx.MXNetError, match="optimizer states file 'f'"):
            upd.set_states(blob, source='f')


def test_truncated_or_corrupt_files_name_the_file(tmp_path):
    good = open(prefix('sgd') + '-0001.states', 'rb').read()
    upd = mx.optimizer.get_updater(mx.optimizer.create('sgd', momentum=0.9))
    ours = upd.get_states()
    bad_array = good.replace(b'\xc9\xfa\x93\xf9', b'\xc9\xfa\x93\xf0', 1)
    cases = [(good[:len(good) // 2], 'truncated or corrupt MXNet optimizer states'),
             (ours[:len(ours) // 2], 'not distmod optimizer states, or truncated or corrupt'),
             (b'', 'not distmod optimizer states nor MXNet\'s pickle \\(empty\\)'),
             (b'garbage', 'not distmod optimizer states nor MXNet'),
             (bad_array, r"an NDArray in state 0: array 0 has unknown magic"),
             (pickle.dumps([1, 2]), 'holds a list; MXNet optimizer states are a dict'),
             (pickle.dumps(({}, 3)), r'holds \(states, int\)')]
    for i, (blob, msg) in enumerate(cases):
        fname = str(tmp_path / ('bad%d.states' % i))
        with open(fname, 'wb') as f:
            f.write(blob)
        with pytest.raises(mx.MXNetError, match="optimizer states file '%s': .*%s"
                           % (fname, msg)):
            mx.optimizer.load_states_file(fname, upd)


def test_save_and_load_states_file_and_the_format_switch(tmp_path, monkeypatch):
    upd, _, _, _ = _trained_updater('sgd', momentum=0.9)
    f = str(tmp_path / 'a.states')
    mx.optimizer.save_states_file(f, upd)
    assert open(f, 'rb').read(2) == b'PK'
    monkeypatch.setenv('DISTMOD_STATES_FORMAT', 'mxnet')
    mx.optimizer.save_states_file(f, upd)
    assert open(f, 'rb').read(1) == b'\x80'
    fresh = mx.optimizer.get_updater(mx.optimizer.create('sgd', momentum=0.9))
    mx.optimizer.load_states_file(f, fresh)
    np.testing.assert_array_equal(fresh.states[0].asnumpy(), upd.states[0].asnumpy())
    assert [p for p in os.listdir(tmp_path) if p != 'a.states'] == []    # no temporary left
    monkeypatch.setenv('DISTMOD_STATES_FORMAT', 'yaml')
    with pytest.raises(mx.MXNetError, match="'distmod' or 'mxnet', not 'yaml'"):
        mx.optimizer.save_states_file(f, upd)


def test_save_states_file_docstring_example():
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    for test in finder.find(mx.optimizer.save_states_file, 'save_states_file', globs={}):
        assert runner.run(test).failed == 0


def test_kvstore_reads_mxnets_kvstore_states_and_writes_either_format(tmp_path):
    kv = mx.kv.create('local')
    kv.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9))
    fname = prefix('sgd_kv') + '-0001.states'
    kv.load_optimizer_states(fname)
    assert sorted(kv._updater.states) == sorted(PARAM_NAMES)    # MXNet's kvstore keys: names
    out = str(tmp_path / 'kv.states')
    kv.save_optimizer_states(out, fmt='mxnet')
    again = mxnet_states.loads(open(out, 'rb').read())
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(again.states[k].asnumpy(), kv._updater.states[k].asnumpy())
    kv.save_optimizer_states(out)
    assert open(out, 'rb').read(2) == b'PK'
    bad = str(tmp_path / 'bad.states')
    with open(bad, 'wb') as f:
        f.write(_hand_pickle('os', 'system', 'true'))
    with pytest.raises(mx.MXNetError, match="file '%s': refused to load global 'os.system'"
                       % bad):
        kv.load_optimizer_states(bad)
    with pytest.raises(mx.MXNetError, match='has no optimizer with states'):
        mx.kv.create('local').load_optimizer_states(fname)


# ---- real MXNet reads what distmod writes ---------------------------------------------------
MXNET_SIDE = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, %(fixtures)r)
    import mxnet as mx
    import make_states_fixtures as m
    jobs = json.load(open(sys.argv[1]))
    data, label = m.fixed_data()
    for job in jobs:
        got = m.resume_from(mx, job['prefix'], job['epoch'], job['spec'], data, label,
                            job['batches'])
        mx.nd.save(job['out'], {k: mx.nd.array(v) for k, v in got.items()})
''')
# (set, how distmod writes: keys, dump_optimizer); sgd_kv resumes in MXNet on two devices
# updating on the kvstore, so it needs the states keyed by name
ROUND_TRIPS = [('sgd', 'index', False), ('adam', 'index', False), ('sgd_kv', 'name', False),
               ('adam_dump', 'index', True)]
MORE = [b % NBATCH for b in range(2)]


@pytest.fixture(scope='module')
def mxnet_resumes(tmp_path_factory):
    """distmod resumes each MXNet checkpoint, trains, writes a checkpoint with MXNet-format
    states, trains on; MXNet (in a subprocess) resumes from distmod's checkpoint and trains the
    same batches."""
    tmp = tmp_path_factory.mktemp('mxnet_roundtrip')
    jobs, want = [], {}
    assert np.array_equal(DATA['data'], _fixed_data_here())
    for name, keys, dump in ROUND_TRIPS:
        spec = SETS[name]
        mod = bound(prefix(name), 1, spec)
        mx.optimizer.load_states_file(prefix(name) + '-0001.states', mod._updater,
                                      param_names=PARAM_NAMES)
        train(mod, RESUME_BATCHES)
        pre = str(tmp / name)
        mod.save_checkpoint(pre, 2)
        mx.optimizer.save_states_file(pre + '-0002.states', mod._updater, fmt='mxnet', keys=keys,
                                      dump_optimizer=dump, param_names=PARAM_NAMES)
        # distmod's resume from that checkpoint (as MXNet's files hold no update counts, Adam's
        # bias correction restarts in both)
        again = bound(pre, 2, spec)
        mx.optimizer.load_states_file(pre + '-0002.states', again._updater,
                                      param_names=PARAM_NAMES)
        train(again, MORE)
        want[name] = params_of(again)
        jobs.append({'prefix': pre, 'epoch': 2, 'spec': spec, 'batches': MORE,
                     'out': pre + '-mxnet.params'})
    job_file = str(tmp / 'jobs.json')
    with open(job_file, 'w') as f:
        json.dump(jobs, f)
    env = dict(os.environ, MXNET_SUBGRAPH_BACKEND='NONE')
    env.pop('PYTHONPATH', None)
    script = MXNET_SIDE % {'fixtures': os.path.join(HERE, 'fixtures')}
    proc = subprocess.run([MXNET_PY, '-c', script, job_file], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: (want[name], load_arrays(str(tmp / name) + '-mxnet.params'))
            for name, _, _ in ROUND_TRIPS}


def _fixed_data_here():
    rng = np.random.RandomState(7)
    return rng.uniform(-1, 1, (BATCH * NBATCH, 20)).astype(np.float32)


@needs_mxnet
@pytest.mark.parametrize('name', [r[0] for r in ROUND_TRIPS])
def test_real_mxnet_resumes_from_states_distmod_wrote_to_the_same_numbers(mxnet_resumes, name):
    ours, theirs = mxnet_resumes[name]
    assert_params_close(ours, theirs)
