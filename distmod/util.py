"""``mx.util``: MXNet's switches of shape semantics, and small helpers.

``np_shape(True)`` turns on NumPy's shape semantics for the symbols made and inferred inside
it: an unknown dimension is ``-1`` and an unknown shape ``None``, so ``0`` is a real size;
outside it (MXNet's legacy default) ``0`` is an unknown dimension and ``()`` an unknown
shape.  Example::

    >>> with mx.util.np_shape(True):
    ...     mx.util.is_np_shape()
    True
    >>> mx.util.is_np_shape()
    False
"""
import contextlib
import functools
import os
import threading

from .base import py_str  # noqa: F401  (MXNet keeps it here too)

__all__ = ['np_shape', 'is_np_shape', 'set_np_shape', 'use_np_shape', 'getenv', 'setenv',
           'py_str']

_STATE = threading.local()


def is_np_shape():
    """True inside ``np_shape(True)`` (or after ``set_np_shape(True)``)."""
    return getattr(_STATE, 'np_shape', False)


def set_np_shape(active):
    """Turn NumPy shape semantics on or off for this thread; returns the previous setting."""
    previous = is_np_shape()
    _STATE.np_shape = bool(active)
    return previous


@contextlib.contextmanager
def np_shape(active=True):
    """NumPy shape semantics (``-1`` unknown, ``0`` a size) inside the ``with`` block."""
    previous = set_np_shape(active)
    try:
        yield
    finally:
        set_np_shape(previous)


def use_np_shape(func):
    """A decorator: run ``func`` under ``np_shape(True)``."""
    @functools.wraps(func)
    def call(*args, **kwargs):
        with np_shape(True):
            return func(*args, **kwargs)
    return call


def getenv(name):
    """The value of environment variable ``name`` (None if unset)."""
    return os.environ.get(name)


def setenv(name, value):
    """Set environment variable ``name`` (``None`` removes it)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)
