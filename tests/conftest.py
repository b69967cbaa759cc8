"""Test-session hygiene shared by every test directory."""
import sys

import pytest


@pytest.fixture(autouse=True)
def _no_stale_mpi_sessions():
    """Some tests SIGKILL an Open MPI launcher on purpose, which leaves its session directory
    (TMPDIR/ompi.PID); a later raw ``mpiexec`` given that PID would fail to start.  distmod-launch
    sweeps these itself (launch.job.sweep_mpi_session_dirs); so do the tests, for the ones
    that run mpiexec directly."""
    if sys.platform.startswith('linux'):
        from launch.job import sweep_mpi_session_dirs
        sweep_mpi_session_dirs()
    yield
