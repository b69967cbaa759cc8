"""The launcher owns its job: when ``distmod-launch`` dies (SIGKILL included), or its rank's
MPI daemon does, every process of the job ends within seconds; SIGINT/SIGTERM stop the job
with exit code 128+signal; what a finished job left behind is ended.  Checked on the process
table: the test gives the launcher a marker variable that everything it starts inherits."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from launch import job
from tests.launch.helpers import (MARK, PY, kill_marked, launcher_command, launcher_env, marked_processes,
                                  openmpi_missing_reason)

SKIP = openmpi_missing_reason()
needs_openmpi = pytest.mark.skipif(SKIP is not None, reason=SKIP or '')
needs_proc = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads the process table in /proc')
pytestmark = needs_proc

#: sleeps twice: once in the rank's process group, once in a session of its own (setsid)
SLEEPERS = ['sh', '-c', 'setsid sleep 600 & exec sleep 600']
IGNORES_SIGTERM = [PY, '-c', 'import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
                             'print("ready", flush=True)\ntime.sleep(600)']


@pytest.fixture
def mark():
    value = uuid.uuid4().hex
    yield value
    kill_marked(value)


def start(mark, args):
    return subprocess.Popen(launcher_command() + args, env=launcher_env(**{MARK: mark}), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            start_new_session=True)


def wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail('%s: not within %g s' % (what, timeout))


def sleepers(mark):
    return [pid for pid, (argv, _) in marked_processes(mark).items() if argv[:1] == ['sleep']]


def gone_within(mark, timeout, exclude=()):
    """Seconds until no process carries ``mark`` (``exclude`` aside); fails after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not set(marked_processes(mark)) - set(exclude):
            return time.monotonic() - t0
        time.sleep(0.02)
    left = {pid: argv for pid, (argv, _) in marked_processes(mark).items() if pid not in exclude}
    pytest.fail('left %g s after: %s' % (timeout, left))


@pytest.mark.parametrize('ranks', [
    pytest.param(1, id='one-process'),
    pytest.param(2, id='mpiexec', marks=needs_openmpi)])
def test_sigkill_of_the_launcher_ends_every_process_of_the_job_within_seconds(mark, ranks):
    proc = start(mark, ['-n', str(ranks)] + SLEEPERS)
    try:
        wait_for(lambda: len(sleepers(mark)) == 2 * ranks, 30, 'the ranks start')
        procs = marked_processes(mark)
        if ranks > 1:
            assert any('prterun' in os.path.basename(argv[0]) for argv, _ in procs.values()), procs
        # every process of the job carries its id: the launcher's one job id, attempt 0
        ids = {env.get('DISTMOD_JOB_ID') for pid, (_, env) in procs.items() if pid != proc.pid}
        assert len(ids) == 1 and None not in ids, ids
        assert {env.get('DISTMOD_RESTART') for pid, (_, env) in procs.items() if pid != proc.pid} == {'0'}
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        took = gone_within(mark, 10)
        assert took < 5, took
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize('ranks', [
    pytest.param(1, id='one-process'),
    pytest.param(2, id='mpiexec', marks=needs_openmpi)])
def test_sigint_or_sigterm_stop_the_job_with_exit_code_128_plus_the_signal(mark, ranks, signum):
    proc = start(mark, ['-n', str(ranks)] + SLEEPERS)
    wait_for(lambda: len(sleepers(mark)) == 2 * ranks, 30, 'the ranks start')
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    assert 'distmod-launch: %s: stopping the job' % signum.name in err, err
    assert 'prterun' not in err and 'killing it' not in err and 'distmod-launch: rank' not in err, err
    gone_within(mark, 5)


def test_a_job_that_ignores_sigterm_is_killed_after_the_stop_timeout(mark):
    proc = start(mark, ['--stop-timeout', '1', '-n', '1'] + IGNORES_SIGTERM)
    assert proc.stdout.readline() == 'ready\n'
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert 1 <= time.monotonic() - t0 < 6
    assert 'the job did not end within 1 s of SIGTERM: killing it' in err, err
    gone_within(mark, 5)


def test_a_second_signal_kills_at_once(mark):
    proc = start(mark, ['-n', '1'] + IGNORES_SIGTERM)
    assert proc.stdout.readline() == 'ready\n'
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and time.monotonic() - t0 < 5, err      # the first signal decides
    assert 'SIGINT again: killing it' in err, err
    gone_within(mark, 5)


@needs_openmpi
def test_ranks_end_when_their_mpi_daemon_is_killed(mark):
    """A SIGKILLed prterun leaves its ranks orphaned; their wrappers notice and end them."""
    proc = start(mark, ['-n', '2'] + SLEEPERS)
    try:
        wait_for(lambda: len(sleepers(mark)) == 4, 30, 'the ranks start')
        prterun = [pid for pid, (argv, _) in marked_processes(mark).items() if 'prterun' in argv[0]]
        assert len(prterun) == 1
        os.kill(prterun[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 137, err
        assert gone_within(mark, 10) < 5
        # the killed prterun's session directory went with it (the launcher swept it)
        assert not os.path.exists('/tmp/ompi.%d' % prterun[0])
    finally:
        proc.kill()


@pytest.mark.parametrize('ranks', [
    pytest.param(1, id='one-process'),
    pytest.param(2, id='mpiexec', marks=needs_openmpi)])
def test_what_a_finished_job_left_behind_is_ended(mark, ranks):
    proc = start(mark, ['-n', str(ranks), 'sh', '-c', 'setsid sleep 600 & echo started'])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == 'started\n' * ranks, err
    assert marked_processes(mark) == {}


# --- the rank wrapper against a lifeline of the test's own ----------------------------------

def wrapper(mark, lifeline_spec, command, restart='0'):
    env = launcher_env(**{MARK: mark, 'DISTMOD_JOB_ID': 'test' + mark[:8], 'DISTMOD_RESTART': restart,
                          'DISTMOD_LIFELINE': lifeline_spec})
    return subprocess.Popen([PY, '-m', 'launch.rank', '--'] + command, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            start_new_session=True)


def test_the_wrapper_kills_its_command_when_the_lifeline_says_kill(mark):
    lifeline = job.Lifeline('test' + mark[:8])
    try:
        proc = wrapper(mark, lifeline.environment()['DISTMOD_LIFELINE'], SLEEPERS)
        wait_for(lambda: len(sleepers(mark)) == 2 and lifeline.connected() == 1, 30, 'the wrapper connects')
        t0 = time.monotonic()
        lifeline.cut(next_restart=1)
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - t0 < 3
        assert proc.returncode == 128 + signal.SIGKILL and 'distmod-launch: rank' not in err, err
        gone_within(mark, 5, exclude=[proc.pid])
        # a wrapper of the attempt that is over is told so at once
        late = wrapper(mark, lifeline.environment()['DISTMOD_LIFELINE'], SLEEPERS, restart='0')
        late.communicate(timeout=30)
        assert late.returncode == 137
        gone_within(mark, 5)
    finally:
        lifeline.close()


def test_the_wrapper_stops_its_command_when_the_launcher_is_gone(mark):
    """End of file on the lifeline, the way a launcher's death closes it: SIGTERM, then (the
    command ignores it) SIGKILL after the grace period; and the command's leftovers go too."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    accepted = []

    def serve():
        conn, _ = server.accept()
        conn.recv(256)
        conn.sendall(b'ok\n')
        accepted.append(conn)
    threading.Thread(target=serve, daemon=True).start()
    command = ['sh', '-c', 'setsid sleep 600 & exec %s' % ' '.join("'%s'" % a for a in IGNORES_SIGTERM)]
    proc = wrapper(mark, '127.0.0.1:%d' % server.getsockname()[1], command)
    try:
        assert proc.stdout.readline() == 'ready\n'
        wait_for(lambda: accepted, 10, 'the wrapper connects')
        t0 = time.monotonic()
        accepted[0].close()
        proc.communicate(timeout=30)
        took = time.monotonic() - t0
        assert job.LIFELINE_GRACE_S <= took < job.LIFELINE_GRACE_S + 3, took
        assert proc.returncode == 137
        gone_within(mark, 5)
    finally:
        proc.kill()
        server.close()


def test_lifeline_admits_only_its_job_and_current_attempt():
    lifeline = job.Lifeline('abc123')
    try:
        spec = lifeline.environment()['DISTMOD_LIFELINE']
        assert spec.endswith('127.0.0.1:%d' % lifeline.port)
        assert job.connect_lifeline(spec, 'otherjob', 0) is None
        sock = job.connect_lifeline(spec, 'abc123', 0)
        assert not isinstance(sock, str) and sock is not None
        assert job.lifeline_broken(sock, 0.1) is None
        lifeline.cut(next_restart=1)
        assert job.lifeline_broken(sock, 5) == 'kill'
        sock.close()
        assert job.connect_lifeline(spec, 'abc123', 0) == 'kill'
        again = job.connect_lifeline(spec, 'abc123', 1)
        assert again is not None and again != 'kill'
        again.close()
    finally:
        lifeline.close()


def test_lifeline_addresses_put_the_network_interface_first_and_loopback_last(monkeypatch):
    monkeypatch.setattr(job, '_interface_addresses', lambda: [('lo', '127.0.0.1'), ('eth0', '192.168.1.5'),
                                                              ('ib0', '10.1.2.3')])
    monkeypatch.setattr(socket, 'getaddrinfo', lambda *a, **k: [(None, None, None, '', ('192.168.1.5', 0))])
    assert job.lifeline_addresses('10.1.0.0/16') == ['10.1.2.3', '192.168.1.5', '127.0.0.1']
    assert job.lifeline_addresses('ib0') == ['10.1.2.3', '192.168.1.5', '127.0.0.1']
    assert job.lifeline_addresses() == ['192.168.1.5', '10.1.2.3', '127.0.0.1']


def test_job_processes_finds_the_marked_processes_of_this_host_only(mark):
    env = dict(os.environ, DISTMOD_JOB_ID='j' + mark[:8], DISTMOD_RESTART='2', **{MARK: mark})
    child = subprocess.Popen(['sleep', '600'], env=env)
    other = subprocess.Popen(['sleep', '600'], env=dict(env, DISTMOD_RESTART='3'))
    try:
        # both children's environments must be readable (exec'd) before they are counted
        wait_for(lambda: len(job.job_processes('j' + mark[:8])) == 2, 10, 'the markers show')
        assert job.job_processes('j' + mark[:8], 2) == [child.pid]
        assert sorted(job.job_processes('j' + mark[:8])) == sorted([child.pid, other.pid])
        assert job.job_processes('j' + mark[:8], 2, wrapper='1') == []
        assert job.end_job_processes('j' + mark[:8], grace=2) == 2
        assert child.wait(timeout=5) == -signal.SIGTERM and other.wait(timeout=5) == -signal.SIGTERM
    finally:
        child.kill()
        other.kill()


def test_parent_death_signal_reaches_the_child_of_a_killed_parent(mark):
    """The mechanism under the launcher's mpiexec: the child gets SIGTERM when its parent dies."""
    code = ('import subprocess, sys, time\nfrom launch import job\n'
            'subprocess.Popen(["sleep", "600"], preexec_fn=job.parent_death_signal())\n'
            'print("started", flush=True)\ntime.sleep(600)\n')
    parent = subprocess.Popen([PY, '-c', code], env=launcher_env(**{MARK: mark}), stdout=subprocess.PIPE,
                              universal_newlines=True)
    assert parent.stdout.readline() == 'started\n'
    assert len(sleepers(mark)) == 1
    parent.kill()
    parent.wait()
    gone_within(mark, 5)


# --- a killed prterun's session directory -----------------------------------------------------

def _dead_pid():
    p = subprocess.Popen(['true'])
    p.wait()
    return p.pid


def test_sweep_removes_the_session_directories_of_gone_or_later_processes_only(tmp_path):
    host = socket.gethostname()

    def session(pid, files=('pmix.%s.tool' % host,), mtime=None):
        d = tmp_path / ('ompi.%d' % pid)
        d.mkdir()
        for f in files:
            (d / f).write_text('x')
        if mtime is not None:
            os.utime(d, (mtime, mtime))
        return d

    dead = session(_dead_pid())
    running = session(os.getpid())                      # made after this process started: in use
    reused = session(os.getppid(), mtime=1.0e9)        # made in 2001, before its PID's process started
    elsewhere = session(_dead_pid() + 100000, files=('pmix.another-host.tool.7',))
    empty = session(_dead_pid() + 200000, files=())
    (tmp_path / 'ompi.123456').write_text('a file, not a directory')
    (tmp_path / 'ompi.vm.0').mkdir()
    removed = job.sweep_mpi_session_dirs({'TMPDIR': str(tmp_path)})
    assert sorted(removed) == sorted(os.path.realpath(str(d)) for d in (dead, reused, empty))
    assert running.is_dir() and elsewhere.is_dir() and (tmp_path / 'ompi.123456').is_file()
    assert (tmp_path / 'ompi.vm.0').is_dir()


def _start_with_pid(pid, argv, env, tries=200):
    """Start argv as process ``pid`` (root: /proc/sys/kernel/ns_last_pid), or None."""
    for _ in range(tries):
        with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
        if p.pid == pid:
            return p
        p.kill()
        p.communicate()
    return None


def _killed_prterun(mpiexec, env, tmpdir, mark):
    """SIGKILL a running mpiexec (prterun) and its rank: the PID it had, its session left in tmpdir."""
    victim = subprocess.Popen([mpiexec, '-n', '1', 'sleep', '600'], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stale = tmpdir / ('ompi.%d' % victim.pid)
    try:
        wait_for(lambda: any(f.startswith('pmix.') for f in (os.listdir(stale) if stale.is_dir() else ())),
                 30, 'prterun makes its session directory')
        wait_for(lambda: sleepers(mark), 30, 'the rank starts')
    finally:
        victim.kill()
        victim.wait()
        kill_marked(mark)
    assert stale.is_dir()
    return victim.pid


def _run_as(pid, argv, env):
    """Run argv to its end as process ``pid`` (root: /proc/sys/kernel/ns_last_pid); skips if
    the PID cannot be had."""
    for _ in range(200):
        with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
        if p.pid == pid:
            _, err = p.communicate(timeout=60)
            return p.returncode, err
        p.kill()
        p.communicate()
    pytest.skip('PID %d could not be had again' % pid)


@needs_openmpi
@pytest.mark.skipif(os.geteuid() != 0 or not os.access('/proc/sys/kernel/ns_last_pid', os.W_OK),
                    reason='choosing the next PID (/proc/sys/kernel/ns_last_pid) needs root')
def test_a_prterun_given_the_pid_of_a_killed_one_starts_after_the_launcher_swept(tmp_path, mark):
    """A SIGKILLed prterun leaves TMPDIR/ompi.PID; Open MPI 5 then fails to start once under
    that PID ("The PMIx server's listener thread failed to start"); distmod-launch sweeps it."""
    from launch.cli import find_mpiexec
    env = launcher_env(**{MARK: mark, 'TMPDIR': str(tmp_path), 'OMPI_ALLOW_RUN_AS_ROOT': '1',
                          'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM': '1'})
    mpiexec = find_mpiexec()
    pid = _killed_prterun(mpiexec, env, tmp_path, mark)
    code, err = _run_as(pid, [mpiexec, '-n', '1', 'true'], env)        # what the sweep prevents
    assert code != 0 and 'listener thread failed to start' in err, (code, err)

    pid = _killed_prterun(mpiexec, env, tmp_path, mark)
    done = subprocess.run(launcher_command() + ['-n', '2', 'true'], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr        # any Open MPI job of the launcher sweeps
    assert not (tmp_path / ('ompi.%d' % pid)).exists()
    code, err = _run_as(pid, [mpiexec, '-n', '1', 'true'], env)
    assert code == 0, err
