"""What every store shares: the error type, key and value normalisation, array helpers.

Values are raw arrays: NumPy arrays, or CuPy arrays (anything with ``__cuda_array_interface__``).
The array module is found from the array itself, so this package never imports cupy unless it
is handed a CuPy array.
"""
import os
import tempfile

import numpy as np

__all__ = ['KVStoreError', 'as_key_list', 'as_value_lists', 'array_module', 'merge_local',
           'copy_into', 'signature', 'atomic_write']


class KVStoreError(RuntimeError):
    """A kvstore call that cannot be carried out (unknown key, shape mismatch, ...)."""


def array_module(a):
    """numpy or cupy, whichever ``a`` belongs to."""
    if isinstance(a, np.ndarray):
        return np
    if hasattr(a, '__cuda_array_interface__'):
        import cupy
        return cupy
    if hasattr(a, '__array_interface__'):
        return np
    raise KVStoreError('kvstore values must be NumPy or CuPy arrays, got %s'
                       % type(a).__name__)


def as_key_list(key):
    """(keys, single): one key or a list of keys, each int or str."""
    single = isinstance(key, (int, str, np.integer))
    keys = [key] if single else list(key)
    for k in keys:
        if not isinstance(k, (int, str, np.integer)):
            raise KVStoreError('kvstore keys must be int or str, got %r' % (k,))
    return [int(k) if isinstance(k, np.integer) else k for k in keys], single


def as_value_lists(keys, single, value, what):
    """One list of per-device arrays for each key.

    ``value`` is an array, a list of arrays (one per device for a single key, or one per key),
    or a list of lists (one list of per-device arrays per key).
    """
    if single:
        vals = [list(value) if isinstance(value, (list, tuple)) else [value]]
    else:
        if not isinstance(value, (list, tuple)) or len(value) != len(keys):
            raise KVStoreError('%s: %d keys but %s values' % (
                what, len(keys), len(value) if isinstance(value, (list, tuple)) else 'not a list of'))
        vals = [list(v) if isinstance(v, (list, tuple)) else [v] for v in value]
    for k, per_dev in zip(keys, vals):
        if not per_dev:
            raise KVStoreError('%s: key %r got no value' % (what, k))
        for v in per_dev:
            array_module(v)
    return vals


def copy_into(dst, src):
    """dst[...] = src, across devices or between host and device when needed."""
    if type(dst) is type(src) or isinstance(dst, np.ndarray) and isinstance(src, np.ndarray):
        if getattr(dst, 'device', None) == getattr(src, 'device', None):
            dst[...] = src
            return
    xp = array_module(dst)
    if xp is np:
        dst[...] = src.get() if hasattr(src, 'get') else src
    else:
        with dst.device:
            dst[...] = xp.asarray(src)


def merge_local(per_device, out=None):
    """The sum of one key's values over this process's devices (a new array unless ``out``)."""
    first = per_device[0]
    if out is None:
        out = first.copy()
    elif out is not first:
        copy_into(out, first)
    if len(per_device) > 1:
        xp = array_module(out)
        for v in per_device[1:]:
            if array_module(v) is xp and getattr(v, 'device', None) == getattr(out, 'device', None):
                out += v
            else:
                tmp = xp.empty_like(out)
                copy_into(tmp, v)
                out += tmp
    return out


def signature(keys, shapes, dtypes):
    """A compact, comparable description of keys with their shapes and dtypes."""
    return [(str(k) if isinstance(k, str) else int(k), tuple(int(d) for d in s), str(np.dtype(t)))
            for k, s, t in zip(keys, shapes, dtypes)]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(fname, payload):
    """Write ``payload`` (bytes) to ``fname`` through a temporary file, fsync and rename.

    A crash or error leaves either the old file or the new one, never a half-written file.
    """
    fname = os.fspath(fname)
    folder = os.path.dirname(os.path.abspath(fname))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(fname) + '.', suffix='.tmp',
                               dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())      # mkstemp makes 0600; users expect umask's mode
        with os.fdopen(fd, 'wb') as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fname)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
