"""Running the real ``distmod-launch`` in a subprocess, and telling whether Open MPI 5 is here."""
import os
import subprocess
import sys

from launch import cli
from launch.cli import LaunchError

PY = sys.executable


def launcher_command():
    """The installed ``distmod-launch`` console script next to this Python, else ``python -m launch``."""
    script = os.path.join(os.path.dirname(PY), 'distmod-launch')
    return [script] if os.access(script, os.X_OK) else [PY, '-m', 'launch']


def launcher_env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for name in ('SLURM_JOB_ID', 'RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE'):
        env.pop(name, None)
    env.update(extra)
    return env


def run_distmod_launch(args, timeout=120, text=True, env=None, cwd=None):
    """``distmod-launch ARGS`` to its end: a CompletedProcess with stdout and stderr."""
    return subprocess.run(launcher_command() + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=text, env=env or launcher_env(), timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=cwd)


def openmpi_missing_reason():
    """None when mpi4py and an Open MPI 5 mpiexec are here, else why the real runs skip."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py is not installed'
    exe = cli.find_mpiexec()
    if exe is None:
        return 'no mpiexec next to %s or on PATH' % PY
    try:
        flavour = cli.detect_mpi_flavour(exe)
    except LaunchError as e:
        return str(e)
    return None if flavour == 'openmpi' else 'mpiexec is %s, these runs expect Open MPI 5' % flavour


MARK = 'DISTMOD_TEST_MARK'


def marked_processes(mark):
    """``{pid: (argv, environment)}`` of the live processes whose environment carries
    ``DISTMOD_TEST_MARK=mark`` (a test gives it to the launcher; everything it starts inherits
    it), read from /proc."""
    want = ('%s=%s' % (MARK, mark)).encode()
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/environ' % name, 'rb') as f:
                items = f.read().split(b'\0')
            if want not in items:
                continue
            with open('/proc/%s/stat' % name, 'rb') as f:
                if f.read().rpartition(b')')[2].split()[0] in (b'Z', b'X'):
                    continue
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
        except (OSError, IndexError):
            continue
        env = dict(item.decode('utf-8', 'replace').partition('=')[::2] for item in items if b'=' in item)
        found[int(name)] = (argv, env)
    return found


def kill_marked(mark):
    """SIGKILL whatever still carries ``mark`` (a failed test's leftovers)."""
    import signal
    for pid in marked_processes(mark):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
