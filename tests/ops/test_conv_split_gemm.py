"""LeNet's second convolution (batch 64, 20 -> 50 channels, 5x5 over 12x12: im2col and GEMMs
of (50, 500) @ (500, 4096)) with its GEMMs split by columns over the native pool's threads
(``_blas.split_gemm``): a thread count repeats its bits exactly (replicas on different ranks
stay identical), counts agree to float32 rounding, and the split really runs."""
import numpy as np
import pytest

import distmod as mx
from distmod import _blas

needs_split = pytest.mark.skipif(
    _blas.gemm_for('float32') is None or _blas._thread_functions() is None,
    reason='no OpenBLAS gemm or thread setter in this NumPy: GEMMs stay with np.matmul')


def _run():
    rng = np.random.default_rng(8)
    sym = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(5, 5), num_filter=50, name='c')
    exe = sym.simple_bind(mx.cpu(), data=(64, 20, 12, 12))
    for arr in exe.arg_dict.values():
        arr[:] = rng.standard_normal(arr.shape)
    out = exe.forward(is_train=True)[0]
    exe.backward(mx.nd.array(rng.standard_normal(out.shape)))
    return [out.asnumpy()] + [exe.grad_dict[n].asnumpy() for n in sorted(exe.grad_dict)]


@needs_split
def test_lenet_conv2_split_gemms_repeat_and_agree(threads, monkeypatch):
    calls = []
    real = _blas.split_gemm

    def counting(*args):
        ran = real(*args)
        calls.append(ran)
        return ran
    monkeypatch.setattr(_blas, 'split_gemm', counting)
    threads(1)
    one = _run()
    assert not any(calls)                  # one thread: OpenBLAS's own call
    threads(2)
    calls.clear()
    runs = [_run() for _ in range(3)]
    assert sum(calls) >= 3 * 3             # forward, weight and column gradients, each run
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert np.array_equal(a, b)
    for a, b in zip(one, runs[0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
