"""The launcher owns its job on every host: two simulated hosts (network namespaces, an rsh
agent; see tests/distributed/netns.py), a rank on each.  SIGKILL of distmod-launch on host A
ends prterun, the prted daemon on host B and both ranks with what they started; a rank on
host B killed restarts the job there too."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.distributed.netns import BIN_DIR, netns_unavailable_reason, two_hosts

_REASON = netns_unavailable_reason()
if _REASON is None and not os.path.exists(os.path.join(BIN_DIR, 'mpiexec')):
    _REASON = 'no mpiexec next to %s' % sys.executable
pytestmark = pytest.mark.skipif(_REASON is not None, reason=str(_REASON))

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launch_argv(h, args):
    return [sys.executable, '-m', 'launch', '-n', '2', '-H', '%s:1,%s:1' % h.hostnames, '--rsh-agent', h.agent,
            '--network-interface', h.cidr] + args


def test_sigkill_of_the_launcher_ends_the_job_on_both_hosts():
    with two_hosts(prefix='dmo', subnet='10.231.5.0/24', decoy_subnet='10.231.4.0/24') as h:
        argv = launch_argv(h, ['sh', '-c', 'setsid sleep 600 & exec sleep 600'])
        proc = subprocess.Popen(h.wrap(0, argv), env=h.base_env({'PYTHONPATH': ROOT}), cwd=ROOT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                sleeps = [pid for pid in h.pids() if _argv(pid)[:1] == ['sleep']]
                if len(sleeps) == 4:
                    break
                time.sleep(0.1)
            procs = {pid: _argv(pid) for pid in h.pids()}
            assert len([a for a in procs.values() if a[:1] == ['sleep']]) == 4, procs
            assert any(a and a[0].endswith('prted') for a in procs.values()), procs
            t0 = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            while h.pids() and time.monotonic() - t0 < 10:
                time.sleep(0.02)
            took = time.monotonic() - t0
            assert h.pids() == [], {pid: _argv(pid) for pid in h.pids()}
            assert took < 5, took
        finally:
            proc.kill()
            h.kill_all()


RESTART_SCRIPT = textwrap.dedent('''
    import json, os, signal, socket, time
    from mpi4py import MPI
    rank, restart = MPI.COMM_WORLD.rank, int(os.environ["DISTMOD_RESTART"])
    with open(os.path.join(os.environ["OUT"], "seen-%d-%d.json" % (restart, rank)), "w") as f:
        json.dump(dict({k: v for k, v in os.environ.items() if k.startswith("DISTMOD_RESUME")},
                       host=socket.gethostname()), f)
    checkpoint = os.environ["OUT"] + "/ck-0001.params"
    if restart == 0:            # no MPI traffic: rank 0 would notice its peer's death and could report first
        if rank == 0:
            open(checkpoint, "w").write("x")
        else:
            while not os.path.exists(checkpoint):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    MPI.COMM_WORLD.Barrier()
''')


def test_a_rank_killed_on_the_other_host_restarts_the_job_from_the_checkpoint():
    with two_hosts(prefix='dmr', subnet='10.231.3.0/24') as h:
        script = os.path.join(h.tmpdir, 'job.py')
        with open(script, 'w') as f:
            f.write(RESTART_SCRIPT)
        prefix = os.path.join(h.tmpdir, 'ck')
        argv = launch_argv(h, ['--max-restarts', '1', '--checkpoint', prefix, '-x', 'OUT=%s' % h.tmpdir,
                               sys.executable, script])
        r = h.run_on_a(argv, env={'PYTHONPATH': ROOT}, timeout=120)
        msg = 'rc=%s\nstdout:\n%s\nstderr:\n%s' % (r.returncode, r.stdout, r.stderr)
        assert r.returncode == 0, msg
        assert re.search(r'^distmod-launch: the job failed \(rank 1 on %s killed by SIGKILL\); restart 1 of 1 from '
                         r'checkpoint %s-0001 \(newest complete\)$' % (h.host_b, re.escape(prefix)), r.stderr,
                         re.M), msg
        seen = {}
        for restart in (0, 1):
            for rank in (0, 1):
                with open(os.path.join(h.tmpdir, 'seen-%d-%d.json' % (restart, rank))) as f:
                    seen[restart, rank] = json.load(f)
        assert {seen[k, 1]['host'] for k in (0, 1)} == {h.host_b}
        assert seen[0, 1] == {'host': h.host_b} and seen[0, 0] == {'host': h.host_a}
        for rank in (0, 1):
            assert seen[1, rank]['DISTMOD_RESUME_PREFIX'] == prefix and seen[1, rank]['DISTMOD_RESUME_EPOCH'] == '1'
        assert h.pids() == []


def _argv(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
    except OSError:
        return []
