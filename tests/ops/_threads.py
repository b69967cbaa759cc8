"""Checks shared by the native convolution engines' thread tests."""
import numpy as np


def assert_thread_counts_agree(one, many):
    """``one`` and ``many``: (output, gradients) of the same convolution at two thread counts.
    Every output and data-gradient element is summed by one thread in the same order (the
    same bits); the weight gradient adds the threads' partial sums (the same to rounding)."""
    (y1, g1), (y2, g2) = one, many
    assert np.array_equal(y1, y2)
    assert np.array_equal(g1['data'], g2['data'])
    assert np.array_equal(g1['c_bias'], g2['c_bias'])
    np.testing.assert_allclose(g1['c_weight'], g2['c_weight'], rtol=1e-5, atol=1e-3)


def assert_runs_identical(runs):
    """``runs``: (output, gradients) of repeated runs at one thread count, bit for bit the
    same (replicas on different ranks must stay identical)."""
    y0, g0 = runs[0]
    for y, g in runs[1:]:
        assert np.array_equal(y, y0)
        for name in g:
            assert np.array_equal(g[name], g0[name]), name
