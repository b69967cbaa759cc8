"""Fixtures of the operator tests."""
import pytest

from distmod import _native


@pytest.fixture
def threads():
    """``threads(n)``: the native pool at ``n`` threads for the rest of the test."""
    before = _native.pool.size()
    yield _native.pool.resize
    _native.pool.resize(before)
