"""distmod's native convolution kernels (``distmod/_native/shiftconv.c``) against the
float64 engines, on the shapes that reach every branch of the C code: output rows not a
multiple of the 4-row block, channels not a multiple of the 3-column block, one channel,
grids shorter than a vector, groups, dilation, 1-/2-/3-D kernels, channel-last layouts, a
bias, each with the AVX2 and the AVX-512 code where the processor has them; then the two
against each other, the thread split, the portable loops called directly, and the switch that turns
the kernels off."""
import ctypes
import os
import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest

import distmod as mx
from distmod import _native
from distmod.ops import conv

from ._threads import assert_runs_identical, assert_thread_counts_agree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _has_avx2_fma():
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
    except OSError:
        return False
    return ' avx2' in flags and ' fma' in flags


needs_native = pytest.mark.skipif(_native.conv() is None,
                                  reason='native kernels not loaded: %s' % _native.status())


@pytest.fixture(autouse=True)
def _padded_grid_only(monkeypatch):
    """These are shiftconv.c's tests: the engine of "same" convolutions over the NCHW arrays
    (sameconv.c, tested in test_conv_same.py) is kept off, so that every case here runs on
    the padded grid."""
    monkeypatch.setattr(conv._Same, 'fits', staticmethod(lambda op, x, y: False))


def test_the_kernels_are_built_and_loaded_where_they_can_be():
    if platform.machine() not in ('x86_64', 'AMD64') or not _has_avx2_fma():
        pytest.skip('not an x86-64 processor with AVX2 and FMA')
    if shutil.which('cc') is None and shutil.which('gcc') is None:
        pytest.skip('no C compiler on this machine, so pip install built no kernels')
    if os.environ.get('DISTMOD_NATIVE') == '0':
        pytest.skip('DISTMOD_NATIVE=0 is set')
    assert _native.conv() is not None, _native.status()
    assert _native.status().startswith('loaded ')


CASES = [
    # (attrs, data shape, channel-first)
    ({'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1), 'no_bias': True}, (3, 16, 12, 13)),
    ({'kernel': (3, 3), 'num_filter': 7, 'pad': (1, 1)}, (2, 5, 9, 7)),
    ({'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1)}, (4, 1, 10, 10)),
    ({'kernel': (3, 2), 'num_filter': 9, 'num_group': 3, 'pad': (2, 0), 'dilate': (2, 1)},
     (2, 12, 11, 10)),
    ({'kernel': (3,), 'num_filter': 5, 'pad': (1,)}, (2, 13, 10)),
    ({'kernel': (2,), 'num_filter': 2, 'pad': (0,)}, (1, 3, 4)),
    ({'kernel': (2, 2, 3), 'num_filter': 3, 'pad': (1, 1, 1)}, (2, 4, 5, 6, 7)),
    ({'kernel': (3, 3), 'num_filter': 6, 'pad': (1, 1), 'layout': 'NHWC', 'num_group': 2},
     (2, 6, 9, 8)),
    ({'kernel': (1, 1), 'num_filter': 1, 'no_bias': True}, (1, 2, 3, 3)),
    # AVX-512's blocks: 8+8+4 filters over 7 channels (a 6-channel block and a rest), and
    # 8+3 filters over 13 (6+6+1), 5x5 over 28x28 (LeNet's first layer's shape)
    ({'kernel': (5, 5), 'num_filter': 20}, (2, 7, 28, 28)),
    ({'kernel': (3, 3), 'num_filter': 11, 'pad': (1, 1)}, (2, 13, 9, 21)),
    # one channel per group (depthwise), so the last kernel axis is folded into the
    # channels: dilated along it, and channel-last
    ({'kernel': (3, 3), 'num_filter': 6, 'num_group': 6, 'pad': (1, 2), 'dilate': (1, 2)},
     (2, 6, 9, 11)),
    ({'kernel': (3, 3), 'num_filter': 4, 'num_group': 4, 'pad': (1, 1), 'layout': 'NHWC'},
     (2, 4, 7, 8)),
]

LEVELS = {1: 'AVX2 with FMA', 2: 'AVX-512F'}


@pytest.fixture(params=sorted(LEVELS), ids=['avx2', 'avx512'])
def simd(request, monkeypatch):
    """Each vector version of the kernels in turn (skipped where the processor lacks it):
    the engines made from here on read ``_native.simd_level()``."""
    if request.param > _native.simd_level():
        pytest.skip('this processor has no %s' % LEVELS[request.param])
    monkeypatch.setitem(_native._state, 'simd', request.param)
    return request.param


def _data_shape(attrs, shape):
    if attrs.get('layout', '').endswith('C'):
        return (shape[0],) + shape[2:] + (shape[1],)
    return shape


def _run(attrs, shape, dtype):
    """Output and gradients of one forward/backward, and whether the native kernels ran."""
    rng = np.random.default_rng(5)
    sym = mx.sym.Convolution(mx.sym.Variable('data'), name='c', **attrs)
    exe = sym.simple_bind(mx.cpu(), data=_data_shape(attrs, shape), type_dict={'data': dtype})
    for arr in exe.arg_dict.values():
        arr[:] = rng.standard_normal(arr.shape)
    out = exe.forward(is_train=True)[0]
    exe.backward(mx.nd.array(rng.standard_normal(out.shape), dtype=dtype))
    op = [st.op for st in exe._plan.steps if isinstance(st.op, conv.Convolution)][0]
    sh = getattr(op, '_shift', None) if getattr(op, '_shift_key', None) else None
    ran = sh is not None and sh.native is not None
    return out.asnumpy(), {n: g.asnumpy() for n, g in exe.grad_dict.items()}, ran


@needs_native
@pytest.mark.parametrize('attrs,shape', CASES, ids=[str(i) for i in range(len(CASES))])
def test_native_float32_matches_float64(attrs, shape, simd, monkeypatch):
    monkeypatch.setattr(conv, '_SHIFT_MAX_WASTE', float('inf'))
    y32, g32, ran32 = _run(attrs, shape, 'float32')
    y64, g64, ran64 = _run(attrs, shape, 'float64')
    assert ran32 and not ran64
    scale = max(1.0, float(np.abs(y64).max()))
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5 * scale)
    for name in g64:
        s = max(1.0, float(np.abs(g64[name]).max()))
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-4, atol=1e-5 * s,
                                   err_msg=name)


@needs_native
def test_avx2_and_avx512_agree():
    """The two vector versions sum each output in the same order: forward and data gradient
    agree to the last bit away from the tails (which AVX2 leaves to the portable loop and
    AVX-512 masks), and everywhere to rounding; the weight gradient to rounding."""
    if _native.simd_level() < 2:
        pytest.skip('this processor has no AVX-512F')
    attrs, shape = {'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1)}, (4, 16, 28, 28)
    runs = {}
    for level in (1, 2):
        _native._state['simd'] = level
        try:
            runs[level] = _run(attrs, shape, 'float32')
        finally:
            _native._state['simd'] = 2
    (y1, g1, ran1), (y2, g2, ran2) = runs[1], runs[2]
    assert ran1 and ran2
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-5)
    same = np.mean(y1 == y2)
    assert same > 0.9, same
    for name in g1:
        np.testing.assert_allclose(g1[name], g2[name], rtol=1e-5, atol=1e-3, err_msg=name)


@needs_native
def test_threads_split_the_images_and_agree(threads):
    attrs, shape = {'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1)}, (24, 16, 28, 28)
    threads(1)
    y1, g1, ran = _run(attrs, shape, 'float32')
    assert ran
    threads(3)
    assert len(conv._native.pool.split(0, 24, 1, 8)) == 3
    y3, g3, _ = _run(attrs, shape, 'float32')
    assert_thread_counts_agree((y1, g1), (y3, g3))


@needs_native
def test_a_thread_count_repeats_bit_identically(threads):
    # replicas on different ranks must stay identical: the same count, the same bits
    attrs, shape = {'kernel': (3, 3), 'num_filter': 8, 'pad': (1, 1)}, (30, 8, 20, 20)
    threads(2)
    runs = [_run(attrs, shape, 'float32') for _ in range(3)]
    assert all(r[2] for r in runs)
    assert_runs_identical([r[:2] for r in runs])


@needs_native
@pytest.mark.parametrize('simd', [0, 1, 2])
@pytest.mark.parametrize('f,c,q1', [(4, 3, 48), (5, 2, 37), (1, 1, 7), (7, 5, 100)])
def test_entry_points_direct(simd, f, c, q1):
    """The C contract, portable loops and vector loops alike: y = sum over offsets and
    channels, and dw += the sum over positions, on ranges with tails."""
    if simd > _native.simd_level():
        pytest.skip('this processor has no %s' % LEVELS[simd])
    lib = _native.lib()
    rng = np.random.default_rng(f * 100 + c)
    offs = [0, 1, 5, 6]
    ld = q1 + offs[-1] + 3
    x = rng.standard_normal((c, ld)).astype(np.float32)
    w = rng.standard_normal((len(offs), f, c)).astype(np.float32)
    y = np.full((f, q1), 7.0, np.float32)
    c_offs = _native.offsets(offs)
    wt = np.ascontiguousarray(w.transpose(0, 2, 1))         # the kernels read (K, C, F)
    lib.dm_shift_conv_images(x.ctypes.data, ld, wt.ctypes.data, len(offs), c_offs, f, c,
                             y.ctypes.data, q1, 0, 1, 0, 0, q1, 0, simd)
    want = sum(w[k].astype(np.float64) @ x[:, o:o + q1] for k, o in enumerate(offs))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal((f, q1)).astype(np.float32)
    dw = np.ones((len(offs), f, c), np.float32)
    vec = np.empty(len(offs) * f * c * 16, np.float32)
    lib.dm_shift_wgrad(g.ctypes.data, q1, x.ctypes.data, ld, len(offs), c_offs, f, c,
                       dw.ctypes.data, vec.ctypes.data, 0, 1, 0, 0, q1, simd)
    want = 1 + np.stack([g.astype(np.float64) @ x[:, o:o + q1].T for o in offs])
    np.testing.assert_allclose(dw, want, rtol=1e-5, atol=1e-4)


@needs_native
@pytest.mark.parametrize('simd', [0, 2])
@pytest.mark.parametrize('hp,wp,h,w', [(6, 3, 4, 1), (5, 30, 3, 28), (3, 17, 2, 16),
                                       (1, 40, 1, 37)])
def test_direct_output_scatters_each_grid_row(simd, hp, wp, h, w):
    """dm_shift_conv_direct: every output (i, f, r, c) is the sum at grid position
    i*img + a0 + r*wp + c, plus the bias; rows of the grid narrower than a vector (wp = 3: one
    vector crosses six rows), padding columns and rows are dropped, and nothing outside the
    outputs is written."""
    if simd > _native.simd_level():
        pytest.skip('this processor has no %s' % LEVELS[simd])
    lib = _native.lib()
    rng = np.random.default_rng(hp * wp)
    n, f, c, offs = 3, 5, 2, [0, 1, wp]
    img, a0 = (hp + 1) * wp, 1
    ld = n * img + offs[-1] + 20
    x = rng.standard_normal((c, ld)).astype(np.float32)
    w_kcf = rng.standard_normal((len(offs), c, f)).astype(np.float32)
    bias = rng.standard_normal(f).astype(np.float32)
    # the outputs sit in a larger array, to see that nothing around them is touched
    y = np.full((n, f + 1, h, w), 7.0, np.float32)
    span = (a0, a0 + (h - 1) * wp + w + 5)
    lib.dm_shift_conv_direct(x.ctypes.data, ld, w_kcf.ctypes.data, len(offs),
                             _native.offsets(offs), f, c, y.ctypes.data, (f + 1) * h * w,
                             h * w, bias.ctypes.data, 0, n, img, span[0], span[1], a0, wp, h,
                             w, simd)
    want = np.empty((n, f, h, w))
    for i in range(n):
        for r in range(h):
            q = i * img + a0 + r * wp + np.arange(w)
            want[i, :, r] = sum(w_kcf[k].T.astype(np.float64) @ x[:, q + o]
                                for k, o in enumerate(offs)) + bias[:, None]
    np.testing.assert_allclose(y[:, :f], want, rtol=1e-5, atol=1e-5)
    assert (y[:, f] == 7.0).all()


@needs_native
def test_images_range_skips_the_rows_without_outputs():
    lib = _native.lib()
    x = np.ones((1, 40), np.float32)
    w = np.ones((1, 1, 1), np.float32)
    y = np.full((1, 30), -1.0, np.float32)
    # three images of 10 positions, outputs at positions 2..5 of each
    lib.dm_shift_conv_images(x.ctypes.data, 40, w.ctypes.data, 1, _native.offsets([0]), 1, 1,
                             y.ctypes.data, 30, 0, 3, 10, 2, 6, 0, 1)
    assert np.array_equal(y.reshape(3, 10)[:, 2:6], np.ones((3, 4)))
    assert (y.reshape(3, 10)[:, [0, 1, 6, 7, 8, 9]] == -1).all()


def test_native_off_keeps_the_blas_engine():
    code = ('import numpy as np, distmod as mx\n'
            'from distmod import _native\n'
            'from distmod.ops import conv\n'
            'sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), '
            'num_filter=8, name="c")\n'
            'exe = sym.simple_bind(mx.cpu(), data=(2, 8, 12, 12))\n'
            'exe.arg_dict["data"][:] = 1; exe.arg_dict["c_weight"][:] = 1\n'
            'out = exe.forward(is_train=False)[0].asnumpy()\n'
            'op = [s.op for s in exe._plan.steps if isinstance(s.op, conv.Convolution)][0]\n'
            'print(_native.status(), op._shift.native is None, out[0, 0, 5, 5])\n')
    env = dict(os.environ, DISTMOD_NATIVE='0', PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert ' '.join(out[:3]) == 'disabled by DISTMOD_NATIVE=0'
    assert out[3] == 'True' and float(out[4]) == 72.0


def test_a_stale_build_is_refused_by_its_abi_version(tmp_path, monkeypatch):
    if shutil.which('cc') is None:
        pytest.skip('no C compiler')
    src = tmp_path / 'old.c'
    src.write_text('int dm_abi_version(void) { return 0; }\nint dm_native_simd(void) '
                   '{ return 1; }\n')
    so = tmp_path / '_shiftconv.old.so'
    subprocess.run(['cc', '-shared', '-fPIC', str(src), '-o', str(so)], check=True)
    monkeypatch.setattr(_native, '_HERE', str(tmp_path))
    monkeypatch.setattr(_native, '_state', {})
    assert _native.lib() is None
    assert 'ABI 0, not %d' % _native.ABI_VERSION in _native.status()
    ctypes.CDLL(str(so))    # the file itself loads: it is the version that is refused
