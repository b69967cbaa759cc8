"""``local`` and ``device`` stores: one process, values summed over its devices.

A store keeps one array per key.  ``push`` sums the pushed values over devices and hands the
sum to the updater (``set_optimizer``), or, without one, stores the sum; ``pull`` copies the
stored value out.  ``local`` keeps values where the first pushed value lives (the host for
NumPy), ``device`` the same: with NumPy and CuPy arrays the difference is only the name.

Values may be row-sparse (see :mod:`kvstore._common`), as in MXNet: pushed row-sparse values
sum to the union of their rows; without an updater the sum replaces the stored value, storage
type included; ``pull`` into a row-sparse ``out`` is skipped unless ``ignore_sparse=False``;
``row_sparse_pull`` copies out only the rows asked for.
"""
import os

import numpy as np

from ._common import (KVStoreError, atomic_write, as_key_list, as_value_lists, copy_into,
                      merge_local, copy_value, is_row_sparse, array_module, gather_rows,
                      in_order, to_module)
from .buckets import DEFAULT_BUCKET_BYTES, LocalBuckets

__all__ = ['LocalStore']


class LocalStore:
    """The single-process store (``kvstore.create('local')`` or ``'device'``)."""

    rank = 0
    num_workers = 1
    bucket_bytes = DEFAULT_BUCKET_BYTES

    def __init__(self, name='local'):
        self.type = name
        self._store = {}
        self._key_type = None      # int or str, fixed by the first init
        self._updater = None
        self._compression = {'type': 'none'}

    # ---- the store ---------------------------------------------------------------------
    def _keys(self, key, what):
        """The keys of a call, all of the store's one key type (int or str; MXNet refuses a
        store that mixes them, and so do we)."""
        keys, single = as_key_list(key)
        kinds = {str if isinstance(k, str) else int for k in keys}
        if len(kinds) > 1 or (self._key_type is not None and kinds and
                              kinds != {self._key_type}):
            have = self._key_type.__name__ if self._key_type is not None else 'mixed'
            raise KVStoreError('%s: mixed key types are not allowed: this store\'s keys are '
                               '%s, got %r' % (what, have, key))
        return keys, single

    def init(self, key, value):
        """Give each key its first value (the first device's, for a list)."""
        keys, single = self._keys(key, 'init')
        vals = as_value_lists(keys, single, value, 'init')
        for k in keys:
            if k in self._store:
                raise KVStoreError('init: key %r is already initialised' % (k,))
        if len(set(keys)) != len(keys):
            raise KVStoreError('init: duplicate keys in %r' % (keys,))
        if keys and self._key_type is None:
            self._key_type = str if isinstance(keys[0], str) else int
        for k, v in zip(keys, vals):
            self._store[k] = copy_value(v[0])
        try:
            self._after_init(keys)
        except BaseException:
            for k in keys:
                del self._store[k]
            raise

    # ---- the collectives of a training step (one process: each is a no-op or identity) ----
    # The distributed store implements the same methods across ranks, so one process and N
    # ranks run one code path (ChainerMN's dummy communicator).
    def agree(self, keys, arrays, what):
        """Check that every rank passes the same keys, shapes and dtypes."""

    def sync(self, keys, arrays, what='sync'):
        """Make ``arrays`` (one per key, not stored) equal on every rank: rank 0's values.

        Distributed stores first check that the ranks agree on keys, shapes and dtypes.
        """

    def broadcast_arrays(self, arrays, root=0):
        """Overwrite ``arrays`` on every rank with ``root``'s."""

    def gradient_buckets(self, flats, members, overlap=None):
        """The reducer of gradients laid out in ``flats`` (``members[i] = (flat, start,
        stop)``, in the order backward finishes them): ``ready(i)``, ``wait()``, ``run()``."""
        return LocalBuckets(flats, members)

    def reduce_row_sparse(self, values):
        """Replace each row-sparse value by its sum over ranks, in place: every rank's rows
        gathered and summed, so every rank holds the same rows and numbers (rows no rank
        has stay absent).  One process: each is only put in order (distinct, increasing
        rows)."""
        for v in values:
            in_order(v)

    def average_arrays(self, arrays):
        """Replace each array by its mean over ranks, in place."""

    def all_true(self, flag):
        """True when ``flag`` is true on every rank."""
        return bool(flag)

    def sum_floats(self, values):
        """``values`` summed over ranks, as float64."""
        return np.array(values, dtype=np.float64)

    def _after_init(self, keys):
        """Hook for the distributed store (agree on keys, broadcast rank 0's values)."""

    def push(self, key, value, priority=0):
        """Sum ``value`` over devices (and ranks), then update or replace the stored value."""
        keys, single = self._keys(key, 'push')
        vals = as_value_lists(keys, single, value, 'push')
        merged = [merge_local(v) for v in vals]
        for k, m in zip(keys, merged):
            self._check(k, m, 'push')
        self._reduce(keys, merged)
        for k, m in zip(keys, merged):
            stored = self._store[k]
            if self._updater is not None:
                self._updater(k, m, stored)
            elif is_row_sparse(m) or is_row_sparse(stored):
                self._store[k] = m          # the sum replaces the value, storage type too
            else:
                copy_into(stored, m)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy each key's stored value into ``out`` (one array or one per device); a
        row-sparse ``out`` is left as it is unless ``ignore_sparse`` is False."""
        if out is None:
            raise KVStoreError('pull: out is required')
        keys, single = self._keys(key, 'pull')
        outs = as_value_lists(keys, single, out, 'pull')
        for k, per_dev in zip(keys, outs):
            stored = self._stored(k, 'pull')
            for o in per_dev:
                if tuple(o.shape) != tuple(stored.shape):
                    raise KVStoreError('pull: key %r holds shape %s but out has shape %s'
                                       % (k, tuple(stored.shape), tuple(o.shape)))
                if ignore_sparse and is_row_sparse(o):
                    continue
                copy_into(o, stored)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Copy rows ``row_ids`` of each key's value into the row-sparse ``out``.

        ``out`` is one row-sparse value per device (or per key); ``row_ids`` one int array
        per ``out``, or one for all of a key's devices.  Each ``out`` ends up holding every
        row asked for, once and in increasing order (duplicates and order in ``row_ids`` do
        not matter), with the stored values, zero where the stored value has no such row;
        a stored row-sparse value without any row gives an ``out`` without rows, as in
        MXNet.  No rank is involved: every rank holds the whole value.
        """
        if out is None or row_ids is None:
            raise KVStoreError('row_sparse_pull: out and row_ids are required')
        keys, single = self._keys(key, 'row_sparse_pull')
        outs = as_value_lists(keys, single, out, 'row_sparse_pull')
        if single:
            ids = [list(row_ids) if isinstance(row_ids, (list, tuple)) else [row_ids]]
        else:
            if not isinstance(row_ids, (list, tuple)) or len(row_ids) != len(keys):
                raise KVStoreError('row_sparse_pull: %d keys need %d lists of row_ids'
                                   % (len(keys), len(keys)))
            ids = [list(r) if isinstance(r, (list, tuple)) else [r] for r in row_ids]
        for k, per_dev, rows in zip(keys, outs, ids):
            stored = self._stored(k, 'row_sparse_pull')
            if len(rows) not in (1, len(per_dev)):
                raise KVStoreError('row_sparse_pull: key %r has %d outputs but %d row_ids'
                                   % (k, len(per_dev), len(rows)))
            for i, o in enumerate(per_dev):
                if not is_row_sparse(o):
                    raise KVStoreError('row_sparse_pull: the output for key %r must be '
                                       'row_sparse, not a dense array' % (k,))
                if tuple(o.shape) != tuple(stored.shape):
                    raise KVStoreError('row_sparse_pull: key %r holds shape %s but out has '
                                       'shape %s' % (k, tuple(stored.shape), tuple(o.shape)))
                self._pull_rows(k, stored, o, rows[0] if len(rows) == 1 else rows[i])

    @staticmethod
    def _pull_rows(k, stored, out, row_ids):
        held = stored.values if is_row_sparse(stored) else stored
        xp = array_module(held)
        ids = to_module(xp, row_ids, held).reshape(-1)
        if ids.dtype.kind == 'f' and ids.size and not bool((ids == xp.round(ids)).all()):
            raise KVStoreError('row_sparse_pull: row_ids for key %r must be integers'
                               % (k,))
        rows = xp.unique(ids.astype(np.int64))
        if rows.size and (int(rows[0]) < 0 or int(rows[-1]) >= stored.shape[0]):
            raise KVStoreError('row_sparse_pull: row_ids %s are out of range for key %r of '
                               '%d rows' % (rows.tolist(), k, stored.shape[0]))
        if is_row_sparse(stored) and stored.indices.shape[0] == 0:
            rows = rows[:0]
        mine = array_module(out.values)
        out.indices = to_module(mine, rows, out.values)
        out.values = to_module(mine, gather_rows(stored, rows), out.values).astype(
            out.values.dtype, copy=False)

    def pushpull(self, key, value, out=None, priority=0):
        """``push`` then ``pull`` (into ``value`` itself when ``out`` is None)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority=0):
        """``init`` with ``value`` (rank 0's, across ranks), then ``pull`` into ``out``."""
        self.init(key, value)
        self.pull(key, out, priority)

    def barrier(self):
        """Wait for every rank (nothing to wait for in one process)."""

    def _reduce(self, keys, arrays):
        """Sum across ranks in place (one rank: nothing to do)."""

    def _stored(self, k, what):
        try:
            return self._store[k]
        except KeyError:
            raise KVStoreError('%s: key %r has not been initialised (call init first)'
                               % (what, k)) from None

    def _check(self, k, m, what):
        stored = self._stored(k, what)
        if is_row_sparse(m) and m.indices.shape[0] and \
                (int(m.indices[0]) < 0 or int(m.indices[-1]) >= m.shape[0]):
            raise KVStoreError('%s: key %r got a row-sparse value with rows %s out of range '
                               'for %d rows' % (what, k, m.indices.tolist(), m.shape[0]))
        if tuple(m.shape) != tuple(stored.shape):
            raise KVStoreError('%s: key %r was initialised with shape %s but got shape %s'
                               % (what, k, tuple(stored.shape), tuple(m.shape)))

    # ---- optimizer on the store ----------------------------------------------------------
    def set_optimizer(self, updater):
        """Apply ``updater(key, merged_grad, stored_weight)`` on every push.

        ``updater`` may also offer ``get_states(dump_optimizer) -> bytes`` and
        ``set_states(bytes)`` for ``save_optimizer_states``/``load_optimizer_states``.
        """
        if not callable(updater):
            raise KVStoreError('set_optimizer: expected a callable updater(key, grad, weight), '
                               'got %s' % type(updater).__name__)
        self._updater = updater

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the updater's states to ``fname`` atomically (rank 0 only when distributed)."""
        updater = self._need_updater('save_optimizer_states')
        data = updater.get_states(dump_optimizer)
        if self.rank == 0:
            atomic_write(fname, data)

    def load_optimizer_states(self, fname):
        """Read states written by ``save_optimizer_states`` into the updater."""
        updater = self._need_updater('load_optimizer_states')
        if not os.path.isfile(fname):
            raise KVStoreError('load_optimizer_states: no such file %r' % fname)
        with open(fname, 'rb') as f:
            updater.set_states(f.read())

    def _need_updater(self, what):
        if self._updater is None or not hasattr(self._updater, 'get_states'):
            raise KVStoreError('%s: the store has no optimizer with states (call set_optimizer '
                               'first)' % what)
        return self._updater

    # ---- compression -------------------------------------------------------------------
    def set_gradient_compression(self, compression_params):
        """Accept MXNet's arguments; only ``{'type': 'none'}`` is carried out.

        distmod reduces gradients exactly (so replicas stay bit-identical and match a
        single-process run); MXNet's lossy ``'2bit'`` and ``'1bit'`` are refused with a clear
        error rather than silently ignored.
        """
        params = dict(compression_params or {})
        kind = params.pop('type', None)
        if kind is None:
            raise KVStoreError("set_gradient_compression: compression_params needs a 'type' "
                               "('none', '2bit' or '1bit' in MXNet)")
        unknown = set(params) - {'threshold'}
        if unknown:
            raise KVStoreError('set_gradient_compression: unknown argument(s) %s; MXNet takes '
                               "'type' and 'threshold'" % sorted(unknown))
        if kind not in ('none', '2bit', '1bit'):
            raise KVStoreError("set_gradient_compression: unknown type %r; MXNet's types are "
                               "'none', '2bit', '1bit'" % (kind,))
        if kind != 'none':
            raise KVStoreError(
                "set_gradient_compression: type %r is not supported by distmod, which reduces "
                "gradients exactly (fused MPI allreduce) so that replicas stay bit-identical; "
                "supported: 'none'" % (kind,))
        self._compression = {'type': kind}

