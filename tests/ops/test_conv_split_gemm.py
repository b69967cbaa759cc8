"""LeNet's second convolution (batch 64, 20 -> 50 channels, 5x5 over 12x12: im2col and GEMMs
of (50, 500) @ (500, 4096)) with its GEMMs split by columns over the native pool's threads
(``_blas.split_gemm``) and its data gradient made a few channels at a time
(``_native.data_grad_lowered``): a thread count repeats its bits exactly (replicas on
different ranks stay identical), counts agree to float32 rounding, and the split really
runs."""
import numpy as np
import pytest

import distmod as mx
from distmod import _blas, _native

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
    fused, real_fused = [], _native.data_grad_lowered

    def counting_fused(*args):
        ran = real_fused(*args)
        fused.append(ran)
        return ran
    monkeypatch.setattr(_blas, 'split_gemm', counting)
    monkeypatch.setattr(_native, 'data_grad_lowered', counting_fused)
    threads(1)
    one = _run()
    assert not any(calls)                  # one thread: OpenBLAS's own call
    threads(2)
    calls.clear()
    fused.clear()
    runs = [_run() for _ in range(3)]
    assert sum(calls) >= 2 * 3             # forward and weight gradients, each run
    if _native._native_pool() is not None:
        assert sum(fused) == 3             # the data gradient, chunk by chunk
    else:
        assert sum(calls) >= 3 * 3         # and the column gradient
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert np.array_equal(a, b)
    for a, b in zip(one, runs[0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


@needs_split
@pytest.mark.skipif(_native._native_pool() is None, reason='no distmod native threads here')
def test_the_chunked_data_gradient_has_one_result_for_every_thread_count(threads,
                                                                          monkeypatch):
    # its chunks do not depend on the thread count: neither do its bits
    threads(1)
    one = _run()
    threads(2)
    two = _run()
    # [out, c_bias, c_weight, data]: the forward's and the weight's GEMMs are split by
    # columns at 2 threads (other roundings); the data gradient's chunks are not
    assert np.array_equal(one[3], two[3])
    monkeypatch.setattr(_native, 'data_grad_lowered', lambda *args: False)
    whole = _run()
    np.testing.assert_allclose(two[3], whole[3], rtol=1e-5, atol=1e-4)
