"""NumPy's BLAS thread pool, sized at import as MXNet sizes its OpenMP pool.

MXNet 1.x on x86 runs its operators on half the processors unless ``OMP_NUM_THREADS`` (or
``MXNET_OMP_MAX_THREADS``) says otherwise; OpenBLAS, NumPy's BLAS, takes every processor.
On a machine whose processors are shared (two vCPUs with other work on them) OpenBLAS's
spinning threads then slow a convolution net several times over, where MXNet is unaffected.
So, unless the environment names a thread count (``MXNET_OMP_MAX_THREADS``, then
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, which OpenBLAS reads
itself), ``import distmod`` gives NumPy's OpenBLAS MXNet's default: the processors this
process may run on, halved on x86.  ``distmod-launch`` sets ``OMP_NUM_THREADS`` per rank.
Only OpenBLAS is sized (NumPy's wheels bundle it); any other BLAS is left as it is.
"""
import ctypes
import glob
import os
import platform

_SETTERS = ('scipy_openblas_set_num_threads64_', 'scipy_openblas_set_num_threads',
            'openblas_set_num_threads64_', 'openblas_set_num_threads')
_GETTERS = ('scipy_openblas_get_num_threads64_', 'scipy_openblas_get_num_threads',
            'openblas_get_num_threads64_', 'openblas_get_num_threads')
_USER_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


def default_threads(environ=None):
    """MXNet's thread count for this process, or None where the environment leaves it to the
    BLAS (``OMP_NUM_THREADS`` and the BLAS's own variables are the user's choice)."""
    env = os.environ if environ is None else environ
    if env.get('MXNET_OMP_MAX_THREADS', '').strip():
        return max(1, int(env['MXNET_OMP_MAX_THREADS']))
    if any(env.get(name, '').strip() for name in _USER_VARS):
        return None
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    if platform.machine().lower() in ('x86_64', 'amd64', 'i386', 'i686', 'x86'):
        n >>= 1                        # as MXNet's engine: hyperthreads do not help
    return max(1, n)


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


def blas_threads():
    """NumPy's OpenBLAS thread count, or None when no OpenBLAS is found."""
    return _call(_GETTERS)[1]


def set_blas_threads(n):
    """Size NumPy's OpenBLAS pool to ``n`` threads; False when no OpenBLAS is found."""
    return _call(_SETTERS, int(n), result=False)[0]


def apply_default():
    """At import: MXNet's default thread count where the environment names none."""
    n = default_threads()
    if n is not None:
        set_blas_threads(n)
    return n
