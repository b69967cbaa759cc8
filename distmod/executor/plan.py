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
    """One operator call: the op instance and the exact buffers it touches."""

    __slots__ = ('node', 'op', 'ins', 'outs', 'aux', 'igrads', 'ograds', 'accum')

    def __init__(self, node, op, ins, outs, aux):
        self.node, self.op, self.ins, self.outs, self.aux = node, op, ins, outs, aux
        self.igrads = self.ograds = None
        self.accum = ()      # (target, temp): target += temp after backward


class Plan:
    """What :func:`compile_plan` decided; the executor only loops over it.

    - ``steps``: every operator call in forward order; ``forward``: their
      ``(forward, ins, outs, aux)``;
    - ``backward``: ``(backward, ograds, ins, outs, igrads, aux, accum)`` per backward step;
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
                 'unshared_bytes', 'pool')


def _differentiable_inputs(step):
    names = step.op.list_arguments()
    return [(j, (id(s), i)) for j, (s, i) in enumerate(step.node.inputs[:len(step.ins)])
            if names[j] not in step.op.nondiff]


def compile_plan(graph, ctx, arg_arrays, grad_arrays, grad_req, aux_arrays):
    """The :class:`Plan` for ``graph`` bound to these raw arrays on ``ctx``.

    ``arg_arrays``/``aux_arrays`` are raw arrays in ``graph.arguments``/``graph.auxiliary``
    order; ``grad_arrays`` a raw array or None per argument, ``grad_req`` its request.
    """
    xp = ctx.xp
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
    steps = [Step(node, node.make_op(), None, None, None)
             for node in graph.nodes if node.op is not None]
    for step in steps:
        node = step.node
        for i in range(node.num_outputs()):
            s = shapes.get((id(node), i))
            if s is None or 0 in s:
                raise MXNetError("bind: cannot infer the shape of output %d of operator "
                                 "'%s' (%s)" % (i, node.name, node.op.name))
    with ctx.device():
        _allocate_outputs(plan, graph, steps, xp, shapes, types, val, req)
        for step in steps:
            node = step.node
            nargs = node.num_args()
            ins = [val[(id(s), i)] for s, i in node.inputs]
            step.ins, step.aux = ins[:nargs], ins[nargs:]
            step.outs = [val[(id(node), i)] for i in range(node.num_outputs())]
        plan.steps = steps
        _plan_backward(plan, graph, xp, val, req, gbuf, grad_req)
    plan.outputs = [val[(id(n), i)] for n, i in graph.heads]
    plan.forward = [(s.op.forward, s.ins, s.outs, s.aux) for s in steps]
    return plan


def _needs_gradient(steps, req):
    """The entries whose gradient backward computes (from the arguments that want one)."""
    needs = {k for k, r in req.items() if r != 'null'}
    for step in steps:
        names = step.op.list_arguments()
        if any((id(s), i) in needs and names[j] not in step.op.nondiff
               for j, (s, i) in enumerate(step.node.inputs[:len(names)])):
            needs.update((id(step.node), i) for i in range(step.node.num_outputs()))
    return needs


def _allocate_outputs(plan, graph, steps, xp, shapes, types, val, req):
    """Give every operator output a buffer, reusing memory where the values are dead.

    A value must live until its last reader in forward, and, when a step whose backward
    runs declares it kept (``retained_inputs()``/``retained_outputs()``), until backward;
    the symbol's outputs live on.  A buffer whose value is dead goes back to a pool (per
    dtype) that later outputs take from, so inference keeps only what is live at once, and
    training keeps what backward needs plus that; the gradients of operator outputs come
    from the same pool in backward.
    """
    needs = _needs_gradient(steps, req)
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
    pool = plan.pool = _Pool(xp)
    for k, step in enumerate(steps):
        node = step.node
        for i in range(node.num_outputs()):
            key = (id(node), i)
            val[key] = pool.take(shapes[key], dtype_np(types.get(key) or 'float32'))
        # values read for the last time here (or never read) are dead unless kept
        dead = {(id(s), i) for s, i in node.inputs if last_read.get((id(s), i)) == k}
        dead.update((id(node), i) for i in range(node.num_outputs())
                    if (id(node), i) not in last_read)
        for key in dead:
            if key in produced and key not in kept:
                pool.give(val[key])


class _Pool:
    """Buffers handed out as views of 1-D bases; a base given back is taken again by a later
    request of its dtype that fits (the smallest such).  ``bytes``: all bases' size;
    ``requested``: what one buffer per request would take."""

    def __init__(self, xp):
        self.xp = xp
        self.free = {}          # dtype -> [base], smallest first
        self.base = {}          # id(view) -> (base, view)
        self.bytes = self.requested = 0

    def take(self, shape, dtype):
        shape = tuple(shape)
        n = int(np.prod(shape, dtype=np.int64))
        free = self.free.get(dtype, [])
        pick = next((j for j, b in enumerate(free) if b.size >= n), None)
        if pick is None:
            base = self.xp.empty(max(n, 1), dtype=dtype)
            self.bytes += base.nbytes
        else:
            base = free.pop(pick)
        view = base[:n].reshape(shape)
        self.base[id(view)] = (base, view)
        self.requested += view.nbytes
        return view

    def give(self, view):
        """``view``'s memory may be handed out again (nothing reads it any more)."""
        if not SHARE_MEMORY:
            return
        base, _ = self.base.pop(id(view))
        free = self.free.setdefault(base.dtype, [])
        free.append(base)
        free.sort(key=lambda b: b.size)


def _plan_backward(plan, graph, xp, val, req, gbuf, grad_req):
    """Decide every gradient buffer and which backward steps run, once."""
    needs = _needs_gradient(plan.steps, req)
    heads = [(id(n), i) for n, i in graph.heads]
    # Consumers of every entry, in backward order (reverse topological).
    consumers = {}
    for step in reversed(plan.steps):
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
            hg = xp.ones_like(val[key])
            plan.head_grads.append((key, hg))
            if key in consumers:
                grad_of[key] = gbuf[key] if key in gbuf else xp.empty_like(hg)
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
                grad_of[key] = xp.zeros_like(val[key])
    pooled = set()
    plan.head_keys = heads
    bwd = []
    head_keys = set(heads)
    for step in reversed(plan.steps):
        if not any((id(step.node), i) in needs for i in range(len(step.outs))):
            continue
        step.ograds = [grad_of.get((id(step.node), i)) for i in range(len(step.outs))]
        step.ograds = [g if g is not None else xp.zeros_like(o)
                       for g, o in zip(step.ograds, step.outs)]
        step.igrads = [None] * len(step.ins)
        accum, temps = [], []
        for j, (s, i) in enumerate(step.node.inputs[:len(step.ins)]):
            key = (id(s), i)
            users = consumers.get(key, ())
            if (step, j) not in users:
                continue
            if key not in grad_of:      # first writer: an operator output's gradient
                grad_of[key] = pool.take(val[key].shape, val[key].dtype)
                pooled.add(key)
            target = grad_of[key]
            first = users[0] == (step, j)
            if first and key not in head_keys and req.get(key, 'write') != 'add':
                step.igrads[j] = target
            else:
                temp = pool.take(target.shape, target.dtype)
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
    plan.backward = [(s.op.backward, s.ograds, s.ins, s.outs, s.igrads, s.aux, s.accum)
                     for s in bwd]
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
