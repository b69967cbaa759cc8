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
           'py_str', 'get_gpu_count', 'get_gpu_memory', 'is_np_array', 'set_np', 'reset_np',
           'use_np', 'use_np_array', 'np_array']

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


def get_gpu_count():
    """How many GPUs this process can use (CuPy's count)."""
    from .context import num_gpus
    return num_gpus()


def get_gpu_memory(gpu_dev_id):
    """``(free, total)`` bytes of GPU ``gpu_dev_id``."""
    from .context import gpu_memory_info
    return gpu_memory_info(gpu_dev_id)


def is_np_array():
    """False: distmod has MXNet 1.x's NDArray semantics only (no ``mx.np`` arrays)."""
    return False


def set_np(shape=True, array=True, dtype=False):
    """MXNet 2's NumPy mode: the shape semantics are available (``set_np_shape``); NumPy
    arrays (``mx.np``) are not part of distmod, so ``array=True`` is refused."""
    from .base import MXNetError
    if array:
        raise MXNetError('mx.np arrays (set_np(array=True)) are not part of distmod, which '
                         'keeps MXNet 1.x\'s NDArray; call set_np(shape=True, array=False) '
                         'for the shape semantics alone')
    set_np_shape(shape)


def reset_np():
    """Back to MXNet 1.x's semantics (legacy shapes)."""
    set_np_shape(False)


def use_np_array(func):
    """Refused as ``set_np(array=True)`` is: distmod has no ``mx.np`` arrays."""
    set_np(array=True)


def np_array(active=True):
    """Refused when ``active`` (see ``set_np``); a no-op scope otherwise."""
    import contextlib
    if active:
        set_np(array=True)
    return contextlib.nullcontext()


def use_np(func):
    """Refused (see ``set_np``)."""
    set_np(array=True)
