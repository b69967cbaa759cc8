"""Executor: a symbol compiled once into a plan of operator calls over preallocated buffers.

Binding compiles the symbol's graph into a :class:`~distmod.executor.plan.Plan` (topological
order, inferred shapes and dtypes, one buffer per operator output, one gradient buffer per
entry that needs a gradient, the exact buffers every backward step reads and writes).
``forward`` and ``backward`` then only loop over that plan calling operator functions, so a
training step allocates nothing beyond what the array library itself must.
"""
import numpy as np

from .. import profiler
from ..base import MXNetError, dtype_np
from ..context import Context
from ..ndarray.ndarray import NDArray, _wrap, _to_module
from .plan import (compile_plan, eliminate_common_expr, _cse_enabled, place_by_group,
                   variable_contexts)
from .plan import sparse_grad_names

__all__ = ['Executor', 'simple_bind', 'bind_shapes_and_types']

_REQS = ('null', 'write', 'add', 'inplace')


def _as_list(values, names, what, allow_none=False):
    """``values`` (list or dict by name) as a list ordered like ``names``."""
    if values is None:
        return [None] * len(names)
    if isinstance(values, dict):
        unknown = [k for k in values if k not in names]
        if unknown:
            raise MXNetError('%s: %s are not among %s' % (what, unknown, names))
        out = [values.get(n) for n in names]
    else:
        out = list(values)
        if len(out) != len(names):
            raise MXNetError('%s: %d arrays given for %d names %s'
                             % (what, len(out), len(names), names))
    if not allow_none:
        missing = [n for n, v in zip(names, out) if v is None]
        if missing:
            raise MXNetError('%s: missing %s' % (what, missing))
    return out


def _grad_reqs(grad_req, names):
    if isinstance(grad_req, str):
        reqs = [grad_req] * len(names)
    elif isinstance(grad_req, dict):
        unknown = [k for k in grad_req if k not in names]
        if unknown:
            raise MXNetError('grad_req names %s that are not arguments %s' % (unknown, names))
        reqs = [grad_req.get(n, 'null') for n in names]
    else:
        reqs = list(grad_req)
        if len(reqs) != len(names):
            raise MXNetError('grad_req has %d entries for %d arguments' % (len(reqs), len(names)))
    bad = [r for r in reqs if r not in _REQS]
    if bad:
        raise MXNetError('grad_req must be one of %s, got %s' % (_REQS, bad))
    return ['write' if r == 'inplace' else r for r in reqs]


class Executor:
    """Runs a bound symbol: ``forward``, ``backward``, with MXNet's dicts and lists.

    Made by ``Symbol.simple_bind`` or ``Symbol.bind``; see those for the arguments.
    """

    def __init__(self, symbol, ctx, args, args_grad=None, grad_req='write', aux_states=None,
                 group2ctx=None, _reshaped_from=None):
        if not isinstance(ctx, Context):
            raise MXNetError('bind: ctx must be a Context, got %r' % (ctx,))
        self._symbol = symbol
        self._ctx = ctx
        self._group2ctx = _group_map(group2ctx)
        self._xp = ctx.xp
        arg_names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        self._arg_names, self._aux_names = arg_names, aux_names
        self.arg_arrays = [self._nd(a, 'argument %r' % n)
                           for n, a in zip(arg_names, _as_list(args, arg_names, 'bind args'))]
        grads = _as_list(args_grad, arg_names, 'bind args_grad', allow_none=True)
        reqs = _grad_reqs(grad_req, arg_names) if args_grad is not None else \
            ['null'] * len(arg_names)
        self._grad_req = ['null' if g is None else r for g, r in zip(grads, reqs)]
        self.grad_arrays = [None if r == 'null' else self._nd(g, 'gradient of %r' % n)
                            for n, g, r in zip(arg_names, grads, self._grad_req)]
        self.aux_arrays = [self._nd(a, 'auxiliary state %r' % n) for n, a in
                           zip(aux_names, _as_list(aux_states, aux_names, 'bind aux_states'))]
        self._monitor = None
        self._grad_ready = None
        self._ready_index = None
        self._reshaped_from = _reshaped_from
        self._compile()
        self._reshaped_from = None

    def _nd(self, a, what):
        if isinstance(a, NDArray):
            if a.context.device_type != self._ctx.device_type and not self._group2ctx:
                raise MXNetError('bind: %s is on %s but the executor is on %s'
                                 % (what, a.context, self._ctx))
            return a
        if isinstance(a, np.ndarray):
            return _wrap(_to_module(np.ascontiguousarray(a), self._ctx), self._ctx)
        raise MXNetError('bind: %s must be an NDArray, got %s' % (what, type(a).__name__))

    # ---- compile -----------------------------------------------------------------------
    def _compile(self):
        old = self._reshaped_from
        if old is not None:
            self._optimized = old._optimized      # the same nodes: the memory is shared
        else:
            self._optimized = eliminate_common_expr(self._symbol) if _cse_enabled() \
                else self._symbol
            self._optimized, self._where = place_by_group(self._optimized, self._ctx,
                                                          self._group2ctx)
        if old is not None:
            self._where = old._where
        self._graph = graph = self._optimized.graph()
        plan = compile_plan(graph, self._ctx, [a._data for a in self.arg_arrays],
                            self._grad_buffers(graph),
                            self._grad_req, [a._data for a in self.aux_arrays],
                            shared=old._plan if old is not None else None, where=self._where)
        self._plan = plan
        self.outputs = [_wrap(o, plan.entry_ctx.get((id(n), i), self._ctx))
                        for o, (n, i) in zip(plan.outputs, graph.heads)]
        self._map_ready()

    def _grad_buffers(self, graph):
        """The raw gradient buffers: arrays, and the storage of row-sparse gradients (only
        for arguments whose every consumer writes a row-sparse gradient)."""
        out, sparse_ok = [], None
        for name, g, req in zip(self._arg_names, self.grad_arrays, self._grad_req):
            if g is None or not g._sparse:
                out.append(None if g is None else g._data)
                continue
            if sparse_ok is None:
                sparse_ok = sparse_grad_names(graph)
            if g.stype != 'row_sparse' or name not in sparse_ok or req != 'write':
                raise MXNetError('bind: the gradient of %r is %s, but only an argument that '
                                 'only Embedding(sparse_grad=True)/SparseEmbedding '
                                 'differentiate, with grad_req \'write\', can have a '
                                 'row_sparse gradient' % (name, g.stype))
            out.append(g._sp)
        return out

    def _map_ready(self):
        """The gradient-ready points in the callback's own indices (once, not per step)."""
        plan, index = self._plan, self._ready_index
        if index is None:
            self._ready_first, self._ready_after = plan.ready_first, plan.ready_after
            return
        self._ready_first = [index[i] for i in plan.ready_first if index[i] is not None]
        self._ready_after = [[index[i] for i in done if index[i] is not None]
                             for done in plan.ready_after]

    # ---- run ---------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Compute the outputs; keyword arguments are copied into ``arg_dict`` first."""
        with self._ctx.device():            # CuPy computes on the current device
            return self._forward(is_train, kwargs)

    def _forward(self, is_train, kwargs):
        if kwargs:
            arg_dict = self.arg_dict
            for name, value in kwargs.items():
                if name not in arg_dict:
                    raise MXNetError('forward: unknown argument %r; arguments are %s'
                                     % (name, self._arg_names))
                dst = arg_dict[name]
                if isinstance(value, NDArray):
                    value = _to_module(value._data, self._ctx)
                if getattr(value, 'shape', dst.shape) != dst.shape:
                    raise MXNetError('forward: argument %r has shape %s, the executor was bound '
                                     'with %s' % (name, value.shape, dst.shape))
                dst._data[...] = value
        prof = profiler.symbolic         # the profiler's one cost when it is off
        if prof is not None:
            self._forward_profiled(prof, is_train)
        elif self._monitor is None:
            for fwd, xp, ins, outs, aux in self._plan.forward:
                fwd(xp, ins, outs, aux, is_train)
        else:
            for step, (fwd, xp, ins, outs, aux) in zip(self._plan.steps, self._plan.forward):
                self._monitor_inputs(step)
                fwd(xp, ins, outs, aux, is_train)
                self._monitor_step(step)
        return self.outputs

    def backward(self, out_grads=None, is_train=True):
        """Propagate gradients into ``grad_arrays`` (``out_grads`` default to ones)."""
        with self._ctx.device():
            self._backward(out_grads)

    def _backward(self, out_grads):
        xp = self._xp
        plan = self._plan
        if out_grads is not None:
            if isinstance(out_grads, NDArray):
                out_grads = [out_grads]
            heads = dict(plan.head_grads)
            if len(out_grads) != len(plan.head_keys):
                raise MXNetError('backward: %d out_grads for %d outputs'
                                 % (len(out_grads), len(plan.head_keys)))
            for key, g in zip(plan.head_keys, out_grads):
                if key in heads and g is not None:
                    src = g._data if isinstance(g, NDArray) else xp.asarray(g)
                    heads[key][...] = _to_module(src, self._ctx)
        for g in plan.zero_args:
            g.fill(0)
        for target, hg in plan.head_resets:
            target[...] = hg
        ready = self._grad_ready
        prof = profiler.symbolic
        if prof is not None or self._monitor is not None:
            self._backward_profiled(prof, ready)
            return
        if ready is None:
            for bwd, sxp, ograds, ins, outs, igrads, aux, accum in plan.backward:
                bwd(sxp, ograds, ins, outs, igrads, aux)
                for target, temp in accum:
                    target += temp
            return
        for i in self._ready_first:
            ready(i)
        for (bwd, sxp, ograds, ins, outs, igrads, aux, accum), done in zip(plan.backward,
                                                                           self._ready_after):
            bwd(sxp, ograds, ins, outs, igrads, aux)
            for target, temp in accum:
                target += temp
            for i in done:
                ready(i)

    # ---- profiler ----------------------------------------------------------------------
    def _forward_profiled(self, prof, is_train):
        """``forward`` while ``mx.profiler`` records: the same calls, each one timed."""
        clock = prof.clock
        record = prof.operator_recorder(self._ctx)
        start = clock()
        for step, (fwd, xp, ins, outs, aux) in zip(self._plan.steps, self._plan.forward):
            if self._monitor is not None:
                self._monitor_inputs(step)
            t0 = clock()
            fwd(xp, ins, outs, aux, is_train)
            record(step.op.name, step.node.name, t0)
            if self._monitor is not None:
                self._monitor_step(step)
        prof.api('MXExecutorForward', start)

    def _backward_profiled(self, prof, ready):
        """The operator loop of ``backward`` while ``mx.profiler`` records (each call timed
        as ``_backward_NAME``, MXNet's name) or a monitor watches (each step's input
        gradients reported as ``NODE_backward_output[i]``, MXNet's names)."""
        import time
        clock = prof.clock if prof is not None else time.perf_counter
        plan = self._plan
        record = prof.operator_recorder(self._ctx) if prof is not None else None
        # plan.backward holds the steps that have a backward, in reverse forward order
        steps = [s for s in reversed(plan.steps) if s.igrads is not None]
        if len(steps) != len(plan.backward):
            steps = [None] * len(plan.backward)
        after = self._ready_after if ready is not None else [()] * len(plan.backward)
        start = clock()
        if ready is not None:
            for i in self._ready_first:
                ready(i)
        for (bwd, sxp, ograds, ins, outs, igrads, aux, accum), step, done in zip(
                plan.backward, steps, after):
            t0 = clock()
            bwd(sxp, ograds, ins, outs, igrads, aux)
            for target, temp in accum:
                target += temp
            if record is not None:
                if step is None:
                    record('_backward', None, t0)
                else:
                    record('_backward_' + step.op.name, step.node.name, t0)
            if self._monitor is not None and step is not None:
                self._monitor_backward(step)
            for i in done:
                ready(i)
        if prof is not None:
            prof.api('MXExecutorBackwardEx', start)

    def _monitor_backward(self, step):
        """Report a backward step's input gradients, named as MXNet names them (a gradient
        nobody needs is reported as zeros, as MXNet computes it)."""
        callback, _ = self._monitor
        n = len(step.ins)
        for j, (g, x) in enumerate(zip(step.igrads, step.ins)):
            if g is None:
                g = step.xp.zeros_like(x)
            name = '%s_backward_output%s' % (step.node.name, j if n > 1 else '')
            callback(name, _wrap(g, step.ctx or self._ctx))

    def set_grad_ready_callback(self, callback, index=None):
        """Call ``callback(k)`` during ``backward`` as soon as a gradient is final.

        ``k`` is the argument's position, or ``index[position]`` when ``index`` (a list over
        the arguments, None for those not to report) is given: the executor group passes its
        gradient layout's member numbers, so the kvstore's ``ready`` is called directly.
        Every reported gradient is reported exactly once per ``backward``; ``None`` turns it
        off.
        """
        if index is not None and len(index) != len(self._arg_names):
            raise MXNetError('set_grad_ready_callback: index has %d entries for %d arguments'
                             % (len(index), len(self._arg_names)))
        self._grad_ready = callback
        self._ready_index = None if callback is None else index
        self._map_ready()

    # ---- monitor -----------------------------------------------------------------------
    def set_monitor_callback(self, callback, monitor_all=False):
        """Call ``callback(name, NDArray)`` on every operator output (and input if asked)."""
        self._monitor = (callback, monitor_all)

    def _monitor_inputs(self, step):
        """``monitor_all``: a step's inputs, reported before it runs (as MXNet does), since
        an operator may write its output over an input it was the last to read."""
        callback, monitor_all = self._monitor
        if monitor_all:
            for (src, i), arr in zip(step.node.inputs, step.ins + step.aux):
                callback(src.output_names()[i], _wrap(arr, self._ctx))

    def _monitor_step(self, step):
        callback, _ = self._monitor
        for name, arr in zip(step.node.output_names(), step.outs):
            callback(name, _wrap(arr, self._ctx))

    # ---- dictionaries ------------------------------------------------------------------
    @property
    def arg_dict(self):
        return dict(zip(self._arg_names, self.arg_arrays))

    @property
    def grad_dict(self):
        return dict(zip(self._arg_names, self.grad_arrays))

    @property
    def aux_dict(self):
        return dict(zip(self._aux_names, self.aux_arrays))

    @property
    def output_dict(self):
        return dict(zip(self._symbol.list_outputs(), self.outputs))

    @property
    def symbol(self):
        return self._symbol

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        """Copy values into this executor's arrays (names must match unless allowed)."""
        for name, array in arg_params.items():
            if name in self.arg_dict:
                array.copyto(self.arg_dict[name]) if isinstance(array, NDArray) else \
                    self.arg_dict[name].__setitem__(slice(None), array)
            elif not allow_extra_params:
                raise ValueError('Find name "%s" that is not in the arguments' % name)
        for name, array in (aux_params or {}).items():
            if name in self.aux_dict:
                array.copyto(self.aux_dict[name]) if isinstance(array, NDArray) else \
                    self.aux_dict[name].__setitem__(slice(None), array)
            elif not allow_extra_params:
                raise ValueError('Find name %s that is not in the auxiliary states' % name)

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new input shapes, sharing memory with this one.

        Arrays whose shape is unchanged are shared; a smaller array is a view into the old
        memory; a larger one needs ``allow_up_sizing`` (then it is newly allocated).
        """
        arg_shapes, _, aux_shapes = self._symbol.infer_shape(**kwargs)
        if arg_shapes is None:
            raise MXNetError('reshape: the given shapes %s do not determine every argument'
                             % kwargs)

        def share(name, old, shape, what):
            if old is None:
                return None
            if old.shape == tuple(shape):
                return old
            if name not in kwargs and not partial_shaping:
                raise MXNetError('reshape: shape of %s %r changes from %s to %s; pass '
                                 'partial_shaping=True to allow it' % (what, name, old.shape,
                                                                        tuple(shape)))
            size = int(np.prod(shape))
            if size > old.size:
                if not allow_up_sizing:
                    raise MXNetError('reshape: %s %r grows from %s to %s; pass '
                                     'allow_up_sizing=True' % (what, name, old.shape,
                                                               tuple(shape)))
                with self._ctx.device():
                    return _wrap(self._xp.zeros(shape, dtype=old._data.dtype), self._ctx)
            return _wrap(old._data.reshape(-1)[:size].reshape(shape), self._ctx)

        args = [share(n, a, s, 'argument') for n, a, s in
                zip(self._arg_names, self.arg_arrays, arg_shapes)]
        grads = [share(n, g, s, 'gradient') for n, g, s in
                 zip(self._arg_names, self.grad_arrays, arg_shapes)]
        aux = [share(n, a, s, 'auxiliary state') for n, a, s in
               zip(self._aux_names, self.aux_arrays, aux_shapes)]
        return Executor(self._symbol, self._ctx, args, grads, self._grad_req, aux,
                        group2ctx=self._group2ctx, _reshaped_from=self)

    def get_optimized_symbol(self):
        """The graph this executor runs: the bound symbol after common expressions were
        merged (``MXNET_ELIMINATE_COMMON_EXPR=0`` keeps it as bound)."""
        return self._optimized

    def debug_str(self):
        """The graph, then the memory the plan takes (MXNet's ``Total N MB allocated``)."""
        plan = self._plan
        return '%s\nTotal %d MB allocated\nTotal %d TempSpace resource requested\n' % (
            self._optimized.debug_str(), plan.bytes >> 20, 0)


def bind_shapes_and_types(symbol, shapes, type_dict=None):
    """``(arg_shapes, arg_types, aux_shapes, aux_types)`` that binding ``symbol`` with these
    input ``shapes`` (and dtypes; float32 where nothing decides) allocates."""
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
    missing = [n for n, s in zip(symbol.list_arguments() + symbol.list_auxiliary_states(),
                                 arg_shapes + aux_shapes) if not s or 0 in s]
    if missing:
        raise MXNetError('simple_bind: cannot infer the shapes of %s from the given shapes %s; '
                         'give them as keyword arguments' % (missing, shapes))
    arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
    given = {k: dtype_np(v).name for k, v in (type_dict or {}).items()}
    arg_types, _, aux_types = symbol.infer_type_partial(**given)
    # Unknown dtypes default to float32, then inference runs again to spread the choice.
    for n, t in zip(arg_names + aux_names, list(arg_types) + list(aux_types)):
        given.setdefault(n, np.dtype(t).name if t is not None else 'float32')
    arg_types, _, aux_types = symbol.infer_type(**given)
    return ([tuple(s) for s in arg_shapes], [np.dtype(t) for t in arg_types],
            [tuple(s) for s in aux_shapes], [np.dtype(t) for t in aux_types])


def simple_bind(symbol, ctx, grad_req, type_dict, shared_arg_names, shared_exec, shared_buffer,
                shapes, grad_arrays=None, group2ctx=None):
    """Allocate arrays for ``symbol`` from input ``shapes`` and bind (Symbol.simple_bind).

    ``grad_arrays`` ({name: NDArray}) gives the gradient memory of some arguments (the
    executor group's flat gradient buffers); the rest is allocated here or shared with
    ``shared_exec``/``shared_buffer`` as in MXNet.  With ``group2ctx`` (model parallelism)
    each variable's arrays live on the context of its ``ctx_group``.
    """
    group2ctx = _group_map(group2ctx)
    placed = variable_contexts(symbol, ctx, group2ctx)

    def zeros(name, shape, dtype):
        c = placed.get(name, ctx)
        with c.device():
            return _wrap(c.xp.zeros(shape, dtype=dtype), c)
    arg_names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()
    arg_shapes, arg_types, aux_shapes, aux_types = bind_shapes_and_types(symbol, shapes,
                                                                         type_dict)
    reqs = _grad_reqs(grad_req, arg_names)
    grad_arrays = grad_arrays or {}
    sparse = sparse_grad_names(symbol.graph())
    shared = {}
    if shared_exec is not None:
        names = shared_arg_names if shared_arg_names is not None else arg_names
        for n in names:
            if n in shared_exec.arg_dict:
                shared[n] = (shared_exec.arg_dict[n], shared_exec.grad_dict.get(n))
    xp = ctx.xp
    args, grads, aux = [], [], []
    with ctx.device():
        for n, s, t, r in zip(arg_names, arg_shapes, arg_types, reqs):
            # MXNet's rule: the shared_arg_names (parameters) come from shared_exec, every
            # other argument through shared_buffer (added there when new)
            buffered = shared_buffer is not None and \
                (shared_arg_names is None or n not in shared_arg_names)
            if n in shared and shared[n][0].shape == s:
                a, g = shared[n]
            elif buffered and n in shared_buffer and shared_buffer[n].shape == s:
                a, g = shared_buffer[n], None
            else:
                a, g = zeros(n, s, t), None
                if buffered and n not in shared_buffer:
                    shared_buffer[n] = a
            if r != 'null' and n in grad_arrays:
                g = grad_arrays[n]
                if g.shape != s or g._data.dtype != t:
                    raise MXNetError('simple_bind: the gradient memory given for %r is %s %s, '
                                     'the argument is %s %s' % (n, g.shape, g._data.dtype, s, t))
            elif r == 'write' and n in sparse and (g is None or g.shape != s):
                from ..ndarray.sparse import zeros as sparse_zeros
                g = sparse_zeros('row_sparse', s, ctx, t)     # as MXNet: row-sparse gradient
            elif r != 'null' and (g is None or g.shape != s):
                g = zeros(n, s, t)
            args.append(a)
            grads.append(g if r != 'null' else None)
        for n, s, t in zip(aux_names, aux_shapes, aux_types):
            if shared_exec is not None and n in shared_exec.aux_dict and \
                    shared_exec.aux_dict[n].shape == s:
                aux.append(shared_exec.aux_dict[n])
            else:
                aux.append(zeros(n, s, t))
    return Executor(symbol, ctx, args, grads, reqs, aux, group2ctx=group2ctx)


def _group_map(group2ctx):
    """``{group: Context}`` from MXNet's ``group2ctx`` (a Context or a one-element list per
    group); None or empty: no model parallelism."""
    if not group2ctx:
        return None
    out = {}
    for group, ctx in group2ctx.items():
        if isinstance(ctx, (list, tuple)):
            if len(ctx) != 1:
                raise MXNetError('group2ctx[%r] must be one context for one executor, got %s'
                                 % (group, list(ctx)))
            ctx = ctx[0]
        if not isinstance(ctx, Context):
            raise MXNetError('group2ctx[%r] must be a Context, got %r' % (group, ctx))
        out[group] = ctx
    return out
