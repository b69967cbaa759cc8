"""launch: the command that starts a distmod job (one process, mpiexec, or Slurm's srun).

It imports neither distmod nor kvstore: it builds an ``mpiexec``/``srun`` command line and
supervises it.  Use it as ``distmod-launch -n 4 python train.py`` (or ``python -m launch``);
see ``launch.cli`` for the options and ``launch.rank`` for the per-rank wrapper.
"""
from launch.cli import build_command, main

__all__ = ['build_command', 'main']
