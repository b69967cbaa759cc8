"""distmod's optional native kernels (``shiftconv.c``, ``sameconv.c``, ``im2col.c``,
``pool.c``, ``elementwise.c``, ``activation.c``), loaded with ctypes.

``pip install`` compiles the C files into one shared object in this folder when a C compiler
is at hand (``setup.py`` marks the extension optional: without one the install goes on without
it).  The shared object has no Python API; ctypes calls it and releases the GIL for each call,
so the thread pool below runs disjoint ranges of one convolution at once.  Where the library
is missing, was built for another ABI version, or ``DISTMOD_NATIVE=0`` is set, ``lib()`` is
None and every caller keeps its NumPy or BLAS path; ``status()`` says which.  The convolution
kernels are vector code for AVX2 with FMA, and for AVX-512F where the processor has it:
``conv()`` is the library only where the processor has AVX2 and FMA, ``simd_level()`` says
which version runs (``DISTMOD_NATIVE_SIMD=avx2`` or ``none`` caps it).

The entry points (see the C files): ``dm_same_conv`` and ``dm_same_wgrad`` (a stride-1 2-D
convolution whose output is its input's size, over the NCHW arrays themselves: AVX-512 lane
masks stand for the padding), ``dm_shift_conv_images`` (the output rows of a stride-1
convolution over a flat padded grid, all kernel offsets summed in registers, over the
positions of a range of images that hold results), ``dm_shift_conv_direct`` (the same, its
results scattered straight into an NCHW array: AVX-512's lane masks), ``dm_shift_wgrad`` (the
weight gradient over the same kind of range), 2-D im2col and col2im, 2-D max pooling forward
and backward, BatchNorm's statistics, normalisation and gradient in one or two passes each,
ReLU's, tanh's and the logistic function's gradients, and tanh and the logistic function
themselves (``dm_tanh``, ``dm_sigmoid``: AVX2 with FMA; 0 returned where the processor lacks
them).  The wrappers at the end take NumPy
arrays and return False where an array is not a contiguous float32 NumPy array, so their
callers fall back.
"""
import ctypes
import glob
import os
import struct
import threading

import numpy as np

ABI_VERSION = 15
_SIMD_LEVELS = {'none': 0, '0': 0, 'avx2': 1, '1': 1, 'avx512': 2, '2': 2}
_SIMD_NAMES = {0: 'no AVX2 with FMA here: convolutions keep BLAS', 1: 'AVX2',
               2: 'AVX-512'}
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
        lib.dm_shift_conv_direct.argtypes = [p, n, p, i, p, i, i, p, n, n, p, n, n, n, n, n,
                                             n, n, n, n, i]
        lib.dm_shift_wgrad.argtypes = [p, n, p, n, i, p, i, i, p, p, n, n, n, n, n, i]
        lib.dm_same_conv.argtypes = [p, n, n, p, i, p, p, i, i, p, n, n, p, n, n, n, i]
        lib.dm_same_wgrad.argtypes = [p, n, n, p, n, n, i, p, p, i, i, p, p, n, n, n, i]
        lib.dm_channel_sums.argtypes = [p, p, p, n, n, n, i, p]
        lib.dm_pool_run.argtypes = [p, p, ctypes.c_int64, ctypes.c_int64]
        lib.dm_pool_run.restype = i
        lib.dm_call_size.restype = i
        lib.dm_bn_apply.argtypes = [p, n, n, n, p, p, p, p, i]
        lib.dm_bn_grad_apply.argtypes = [p, p, n, n, n, p, p, p, p, p]
        lib.dm_relu.argtypes = [p, p, n]
        f = ctypes.c_float
        lib.dm_sgd_step.argtypes = [p, p, p, n, f, f, f, f, f, f]
        lib.dm_relu_grad.argtypes = [p, p, p, n]
        lib.dm_tanh_grad.argtypes = [p, p, p, n]
        lib.dm_sigmoid_grad.argtypes = [p, p, p, n]
        lib.dm_tanh.argtypes = lib.dm_sigmoid.argtypes = [p, n, p, n, n, n]
        lib.dm_tanh.restype = lib.dm_sigmoid.restype = i
        lib.dm_im2col2d.argtypes = [p, p, n, n, n, n, n, n, n, i, i, i, i, i, i, i]
        lib.dm_col2im2d.argtypes = [p, p, n, n, n, n, n, n, n, i, i, i, i, i, i, i]
        lib.dm_col2im2d_part.argtypes = lib.dm_col2im2d.argtypes
        lib.dm_copy4d.argtypes = [p, n, n, n, n, p, n, n, n, n, n, n, n, n, n]
        lib.dm_maxpool2d.argtypes = [p, p, n, n, n, n, n, n, i, i, i, i, i, i]
        lib.dm_maxpool2d_grad.argtypes = [p, p, p, p, n, n, n, n, n, n, i, i, i, i, i, i]
        for name in ('dm_shift_conv_images', 'dm_shift_conv_direct', 'dm_shift_wgrad',
                     'dm_channel_sums', 'dm_bn_apply', 'dm_bn_grad_apply', 'dm_relu',
                     'dm_relu_grad', 'dm_tanh_grad', 'dm_sigmoid_grad', 'dm_maxpool2d',
                     'dm_maxpool2d_grad', 'dm_im2col2d', 'dm_col2im2d', 'dm_col2im2d_part',
                     'dm_sgd_step', 'dm_copy4d'):
            getattr(lib, name).restype = None
        simd = lib.dm_native_simd()
        cap = os.environ.get('DISTMOD_NATIVE_SIMD', '').strip().lower()
        if cap:
            if cap not in _SIMD_LEVELS:
                raise ValueError('DISTMOD_NATIVE_SIMD=%r: use one of %s'
                                 % (cap, ', '.join(sorted(_SIMD_LEVELS))))
            simd = min(simd, _SIMD_LEVELS[cap])
        _state['simd'] = simd
        return lib, 'loaded %s (%s)' % (path, _SIMD_NAMES[simd])
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
    """The kernels where the convolution's (AVX2 with FMA, or AVX-512) run here, else None."""
    found = lib()
    return found if found is not None and _state.get('simd') else None


def simd_level():
    """The convolution kernels' vector code: 2 AVX-512, 1 AVX2 with FMA, 0 none (the C
    entry points' ``simd`` argument).  ``DISTMOD_NATIVE_SIMD`` (``avx2``, ``none``) caps it."""
    lib()
    return _state.get('simd', 0)


def status():
    """One line: where the kernels were loaded from, or why they are not used."""
    lib()
    return _state['why']


def offsets(values):
    """A C array of ``long`` kernel offsets, kept alive by the caller."""
    return (ctypes.c_long * len(values))(*values)


def same_geometry(h, w, dys, dxs):
    """(shifts, masks) of ``sameconv.c`` for an ``h`` x ``w`` image and kernel offsets that
    read row ``+dys[k]``, column ``+dxs[k]`` of each position: the flat shifts as a C array,
    and per 16-position vector and offset a ``uint16`` lane mask (``(vectors, K)``), bit l
    set where position ``16 * v + l`` is in the image and so is what it reads there."""
    hw = h * w
    pos = np.arange(-(-hw // 16) * 16)
    dy, dx = np.asarray(dys)[None, :], np.asarray(dxs)[None, :]
    row, col = (pos // w)[:, None] + dy, (pos % w)[:, None] + dx
    inside = (pos[:, None] < hw) & (row >= 0) & (row < h) & (col >= 0) & (col < w)
    bits = inside.reshape(-1, 16, len(dys)).astype(np.uint32) << np.arange(16)[None, :, None]
    masks = np.ascontiguousarray(bits.sum(axis=1).astype(np.uint16))
    return offsets([y * w + x for y, x in zip(dys, dxs)]), masks


class _Worker:
    """One pool thread, handed a part through two locks used as semaphores: ``go`` released
    by the caller when a part is set, ``done`` released by the worker when it has run.  (A
    concurrent.futures executor took 45-50 us to start a part and as long again to report it
    done; this hand-off takes about 20 us each way.)"""

    def __init__(self, name):
        self.go, self.done = threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.task = None
        self.error = None
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            self.go.acquire()
            task = self.task
            if task is None:                 # told to stop
                self.done.release()
                return
            fn, lo, hi = task
            try:
                fn(lo, hi)
            except BaseException as err:     # handed to the caller, raised there
                self.error = err
            self.done.release()

    def start(self, fn, lo, hi):
        self.task, self.error = (fn, lo, hi), None
        self.go.release()

    def wait(self):
        self.done.acquire()
        err, self.error = self.error, None
        return err

    def stop(self):
        self.task = None
        self.go.release()
        self.done.acquire()


#: how long a native thread (threads.c) spins before it sleeps, where it has a core of its own.
#: LeNet's step at 2 threads on a 2-vCPU AVX-512 EPYC VM spent 6.9 ms a step in split kernels
#: with the Python threads, 6.8 with threads.c's not spinning, 6.4 / 6.2 / 6.3 spinning 100 /
#: 300 / 1000 us (medians); whole steps, 16 rounds interleaved: not spinning 10.54 ms,
#: spinning 300 us 10.06, with the GEMMs split from 2^22 (``ops._util.SPLIT_GEMM_MIN``) 9.63,
#: and 1 ms 9.36; 0.3 / 1 / 3 ms in a later run 9.08 / 9.02 / 8.74
_SPIN_US = 1000


def _spin_ns(threads):
    """Nanoseconds a waiting native thread spins: ``DISTMOD_POOL_SPIN_US``
    (default ``_SPIN_US``; 0: sleep at once), and 0 where the pool's threads outnumber the
    cores this process may run on (a spinning thread would take a core from a working one)."""
    raw = os.environ.get('DISTMOD_POOL_SPIN_US', '').strip()
    try:
        us = float(raw) if raw else _SPIN_US
    except ValueError:
        raise ValueError('DISTMOD_POOL_SPIN_US=%r: give microseconds (0: no spinning)' % raw)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return int(us * 1000) if us > 0 and threads <= cores else 0


class Pool:
    """Runs ``fn(lo, hi)`` over a range split into one part per thread, in parallel.

    The threads are made once, on first use, and kept; ``size`` follows NumPy's BLAS thread
    count (``distmod._blas``), so ``OMP_NUM_THREADS`` and distmod's per-rank share of the
    cores apply to these kernels as they do to the GEMMs.  One call runs at a time: a call
    made while another is running (from another Python thread) runs its parts one after the
    other on its own thread.
    """

    def __init__(self):
        self._workers = None
        self._size = None
        self._spin = None
        self._calls = None
        self._busy = threading.Lock()
        # a forked child has none of the parent's threads: it makes its own on first use
        if hasattr(os, 'register_at_fork'):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self):
        self._workers = None
        self._busy = threading.Lock()

    def size(self):
        if self._size is None:
            from .. import _blas
            self._size = max(1, int(_blas.blas_threads() or 1))
        return self._size

    def resize(self, n):
        """Use ``n`` threads from now on (the next call makes them)."""
        with self._busy:
            for w in self._workers or ():
                w.stop()
            self._workers = None
            self._size = max(1, int(n))
            self._spin = None

    def split(self, lo, hi, align, min_part):
        """``[lo, hi)`` cut into at most ``size()`` parts of at least ``min_part`` positions,
        each starting at a multiple of ``align`` from ``lo``."""
        parts = min(self.size(), max(1, (hi - lo) // max(1, min_part)))
        step = -(-(hi - lo) // parts)
        step = -(-step // align) * align
        return [(a, min(hi, a + step)) for a in range(lo, hi, step)]

    def run_native(self, calls, parts):
        """The kernel calls ``calls(lo, hi)`` (a list of (ctypes function, arguments)) of
        every part, the parts in parallel on threads.c's threads, which need no GIL to start
        or to report (``run``'s Python threads started a part 50 us late on a 2-vCPU VM);
        where that pool is not built or another call is running, through ``run``.  The
        kernels' return values are not kept."""
        lists = [calls(lo, hi) for lo, hi in parts]
        found = _native_pool() if len(lists) > 1 else None
        if found is not None and self._busy.acquire(blocking=False):
            try:
                if self._run_calls(found, lists):
                    return
            finally:
                self._busy.release()
        by_start = {lo: c for (lo, _), c in zip(parts, lists)}

        def part(lo, hi):
            for fn, args in by_start[lo]:
                fn(*args)
        self.run(part, parts)

    def _run_calls(self, found, lists):
        total = sum(len(c) for c in lists)
        buf = self._calls
        if buf is None or len(buf) < total * _CALL.size:
            buf = self._calls = ctypes.create_string_buffer(max(64, 2 * total) * _CALL.size)
        starts, at = [0], 0
        for c in lists:
            for fn, args in c:
                if not _pack(buf, at * _CALL.size, fn, args):
                    return False
                at += 1
            starts.append(at)
        st = (ctypes.c_int64 * len(starts))(*starts)
        if self._spin is None:
            self._spin = _spin_ns(self.size())
        found.dm_pool_run(ctypes.addressof(buf), ctypes.addressof(st), len(lists), self._spin)
        return True

    def run(self, fn, parts):
        """``fn(lo, hi)`` for every part, the first on this thread; returns when all are done
        (and raises the first part's error, if one raised)."""
        if len(parts) == 1 or not self._busy.acquire(blocking=False):
            for lo, hi in parts:
                fn(lo, hi)
            return
        try:
            if self._workers is None:
                self._workers = [_Worker('distmod-native-%d' % i)
                                 for i in range(max(1, self.size() - 1))]
            extra = parts[1:]
            if len(extra) > len(self._workers):       # more parts than threads: run inline
                inline, extra = extra[len(self._workers):], extra[:len(self._workers)]
            else:
                inline = []
            for w, (lo, hi) in zip(self._workers, extra):
                w.start(fn, lo, hi)
            first = None
            try:
                for lo, hi in [parts[0]] + inline:
                    fn(lo, hi)
            except BaseException as err:
                first = err
            errors = [w.wait() for w in self._workers[:len(extra)]]
            for err in [first] + errors:
                if err is not None:
                    raise err
        finally:
            self._busy.release()


pool = Pool()


# ---- the native threads (threads.c): kernel calls in parallel, without the GIL ----
_CALL = struct.Struct('=22q8d')          # threads.c's dm_call: fn, doubles, 20 ints, 8 reals
_REAL_TYPES = (ctypes.c_float, ctypes.c_double)
_kinds = {}


def _kind(fn):
    """(kernel address, which arguments are reals, whether the reals are double) of a ctypes
    function with ``argtypes``; None where threads.c cannot make the call."""
    if not isinstance(fn, ctypes._CFuncPtr):
        return None
    entry = _kinds.get(id(fn))         # ctypes functions are not hashable; kept alive here
    found = entry[1] if entry is not None and entry[0] is fn else None
    if found is None:
        types = fn.argtypes or ()
        real = tuple(t in _REAL_TYPES for t in types)
        doubles = ctypes.c_double in types
        ok = (sum(real) <= 8 and len(types) - sum(real) <= 20
              and not (doubles and ctypes.c_float in types))
        found = ((ctypes.cast(fn, ctypes.c_void_p).value, real, int(doubles)) if ok
                 else False)
        _kinds[id(fn)] = (fn, found)
    return found or None


def _word(v):
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, ctypes.Array):            # the kernels' offset tables
        return ctypes.addressof(v)
    return int(v)


def _pack(buf, at, fn, args):
    kind = _kind(fn)
    if kind is None or len(args) != len(kind[1]):
        return False
    addr, real, doubles = kind
    ints, reals = [], []
    for v, r in zip(args, real):
        if r:
            reals.append(float(v))
        else:
            ints.append(_word(v))
    ints += [0] * (20 - len(ints))
    reals += [0.0] * (8 - len(reals))
    _CALL.pack_into(buf, at, addr, doubles, *ints, *reals)
    return True


def _native_pool():
    found = lib()
    if found is None or 'pool_ok' not in _state:
        _state['pool_ok'] = found is not None and found.dm_call_size() == _CALL.size and (
            found.dm_pool_run(None, None, 0, 0) == 1)
    return found if _state['pool_ok'] else None


# ---- NumPy-array wrappers: False where an array does not suit (the caller falls back) ----
def _ok(*arrays):
    return all(type(a) is np.ndarray and a.dtype == np.float32 and a.flags.c_contiguous
               for a in arrays)


def _p(a):
    return a.ctypes.data


def contiguous_float32(a):
    """Whether ``a`` is a C-contiguous float32 NumPy array, as the kernels take them."""
    return _ok(a)


def channel_sums(a, shape3, work, out):
    """out[c] = the sum of ``a`` (contiguous float32 seen as (P, C, R)) over P and R, summed in
    float64 (``dm_channel_sums``; ``work``: C float64s) and rounded once into ``out``; True
    where it ran.  One pass; NumPy's sum over the outer and inner axes of a (64, 20, 576)
    gradient took 0.24 ms here."""
    found = lib()
    if found is None or not _ok(a) or work is None or work.size != shape3[1] or (
            a.size != shape3[0] * shape3[1] * shape3[2]):
        return False
    found.dm_channel_sums(_p(a), None, None, *shape3, 0, _p(work))
    out[...] = work
    return True


#: floats per thread below which tanh and the logistic function run on the calling thread
_ACT_MIN_PART = 1 << 16


def _act_rows(x, out):
    """(rows, cols, ld of x, ld of out) where the activation kernels take ``x`` into ``out``:
    float32 NumPy arrays, both contiguous (one row), or both 2-D of one shape with contiguous
    rows (the fused RNN's gate slices); else None."""
    if type(x) is not np.ndarray or type(out) is not np.ndarray or not (
            x.dtype == out.dtype == np.float32):
        return None
    if x.flags.c_contiguous and out.flags.c_contiguous and x.size == out.size:
        return 1, x.size, x.size, x.size
    if x.ndim == 2 and x.shape == out.shape and x.strides[1] == out.strides[1] == 4 and (
            x.strides[0] % 4 == 0 and out.strides[0] % 4 == 0):
        return x.shape[0], x.shape[1], x.strides[0] // 4, out.strides[0] // 4
    return None


def _transcendental(name, x, out):
    found = lib()
    # simd >= 1: AVX2 with FMA, the kernels' own check (DISTMOD_NATIVE_SIMD=none: 0), so a
    # split call's parts, whose return values run_native drops, all run
    if found is None or out is None or _state.get('simd', 0) < 1:
        return False
    layout = _act_rows(x, out)
    if layout is None:
        return False
    rows, cols, ldx, ldo = layout
    fn, px, po = getattr(found, name), _p(x), _p(out)
    if rows * cols < 2 * _ACT_MIN_PART:
        return bool(fn(px, ldx, po, ldo, rows, cols))
    if rows == 1:           # one contiguous run: cut anywhere (16-float steps)
        parts, step = pool.split(0, cols, 16, _ACT_MIN_PART), None
    else:                   # rows apart: cut between rows
        parts, step = pool.split(0, rows, 1, max(1, _ACT_MIN_PART // max(1, cols))), True

    def part(lo, hi):
        if step is None:
            return [(fn, (px + 4 * lo, ldx, po + 4 * lo, ldo, 1, hi - lo))]
        return [(fn, (px + 4 * lo * ldx, ldx, po + 4 * lo * ldo, ldo, hi - lo, cols))]
    pool.run_native(part, parts)
    return True


def tanh(x, out):
    """out = tanh(x) (``activation.c``: within 1 ulp of float64, NaN kept), over the pool's
    threads where ``x`` is large: contiguous arrays, or 2-D ones with contiguous rows
    (``_act_rows``: the fused RNN's gate slices); True where it ran (AVX2 with FMA here)."""
    return _transcendental('dm_tanh', x, out)


def _numpy_vector_tanh():
    """Whether NumPy's own float32 tanh is AVX-512 vector code on this processor (NumPy's
    AVX512_SKX loops, in its x86-64 builds from 1.22 on, run where the processor has that
    set: ``dm_cpu_avx512_skx``), faster than ``activation.c``'s AVX2
    kernel: LeNet's first tanh (737,280 floats) on an AVX-512 EPYC took 130 us in NumPy 2.4
    and 186 in NumPy 1.23, against the kernel's 387.  Within 1.4 ulp of float64 (the
    kernel: 1).  Not where ``DISTMOD_NATIVE_SIMD`` caps the kernels below AVX-512, so that
    the AVX2 kernel can be run on such a machine."""
    found = _state.get('numpy_tanh')
    if found is None:
        found = _state['numpy_tanh'] = bool(lib() is not None and lib().dm_cpu_avx512_skx())
    return found and _state.get('simd', 0) >= 2


def numpy_tanh(x, out):
    """out = NumPy's tanh of x where NumPy's is the faster tanh here (``_numpy_vector_tanh``);
    True where it ran.  On the calling thread: split over the Python threads (NumPy releases
    the GIL in its loops), LeNet's first tanh took 90-100 us against 130 whole on an idle
    2-vCPU VM, but those threads then wake onto the core the native threads spin on.  The
    arrays as for ``tanh``."""
    if lib() is None or not _numpy_vector_tanh() or _act_rows(x, out) is None:
        return False
    np.tanh(x, out=out)
    return True


def sigmoid(x, out):
    """out = 1 / (1 + exp(-x)) (``activation.c``), as ``tanh``; True where it ran."""
    return _transcendental('dm_sigmoid', x, out)


def relu(x, out):
    """out = max(x, 0) (NaN kept), split over the native threads where large
    (``_ELEMENT_MIN_PART``); True where it ran."""
    found = lib()
    if found is None or out is None or not _ok(x, out) or x.size != out.size:
        return False
    _elementwise(found.dm_relu, (x, out), x.size)
    return True


class SGDStep:
    """One parameter's SGD steps in place (``elementwise.c`` ``dm_sgd_step``: NumPy's
    operations and roundings in one pass instead of five): ``step(w, grad, mom, ...)`` on
    contiguous float32 NumPy arrays of one size, ``mom`` None without momentum, ``clip``
    below 0 for none; True where it ran.  The arrays' addresses are kept while the same
    arrays come back (the executor's buffers do, every step): a step is one ctypes call."""
    __slots__ = ('arrays', 'args')

    def __init__(self):
        self.arrays = self.args = None

    def step(self, w, grad, mom, rescale, lr, momentum, lr_wd, decay, clip):
        a = self.arrays
        if a is None or a[0] is not w or a[1] is not grad or a[2] is not mom:
            found = lib()
            if found is None or not _ok(w, grad) or w.size != grad.size or (
                    mom is not None and (not _ok(mom) or mom.size != w.size)):
                self.arrays = None
                return False
            self.arrays = (w, grad, mom)
            self.args = (found.dm_sgd_step, _p(w), _p(grad), None if mom is None else _p(mom),
                         w.size)
        fn, pw, pg, pm, n = self.args
        fn(pw, pg, pm, n, rescale, lr, momentum, lr_wd, decay, clip)
        return True


#: floats per thread below which ReLU and the activations' gradients run on the calling
#: thread.  These are bound by memory, not by a core, and with the Python threads' hand-over
#: splitting them cost more than it saved (ReLU 0.22 -> 0.30 ms on 1.25 M floats); on
#: threads.c's threads (2-vCPU AVX-512 EPYC VM, medians) tanh's gradient over LeNet's first
#: activations (737,280 floats) took 81-112 us split against 144-148 whole, ReLU on 1.25 M
#: 126-176 against 168-237
_ELEMENT_MIN_PART = 1 << 16


def _elementwise(fn, arrays, n):
    """``fn(*pointers, n)`` over contiguous float32 ``arrays`` of ``n`` elements, the range
    split over the native threads where large (every element's result its own: the same bits
    however it is split)."""
    ptrs = [_p(a) for a in arrays]
    if n < 2 * _ELEMENT_MIN_PART or pool.size() == 1:
        fn(*ptrs, n)
        return
    pool.run_native(lambda lo, hi: [(fn, tuple(q + 4 * lo for q in ptrs) + (hi - lo,))],
                    pool.split(0, n, 16, _ELEMENT_MIN_PART))


def _from_output(name, g, y, out):
    found = lib()
    if found is None or out is None or not _ok(g, y, out) or not g.size == y.size == out.size:
        return False
    _elementwise(getattr(found, name), (g, y, out), g.size)
    return True


def relu_grad(g, y, out):
    """out = g * (y > 0); True where it ran."""
    return _from_output('dm_relu_grad', g, y, out)


def tanh_grad(g, y, out):
    """out = (1 - y * y) * g, rounded as NumPy's three passes; True where it ran."""
    return _from_output('dm_tanh_grad', g, y, out)


def sigmoid_grad(g, y, out):
    """out = (1 - y) * y * g, rounded as NumPy's three passes; True where it ran."""
    return _from_output('dm_sigmoid_grad', g, y, out)


#: floats of input per thread below which max pooling stays on the calling thread.  With the
#: Python threads' hand-over, LeNet's first pooling took 0.59 ms split over 2 threads against
#: 0.42 whole (forward and backward); on threads.c's threads (2-vCPU AVX-512 EPYC VM,
#: medians, us) pool1 forward 110-170 -> 100, backward 230-290 -> 155, pool2 60-85 -> 50-55,
#: 125-160 -> 95
_POOL_MIN_PART = 1 << 15


def _pool_args(x, y, kernel, stride, pad):
    """(planes, H, W, OH, OW, kh, kw, sh, sw, ph, pw) for NCHW float32 ``x`` and ``y``, or None
    where the native max pooling does not apply."""
    if lib() is None or not _ok(x, y) or x.ndim != 4 or y.ndim != 4 or len(kernel) != 2:
        return None
    n, c, h, w = x.shape
    if y.shape[:2] != (n, c):
        return None
    return (n * c, h, w, y.shape[2], y.shape[3]) + tuple(kernel) + tuple(stride) + tuple(pad)


def _pool_parts(geom):
    planes, h, w = geom[:3]
    return pool.split(0, planes, 1, max(1, _POOL_MIN_PART // max(1, h * w)))


def maxpool2d(x, y, kernel, stride, pad):
    """y = 2-D max pooling of NCHW ``x`` (``pool.c``'s semantics, NumPy's path's), the planes
    split over the pool above ``_POOL_MIN_PART``; True where it ran."""
    geom = _pool_args(x, y, kernel, stride, pad)
    if geom is None:
        return False
    fn = lib().dm_maxpool2d
    px, py, rest = _p(x), _p(y), geom[1:]
    pool.run_native(lambda lo, hi: [(fn, (px, py, lo, hi) + rest)], _pool_parts(geom))
    return True


def maxpool2d_grad(x, y, g, dx, kernel, stride, pad):
    """dx = max pooling's gradient: g sent to each window's first maximum; True where it
    ran."""
    geom = _pool_args(x, y, kernel, stride, pad)
    if geom is None or not _ok(g, dx) or g.shape != y.shape or dx.shape != x.shape:
        return False
    fn = lib().dm_maxpool2d_grad
    args, rest = (_p(x), _p(y), _p(g), _p(dx)), geom[1:]
    pool.run_native(lambda lo, hi: [(fn, args + (lo, hi) + rest)], _pool_parts(geom))
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


#: floats per thread below which ``copy4d`` runs on the calling thread
_COPY_MIN_PART = 1 << 15


def copy4d(src, dst, parts=None):
    """dst[...] = src for two 4-D float32 NumPy views of one shape (any strides that are
    whole floats), the second axis (the convolutions' images) split over the native threads
    (``parts`` of it, or split here; ``dm_copy4d``); False where they do not suit (the caller
    copies)."""
    found = lib()
    if (found is None or type(src) is not np.ndarray or type(dst) is not np.ndarray
            or src.ndim != 4 or src.shape != dst.shape
            or not src.dtype == dst.dtype == np.float32
            or any(st % 4 for st in src.strides + dst.strides)):
        return False
    n0, n1, n2, n3 = src.shape
    if src.size < 2 * _COPY_MIN_PART:     # NumPy's copy, without the threads' hand-over
        return False
    ss = tuple(st // 4 for st in src.strides)
    ds = tuple(st // 4 for st in dst.strides)
    ps, pd, fn = _p(src), _p(dst), found.dm_copy4d
    if parts is None:
        parts = pool.split(0, n1, 1, max(1, _COPY_MIN_PART // max(1, n0 * n2 * n3)))
    pool.run_native(lambda lo, hi: [(fn, (ps,) + ss + (pd,) + ds + (n0, lo, hi, n2, n3))],
                    parts)
    return True


#: floats of columns per thread below which im2col/col2im stay on the calling thread (split,
#: LeNet's second layer's 2 M floats took 0.29 against 0.34 ms (im2col) and 0.31 against 0.39
#: (col2im) on 2 threads)
_LOWER_MIN_PART = 1 << 16


def _lower(name, buf, col, geom):
    """``dm_im2col2d``/``dm_col2im2d`` over all channels of ``buf``, split over the pool;
    True where it ran.  ``geom``: (N, Hp, Wp, OH, OW, kh, kw, sh, sw, dh, dw, batch_last)."""
    found = lib()
    if found is None or not _ok(buf, col):
        return False
    channels = buf.shape[0]
    per = col.size // max(1, channels)
    fn, pb, pc = getattr(found, name), _p(buf), _p(col)
    first, second = (pb, pc) if name == 'dm_im2col2d' else (pc, pb)
    parts = pool.split(0, channels, 1, max(1, _LOWER_MIN_PART // max(1, per)))
    pool.run_native(lambda lo, hi: [(fn, (first, second, lo, hi) + tuple(geom))], parts)
    return True


def im2col2d(buf, col, geom):
    """col = the columns of the padded buffer ``buf`` (``im2col.c``'s layouts)."""
    return _lower('dm_im2col2d', buf, col, geom)


#: bytes of column gradient a native thread makes at once in ``data_grad_lowered`` (its
#: scatter-add then reads them from cache).  LeNet's second layer (25 rows of 4096 columns a
#: channel) in fit on a 2-vCPU AVX-512 EPYC VM, medians at 1 / 2 threads, ms: chunks of 512
#: KB (1 channel: OpenBLAS's kernels are slow on 25 rows) 3.28 / 1.93, 1 MB 2.88 / 1.65, 2 MB
#: 2.68 / 1.53, 4 MB 2.75 / 1.58; the column GEMM and col2im whole took 3.11 / 2.35
_DGRAD_CHUNK_BYTES = 1 << 21


def _dgrad_plan(channels, ksize, m):
    """(the channels' parts, channels per chunk, floats of chunks in all)."""
    per_chunk = max(1, _DGRAD_CHUNK_BYTES // (4 * ksize * m))
    parts = pool.split(0, channels, per_chunk, per_chunk)    # whole chunks: the same bits
    return parts, per_chunk, len(parts) * per_chunk * ksize * m


def data_grad_lowered(w2, g2, buf, geom, ksize, work_of):
    """The data gradient through im2col's columns without them: for a few input channels at
    a time, their column gradient ``w2[:, rows].T @ g2`` (one single-threaded OpenBLAS gemm)
    into a per-thread chunk, then its scatter-add into ``buf`` (``dm_col2im2d_part``); the
    chunks split over the native threads.  The chunks are the same whatever the thread
    count, so the bits are too; against the column GEMM whole, OpenBLAS's kernels for
    fewer rows may round differently (float32 rounding).  ``w2`` (Cs, Cb*K) and ``g2``
    (Cs, M) contiguous float32, ``buf`` (Cb, ...) the padded buffer, ``work_of(n)`` a
    float32 scratch of at least ``n`` elements (the chunks); True where it ran."""
    from .. import _blas
    found, gemm = _native_pool(), _blas.gemm_for(np.dtype(np.float32))
    if (found is None or gemm is None or _blas._thread_functions() is None
            or not _ok(w2, g2, buf)
            or w2.ndim != 2 or g2.ndim != 2 or w2.shape[0] != g2.shape[0]):
        return False
    cs, rows = w2.shape
    channels, m = rows // ksize, g2.shape[1]
    if channels * ksize != rows or buf.shape[0] != channels:
        return False
    parts, per_chunk, need = _dgrad_plan(channels, ksize, m)
    work = work_of(need)
    if not _ok(work) or work.size < need:
        return False
    base, pw, pg, pb = _p(work), _p(w2), _p(g2), _p(buf)
    which = {lo: i for i, (lo, _) in enumerate(parts)}
    fn = found.dm_col2im2d_part
    trans = (_blas.ROW_MAJOR, _blas.TRANS, _blas.NO_TRANS)

    def calls(lo, hi):
        chunk = base + 4 * which[lo] * per_chunk * ksize * m
        out = []
        for c0 in range(lo, hi, per_chunk):
            c1 = min(hi, c0 + per_chunk)
            out.append((gemm, trans + ((c1 - c0) * ksize, m, cs, 1.0, pw + 4 * c0 * ksize,
                                       rows, pg, m, 0.0, chunk, m)))
            out.append((fn, (chunk, pb, c0, c1) + tuple(geom)))
        return out
    return _blas.single_threaded_parts(pool, calls, parts)


def col2im2d(col, buf, geom):
    """buf = the columns' scatter-add (zeroed first), summed as NumPy's path sums."""
    return _lower('dm_col2im2d', buf, col, geom)
