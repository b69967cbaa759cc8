"""distmod's native threads (``distmod/_native/threads.c``): kernel calls run in parallel with
no GIL, through one call type for every kernel's prototype (integers and pointers, then
float or double arguments), falling back to the Python pool where they cannot."""
import ctypes
import os
import threading

import numpy as np
import pytest

from distmod import _blas, _native

pytestmark = pytest.mark.skipif(_native._native_pool() is None,
                                reason='distmod native threads not built here: %s'
                                % _native.status())


@pytest.fixture
def pool():
    p = _native.Pool()
    p.resize(3)
    yield p
    p.resize(1)


def test_every_part_runs_its_calls_in_order(pool):
    lib = _native.lib()
    x = np.linspace(-3, 3, 3000).astype(np.float32)
    y = np.full_like(x, np.nan)
    # relu over [lo, hi), then tanh's gradient over the same range read back from y: the
    # second call sees the first's result only if a part's calls run in order
    g = np.ones_like(x)
    out = np.full_like(x, np.nan)

    def calls(lo, hi):
        return [(lib.dm_relu, (x.ctypes.data + 4 * lo, y.ctypes.data + 4 * lo, hi - lo)),
                (lib.dm_tanh_grad, (g.ctypes.data + 4 * lo, y.ctypes.data + 4 * lo,
                                    out.ctypes.data + 4 * lo, hi - lo))]
    parts = pool.split(0, x.size, 16, 16)
    assert len(parts) == 3
    pool.run_native(calls, parts)
    relu = np.maximum(x, 0)
    assert np.array_equal(y, relu)
    assert np.array_equal(out, (1 - relu * relu).astype(np.float32))


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_float_and_double_arguments_reach_the_kernel(pool, dtype):
    # OpenBLAS's gemm: 14 arguments, alpha and beta float (sgemm) or double (dgemm) between
    # the integers: the call type's registers must give each its own
    gemm = _blas.gemm_for(np.dtype(dtype))
    if gemm is None:
        pytest.skip('no OpenBLAS gemm for %s' % np.dtype(dtype).name)
    rng = np.random.RandomState(0)
    a, b = rng.rand(7, 5).astype(dtype), rng.rand(5, 48).astype(dtype)
    c = rng.rand(7, 48).astype(dtype)
    want = 0.5 * a @ b + 2.0 * c
    it = a.itemsize

    def calls(lo, hi):
        return [(gemm, (_blas.ROW_MAJOR, _blas.NO_TRANS, _blas.NO_TRANS, 7, hi - lo, 5, 0.5,
                        a.ctypes.data, 5, b.ctypes.data + lo * it, 48, 2.0,
                        c.ctypes.data + lo * it, 48))]
    pool.run_native(calls, [(0, 16), (16, 32), (32, 48)])
    np.testing.assert_allclose(c, want, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_busy_pool_and_unsuitable_calls_fall_back_with_the_same_results(pool):
    lib = _native.lib()
    x = np.random.RandomState(1).randn(4096).astype(np.float32)

    def run_relu(into):
        pool.run_native(lambda lo, hi: [(lib.dm_relu, (x.ctypes.data + 4 * lo,
                                                       into.ctypes.data + 4 * lo, hi - lo))],
                        pool.split(0, x.size, 16, 16))
    results = [np.empty_like(x) for _ in range(6)]
    threads = [threading.Thread(target=run_relu, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for r in results:
        assert np.array_equal(r, np.maximum(x, 0))
    # a plain Python callable is no kernel: the Python pool runs it
    seen = []
    pool.run_native(lambda lo, hi: [(lambda a, b: seen.append((a, b)), (lo, hi))],
                    [(0, 2), (2, 5), (5, 6)])
    assert sorted(seen) == [(0, 2), (2, 5), (5, 6)]


def test_a_forked_child_makes_its_own_threads(pool):
    lib = _native.lib()
    x = np.arange(-500, 500, dtype=np.float32)

    def relu_into(y):
        pool.run_native(lambda lo, hi: [(lib.dm_relu, (x.ctypes.data + 4 * lo,
                                                       y.ctypes.data + 4 * lo, hi - lo))],
                        pool.split(0, x.size, 16, 16))
        return y
    relu_into(np.empty_like(x))                 # the parent's threads exist
    pid = os.fork()
    if pid == 0:                                # the child: its threads, its results
        ok = np.array_equal(relu_into(np.empty_like(x)), np.maximum(x, 0))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_spin_setting(monkeypatch):
    monkeypatch.setenv('DISTMOD_POOL_SPIN_US', '0')
    assert _native._spin_ns(1) == 0
    monkeypatch.setenv('DISTMOD_POOL_SPIN_US', '250')
    assert _native._spin_ns(1) == 250000
    assert _native._spin_ns(10 ** 6) == 0       # more threads than cores: no spinning
    monkeypatch.setenv('DISTMOD_POOL_SPIN_US', 'soon')
    with pytest.raises(ValueError, match='DISTMOD_POOL_SPIN_US'):
        _native._spin_ns(1)
    assert ctypes.sizeof(ctypes.c_int64) * 30 == _native._CALL.size
