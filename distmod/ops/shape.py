"""Operators that move data around: Flatten, Reshape, Concat, SliceChannel, slice, slice_axis,
transpose, expand_dims, SwapAxis, Cast, zeros_like, ones_like, where, _zeros, reverse, tile,
repeat, stack, squeeze, broadcast_to, broadcast_axis, broadcast_like, reshape_like, slice_like,
shape_array, size_array, depth_to_space, space_to_depth and diag.

Their backward needs the shapes of what forward saw, never the values, except ``where``, which
reads its condition."""
import builtins

import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import prod, norm_axis, sum_to_shape
from .infer import merge_shape


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
        # outside dimension d every input has the same sizes (0: not known by that input)
        common = [0] * nd
        for name, s in zip(self.list_arguments(), in_shapes):
            if s is None:
                continue
            if len(s) != nd:
                raise InferError('input %s has shape %s, which does not match %s in rank'
                                 % (name, s, known[0]))
            for k, a in enumerate(s):
                if k == d or a == 0:
                    continue
                if common[k] not in (0, a):
                    raise InferError('input %s has shape %s, which does not match %s outside '
                                     'dimension %d' % (name, s, known[0], d))
                common[k] = a
        ins = [None if s is None else tuple(a if k == d else common[k] for k, a in enumerate(s))
               for s in in_shapes]
        if any(s is None for s in ins):
            return ins, [None], []
        out = list(common)
        out[d] = sum(s[d] for s in ins) if all(s[d] for s in ins) else 0
        return ins, [tuple(out)], []

    def infer_shape_backward(self, in_shapes, out_shapes):
        """What the output tells its inputs: the sizes outside ``dim``, and an input's size
        along ``dim`` when it is the only one not known."""
        o = out_shapes[0]
        if o is None:
            return in_shapes
        d = norm_axis(self.dim, len(o))
        ins = [tuple(o[k] if k != d else 0 for k in range(len(o))) if s is None else
               tuple(o[k] if k != d and a == 0 else a for k, a in enumerate(s))
               for s in in_shapes]
        unknown = [i for i, s in enumerate(ins) if s[d] == 0]
        if len(unknown) == 1 and o[d]:
            rest = o[d] - sum(s[d] for i, s in enumerate(ins) if i != unknown[0])
            if rest > 0:
                s = list(ins[unknown[0]])
                s[d] = rest
                ins[unknown[0]] = tuple(s)
        return ins

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
        if s[a] == 0:                   # unknown along the axis: so are the parts
            part = list(s)
            if self.squeeze_axis:
                del part[a]
            return [s], [tuple(part)] * self.num_outputs, []
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

    def infer_shape_backward(self, in_shapes, out_shapes):
        """The data's unknown sizes (0) from what its parts say together."""
        s = in_shapes[0]
        parts = [o for o in out_shapes if o is not None]
        if s is None or not parts:
            return in_shapes
        a = norm_axis(self.axis, len(s))
        part = [0] * len(parts[0])
        for o in parts:
            part = [x if x else y for x, y in zip(part, o)]
        if self.squeeze_axis:
            part.insert(a, 1)
        if len(part) != len(s):
            return in_shapes
        full = [x if x else (y * self.num_outputs if k == a else y)
                for k, (x, y) in enumerate(zip(s, part))]
        return [tuple(full)]

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
    samples = (Sample({}, {'x': (2, 3), 'condition': (2, 3)},
                      values={'condition': lambda rng, s: rng.integers(0, 2, s)}),
               Sample({}, {'x': (3, 2), 'condition': (3,)},
                      values={'condition': lambda rng, s: np.array([1, 0, 1])}))

    def infer_shape(self, in_shapes):
        c, x, y = in_shapes
        s = x or y
        if s is None or c is None or 0 in c:
            # as MXNet: nothing is inferred until the condition's shape is fully known
            return in_shapes, [None], []
        if x is not None and y is not None:
            s = merge_shape(x, y) or s
        if c != s and c != (s[0],):
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


# ==========================================================================================
# Tiling, repeating, stacking, squeezing, broadcasting, the *_like operators

def _known(shape):
    return shape is not None and all(shape)


@register
class tile(Operator):
    """The input repeated ``reps`` times along each axis (NumPy's ``tile``): a shorter
    ``reps`` is padded with 1 on the left, a longer one gives the data leading axes of 1.

    Example::

        >>> mx.nd.tile(mx.nd.array([[1, 2]]), reps=(2, 2)).asnumpy()
        array([[1., 2., 1., 2.],
               [1., 2., 1., 2.]], dtype=float32)
    """
    name = 'tile'
    params = {'reps': Param('shape')}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'reps': (2, 3)}, {'data': (2, 2)}), Sample({'reps': (2,)},
                                                                  {'data': (2, 1, 3)}),
               Sample({'reps': (2, 1, 2)}, {'data': (3, 2)}), Sample({'reps': ()},
                                                                     {'data': (2,)}))

    def _padded(self, shape):
        reps = tuple(self.reps or ())
        if any(r <= 0 for r in reps):
            raise InferError('tile: reps %s must be positive' % (reps,))
        n = max(len(reps), len(shape))
        return ((1,) * (n - len(shape)) + tuple(shape), (1,) * (n - len(reps)) + reps)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []
        shape, reps = self._padded(s)
        return [tuple(s)], [tuple(a * r for a, r in zip(shape, reps))], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.tile(ins[0], tuple(self.reps or (1,)))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        shape, reps = self._padded(dx.shape)
        split = tuple(v for pair in zip(reps, shape) for v in pair)
        total = ograds[0].reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        dx[...] = total.reshape(dx.shape)


@register
class repeat(Operator):
    """Each element repeated ``repeats`` times along ``axis`` (None: of the flattened data).

    Example::

        >>> mx.nd.repeat(mx.nd.array([[1, 2]]), repeats=2, axis=1).asnumpy()
        array([[1., 1., 2., 2.]], dtype=float32)
    """
    name = 'repeat'
    params = {'repeats': Param('int'), 'axis': Param('int_or_none', None)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({'repeats': 2}, {'data': (2, 3)}),
               Sample({'repeats': 3, 'axis': 1}, {'data': (2, 2, 2)}),
               Sample({'repeats': 2, 'axis': -1}, {'data': (3, 2)}))

    def setup(self):
        if self.repeats < 0:
            raise InferError('repeat: repeats=%d must not be negative' % self.repeats)

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return [s], [None], []
        if self.axis is None:
            if not _known(s):
                return [s], [None], []
            return [tuple(s)], [(prod(s) * self.repeats,)], []
        a = norm_axis(self.axis, len(s))
        out = list(s)
        out[a] *= self.repeats                    # an unknown size (0) stays unknown
        return [tuple(s)], [tuple(out)], []

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        if self.axis is None:
            outs[0][...] = xp.repeat(x.reshape(-1), self.repeats)
        else:
            outs[0][...] = xp.repeat(x, self.repeats, axis=norm_axis(self.axis, x.ndim))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        g = ograds[0]
        if self.axis is None:
            dx[...] = g.reshape(dx.size, self.repeats).sum(axis=1).reshape(dx.shape)
            return
        a = norm_axis(self.axis, dx.ndim)
        split = dx.shape[:a + 1] + (self.repeats,) + dx.shape[a + 1:]
        xp.sum(g.reshape(split), axis=a + 1, out=dx)


@register
class stack(Operator):
    """Join arrays of one shape along a new axis ``axis``.

    Example::

        >>> mx.nd.stack(mx.nd.array([1, 2]), mx.nd.array([3, 4]), axis=1).asnumpy()
        array([[1., 3.],
               [2., 4.]], dtype=float32)
    """
    name = 'stack'
    params = {'axis': Param('int', 0), 'num_args': Param('int')}
    variadic = True
    key_var_num_args = 'num_args'
    retain_inputs = retain_outputs = ()
    samples = (Sample({'num_args': 2, 'axis': 1}, {'arg0': (2, 3), 'arg1': (2, 3)}),
               Sample({'num_args': 3, 'axis': -1}, {'arg0': (2,), 'arg1': (2,), 'arg2': (2,)}))

    def _axis(self, ndim):
        return norm_axis(self.axis, ndim + 1)

    def infer_shape(self, in_shapes):
        common = None
        for name, s in zip(self.list_arguments(), in_shapes):
            if s is None:
                continue
            merged = merge_shape(common, s)
            if merged is None:
                raise InferError('stack needs inputs of one shape; %s has shape %s, the '
                                 'others %s' % (name, tuple(s), common))
            common = merged
        if common is None:
            return in_shapes, [None], []
        a = self._axis(len(common))
        out = tuple(common[:a]) + (len(in_shapes),) + tuple(common[a:])
        return [common] * len(in_shapes), [out], []

    def infer_shape_backward(self, in_shapes, out_shapes):
        """Every input has the output's shape without the stacked axis."""
        o = out_shapes[0]
        if o is None:
            return in_shapes
        a = norm_axis(self.axis, len(o))
        part = tuple(o[:a]) + tuple(o[a + 1:])
        return [merge_shape(s, part) or s for s in in_shapes]

    def _index(self, ndim, i):
        return (_pyslice(None),) * self._axis(ndim) + (i,)

    def forward(self, xp, ins, outs, aux, is_train):
        for i, x in enumerate(ins):
            outs[0][self._index(x.ndim, i)] = x

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        ndim = ograds[0].ndim - 1
        for i, dx in enumerate(igrads):
            if dx is not None:
                dx[...] = ograds[0][self._index(ndim, i)]


@register
class squeeze(_CopyLike):
    """Drop axes of size 1: those in ``axis``, or all of them (keeping one when every axis is
    1, as MXNet does).

    Example::

        >>> mx.nd.squeeze(mx.nd.ones((2, 1, 3, 1)), axis=1).shape
        (2, 3, 1)
    """
    name = 'squeeze'
    params = {'axis': Param('axis', None)}
    samples = (Sample({}, {'data': (2, 1, 3, 1)}), Sample({'axis': (1, -1)},
                                                          {'data': (2, 1, 3, 1)}),
               Sample({}, {'data': (1, 1)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []            # as MXNet: only from a known shape
        if self.axis is None:
            drop = [i for i, d in enumerate(s) if d == 1]
        else:
            drop = [norm_axis(a, len(s)) for a in self.axis]
            bad = [a for a in drop if s[a] != 1]
            if bad:
                raise InferError('squeeze: axis %d of data of shape %s is not of size 1'
                                 % (bad[0], tuple(s)))
        out = tuple(d for i, d in enumerate(s) if i not in drop)
        return [tuple(s)], [out or (1,)], []


class _Broadcasting(Operator):
    """The input broadcast to a larger shape of the same rank; the gradient is summed back
    over the broadcast axes."""
    retain_inputs = retain_outputs = ()

    def _check(self, s, out):
        for a, b in zip(s, out):
            if a not in (0, 1, b) and b != 0:
                raise InferError('%s: cannot broadcast data of shape %s to %s'
                                 % (self.name, tuple(s), tuple(out)))
        return tuple(out)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.broadcast_to(ins[0], outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            sum_to_shape(xp, ograds[0], igrads[0].shape, igrads[0])
        for dx in igrads[1:]:
            if dx is not None:
                dx.fill(0)


@register
class broadcast_to(_Broadcasting):
    """Broadcast to ``shape`` (a 0 keeps the input's size there); the rank does not change.

    Example::

        >>> mx.nd.broadcast_to(mx.nd.array([[1, 2]]), shape=(2, 0)).asnumpy()
        array([[1., 2.],
               [1., 2.]], dtype=float32)
    """
    name = 'broadcast_to'
    params = {'shape': Param('shape', ())}
    samples = (Sample({'shape': (3, 0)}, {'data': (1, 4)}),
               Sample({'shape': (2, 3, 2)}, {'data': (2, 1, 1)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return [s], [None], []
        target = tuple(self.shape or ())
        if len(target) != len(s):
            raise InferError('broadcast_to: shape %s must have the rank of data of shape %s'
                             % (target, tuple(s)))
        out = tuple(t if t else d for d, t in zip(s, target))
        return [tuple(s)], [self._check(s, out)], []


@register
class broadcast_axis(_Broadcasting):
    """Broadcast axes of size 1 (``axis``) to ``size``.

    Example::

        >>> mx.nd.broadcast_axis(mx.nd.ones((1, 2, 1)), axis=(0, 2), size=(3, 4)).shape
        (3, 2, 4)
    """
    name = 'broadcast_axis'
    aliases = ('broadcast_axes',)
    params = {'axis': Param('shape', ()), 'size': Param('shape', ())}
    samples = (Sample({'axis': (0, 2), 'size': (2, 3)}, {'data': (1, 2, 1)}),
               Sample({'axis': 1, 'size': 3}, {'data': (2, 1)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []
        axes, sizes = tuple(self.axis or ()), tuple(self.size or ())
        if len(axes) != len(sizes):
            raise InferError('broadcast_axis: axis %s and size %s differ in length'
                             % (axes, sizes))
        out = list(s)
        for a, n in zip(axes, sizes):
            a = norm_axis(a, len(s))
            if s[a] != 1:
                raise InferError('broadcast_axis: axis %d of data of shape %s has size %d, '
                                 'not 1' % (a, tuple(s), s[a]))
            out[a] = n
        return [tuple(s)], [tuple(out)], []


@register
class broadcast_like(_Broadcasting):
    """Broadcast ``lhs`` to the shape of ``rhs``; with ``lhs_axes``/``rhs_axes``, only those
    axes of ``lhs`` take the sizes of those of ``rhs``.  ``rhs`` gets a zero gradient.

    Example::

        >>> mx.nd.broadcast_like(mx.nd.array([[1, 2]]), mx.nd.ones((3, 2))).shape
        (3, 2)
    """
    name = 'broadcast_like'
    params = {'lhs_axes': Param('axis', None), 'rhs_axes': Param('axis', None)}
    arguments = ('lhs', 'rhs')
    samples = (Sample({}, {'lhs': (1, 3), 'rhs': (2, 3)}),
               Sample({'lhs_axes': (0, 2), 'rhs_axes': (1, 0)}, {'lhs': (1, 3, 1),
                                                                  'rhs': (4, 2)}))

    def infer_shape(self, in_shapes):
        lhs, rhs = in_shapes
        if lhs is None or rhs is None:
            return [lhs, rhs], [None], []
        if self.lhs_axes is None and self.rhs_axes is None:
            if len(lhs) != len(rhs):
                raise InferError('broadcast_like: lhs %s and rhs %s differ in rank'
                                 % (tuple(lhs), tuple(rhs)))
            out = tuple(b if b else (a if a != 1 else 0) for a, b in zip(lhs, rhs))
        else:
            la, ra = tuple(self.lhs_axes or ()), tuple(self.rhs_axes or ())
            if len(la) != len(ra) or not la:
                raise InferError('broadcast_like: lhs_axes %s and rhs_axes %s must be given '
                                 'together, of one length' % (la, ra))
            out = list(lhs)
            for a, b in zip(la, ra):
                out[norm_axis(a, len(lhs))] = rhs[norm_axis(b, len(rhs))]
            out = tuple(out)
        return [tuple(lhs), tuple(rhs)], [self._check(lhs, out)], []


@register
class reshape_like(Operator):
    """``lhs`` reshaped: the axes ``lhs_begin:lhs_end`` of ``lhs`` take the sizes of the axes
    ``rhs_begin:rhs_end`` of ``rhs`` (by default, all of them: ``rhs``'s shape).  ``rhs``
    gets a zero gradient.

    Example::

        >>> mx.nd.reshape_like(mx.nd.ones((6, 2)), mx.nd.ones((3, 4))).shape
        (3, 4)
    """
    name = 'reshape_like'
    params = {'lhs_begin': Param('int_or_none', None), 'lhs_end': Param('int_or_none', None),
              'rhs_begin': Param('int_or_none', None), 'rhs_end': Param('int_or_none', None)}
    arguments = ('lhs', 'rhs')
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'lhs': (6, 2), 'rhs': (3, 4)}),
               Sample({'lhs_begin': 0, 'lhs_end': 1, 'rhs_begin': 0, 'rhs_end': 2},
                      {'lhs': (6, 2), 'rhs': (3, 2, 5)}),
               Sample({'lhs_begin': -1, 'rhs_begin': 1}, {'lhs': (2, 6), 'rhs': (4, 2, 3)}))

    @staticmethod
    def _range(begin, end, ndim, what):
        b = 0 if begin is None else begin + ndim if begin < 0 else begin
        e = ndim if end is None else end + ndim if end < 0 else end
        if not 0 <= b < e <= ndim:
            raise InferError('reshape_like: %s_begin=%s, %s_end=%s is not a range of %d axes'
                             % (what, begin, what, end, ndim))
        return b, e

    def infer_shape(self, in_shapes):
        lhs, rhs = in_shapes
        if not (_known(lhs) and _known(rhs)):
            return [lhs, rhs], [None], []     # as MXNet: from known shapes only
        lb, le = self._range(self.lhs_begin, self.lhs_end, len(lhs), 'lhs')
        rb, re_ = self._range(self.rhs_begin, self.rhs_end, len(rhs), 'rhs')
        out = tuple(lhs[:lb]) + tuple(rhs[rb:re_]) + tuple(lhs[le:])
        if prod(out) != prod(lhs):
            raise InferError('reshape_like: cannot reshape lhs of shape %s to %s (from rhs %s)'
                             % (tuple(lhs), out, tuple(rhs)))
        return [tuple(lhs), tuple(rhs)], [out], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0].reshape(outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = ograds[0].reshape(igrads[0].shape)
        if igrads[1] is not None:
            igrads[1].fill(0)


@register
class slice_like(Operator):
    """``data[:n0, :n1, ...]`` where the sizes come from ``shape_like``, along ``axes`` (by
    default every axis; then both must have one rank).  ``shape_like`` gets a zero gradient.

    Example::

        >>> mx.nd.slice_like(mx.nd.ones((3, 4)), mx.nd.ones((2, 3)), axes=(1,)).shape
        (3, 3)
    """
    name = 'slice_like'
    params = {'axes': Param('shape', ())}
    arguments = ('data', 'shape_like')
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (3, 4), 'shape_like': (2, 3)}),
               Sample({'axes': (0, -1)}, {'data': (3, 2, 4), 'shape_like': (2, 5, 3)}))

    def infer_shape(self, in_shapes):
        d, like = in_shapes
        if d is None or like is None:
            return [d, like], [None], []
        if self.axes:
            axes = [norm_axis(a, len(d)) for a in self.axes]
            if any(a >= len(like) for a in axes):
                raise InferError('slice_like: axes %s do not fit shape_like of shape %s'
                                 % (tuple(self.axes), tuple(like)))
        else:
            if len(d) != len(like):
                raise InferError('slice_like: data %s and shape_like %s differ in rank (give '
                                 'axes)' % (tuple(d), tuple(like)))
            axes = range(len(d))
        out = list(d)
        for a in axes:
            if like[a] and d[a] and like[a] > d[a]:
                raise InferError('slice_like: shape_like %s is larger than data %s along axis '
                                 '%d' % (tuple(like), tuple(d), a))
            out[a] = like[a]
        return [tuple(d), tuple(like)], [tuple(out)], []

    @staticmethod
    def _index(shape):
        return tuple(_pyslice(0, n) for n in shape)

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = ins[0][self._index(outs[0].shape)]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            dx.fill(0)
            dx[self._index(ograds[0].shape)] = ograds[0]
        if igrads[1] is not None:
            igrads[1].fill(0)


class _ShapeOf(Operator):
    """An int64 array describing the input's shape; no gradient."""
    retain_inputs = retain_outputs = ()
    zero_gradient = True
    samples = (Sample({}, {'data': (2, 3)}),)

    def infer_type(self, in_types):
        return [in_types[0]], ['int64'], []

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0].fill(0)


@register
class shape_array(_ShapeOf):
    """The input's shape as a 1-D int64 array.

    Example::

        >>> mx.nd.shape_array(mx.nd.ones((2, 3))).asnumpy()
        array([2, 3])
    """
    name = 'shape_array'

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        return [s], [None if s is None else (len(s),)], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.asarray(np.array(ins[0].shape, dtype=np.int64))


@register
class size_array(_ShapeOf):
    """The input's number of elements as a 1-element int64 array.

    Example::

        >>> mx.nd.size_array(mx.nd.ones((2, 3))).asnumpy()
        array([6])
    """
    name = 'size_array'

    def infer_shape(self, in_shapes):
        return [in_shapes[0]], [(1,)], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0].fill(ins[0].size)


class _BlockMove(Operator):
    """depth_to_space/space_to_depth: a reshape, a transpose and a reshape of NCHW data."""
    params = {'block_size': Param('int')}
    retain_inputs = retain_outputs = ()

    def setup(self):
        if self.block_size < 1:
            raise InferError('%s: block_size must be positive, got %d'
                             % (self.name, self.block_size))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []
        if len(s) != 4:
            raise InferError('%s needs 4-D (N, C, H, W) data, got shape %s'
                             % (self.name, tuple(s)))
        return [tuple(s)], [self._out(tuple(s), self.block_size)], []

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        outs[0][...] = x.reshape(self._split(x.shape)).transpose(self.perm).reshape(
            outs[0].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            inverse = tuple(np.argsort(self.perm))
            moved = tuple(self._split(dx.shape)[p] for p in self.perm)
            dx[...] = ograds[0].reshape(moved).transpose(inverse).reshape(dx.shape)


@register
class depth_to_space(_BlockMove):
    """Move blocks of channels into space: (N, C, H, W) -> (N, C/b^2, H*b, W*b), the channel
    ``(i*b + j)*C/b^2 + c`` landing at ``(c, h*b + i, w*b + j)`` (``b = block_size``).

    Example::

        >>> mx.nd.depth_to_space(mx.nd.ones((1, 8, 2, 3)), block_size=2).shape
        (1, 2, 4, 6)
    """
    name = 'depth_to_space'
    perm = (0, 3, 4, 1, 5, 2)
    samples = (Sample({'block_size': 2}, {'data': (2, 8, 2, 3)}),)

    def _out(self, s, b):
        n, c, h, w = s
        if c % (b * b):
            raise InferError('depth_to_space: %d channels are not a multiple of block_size^2 '
                             '= %d' % (c, b * b))
        return (n, c // (b * b), h * b, w * b)

    def _split(self, s):
        b = self.block_size
        n, c, h, w = s
        return (n, b, b, c // (b * b), h, w)


@register
class space_to_depth(_BlockMove):
    """Move blocks of space into channels, the inverse of ``depth_to_space``: (N, C, H, W) ->
    (N, C*b^2, H/b, W/b).

    Example::

        >>> mx.nd.space_to_depth(mx.nd.ones((1, 2, 4, 6)), block_size=2).shape
        (1, 8, 2, 3)
    """
    name = 'space_to_depth'
    perm = (0, 3, 5, 1, 2, 4)
    samples = (Sample({'block_size': 2}, {'data': (2, 2, 4, 6)}),)

    def _out(self, s, b):
        n, c, h, w = s
        if h % b or w % b:
            raise InferError('space_to_depth: height %d and width %d must be multiples of '
                             'block_size %d' % (h, w, b))
        return (n, c * b * b, h // b, w // b)

    def _split(self, s):
        b = self.block_size
        n, c, h, w = s
        return (n, c, h // b, b, w // b, b)


@register
class diag(Operator):
    """The ``k``-th diagonal: of a matrix (or, for N-d data, over ``axis1``/``axis2``, the
    diagonal as a new last axis, like NumPy's ``diagonal``); a vector gives the square matrix
    with it on the ``k``-th diagonal.

    Example::

        >>> mx.nd.diag(mx.nd.array([[1, 2], [3, 4]])).asnumpy()
        array([1., 4.], dtype=float32)
    """
    name = 'diag'
    params = {'k': Param('int', 0), 'axis1': Param('int', 0), 'axis2': Param('int', 1)}
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (3, 3)}), Sample({'k': 1}, {'data': (3, 4)}),
               Sample({'k': -2}, {'data': (3, 4)}), Sample({'k': -1}, {'data': (3,)}),
               Sample({'k': 1, 'axis1': 2, 'axis2': 0}, {'data': (2, 3, 4)}))

    def _axes(self, ndim):
        a1, a2 = norm_axis(self.axis1, ndim), norm_axis(self.axis2, ndim)
        if a1 == a2:
            raise InferError('diag: axis1 and axis2 must differ, both are %d' % a1)
        return a1, a2

    def _length(self, d1, d2):
        k = self.k
        return max(0, min(d1 - max(-k, 0), d2 - max(k, 0)))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if not _known(s):
            return [s], [None], []
        if len(s) == 1:
            n = s[0] + abs(self.k)
            return [tuple(s)], [(n, n)], []
        a1, a2 = self._axes(len(s))
        n = self._length(s[a1], s[a2])
        if n == 0:
            raise InferError('diag: data of shape %s has no diagonal k=%d' % (tuple(s), self.k))
        rest = tuple(d for i, d in enumerate(s) if i not in (a1, a2))
        return [tuple(s)], [rest + (n,)], []

    def _positions(self, xp, n):
        k = self.k
        return xp.arange(n) + max(-k, 0), xp.arange(n) + max(k, 0)

    def _diagonal_view(self, xp, a):
        """(``a`` with axis1, axis2 moved last, the diagonal's rows and columns)."""
        a1, a2 = self._axes(a.ndim)
        moved = xp.moveaxis(a, (a1, a2), (-2, -1))
        return moved, self._positions(xp, self._length(a.shape[a1], a.shape[a2]))

    def forward(self, xp, ins, outs, aux, is_train):
        x, out = ins[0], outs[0]
        if x.ndim == 1:
            out.fill(0)
            rows, cols = self._positions(xp, x.shape[0])
            out[rows, cols] = x
            return
        moved, (rows, cols) = self._diagonal_view(xp, x)
        out[...] = moved[..., rows, cols]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx, g = igrads[0], ograds[0]
        if dx is None:
            return
        if dx.ndim == 1:
            rows, cols = self._positions(xp, dx.shape[0])
            dx[...] = g[rows, cols]
            return
        dx.fill(0)
        moved, (rows, cols) = self._diagonal_view(xp, dx)
        moved[..., rows, cols] = g
