"""distmod's optional native kernels (``shiftconv.c``, ``elementwise.c``), loaded with ctypes.

``pip install`` compiles both C files into one shared object in this folder when a C compiler
is at hand (``setup.py`` marks the extension optional: without one the install goes on without
it).  The shared object has no Python API; ctypes calls it and releases the GIL for each call,
so the thread pool below runs disjoint ranges of one convolution at once.  Where the library
is missing, was built for another ABI version, or ``DISTMOD_NATIVE=0`` is set, ``lib()`` is
None and every caller keeps its NumPy or BLAS path; ``status()`` says which.  The convolution
kernels are vector code for AVX2 with FMA: ``conv()`` is the library only where the processor
has both.

The entry points (see the C files): ``dm_shift_conv_images`` (the output rows of a stride-1
convolution over a flat padded grid, all kernel offsets summed in registers, over the
positions of a range of images that hold results), ``dm_shift_wgrad`` (its weight gradient
over the same kind of range), BatchNorm's statistics, normalisation and gradient in one or
two passes each, and ReLU.  The wrappers at the end take NumPy arrays and return False where
an array is not a contiguous float32 NumPy array, so their callers fall back.
"""
import ctypes
import glob
import os
import threading

import numpy as np

ABI_VERSION = 4
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
        p, i, n = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
        lib.dm_shift_conv_images.argtypes = [p, n, p, i, p, i, i, p, n, n, n, n, n, n, i, i]
        lib.dm_shift_wgrad.argtypes = [p, n, p, n, i, p, i, i, p, p, n, n, n, n, n, i]
        lib.dm_channel_sums.argtypes = [p, p, p, n, n, n, i, p]
        lib.dm_bn_apply.argtypes = [p, n, n, n, p, p, p, p, i]
        lib.dm_bn_grad_apply.argtypes = [p, p, n, n, n, p, p, p, p, p]
        lib.dm_relu.argtypes = [p, p, n]
        lib.dm_relu_grad.argtypes = [p, p, p, n]
        for name in ('dm_shift_conv_images', 'dm_shift_wgrad', 'dm_channel_sums',
                     'dm_bn_apply', 'dm_bn_grad_apply', 'dm_relu', 'dm_relu_grad'):
            getattr(lib, name).restype = None
        simd = bool(lib.dm_native_simd())
        _state['simd'] = simd
        return lib, 'loaded %s%s' % (path, '' if simd else
                                      ' (no AVX2 with FMA here: convolutions keep BLAS)')
    return None, '; '.join(why)


def lib():
    """The loaded kernels, or None (``status()`` says why)."""
    if 'lib' not in _state:
        with _lock:
            if 'lib' not in _state:
                found, why = _load()
                _state['why'] = why
                _state['lib'] = found
    return _state['lib']


def conv():
    """The kernels where the convolution's (AVX2 with FMA) run here, else None."""
    found = lib()
    return found if found is not None and _state.get('simd') else None


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


# ---- NumPy-array wrappers: False where an array does not suit (the caller falls back) ----
def _ok(*arrays):
    return all(type(a) is np.ndarray and a.dtype == np.float32 and a.flags.c_contiguous
               for a in arrays)


def _p(a):
    return a.ctypes.data


def relu(x, out):
    """out = max(x, 0) (NaN kept); True where it ran.  These elementwise kernels run on the
    calling thread: split over the pool they measured slower here (ReLU 0.22 -> 0.30 ms on
    1.25 M floats), being bound by memory, not by a core."""
    found = lib()
    if found is None or out is None or not _ok(x, out) or x.size != out.size:
        return False
    found.dm_relu(_p(x), _p(out), x.size)
    return True


def relu_grad(g, y, out):
    """out = g * (y > 0); True where it ran."""
    found = lib()
    if found is None or out is None or not _ok(g, y, out) or not g.size == y.size == out.size:
        return False
    found.dm_relu_grad(_p(g), _p(y), _p(out), g.size)
    return True


class BatchNormKernels:
    """BatchNorm over (P, C, R) float32 data in few passes; per-instance small buffers."""

    def __init__(self, channels):
        c = channels
        self.mean, self.var = np.empty(c, np.float32), np.empty(c, np.float32)
        self.sum_g, self.sum_gx = np.empty(c, np.float32), np.empty(c, np.float32)
        self._work = np.empty(c, np.float64)

    @staticmethod
    def usable(*arrays):
        return lib() is not None and _ok(*arrays)

    def _sums(self, a, b, m, shape3, mode):
        """Per-channel sums (``dm_channel_sums``'s ``mode``), in float64."""
        lib().dm_channel_sums(_p(a), None if b is None else _p(b),
                              None if m is None else _p(m), *shape3, mode,
                              _p(self._work))
        return self._work

    def stats(self, x, shape3):
        """(mean, var) per channel of ``x`` seen as ``shape3``, the second pass centred: this
        object's buffers."""
        n = float(shape3[0] * shape3[2])
        self.mean[...] = self._sums(x, None, None, shape3, 0) / n
        self.var[...] = self._sums(x, None, self.mean, shape3, 1) / n
        return self.mean, self.var

    @staticmethod
    def apply(x, shape3, mean, scale, shift, out, relu=False):
        """out = (x - mean) * scale + shift per channel (then ReLU)."""
        args = [np.ascontiguousarray(a, np.float32) for a in (mean, scale, shift)]
        lib().dm_bn_apply(_p(x), *shape3, *[_p(a) for a in args], _p(out), int(relu))

    def grad_sums(self, g, x, shape3, mean):
        """(sum of g, sum of g * (x - mean)) per channel: this object's buffers."""
        m = np.ascontiguousarray(mean, np.float32)
        self.sum_g[...] = self._sums(g, None, None, shape3, 0)
        self.sum_gx[...] = self._sums(g, x, m, shape3, 2)
        return self.sum_g, self.sum_gx

    @staticmethod
    def grad_apply(g, x, shape3, mean, a, b, d, out):
        """out = g * a + (x - mean) * b + d per channel."""
        args = [np.ascontiguousarray(v, np.float32) for v in (mean, a, b, d)]
        lib().dm_bn_grad_apply(_p(g), _p(x), *shape3, *[_p(v) for v in args], _p(out))
