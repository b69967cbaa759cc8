"""distmod-launch where no MPI is installed at all: a fresh venv without mpi4py or the Open MPI
wheel, and a PATH with neither mpiexec nor srun (the launcher looks next to its own Python
first, so the project venv, which has the wheel's mpiexec, would not do)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE_PYTHON = getattr(sys, '_base_executable', None) or sys.executable


@pytest.fixture(scope='module')
def bare_venv(tmp_path_factory):
    """``(bin folder, env)`` of a venv with this checkout on its path and nothing else: what
    ``pip install --no-deps -e .`` gives, made in a fraction of a second, without the network."""
    root = tmp_path_factory.mktemp('bare') / 'venv'
    subprocess.run([BASE_PYTHON, '-m', 'venv', '--without-pip', str(root)], check=True, timeout=60)
    bindir = root / 'bin'
    python = bindir / 'python'
    purelib = subprocess.run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    with open(os.path.join(purelib, 'distmod-checkout.pth'), 'w') as f:
        f.write(ROOT + '\n')
    script = bindir / 'distmod-launch'      # what pip writes for [project.scripts]
    script.write_text('#!%s\nimport sys\nfrom launch.cli import main\nsys.exit(main())\n' % python)
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('SLURM_', 'OMPI_', 'PMIX_', 'PMI_', 'VIRTUAL_ENV', 'PYTHON'))}
    env.update(PATH=str(bindir), OMP_NUM_THREADS='1')
    check = subprocess.run([str(python), '-c', 'import launch, mpi4py'], env=env, stderr=subprocess.PIPE,
                           universal_newlines=True)
    assert "No module named 'mpi4py'" in check.stderr, check.stderr      # launch imports; mpi4py does not
    assert shutil.which('mpiexec', path=env['PATH']) is None and shutil.which('srun', path=env['PATH']) is None
    assert not (bindir / 'mpiexec').exists()
    return bindir, env


@pytest.mark.parametrize('ranks, asked', [
    (['-n', '2'], "-n 2 asks for 2 ranks"),
    (['-np', '2'], "-np 2 asks for 2 ranks"),
    (['--nproc-per-node', '2'], "--nproc-per-node 2 asks for 2 ranks"),
    (['-H', 'localhost:2'], "-H localhost:2 asks for 2 ranks"),
])
def test_several_ranks_without_mpi_fail_with_the_install_command(bare_venv, ranks, asked):
    bindir, env = bare_venv
    r = subprocess.run([str(bindir / 'distmod-launch')] + ranks + ['python', '-c', 'print("ran")'], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert r.returncode != 0 and r.stdout == '', (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith('distmod-launch: error: %s but no mpiexec or srun was found' % asked), r.stderr
    assert r.stderr.rstrip().endswith("install the MPI extra: pip install 'distmod[mpi]'"), r.stderr
    assert 'running one process directly' not in r.stderr


@pytest.mark.parametrize('ranks', [[], ['-n', '1'], ['--nproc-per-node', '1']])
def test_one_rank_without_mpi_runs_directly_as_rank_0_of_1(bare_venv, ranks):
    bindir, env = bare_venv
    r = subprocess.run([str(bindir / 'distmod-launch')] + ranks +
                       ['python', '-c', 'import os; print(*(os.environ[k] for k in '
                        '("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")))'],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, '0 0 1 1\n', '')


def test_python_m_launch_without_mpi_fails_the_same_way(bare_venv):
    bindir, env = bare_venv
    r = subprocess.run([str(bindir / 'python'), '-m', 'launch', '-n', '3', 'python', '-c', 'pass'], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert r.returncode == 2 and "-n 3 asks for 3 ranks" in r.stderr and "distmod[mpi]" in r.stderr
