"""The lent-GPU run (bench/gpu_check.sh): every test here needs CuPy and a GPU, and is skipped
with the reason elsewhere.  On CPU machines tests/device_semantics checks the GPU path's device
semantics instead; that is no substitute for these."""
import pytest


def _why_not():
    try:
        import cupy
    except Exception as e:                      # ImportError, or a CUDA library missing
        return 'CuPy is not importable here (%s): the GPU tests need CuPy and a GPU' % e
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return 'CuPy sees no GPU (%s)' % e
    return None if n > 0 else 'CuPy sees no GPU'


REASON = _why_not()


def pytest_collection_modifyitems(config, items):
    if REASON is None:
        return
    skip = pytest.mark.skip(reason=REASON)
    for item in items:
        if '/tests/gpu/' in str(item.fspath):
            item.add_marker(skip)
