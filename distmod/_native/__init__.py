"""distmod's optional native kernels (``shiftconv.c``), loaded with ctypes.

``pip install`` compiles ``shiftconv.c`` into this folder when a C compiler is at hand
(``setup.py`` marks the extension optional: without one the install goes on without it).  The
shared object has no Python API; ctypes calls it and releases the GIL for each call, so the
thread pool below runs disjoint grid ranges of one convolution at once.  Where the library is
missing, was built for another ABI version, the processor lacks AVX2 with FMA, or
``DISTMOD_NATIVE=0`` is set, ``lib()`` is None and the convolution keeps its BLAS path
(``ops/conv.py``); ``status()`` says which.

The entry points (see ``shiftconv.c``): ``dm_shift_conv_images`` (the output rows of a
stride-1 convolution over a flat padded grid, all kernel offsets summed in registers, over the
positions of a range of images that hold results) and ``dm_shift_wgrad`` (its weight gradient
over the same kind of range).
"""
import ctypes
import glob
import os
import threading

ABI_VERSION = 2
_HERE = os.path.dirname(os.path.abspath(__file__))
_state = {}
_lock = threading.Lock()


def _candidates():
    return sorted(glob.glob(os.path.join(_HERE, '_shiftconv*.so'))
                  + glob.glob(os.path.join(_HERE, '_shiftconv*.pyd'))
                  + glob.glob(os.path.join(_HERE, '_shiftconv*.dylib')))


def _load():
    if os.environ.get('DISTMOD_NATIVE', '').strip() == '0':
        return None, 'disabled by DISTMOD_NATIVE=0'
    paths = _candidates()
    if not paths:
        return None, ('not built (no C compiler when distmod was installed; reinstall with '
                      'one: pip install -e .)')
    why = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            version = lib.dm_abi_version()
        except (OSError, AttributeError) as err:
            why.append('%s: %s' % (os.path.basename(path), err))
            continue
        if version != ABI_VERSION:
            why.append('%s: ABI %d, not %d (stale build: reinstall)'
                       % (os.path.basename(path), version, ABI_VERSION))
            continue
        if not lib.dm_native_simd():
            return None, 'this processor lacks AVX2 with FMA'
        p, i, n = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
        lib.dm_shift_conv_images.argtypes = [p, n, p, i, p, i, i, p, n, n, n, n, n, n, i, i]
        lib.dm_shift_conv_images.restype = None
        lib.dm_shift_wgrad.argtypes = [p, n, p, n, i, p, i, i, p, p, n, n, n, n, n, i]
        lib.dm_shift_wgrad.restype = None
        return lib, 'loaded %s' % path
    return None, '; '.join(why)


def lib():
    """The loaded kernels, or None (``status()`` says why)."""
    if 'lib' not in _state:
        with _lock:
            if 'lib' not in _state:
                _state['lib'], _state['why'] = _load()
    return _state['lib']


def status():
    """One line: where the kernels were loaded from, or why they are not used."""
    lib()
    return _state['why']


def offsets(values):
    """A C array of ``long`` kernel offsets, kept alive by the caller."""
    return (ctypes.c_long * len(values))(*values)


class Pool:
    """Runs ``fn(lo, hi)`` over a range split into one part per thread, in parallel.

    The threads are made once, on first use, and kept; ``size`` follows NumPy's BLAS thread
    count (``distmod._blas``), so ``OMP_NUM_THREADS`` and distmod's per-rank share of the
    cores apply to these kernels as they do to the GEMMs.
    """

    def __init__(self):
        self._executor = None
        self._size = None
        # a forked child has none of the parent's threads: it makes its own on first use
        if hasattr(os, 'register_at_fork'):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self):
        self._executor = None

    def size(self):
        if self._size is None:
            from .. import _blas
            self._size = max(1, int(_blas.blas_threads() or 1))
        return self._size

    def resize(self, n):
        """Use ``n`` threads from now on (the next call makes them)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._size = max(1, int(n))

    def split(self, lo, hi, align, min_part):
        """``[lo, hi)`` cut into at most ``size()`` parts of at least ``min_part`` positions,
        each starting at a multiple of ``align`` from ``lo``."""
        parts = min(self.size(), max(1, (hi - lo) // max(1, min_part)))
        step = -(-(hi - lo) // parts)
        step = -(-step // align) * align
        return [(a, min(hi, a + step)) for a in range(lo, hi, step)]

    def run(self, fn, parts):
        """``fn(lo, hi)`` for every part, the first on this thread; returns when all are done."""
        if len(parts) == 1:
            fn(*parts[0])
            return
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor
            self._executor = ThreadPoolExecutor(self.size(), thread_name_prefix='distmod-native')
        futures = [self._executor.submit(fn, lo, hi) for lo, hi in parts[1:]]
        try:
            fn(*parts[0])
        finally:
            for fut in futures:
                fut.result()


pool = Pool()
