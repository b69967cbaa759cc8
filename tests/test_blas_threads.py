"""``import distmod`` sizes NumPy's OpenBLAS pool to this process's share of the physical cores
(its affinity set's cores, divided by the ranks a launcher started on this host) unless the
environment names a count (MXNET_OMP_MAX_THREADS, then OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
MKL_NUM_THREADS, which are left to the BLAS).  OpenBLAS's own default, a thread per logical
processor in every rank, oversubscribes a host shared by ranks several times over."""
import os
import subprocess
import sys

import numpy as np
import pytest

from distmod import _blas

VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'MXNET_OMP_MAX_THREADS',
        'OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'PMI_LOCAL_SIZE', 'LOCAL_WORLD_SIZE',
        'SLURM_NTASKS_PER_NODE')


def _threads_after_import(**env):
    clean = {k: v for k, v in os.environ.items() if k not in VARS}
    clean.update(env)
    code = 'import distmod; from distmod import _blas; print(_blas.blas_threads())'
    out = subprocess.run([sys.executable, '-c', code], env=clean, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()[-1]
    return None if out == 'None' else int(out)


def test_default_threads_are_this_processs_share_of_the_physical_cores():
    assert _blas.default_threads({}, cores=8) == 8
    assert _blas.default_threads({'OMPI_COMM_WORLD_LOCAL_SIZE': '2'}, cores=8) == 4
    assert _blas.default_threads({'MPI_LOCALNRANKS': '3'}, cores=8) == 2
    assert _blas.default_threads({'SLURM_NTASKS_PER_NODE': '4(x2)'}, cores=8) == 2
    assert _blas.default_threads({'OMPI_COMM_WORLD_LOCAL_SIZE': '16'}, cores=8) == 1
    assert _blas.default_threads({}) == _blas.physical_cores()
    assert _blas.default_threads({'OMP_NUM_THREADS': '3'}) is None
    assert _blas.default_threads({'OPENBLAS_NUM_THREADS': '3'}) is None
    assert _blas.default_threads({'MXNET_OMP_MAX_THREADS': '5', 'OMP_NUM_THREADS': '3'}) == 5


def _fake_topology(root, pairs):
    for cpu, (package, core) in enumerate(pairs):
        top = root / ('cpu%d' % cpu) / 'topology'
        top.mkdir(parents=True)
        (top / 'core_id').write_text('%d\n' % core)
        (top / 'physical_package_id').write_text('%d\n' % package)


def test_physical_cores_count_hyperthread_siblings_once(tmp_path):
    # two packages of two cores with two hyperthreads each: 8 processors, 4 cores
    _fake_topology(tmp_path, [(p, c) for p in (0, 1) for c in (0, 1)] * 2)
    assert _blas.physical_cores(range(8), sysfs=str(tmp_path)) == 4
    assert _blas.physical_cores([0, 4], sysfs=str(tmp_path)) == 1     # siblings of one core
    assert _blas.physical_cores([0, 1], sysfs=str(tmp_path)) == 2
    # no topology (a container hiding /sys): every processor counts
    assert _blas.physical_cores(range(3), sysfs=str(tmp_path / 'missing')) == 3


def test_import_sizes_the_openblas_pool_unless_the_environment_does():
    if _blas.blas_threads() is None:
        pytest.skip('NumPy is not linked with OpenBLAS here')
    assert _threads_after_import() == _blas.default_threads({})
    assert _threads_after_import(OMPI_COMM_WORLD_LOCAL_SIZE='64') == 1
    assert _threads_after_import(MXNET_OMP_MAX_THREADS='1') == 1
    # OpenBLAS reads OMP_NUM_THREADS itself (capped at the processors): left as it set it
    assert _threads_after_import(OMP_NUM_THREADS='1') == 1
    if (os.cpu_count() or 1) >= 2:
        assert _threads_after_import(OPENBLAS_NUM_THREADS='2') == 2


def _timeout_after_import(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in VARS + ('OPENBLAS_THREAD_TIMEOUT', 'GOTO_THREAD_TIMEOUT')}
    clean.update(env)
    code = ('import numpy as np, distmod, os\nfrom distmod import _blas\n'
            'a = np.ones((300, 300), np.float32); (a @ a).sum()\n'   # a threaded call after
            'print(_blas.thread_timeout(), os.environ.get("OPENBLAS_THREAD_TIMEOUT"))')
    out = subprocess.run([sys.executable, '-c', code], env=clean, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    return out[-2], out[-1]


def test_import_cuts_openblas_busy_wait_unless_the_environment_sets_it():
    if _blas.thread_timeout() is None:
        pytest.skip('this OpenBLAS does not export openblas_thread_timeout')
    # idle OpenBLAS workers spin 2^28 cycles by default, holding the cores distmod's own
    # kernel threads want; children inherit the variable, so their OpenBLAS reads it at load
    assert _timeout_after_import(OMP_NUM_THREADS='2') == (str(_blas.THREAD_TIMEOUT),
                                                          str(_blas.THREAD_TIMEOUT))
    assert _timeout_after_import(OMP_NUM_THREADS='2', OPENBLAS_THREAD_TIMEOUT='7') == ('7',
                                                                                       '7')
    assert _timeout_after_import(GOTO_THREAD_TIMEOUT='9')[1] == 'None'


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_split_gemm_matches_matmul_and_repeats_its_bits(dtype):
    """``_blas.split_gemm``: column ranges of one product as single-threaded OpenBLAS gemms at
    once over the native pool; every operand layout a convolution and FullyConnected hand it
    (transposed views, a sub-matrix with a leading dimension), the same bits run to run at a
    thread count, within rounding of NumPy's matmul, OpenBLAS's thread count restored."""
    from distmod import _blas, _native
    if _blas.gemm_for(dtype) is None or _blas._thread_functions() is None:
        pytest.skip('no OpenBLAS gemm or thread setter in this NumPy')
    rng = np.random.default_rng(4)
    before = _blas.blas_threads()
    _native.pool.resize(3)
    try:
        for m, k, n in ((7, 33, 101), (50, 500, 300)):
            a = rng.standard_normal((m, k)).astype(dtype)
            bt = rng.standard_normal((n + 5, k)).astype(dtype)   # b as a transposed view
            for b in (rng.standard_normal((k, n)).astype(dtype), bt[:n].T):
                out = np.full((m, n + 3), np.nan, dtype)[:, :n]  # rows a stride apart
                assert _blas.split_gemm(a, b, out, _native.pool, 16)
                np.testing.assert_allclose(out, a.astype(np.float64) @ b,
                                           rtol=1e-4 if dtype == 'float32' else 1e-12,
                                           atol=1e-4 if dtype == 'float32' else 1e-12)
                again = np.empty((m, n), dtype)
                assert _blas.split_gemm(a, b, again, _native.pool, 16)
                assert np.array_equal(out, again)
                assert _blas.blas_threads() == before
            # a.T as the left operand (the weight gradient's g.T)
            at = np.ascontiguousarray(a.T)
            out = np.empty((m, n), dtype)
            assert _blas.split_gemm(at.T, b, out, _native.pool, 16)
            np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)
        a = rng.standard_normal((8, 8)).astype(dtype)
        out = np.empty((8, 8), dtype)
        assert not _blas.split_gemm(a, a, out, _native.pool, 1 << 20)       # too small
        assert not _blas.split_gemm(a[:, ::2], a[::2], out, _native.pool, 1)  # strided
        assert not _blas.split_gemm(a, a.astype(np.float16), out, _native.pool, 1)
        _native.pool.resize(1)
        assert not _blas.split_gemm(a, a, out, _native.pool, 1)              # one thread
    finally:
        _native.pool.resize(_blas.blas_threads() or 1)
