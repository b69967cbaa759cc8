"""The native SGD step (``distmod/_native/elementwise.c`` ``dm_sgd_step``, used by
``mx.optimizer.SGD`` on float32 NumPy arrays) against the NumPy operations it replaces, bit
for bit: with and without momentum, weight decay and clipping, a rescaled gradient, NaN and
infinity, odd sizes, several steps (the momentum carried), and where it steps aside."""
import numpy as np
import pytest

import distmod as mx
from distmod import _native

needs_native = pytest.mark.skipif(_native.lib() is None,
                                  reason='native kernels not loaded: %s' % _native.status())


def _steps(kwargs, shape, native, monkeypatch, steps=3, special=False, dtype='float32'):
    """The weight and state after ``steps`` updates of one parameter."""
    if not native:
        monkeypatch.setattr(_native, '_state', {'lib': None, 'why': 'off in this test'})
    rng = np.random.default_rng(4)
    opt = mx.optimizer.create('sgd', **kwargs)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(rng.standard_normal(shape), dtype=dtype)
    for k in range(steps):
        g = rng.standard_normal(shape) * 10
        if special:
            vals = [np.nan, np.inf, -np.inf][:g.size]
            g.reshape(-1)[:len(vals)] = vals
        upd(0, mx.nd.array(g, dtype=dtype), w)
    state = upd.states[0]
    monkeypatch.undo()
    return w.asnumpy(), (None if state is None else state.asnumpy()), opt


CASES = [
    {'learning_rate': 0.1, 'momentum': 0.9},
    {'learning_rate': 0.05, 'momentum': 0.9, 'wd': 1e-4, 'rescale_grad': 0.01},
    {'learning_rate': 0.2, 'momentum': 0.5, 'clip_gradient': 3.0, 'wd': 0.01},
    {'learning_rate': 0.1},
    {'learning_rate': 0.1, 'wd': 0.05, 'clip_gradient': 1.0, 'rescale_grad': 0.5},
]


@needs_native
@pytest.mark.parametrize('special', [False, True], ids=['finite', 'nan-inf'])
@pytest.mark.parametrize('shape', [(1,), (7, 13), (128, 784)])
@pytest.mark.parametrize('kwargs', CASES, ids=[str(i) for i in range(len(CASES))])
def test_native_step_has_numpys_bits(kwargs, shape, special, monkeypatch):
    w1, s1, opt = _steps(kwargs, shape, True, monkeypatch, special=special)
    assert (0, 'native') in opt._buffers                  # the kernel ran
    w2, s2, opt = _steps(kwargs, shape, False, monkeypatch, special=special)
    assert (0, 'native') not in opt._buffers or opt._buffers[(0, 'native')].arrays is None
    np.testing.assert_array_equal(w1, w2)
    if s1 is not None:
        np.testing.assert_array_equal(s1, s2)


@needs_native
def test_float64_and_a_negative_clip_keep_numpy(monkeypatch):
    w1, _, opt = _steps({'learning_rate': 0.1, 'momentum': 0.9}, (5, 3), True, monkeypatch,
                        dtype='float64')
    kernel = opt._buffers.get((0, 'native'))
    assert kernel is None or kernel.arrays is None
    # MXNet's clip_gradient < 0 means no clipping on some optimizers; SGD keeps NumPy's
    # reading of it, whatever that is, by not taking the kernel
    kwargs = {'learning_rate': 0.1, 'momentum': 0.9, 'clip_gradient': -1.0}
    w1, s1, opt = _steps(kwargs, (5, 3), True, monkeypatch)
    w2, s2, _ = _steps(kwargs, (5, 3), False, monkeypatch)
    np.testing.assert_array_equal(w1, w2)
