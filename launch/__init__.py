"""launch: the command that starts a distmod job (one process, mpiexec, or Slurm's srun).

It imports neither distmod nor kvstore: it builds an ``mpiexec``/``srun`` command line and
supervises it.  Use it as ``distmod-launch -n 4 python train.py`` (or ``python -m launch``);
see ``launch.cli`` for the options, ``launch.rank`` for the per-rank wrapper (torchrun's
RANK/LOCAL_RANK/WORLD_SIZE/LOCAL_WORLD_SIZE, ``--tag-output``, the failing rank's line) and
``launch.output`` for how a job's output is shown (one traceback and one line for a failure).
"""
from launch.cli import build_command, main

__all__ = ['build_command', 'main']
