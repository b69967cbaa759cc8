"""``mx.profiler``: Chrome-trace JSON with one event per operator call, MXNet's statistics
table, the user's domains/tasks/frames/events/counters/markers, and the executor's fast path
untouched while the profiler is off."""
import inspect
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import distmod as mx
from distmod import profiler
from distmod.base import MXNetError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def fresh_profiler():
    profiler._reset()
    yield
    profiler._reset()


def mlp(hidden=64):
    data = mx.sym.Variable('data')
    x = mx.sym.FullyConnected(data, num_hidden=hidden, name='fc1')
    x = mx.sym.Activation(x, act_type='relu', name='relu1')
    x = mx.sym.FullyConnected(x, num_hidden=10, name='fc2')
    return mx.sym.SoftmaxOutput(x, name='softmax')


def bound_mlp(batch=32, features=100, hidden=64):
    exe = mlp(hidden).simple_bind(mx.cpu(), data=(batch, features))
    rng = np.random.RandomState(0)
    for name, arr in exe.arg_dict.items():
        arr[:] = rng.uniform(-0.1, 0.1, arr.shape).astype(np.float32)
    exe.arg_dict['softmax_label'][:] = rng.randint(0, 10, batch).astype(np.float32)
    return exe


def step(exe):
    exe.forward(is_train=True)
    exe.backward()


FORWARD = ['FullyConnected', 'Activation', 'FullyConnected', 'SoftmaxOutput']
NODES = ['fc1', 'relu1', 'fc2', 'softmax']


def load_trace(path):
    with open(path) as f:
        doc = json.load(f)
    assert set(doc) >= {'traceEvents', 'displayTimeUnit'}
    return doc['traceEvents']


def operator_events(events):
    return [e for e in events if e.get('cat') == 'operator']


def start_profiler(tmp_path, **kwargs):
    path = str(tmp_path / 'profile.json')
    profiler.set_config(filename=path, **kwargs)
    profiler.set_state('run')
    return path


# ---- the trace file ------------------------------------------------------------------------
def test_trace_is_chrome_json_with_process_and_thread_names(tmp_path):
    exe = bound_mlp()
    path = start_profiler(tmp_path, profile_all=True)
    step(exe)
    profiler.set_state('stop')
    profiler.dump()
    events = load_trace(path)
    meta = [e for e in events if e['ph'] == 'M']
    names = {e['args']['name']: e['pid'] for e in meta if e['name'] == 'process_name'}
    assert names['cpu/0'] == 0 and 'MXNET_C_API' in names
    threads = [e for e in meta if e['name'] == 'thread_name']
    assert {(e['pid'], e['tid']) for e in threads} >= \
        {(0, e['tid']) for e in operator_events(events)}
    for e in events:
        assert isinstance(e['pid'], int) and isinstance(e['name'], str)
        if e['ph'] != 'M':
            assert isinstance(e['ts'], (int, float)) and isinstance(e['tid'], int)
        if e['ph'] == 'X':
            assert e['dur'] >= 0
    assert {e['ph'] for e in events} <= {'M', 'X', 'b', 'e', 'C', 'i'}


def test_one_event_per_operator_call_with_mxnet_names(tmp_path):
    exe = bound_mlp()
    path = start_profiler(tmp_path)
    for _ in range(3):
        step(exe)
    profiler.set_state('stop')
    profiler.dump()
    ops = operator_events(load_trace(path))
    backward = ['_backward_' + n for n in reversed(FORWARD)]
    assert [e['name'] for e in ops] == (FORWARD + backward) * 3
    assert [e['args']['name'] for e in ops] == (NODES + NODES[::-1]) * 3
    assert all(e['ph'] == 'X' and e['pid'] == 0 for e in ops)
    # one thread, in order, none overlapping the next
    for a, b in zip(ops, ops[1:]):
        assert a['tid'] == b['tid'] and a['ts'] + a['dur'] <= b['ts'] + 1e-3


def test_durations_add_up_to_the_measured_step_time(tmp_path):
    exe = bound_mlp(batch=256, features=512, hidden=512)
    step(exe)                                   # warm up outside the trace
    path = start_profiler(tmp_path)
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        step(exe)
        walls.append((time.perf_counter() - t0) * 1e6)
    profiler.set_state('stop')
    profiler.dump()
    events = load_trace(path)
    ops = operator_events(events)
    assert len(ops) == 3 * 8
    assert all(e['dur'] > 0 for e in ops)
    per_step = [sum(e['dur'] for e in ops[k * 8:(k + 1) * 8]) for k in range(3)]
    for busy, wall in zip(per_step, walls):
        assert busy <= wall
        assert busy >= 0.6 * wall, (busy, wall)
    # every operator lies inside its Executor.forward/backward API span
    api = [e for e in events if e.get('cat') == 'MXNET_C_API']
    spans = [(b['name'], b['ts'], e['ts']) for b, e in zip(api[::2], api[1::2])]
    assert [s[0] for s in spans] == ['MXExecutorForward', 'MXExecutorBackwardEx'] * 3
    for k, op in enumerate(ops):
        name, begin, end = spans[k // 4]
        assert begin <= op['ts'] and op['ts'] + op['dur'] <= end + 1e-3
        assert (name == 'MXExecutorForward') == (not op['name'].startswith('_backward_'))


def test_profiled_training_computes_what_the_fast_path_does(tmp_path):
    def train(profiled):
        mx.random.seed(3)
        mod = mx.mod.Module(mlp())
        mod.bind(data_shapes=[('data', (16, 20))], label_shapes=[('softmax_label', (16,))])
        mod.init_params(mx.init.Uniform(0.1))
        mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.1})
        mon = mx.mon.Monitor(1, pattern='fc1.*')
        mod.install_monitor(mon)
        rng = np.random.RandomState(0)
        batch = mx.io.DataBatch([mx.nd.array(rng.rand(16, 20))],
                                [mx.nd.array(rng.randint(0, 10, 16))])
        if profiled:
            start_profiler(tmp_path)
        stats = []
        for _ in range(2):
            mon.tic()
            mod.forward(batch, is_train=True)
            mod.backward()
            mod.update()
            stats.append([name for _, name, _ in mon.toc()])
        profiler.set_state('stop')
        return mod.get_params()[0], stats
    plain, plain_stats = train(False)
    profiled, profiled_stats = train(True)
    assert plain_stats == profiled_stats and 'fc1_output' in plain_stats[0]
    for name in plain:
        np.testing.assert_array_equal(plain[name].asnumpy(), profiled[name].asnumpy())
    profiler.dump()
    assert len(operator_events(load_trace(str(tmp_path / 'profile.json')))) == 16


def test_off_means_the_fast_loops(tmp_path, monkeypatch):
    exe = bound_mlp()
    assert profiler.symbolic is None and profiler.imperative is None
    boom = pytest.fail
    monkeypatch.setattr(type(exe), '_forward_profiled', lambda *a: boom('profiled forward'))
    monkeypatch.setattr(type(exe), '_backward_profiled', lambda *a: boom('profiled backward'))
    step(exe)
    start_profiler(tmp_path)
    profiler.set_state('stop')
    step(exe)
    profiler.set_config(filename=str(tmp_path / 'p.json'), profile_symbolic=False,
                        profile_imperative=False)
    profiler.set_state('run')
    assert profiler.symbolic is None
    step(exe)


def test_pause_resume_and_stop_decide_what_is_recorded(tmp_path):
    exe = bound_mlp()
    path = start_profiler(tmp_path)
    step(exe)
    profiler.pause()
    step(exe)
    profiler.resume()
    step(exe)
    profiler.set_state('stop')
    step(exe)
    profiler.dump()
    assert len(operator_events(load_trace(path))) == 2 * 8


def test_dump_finished_starts_a_new_trace(tmp_path):
    exe = bound_mlp()
    path = start_profiler(tmp_path)
    step(exe)
    profiler.dump(finished=False)
    assert len(operator_events(load_trace(path))) == 8
    step(exe)
    profiler.dump()                      # both steps, then the trace is finished
    assert len(operator_events(load_trace(path))) == 16
    step(exe)
    profiler.set_state('stop')
    profiler.dump()
    assert len(operator_events(load_trace(path))) == 8


# ---- the statistics ------------------------------------------------------------------------
def _table_rows(text, section):
    lines = text.split('\n')
    at = lines.index(section)
    assert lines[at + 1] == '=================' and lines[at + 2].startswith('Name ')
    rows = {}
    for line in lines[at + 4:]:
        if not line:
            break
        name, count, total, lo, hi, avg = line.rsplit(None, 5)
        rows[name] = (int(count), float(total), float(lo), float(hi), float(avg))
    return rows


def test_dumps_aggregates_every_operator(tmp_path):
    exe = bound_mlp()
    path = start_profiler(tmp_path, aggregate_stats=True)
    for _ in range(3):
        step(exe)
    profiler.set_state('stop')
    text = profiler.dumps()
    assert text.startswith('\nProfile Statistics:\n\tNote the difference in units for '
                           'different entries.\n')
    rows = _table_rows(text, 'operator')
    assert rows['FullyConnected'][0] == 6 and rows['_backward_FullyConnected'][0] == 6
    assert rows['SoftmaxOutput'][0] == 3 and rows['_backward_Activation'][0] == 3
    profiler.dump()
    ops = operator_events(load_trace(path))
    for name, (count, total, lo, hi, avg) in rows.items():
        durs = [e['dur'] / 1e3 for e in ops if e['name'] == name]
        assert count == len(durs)
        assert total == pytest.approx(sum(durs), abs=2e-4)
        assert lo == pytest.approx(min(durs), abs=2e-4)
        assert hi == pytest.approx(max(durs), abs=2e-4)
        assert avg == pytest.approx(sum(durs) / count, abs=2e-4)
    totals = [r[1] for r in rows.values()]
    assert totals == sorted(totals, reverse=True)            # sort_by='total', descending
    counts = [r[0] for r in _table_rows(profiler.dumps(sort_by='count', ascending=True),
                                        'operator').values()]
    assert counts == sorted(counts)
    doc = json.loads(profiler.dumps(format='json'))
    assert doc['Time']['operator']['FullyConnected']['Count'] == 6
    assert doc['Unit'] == {'Time': 'ms', 'Memory': 'kB'}
    assert 'operator' in profiler.dumps(reset=True)
    assert profiler.dumps() == ('\nProfile Statistics:\n\tNote the difference in units for '
                                'different entries.\n')
    profiler.dump()                       # resetting the statistics leaves the trace alone


def test_dumps_needs_aggregate_stats_and_checks_its_arguments(tmp_path):
    exe = bound_mlp()
    start_profiler(tmp_path)
    step(exe)
    assert profiler.dumps() == ''
    with pytest.raises(AssertionError, match='sort_by'):
        profiler.dumps(sort_by='median')
    with pytest.raises(AssertionError, match='format'):
        profiler.dumps(format='csv')


def test_table_layout_is_mxnets(tmp_path):
    # The numbers and spacing of rows MXNet 1.9.1 printed for the same spans and counter.
    rec = profiler._state.recorder
    profiler.set_config(filename=str(tmp_path / 'p.json'), aggregate_stats=True)
    ms = 1000000
    rec.add(('X', 'event', 'big', 'event', 1, 0, 1200167 * 1000, None))
    rec.add(('X', 'event', 'e' * 30, 'event', 1, 0, 3113 * 1000, None))
    for value in (100, 150, 1000, 700):
        rec.add(('C', 'dom', 'ctr', 'dom', 1, 0, value, None))
    rec.add(('b', 'dom', 'task', 'dom', 1, 0, int(2.119 * ms), 7))
    rec.add(('b', 'dom', 'task', 'dom', 1, 0, int(1.094 * ms), 8))
    assert profiler.dumps() == '\n'.join([
        '',
        'Profile Statistics:',
        '\tNote the difference in units for different entries.',
        'dom',
        '=================',
        'Name                          Total Count        Time (ms)    Min Time (ms)    Max '
        'Time (ms)    Avg Time (ms)',
        '----                          -----------        ---------    -------------    ---'
        '----------    -------------',
        'task                                    2           3.2130           1.0940       '
        '    2.1190           1.6065',
        'ctr                                     4           0.7000           0.1000       '
        '    1.0000           0.4500',
        '',
        'event',
        '=================',
        'Name                          Total Count        Time (ms)    Min Time (ms)    Max '
        'Time (ms)    Avg Time (ms)',
        '----                          -----------        ---------    -------------    ---'
        '----------    -------------',
        'big                                     1        1200.1670        1200.1670       '
        ' 1200.1670        1200.1670',
        'eeeeeeeeeeeeeeeeeeeeeeeeeeeeee               1           3.1130           3.1130  '
        '         3.1130           3.1130',
        '', ''])


# ---- domains, tasks, frames, events, counters, markers ---------------------------------------
def test_domain_objects_are_traced_in_their_own_processes(tmp_path):
    path = start_profiler(tmp_path, profile_all=True, aggregate_stats=True)
    domain = profiler.Domain('mydomain')
    task = domain.new_task('mytask')
    task.start()
    task.stop()
    frame = domain.new_frame('myframe')
    frame.start()
    frame.stop()
    event = profiler.Event('myevent')
    event.start()
    event.stop()
    counter = domain.new_counter('mycounter', 5)
    counter.increment(3)
    counter.decrement()
    counter.set_value(10)
    counter += 2
    counter -= 1
    marker = profiler.Marker(domain, 'mymarker')
    for scope in ('process', 'thread', 'global'):
        marker.mark(scope)
    with pytest.raises(MXNetError, match="valid values are"):
        marker.mark('galaxy')
    profiler.set_state('stop')
    task.start()
    task.stop()                              # stopped: not recorded
    assert [str(o) for o in (domain, task, frame, event, counter)] == \
        ['mydomain', 'mytask', 'myframe', 'myevent', 'mycounter']
    profiler.dump()
    events = load_trace(path)
    process = {e['pid']: e['args']['name'] for e in events if e['name'] == 'process_name'}

    def of(name):
        return [e for e in events if e['name'] == name and e['ph'] != 'M']
    assert [(e['ph'], e['cat'], process[e['pid']]) for e in of('mytask')] == \
        [('b', 'mydomain', 'mydomain'), ('e', 'mydomain', 'mydomain')]
    assert of('mytask')[0]['id'] == of('mytask')[1]['id']
    assert [(e['ph'], process[e['pid']]) for e in of('myframe')] == [('X', 'mydomain,frame')]
    assert [(e['ph'], process[e['pid']]) for e in of('myevent')] == [('X', 'event')]
    assert [e['args']['mycounter'] for e in of('mycounter')] == [5, 8, 7, 10, 12, 11]
    assert all(e['ph'] == 'C' and process[e['pid']] == 'mydomain' for e in of('mycounter'))
    assert [(e['ph'], e['s']) for e in of('mymarker')] == [('i', 'p'), ('i', 't'), ('i', 'g')]
    assert process[of('mymarker')[0]['pid']] == 'mydomain,instant_marker'
    text = profiler.dumps()
    assert _table_rows(text, 'mydomain')['mytask'][0] == 1
    assert _table_rows(text, 'mydomain')['mycounter'][:2] == (6, 0.011)
    assert _table_rows(text, 'mydomain,instant_marker') == {}


# ---- configuration ---------------------------------------------------------------------------
def test_set_config_and_set_state_errors(tmp_path):
    with pytest.raises(MXNetError, match="Cannot find argument 'profile_everything'"):
        profiler.set_config(profile_everything=True)
    with pytest.raises(ValueError, match="'run' or 'stop'"):
        profiler.set_state('go')
    profiler.set_state('run')
    profiler.set_state('stop')
    with pytest.raises(MXNetError, match="Config and start profiler first"):
        profiler.dump()


def test_legacy_names_still_work(tmp_path):
    exe = bound_mlp()
    path = str(tmp_path / 'legacy.json')
    with pytest.warns(UserWarning, match='deprecated'):
        profiler.profiler_set_config(mode='all', filename=path)
    with pytest.warns(UserWarning, match='deprecated'):
        profiler.profiler_set_state('run')
    step(exe)
    with pytest.warns(UserWarning):
        profiler.profiler_set_state('stop')
    with pytest.warns(UserWarning):
        profiler.dump_profile()
    assert len(operator_events(load_trace(path))) == 8
    with pytest.raises(MXNetError, match='mode'):
        with pytest.warns(UserWarning):
            profiler.profiler_set_config(mode='everything')


def test_mx_profiler_is_this_module():
    assert mx.profiler is profiler
    for name in ('set_config', 'set_state', 'pause', 'resume', 'dump', 'dumps', 'Domain',
                 'Task', 'Frame', 'Event', 'Counter', 'Marker', 'profiler_set_config',
                 'profiler_set_state'):
        assert callable(getattr(mx.profiler, name))


# ---- imperative ------------------------------------------------------------------------------
def test_run_imperative_times_an_operator_call(tmp_path):
    from distmod.ops import all_names
    op = all_names()['dot']({})
    a = np.ones((3, 3), np.float32)
    out = [np.empty((3, 3), np.float32)]
    profiler.run_imperative(op, mx.cpu(), np, [a, a], out, [])      # off: just runs
    np.testing.assert_array_equal(out[0], 3)
    path = start_profiler(tmp_path)
    profiler.run_imperative(op, mx.cpu(), np, [a, 2 * a], out, [])
    profiler.set_state('stop')
    np.testing.assert_array_equal(out[0], 6)
    profiler.dump()
    ops = operator_events(load_trace(path))
    assert [(e['name'], e['ph'], e['pid']) for e in ops] == [('dot', 'X', 0)]
    assert 'args' not in ops[0]


@pytest.mark.skipif('profiler.run_imperative' not in inspect.getsource(mx.nd.op),
                    reason='distmod/ndarray/op.py does not call profiler.run_imperative yet')
def test_nd_calls_are_traced(tmp_path):
    x = mx.nd.ones((4, 4))
    path = start_profiler(tmp_path, profile_symbolic=False)
    mx.nd.dot(x, x)
    mx.nd.relu(x)
    profiler.set_state('stop')
    mx.nd.dot(x, x)
    profiler.dump()
    assert [e['name'] for e in operator_events(load_trace(path))] == ['dot', 'relu']


# ---- the process's end -----------------------------------------------------------------------
def _run(code, tmp_path, **env):
    full = dict(os.environ, PYTHONPATH=ROOT, **env)
    subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), env=full, check=True,
                   timeout=120)


def test_the_trace_is_written_at_exit_when_never_dumped(tmp_path):
    _run("import distmod as mx\n"
         "mx.profiler.set_config(filename='atexit.json')\n"
         "mx.profiler.set_state('run')\n"
         "e = mx.profiler.Event('work'); e.start(); e.stop()\n"
         "mx.profiler.set_state('stop')\n", tmp_path)
    names = [e['name'] for e in load_trace(str(tmp_path / 'atexit.json'))]
    assert 'work' in names


def test_autostart_from_the_environment(tmp_path):
    _run("import distmod as mx\n"
         "assert mx.profiler.symbolic is not None and mx.profiler.imperative is None\n"
         "exe = mx.sym.relu(mx.sym.Variable('x')).simple_bind(mx.cpu(), x=(2, 2))\n"
         "exe.forward()\n", tmp_path, MXNET_PROFILER_AUTOSTART='1')
    ops = operator_events(load_trace(str(tmp_path / 'profile.json')))
    assert [e['name'] for e in ops] == ['relu']
