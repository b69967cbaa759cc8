"""The watchdog (kvstore/watchdog.py) under distmod-launch: whatever one rank does, the job
ends within its deadline, the error names that rank and where the others waited, and no
process of the job is left.

Each case runs a small ``Module.fit`` on N ranks with ``distmod-launch --timeout 3`` (the
watchdog's ``DISTMOD_TIMEOUT``) and one rank
failing its way (the faults the issue lists): it sleeps inside the loop (``hang``), stops
itself with SIGSTOP (``stop``), calls ``sys.exit(0)`` from a batch callback (``exit0``),
leaves ``fit`` by an exception its script catches and then ends normally
(``early_return``), trains fewer epochs (``num_epoch``: the agreement before training
names it on every rank), never reaches ``fit`` at all
(``never_fit``, caught in ``MPI_Init``), starts MPI but never makes its store
(``never_store``), raises (``raise``) or is killed (``kill``: the launcher's own report).
"""
import subprocess
import textwrap
import time
import uuid

import pytest

from tests.launch.helpers import (MARK, PY, kill_marked, launcher_command, launcher_env,
                                  marked_processes, openmpi_missing_reason)

SKIP = openmpi_missing_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or '')
TIMEOUT = 3

SCRIPT = textwrap.dedent('''
    import os, signal, sys, time
    import numpy as np
    fault = os.environ['FAULT']
    rank = int(os.environ['OMPI_COMM_WORLD_RANK'])
    bad = rank == int(os.environ['FAULT_RANK'])
    if fault == 'never_fit' and bad:
        time.sleep(600)
    if fault == 'never_store' and bad:
        from mpi4py import MPI          # in MPI, but never at the first store
        time.sleep(600)
    import distmod as mx
    rng = np.random.RandomState(0)
    x = rng.rand(300, 6).astype(np.float32)
    y = (x.sum(1) > 3).astype(np.float32)
    hidden = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=8),
                               act_type='relu')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(hidden, num_hidden=2), name='softmax')

    class Leave(Exception):
        pass

    def fail(param):
        if not bad or param.epoch != 1 or param.nbatch != 2:
            return
        if fault == 'hang':
            time.sleep(600)
        elif fault == 'stop':
            os.kill(os.getpid(), signal.SIGSTOP)
        elif fault == 'exit0':
            sys.exit(0)
        elif fault == 'early_return':
            raise Leave()
        elif fault == 'raise':
            raise ValueError('bad batch on purpose')
        elif fault == 'kill':
            os.kill(os.getpid(), signal.SIGKILL)

    mod = mx.mod.Module(net)
    try:
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=10), kvstore='dist_sync',
                num_epoch=2 if fault == 'num_epoch' and bad else 3, batch_end_callback=fail,
                optimizer_params={'learning_rate': 0.1})
    except Leave:
        pass
    print('rank %d ends normally' % rank, flush=True)
''')

#: fault -> what the first error line says (the waiting ranks' word, or the launcher's)
EXPECT = {
    'hang': ['ends the job: waited', 'rank {r} is outside distmod', 'fit epoch 1'],
    'stop': ['ends the job: waited', 'rank {r} did not answer (stopped, dead'],
    'exit0': ['rank {r} left the job (it left fit by SystemExit)', 'fit epoch 1 batch 2'],
    'early_return': ['rank {r} left the job (it left fit by Leave)'],
    'num_epoch': ['disagree before training', 'num_epoch: {others} 3; rank {r} 2'],
    'never_fit': ['MPI_Init waited 3 s for the other ranks'],
    'never_store': ['rank {r} did not reach making the first distributed kvstore within 3 s'],
    'raise': ['rank {r} ', 'ValueError: bad batch on purpose'],
    'kill': ['rank {r} on ', 'killed by signal SIGKILL'],
}


def _run(tmp_path, fault, n, bad):
    script = tmp_path / 'fault.py'
    script.write_text(SCRIPT)
    mark = uuid.uuid4().hex
    env = launcher_env(FAULT=fault, FAULT_RANK=str(bad), **{MARK: mark})
    t0 = time.monotonic()
    try:
        proc = subprocess.run(launcher_command() + ['-n', str(n), '--timeout', str(TIMEOUT),
                                                    PY, str(script)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env, cwd=str(tmp_path), timeout=120)
    except subprocess.TimeoutExpired as e:
        kill_marked(mark)
        pytest.fail('the job did not end in 120 s (%s on rank %d of %d): %s'
                    % (fault, bad, n, (e.stderr or b'')[-3000:]))
    took = time.monotonic() - t0
    # nothing of the job is left (a stopped rank included)
    deadline = time.monotonic() + 10
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = marked_processes(mark)
    kill_marked(mark)
    assert not left, 'left behind: %s' % sorted(' '.join(a) for a, _ in left.values())
    return proc, took


CASES = [(f, 2, 1) for f in EXPECT] + [(f, 3, 0 if f == 'never_fit' else 2) for f in EXPECT]


@pytest.mark.parametrize('fault,n,bad', CASES, ids=['%s-%d' % (c[0], c[1]) for c in CASES])
def test_a_failing_rank_ends_the_job_naming_it(tmp_path, fault, n, bad):
    proc, took = _run(tmp_path, fault, n, bad)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    # the deadline, the answers' grace (2 s), SIGKILL grace and start-up: well under 30 s
    assert took < 30, (took, out[-3000:])
    rest = [r for r in range(n) if r != bad]
    others = ('rank %s' if len(rest) == 1 else 'ranks %s') % ', '.join(map(str, rest))
    for words in EXPECT[fault]:
        assert words.format(r=bad, others=others) in out, (words, out[-3000:])
    if fault not in ('raise', 'num_epoch', 'kill'):     # the launcher's own report
        first = [line for line in out.splitlines() if line.startswith('distmod: rank ')]
        assert first, out[-3000:]
    # every rank that was not the failing one did not go on to end normally
    assert 'rank %d ends normally' % ((bad + 1) % n) not in proc.stdout, out[-3000:]


def test_a_slow_first_step_within_the_first_deadline_is_not_a_failure(tmp_path):
    """DISTMOD_FIRST_TIMEOUT covers start-up: a rank 2 s late with a 1 s steady deadline."""
    script = tmp_path / 'slow.py'
    script.write_text(textwrap.dedent('''
        import os, time
        import numpy as np
        import distmod as mx
        if os.environ['OMPI_COMM_WORLD_RANK'] == '1':
            time.sleep(2)
        x = np.random.RandomState(0).rand(40, 3).astype(np.float32)
        net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(mx.sym.Variable('data'),
                                                                   num_hidden=1), name='lro')
        mod = mx.mod.Module(net, label_names=['lro_label'])
        mod.fit(mx.io.NDArrayIter(x, x[:, :1], batch_size=4, label_name='lro_label'),
                kvstore='dist_sync', num_epoch=2)
        print('done', flush=True)
    '''))
    env = launcher_env(DISTMOD_TIMEOUT='1', DISTMOD_FIRST_TIMEOUT='30')
    proc = subprocess.run(launcher_command() + ['-n', '2', PY, str(script)], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert proc.stdout.count('done') == 2


def test_a_stopped_rank_ends_the_job_in_under_30_s_with_the_default_deadline(tmp_path):
    """No --timeout: the steady deadline is 60 s, but a rank that cannot even answer the
    watchdog's question (asked after 15 s of waiting) ends the job then."""
    script = tmp_path / 'fault.py'
    script.write_text(SCRIPT)
    mark = uuid.uuid4().hex
    env = launcher_env(FAULT='stop', FAULT_RANK='1', **{MARK: mark})
    env.pop('DISTMOD_TIMEOUT', None)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(launcher_command() + ['-n', '2', PY, str(script)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env, cwd=str(tmp_path), timeout=120)
    finally:
        kill_marked(mark)
    took = time.monotonic() - t0
    assert proc.returncode != 0
    assert took < 30, took
    assert 'rank 1 did not answer (stopped' in proc.stderr and 'deadline 60 s' in proc.stderr
