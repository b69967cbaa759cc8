"""``local`` and ``device`` stores: one process, values summed over its devices.

A store keeps one array per key.  ``push`` sums the pushed values over devices and hands the
sum to the updater (``set_optimizer``), or, without one, stores the sum; ``pull`` copies the
stored value out.  ``local`` keeps values where the first pushed value lives (the host for
NumPy), ``device`` the same: with NumPy and CuPy arrays the difference is only the name.

Values may be row-sparse (see :mod:`kvstore._common`), as in MXNet: pushed row-sparse values
sum to the union of their rows; without an updater the sum replaces the stored value, storage
type included; ``pull`` into a row-sparse ``out`` is skipped unless ``ignore_sparse=False``;
``row_sparse_pull`` copies out only the rows asked for.

Gradient compression (``set_gradient_compression``, MXNet's ``2bit``/``1bit``; see
:mod:`kvstore.compression`) applies where MXNet applies it: a ``device`` store compresses
between devices (each device's value quantised with its own residual, the decoded values
summed in device order; one device too), a ``dist_*`` store between ranks (the sum over this
process's devices quantised with one residual per key; in one process, one rank of one).
``local`` stores refuse it, as MXNet's do.  Initial values are never compressed.
"""
import os
import weakref

import numpy as np

from . import compression as _gc
from ._common import (KVStoreError, atomic_write, as_key_list, as_value_lists, copy_into,
                      merge_local, copy_value, is_row_sparse, array_module, gather_rows,
                      in_order, to_module)
from .buckets import DEFAULT_BUCKET_BYTES, BucketAllreduce, LocalBuckets

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
        self._codec = None             # the GradientCompression in force, or None
        self._residuals = {}           # key -> residual of its pushes (between ranks)
        self._device_residuals = {}    # key -> one residual per device (between devices)
        self._work = _gc.Workspace()
        self._bucket_reducers = weakref.WeakSet()    # follow set_gradient_compression

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
        stop)``, in the order backward finishes them): ``ready(i)``, ``wait()``, ``run()``.

        A ``dist_*`` store in one process gets a one-rank :class:`BucketAllreduce`, which
        compresses when told to (``set_gradient_compression``); the others have nothing to
        sum."""
        if not self.type.startswith('dist'):
            return LocalBuckets(flats, members)
        red = BucketAllreduce(None, flats, members, bucket_bytes=self.bucket_bytes,
                              overlap=False, compression=self._codec)
        self._bucket_reducers.add(red)
        return red

    @property
    def compresses_devices(self):
        """True when values are compressed between devices (a ``device`` store with a
        compression setting): :meth:`merge_devices` quantises each device's value."""
        return self._codec is not None and not self.type.startswith('dist')

    def merge_devices(self, values, residuals=None, out=None):
        """The sum of one value's per-device arrays (into ``out``, else a new array).

        Exact, unless :attr:`compresses_devices`: then each device's floating-point value is
        quantised with its own residual (``residuals``: the caller's list, one per device,
        filled on first use) and the decoded values are added in device order, as MXNet's
        ``device`` store does.
        """
        if not self.compresses_devices or not all(_gc.compressible(v) for v in values):
            return merge_local(values, out)
        summed = _gc.merge_devices(self._codec, values, [] if residuals is None else residuals,
                                   self._work)
        if out is None:
            return to_module(array_module(values[0]), summed, values[0])
        copy_into(out, summed)
        return out

    def sum_over_devices(self, arrays):
        """``arrays[0] += sum(arrays[1:])`` in place (one buffer per GPU of this process) by
        NCCL where it can (:func:`kvstore.gpu.local_clique`); False where it cannot, and
        then the caller adds peer copies."""
        from .gpu import local_clique
        clique = local_clique(arrays)
        if clique is None:
            return False
        clique.reduce(arrays)
        return True

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

    def gather_text(self, text, what='gathering text'):
        """Every rank's ``text`` (a str), in rank order."""
        return [str(text)]

    def gather_objects(self, obj, what='gather'):
        """Every rank's ``obj`` (plain data), in rank order."""
        return [obj]

    # ---- what the watchdog of a distributed store is told (nothing to do here) ---------
    def set_location(self, **where):
        """Where the training loop is (``epoch=``, ``batch=``, ``phase=``), for errors."""

    def first_step_done(self):
        """The first training step is over: the steady deadline applies from now on."""

    def busy(self, what):
        """A context: this rank does ``what``, which the other ranks wait for."""
        return _NoGuard()

    def _after_init(self, keys):
        """Hook for the distributed store (agree on keys, broadcast rank 0's values)."""

    def push(self, key, value, priority=0):
        """Sum ``value`` over devices (and ranks), then update or replace the stored value."""
        keys, single = self._keys(key, 'push')
        vals = as_value_lists(keys, single, value, 'push')
        if self.compresses_devices:
            merged = []
            for k, v in zip(keys, vals):
                for d in v:
                    self._check(k, d, 'push')
                merged.append(self.merge_devices(v, self._device_residuals.setdefault(k, [])))
        else:
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
        """Sum across ranks in place (one rank: nothing to do, unless a ``dist_*`` store
        compresses: then the sum is this rank's compressed value)."""
        if self._rank_codec() is not None:
            self._reduce_compressed(keys, arrays, None)

    def _rank_codec(self):
        """The compression between ranks (``dist_*`` stores), or None."""
        return self._codec if self.type.startswith('dist') else None

    def _grad_guard(self, what):
        """A context around a blocking collective on the gradient communicator (the
        distributed store's watchdog; nothing in one process)."""
        return _NoGuard()

    def _reduce_compressed(self, keys, arrays, comm):
        """Sum the dense floating-point ``arrays`` over the ranks of ``comm`` (None: one
        rank) through their compressed codes, each key with its own residual; returns the
        other ``(keys, arrays)``, to be reduced exactly."""
        picked, rest_keys, rest = [], [], []
        for k, a in zip(keys, arrays):
            if _gc.compressible(a):
                picked.append((k, a))
            else:
                rest_keys.append(k)
                rest.append(a)
        if picked:
            flats, residuals, copies = [], [], []
            for k, a in picked:
                in_place = isinstance(a, np.ndarray) and a.flags.c_contiguous
                host = a if in_place else np.ascontiguousarray(to_module(np, a))
                flat = host.reshape(-1)
                res = self._residuals.get(k)
                if res is None or res.size != flat.size or res.dtype != flat.dtype:
                    res = self._residuals[k] = np.zeros(flat.size, dtype=flat.dtype)
                flats.append(flat)
                residuals.append(res)
                if not in_place:
                    copies.append((a, host))
            with self._grad_guard('the compressed reduction of kvstore push'):
                _gc.reduce_compressed(self._codec, flats, residuals, comm, self._work)
            for a, host in copies:               # CuPy (or strided) values: back in place
                copy_into(a, host)
        return rest_keys, rest

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
    @property
    def compression(self):
        """The compression setting in force, as MXNet's ``compression_params``."""
        return dict(self._compression)

    def set_gradient_compression(self, compression_params):
        """Compress gradients from the next push (or reduction) on: MXNet's
        ``{'type': '2bit', 'threshold': 0.5}``, ``{'type': '1bit', 'threshold': t}``, or
        ``{'type': 'none'}`` (exact sums again).

        ``device`` stores compress between devices, ``dist_*`` stores between ranks (see the
        module docstring and :mod:`kvstore.compression`); ``local`` stores refuse, as MXNet's
        do.  Residuals start at zero; a new setting drops the old residuals.  Every rank must
        make the same call at the same point.
        """
        codec = _gc.parse_params(compression_params)
        if codec is not None and 'device' not in self.type and 'dist' not in self.type:
            raise KVStoreError(
                'set_gradient_compression: gradient compression is not supported for this '
                "type of kvstore (%r); MXNet compresses in 'device' stores (between devices) "
                "and 'dist_*' stores (between ranks)" % (self.type,))
        self._codec = codec
        self._compression = codec.params if codec is not None else {'type': 'none'}
        self._residuals.clear()
        self._device_residuals.clear()
        for red in list(self._bucket_reducers):
            red.set_compression(self._rank_codec())


class _NoGuard:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
