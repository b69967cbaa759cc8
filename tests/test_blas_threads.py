"""``import distmod`` sizes NumPy's OpenBLAS pool as MXNet sizes its OpenMP pool: half the
processors on x86 unless the environment names a count (MXNET_OMP_MAX_THREADS, then
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS, which are left to the BLAS).  With
OpenBLAS's default (every processor) a convolution net on two shared vCPUs ran 3-4 times
slower than MXNet, which uses one thread there."""
import os
import subprocess
import sys

import pytest

from distmod import _blas

VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'MXNET_OMP_MAX_THREADS')


def _threads_after_import(**env):
    clean = {k: v for k, v in os.environ.items() if k not in VARS}
    clean.update(env)
    code = 'import distmod; from distmod import _blas; print(_blas.blas_threads())'
    out = subprocess.run([sys.executable, '-c', code], env=clean, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()[-1]
    return None if out == 'None' else int(out)


def test_default_threads_follow_mxnet():
    env = {}
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    x86 = _blas.platform.machine().lower() in ('x86_64', 'amd64', 'i386', 'i686', 'x86')
    assert _blas.default_threads(env) == max(1, ncpu // 2 if x86 else ncpu)
    assert _blas.default_threads({'OMP_NUM_THREADS': '3'}) is None
    assert _blas.default_threads({'OPENBLAS_NUM_THREADS': '3'}) is None
    assert _blas.default_threads({'MXNET_OMP_MAX_THREADS': '5', 'OMP_NUM_THREADS': '3'}) == 5


def test_import_sizes_the_openblas_pool_unless_the_environment_does():
    if _blas.blas_threads() is None:
        pytest.skip('NumPy is not linked with OpenBLAS here')
    assert _threads_after_import() == _blas.default_threads({})
    assert _threads_after_import(MXNET_OMP_MAX_THREADS='1') == 1
    # OpenBLAS reads OMP_NUM_THREADS itself (capped at the processors): left as it set it
    assert _threads_after_import(OMP_NUM_THREADS='1') == 1
    if (os.cpu_count() or 1) >= 2:
        assert _threads_after_import(OPENBLAS_NUM_THREADS='2') == 2
