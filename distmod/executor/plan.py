"""The plan of a bound symbol: every operator call of forward and backward, over fixed buffers.

:func:`compile_plan` walks a :class:`~distmod.symbol.symbol.Graph` once: one buffer per
operator output, one gradient buffer per entry that needs a gradient, and for every backward
step the exact buffers it reads and writes, plus which argument gradients are final after
each step (the kvstore starts reducing a bucket as soon as all of its gradients are).

:func:`backward_order` tells, before any buffer exists, the order in which backward finishes
the gradients of some arguments: the executor group lays each dtype's parameter gradients
out in that order in one flat buffer, so that the kvstore's buckets are slices of it.
"""
import os

import numpy as np

from ..base import MXNetError, dtype_np

__all__ = ['Plan', 'compile_plan', 'backward_order', 'SHARE_MEMORY']

#: Reuse the memory of dead forward values (``DISTMOD_SHARE_MEMORY=0``: one buffer per
#: operator output, as a debugging aid).
SHARE_MEMORY = os.environ.get('DISTMOD_SHARE_MEMORY', '1') != '0'


class Step:
    """One operator call: the op instance, the context it runs on (its array module ``xp``)
    and the exact buffers it touches."""

    __slots__ = ('node', 'op', 'ins', 'outs', 'aux', 'igrads', 'ograds', 'accum', 'ctx', 'xp')

    def __init__(self, node, op, ins, outs, aux, ctx=None):
        self.node, self.op, self.ins, self.outs, self.aux = node, op, ins, outs, aux
        self.igrads = self.ograds = None
        self.accum = ()      # (target, temp): target += temp after backward
        self.ctx = ctx
        self.xp = ctx.xp if ctx is not None else None


class Plan:
    """What :func:`compile_plan` decided; the executor only loops over it.

    - ``steps``: every operator call in forward order; ``forward``: their
      ``(forward, xp, ins, outs, aux)``;
    - ``backward``: ``(backward, xp, ograds, ins, outs, igrads, aux, accum)`` per backward
      step;
    - ``outputs``: the raw arrays of the symbol's outputs;
    - ``head_grads``: ``(entry, buffer)`` for each output that needs a head gradient;
      ``head_resets``: ``(target, source)`` copied before backward starts;
    - ``zero_args``: argument gradients no operator writes (zeros, as in MXNet);
    - ``ready_first``/``ready_after``: argument positions whose gradient is final before any
      backward step / after each backward step;
    - ``bytes``: the memory of the operator outputs, their gradients and the accumulation
      temporaries, from one pool (dead values' buffers are reused); ``unshared_bytes``: what
      one buffer for each would take.
    """

    __slots__ = ('steps', 'forward', 'backward', 'outputs', 'head_keys', 'head_grads',
                 'head_resets', 'zero_args', 'ready_first', 'ready_after', 'bytes',
                 'unshared_bytes', 'pool', 'entry_ctx')


def _differentiable_inputs(step):
    """``(position, entry)`` of the inputs a gradient flows to (none through an operator whose
    backward is zero, such as BlockGrad: nothing upstream needs a backward for it)."""
    if getattr(step.op, 'zero_gradient', False):
        return []
    names = step.op.list_arguments()
    return [(j, (id(s), i)) for j, (s, i) in enumerate(step.node.inputs[:len(names)])
            if names[j] not in step.op.nondiff]


def compile_plan(graph, ctx, arg_arrays, grad_arrays, grad_req, aux_arrays, shared=None,
                 where=None):
    """The :class:`Plan` for ``graph`` bound to these raw arrays on ``ctx``.

    ``arg_arrays``/``aux_arrays`` are raw arrays in ``graph.arguments``/``graph.auxiliary``
    order; ``grad_arrays`` a raw array or None per argument, ``grad_req`` its request.
    ``shared``: the plan of an executor this one reshapes (its memory is taken again);
    ``where``: ``{id(node): context}`` when operators run on several contexts (model
    parallelism; ``place_by_group`` makes it and puts copies where the graph crosses them).
    """
    xp = ctx.xp
    where = where or {}
    given = {n.name: a.shape for n, a in zip(graph.arguments, arg_arrays)}
    given.update((n.name, a.shape) for n, a in zip(graph.auxiliary, aux_arrays))
    shapes = graph.infer_shapes(given)
    tgiven = {n.name: a.dtype.name for n, a in zip(graph.arguments, arg_arrays)}
    tgiven.update((n.name, a.dtype.name) for n, a in zip(graph.auxiliary, aux_arrays))
    types = graph.infer_types(tgiven)
    for n, a in zip(graph.arguments, arg_arrays):
        s = shapes.get((id(n), 0))
        if s is not None and tuple(s) != a.shape:
            raise MXNetError('bind: argument %r has shape %s but the graph needs %s'
                             % (n.name, a.shape, s))
    val = {}        # entry -> array
    req = {}        # variable entry -> grad req
    gbuf = {}       # variable entry -> grad array
    for n, a, g, r in zip(graph.arguments, arg_arrays, grad_arrays, grad_req):
        val[(id(n), 0)] = a
        req[(id(n), 0)] = r
        if g is not None:
            gbuf[(id(n), 0)] = g
    for n, a in zip(graph.auxiliary, aux_arrays):
        val[(id(n), 0)] = a
        req[(id(n), 0)] = 'null'
    plan = Plan()
    steps = [Step(node, node.make_op(), None, None, None, where.get(id(node), ctx))
             for node in graph.nodes if node.op is not None]
    for s in steps:                  # operators that name their node in messages
        if hasattr(type(s.op), 'node_name'):
            s.op.node_name = s.node.name
    # where each value lives: its producer's context (a variable's: where it is placed)
    plan.entry_ctx = {(id(s.node), i): s.ctx for s in steps
                      for i in range(s.node.num_outputs())}
    plan.entry_ctx.update(((id(n), 0), where.get(id(n), ctx))
                          for n in graph.arguments + graph.auxiliary)
    for step in steps:
        node = step.node
        for i in range(node.num_outputs()):
            s = shapes.get((id(node), i))
            if s is None or 0 in s:
                raise MXNetError("bind: cannot infer the shape of output %d of operator "
                                 "'%s' (%s)" % (i, node.name, node.op.name))
    _allocate_outputs(plan, graph, steps, ctx, shapes, types, val, req,
                      shared.pool.base_of if shared is not None else None)
    for step in steps:
        node = step.node
        nargs = node.num_args()
        ins = [val[(id(s), i)] for s, i in node.inputs]
        step.ins, step.aux = ins[:nargs], ins[nargs:]
        step.outs = [val[(id(node), i)] for i in range(node.num_outputs())]
    plan.steps = steps
    _plan_backward(plan, graph, ctx, val, req, gbuf, grad_req)
    plan.outputs = [val[(id(n), i)] for n, i in graph.heads]
    plan.forward = [(_scoped(s.op.forward, s, ctx), s.xp, s.ins, s.outs, s.aux)
                    for s in steps]
    return plan


def _scoped(fn, step, ctx):
    """``fn`` run with ``step``'s GPU current where that is not the executor's own (model
    parallelism): CuPy launches a kernel on the current device only.  The executor makes its
    own device current around forward and backward."""
    c = step.ctx
    if c is None or c.device_type != 'gpu' or c == ctx:
        return fn

    def on_device(*args):
        with c.device():
            return fn(*args)
    return on_device


def _needs_gradient(steps, req, heads):
    """The entries whose gradient backward computes: those that depend on an argument that
    wants a gradient and that a head's gradient reaches (not through a BlockGrad)."""
    needs = {k for k, r in req.items() if r != 'null'}
    for step in steps:
        if any(key in needs for _, key in _differentiable_inputs(step)):
            needs.update((id(step.node), i) for i in range(step.node.num_outputs()))
    reach = set(heads)
    for step in reversed(steps):
        if any((id(step.node), i) in reach for i in range(step.node.num_outputs())):
            reach.update(key for _, key in _differentiable_inputs(step))
    return needs & reach


def _allocate_outputs(plan, graph, steps, ctx, shapes, types, val, req, prefer=None):
    """Give every operator output a buffer, reusing memory where the values are dead.

    A value must live until its last reader in forward, and, when a step whose backward
    runs declares it kept (``retained_inputs()``/``retained_outputs()``), until backward;
    the symbol's outputs live on.  A buffer whose value is dead goes back to a pool (per
    dtype) that later outputs take from, so inference keeps only what is live at once, and
    training keeps what backward needs plus that; the gradients of operator outputs come
    from the same pool in backward.
    """
    needs = _needs_gradient(steps, req, [(id(n), i) for n, i in graph.heads])
    kept = {(id(n), i) for n, i in graph.heads}
    for step in steps:
        node = step.node
        if not any((id(node), i) in needs for i in range(node.num_outputs())):
            continue                      # no backward: it keeps nothing
        nargs = node.num_args()
        for j in step.op.retained_inputs():
            if j < nargs:
                src, i = node.inputs[j]
                kept.add((id(src), i))
        for i in step.op.retained_outputs():
            kept.add((id(node), i))
    last_read = {}
    for k, step in enumerate(steps):
        for src, i in step.node.inputs:
            last_read[(id(src), i)] = k
    produced = {(id(step.node), i) for step in steps for i in range(step.node.num_outputs())}
    pool = plan.pool = _Pool(ctx, prefer)
    heads = {(id(n), i) for n, i in graph.heads}
    for k, step in enumerate(steps):
        node = step.node
        start = 0
        twice = {(id(s), i) for s, i in node.inputs
                 if sum(1 for t in node.inputs if (id(t[0]), t[1]) == (id(s), i)) > 1}
        for j in getattr(step.op, 'inplace_inputs', ()) if SHARE_MEMORY else ():
            # the output may take this input's buffer: its value dies here (nothing kept)
            src, i = node.inputs[j]
            key, out = (id(src), i), (id(node), 0)
            if key in produced and key not in kept and key not in heads and \
                    key not in twice and last_read.get(key) == k and \
                    tuple(shapes[out]) == val[key].shape and \
                    dtype_np(types.get(out) or 'float32') == val[key].dtype:
                val[out] = val[key]
                pool.hand_over(val[key], val[out])
                produced_here = key
                start = 1
                break
        else:
            produced_here = None
        for i in range(start, node.num_outputs()):
            key = (id(node), i)
            val[key] = pool.take(shapes[key], dtype_np(types.get(key) or 'float32'),
                                 key=key, ctx=step.ctx)
        # values read for the last time here (or never read) are dead unless kept
        dead = {(id(s), i) for s, i in node.inputs if last_read.get((id(s), i)) == k}
        dead.update((id(node), i) for i in range(node.num_outputs())
                    if (id(node), i) not in last_read)
        for key in dead:
            if key in produced and key not in kept and key != produced_here:
                pool.give(val[key])


def _device(ctx):
    return (ctx.device_type, ctx.device_id)


class _Pool:
    """Buffers handed out as views of 1-D bases; a base given back is taken again by a later
    request of its dtype that fits (the smallest such).  ``bytes``: all bases' size;
    ``requested``: what one buffer per request would take."""

    def __init__(self, ctx, prefer=None):
        self.ctx = ctx
        self.free = {}          # (device, dtype) -> [base], smallest first
        self.base = {}          # id(view) -> (base, view)
        self.bytes = self.requested = 0
        # reshape: the old plan's bases, taken again for the same entries where they fit, so
        # the new executor shares the old one's memory (as MXNet's reshape does)
        self.prefer = dict(prefer or {})
        self.base_of = {}       # entry -> base, for a later reshape
        self._busy = set()      # ids of the bases handed out now
        self._counted = {}      # id -> base: every base this plan uses (in ``bytes``)
        self._device_of = dict(getattr(prefer, 'device_of', {}))

    def take(self, shape, dtype, key=None, ctx=None):
        ctx = ctx if ctx is not None else self.ctx
        shape = tuple(shape)
        n = int(np.prod(shape, dtype=np.int64))
        free = self.free.setdefault((_device(ctx), dtype), [])
        base = self.prefer.get(key)
        if base is not None and (base.size < n or base.dtype != dtype or
                                 id(base) in self._busy or
                                 self._device_of.get(id(base), _device(ctx)) != _device(ctx)):
            base = None
        if base is not None:
            for j, b in enumerate(free):
                if b is base:
                    del free[j]
                    break
        else:
            pick = next((j for j, b in enumerate(free) if b.size >= n), None)
            if pick is None:
                with ctx.device():
                    base = ctx.xp.empty(max(n, 1), dtype=dtype)
            else:
                base = free.pop(pick)
        self._device_of[id(base)] = _device(ctx)
        if id(base) not in self._counted:
            self._counted[id(base)] = base
            self.bytes += base.nbytes
        view = base[:n].reshape(shape)
        self.base[id(view)] = (base, view)
        self._busy.add(id(base))
        if key is not None:
            self.base_of[key] = base
        self.requested += view.nbytes
        return view

    def hand_over(self, view, new_view):
        """``new_view`` (another entry's value) now owns ``view``'s memory."""
        self.requested += new_view.nbytes

    def give(self, view):
        """``view``'s memory may be handed out again (nothing reads it any more)."""
        if not SHARE_MEMORY:
            return
        base, _ = self.base.pop(id(view))
        self._busy.discard(id(base))
        free = self.free.setdefault((self._device_of[id(base)], base.dtype), [])
        free.append(base)
        free.sort(key=lambda b: b.size)


def _plan_backward(plan, graph, ctx, val, req, gbuf, grad_req):
    """Decide every gradient buffer and which backward steps run, once.  A gradient lives
    where its value does (the entry's context)."""
    def where(key):
        return plan.entry_ctx.get(key, ctx)

    def like(key, fill):
        c = where(key)
        with c.device():
            return getattr(c.xp, fill)(val[key])
    heads = [(id(n), i) for n, i in graph.heads]
    needs = _needs_gradient(plan.steps, req, heads)
    for step in plan.steps:
        # an operator MXNet registers no gradient for must not be on a gradient's path
        if not getattr(step.op, 'differentiable', True) and \
                any((id(step.node), i) in needs for i in range(len(step.outs))) and \
                any(key in needs for _, key in _differentiable_inputs(step)):
            raise MXNetError("bind: operator '%s' (%s) is not differentiable, but a gradient "
                             "must flow through it; bind with grad_req='null' for its inputs "
                             "or put BlockGrad after it" % (step.node.name, step.op.name))
    # Consumers of every entry, in backward order (reverse topological).
    consumers = {}
    for step in reversed(plan.steps):
        if not any((id(step.node), i) in needs for i in range(len(step.outs))):
            continue              # its backward does not run: it writes no gradient
        for j, key in _differentiable_inputs(step):
            if key in needs:
                consumers.setdefault(key, []).append((step, j))
    # A head's gradient starts from its head gradient (ones unless backward is given
    # out_grads); a head that other operators also read accumulates onto a copy of it.
    plan.head_grads = []
    plan.head_resets = []
    grad_of = {}
    for key in heads:
        if key in needs and key not in grad_of:
            hg = like(key, 'ones_like')
            plan.head_grads.append((key, hg))
            if key in consumers:
                grad_of[key] = gbuf[key] if key in gbuf else like(key, 'empty_like')
                plan.head_resets.append((grad_of[key], hg))
            else:
                grad_of[key] = hg
                if key in gbuf:
                    plan.head_resets.append((gbuf[key], hg))
    # The gradient of an operator's output lives from the backward of its first consumer
    # (which writes it) to the backward of its producer (which reads it): it comes from the
    # pool, which also holds the forward values nothing keeps.  Arguments' gradients are
    # the caller's; a gradient nobody writes stays a zero buffer of its own.
    pool = plan.pool
    for key in needs:
        if key not in grad_of:
            if key in gbuf:
                grad_of[key] = gbuf[key]
            elif key not in consumers:
                grad_of[key] = like(key, 'zeros_like')
    pooled = set()
    plan.head_keys = heads
    bwd = []
    head_keys = set(heads)
    for step in reversed(plan.steps):
        if not any((id(step.node), i) in needs for i in range(len(step.outs))):
            continue
        step.ograds = [grad_of.get((id(step.node), i)) for i in range(len(step.outs))]
        step.ograds = [g if g is not None else like((id(step.node), i), 'zeros_like')
                       for i, g in enumerate(step.ograds)]
        step.igrads = [None] * len(step.ins)
        accum, temps = [], []
        for j, (s, i) in enumerate(step.node.inputs[:len(step.ins)]):
            key = (id(s), i)
            users = consumers.get(key, ())
            if (step, j) not in users:
                continue
            if key not in grad_of:      # first writer: an operator output's gradient
                grad_of[key] = pool.take(val[key].shape, val[key].dtype, key=('grad',) + key,
                                         ctx=where(key))
                pooled.add(key)
            target = grad_of[key]
            first = users[0] == (step, j)
            if first and key not in head_keys and req.get(key, 'write') != 'add':
                step.igrads[j] = target
            elif getattr(target, 'stype', None) == 'row_sparse':
                temp = target.empty_like()      # row-sparse: summed by row, not pooled
                step.igrads[j] = temp
                accum.append((target, temp))
            else:
                temp = pool.take(target.shape, target.dtype, key=('temp', id(step.node), j),
                                 ctx=where(key))
                temps.append(temp)
                step.igrads[j] = temp
                accum.append((target, temp))
        step.accum = tuple(accum)
        bwd.append(step)
        # after this step: its temporaries, and its outputs' gradients, are dead
        for temp in temps:
            pool.give(temp)
        for i in range(len(step.outs)):
            key = (id(step.node), i)
            if key in pooled:
                pool.give(grad_of[key])
                pooled.discard(key)
    plan.bytes, plan.unshared_bytes = pool.bytes, pool.requested
    # Arguments that want a gradient but receive none get zeros, as in MXNet.
    plan.zero_args = [gbuf[(id(n), 0)] for n, r in zip(graph.arguments, grad_req)
                      if r == 'write' and (id(n), 0) not in consumers
                      and (id(n), 0) not in head_keys]
    plan.backward = [(_scoped(s.op.backward, s, ctx), s.xp, s.ograds, s.ins, s.outs, s.igrads,
                      s.aux, s.accum) for s in bwd]
    # Which argument gradients are final after each backward step (their last consumer
    # has run).
    pos = {(id(n), 0): i for i, n in enumerate(graph.arguments)}
    last = {}
    for k, step in enumerate(bwd):
        for j, key in _differentiable_inputs(step):
            if key in pos and grad_req[pos[key]] != 'null' and \
                    (step, j) in consumers.get(key, ()):
                last[key] = k
    plan.ready_after = [[] for _ in bwd]
    for key, k in last.items():
        plan.ready_after[k].append(pos[key])
    plan.ready_first = [i for i, (n, r) in enumerate(zip(graph.arguments, grad_req))
                        if r != 'null' and (id(n), 0) not in last]


def sparse_grad_names(graph):
    """The arguments of ``graph`` whose gradient can be row-sparse: every operator that
    differentiates them lists their position in ``sparse_grad_inputs()`` (an Embedding with
    ``sparse_grad=True``, a SparseEmbedding's weight).  MXNet gives these arguments
    row-sparse gradients when they are written (``grad_req='write'``)."""
    can, cannot = set(), set()
    for node in graph.nodes:
        if node.op is None:
            continue
        proto = node.proto()
        names = proto.list_arguments()
        sparse = getattr(proto, 'sparse_grad_inputs', None)
        sparse = sparse() if sparse is not None else ()
        for j, (src, _) in enumerate(node.inputs[:len(names)]):
            if src.op is None and names[j] not in proto.nondiff:
                (can if j in sparse else cannot).add(src.name)
    return can - cannot


def backward_order(graph, names):
    """``names`` (arguments of ``graph``) in the order backward finishes their gradients.

    An argument's gradient is final once the first operator that reads it (in forward order)
    has run its backward; backward visits operators in reverse, so arguments read late come
    first.  Arguments no operator differentiates come last.
    """
    first_use = {}
    for k, node in enumerate(graph.nodes):
        if node.op is None:
            continue
        proto = node.proto()
        arg_names = proto.list_arguments()
        for j, (src, _) in enumerate(node.inputs[:len(arg_names)]):
            if src.op is None and arg_names[j] not in proto.nondiff:
                first_use.setdefault(src.name, k)
    position = {n.name: i for i, n in enumerate(graph.arguments)}
    return sorted(names, key=lambda n: (-first_use.get(n, -1), -position.get(n, 0)))


#: Merge identical operator nodes at bind (``MXNET_ELIMINATE_COMMON_EXPR=0`` turns it off).
def _cse_enabled():
    return os.environ.get('MXNET_ELIMINATE_COMMON_EXPR', '1') != '0'


def _deterministic(node):
    """An operator node whose output is fixed by its inputs and parameters (not random, no
    auxiliary state it updates)."""
    name = node.op.name
    if name.startswith(('_random_', '_sample_', 'random_', 'sample_')) or \
            name in ('Dropout', '_shuffle'):
        return False
    return not node.proto().list_auxiliary_states()


def eliminate_common_expr(symbol):
    """``symbol`` with identical operator nodes merged: same operator, parameters,
    attributes and inputs (after merging), when deterministic.  Outputs that would become one
    entry stay apart (MXNet then inserts a copy; the net count is the same).  Returns
    ``symbol`` itself when nothing merges."""
    from ..symbol.symbol import Node, Symbol
    graph = symbol.graph()
    heads = {(id(n), i) for n, i in graph.heads}
    rep = {}            # id(node) -> the node standing for it
    seen = {}
    merged = False
    for node in graph.nodes:
        if node.op is None:
            rep[id(node)] = node
            continue
        inputs = [(rep[id(s)], i) for s, i in node.inputs]
        key = None
        if _deterministic(node):
            key = (node.op, tuple(sorted(node.attrs.items())),
                   tuple(sorted(node.extra.items())),
                   tuple((id(s), i) for s, i in inputs))
        other = seen.get(key) if key is not None else None
        if other is not None and not any((id(node), i) in heads
                                         for i in range(node.num_outputs())):
            rep[id(node)] = other
            merged = True
            continue
        if any(s is not o for (s, _), (o, _) in zip(inputs, node.inputs)):
            new = Node(node.op, node.name, dict(node.attrs), dict(node.extra), inputs)
            new._proto = node._proto
            rep[id(node)] = new
        else:
            rep[id(node)] = node
        if key is not None and key not in seen:
            seen[key] = rep[id(node)]
    if not merged:
        return symbol
    return Symbol([(rep[id(n)], i) for n, i in graph.heads])


def _same_device(a, b):
    return _device(a) == _device(b)


def place_by_group(symbol, ctx, group2ctx):
    """Model parallelism: ``(symbol, {id(node): context})`` with every node placed on the
    context its ``ctx_group`` attribute names in ``group2ctx`` (``ctx`` without one), and a
    ``_CrossDeviceCopy`` wherever an operator reads a value made on another context.  An
    operator's auxiliary states live on its own context.  Without ``group2ctx``:
    ``(symbol, None)``."""
    if not group2ctx:
        return symbol, None
    from ..ops import registry
    from ..symbol.symbol import Node, Symbol
    copy_op = registry.get('_CrossDeviceCopy')
    graph = symbol.graph()

    def group_ctx(node):
        group = node.extra.get('__ctx_group__')
        return group2ctx.get(group, ctx) if group is not None else ctx
    where, rep, copies = {}, {}, {}
    for node in graph.nodes:
        if node.op is None:
            where[id(node)] = group_ctx(node)
            rep[id(node)] = node
    for node in graph.nodes:
        if node.op is None:
            continue
        here = group_ctx(node)
        nargs = node.num_args()
        inputs, changed = [], False
        for j, (src, i) in enumerate(node.inputs):
            src = rep[id(src)]
            changed |= src is not node.inputs[j][0]
            if j >= nargs:                      # auxiliary state: it lives with its operator
                where[id(src)] = here
            elif not _same_device(where[id(src)], here):
                key = (id(src), i, _device(here))
                cp = copies.get(key)
                if cp is None:
                    cp = Node(copy_op, '%s_to_%s%d' % (src.name, here.device_type,
                                                        here.device_id),
                              {}, {}, [(src, i)])
                    where[id(cp)] = here
                    copies[key] = cp
                src, i, changed = cp, 0, True
            inputs.append((src, i))
        new = node
        if changed:
            new = Node(node.op, node.name, dict(node.attrs), dict(node.extra), inputs)
            new._proto = node._proto
        rep[id(node)] = new
        where[id(new)] = here
    heads = [(rep[id(n)], i) for n, i in graph.heads]
    placed = Symbol(heads) if copies or any(rep[id(n)] is not n for n, _ in graph.heads) \
        else symbol
    return placed, where


def variable_contexts(symbol, ctx, group2ctx):
    """``{variable name: context}`` of ``place_by_group``: a variable's own ``ctx_group``,
    an auxiliary state its operator's."""
    if not group2ctx:
        return {}
    _, where = place_by_group(symbol, ctx, group2ctx)
    graph = symbol.graph()
    return {n.name: where.get(id(n), ctx) for n in graph.arguments + graph.auxiliary}
