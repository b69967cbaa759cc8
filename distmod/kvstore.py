"""``mx.kv`` / ``mx.kvstore``: MXNet's KVStore API over the top-level ``kvstore`` package.

NDArrays go in and come out; the store underneath moves their raw NumPy/CuPy buffers.

>>> kv = mx.kv.create('local')
>>> kv.init(3, mx.nd.ones((2, 3)))
>>> kv.push(3, [mx.nd.ones((2, 3)), mx.nd.ones((2, 3))])   # two devices: summed
>>> out = mx.nd.zeros((2, 3)); kv.pull(3, out=out); out.asnumpy()
array([[2., 2., 2.],
       [2., 2., 2.]], dtype=float32)

``dist_sync`` (and ``dist_device_sync``) reduce over MPI ranks (start the job with
``distmod-launch -n N``); every rank applies the same update, so replicas stay identical.

Row-sparse values (``mx.nd.sparse``) are pushed and pulled as in MXNet: their sum holds the
union of the rows pushed (across ranks an allgather of every rank's rows, summed in one
order, so every rank holds the same numbers), and ``row_sparse_pull`` copies out only the
rows asked for:

>>> kv = mx.kv.create('local')
>>> kv.init('emb', mx.nd.ones((4, 2)).tostype('row_sparse'))
>>> out = mx.nd.sparse.zeros('row_sparse', (4, 2))
>>> kv.row_sparse_pull('emb', out=out, row_ids=mx.nd.array([3, 1, 3]))
>>> out.indices.asnumpy().tolist()
[1, 3]

Gradient compression (``set_gradient_compression``, or ``Module(compression_params=...)``)
is MXNet's: ``2bit`` sends ``+t``, ``-t`` or 0 per element, ``1bit`` +1 or -1, each sender
keeping what it did not send as a residual for the next step.  A ``device`` store compresses
between devices, a ``dist_*`` store between ranks, where every sum is the count of the
values sent for an element times the value, the same on every rank, so replicas stay
bit-identical:

>>> kv = mx.kv.create('device')
>>> kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
>>> kv.init('w', mx.nd.zeros(3))
>>> kv.push('w', [mx.nd.array([0.75, 0.25, -0.5]), mx.nd.array([0.25, 0.25, 0.0])])
>>> out = mx.nd.zeros(3); kv.pull('w', out=out); out.asnumpy()
array([ 0.5,  0. , -0.5], dtype=float32)
>>> kv.push('w', [mx.nd.array([0.0, 0.25, 0.0]), mx.nd.array([0.25, 0.0, 0.0])])
>>> kv.pull('w', out=out); out.asnumpy()        # the residuals reach the threshold
array([0.5, 0.5, 0. ], dtype=float32)
"""
import functools
import weakref

import numpy as np

import kvstore as _store

from .base import MXNetError, WORLD, register_by_name
from .context import cpu, gpu
from .ndarray.ndarray import NDArray, _wrap
from .ndarray.sparse import wrap_storage

__all__ = ['KVStore', 'KVStoreBase', 'TestStore', 'create']

def _translated(fn):
    """Re-raise the store's errors as MXNetError, MXNet's error type."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _store.KVStoreError as err:
            raise MXNetError(str(err)) from None
    return call


def _raw(value):
    """NDArray(s) -> raw arrays (row-sparse ones: their storage), keeping list nesting."""
    if isinstance(value, NDArray):
        if value._sparse:
            if value.stype != 'row_sparse':
                raise MXNetError('kvstore values must be dense or row_sparse, not %s'
                                 % value.stype)
            return value._sp
        return value._data
    if isinstance(value, (list, tuple)):
        return [_raw(v) for v in value]
    raise MXNetError('kvstore values must be NDArrays, got %s' % type(value).__name__)


def _ctx_of(arr):
    if getattr(arr, 'stype', None) == 'row_sparse':
        arr = arr.values
    dev = getattr(arr, 'device', None)
    return cpu() if dev is None or not hasattr(dev, 'id') else gpu(dev.id)


class _NDUpdater:
    """Adapts distmod's ``Updater`` (NDArrays) to the raw-array store."""

    def __init__(self, updater):
        self.updater = updater

    def __call__(self, key, grad, weight):
        ctx = _ctx_of(weight)
        self.updater(key, wrap_storage(grad, _ctx_of(grad)), wrap_storage(weight, ctx))

    def get_states(self, dump_optimizer=False, **kwargs):
        return self.updater.get_states(dump_optimizer, **kwargs)

    def set_states(self, states, **kwargs):
        self.updater.set_states(states, **kwargs)


class KVStoreBase:
    """The interface of a key-value store, as MXNet's ``mx.kv.KVStoreBase``: a class that
    implements it and is registered (``@mx.kv.KVStoreBase.register``) is made by
    ``mx.kv.create(its lower-cased class name)``.  distmod's own store is :class:`KVStore`.
    """

    OPTIMIZER = 'optimizer'
    kv_registry = {}

    def broadcast(self, key, value, out, priority=0):
        """Rank 0's ``value`` into ``out`` (an NDArray or a list) on every rank."""
        raise NotImplementedError('%s does not implement broadcast' % type(self).__name__)

    def pushpull(self, key, value, out=None, priority=0):
        """Sum ``value`` (a list: over devices) over ranks into ``out`` (else ``value``)."""
        raise NotImplementedError('%s does not implement pushpull' % type(self).__name__)

    def set_optimizer(self, optimizer):
        raise NotImplementedError('%s does not implement set_optimizer' % type(self).__name__)

    @staticmethod
    def is_capable(capability):
        """Whether the store can do ``capability`` (``KVStoreBase.OPTIMIZER``: run the
        optimizer itself)."""
        raise NotImplementedError('is_capable is not implemented')

    def save_optimizer_states(self, fname, dump_optimizer=False):
        raise NotImplementedError('%s does not keep optimizer states' % type(self).__name__)

    def load_optimizer_states(self, fname):
        raise NotImplementedError('%s does not keep optimizer states' % type(self).__name__)

    @property
    def type(self):
        raise NotImplementedError('%s does not say its type' % type(self).__name__)

    @property
    def rank(self):
        raise NotImplementedError('%s does not say its rank' % type(self).__name__)

    @property
    def num_workers(self):
        raise NotImplementedError('%s does not say its size' % type(self).__name__)

    @staticmethod
    def register(klass):
        """Class decorator: ``mx.kv.create(klass.__name__.lower())`` makes a ``klass()``."""
        return register_by_name(KVStoreBase.kv_registry, klass, 'kvstore')


@KVStoreBase.register
class TestStore(KVStoreBase):
    """MXNet's one-process example store (``mx.kv.create('teststore')``): broadcast copies,
    pushpull sums a list of values; no optimizer."""

    def broadcast(self, key, value, out, priority=0):
        for o in (out if isinstance(out, list) else [out]):
            o[:] = value

    def pushpull(self, key, value, out=None, priority=0):
        if isinstance(value, NDArray):
            total = value
        else:
            ctx = value[0].context
            total = value[0].as_in_context(ctx).copy()
            for v in value[1:]:
                total += v.as_in_context(ctx)
        targets = out if out is not None else ([] if isinstance(value, NDArray) else value)
        for o in (targets if isinstance(targets, list) else [targets]):
            o[:] = total

    @staticmethod
    def is_capable(capability):
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return False
        raise ValueError('unknown capability %r' % (capability,))

    @property
    def type(self):
        return 'teststore'

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1


class KVStore(KVStoreBase):
    """A key-value store for data-parallel training (see :func:`create`)."""

    @staticmethod
    def is_capable(capability):
        """distmod's stores run the optimizer (``set_optimizer``) themselves."""
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return True
        raise ValueError('unknown capability %r' % (capability,))

    def __init__(self, store):
        self._store = store
        self._updater = None
        # id(gradient layout) -> (layout, reducer, residuals of the device merge)
        self._reducers = {}
        self._attached = weakref.WeakSet()     # groups whose gradients feed a reducer
        self._host_sums = weakref.WeakKeyDictionary()  # 'local' with GPUs: host buffers

    @property
    def type(self):
        return self._store.type

    @property
    def rank(self):
        return self._store.rank

    @property
    def num_workers(self):
        return self._store.num_workers

    @property
    def raw(self):
        """The ``kvstore`` store underneath (raw NumPy/CuPy arrays)."""
        return self._store

    @_translated
    def init(self, key, value):
        """Initialise key(s); across ranks, rank 0's values win."""
        self._store.init(key, _raw(value))

    @_translated
    def push(self, key, value, priority=0):
        """Push value(s), summed over devices and ranks, into the store (or its updater)."""
        self._store.push(key, _raw(value), priority)

    @_translated
    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy the stored value(s) into ``out``; row-sparse outputs are skipped unless
        ``ignore_sparse`` is False (use :meth:`row_sparse_pull` for them)."""
        if out is None:
            raise MXNetError('pull: out is required')
        self._store.pull(key, _raw(out), priority, ignore_sparse=ignore_sparse)

    @_translated
    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Copy only rows ``row_ids`` of the stored value(s) into the row-sparse ``out``.

        ``out``: a RowSparseNDArray, a list of them (one per device) or a list per key;
        ``row_ids``: an NDArray of row indices per ``out`` (or one for all of a key's
        devices).  Each ``out`` then holds every requested row once, in increasing order.
        """
        if out is None or row_ids is None:
            raise MXNetError('row_sparse_pull: out and row_ids are required')
        self._store.row_sparse_pull(key, _raw_rsp(out), priority, _raw_ids(row_ids))

    @_translated
    def pushpull(self, key, value, out=None, priority=0):
        """Push then pull (into ``value`` when ``out`` is None)."""
        self._store.pushpull(key, _raw(value), None if out is None else _raw(out), priority)

    @_translated
    def broadcast(self, key, value, out, priority=0):
        """Initialise key(s) with rank 0's ``value`` and pull it into ``out`` on every rank."""
        self._store.broadcast(key, _raw(value), _raw(out), priority)

    def set_optimizer(self, optimizer):
        """Run ``optimizer`` on every push (each rank applies the same update)."""
        from .optimizer import Optimizer, get_updater
        if not isinstance(optimizer, Optimizer):
            raise MXNetError('set_optimizer expects an Optimizer, got %s'
                             % type(optimizer).__name__)
        self._set_updater(get_updater(optimizer))

    def _set_updater(self, updater):
        """Use ``updater(key, grad, weight)`` (NDArrays) on every push."""
        self._updater = updater
        self._store.set_optimizer(_NDUpdater(updater) if hasattr(updater, 'get_states')
                                  else lambda k, g, w: updater(k, wrap_storage(g, _ctx_of(g)),
                                                               wrap_storage(w, _ctx_of(w))))

    def _states_updater(self, what):
        if self._updater is None or not hasattr(self._updater, 'get_states'):
            raise MXNetError('%s: the store has no optimizer with states (call set_optimizer '
                             'first)' % what)
        return self._updater

    def save_optimizer_states(self, fname, dump_optimizer=False, fmt=None):
        """Save the store's optimizer states to ``fname`` atomically; rank 0 writes.

        ``fmt``: ``'distmod'`` (the safe format) or ``'mxnet'`` (MXNet 1.9's pickle, keyed
        as this store's updater is: by the keys pushed); None reads ``DISTMOD_STATES_FORMAT``
        (default ``'distmod'``).  See :func:`distmod.optimizer.save_states_file`.
        """
        from .optimizer import save_states_file, _states_format
        updater = self._states_updater('save_optimizer_states')
        fmt = _states_format(fmt)
        if self.rank == 0:
            save_states_file(fname, updater, fmt=fmt, dump_optimizer=dump_optimizer)

    def load_optimizer_states(self, fname):
        """Load states from ``fname``: distmod's format, or MXNet's ``.states`` (read without
        running code; keys as stored, which for MXNet's kvstore are the keys it was pushed)."""
        from .optimizer import load_states_file
        updater = self._states_updater('load_optimizer_states')
        load_states_file(fname, updater)

    @_translated
    def set_gradient_compression(self, compression_params):
        """Compress gradients from now on: MXNet's ``{'type': '2bit', 'threshold': 0.5}``
        (``+t``/``-t``/0 per element), ``{'type': '1bit', 'threshold': 0.0}`` (+1/-1), or
        ``{'type': 'none'}``.

        Each sender keeps a residual (what it has not sent yet).  ``device`` stores compress
        between devices, ``dist_sync``/``dist_device_sync`` between ranks (each rank's sum
        over its devices; every sum is the count of sent values times the value, the same on
        every rank, so the replicas stay bit-identical); ``local`` stores refuse it, as
        MXNet's do.
        """
        self._store.set_gradient_compression(compression_params)

    @property
    def compression_params(self):
        """The compression in force, as MXNet's ``compression_params``."""
        return self._store.compression

    @_translated
    def barrier(self):
        """Wait for every rank."""
        self._store.barrier()

    _barrier = barrier

    def __repr__(self):
        return '<KVStore %s rank %d of %d>' % (self.type, self.rank, self.num_workers)


    # ---- the module layer's door to the other ranks -------------------------------------
    # What a training step needs from the other ranks, on executor groups and NDArrays.  The
    # store underneath makes every collective; with one process each is the trivial case, so
    # Module runs the same code with 1 and N ranks.
    @property
    def is_root(self):
        """True on the rank that logs and writes checkpoints (rank 0; in a launched job with
        a local store, the launcher's rank 0)."""
        return (WORLD['rank'] if self.num_workers == 1 else self.rank) == 0

    @_translated
    def broadcast_params(self, group):
        """Every device of every rank gets rank 0's parameters and auxiliary states (after a
        check that every rank has the same names, shapes and dtypes)."""
        names = ['arg:%s' % n for n in group.param_names] + \
            ['aux:%s' % n for n in group.aux_names]
        blocks = list(group.param_arrays) + list(group.aux_arrays)
        self._store.sync(names, [b[0]._data for b in blocks], 'module parameters')
        for block in blocks:
            for other in block[1:]:
                block[0].copyto(other)

    @_translated
    def attach(self, group):
        """Reduce ``group``'s gradients through this store from now on.

        The gradients live in the group's flat buffers (``group.grad_buffers``); groups that
        share them (a BucketingModule's buckets) share one reducer.  With one device per
        process each bucket's reduction starts inside backward as soon as backward has
        finished it.
        """
        if not group.for_training or not group.grad_buffers:
            return
        layout = group.grad_buffers[0]
        reducer = self._reducers.get(id(layout))
        if reducer is None or reducer[0] is not layout:
            # a new layout (first bind, or a forced rebind): the ranks agree on it first
            self._store.agree(layout.names, [v._data for v in
                                             (layout.views[n] for n in layout.names)],
                              'module gradients')
            if reducer is not None:
                reducer[1].close()
            red = self._store.gradient_buckets(layout.flats, layout.members)
            reducer = (layout, red, {})
            self._reducers[id(layout)] = reducer
        red = reducer[1]
        if len(group.execs) == 1 and getattr(red, '_thread', None) is not None:
            group.set_grad_ready_callback(red.ready)
        self._attached.add(group)

    def _entry_of(self, group):
        if group not in self._attached:
            self.attach(group)
        return self._reducers.get(id(group.grad_buffers[0])) if group.grad_buffers else None

    def _reducer_of(self, group):
        entry = self._entry_of(group)
        return entry[1] if entry is not None else None

    def backward_starts(self, group):
        """A backward of ``group`` is about to run: finish a reduction an earlier backward
        left open (its gradients are about to be overwritten)."""
        red = self._reducer_of(group)
        if red is not None and red.pending:
            red.wait()

    @_translated
    def reduce_gradients(self, group):
        """Sum ``group``'s gradients over its devices into device 0's, then over ranks
        (compressed where the store compresses: between devices for ``device``, between
        ranks for ``dist_*``)."""
        if not group.for_training:
            return
        buffers = group.grad_buffers
        if buffers and self._store.compresses_devices:
            self._merge_devices_compressed(group)
        elif len(buffers) > 1 and self.type == 'local' and \
                buffers[0].ctx.device_type == 'gpu':
            self._merge_devices_on_host(buffers)
        elif len(buffers) > 1:
            # each flat summed into the first device's: by NCCL between GPUs where the store
            # can, else by (peer) copies added on the first device
            left = [f for f in range(len(buffers[0].flats)) if not (
                buffers[0].ctx.device_type == 'gpu' and
                self._store.sum_over_devices([b.flats[f] for b in buffers]))]
            with buffers[0].ctx.device():       # the sums run on the first device
                for other in buffers[1:]:
                    for f in left:
                        total, part = buffers[0].flats[f], other.flats[f]
                        total += part if other.ctx == buffers[0].ctx else \
                            _wrap(part, other.ctx).as_in_context(buffers[0].ctx)._data
            layout = buffers[0].views
            for name, grads in zip(group.param_names, group.grad_arrays):
                if grads[0] is not None and grads[0] is not layout.get(name) and \
                        not grads[0]._sparse:
                    for g in grads[1:]:         # a gradient outside the layout
                        grads[0] += g.as_in_context(grads[0].context)
        red = self._reducer_of(group)
        if red is not None:
            red.wait()
        sparse = getattr(group, 'sparse_grad_names', None)
        if sparse:
            self._reduce_row_sparse(group, sparse)

    def _merge_devices_on_host(self, buffers):
        """MXNet's ``local`` store with GPUs: every device's gradients copied to host memory
        and summed there, in device order, and the sums copied back to the first device
        (``device`` sums on the GPUs instead)."""
        hosts = self._host_sums.get(buffers[0])
        if hosts is None:
            hosts = self._host_sums[buffers[0]] = (
                [np.empty(f.shape, f.dtype) for f in buffers[0].flats],
                [np.empty(f.shape, f.dtype) for f in buffers[0].flats])
        total, part = hosts
        for f, t in enumerate(total):
            buffers[0].flats[f].get(out=t)
            for other in buffers[1:]:
                other.flats[f].get(out=part[f])
                t += part[f]
            with buffers[0].ctx.device():
                buffers[0].flats[f].set(t)

    def _merge_devices_compressed(self, group):
        """MXNet's ``device`` store with compression: each device's gradients quantised with
        that device's residuals, the decoded values summed in device order into device 0's
        (one device too)."""
        buffers = group.grad_buffers
        residuals = self._entry_of(group)[2]
        for f, total in enumerate(buffers[0].flats):
            self._store.merge_devices([b.flats[f] for b in buffers],
                                      residuals.setdefault(f, []), out=total)
        layout = buffers[0].views
        for name, grads in zip(group.param_names, group.grad_arrays):
            if grads[0] is not None and grads[0] is not layout.get(name) and \
                    not grads[0]._sparse:       # a gradient outside the layout
                self._store.merge_devices([g._data for g in grads],
                                          residuals.setdefault(name, []), out=grads[0]._data)

    def _reduce_row_sparse(self, group, names):
        """Sum the row-sparse gradients ``names`` over devices into device 0's, then over
        ranks (an allgather of rows: only the rows some rank touched travel)."""
        index = {n: i for i, n in enumerate(group.param_names)}
        firsts = []
        for name in names:
            grads = group.grad_arrays[index[name]]
            for g in grads[1:]:
                grads[0] += g
            firsts.append(grads[0]._sp)
        self._store.reduce_row_sparse(firsts)

    def prepare_rows(self, group, row_ids):
        """MXNet's ``Module.prepare(batch, sparse_row_id_fn)`` step: ``row_ids`` is what
        ``sparse_row_id_fn(batch)`` returned, ``{parameter name: NDArray of row indices}``.

        MXNet pulls those rows of row-sparse weights from the store into the executors.
        Here every rank keeps every parameter whole and current on each device (the
        optimizer runs in the module, MXNet's ``update_on_kvstore=False``, after gradients
        meet), so no row needs pulling: the names and rows are only checked.
        """
        if not isinstance(row_ids, dict):
            raise MXNetError('sparse_row_id_fn must return a dict {parameter name: row ids}, '
                             'not %s' % type(row_ids).__name__)
        for name, ids in row_ids.items():
            if name not in group.param_names:
                raise MXNetError('sparse_row_id_fn names %r, which is not a parameter of the '
                                 'module (parameters: %s)' % (name, group.param_names))
            rows = group.param_arrays[group.param_names.index(name)][0].shape[0]
            for part in ids if isinstance(ids, (list, tuple)) else [ids]:
                host = part.asnumpy() if isinstance(part, NDArray) else np.asarray(part)
                if host.size and (host.min() < 0 or host.max() >= rows):
                    raise MXNetError('sparse_row_id_fn: the row ids of %r must lie in '
                                     '[0, %d), got %s' % (name, rows, host.ravel().tolist()))

    @_translated
    def average_aux(self, group):
        """Replace the auxiliary states (BatchNorm's moving mean and variance) by their
        average over ranks, the same numbers everywhere and on every device."""
        if self.num_workers == 1 or not group.aux_names:
            return
        self._store.average_arrays([block[0]._data for block in group.aux_arrays])
        for block in group.aux_arrays:
            for other in block[1:]:
                block[0].copyto(other)

    def all_true(self, flag):
        """True when ``flag`` is true on every rank ("does every rank still have a batch")."""
        return self._store.all_true(flag)

    def gather_text(self, text, what='gathering text'):
        """Every rank's ``text`` (a str), in rank order."""
        return self._store.gather_text(text, what)

    def set_location(self, **where):
        """Tell the watchdog where the training loop is (``epoch=``, ``batch=``,
        ``phase=``; None removes): its errors name it."""
        self._store.set_location(**where)

    def first_step_done(self):
        """The first step is over: the steady deadline (``DISTMOD_TIMEOUT``) applies."""
        self._store.first_step_done()

    def busy(self, what):
        """A context for work of this rank the others wait for (rank 0's checkpoint)."""
        return self._store.busy(what)

    def global_name_value(self, metric, batches=None, keep=False):
        """``metric.get_global_name_value()`` over the samples of every rank; with
        ``batches`` (this rank's batch count) also their total: ``(name_value, total)``.
        ``keep``: leave the sums over ranks in ``metric`` (else its own are put back)."""
        if self.num_workers == 1:
            res = metric.get_global_name_value()
            return res if batches is None else (res, batches)
        state = metric._state()
        flat = []
        _flatten(state, flat)
        if batches is not None:
            flat.append(float(batches))
        total = self._store.sum_floats(flat)
        metric._set_state(_rebuild(state, iter(total.tolist())))
        try:
            res = metric.get_global_name_value()
        finally:
            if not keep:
                metric._set_state(state)
        return res if batches is None else (res, int(round(total[-1])))

    def close(self):
        """Stop the store's communication threads."""
        for entry in self._reducers.values():
            entry[1].close()
        self._reducers.clear()


def _raw_rsp(out):
    """The storage of row-sparse NDArray(s), keeping list nesting; dense ones are refused
    as MXNet refuses them."""
    if isinstance(out, (list, tuple)):
        return [_raw_rsp(o) for o in out]
    if not isinstance(out, NDArray) or out.stype != 'row_sparse':
        raise MXNetError('row_sparse_pull needs row_sparse outputs (mx.nd.sparse.zeros('
                         '\'row_sparse\', shape)), not %s' % (
                             out.stype if isinstance(out, NDArray) else type(out).__name__))
    return out._sp


def _raw_ids(row_ids):
    if isinstance(row_ids, (list, tuple)):
        return [_raw_ids(r) for r in row_ids]
    if isinstance(row_ids, NDArray):
        return row_ids._data
    return np.asarray(row_ids)


def _flatten(state, out):
    if isinstance(state, (list, tuple)):
        for s in state:
            _flatten(s, out)
    elif isinstance(state, np.ndarray):
        out.extend(state.ravel().tolist())
    else:
        out.append(float(state))


def _rebuild(state, it):
    if isinstance(state, (list, tuple)):
        return type(state)(_rebuild(s, it) for s in state)
    if isinstance(state, np.ndarray):
        return np.array([next(it) for _ in range(state.size)],
                        dtype=state.dtype).reshape(state.shape)
    value = next(it)
    return int(round(value)) if isinstance(state, (int, np.integer)) else value


@_translated
def gather_world_text(text, what='gathering text'):
    """Every rank's ``text`` over the whole launched job, before any store exists (the
    agreement before training), under the watchdog; None outside an MPI job."""
    return _store.gather_world_text(text, what)


@_translated
def create(name='local'):
    """Create a store: ``'local'``, ``'device'``, ``'dist_sync'``, ``'dist_device_sync'``."""
    if isinstance(name, KVStoreBase):
        return name
    if isinstance(name, str) and name.lower() in KVStoreBase.kv_registry:
        return KVStoreBase.kv_registry[name.lower()]()
    kv = KVStore(_store.create(name))
    if kv.type.startswith('dist'):
        WORLD['rank'], WORLD['num_workers'] = kv.rank, kv.num_workers
    return kv
