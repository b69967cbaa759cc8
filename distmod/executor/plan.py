"""The plan of a bound symbol: every operator call of forward and backward, over fixed buffers.

:func:`compile_plan` walks a :class:`~distmod.symbol.symbol.Graph` once: one buffer per
operator output, one gradient buffer per entry that needs a gradient, and for every backward
step the exact buffers it reads and writes, plus which argument gradients are final after
each step (the kvstore starts reducing a bucket as soon as all of its gradients are).

:func:`backward_order` tells, before any buffer exists, the order in which backward finishes
the gradients of some arguments: the executor group lays each dtype's parameter gradients
out in that order in one flat buffer, so that the kvstore's buckets are slices of it.
"""
from ..base import MXNetError, dtype_np

__all__ = ['Plan', 'compile_plan', 'backward_order']


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
      backward step / after each backward step.
    """

    __slots__ = ('steps', 'forward', 'backward', 'outputs', 'head_keys', 'head_grads',
                 'head_resets', 'zero_args', 'ready_first', 'ready_after')


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
    steps = []
    with ctx.device():
        for node in graph.nodes:
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
            steps.append(Step(node, op, ins[:nargs], outs, ins[nargs:]))
        plan.steps = steps
        _plan_backward(plan, graph, xp, val, req, gbuf, grad_req)
    plan.outputs = [val[(id(n), i)] for n, i in graph.heads]
    plan.forward = [(s.op.forward, s.ins, s.outs, s.aux) for s in steps]
    return plan


def _plan_backward(plan, graph, xp, val, req, gbuf, grad_req):
    """Decide every gradient buffer and which backward steps run, once."""
    needs = {k for k, r in req.items() if r != 'null'}
    for step in plan.steps:
        if any(key in needs for _, key in _differentiable_inputs(step)):
            needs.update((id(step.node), i) for i in range(len(step.outs)))
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
    for key in needs:
        if key not in grad_of:
            grad_of[key] = gbuf[key] if key in gbuf else xp.zeros_like(val[key])
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
        bwd.append(step)
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
