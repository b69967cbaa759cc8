"""Executor: a symbol compiled once into a plan of operator calls over preallocated buffers.

Binding walks the graph once: topological order, inferred shapes and dtypes, one buffer per
operator output, one gradient buffer per entry that needs a gradient, and for every backward step
the exact buffers it reads and writes.  ``forward`` and ``backward`` then only loop over that plan
calling operator functions, so a training step allocates nothing beyond what the array library
itself must.
"""
import numpy as np

from .base import MXNetError, dtype_np
from .context import Context
from .ndarray.ndarray import NDArray, _wrap, _to_module

__all__ = ['Executor', 'simple_bind']

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


class _Step:
    """One operator call: the op instance and the exact buffers it touches."""

    __slots__ = ('node', 'op', 'ins', 'outs', 'aux', 'igrads', 'ograds', 'accum')

    def __init__(self, node, op, ins, outs, aux):
        self.node, self.op, self.ins, self.outs, self.aux = node, op, ins, outs, aux
        self.igrads = self.ograds = None
        self.accum = ()      # (target, temp): target += temp after backward


class Executor:
    """Runs a bound symbol: ``forward``, ``backward``, with MXNet's dicts and lists.

    Made by ``Symbol.simple_bind`` or ``Symbol.bind``; see those for the arguments.
    """

    def __init__(self, symbol, ctx, args, args_grad=None, grad_req='write', aux_states=None):
        if not isinstance(ctx, Context):
            raise MXNetError('bind: ctx must be a Context, got %r' % (ctx,))
        self._symbol = symbol
        self._ctx = ctx
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
        self._compile()

    def _nd(self, a, what):
        if isinstance(a, NDArray):
            if a.context.device_type != self._ctx.device_type:
                raise MXNetError('bind: %s is on %s but the executor is on %s'
                                 % (what, a.context, self._ctx))
            return a
        if isinstance(a, np.ndarray):
            return _wrap(_to_module(np.ascontiguousarray(a), self._ctx), self._ctx)
        raise MXNetError('bind: %s must be an NDArray, got %s' % (what, type(a).__name__))

    # ---- compile -----------------------------------------------------------------------
    def _compile(self):
        sym, xp = self._symbol, self._xp
        given = {n: a.shape for n, a in zip(self._arg_names, self.arg_arrays)}
        given.update((n, a.shape) for n, a in zip(self._aux_names, self.aux_arrays))
        shapes = sym._infer_shapes(given)
        tgiven = {n: a._data.dtype.name for n, a in zip(self._arg_names, self.arg_arrays)}
        tgiven.update((n, a._data.dtype.name) for n, a in zip(self._aux_names, self.aux_arrays))
        types = sym._infer_types(tgiven)
        order = sym._topo()
        args_nodes, aux_nodes = sym._arg_nodes()
        for n, a in zip(args_nodes, self.arg_arrays):
            s = shapes.get((id(n), 0))
            if s is not None and tuple(s) != a.shape:
                raise MXNetError('bind: argument %r has shape %s but the graph needs %s'
                                 % (n.name, a.shape, s))
        val = {}        # entry -> array
        req = {}        # variable entry -> grad req
        gbuf = {}       # variable entry -> grad array
        for n, a, g, r in zip(args_nodes, self.arg_arrays, self.grad_arrays, self._grad_req):
            val[(id(n), 0)] = a._data
            req[(id(n), 0)] = r
            if g is not None:
                gbuf[(id(n), 0)] = g._data
        for n, a in zip(aux_nodes, self.aux_arrays):
            val[(id(n), 0)] = a._data
            req[(id(n), 0)] = 'null'
        steps = []
        with self._ctx.device():
            for node in order:
                if node.op is None:
                    continue
                op = node.make_op()
                outs = []
                for i in range(node.num_outputs()):
                    key = (id(node), i)
                    s, t = shapes.get(key), types.get(key) or 'float32'
                    if s is None or 0 in s:
                        raise MXNetError("bind: cannot infer the shape of output %d of operator "
                                         "'%s' (%s)" % (i, node.name, node.op.name))
                    val[key] = xp.empty(s, dtype=dtype_np(t))
                    outs.append(val[key])
                nargs = node.num_args()
                ins = [val[(id(s), i)] for s, i in node.inputs]
                steps.append(_Step(node, op, ins[:nargs], outs, ins[nargs:]))
            self._steps = steps
            self._val = val
            self._plan_backward(order, val, req, gbuf)
        self.outputs = [_wrap(val[(id(n), i)], self._ctx) for n, i in sym._outputs]
        self._fwd = [(s.op.forward, s.ins, s.outs, s.aux) for s in steps]

    def _plan_backward(self, order, val, req, gbuf):
        """Decide every gradient buffer and which backward steps run, once."""
        xp = self._xp
        needs = {k for k, r in req.items() if r != 'null'}
        for step in self._steps:
            node = step.node
            diff = [(s, i) for j, (s, i) in enumerate(node.inputs[:len(step.ins)])
                    if step.op.list_arguments()[j] not in step.op.nondiff
                    and (id(s), i) in needs]
            if diff:
                needs.update((id(node), i) for i in range(len(step.outs)))
        heads = [(id(n), i) for n, i in self._symbol._outputs]
        # Consumers of every entry, in backward order (reverse topological).
        consumers = {}
        for step in reversed(self._steps):
            names = step.op.list_arguments()
            for j, (s, i) in enumerate(step.node.inputs[:len(step.ins)]):
                key = (id(s), i)
                if key in needs and names[j] not in step.op.nondiff:
                    consumers.setdefault(key, []).append((step, j))
        # A head's gradient starts from its head gradient (ones unless backward is given
        # out_grads); a head that other operators also read accumulates onto a copy of it.
        self._head_grads = []
        self._head_resets = []
        grad_of = {}
        for key in heads:
            if key in needs and key not in grad_of:
                hg = xp.ones_like(val[key])
                self._head_grads.append((key, hg))
                if key in consumers:
                    grad_of[key] = gbuf[key] if key in gbuf else xp.empty_like(hg)
                    self._head_resets.append((grad_of[key], hg))
                else:
                    grad_of[key] = hg
                    if key in gbuf:
                        self._head_resets.append((gbuf[key], hg))
        for key in needs:
            if key not in grad_of:
                grad_of[key] = gbuf[key] if key in gbuf else xp.zeros_like(val[key])
        self._zero_args = []
        self._bwd = []
        head_keys = set(heads)
        for step in reversed(self._steps):
            if not any((id(step.node), i) in needs for i in range(len(step.outs))):
                continue
            step.ograds = [grad_of.get((id(step.node), i)) for i in range(len(step.outs))]
            step.ograds = [g if g is not None else xp.zeros_like(o)
                           for g, o in zip(step.ograds, step.outs)]
            step.igrads = [None] * len(step.ins)
            accum = []
            for j, (s, i) in enumerate(step.node.inputs[:len(step.ins)]):
                key = (id(s), i)
                users = consumers.get(key, ())
                if (step, j) not in users:
                    continue
                target = grad_of[key]
                first = users[0] == (step, j)
                if first and key not in head_keys and req.get(key, 'write') != 'add':
                    step.igrads[j] = target
                else:
                    temp = xp.empty_like(target)
                    step.igrads[j] = temp
                    accum.append((target, temp))
            step.accum = tuple(accum)
            self._bwd.append(step)
        # Arguments that want a gradient but receive none get zeros, as in MXNet.
        args_nodes, _ = self._symbol._arg_nodes()
        for n, r in zip(args_nodes, self._grad_req):
            key = (id(n), 0)
            if r == 'write' and key not in consumers and key not in head_keys:
                self._zero_args.append(gbuf[key])
        self._bwd_plan = [(s.op.backward, s.ograds, s.ins, s.outs, s.igrads, s.aux, s.accum)
                          for s in self._bwd]
        # Which argument gradients are final after each backward step (their last consumer
        # has run): the kvstore starts reducing a bucket as soon as all of its are final.
        pos = {(id(n), 0): i for i, n in enumerate(args_nodes)}
        last = {}
        for k, step in enumerate(self._bwd):
            for j, (s, i) in enumerate(step.node.inputs[:len(step.ins)]):
                key = (id(s), i)
                if key in pos and self._grad_req[pos[key]] != 'null' and \
                        (step, j) in consumers.get(key, ()):
                    last[key] = k
        self._ready_after = [[] for _ in self._bwd]
        for key, k in last.items():
            self._ready_after[k].append(pos[key])
        self._ready_first = [i for i, (n, r) in enumerate(zip(args_nodes, self._grad_req))
                             if r != 'null' and (id(n), 0) not in last]

    # ---- run ---------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Compute the outputs; keyword arguments are copied into ``arg_dict`` first."""
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
        xp = self._xp
        if self._monitor is None:
            for fwd, ins, outs, aux in self._fwd:
                fwd(xp, ins, outs, aux, is_train)
        else:
            for step in self._steps:
                step.op.forward(xp, step.ins, step.outs, step.aux, is_train)
                self._monitor_step(step)
        return self.outputs

    def backward(self, out_grads=None, is_train=True):
        """Propagate gradients into ``grad_arrays`` (``out_grads`` default to ones)."""
        xp = self._xp
        if out_grads is not None:
            if isinstance(out_grads, NDArray):
                out_grads = [out_grads]
            heads = dict(self._head_grads)
            keys = [(id(n), i) for n, i in self._symbol._outputs]
            if len(out_grads) != len(keys):
                raise MXNetError('backward: %d out_grads for %d outputs'
                                 % (len(out_grads), len(keys)))
            for key, g in zip(keys, out_grads):
                if key in heads and g is not None:
                    src = g._data if isinstance(g, NDArray) else xp.asarray(g)
                    heads[key][...] = _to_module(src, self._ctx)
        for g in self._zero_args:
            g.fill(0)
        for target, hg in self._head_resets:
            target[...] = hg
        ready = self._grad_ready
        if ready is None:
            for bwd, ograds, ins, outs, igrads, aux, accum in self._bwd_plan:
                bwd(xp, ograds, ins, outs, igrads, aux)
                for target, temp in accum:
                    target += temp
            return
        for i in self._ready_first:
            ready(i)
        for (bwd, ograds, ins, outs, igrads, aux, accum), done in zip(self._bwd_plan,
                                                                      self._ready_after):
            bwd(xp, ograds, ins, outs, igrads, aux)
            for target, temp in accum:
                target += temp
            for i in done:
                ready(i)

    def adopt_grad_buffers(self, buffers):
        """Use ``buffers`` (raw arrays, one per argument, None to keep) as gradient memory.

        The current gradients are copied in and the plan is rebuilt once; the data-parallel
        kvstore hands in views of its fused buckets, so reducing needs no copies.
        """
        for g, buf in zip(self.grad_arrays, buffers):
            if buf is None or g is None:
                continue
            if tuple(buf.shape) != g.shape or buf.dtype != g._data.dtype:
                raise MXNetError('adopt_grad_buffers: buffer %s %s for gradient %s %s'
                                 % (tuple(buf.shape), buf.dtype, g.shape, g._data.dtype))
            buf[...] = g._data
            g._data = buf
        self._compile()

    def set_grad_ready_callback(self, callback):
        """Call ``callback(i)`` during ``backward`` as soon as ``grad_arrays[i]`` is final.

        Every argument with a gradient is reported exactly once per ``backward``; the data
        parallel kvstore uses this to start reducing gradients while backward goes on.
        ``None`` turns it off.
        """
        self._grad_ready = callback

    # ---- monitor -----------------------------------------------------------------------
    def set_monitor_callback(self, callback, monitor_all=False):
        """Call ``callback(name, NDArray)`` on every operator output (and input if asked)."""
        self._monitor = (callback, monitor_all)

    def _monitor_step(self, step):
        callback, monitor_all = self._monitor
        node = step.node
        if monitor_all:
            for (src, i), arr in zip(node.inputs, step.ins + step.aux):
                callback(src.output_names()[i], _wrap(arr, self._ctx))
        for name, arr in zip(node.output_names(), step.outs):
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
        return Executor(self._symbol, self._ctx, args, grads, self._grad_req, aux)

    def debug_str(self):
        return self._symbol.debug_str()


def simple_bind(symbol, ctx, grad_req, type_dict, shared_arg_names, shared_exec, shared_buffer,
                shapes):
    """Allocate arrays for ``symbol`` from input ``shapes`` and bind (Symbol.simple_bind)."""
    arg_names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()
    known = symbol._infer_shapes(symbol._given((), shapes, 'simple_bind'))
    arg_shapes, _, aux_shapes = symbol._shape_lists(known)
    missing = [n for n, s in zip(arg_names + aux_names, arg_shapes + aux_shapes)
               if s is None or 0 in s]
    if missing:
        raise MXNetError('simple_bind: cannot infer the shapes of %s from the given shapes %s; '
                         'give them as keyword arguments' % (missing, shapes))
    tgiven = {k: dtype_np(v).name for k, v in (type_dict or {}).items()}
    types = symbol._infer_types(symbol._given((), tgiven, 'simple_bind type_dict'))
    args_nodes, aux_nodes = symbol._arg_nodes()
    # Unknown dtypes default to float32, then inference runs again to spread the choice.
    for n in args_nodes + aux_nodes:
        tgiven.setdefault(n.name, types.get((id(n), 0)) or 'float32')
    types = symbol._infer_types(tgiven)
    arg_types = [types[(id(n), 0)] for n in args_nodes]
    aux_types = [types[(id(n), 0)] for n in aux_nodes]
    reqs = _grad_reqs(grad_req, arg_names)
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
            if n in shared and shared[n][0].shape == tuple(s):
                a, g = shared[n]
            elif shared_buffer is not None and n in shared_buffer and \
                    shared_buffer[n].shape == tuple(s):
                a, g = shared_buffer[n], None
            else:
                a, g = _wrap(xp.zeros(s, dtype=t), ctx), None
                if shared_buffer is not None and n not in shared_buffer:
                    shared_buffer[n] = a
            if r != 'null' and (g is None or g.shape != tuple(s)):
                g = _wrap(xp.zeros(s, dtype=t), ctx)
            args.append(a)
            grads.append(g if r != 'null' else None)
        for n, s, t in zip(aux_names, aux_shapes, aux_types):
            if shared_exec is not None and n in shared_exec.aux_dict and \
                    shared_exec.aux_dict[n].shape == tuple(s):
                aux.append(shared_exec.aux_dict[n])
            else:
                aux.append(_wrap(xp.zeros(s, dtype=t), ctx))
    return Executor(symbol, ctx, args, grads, reqs, aux)
