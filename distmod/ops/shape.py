"""Operators that move data around: Flatten, Reshape, Concat, SliceChannel, slice, slice_axis,
transpose, expand_dims, SwapAxis, Cast, zeros_like, ones_like, where, _zeros and reverse.

Their backward needs the shapes of what forward saw, never the values, except ``where``, which
reads its condition."""
import builtins

import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import prod, norm_axis


def infer_reshape(src, target, reverse=False):
    """The shape MXNet's Reshape gives ``src`` for ``target`` with its special codes.

    0 copies a dimension, -1 infers one, -2 copies all the remaining ones, -3 merges two
    consecutive dimensions, -4 splits one into the next two values (one may be -1); ``reverse``
    applies the codes from the right.  Errors name both shapes.
    """
    src, target = tuple(src), tuple(target)
    if reverse:
        out = infer_reshape(src[::-1], _reverse_codes(target), False)
        return tuple(out[::-1])
    out, i, j = [], 0, 0
    infer_at = None

    def bad(msg):
        raise InferError('cannot reshape %s to %s: %s' % (src, target, msg))
    while j < len(target):
        code = target[j]
        if code == 0:
            if i >= len(src):
                bad('code 0 at position %d has no input dimension to copy' % j)
            out.append(src[i])
            i += 1
        elif code == -1:
            if infer_at is not None:
                bad('more than one -1')
            infer_at = len(out)
            out.append(1)
            i += 1
        elif code == -2:
            out.extend(src[i:])
            i = len(src)
        elif code == -3:
            if i + 1 >= len(src):
                bad('-3 needs two input dimensions at position %d' % i)
            out.append(src[i] * src[i + 1])
            i += 2
        elif code == -4:
            if j + 2 >= len(target) or i >= len(src):
                bad('-4 must be followed by two dimensions')
            d1, d2 = target[j + 1], target[j + 2]
            whole = src[i]
            if d1 == -1 and d2 == -1:
                bad('-4 cannot split into two -1')
            if d1 == -1:
                d1 = whole // d2 if d2 else 0
            if d2 == -1:
                d2 = whole // d1 if d1 else 0
            if d1 * d2 != whole:
                bad('-4 splits %d into %d x %d' % (whole, d1, d2))
            out.extend([d1, d2])
            i += 1
            j += 2
        elif code > 0:
            out.append(code)
            i += 1
        else:
            bad('unknown code %d' % code)
        j += 1
    total = prod(src)
    if infer_at is not None:
        rest = prod(out[:infer_at] + out[infer_at + 1:])
        if rest == 0 or total % rest:
            bad('-1 cannot be inferred')
        out[infer_at] = total // rest
    if prod(out) != total:
        bad('sizes differ (%d vs %d elements)' % (total, prod(out)))
    return tuple(out)


def _reverse_codes(target):
    """Reverse a code list, keeping each -4 in front of its two split sizes."""
    groups, j = [], 0
    while j < len(target):
        if target[j] == -4:
            groups.append((-4, target[j + 2], target[j + 1]))
            j += 3
        else:
            groups.append((target[j],))
            j += 1
    return tuple(c for g in reversed(groups) for c in g)


_pyslice = builtins.slice    # the operator class below takes the name ``slice``


class _CopyLike(Operator):
    """Operators whose output holds the input's elements in the same order."""
    retain_inputs = retain_outputs = ()

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0].reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0].reshape(igrads[0].shape)


@register
class Flatten(_CopyLike):
    """Collapse all axes but the first: (N, a, b) -> (N, a*b).

    Example::

        >>> mx.nd.Flatten(mx.nd.ones((2, 3, 4))).shape
        (2, 12)
    """
    name = 'Flatten'
    aliases = ('flatten',)
    samples = (Sample({}, {'data': (2, 3, 2)}),)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        return [s], [(s[0], prod(s[1:])) if len(s) > 1 else (s[0], 1)], []


@register
class Reshape(_CopyLike):
    """Reshape with MXNet's codes (see ``infer_reshape``).

    Example::

        >>> mx.nd.Reshape(mx.nd.ones((2, 3, 4)), shape=(-3, -2)).shape
        (6, 4)
    """
    name = 'Reshape'
    aliases = ('reshape',)
    params = {'shape': Param('shape', ()), 'reverse': Param('bool', False),
              'target_shape': Param('shape', ()), 'keep_highest': Param('bool', False)}
    samples = (Sample({'shape': (0, -1)}, {'data': (2, 3, 2)}),
               Sample({'shape': (-4, 1, -1, -2)}, {'data': (4, 3)}),
               Sample({'shape': (-1, 0), 'reverse': True}, {'data': (2, 3, 2)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        if self.shape:
            return [s], [infer_reshape(s, self.shape, self.reverse)], []
        if self.target_shape:          # the legacy parameter: 0 marks the one inferred dim
            target = tuple(self.target_shape)
            if self.keep_highest:
                target = (s[0],) + target
            return [s], [infer_reshape(s, tuple(-1 if d == 0 else d for d in target))], []
        raise InferError('Reshape needs the shape parameter')


@register
class expand_dims(_CopyLike):
    """Insert an axis of size 1 at ``axis``."""
    name = 'expand_dims'
    params = {'axis': Param('int')}
    samples = (Sample({'axis': 1}, {'data': (2, 3)}), Sample({'axis': -1}, {'data': (2, 3)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        a = self.axis + len(s) + 1 if self.axis < 0 else self.axis
        if not 0 <= a <= len(s):
            raise InferError('axis %d is out of range for data of shape %s' % (self.axis, s))
        return [s], [tuple(s[:a]) + (1,) + tuple(s[a:])], []


@register
class Concat(Operator):
    """Join inputs along ``dim``: ``mx.sym.Concat(a, b, dim=1)``."""
    name = 'Concat'
    aliases = ('concat',)
    variadic = True
    key_var_num_args = 'num_args'
    params = {'num_args': Param('int'), 'dim': Param('int', 1)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'num_args': 2, 'dim': 1}, {'arg0': (2, 3), 'arg1': (2, 2)}),
               Sample({'num_args': 3, 'dim': 0}, {'arg0': (1, 2), 'arg1': (2, 2),
                                                  'arg2': (1, 2)}))

    def infer_shape(self, in_shapes):
        known = [s for s in in_shapes if s is not None]
        if not known:
            return in_shapes, [None], []
        nd = len(known[0])
        d = norm_axis(self.dim, nd)
        for name, s in zip(self.list_arguments(), in_shapes):
            if s is not None and (len(s) != nd or
                                  any(a != b for k, (a, b) in enumerate(zip(s, known[0]))
                                      if k != d)):
                raise InferError('input %s has shape %s, which does not match %s outside '
                                 'dimension %d' % (name, s, known[0], d))
        if len(known) < len(in_shapes):
            return in_shapes, [None], []
        out = list(known[0])
        out[d] = sum(s[d] for s in in_shapes)
        return in_shapes, [tuple(out)], []

    def forward(self, xp, ins, outs, aux, is_train):
        xp.concatenate(ins, axis=norm_axis(self.dim, ins[0].ndim), out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        d = norm_axis(self.dim, ins[0].ndim)
        start = 0
        idx = [_pyslice(None)] * ins[0].ndim
        for x, g in zip(ins, igrads):
            if g is not None:
                idx[d] = _pyslice(start, start + x.shape[d])
                g[...] = ograds[0][tuple(idx)]
            start += x.shape[d]


@register
class SliceChannel(Operator):
    """Split into ``num_outputs`` equal parts along ``axis`` (``squeeze_axis`` drops it)."""
    name = 'SliceChannel'
    aliases = ('split',)
    params = {'num_outputs': Param('int'), 'axis': Param('int', 1),
              'squeeze_axis': Param('bool', False)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'num_outputs': 2}, {'data': (2, 4)}),
               Sample({'num_outputs': 3, 'axis': 0, 'squeeze_axis': True}, {'data': (3, 2)}))

    def list_outputs(self):
        return ['output%d' % i for i in range(self.num_outputs)]

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None] * self.num_outputs, []
        a = norm_axis(self.axis, len(s))
        if s[a] % self.num_outputs:
            raise InferError('data of shape %s cannot be split into %d equal parts along axis %d'
                             % (s, self.num_outputs, a))
        if self.squeeze_axis and s[a] != self.num_outputs:
            raise InferError('squeeze_axis needs data.shape[%d] == num_outputs (%d), got %s'
                             % (a, self.num_outputs, s))
        part = list(s)
        part[a] //= self.num_outputs
        if self.squeeze_axis:
            del part[a]
        return [s], [tuple(part)] * self.num_outputs, []

    def _parts(self, x):
        a = norm_axis(self.axis, x.ndim)
        step = x.shape[a] // self.num_outputs
        idx = [_pyslice(None)] * x.ndim
        for i in range(self.num_outputs):
            idx[a] = _pyslice(i * step, (i + 1) * step)
            yield tuple(idx)

    def forward(self, xp, ins, outs, aux, is_train):
        for o, idx in zip(outs, self._parts(ins[0])):
            o[...] = ins[0][idx].reshape(o.shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            for g, idx in zip(ograds, self._parts(ins[0])):
                igrads[0][idx] = g.reshape(igrads[0][idx].shape)


class _Slicing(Operator):
    """Operators that read a basic-indexing view of their input."""
    retain_inputs = retain_outputs = ()

    def index(self, shape):
        raise NotImplementedError

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        index = self.index(s)
        index = index + (_pyslice(None),) * (len(s) - len(index))
        shape = tuple(len(range(*sl.indices(d))) for sl, d in zip(index, s))
        if 0 in shape:
            raise InferError('slicing data of shape %s gives an empty result %s' % (s, shape))
        return [s], [shape], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0][self.index(ins[0].shape)]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)
            igrads[0][self.index(ins[0].shape)] = ograds[0]


@register
class slice(_Slicing):
    """``data[begin:end:step]`` per axis; ``None`` entries mean the whole axis.

    Example::

        >>> mx.nd.slice(mx.nd.ones((3, 4)), begin=(0, 1), end=(2, None)).shape
        (2, 3)
    """
    name = 'slice'
    aliases = ('crop',)
    params = {'begin': Param('shape'), 'end': Param('shape'), 'step': Param('shape', ())}
    samples = (Sample({'begin': (0, 1), 'end': (2, None)}, {'data': (3, 4)}),
               Sample({'begin': (None, 3), 'end': (None, 0), 'step': (1, -2)}, {'data': (2, 4)}))

    def index(self, shape):
        if len(self.begin) != len(self.end) or len(self.begin) > len(shape):
            raise InferError('begin %s and end %s do not fit data of shape %s'
                             % (self.begin, self.end, shape))
        step = tuple(self.step or ()) + (None,) * (len(self.begin) - len(self.step or ()))
        return tuple(_pyslice(b, e, s) for b, e, s in zip(self.begin, self.end, step))


@register
class slice_axis(_Slicing):
    """``data`` sliced along one ``axis`` from ``begin`` to ``end`` (None: to the end)."""
    name = 'slice_axis'
    params = {'axis': Param('int'), 'begin': Param('int'), 'end': Param('int_or_none')}
    samples = (Sample({'axis': 1, 'begin': 1, 'end': 3}, {'data': (2, 4)}),
               Sample({'axis': -1, 'begin': -2, 'end': None}, {'data': (2, 3)}))

    def index(self, shape):
        a = norm_axis(self.axis, len(shape))
        return (_pyslice(None, None, None),) * a + (_pyslice(self.begin, self.end, None),)


@register
class transpose(Operator):
    """Permute axes (``axes`` empty: reverse them)."""
    name = 'transpose'
    params = {'axes': Param('shape', ())}
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (2, 3)}), Sample({'axes': (1, 2, 0)}, {'data': (2, 3, 2)}))

    def _axes(self, ndim):
        axes = tuple(self.axes) if self.axes else tuple(range(ndim))[::-1]
        if sorted(norm_axis(a, ndim) for a in axes) != list(range(ndim)):
            raise InferError('axes %s are not a permutation of %d axes' % (axes, ndim))
        return tuple(norm_axis(a, ndim) for a in axes)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        return [s], [tuple(s[a] for a in self._axes(len(s)))], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0].transpose(self._axes(ins[0].ndim))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0].transpose(np.argsort(self._axes(ins[0].ndim)))


@register
class SwapAxis(Operator):
    """Swap two axes: ``mx.sym.swapaxes(x, dim1=0, dim2=1)``."""
    name = 'SwapAxis'
    aliases = ('swapaxes',)
    params = {'dim1': Param('int', 0), 'dim2': Param('int', 0)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'dim1': 0, 'dim2': 2}, {'data': (2, 3, 2)}),)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return in_shapes, [None], []
        a, b = norm_axis(self.dim1, len(s)), norm_axis(self.dim2, len(s))
        out = list(s)
        out[a], out[b] = out[b], out[a]
        return [s], [tuple(out)], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.swapaxes(ins[0], self.dim1, self.dim2)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = xp.swapaxes(ograds[0], self.dim1, self.dim2)


@register
class Cast(Operator):
    """Convert to ``dtype``; the gradient is cast back to the input's type."""
    name = 'Cast'
    aliases = ('cast',)
    params = {'dtype': Param('dtype')}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'dtype': 'float64'}, {'data': (2, 3)}),)

    def infer_type(self, in_types):
        return in_types, [self.dtype], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0]


class _FillLike(Operator):
    """An array shaped like the input, filled with a constant; no gradient flows back."""
    value = 0
    nondiff = ('data',)
    retain_inputs = retain_outputs = ()

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0].fill(self.value)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)


@register
class zeros_like(_FillLike):
    name = 'zeros_like'
    value = 0
    samples = (Sample({}, {'data': (2, 3)}),)


@register
class ones_like(_FillLike):
    name = 'ones_like'
    value = 1
    samples = (Sample({}, {'data': (2, 3)}),)


@register
class where(Operator):
    """``x`` where ``condition`` is non-zero, else ``y``; a 1-D condition picks whole rows."""
    name = 'where'
    arguments = ('condition', 'x', 'y')
    nondiff = ('condition',)
    retain_inputs = (0,)
    retain_outputs = ()
    samples = (Sample({}, {'x': (2, 3)}, values={'condition': lambda rng, s: rng.integers(0, 2, s)}),
               Sample({}, {'x': (3, 2), 'condition': (3,)},
                      values={'condition': lambda rng, s: np.array([1, 0, 1])}))

    def infer_shape(self, in_shapes):
        c, x, y = in_shapes
        s = x or y
        if s is None:
            return in_shapes, [None], []
        if c is not None and c != s and c != (s[0],):
            raise InferError('condition of shape %s must have the shape of x %s or be 1-D of '
                             'length %d' % (c, s, s[0]))
        return [c or s, s, s], [s], []

    def infer_type(self, in_types):
        t = in_types[1] or in_types[2]
        return [in_types[0] or t, t, t], [t], []

    def _mask(self, xp, c, ndim):
        mask = c != 0
        if mask.ndim == 1 and ndim > 1:
            mask = mask.reshape((-1,) + (1,) * (ndim - 1))
        return mask

    def forward(self, xp, ins, outs, aux, is_train):
        c, x, y = ins
        outs[0][...] = xp.where(self._mask(xp, c, x.ndim), x, y)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        c, x, _ = ins
        mask = self._mask(xp, c, x.ndim)
        g = ograds[0]
        if igrads[1] is not None:
            xp.multiply(g, mask, out=igrads[1])
        if igrads[2] is not None:
            xp.multiply(g, ~mask, out=igrads[2])
        if igrads[0] is not None:
            igrads[0].fill(0)


@register
class _zeros(Operator):
    """An array of zeros of ``shape`` (0 marks a dimension inference fills in from the
    operators that use it, as MXNet's ``begin_state`` zeros do)."""
    name = '_zeros'
    arguments = ()
    params = {'shape': Param('shape', ()), 'ctx': Param('str', ''),
              'dtype': Param('dtype', 'float32')}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'shape': (2, 3)}, {}),)

    def infer_shape(self, in_shapes):
        return [], [tuple(self.shape)], []

    def infer_type(self, in_types):
        return [], [self.dtype], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0].fill(0)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        pass


@register
class reverse(Operator):
    """The input with the order of elements along ``axis`` reversed."""
    name = 'reverse'
    aliases = ('flip',)
    params = {'axis': Param('axis')}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'axis': 1}, {'data': (2, 3, 2)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.flip(ins[0], axis=self.axis)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = xp.flip(ograds[0], axis=self.axis)
