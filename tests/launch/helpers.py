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
