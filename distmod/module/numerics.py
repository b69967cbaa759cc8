"""The numerics guard of ``fit``: stop at the first NaN or Inf, and say where it came from.

``fit(..., check_numerics=True)`` (or ``DISTMOD_CHECK_NUMERICS=1`` when ``check_numerics`` is
None) builds a :class:`NumericsGuard`; ``fit`` calls its ``after_backward`` after every
batch's forward and backward, and its ``after_update`` after the optimizer's step.  The
first non-finite value raises ``MXNetError`` naming what holds it (an output by its name, the
gradient or the value of a parameter, the device where there are several), how many values
are non-finite and where the first is, the epoch and batch, and what to try.  For an output
it also names the operator where the NaN starts, from what forward left in memory (nothing
is run again), or the batch's input that brought it.  A SoftmaxOutput label outside the
classes, which by default only warns once (``distmod.ops.loss.STRICT_LABELS``), is an error
under the guard too.

Off (the default), ``guard_for`` returns None and ``fit`` pays one ``is None`` per batch.  On,
each check is one reduction per array with one scalar to the host (per array for NumPy, per
device for CuPy): the sum of squares (a BLAS dot) is NaN or Inf exactly when some element is,
or when huge finite values overflow it; only then does the exact per-element check run, so a
false alarm costs time, never a wrong error.  The guard only reads: a run under it computes
bit-identical numbers.

Covered: ``Module``, ``BucketingModule`` (the bucket in use), ``SequentialModule`` (each
sub-module with executors); a ``PythonModule`` has no executor and is not checked.  On several
ranks each rank checks its own values; the gradients ``after_backward`` sees may be in the
middle of their sum over ranks (the reduction starts during backward), so a rank may stop
where another goes on until the watchdog reports it; parameters after the update are the
same on every rank, so every rank stops there together.
"""
import os
from math import isfinite

import numpy as np

from ..base import MXNetError
from ..context import array_module
from ..ops import loss as _loss
from .bucketing_module import BucketingModule
from .sequential_module import SequentialModule

__all__ = ['guard_for', 'NumericsGuard', 'ENV']

ENV = 'DISTMOD_CHECK_NUMERICS'

HINT = ('Try a lower learning rate, clip the gradients (optimizer_params={..., '
        "'clip_gradient': 5.0}), or check the data for NaN/Inf and the labels for range.")


def guard_for(module, check_numerics=None):
    """The guard ``fit`` calls after backward and after update, or None when it is off.

    On when ``check_numerics`` is True, or when it is None and ``DISTMOD_CHECK_NUMERICS`` is
    '1', 'true' or 'yes'.  Works for Module, BucketingModule and SequentialModule.

    Example::

        >>> mod.fit(train, num_epoch=2, check_numerics=True)            # doctest: +SKIP
        MXNetError: check_numerics: epoch 0, batch 3: output 'softmax_output' holds ...
    """
    if check_numerics is None:
        check_numerics = os.environ.get(ENV, '').strip().lower() in ('1', 'true', 'yes')
    if not check_numerics:
        return None
    return NumericsGuard(module)


class NumericsGuard:
    """Checks one ``fit``'s batches; made by :func:`guard_for`.  ``fit`` trains inside
    ``with guard:``, which makes SoftmaxOutput's out-of-range labels errors
    (``loss.STRICT_LABELS``) until it leaves, however it leaves."""

    def __init__(self, module):
        self.module = module
        self._checks = {}              # id(executor group) -> _GroupChecks
        self._saved = None

    def __enter__(self):
        self._saved = _loss.STRICT_LABELS
        _loss.STRICT_LABELS = True
        _loss.BAD_LABEL = None
        return self

    def __exit__(self, *exc):
        _loss.STRICT_LABELS = self._saved
        _loss.BAD_LABEL = None
        return False

    # ---- what fit calls ------------------------------------------------------------------
    def after_backward(self, epoch, nbatch):
        """Raise at a label outside the classes, then at the first non-finite output, then
        at the first non-finite gradient."""
        if _loss.BAD_LABEL is not None:
            self._label_error(epoch, nbatch)
        checks = self._current()
        with np.errstate(over='ignore', invalid='ignore'):    # the tests' own overflow
            found = None
            for c in checks:
                found = _scan(c.outputs)
                if found is not None:
                    break
            if found is None:
                for c in checks:
                    found = _scan(c.grads) or c.sparse_grads()
                    if found is not None:
                        self._gradient_error(epoch, nbatch, c, *found)
                return
        item, bad = found
        raise MXNetError(_message(epoch, nbatch, item, bad, _origin(item.exe, c.param_names)))

    def after_update(self, epoch, nbatch):
        """Raise at the first non-finite parameter after the optimizer's step."""
        for c in self._current():
            with np.errstate(over='ignore', invalid='ignore'):
                found = _scan(c.params)
            if found is not None:
                item, bad = found
                raise MXNetError(_message(
                    epoch, nbatch, item, bad,
                    ' It became so in the update, while every gradient of this batch was '
                    'finite: the step itself overflowed (the gradients summed over devices '
                    'and ranks, times the learning rate, with the optimizer\'s state).'))

    # ---- the executors of this step ------------------------------------------------------
    def _current(self):
        """The checks of every executor group this step runs (a bucket switch or a reshape
        makes new executors: their checks are built once, then kept)."""
        out = []
        for where, mod in _executor_modules(self.module):
            group = mod._exec_group
            c = self._checks.get(id(group))
            if c is None or c.group is not group or c.execs is not group.execs:
                c = self._checks[id(group)] = _GroupChecks(group, where)
            out.append(c)
        return out

    def _gradient_error(self, epoch, nbatch, c, item, bad):
        # the exact check of every gradient: which else are bad (a flat buffer fired)
        others = [it.what for it in c.grad_items if it is not item and
                  _nonfinite(it.array) is not None]
        more = ' Non-finite too: the %s.' % ', '.join(others) if others else ''
        cause = _bad_inputs(item.exe, c.param_names)
        raise MXNetError(_message(epoch, nbatch, item, bad, more +
                                  (' It comes from ' + cause + '.' if cause else '')))

    def _label_error(self, epoch, nbatch):
        record, _loss.BAD_LABEL = _loss.BAD_LABEL, None
        name = None
        for _, mod in _executor_modules(self.module):
            for exe in mod._exec_group.execs:
                name = name or next((s.node.name for s in exe._plan.steps
                                     if s.op is record['op']), None)
        raise MXNetError('check_numerics: epoch %d, batch %d: %s; distmod would count it as '
                         'class %d (MXNet 1.9.1 as no class): check the labels (class ids '
                         '0..%d; use_ignore=True with ignore_label for padding).'
                         % (epoch, nbatch, _loss.label_range_message(record, name),
                            record['taken_as'], record['classes'] - 1))


def _executor_modules(module, where=''):
    """``(where, Module)`` for every Module whose executors ``module``'s step runs now."""
    if isinstance(module, BucketingModule):
        cur = module._curr_module
        if cur is None:
            return []
        return _executor_modules(cur, 'bucket %r' % (module.bucket_key,))
    if isinstance(module, SequentialModule):
        out = []
        for i, sub in enumerate(module._modules):
            out += _executor_modules(sub, 'module %d of %d of the SequentialModule'
                                     % (i, len(module._modules)))
        return out
    if getattr(module, '_exec_group', None) is not None:
        return [(where, module)]
    return []                   # a PythonModule: no executor to read


# ---- the arrays checked, and the fast test ---------------------------------------------------
class _Item:
    """One checked array: ``what`` it is (for the message), the raw array, its flat view and
    fast test, the executor it belongs to, and for a flat gradient buffer the ``members``
    (named gradients) living in it."""

    __slots__ = ('what', 'array', 'test', 'args', 'exe', 'members')

    def __init__(self, what, array, exe, members=None):
        self.what, self.array, self.exe, self.members = what, array, exe, members
        if array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
            flat = array.reshape(-1)
            self.test, self.args = array_module(array).dot, (flat, flat)   # BLAS, one pass
        elif array.dtype.kind == 'f':
            self.test, self.args = _sum32, (array,)  # float16's own sum would overflow
        else:
            self.test, self.args = _sum, (array,)

    def exact(self):
        """``(item, (count, index, value))`` of the first bad array here, or None (the fast
        test overflowed on finite values)."""
        for it in self.members if self.members is not None else (self,):
            bad = _nonfinite(it.array)
            if bad is not None:
                return it, bad
        return None


def _sum32(v):
    return v.sum(dtype=np.float32)


def _sum(v):
    return v.sum()


def _floats(items):
    """The items that can hold NaN or Inf, in runs of one array module and device (one
    scalar to the host per run on a GPU)."""
    runs, key = [], None
    for it in items:
        if it.array.dtype.kind not in 'fc' or it.array.size == 0:
            continue
        k = _device(it.array)
        if not runs or k != key:
            runs.append([])
            key = k
        runs[-1].append(it)
    return runs


def _device(a):
    return 'numpy' if isinstance(a, np.ndarray) else a.device.id


def _scan(runs):
    """``(item, (count, index, value))`` for the first item holding a NaN or Inf, or None."""
    for run in runs:
        if isinstance(run[0].array, np.ndarray):
            for it in run:                         # a NumPy scalar: no transfer
                if not isfinite(it.test(*it.args)):
                    found = it.exact()
                    if found is not None:
                        return found
            continue
        with run[0].array.device:                  # CuPy: one scalar to the host per run
            total = None
            for it in run:
                s = it.test(*it.args)
                total = s if total is None else total + s
            if isfinite(float(total)):
                continue
            for it in run:
                if not isfinite(float(it.test(*it.args))):
                    found = it.exact()
                    if found is not None:
                        return found
    return None


def _nonfinite(a):
    """The exact check: (how many NaN/Inf, index of the first, its value), or None."""
    if a.dtype.kind not in 'fc' or a.size == 0:
        return None
    xp = array_module(a)
    fin = xp.isfinite(a)
    count = a.size - int(xp.count_nonzero(fin))
    if count == 0:
        return None
    first = int(xp.argmin(fin.reshape(-1).view(np.uint8)))      # the first False
    index = tuple(int(i) for i in np.unravel_index(first, a.shape))
    return count, index, float(a.reshape(-1)[first])


def _describe(bad, size):
    count, index, value = bad
    return '%d of %d values are NaN or Inf (the first, at index %s, is %s)' % (
        count, size, index, value)


def _message(epoch, nbatch, item, bad, detail):
    return 'check_numerics: epoch %d, batch %d: %s holds non-finite values: %s.%s %s' % (
        epoch, nbatch, item.what, _describe(bad, item.array.size), detail, HINT)


class _GroupChecks:
    """The items of one executor group, made once per group (and again after a reshape):
    its outputs on every device, its gradients (the flat per-dtype buffers, one test each,
    plus any gradient outside them) and its parameters on device 0 (the others are copies
    after the update)."""

    def __init__(self, group, where):
        self.group, self.execs = group, group.execs
        self.param_names = set(group.param_names)
        ndev = len(group.execs)

        def what(text, d):
            return text + (' on device %d of %d' % (d, ndev) if ndev > 1 else '') + \
                (' (%s)' % where if where else '')
        self.outputs = _floats(_Item(what('output %r' % name, d), out._data, exe)
                               for d, exe in enumerate(group.execs)
                               for name, out in zip(group.output_names, exe.outputs))
        grads = group.grad_arrays or [[None] * ndev for _ in group.param_names]
        self.grad_items, fast, self.sparse = [], [], []
        for d, exe in enumerate(group.execs):
            layout = group.grad_buffers[d] if group.grad_buffers else None
            members = {}
            for name, per_device in zip(group.param_names, grads):
                g = per_device[d]
                if g is None:
                    continue
                text = what('gradient of parameter %r' % name, d)
                if g._sparse:                       # its rows change every step
                    self.sparse.append((text, g, exe))
                    continue
                item = _Item(text, g._data, exe)
                self.grad_items.append(item)
                if layout is not None and layout.views.get(name) is g:
                    members.setdefault(layout.members[layout.index[name]][0], []).append(item)
                else:
                    fast.append(item)               # a gradient outside the flat buffers
            if layout is not None:
                fast.extend(_Item('gradients', flat, exe, members.get(f, []))
                            for f, flat in enumerate(layout.flats))
        self.grads = _floats(fast)
        self.params = _floats(_Item(what('parameter %r' % name, 0), weights[0]._data,
                                    group.execs[0])
                              for name, weights, per_device in zip(group.param_names,
                                                                   group.param_arrays, grads)
                              if per_device[0] is not None)

    def sparse_grads(self):
        """Row-sparse gradients: checked exactly (only the rows a batch touched)."""
        for text, g, exe in self.sparse:
            bad = _nonfinite(g._sp.values)
            if bad is not None:
                return _Item(text, g._sp.values, exe), bad
        return None


# ---- where a non-finite output comes from ----------------------------------------------------
def _bad_inputs(exe, param_names):
    """The first argument of ``exe`` (an input of the batch, or a parameter) holding a NaN
    or Inf, described; '' when all are finite."""
    for name, arr in zip(exe._arg_names, exe.arg_arrays):
        if arr._sparse:
            continue
        bad = _nonfinite(arr._data)
        if bad is not None:
            kind = 'parameter %r' if name in param_names else "the batch's input %r"
            return (kind % name) + ', where ' + _describe(bad, arr.size)
    return ''


def _origin(exe, param_names):
    """Where the first non-finite value of ``exe``'s forward starts, from what is still in
    memory after backward: an argument, or the first operator whose (kept) output is
    non-finite.  The planner reuses a dead value's memory, so an output may be gone; the
    message then names the operators that could not be checked."""
    cause = _bad_inputs(exe, param_names)
    if cause:
        return ' It comes from %s.' % cause
    plan, graph = exe._plan, exe._graph
    steps = plan.steps
    # every write after each step's forward: later steps' outputs, then all of backward's
    writes = {}
    for k, step in enumerate(steps):
        for out in step.outs:
            writes.setdefault(_root(out), []).append((k, out))
    done = len(steps)
    for step in steps:
        for g in list(step.igrads or ()) + [t for t, _ in step.accum]:
            if g is not None and not hasattr(g, 'stype'):
                writes.setdefault(_root(g), []).append((done, g))
    for _, g in list(plan.head_grads) + [(None, t) for t, _ in plan.head_resets]:
        writes.setdefault(_root(g), []).append((done, g))

    def intact(k, out):
        xp = array_module(out)
        return not any(t > k and xp.may_share_memory(out, b)
                       for t, b in writes.get(_root(out), ()))
    finite = {(id(n), 0): True for n in graph.arguments + graph.auxiliary}
    for k, step in enumerate(steps):
        node = step.node
        bad = False
        for i, out in enumerate(step.outs):
            ok = _nonfinite(out) is None if intact(k, out) else None
            finite[(id(node), i)] = ok
            bad = bad or ok is False
        if not bad:
            continue
        here = "operator '%s' (%s)" % (node.name, step.op.name)
        # the operators upstream whose outputs are gone: the NaN may start in any of them
        unknown, todo, seen = [], [node], set()
        while todo:
            for src, i in todo.pop().inputs:
                if src.op is not None and finite.get((id(src), i)) is None and \
                        id(src) not in seen:
                    seen.add(id(src))
                    unknown.append(src)
                    todo.append(src)
        if not unknown:
            return ' It first appears in the output of %s, whose inputs are finite.' % here
        order = {id(s.node): k for k, s in enumerate(steps)}
        unknown.sort(key=lambda n: order.get(id(n), 0))
        return (' It starts in %s or before it, in %s: their outputs were not kept (the '
                'memory was reused) to tell which, and everything they read is finite.'
                % (here, ', '.join("'%s' (%s)" % (n.name, n.op.name) for n in unknown)))
    return ''


def _root(a):
    """The array owning ``a``'s memory (views of one pool buffer share it)."""
    while getattr(a, 'base', None) is not None:
        a = a.base
    return id(a)
