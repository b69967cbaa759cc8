"""``local`` and ``device`` stores: one process, values summed over its devices.

A store keeps one array per key.  ``push`` sums the pushed values over devices and hands the
sum to the updater (``set_optimizer``), or, without one, stores the sum; ``pull`` copies the
stored value out.  ``local`` keeps values where the first pushed value lives (the host for
NumPy), ``device`` the same: with NumPy and CuPy arrays the difference is only the name.
"""
import os

import numpy as np

from ._common import KVStoreError, atomic_write, as_key_list, as_value_lists, copy_into, merge_local
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
        self._updater = None
        self._compression = {'type': 'none'}

    # ---- the store ---------------------------------------------------------------------
    def init(self, key, value):
        """Give each key its first value (the first device's, for a list)."""
        keys, single = as_key_list(key)
        vals = as_value_lists(keys, single, value, 'init')
        for k in keys:
            if k in self._store:
                raise KVStoreError('init: key %r is already initialised' % (k,))
        if len(set(keys)) != len(keys):
            raise KVStoreError('init: duplicate keys in %r' % (keys,))
        for k, v in zip(keys, vals):
            self._store[k] = v[0].copy()
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
        keys, single = as_key_list(key)
        vals = as_value_lists(keys, single, value, 'push')
        merged = [merge_local(v) for v in vals]
        for k, m in zip(keys, merged):
            self._check(k, m, 'push')
        self._reduce(keys, merged)
        for k, m in zip(keys, merged):
            if self._updater is not None:
                self._updater(k, m, self._store[k])
            else:
                copy_into(self._store[k], m)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy each key's stored value into ``out`` (one array or one per device)."""
        if out is None:
            raise KVStoreError('pull: out is required')
        keys, single = as_key_list(key)
        outs = as_value_lists(keys, single, out, 'pull')
        for k, per_dev in zip(keys, outs):
            stored = self._stored(k, 'pull')
            for o in per_dev:
                if tuple(o.shape) != tuple(stored.shape):
                    raise KVStoreError('pull: key %r holds shape %s but out has shape %s'
                                       % (k, tuple(stored.shape), tuple(o.shape)))
                copy_into(o, stored)

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

