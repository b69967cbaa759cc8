"""What every store shares: the error type, key and value normalisation, array helpers.

Values are raw arrays: NumPy arrays, or CuPy arrays (anything with ``__cuda_array_interface__``).
The array module is found from the array itself, so this package never imports cupy unless it
is handed a CuPy array.

A value may also be *row-sparse*: any object with ``stype == 'row_sparse'``, a full ``shape``,
``indices`` (1-D int64, increasing) and ``values`` (``(len(indices),) + shape[1:]``), the rows
it holds; every other row is zero.  The store reads such values and writes its results into
their ``indices``/``values`` attributes; the ones it makes itself are :class:`RowSparse`.
"""
import os
import socket
import tempfile

import numpy as np

__all__ = ['KVStoreError', 'as_key_list', 'as_value_lists', 'array_module', 'merge_local',
           'copy_into', 'signature', 'atomic_write', 'RowSparse', 'is_row_sparse', 'sum_rows',
           'copy_value', 'gather_rows', 'to_module', 'to_dense', 'from_dense', 'in_order',
           'remove_stale_temps']


class KVStoreError(RuntimeError):
    """A kvstore call that cannot be carried out (unknown key, shape mismatch, ...)."""


class RowSparse:
    """A row-sparse value the store made: ``indices`` (increasing int64), ``values`` and the
    full ``shape`` (see the module docstring)."""

    __slots__ = ('indices', 'values', 'shape')
    stype = 'row_sparse'

    def __init__(self, indices, values, shape):
        self.indices, self.values, self.shape = indices, values, tuple(shape)

    @property
    def dtype(self):
        return self.values.dtype


def launched_by_mpi():
    """True when an MPI launcher started this process (its variables are set)."""
    return any(v in os.environ for v in ('OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_RANK',
                                         'MPI_LOCALNRANKS'))


def is_row_sparse(v):
    """True for a row-sparse value (rather than a raw array)."""
    return getattr(v, 'stype', None) == 'row_sparse'


def sum_rows(xp, indices, values):
    """``(rows, sums)``: the distinct ``indices`` in increasing order and the sum of the
    ``values`` rows carrying each, added in one fixed order (stably sorted by row), so equal
    inputs give bit-identical sums on every rank.  Both are new arrays."""
    indices = indices.astype(np.int64, copy=False).reshape(-1)
    n = indices.shape[0]
    if n <= 1 or bool((indices[1:] > indices[:-1]).all()):
        return indices.copy(), values.copy()
    order = xp.argsort(indices, kind='stable') if xp is np else xp.argsort(indices)
    rows = indices[order]
    first = xp.empty(n, dtype=bool)
    first[0] = True
    xp.not_equal(rows[1:], rows[:-1], out=first[1:])
    starts = xp.flatnonzero(first)
    vals = values[order]
    if xp is np:
        sums = np.add.reduceat(vals, starts, axis=0)
    else:
        sums = xp.zeros((starts.shape[0],) + tuple(values.shape[1:]), dtype=values.dtype)
        xp.add.at(sums, xp.cumsum(first) - 1, vals)
    return rows[starts], sums


def to_module(xp, a, like=None):
    """``a`` as an array of ``xp`` (on ``like``'s device for CuPy)."""
    if array_module(a) is xp:
        return a
    if xp is np:
        return a.get()
    with like.device:
        return xp.asarray(a)


def in_order(v):
    """Make row-sparse ``v``'s rows distinct and increasing (summing repeated rows); a value
    already in order is left as it is, without a copy."""
    idx = v.indices
    if idx.shape[0] > 1 and not bool((idx[1:] > idx[:-1]).all()):
        v.indices, v.values = sum_rows(array_module(v.values), idx, v.values)


def copy_value(v):
    """A copy of ``v`` (array or row-sparse) that shares no memory with it."""
    if is_row_sparse(v):
        return RowSparse(v.indices.copy(), v.values.copy(), v.shape)
    return v.copy()


def to_dense(v, like=None):
    """A new dense array of row-sparse ``v`` (of ``like``'s array module and dtype)."""
    vals = v.values if like is None else to_module(array_module(like), v.values, like)
    xp = array_module(vals)
    out = xp.zeros(v.shape, dtype=vals.dtype if like is None else like.dtype)
    if len(v.indices):
        out[to_module(xp, v.indices, vals)] = vals
    return out


def from_dense(a):
    """Row-sparse storage of the rows of ``a`` holding a non-zero value."""
    xp = array_module(a)
    rows = xp.flatnonzero(xp.any(a.reshape(a.shape[0], -1) != 0, axis=1))
    return RowSparse(rows.astype(np.int64, copy=False), a[rows], a.shape)


def gather_rows(v, rows):
    """The values of ``rows`` (increasing, distinct int64) of ``v``: a dense array's rows,
    or a row-sparse value's own rows where it has them and zeros elsewhere."""
    if not is_row_sparse(v):
        return v[to_module(array_module(v), rows, v)]
    xp = array_module(v.values)
    rows = to_module(xp, rows, v.values)
    out = xp.zeros((rows.shape[0],) + tuple(v.shape[1:]), dtype=v.values.dtype)
    held = v.indices
    if held.shape[0] and rows.shape[0]:
        pos = xp.minimum(xp.searchsorted(held, rows), held.shape[0] - 1)
        hit = held[pos] == rows
        out[hit] = v.values[pos[hit]]
    return out


_REGISTERED = {}


def register_array_module(cls, module):
    """Make arrays of type ``cls`` belong to ``module`` (None: forget ``cls``).  For array
    libraries found neither by NumPy's nor CUDA's array interface: the device-semantics
    check of the tests (tests/device_semantics/strictdev.py)."""
    if module is None:
        _REGISTERED.pop(cls, None)
    else:
        _REGISTERED[cls] = module


def array_module(a):
    """numpy or cupy, whichever ``a`` belongs to."""
    if isinstance(a, np.ndarray):
        return np
    if _REGISTERED and type(a) in _REGISTERED:
        return _REGISTERED[type(a)]
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
            array_module(v.values if is_row_sparse(v) else v)
    return vals


def copy_into(dst, src):
    """dst[...] = src, across devices or between host and device when needed.

    Row-sparse ``src`` into an array writes zeros in the other rows; anything into a
    row-sparse ``dst`` replaces its rows (a dense ``src``: its non-zero rows).
    """
    if is_row_sparse(dst):
        if not is_row_sparse(src):
            src = from_dense(src)
        xp = array_module(dst.values)
        dst.indices = to_module(xp, src.indices, dst.values).copy()
        dst.values = to_module(xp, src.values, dst.values).astype(dst.values.dtype, copy=True)
        return
    if is_row_sparse(src):
        dst[...] = to_dense(src, like=dst)
        return
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
    """The sum of one key's values over this process's devices (a new array unless ``out``).

    Row-sparse values sum to a row-sparse value (the union of their rows); a mix of dense and
    row-sparse values sums to a dense array.
    """
    if any(is_row_sparse(v) for v in per_device):
        if all(is_row_sparse(v) for v in per_device):
            return _merge_rows(per_device)
        per_device = [to_dense(v) if is_row_sparse(v) else v for v in per_device]
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


def _merge_rows(per_device):
    first = per_device[0]
    xp = array_module(first.values)
    if len(per_device) == 1:
        return RowSparse(*sum_rows(xp, first.indices, first.values), first.shape)
    for v in per_device[1:]:
        if tuple(v.shape) != tuple(first.shape):
            raise KVStoreError('push: row-sparse values of shapes %s and %s for one key'
                               % (tuple(first.shape), tuple(v.shape)))
    idx = xp.concatenate([to_module(xp, v.indices, first.values) for v in per_device])
    vals = xp.concatenate([to_module(xp, v.values, first.values).astype(first.values.dtype,
                                                                   copy=False)
                           for v in per_device])
    return RowSparse(*sum_rows(xp, idx, vals), first.shape)


def signature(keys, shapes, dtypes):
    """A compact, comparable description of keys with their shapes and dtypes."""
    return [(str(k) if isinstance(k, str) else int(k), tuple(int(d) for d in s), str(np.dtype(t)))
            for k, s, t in zip(keys, shapes, dtypes)]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_prefix(fname):
    """Hidden temporary names of ``fname``'s writes: ``.NAME.HOST.PID.XXXX.tmp`` in its
    folder, so a later save or load can tell its own crashed writes from live ones."""
    return '.%s.%s.' % (os.path.basename(fname), socket.gethostname())


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(fname, family=False):
    """Remove the temporary files that crashed writes of ``fname`` left (from this host, by a
    process that is gone); returns their names.  ``family=True``: those of every file whose
    name starts with ``fname``'s (a checkpoint prefix: ``PREFIX-*``), whatever was being
    written when the crash came."""
    fname = os.fspath(fname)
    folder = os.path.dirname(os.path.abspath(fname))
    prefix = _temp_prefix(fname)
    host = '.%s.' % socket.gethostname()
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if not entry.endswith('.tmp'):
            continue
        if family:
            start = '.' + os.path.basename(fname)
            at = entry.rfind(host)
            if not entry.startswith(start) or at < len(start):
                continue
            pid = entry[at + len(host):].split('.', 1)[0]
        elif entry.startswith(prefix):
            pid = entry[len(prefix):].split('.', 1)[0]
        else:
            continue
        if pid.isdigit() and not _pid_alive(int(pid)):
            try:
                os.unlink(os.path.join(folder, entry))
                removed.append(entry)
            except OSError:
                pass
    return removed


def atomic_write(fname, payload):
    """Write ``payload`` (bytes) to ``fname`` through a temporary file, fsync and rename.

    A crash or error leaves either the old file or the new one, never a half-written file;
    the temporary files of earlier writes that crashed are removed first.
    """
    fname = os.fspath(fname)
    folder = os.path.dirname(os.path.abspath(fname))
    remove_stale_temps(fname)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(fname) + '%d.' % os.getpid(),
                               suffix='.tmp', dir=folder)
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
