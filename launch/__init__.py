"""launch: the command that starts a distmod job (one process, mpiexec, or Slurm).

It imports neither distmod nor kvstore: it builds an ``mpiexec``/``srun`` command line and
supervises it.  The command arrives with the distributed-training issue.
"""
