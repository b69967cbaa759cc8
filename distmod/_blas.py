"""NumPy's BLAS thread pool, sized at import to this process's share of the physical cores.

OpenBLAS, NumPy's BLAS, starts one thread per logical processor.  Hyperthreads do not speed a
GEMM (MXNet halves its OpenMP pool on x86 for that reason), and ranks that share a host and
each take every processor oversubscribe it: OpenBLAS's waiting threads spin, so two ranks of
two threads on two cores run several times slower than two ranks of one thread.  So, unless
the environment names a thread count (``MXNET_OMP_MAX_THREADS``, then ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, which OpenBLAS reads itself), ``import
distmod`` sizes NumPy's OpenBLAS pool to the physical cores this process may run on (one per
core of its affinity set, from ``/sys``'s topology), divided by the ranks an MPI launcher
started on this host (``OMPI_COMM_WORLD_LOCAL_SIZE``, ``MPI_LOCALNRANKS``,
``SLURM_NTASKS_PER_NODE``...).  ``distmod-launch`` sets ``OMP_NUM_THREADS`` per rank itself.
Only OpenBLAS is sized (NumPy's wheels bundle it); any other BLAS is left as it is.

OpenBLAS's idle workers busy-wait for their next call for 2^28 cycles (about 0.1 s) by
default, so after any threaded GEMM they hold every core they run on while distmod's own
threads (``distmod/_native``'s pool) want them: the stochastic-depth convnet ran 1.5x slower
at 2 threads for it.  ``import distmod`` cuts the wait to 2^20 cycles (``THREAD_TIMEOUT``,
about 0.4 ms: long enough to cover the GEMMs of one step back to back) unless
``OPENBLAS_THREAD_TIMEOUT`` is set.

``gemm`` calls that OpenBLAS's CBLAS ``?gemm`` directly on raw pointers, which NumPy's
``matmul`` cannot: ``C = alpha * op(A) @ op(B) + beta * C`` accumulating in place, on
sub-matrices given by a start and a leading dimension.  The stride-1 convolution uses it to
run one GEMM per kernel offset over shifted views of one padded buffer (``ops/conv.py``).
"""
import ctypes
import glob
import os

import numpy as np

_SETTERS = ('scipy_openblas_set_num_threads64_', 'scipy_openblas_set_num_threads',
            'openblas_set_num_threads64_', 'openblas_set_num_threads')
_GETTERS = ('scipy_openblas_get_num_threads64_', 'scipy_openblas_get_num_threads',
            'openblas_get_num_threads64_', 'openblas_get_num_threads')
_USER_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


_LOCAL_SIZE_VARS = ('OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'PMI_LOCAL_SIZE',
                    'LOCAL_WORLD_SIZE', 'SLURM_NTASKS_PER_NODE')


def physical_cores(cpus=None, sysfs='/sys/devices/system/cpu'):
    """The physical cores among logical processors ``cpus`` (default: this process's affinity
    set): distinct (package, core) pairs of their topology; their count where it is unknown."""
    if cpus is None:
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        try:
            with open('%s/cpu%d/topology/core_id' % (sysfs, cpu)) as f:
                core = f.read().strip()
            with open('%s/cpu%d/topology/physical_package_id' % (sysfs, cpu)) as f:
                package = f.read().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add((package, core))
    return max(1, len(cores))


def local_ranks(environ=None):
    """How many ranks an MPI launcher (or Slurm) started on this host; 1 outside one."""
    env = os.environ if environ is None else environ
    for name in _LOCAL_SIZE_VARS:
        value = env.get(name, '').strip().split('(')[0]
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def default_threads(environ=None, cores=None):
    """This process's thread count, or None where the environment leaves it to the BLAS
    (``OMP_NUM_THREADS`` and the BLAS's own variables are the user's choice)."""
    env = os.environ if environ is None else environ
    if env.get('MXNET_OMP_MAX_THREADS', '').strip():
        return max(1, int(env['MXNET_OMP_MAX_THREADS']))
    if any(env.get(name, '').strip() for name in _USER_VARS):
        return None
    cores = physical_cores() if cores is None else cores
    return max(1, cores // local_ranks(env))


def _openblas_libraries():
    """The OpenBLAS shared objects loaded in this process (NumPy's), best first."""
    paths = []
    try:
        with open('/proc/self/maps') as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ''
                if 'openblas' in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    if not paths:
        import numpy
        base = os.path.dirname(numpy.__file__)
        for folder in (base + '.libs', os.path.join(base, '.dylibs')):
            paths.extend(sorted(glob.glob(os.path.join(folder, '*openblas*'))))
    return paths


def _call(names, *args, result=True):
    """(found, value) of the first of ``names`` in a loaded OpenBLAS, called with ``args``."""
    for path in _openblas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_int if result else None
                return True, fn(*[ctypes.c_int(a) for a in args])
    return False, None


_GEMM_NAMES = {'float32': (('scipy_cblas_sgemm64_', 64), ('cblas_sgemm64_', 64),
                           ('scipy_cblas_sgemm', 32), ('cblas_sgemm', 32)),
               'float64': (('scipy_cblas_dgemm64_', 64), ('cblas_dgemm64_', 64),
                           ('scipy_cblas_dgemm', 32), ('cblas_dgemm', 32))}
_gemms = {}
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _find_gemm(dtype):
    for path in _openblas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, bits in _GEMM_NAMES[dtype]:
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            i = ctypes.c_int64 if bits == 64 else ctypes.c_int
            f = ctypes.c_float if dtype == 'float32' else ctypes.c_double
            p = ctypes.c_void_p
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i, i, i, f, p, i, p, i,
                           f, p, i]
            fn.restype = None
            return fn
    return None


def gemm_for(dtype):
    """The row-major CBLAS gemm of NumPy's OpenBLAS for ``dtype`` (float32 or float64), as
    ``fn(101, transa, transb, m, n, k, alpha, a_ptr, lda, b_ptr, ldb, beta, c_ptr, ldc)``
    (``TRANS``/``NO_TRANS``), or None when there is none (another BLAS, another dtype)."""
    key = str(dtype)
    if key not in _gemms:
        _gemms[key] = _find_gemm(key) if key in _GEMM_NAMES else None
    return _gemms[key]


def blas_threads():
    """NumPy's OpenBLAS thread count, or None when no OpenBLAS is found."""
    return _call(_GETTERS)[1]


_thread_fns = []


def _thread_functions():
    """(get, set) of NumPy's OpenBLAS thread count as loaded ctypes functions, or None."""
    if not _thread_fns:
        found = None
        for path in _openblas_libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            get = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
            put = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
            if get is not None and put is not None:
                get.restype, put.restype = ctypes.c_int, None
                put.argtypes = [ctypes.c_int]
                found = (get, put)
                break
        _thread_fns.append(found)
    return _thread_fns[0]


def split_gemm(a, b, out, pool, min_part):
    """out = a @ b (2-D NumPy arrays of one float dtype, ``out``'s rows contiguous) as one
    single-threaded OpenBLAS gemm per range of ``out``'s columns, the ranges run at once by
    ``pool`` (``distmod._native.pool``), OpenBLAS's own pool held at one thread meanwhile;
    False (nothing done) where the arrays do not suit, no OpenBLAS gemm or thread setter
    is found, or the product is under two parts of ``min_part`` multiply-adds.

    OpenBLAS's threads split LeNet's second convolution's GEMMs ((50, 500) @ (500, 4096) and
    the gradients' shapes) 1.4x faster than one thread on a 2-core EPYC; whole column ranges
    each on their own core, 1.7-2.0x.  Each column of ``out`` is summed by one thread in
    OpenBLAS's own order, so a given thread count gives the same bits every run."""
    if pool.size() < 2 or not (type(a) is type(b) is type(out) is np.ndarray) or not (
            a.dtype == b.dtype == out.dtype) or a.ndim != 2 or b.ndim != 2 or out.ndim != 2:
        return False
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape != (m, n) or m * n * k < 2 * min_part:
        return False
    gemm, fns = gemm_for(a.dtype), _thread_functions()
    it = a.itemsize
    ops = [_operand(a, it), _operand(b, it)]
    if gemm is None or fns is None or None in ops or out.strides[1] != it or (
            out.strides[0] % it or out.strides[0] < n * it):
        return False
    (ta, lda), (tb, ldb) = ops
    ldc = out.strides[0] // it
    parts = pool.split(0, n, 16, max(16, min_part // (m * k)))
    if len(parts) < 2:
        return False
    pa, pb, pc = a.ctypes.data, b.ctypes.data, out.ctypes.data
    col_b = it if tb == NO_TRANS else ldb * it

    def part(lo, hi):
        return [(gemm, (ROW_MAJOR, ta, tb, m, hi - lo, k, 1.0, pa, lda, pb + lo * col_b, ldb,
                        0.0, pc + lo * it, ldc))]
    return single_threaded_parts(pool, part, parts)


def single_threaded_parts(pool, calls, parts):
    """``pool.run_native(calls, parts)`` with NumPy's OpenBLAS held at one thread meanwhile,
    so that the parts' gemms run one per native thread; False (nothing run) where no thread
    setter is found."""
    fns = _thread_functions()
    if fns is None:
        return False
    get, put = fns
    before = get()
    put(1)
    try:
        pool.run_native(calls, parts)
    finally:
        put(before)
    return True


def _operand(a, it):
    """(transpose flag, leading dimension) of a 2-D array for row-major CBLAS, or None."""
    s0, s1 = a.strides
    if s1 == it and s0 % it == 0 and s0 >= a.shape[1] * it:
        return NO_TRANS, max(1, s0 // it)
    if s0 == it and s1 % it == 0 and s1 >= a.shape[0] * it:
        return TRANS, max(1, s1 // it)
    return None


def set_blas_threads(n):
    """Size NumPy's OpenBLAS pool to ``n`` threads; False when no OpenBLAS is found."""
    return _call(_SETTERS, int(n), result=False)[0]


#: OpenBLAS's busy-wait after each call, as log2 of cycles (its OPENBLAS_THREAD_TIMEOUT):
#: about half a millisecond here, where OpenBLAS's own default (2^28, a tenth of a second)
#: keeps its idle workers spinning on cores that distmod's native kernels then share
THREAD_TIMEOUT = 20
_TIMEOUT_VARS = ('OPENBLAS_THREAD_TIMEOUT', 'GOTO_THREAD_TIMEOUT')


def set_thread_timeout(log2_cycles):
    """How long NumPy's OpenBLAS workers busy-wait for the next call before they sleep,
    ``2 ** log2_cycles`` cycles (OpenBLAS takes 4 to 30).  OpenBLAS reads this once, when it
    loads; here the variable is set, OpenBLAS re-reads its environment and stops its
    workers, which it starts again, with the new wait, at its next threaded call.  False
    where the OpenBLAS found does not export these functions."""
    for path in _openblas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        read = getattr(lib, 'openblas_read_env', None)
        stop = getattr(lib, 'blas_thread_shutdown_', None)
        get = getattr(lib, 'openblas_thread_timeout', None)
        if read is None or stop is None or get is None:
            continue
        os.environ['OPENBLAS_THREAD_TIMEOUT'] = str(int(log2_cycles))
        before = get()
        read.restype = stop.restype = None
        read()
        if get() != before:
            stop()
        return True
    return False


def thread_timeout():
    """OpenBLAS's busy-wait, as log2 of cycles; None when it cannot be read."""
    for path in _openblas_libraries():
        try:
            fn = getattr(ctypes.CDLL(path), 'openblas_thread_timeout', None)
        except OSError:
            continue
        if fn is not None:
            return fn()
    return None


def apply_default():
    """At import: this process's share of the cores, where the environment names no count;
    OpenBLAS's busy-wait cut to ``THREAD_TIMEOUT``, where the environment does not set it."""
    n = default_threads()
    if n is not None:
        set_blas_threads(n)
    if not any(os.environ.get(v, '').strip() for v in _TIMEOUT_VARS):
        set_thread_timeout(THREAD_TIMEOUT)
    return n
