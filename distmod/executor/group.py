"""ExecutorGroup: one executor per local device, each taking its slice of the batch.

The batch is split along its batch axis by ``work_load_list`` (as MXNet's executor group does);
parameters live on every device.  Gradients are born in buckets: at bind, each device's
parameter gradients of one dtype are views of one flat buffer (:class:`GradientBuffers`),
laid out in the order backward finishes them, so the kvstore sums whole slices over devices
and ranks in place, and starts on a slice as soon as backward has finished it.
"""
import numpy as np

from ..base import MXNetError
from ..context import cpu
from ..ndarray.ndarray import NDArray, _to_module, _wrap
from .executor import bind_shapes_and_types, simple_bind
from .plan import backward_order, sparse_grad_names

__all__ = ['ExecutorGroup', 'DataParallelExecutorGroup', 'GradientBuffers', 'split_batch']


class GradientBuffers:
    """One device's parameter gradients as views of one flat buffer per dtype.

    PyTorch DDP's ``gradient_as_bucket_view``: ``names`` are in the order backward finishes
    them; ``flats`` holds one 1-D raw array per dtype; ``members[k] = (flat, start, stop)``
    is where ``names[k]``'s gradient lives; ``views[name]`` is that slice as the NDArray the
    executors write into.  The kvstore's buckets are runs of consecutive members.
    """

    def __init__(self, ctx, names, shapes, dtypes):
        self.ctx = ctx
        self.names = list(names)
        self.shapes = [tuple(s) for s in shapes]
        self.dtypes = [np.dtype(t) for t in dtypes]
        kinds = []
        for t in self.dtypes:
            if t not in kinds:
                kinds.append(t)
        sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        total = {t: sum(n for n, u in zip(sizes, self.dtypes) if u == t) for t in kinds}
        xp = ctx.xp
        with ctx.device():
            self.flats = [xp.zeros(total[t], dtype=t) for t in kinds]
        self.members, self.views, self.index = [], {}, {}
        offset = dict.fromkeys(kinds, 0)
        for k, (name, shape, t, n) in enumerate(zip(self.names, self.shapes, self.dtypes,
                                                    sizes)):
            f = kinds.index(t)
            start = offset[t]
            offset[t] = start + n
            self.members.append((f, start, start + n))
            self.views[name] = _wrap(self.flats[f][start:start + n].reshape(shape), ctx)
            self.index[name] = k

    def like(self, ctx):
        """The same layout on another device."""
        return GradientBuffers(ctx, self.names, self.shapes, self.dtypes)


def _group2ctxs_per_device(group2ctxs, n):
    """One ``{group: Context}`` (or None) per device from MXNet's ``group2ctxs``: a list of
    dicts (one per device), or one dict whose values are a context or a list of one context
    (for every device) or of one context per device."""
    if not group2ctxs:
        return [None] * n
    if isinstance(group2ctxs, (list, tuple)):
        if len(group2ctxs) != n:
            raise MXNetError('group2ctxs has %d entries for %d contexts' % (len(group2ctxs), n))
        return [dict(g) if g else None for g in group2ctxs]
    out = [{} for _ in range(n)]
    for group, ctxs in group2ctxs.items():
        ctxs = list(ctxs) if isinstance(ctxs, (list, tuple)) else [ctxs]
        if len(ctxs) == 1:
            ctxs = ctxs * n
        if len(ctxs) != n:
            raise MXNetError('group2ctxs[%r] has %d contexts for %d devices (give one, or one '
                             'per device)' % (group, len(ctxs), n))
        for i, c in enumerate(ctxs):
            out[i][group] = c
    return out


def split_batch(batch_size, work_load_list):
    """Slices of ``range(batch_size)``, one per device, proportional to ``work_load_list``."""
    total = float(sum(work_load_list))
    if batch_size < len(work_load_list):
        raise MXNetError('batch size %d is smaller than the number of devices %d'
                         % (batch_size, len(work_load_list)))
    sizes = [int(round(w * batch_size / total)) for w in work_load_list]
    sizes[-1] = batch_size - sum(sizes[:-1])
    if any(s <= 0 for s in sizes):
        raise MXNetError('work_load_list %s gives a device no samples of a batch of %d'
                         % (list(work_load_list), batch_size))
    slices, start = [], 0
    for s in sizes:
        slices.append(slice(start, start + s))
        start += s
    return slices


def _desc(item):
    """(name, shape, layout) from a DataDesc or a (name, shape) pair."""
    name, shape = item[0], tuple(item[1])
    layout = getattr(item, 'layout', None) or 'NCHW'
    dtype = getattr(item, 'dtype', np.float32)
    return name, shape, layout, dtype


def batch_axis(layout):
    return 0 if layout is None or 'N' not in layout else layout.find('N')


class ExecutorGroup:
    """Executors over ``contexts`` for one symbol and one set of input shapes."""

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=None,
                 fixed_param_names=None, grad_req='write', state_names=None, group2ctxs=None):
        self.symbol = symbol
        self.contexts = list(contexts)
        self.workload = list(workload) if workload is not None else [1] * len(self.contexts)
        self.param_names = list(param_names)
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.fixed_param_names = set(fixed_param_names or ())
        self.state_names = list(state_names or ())
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.output_names = symbol.list_outputs()
        # each output's batch axis, from its node's __layout__ (MXNet's output_layouts)
        self.output_axes = [batch_axis(symbol[i].attr('__layout__'))
                            for i in range(len(self.output_names))]
        self._grad_req_spec = grad_req
        self.group2ctxs = _group2ctxs_per_device(group2ctxs, len(self.contexts))
        # per device, the arrays of the inputs and other non-parameter arguments, shared with
        # (and through) a shared group, as MXNet's executor group shares them
        self.shared_data_arrays = shared_group.shared_data_arrays if shared_group is not None \
            else [{} for _ in self.contexts]
        self.execs = []
        self.grad_buffers = []
        self.bind_exec(data_shapes, label_shapes, shared_group)

    # ---- binding -----------------------------------------------------------------------
    def _grad_req(self, data_names):
        spec = self._grad_req_spec
        req = {}
        for name in self.arg_names:
            if name in self.param_names:
                if not self.for_training or name in self.fixed_param_names:
                    req[name] = 'null'
                elif isinstance(spec, dict):
                    req[name] = spec.get(name, 'write')
                else:
                    req[name] = spec if isinstance(spec, str) else 'write'
            elif name in data_names:
                req[name] = 'write' if self.inputs_need_grad else 'null'
            else:
                req[name] = 'null'
        return req

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        descs = [_desc(d) for d in data_shapes] + [_desc(d) for d in (label_shapes or [])]
        self.data_shapes = data_shapes
        self.label_shapes = label_shapes
        self.data_names = [d[0] for d in (_desc(x) for x in data_shapes)]
        self.label_names = [d[0] for d in (_desc(x) for x in (label_shapes or []))]
        axes = {name: batch_axis(layout) for name, _, layout, _ in descs}
        self.batch_size = descs[0][1][axes[descs[0][0]]]
        for name, shape, _, _ in descs:
            if shape[axes[name]] != self.batch_size:
                raise MXNetError('all inputs must have the same batch size: %s has %d, %s has %d'
                                 % (descs[0][0], self.batch_size, name, shape[axes[name]]))
        self.slices = split_batch(self.batch_size, self.workload)
        self._axes = axes
        req = self._grad_req(self.data_names)
        self.grad_req = req
        types = {name: dtype for name, _, _, dtype in descs}
        old = self.execs
        self.execs = []
        per_device = []
        for i in range(len(self.contexts)):
            shapes = {}
            for name, shape, _, _ in descs:
                s = list(shape)
                s[axes[name]] = self.slices[i].stop - self.slices[i].start
                shapes[name] = tuple(s)
            per_device.append(shapes)
        if not (reshape and old):
            self._make_grad_buffers(req, types, per_device[0], shared_group)
        for i, ctx in enumerate(self.contexts):
            shapes = per_device[i]
            if reshape and old:
                # same parameter shapes (checked): the gradient views are kept
                exe = old[i].reshape(partial_shaping=True, allow_up_sizing=True, **shapes)
            else:
                shared = shared_group.execs[i] if shared_group is not None else None
                grads = self._grad_views[i] if self._grad_views else None
                exe = simple_bind(self.symbol, ctx, req, types, self.param_names, shared,
                                  self._shared_buffer(i), shapes, grad_arrays=grads,
                                  group2ctx=self.group2ctxs[i])
            self.execs.append(exe)
        self.param_arrays = [[e.arg_dict[n] for e in self.execs] for n in self.param_names]
        self.grad_arrays = [[e.grad_dict[n] for e in self.execs] for n in self.param_names] \
            if self.for_training else []
        self.aux_arrays = [[e.aux_dict[n] for e in self.execs] for n in self.aux_names]
        self.data_arrays = [[(self.slices[i], e.arg_dict[n]) for i, e in enumerate(self.execs)]
                            for n in self.data_names]
        self.label_arrays = [[(self.slices[i], e.arg_dict[n]) for i, e in enumerate(self.execs)]
                             for n in self.label_names if n in self.arg_names]
        self.input_grad_arrays = [[e.grad_dict[n] for e in self.execs] for n in self.data_names] \
            if self.inputs_need_grad else []
        self._install_grad_ready()

    def _shared_buffer(self, i):
        """Device ``i``'s dict of shared non-parameter arrays, keeping only what is not a
        parameter (those are shared through the shared group's executor)."""
        return self.shared_data_arrays[i]

    def _make_grad_buffers(self, req, types, shapes, shared_group):
        """Each device's parameter gradients, born in flat per-dtype buffers in backward
        order; a group bound with a ``shared_group`` (a BucketingModule's bucket) shares the
        shared group's buffers, so every bucket writes the same memory."""
        # row-sparse gradients (Embedding(sparse_grad=True)) live outside the flat buffers;
        # the kvstore sums them by row (reduce_gradients)
        sparse = sparse_grad_names(self.symbol.graph())
        self.sparse_grad_names = [n for n in self.param_names
                                  if req.get(n) == 'write' and n in sparse]
        names = [n for n in self.param_names if req.get(n, 'null') != 'null' and
                 n not in self.sparse_grad_names]
        if not names:
            self.grad_buffers, self._grad_views = [], []
            return
        arg_shapes, arg_types, _, _ = bind_shapes_and_types(self.symbol, shapes, types)
        shape_of = dict(zip(self.arg_names, arg_shapes))
        type_of = dict(zip(self.arg_names, arg_types))
        if shared_group is not None and shared_group.grad_buffers:
            self.grad_buffers = shared_group.grad_buffers
            # a parameter of another shape or dtype than the shared one gets its own memory
            # (the module refuses it with a message naming both)
            self._grad_views = [{n: b.views[n] for n in names if n in b.views and
                                 b.views[n].shape == shape_of[n] and
                                 b.views[n]._data.dtype == type_of[n]}
                                for b in self.grad_buffers]
            return
        order = backward_order(self.symbol.graph(), names)
        first = GradientBuffers(self.contexts[0], order, [shape_of[n] for n in order],
                                [type_of[n] for n in order])
        self.grad_buffers = [first] + [first.like(ctx) for ctx in self.contexts[1:]]
        self._grad_views = [b.views for b in self.grad_buffers]

    def set_grad_ready_callback(self, callback):
        """Call ``callback(k)`` in backward once the gradient of member ``k`` of
        ``grad_buffers[0]`` is final (one device only: the kvstore starts reducing a bucket
        from it); None: off."""
        self._grad_ready = callback
        self._install_grad_ready()

    def _install_grad_ready(self):
        callback = getattr(self, '_grad_ready', None)
        if callback is None:
            for exe in self.execs:
                exe.set_grad_ready_callback(None)
            return
        if len(self.execs) != 1:
            raise MXNetError('gradient-ready callbacks need a single device (several devices '
                             'are summed after backward)')
        exe = self.execs[0]
        layout = self.grad_buffers[0]
        grads = exe.grad_dict
        # only gradients that live in the layout are reported (a bucket's extra ones do not)
        index = [layout.index[n] if n in layout.views and grads.get(n) is layout.views[n]
                 else None for n in self.arg_names]
        exe.set_grad_ready_callback(callback, index)

    def reshape(self, data_shapes, label_shapes):
        """Re-plan the executors for new input shapes (a new batch size, a bucket's length),
        sharing memory; shapes that would change a parameter's are refused first."""
        if data_shapes == self.data_shapes and label_shapes == self.label_shapes:
            return
        self.check_input_shapes(data_shapes, label_shapes)
        self.bind_exec(data_shapes, label_shapes, reshape=True)

    def check_input_shapes(self, data_shapes, label_shapes):
        """Raise unless inputs of these shapes keep every parameter and auxiliary state the
        shape it is bound with (MXNet: "Shape of unspecified arg: ... changed")."""
        new = [_desc(d) for d in list(data_shapes) + list(label_shapes or [])]
        old = {name: shape for name, shape, _, _ in
               (_desc(d) for d in list(self.data_shapes) + list(self.label_shapes or []))}
        given = {name: shape for name, shape, _, _ in new}
        try:
            arg_shapes, _, aux_shapes = self.symbol.infer_shape_partial(**given)
        except MXNetError as err:
            raise MXNetError('inputs %s do not fit the network: %s'
                             % (_describe_inputs(new, old, self.data_names), err)) from None
        inferred = dict(zip(self.arg_names, arg_shapes))
        inferred.update(zip(self.aux_names, aux_shapes))
        for names, blocks, what in ((self.param_names, self.param_arrays, 'parameter'),
                                    (self.aux_names, self.aux_arrays, 'auxiliary state')):
            for name, block in zip(names, blocks):
                shape = tuple(inferred.get(name) or ())
                if shape and shape != block[0].shape:
                    raise MXNetError(
                        '%s: the module is bound for %s; these inputs would change %s %r '
                        'from %s to %s (MXNet: Shape of unspecified arg: %s changed). Give '
                        'batches of the bound shape, or bind a module for the new one'
                        % (_describe_inputs(new, old, self.data_names),
                           _describe_bound(new, old), what, name, block[0].shape, shape, name))

    # ---- parameters --------------------------------------------------------------------
    def check_param_shapes(self, arg_params, aux_params, source='the given parameters'):
        """Raise, naming the parameter and the inputs, when a given value's shape is not the
        one these inputs make it."""
        for names, blocks, given, what in (
                (self.param_names, self.param_arrays, arg_params, 'parameter'),
                (self.aux_names, self.aux_arrays, aux_params, 'auxiliary state')):
            for name, block in zip(names, blocks):
                value = (given or {}).get(name)
                if value is not None and tuple(value.shape) != block[0].shape:
                    inputs = ', '.join(
                        '%s %r of shape %s' % ('data' if n in self.data_names else 'label', n, s)
                        for n, s, _, _ in map(_desc, list(self.data_shapes) +
                                              list(self.label_shapes or [])))
                    raise MXNetError(
                        '%s %r has shape %s in %s, but %s make it %s: were the parameters '
                        'trained on inputs of another shape?'
                        % (what, name, tuple(value.shape), source, inputs, block[0].shape))

    def set_params(self, arg_params, aux_params, allow_extra=False):
        self.check_param_shapes(arg_params, aux_params)
        for exe in self.execs:
            exe.copy_params_from(arg_params, aux_params, allow_extra_params=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Average each parameter over the devices into ``arg_params``/``aux_params``."""
        for names, blocks, out in ((self.param_names, self.param_arrays, arg_params),
                                   (self.aux_names, self.aux_arrays, aux_params)):
            for name, block in zip(names, blocks):
                if len(block) == 1:
                    block[0].copyto(out[name])
                else:
                    total = sum(_host(w) for w in block) / len(block)
                    out[name][:] = total.astype(out[name].dtype)

    # ---- compute -----------------------------------------------------------------------
    def _load(self, targets, arrays, names, kind):
        if len(arrays) != len(targets):
            raise MXNetError('the batch has %d %s arrays but the module takes %d (%s)'
                             % (len(arrays), kind, len(targets), ', '.join(names)))
        for per_device, src, name in zip(targets, arrays, names):
            data = src._data if isinstance(src, NDArray) else np.asarray(src)
            axis = self._axes.get(name, 0)
            for sl, dst in per_device:
                part = data[(slice(None),) * axis + (sl,)] if len(per_device) > 1 else data
                if part.shape != dst.shape:
                    bound = {d[0]: d[1] for d in map(_desc, list(self.data_shapes) +
                                                     list(self.label_shapes or []))}
                    raise MXNetError('%s %r of the batch has shape %s but the module is bound '
                                     'for %s (does the batch\'s provide_%s match its arrays?)'
                                     % (kind, name, tuple(data.shape), bound.get(name), kind))
                with dst.context.device():
                    dst._data[...] = _to_module(part, dst.context)

    def forward(self, data_batch, is_train=None):
        if is_train is None:
            is_train = self.for_training
        self._load(self.data_arrays, data_batch.data, self.data_names, 'data')
        batch_labels = getattr(data_batch, 'label', None)
        if batch_labels and self.label_arrays:
            names = [n for n in self.label_names if n in self.arg_names]
            labels = [l for n, l in zip(self.label_names, batch_labels)
                      if n in self.arg_names]
            self._load(self.label_arrays, labels, names, 'label')
            self._loaded_labels = (list(batch_labels), names)
        for exe in self.execs:
            exe.forward(is_train=is_train)

    def backward(self, out_grads=None):
        if not self.for_training:
            raise MXNetError('re-bind with for_training=True to run backward')
        for i, exe in enumerate(self.execs):
            grads = None
            if out_grads is not None:
                grads = [_wrap(_to_module(g._data[(slice(None),) * axis + (self.slices[i],)]
                                          if len(self.execs) > 1 else g._data, exe._ctx),
                               exe._ctx)
                         for g, axis in zip(out_grads, self.output_axes)]
            exe.backward(out_grads=grads)

    def get_outputs(self, merge_multi_context=True):
        outputs = [[e.outputs[i] for e in self.execs] for i in range(len(self.output_names))]
        return _merge(outputs, self.output_axes) if merge_multi_context else outputs

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError('bind with inputs_need_grad=True to get input gradients')
        axes = [self._axes.get(n, 0) for n in self.data_names]
        return _merge(self.input_grad_arrays, axes) if merge_multi_context \
            else self.input_grad_arrays

    def get_states(self, merge_multi_context=True):
        states = [[e.arg_dict[n] for e in self.execs] for n in self.state_names]
        return _merge(states) if merge_multi_context else states

    def set_states(self, states=None, value=None):
        if states is not None:
            for name, per_device in zip(self.state_names, states):
                for exe, s in zip(self.execs, per_device):
                    s.copyto(exe.arg_dict[name])
        else:
            for name in self.state_names:
                for exe in self.execs:
                    exe.arg_dict[name][:] = value

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        # the labels forward loaded onto each GPU are used there: a metric then counts on
        # the device and nothing is read back per batch
        loaded, names = getattr(self, '_loaded_labels', (None, None))
        on_device = (not pre_sliced and loaded is not None and len(loaded) == len(labels)
                     and all(a is b for a, b in zip(loaded, labels))
                     and list(names) == list(self.label_names)
                     and all(c.device_type == 'gpu' for c in self.contexts))
        for i, exe in enumerate(self.execs):
            if on_device:
                labels_slice = [exe.arg_dict[n] for n in self.label_names]
            elif pre_sliced:
                labels_slice = labels[i]
            elif len(self.execs) == 1:
                labels_slice = labels
            else:
                labels_slice = [_wrap(l._data[(slice(None),) * self._axes.get(n, 0) +
                                              (self.slices[i],)], l.context)
                                for n, l in zip(self.label_names, labels)]
            label_dict = dict(zip(self.label_names, labels_slice))
            pred_dict = dict(zip(self.output_names, exe.outputs))
            eval_metric.update_dict(label_dict, pred_dict)

    def install_monitor(self, mon):
        for exe in self.execs:
            mon.install(exe)


def _changed_inputs(new, old):
    """The inputs whose shape changed beyond the batch size (else those whose shape changed
    at all, else every input), as (name, shape)."""
    def sample_shape(shape, layout):
        axis = batch_axis(layout)
        return None if shape is None else tuple(shape[:axis]) + tuple(shape[axis + 1:])
    return [(n, s) for n, s, lay, _ in new
            if sample_shape(old.get(n), lay) != sample_shape(s, lay)] or \
        [(n, s) for n, s, _, _ in new if old.get(n) != s] or [(n, s) for n, s, _, _ in new]


def _describe_inputs(new, old, data_names):
    """"data 'data' has shape (32, 30)" for the inputs whose shape changed."""
    return ', '.join('%s %r has shape %s' % ('data' if n in data_names else 'label', n, s)
                     for n, s in _changed_inputs(new, old))


def _describe_bound(new, old):
    return ', '.join('%r: %s' % (n, old.get(n)) for n, _ in _changed_inputs(new, old))


def _host(arr):
    return arr.asnumpy()


def _merge(per_output, axes=None):
    """Join each output's per-device pieces along its batch axis (copies only when needed)."""
    out = []
    for k, pieces in enumerate(per_output):
        if len(pieces) == 1:
            out.append(pieces[0])
        else:
            axis = axes[k] if axes is not None else 0
            host = np.concatenate([p.asnumpy() for p in pieces], axis=axis)
            out.append(_wrap(host, cpu()))
    return out


#: MXNet's name for the executor group (``mxnet.module.executor_group``).
DataParallelExecutorGroup = ExecutorGroup
