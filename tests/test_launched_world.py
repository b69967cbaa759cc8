"""The rank and size a process is launched with, read from its launcher's environment before
any MPI call: only rank 0 logs and writes checkpoints, whatever the kvstore."""
import pytest

from distmod.base import launched_world


@pytest.mark.parametrize('env, expected', [
    ({}, (0, 1)),
    ({'OMPI_COMM_WORLD_RANK': '1', 'OMPI_COMM_WORLD_SIZE': '2'}, (1, 2)),
    ({'PMI_RANK': '2', 'PMI_SIZE': '4'}, (2, 4)),
    ({'RANK': '3', 'WORLD_SIZE': '8'}, (3, 8)),
    ({'SLURM_PROCID': '1', 'SLURM_STEP_NUM_TASKS': '2'}, (1, 2)),
    # an sbatch script itself is one process, whatever the allocation's task count
    ({'SLURM_PROCID': '0', 'SLURM_NTASKS': '4'}, (0, 1)),
    ({'RANK': 'x', 'WORLD_SIZE': '2'}, (0, 1)),
    ({'RANK': '2', 'WORLD_SIZE': '2'}, (0, 1)),
])
def test_launched_world_reads_the_launchers_variables(env, expected):
    assert launched_world(env) == expected
