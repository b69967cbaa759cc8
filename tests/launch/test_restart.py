"""``--max-restarts N --checkpoint PREFIX``: a failed job runs again, up to N times, each run
from the newest complete checkpoint, said in one line each time; what every rank finds in its
environment (DISTMOD_RESTART, DISTMOD_RESUME_*); N honoured; the rule for "complete"."""
import json
import os
import re
import signal
import subprocess
import textwrap
import time

import pytest

from launch import cli
from launch.cli import build_command, describe_failure, parse_args
from launch.resume import newest_complete_checkpoint, resume_environment
from tests.launch.helpers import PY, launcher_command, launcher_env, openmpi_missing_reason, run_distmod_launch

SKIP = openmpi_missing_reason()
needs_openmpi = pytest.mark.skipif(SKIP is not None, reason=SKIP or '')
RESUME = ('DISTMOD_RESUME_PREFIX', 'DISTMOD_RESUME_EPOCH', 'DISTMOD_RESUME_STATES')

#: Not distmod: notes what each rank of each run sees, "saves" epoch 3 on its first run
#: (and a half-written epoch 4), then fails as FAIL says: rank 1 kills itself with SIGKILL on
#: the first run, or every rank exits with code 10 + the restart count on every run.
SCRIPT = textwrap.dedent('''
    import json, os, signal, sys, time
    rank, restart = os.environ["RANK"], int(os.environ["DISTMOD_RESTART"])
    seen = {k: v for k, v in os.environ.items() if k.startswith("DISTMOD_") or k == "WORLD_SIZE"}
    with open("seen-%d-%s.json" % (restart, rank), "w") as f:
        json.dump(seen, f)
    fail = os.environ["FAIL"]
    if restart == 0 and rank == "0":
        for name in ("ck-symbol.json", "ck-0003.params", "ck-0003.states", "ck-0003.json", "ck-0004.params"):
            with open(name, "w") as f:
                f.write("x")
    if fail == "always":
        sys.exit(10 + restart)
    if fail == "first" and restart == 0:
        time.sleep(0.5)             # rank 0 has written its checkpoint
        if rank == "1" or os.environ["WORLD_SIZE"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
''')


def run_job(tmp_path, args, fail, timeout=120):
    script = tmp_path / 'job.py'
    script.write_text(SCRIPT)
    return run_distmod_launch(args + [PY, str(script)], timeout=timeout, cwd=str(tmp_path),
                              env=launcher_env(FAIL=fail, DISTMOD_RESUME_EPOCH='99'))


def seen(tmp_path):
    """``{(restart, rank): the DISTMOD_* variables}`` of every run."""
    out = {}
    for path in tmp_path.glob('seen-*.json'):
        _, restart, rank = path.stem.split('-')
        out[int(restart), int(rank)] = json.loads(path.read_text())
    return out


@pytest.mark.parametrize('ranks', [
    pytest.param(1, id='one-process'),
    pytest.param(2, id='mpiexec', marks=needs_openmpi)])
def test_a_failed_job_restarts_from_the_newest_complete_checkpoint(tmp_path, ranks):
    r = run_job(tmp_path, ['-n', str(ranks), '--max-restarts', '2', '--checkpoint', 'ck'], fail='first')
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if 'restart' in line]
    assert len(lines) == 1, r.stderr
    assert re.match(r'^distmod-launch: the job failed \(rank %d on \S+ killed by SIGKILL\); restart 1 of 2 '
                    r'from checkpoint ck-0003 \(newest complete\)$' % (ranks - 1), lines[0]), lines
    runs = seen(tmp_path)
    assert sorted(runs) == [(k, r) for k in (0, 1) for r in range(ranks)]
    job_ids = {env['DISTMOD_JOB_ID'] for env in runs.values()}
    assert len(job_ids) == 1 and re.match(r'^[0-9a-f]{12}$', job_ids.pop())      # one job, over the restarts
    for (restart, rank), env in runs.items():
        assert env['DISTMOD_RESTART'] == str(restart) and env['DISTMOD_MAX_RESTARTS'] == '2'
        assert env['WORLD_SIZE'] == str(ranks)
        if restart == 0:        # nothing to resume from yet (the launcher's own stale value is not passed)
            assert not set(RESUME) & set(env), env
        else:                   # epoch 4 has no manifest among epochs that have: half-written
            assert {k: env.get(k) for k in RESUME} == {'DISTMOD_RESUME_PREFIX': 'ck', 'DISTMOD_RESUME_EPOCH': '3',
                                                       'DISTMOD_RESUME_STATES': 'ck-0003.states'}, env


@pytest.mark.parametrize('ranks', [
    pytest.param(1, id='one-process'),
    pytest.param(2, id='mpiexec', marks=needs_openmpi)])
def test_n_restarts_then_it_gives_up_with_the_last_exit_code(tmp_path, ranks):
    r = run_job(tmp_path, ['-n', str(ranks), '--max-restarts', '2'], fail='always')
    assert r.returncode == 12, r.stderr
    ours = [line for line in r.stderr.splitlines() if line.startswith('distmod-launch: the job failed')]
    assert len(ours) == 3, r.stderr
    for k, line in enumerate(ours[:2]):
        assert re.match(r'^distmod-launch: the job failed \(rank \d on \S+ exited with code %d\); restart %d of 2 '
                        r'from the beginning$' % (10 + k, k + 1), line), line
    assert re.match(r'^distmod-launch: the job failed \(rank \d on \S+ exited with code 12\); no restarts left '
                    r'\(--max-restarts 2\): giving up with exit code 12$', ours[2]), ours[2]
    assert sorted({restart for restart, _ in seen(tmp_path)}) == [0, 1, 2]       # N+1 runs, no more


def test_without_max_restarts_a_failure_is_not_retried(tmp_path):
    r = run_job(tmp_path, ['-n', '1'], fail='always')
    assert r.returncode == 10 and 'restart' not in r.stderr and 'giving up' not in r.stderr, r.stderr
    assert sorted(seen(tmp_path)) == [(0, 0)]


def test_no_complete_checkpoint_yet_restarts_from_the_beginning(tmp_path):
    script = tmp_path / 'job.py'
    script.write_text('import os, sys\nsys.exit(3 if os.environ["DISTMOD_RESTART"] == "0" else 0)\n')
    r = run_distmod_launch(['--max-restarts', '1', '--checkpoint', 'nothing/here', PY, str(script)],
                           cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert re.search(r'^distmod-launch: the job failed \(rank 0 on \S+ exited with code 3\); restart 1 of 1 from the '
                     r'beginning \(no complete checkpoint nothing/here-NNNN.params yet\)$', r.stderr, re.M), r.stderr


@pytest.mark.parametrize('ranks', [
    pytest.param([1, 2], id='1-then-2', marks=needs_openmpi),
    pytest.param([1, 1], id='1-then-1')])
def test_a_job_run_again_by_hand_with_another_rank_count_resumes_alike(tmp_path, ranks):
    for name in ('ck-0002.params', 'ck-0007.params', 'ck-0007.states'):
        (tmp_path / name).write_text('x')
    show = ('import os; print(os.environ["RANK"], *(os.environ.get(k) for k in '
            '("DISTMOD_RESUME_PREFIX", "DISTMOD_RESUME_EPOCH", "DISTMOD_RESUME_STATES")))')
    for n in ranks:
        r = run_distmod_launch(['-n', str(n), '--checkpoint', 'ck', PY, '-c', show], cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        assert r.stderr == 'distmod-launch: resuming from checkpoint ck-0007 (newest complete)\n'
        assert sorted(r.stdout.splitlines()) == ['%d ck 7 ck-0007.states' % i for i in range(n)]


def test_a_stopped_job_is_not_restarted(tmp_path):
    script = tmp_path / 'job.py'
    script.write_text('import os, time\nopen("run-%s" % os.environ["DISTMOD_RESTART"], "w").close()\n'
                      'print("ready", flush=True)\ntime.sleep(60)\n')
    proc = subprocess.Popen(launcher_command() + ['--max-restarts', '3', PY, str(script)], cwd=str(tmp_path),
                            env=launcher_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, universal_newlines=True)
    assert proc.stdout.readline() == 'ready\n'
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and 'restart' not in err, err
    time.sleep(0.5)
    assert sorted(p.name for p in tmp_path.glob('run-*')) == ['run-0']


# --- the pieces ------------------------------------------------------------------------------

def touch(folder, *names, size=1):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'x' * size)


def test_complete_means_params_present_and_not_empty_and_with_a_manifest_where_there_are_manifests(tmp_path):
    prefix = str(tmp_path / 'm')
    assert newest_complete_checkpoint(prefix) is None
    assert newest_complete_checkpoint(str(tmp_path / 'no' / 'such')) is None
    touch(tmp_path, 'm-symbol.json', 'm-0001.params', 'm-0002.states', 'other-0009.params', 'm-best-0008.params',
          'm-0005.params.tmp')
    ck = newest_complete_checkpoint(prefix)
    assert (ck.epoch, ck.name, ck.params, ck.states) == (1, prefix + '-0001', prefix + '-0001.params', None)
    touch(tmp_path, 'm-0002.params', 'm-0002.states')
    touch(tmp_path, 'm-0003.params', size=0)                # empty: not whole
    ck = newest_complete_checkpoint(prefix)
    assert (ck.epoch, ck.states) == (2, prefix + '-0002.states')
    touch(tmp_path, 'm-0001.json')                          # manifests now: only epochs with one count
    assert newest_complete_checkpoint(prefix).epoch == 1
    touch(tmp_path, 'm-0004.json')                          # a manifest without its params: not committed
    assert newest_complete_checkpoint(prefix).epoch == 1
    touch(tmp_path, 'm-0004.params', 'm-10000.params', 'm-10000.json')
    assert newest_complete_checkpoint(prefix).epoch == 10000
    assert newest_complete_checkpoint(prefix).name == prefix + '-10000'


def test_a_relative_prefix_and_a_folders_prefix_are_kept_as_spelled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path, 'ckpt/mlp-0003.params', 'ckpt/-0002.params')
    ck = newest_complete_checkpoint('ckpt/mlp')
    assert (ck.name, ck.params) == ('ckpt/mlp-0003', 'ckpt/mlp-0003.params')
    assert resume_environment(ck) == {'DISTMOD_RESUME_PREFIX': 'ckpt/mlp', 'DISTMOD_RESUME_EPOCH': '3'}
    assert newest_complete_checkpoint('ckpt/').name == 'ckpt/-0002'
    assert resume_environment(None) == {}


def build(argv, flavour, job_env, env=None):
    args = parse_args(argv)
    args.hosts, args.mpi4py_run = [], False
    return build_command(args, env or {}, flavour, program='/opt/mpi/bin/mpiexec', cores=4, is_root=False,
                         job_env=job_env)


def test_job_variables_reach_every_rank_on_every_launcher_and_stale_ones_do_not():
    job_env = {'DISTMOD_JOB_ID': 'abc', 'DISTMOD_RESTART': '1', 'DISTMOD_RESUME_EPOCH': '3'}
    stale = {'DISTMOD_RESUME_STATES': 'old.states', 'DISTMOD_LIFELINE': 'x:1'}
    argv, env = build(['-n', '2', 'prog'], 'openmpi', job_env, env=stale)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == '-x'] == [
        'OMP_NUM_THREADS', 'DISTMOD_JOB_ID', 'DISTMOD_RESTART', 'DISTMOD_RESUME_EPOCH']
    assert {k: env.get(k) for k in list(job_env) + list(stale)} == dict(
        job_env, DISTMOD_RESUME_STATES=None, DISTMOD_LIFELINE=None)
    argv, env = build(['-n', '2', 'prog'], 'mpich', job_env)
    assert ('-genv', 'DISTMOD_RESUME_EPOCH', '3') in zip(argv, argv[1:], argv[2:])
    argv, env = build(['-n', '2', 'prog'], 'slurm', job_env)
    assert '--export=ALL' in argv and env['DISTMOD_JOB_ID'] == 'abc'
    argv, env = build(['prog'], 'local', job_env, env=stale)
    assert env['DISTMOD_RESTART'] == '1' and 'DISTMOD_RESUME_STATES' not in env
    argv, env = build(['-n', '2', 'prog'], 'openmpi', None, env=stale)       # None: left alone
    assert env['DISTMOD_LIFELINE'] == 'x:1' and 'DISTMOD_JOB_ID' not in argv


def test_describe_failure():
    assert describe_failure(('1', 'node7', 137, None), 137) == 'rank 1 on node7 killed by SIGKILL'
    assert describe_failure(('0', 'n', 3, 'NameError: x'), 3) == 'rank 0 on n exited with code 3'
    assert describe_failure(None, 5) == 'exit code 5'
    assert describe_failure(('2', 'n', 200, None), 200) == 'rank 2 on n exited with code 200'


def test_restart_options_are_checked():
    assert parse_args(['--max-restarts', '2', '--checkpoint', 'p', 'prog']).max_restarts == 2
    assert parse_args(['prog']).max_restarts == 0 and parse_args(['prog']).checkpoint is None
    for bad in (['--max-restarts', '-1'], ['--stop-timeout', '-2']):
        with pytest.raises(SystemExit):
            parse_args(bad + ['prog'])


def test_dry_run_shows_where_the_job_would_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path, 'ck-0004.params')
    assert cli.main(['--dry-run', '-n', '1', '--checkpoint', 'ck', 'prog']) == 0
    out = capsys.readouterr().out
    assert 'DISTMOD_RESUME_PREFIX=ck ' in out and 'DISTMOD_RESUME_EPOCH=4 ' in out


def test_help_lists_the_restart_options_and_the_job_variables():
    r = run_distmod_launch(['--help'])
    assert r.returncode == 0
    for text in ('--max-restarts N', '--checkpoint PREFIX', '--stop-timeout S', 'DISTMOD_JOB_ID', 'DISTMOD_RESTART',
                 'DISTMOD_RESUME_PREFIX, DISTMOD_RESUME_EPOCH', 'DISTMOD_RESUME_STATES', 'begin_epoch=N',
                 '128+N when SIGINT, SIGTERM or SIGHUP'):
        assert text in r.stdout, text
