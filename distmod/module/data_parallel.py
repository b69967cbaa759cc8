"""How a module's replicas stay in step across MPI ranks: the seam every module class uses.

:class:`DataParallel` is built from the module's kvstore when training starts.  With one rank
it does nothing.  With several it

- makes the parameters and auxiliary states equal to rank 0's (``sync_params``, after a check
  that every rank has the same names, shapes and dtypes);
- sums the gradients over ranks in fused buckets, started from inside backward as soon as a
  bucket's gradients are final (``attach`` installs the executor callback; ``reduce_grads``
  finishes the job before the update), so every rank updates the same numbers;
- tells whether every rank still has a batch (``all_have``), so no rank waits in a collective
  that another rank never calls;
- sums metric states over ranks (``global_name_value``);
- averages auxiliary states (BatchNorm's moving statistics) over ranks at every epoch end
  (``average_aux``), so replicas agree again and checkpoints hold the average of what every
  rank's data saw.

The kvstore keys are the parameter names, shared by every executor group that shares the
parameters (BucketingModule's buckets share the default bucket's gradient buffers), so ranks
whose batches fall in different buckets still make the same collectives in the same order.
"""
import os
import weakref

import numpy as np

from ..base import MXNetError, WORLD

#: Start each bucket's reduction from inside backward (``DISTMOD_OVERLAP=0`` turns it off:
#: then every bucket is reduced with a blocking allreduce after backward).
OVERLAP = os.environ.get('DISTMOD_OVERLAP', '1') != '0'

__all__ = ['DataParallel']


class DataParallel:
    """Cross-rank coordination for one module (inactive with a single rank)."""

    def __init__(self, kv):
        self.kv = kv
        self.store = kv.raw if kv is not None else None
        # without a distributed store a launched job's ranks train alone, but still only
        # rank 0 logs and writes checkpoints
        self.rank = kv.rank if kv is not None else WORLD['rank']
        self.num_workers = kv.num_workers if kv is not None else 1
        self.active = self.num_workers > 1 and hasattr(self.store, 'comm')
        self.comm = self.store.comm if self.active else None
        self._reducer = None
        self._group = None
        self._known = weakref.WeakSet()   # groups checked (ids could be reused)
        self._index = {}
        self._started = False
        self._flag = np.zeros(1, dtype=np.int32)

    @property
    def is_root(self):
        return self.rank == 0

    # ---- parameters --------------------------------------------------------------------
    def sync_params(self, group):
        """Every device of every rank gets rank 0's parameters and auxiliary states."""
        if not self.active:
            return
        names = ['arg:%s' % n for n in group.param_names] + \
            ['aux:%s' % n for n in group.aux_names]
        blocks = list(group.param_arrays) + list(group.aux_arrays)
        from kvstore import KVStoreError
        try:
            self.store.sync(names, [b[0]._data for b in blocks], 'module parameters')
        except KVStoreError as err:
            raise MXNetError(str(err)) from None
        for block in blocks:
            for other in block[1:]:
                block[0].copyto(other)

    # ---- gradients ---------------------------------------------------------------------
    def attach(self, group):
        """Prepare fused reduction of ``group``'s gradients; overlap it with backward."""
        if not self.active:
            return
        from kvstore import KVStoreError
        from kvstore._common import signature
        from kvstore.dist import FusedAllreduce, agree
        self.detach()
        self._group = group
        order = [p for p in reversed(range(len(group.param_names)))
                 if group.grad_arrays and group.grad_arrays[p][0] is not None]
        names = [group.param_names[p] for p in order]
        arrays = [group.grad_arrays[p][0]._data for p in order]
        try:                                       # the ranks agree on the gradient keys
            agree(self.comm, signature(names, [a.shape for a in arrays],
                                       [a.dtype for a in arrays]), 'module gradients')
        except KVStoreError as err:
            raise MXNetError(str(err)) from None
        if len(group.execs) == 1 and all(isinstance(a, np.ndarray) for a in arrays):
            # the gradients live in the reducer's buckets: nothing is copied in or out
            self._reducer = FusedAllreduce(
                self.store.grad_comm, shapes=[a.shape for a in arrays],
                dtypes=[a.dtype for a in arrays], bucket_bytes=self.store.bucket_bytes,
                adopt=True, overlap=OVERLAP)
            exe = group.execs[0]
            buffers = [None] * len(group.arg_names)
            for p, view in zip(order, self._reducer.arrays):
                buffers[group.arg_names.index(group.param_names[p])] = view
            exe.adopt_grad_buffers(buffers)
            group.grad_arrays = [[exe.grad_dict[n]] for n in group.param_names]
        else:
            self._reducer = FusedAllreduce(self.store.grad_comm, arrays,
                                           bucket_bytes=self.store.bucket_bytes, overlap=False)
        self._index = {name: i for i, name in enumerate(names)}
        self._known = weakref.WeakSet()   # groups checked (ids could be reused)
        self._started = False
        self.use_group(group)

    def use_group(self, group):
        """Let ``group`` (the default one, or a bucket's sharing its gradients) feed the reducer.

        Checked once per group: its gradient buffers must be the reducer's (BucketingModule
        binds every bucket with the default bucket's as shared memory); a group that was
        rebound with new buffers (``force_rebind``) gets a new reducer.
        """
        if not self.active or group in self._known:
            return
        if self._reducer is None:
            self.attach(group)
            return
        arrays = self._reducer.arrays
        pos = []
        for p, name in enumerate(group.param_names):
            grads = group.grad_arrays[p] if group.grad_arrays else [None]
            i = self._index.get(name)
            if grads[0] is None:
                pos.append(None)
                continue
            if i is None or grads[0]._data is not arrays[i]:
                self.attach(group)           # new gradient memory: start again
                return
            pos.append(i)
        if group is not self._group and any(i is not None for i in pos):
            # a group bound before the reducer adopted the gradient memory (a bucket made by
            # switch_bucket/prepare before init_optimizer) planned the old buffers: re-plan
            # (Module.forward calls this first, so no activations are lost)
            for exe in group.execs:
                exe.adopt_grad_buffers([None if g is None else g._data
                                        for g in exe.grad_arrays])
        self._known.add(group)
        if len(group.execs) == 1 and OVERLAP:
            reducer = self._reducer

            def ready(p, pos=pos, reducer=reducer):
                i = pos[p]
                if i is not None:
                    self._started = True
                    reducer.ready(i)
            group.set_grad_ready_callback(ready)

    def detach(self):
        if self._group is not None:
            self._group.set_grad_ready_callback(None)
        if self._reducer is not None:
            self._reducer.close()
        self._group = self._reducer = None

    def reduce_grads(self, group):
        """Sum gradients over devices into device 0's, then over ranks (finishing overlap)."""
        if len(group.execs) > 1:
            for grads in group.grad_arrays:
                if grads[0] is None:
                    continue
                for g in grads[1:]:
                    grads[0] += g.as_in_context(grads[0].context)
        if self.active:
            self.use_group(group)
            self._reducer.wait()
            self._started = False

    def backward_starts(self, group):
        """A backward of ``group`` is about to run: finish a reduction an earlier one left
        open, and make sure ``group`` reports its gradients to the reducer."""
        if not self.active:
            return
        if self._started and self._reducer is not None:
            self._reducer.wait()
            self._started = False
        self.use_group(group)

    def average_aux(self, group):
        """Replace the auxiliary states (BatchNorm's moving mean and variance) by their average
        over ranks, the same numbers on every rank (``fit`` does this at every epoch end)."""
        if not self.active or not group.aux_names:
            return
        from mpi4py import MPI
        for block in group.aux_arrays:
            data = block[0]._data
            host = data if isinstance(data, np.ndarray) else data.get()
            self.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
            host /= self.num_workers
            if host is not data:
                data.set(host)
            for other in block[1:]:
                block[0].copyto(other)

    # ---- control -----------------------------------------------------------------------
    def all_have(self, have):
        """True when every rank has ``have`` true (one tiny collective)."""
        if not self.active:
            return have
        from mpi4py import MPI
        self._flag[0] = 1 if have else 0
        self.comm.Allreduce(MPI.IN_PLACE, self._flag, op=MPI.MIN)
        return bool(self._flag[0])

    def any_true(self, value):
        if not self.active:
            return value
        from mpi4py import MPI
        self._flag[0] = 1 if value else 0
        self.comm.Allreduce(MPI.IN_PLACE, self._flag, op=MPI.MAX)
        return bool(self._flag[0])

    # ---- metrics -----------------------------------------------------------------------
    def global_name_value(self, metric, batches=None):
        """``metric.get_global_name_value()`` over the samples of every rank; with ``batches``
        (this rank's batch count) also the total over ranks: ``(name_value, total)``."""
        if not self.active:
            res = metric.get_global_name_value()
            return res if batches is None else (res, batches)
        from mpi4py import MPI
        state = metric._state()
        flat = []
        _flatten(state, flat)
        if batches is not None:
            flat.append(float(batches))
        total = np.array(flat, dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
        it = iter(total.tolist())
        metric._set_state(_rebuild(state, it))
        try:
            res = metric.get_global_name_value()
        finally:
            metric._set_state(state)
        return res if batches is None else (res, int(round(total[-1])))


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
