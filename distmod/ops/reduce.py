"""Reductions over axes: sum, mean, max, min, prod, nansum, nanprod, norm and moments.

MXNet's conventions, which differ from NumPy's: reducing every axis without ``keepdims`` gives
shape ``(1,)``, not ``()``; ``axis=()`` means every axis, like ``None``; ``exclude=True``
reduces over the axes *not* listed (so listing every axis reduces nothing).  Ties in max/min
each receive the full gradient, as in MXNet.
"""
import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import prod

__all__ = ['Reduce', 'Sum', 'Mean', 'Max', 'Min', 'Prod', 'NanSum', 'NanProd', 'Norm', 'Moments']


class Reduce(Operator):
    """Base of the reductions: parses ``axis``/``keepdims``/``exclude`` into reduced axes.

    Subclasses set ``reduction``, the name of the ``xp`` function (or override ``reduce(xp, x,
    axes, out)``, which writes the reduction with ``keepdims`` into ``out``), and ``backward``.
    """
    params = {'axis': Param('axis', None), 'keepdims': Param('bool', False),
              'exclude': Param('bool', False)}
    retain_inputs = retain_outputs = ()
    reduction = None

    def reduced_axes(self, ndim):
        """The sorted tuple of axes to reduce for an input of ``ndim`` dimensions."""
        if self.axis is None:
            return tuple(range(ndim))
        axes = []
        for a in self.axis:
            n = a + ndim if a < 0 else a
            if not 0 <= n < ndim:
                raise InferError('%s: axis %d is out of range for data of %d dimensions'
                                 % (self.name, a, ndim))
            axes.append(n)
        if len(set(axes)) != len(axes):
            raise InferError('%s: axis %s has duplicates' % (self.name, self.axis))
        if getattr(self, 'exclude', False):
            axes = [i for i in range(ndim) if i not in axes]
        return tuple(sorted(axes))

    def _kept_shape(self, shape):
        axes = self.reduced_axes(len(shape))
        return tuple(1 if i in axes else d for i, d in enumerate(shape))

    def infer_shape(self, in_shapes):
        shape = in_shapes[0]
        if shape is None:
            return [None], [None], []
        axes = self.reduced_axes(len(shape))
        if self.keepdims:
            out = tuple(1 if i in axes else d for i, d in enumerate(shape))
        else:
            out = tuple(d for i, d in enumerate(shape) if i not in axes) or (1,)
        return [tuple(shape)], [out], []

    def reduce(self, xp, x, axes, out):
        getattr(xp, self.reduction)(x, axis=axes, keepdims=True, out=out)

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        kshape = self._kept_shape(x.shape)
        # reduce with keepdims into a view of the output: one code path for every
        # keepdims/exclude combination, and no extra copy
        self.reduce(xp, x, self.reduced_axes(x.ndim), outs[0].reshape(kshape))

    def _head(self, ograds, x):
        """The head gradient reshaped to broadcast against the input."""
        return ograds[0].reshape(self._kept_shape(x.shape))


@register
class Sum(Reduce):
    """Sum over ``axis`` (every axis by default).

    Example::

        >>> mx.nd.sum(mx.nd.ones((2, 3)), axis=1).asnumpy()
        array([3., 3.], dtype=float32)
    """
    name = 'sum'
    aliases = ('sum_axis',)
    reduction = 'sum'
    samples = (Sample({}, {'data': (2, 3, 4)}),
               Sample({'axis': 1}, {'data': (2, 3, 4)}),
               Sample({'axis': (0, 2), 'keepdims': True}, {'data': (2, 3, 4)}),
               Sample({'axis': -1, 'exclude': True}, {'data': (2, 3, 4)}))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][...] = self._head(ograds, igrads[0])


@register
class Mean(Reduce):
    """Mean over ``axis`` (every axis by default).

    Example::

        >>> mx.nd.mean(mx.nd.array([[1, 2], [3, 5]]), axis=0).asnumpy()
        array([2. , 3.5], dtype=float32)
    """
    name = 'mean'
    reduction = 'mean'
    samples = (Sample({}, {'data': (2, 3, 4)}),
               Sample({'axis': (1,), 'keepdims': True}, {'data': (2, 3, 4)}),
               Sample({'axis': (0, 2), 'exclude': True}, {'data': (2, 3, 4)}))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        n = prod(dx.shape[a] for a in self.reduced_axes(dx.ndim))
        xp.multiply(self._head(ograds, dx), 1.0 / max(n, 1), out=dx)


class _Extremum(Reduce):
    retain_inputs = (0,)
    retain_outputs = (0,)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        x = ins[0]
        kshape = self._kept_shape(x.shape)
        # every element equal to the extremum gets the whole gradient (MXNet's rule for ties)
        xp.multiply(ograds[0].reshape(kshape), x == outs[0].reshape(kshape), out=dx)


@register
class Max(_Extremum):
    """Maximum over ``axis`` (every axis by default).

    Example::

        >>> mx.nd.max(mx.nd.array([[1, 5], [3, 2]]), axis=1).asnumpy()
        array([5., 3.], dtype=float32)
    """
    name = 'max'
    aliases = ('max_axis',)
    reduction = 'amax'
    samples = (Sample({}, {'data': (3, 4)}),
               Sample({'axis': 1}, {'data': (2, 3, 4)}),
               Sample({'axis': 0, 'keepdims': True, 'exclude': True}, {'data': (2, 3, 4)}))


@register
class Min(_Extremum):
    """Minimum over ``axis`` (every axis by default).

    Example::

        >>> mx.nd.min(mx.nd.array([[1, 5], [3, 2]]), axis=1).asnumpy()
        array([1., 2.], dtype=float32)
    """
    name = 'min'
    aliases = ('min_axis',)
    reduction = 'amin'
    samples = Max.samples


@register
class Prod(Reduce):
    """Product over ``axis`` (every axis by default).

    The gradient is ``out / x`` as in MXNet, which is NaN where ``x`` is zero.

    Example::

        >>> mx.nd.prod(mx.nd.array([[1, 2], [3, 4]]), axis=0).asnumpy()
        array([3., 8.], dtype=float32)
    """
    name = 'prod'
    reduction = 'prod'
    retain_inputs = (0,)
    retain_outputs = (0,)
    samples = (Sample({}, {'data': (2, 3)}),
               Sample({'axis': 1, 'keepdims': True}, {'data': (2, 3, 4)}))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        kshape = self._kept_shape(dx.shape)
        xp.divide(outs[0].reshape(kshape), ins[0], out=dx)
        dx *= ograds[0].reshape(kshape)


def _with_nans(rng, shape):
    x = rng.standard_normal(shape)
    x.reshape(-1)[::3] = np.nan
    return x


@register
class NanSum(Reduce):
    """Sum over ``axis`` treating NaN as zero; NaN elements get zero gradient.

    Example::

        >>> mx.nd.nansum(mx.nd.array([1, float('nan'), 2])).asnumpy()
        array([3.], dtype=float32)
    """
    name = 'nansum'
    reduction = 'nansum'
    retain_inputs = (0,)
    samples = (Sample({'axis': 1}, {'data': (3, 4)}, values={'data': _with_nans}),)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is not None:
            xp.multiply(self._head(ograds, dx), ~xp.isnan(ins[0]), out=dx)


@register
class NanProd(Prod):
    """Product over ``axis`` treating NaN as one; NaN elements get zero gradient.

    Example::

        >>> mx.nd.nanprod(mx.nd.array([3, float('nan'), 2])).asnumpy()
        array([6.], dtype=float32)
    """
    name = 'nanprod'
    reduction = 'nanprod'
    samples = (Sample({'axis': 1}, {'data': (3, 4)}, values={'data': _with_nans}),)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        Prod.backward(self, xp, ograds, ins, outs, igrads, aux)
        if igrads[0] is not None:
            igrads[0][xp.isnan(ins[0])] = 0


@register
class Norm(Reduce):
    """L2 (``ord=2``, the default) or L1 (``ord=1``) norm over ``axis`` (every axis by default).

    ``out_dtype`` sets the output dtype.  Unlike MXNet (NaN), the L2 gradient at a zero norm
    is 0, so a vanishing weight does not poison training.

    Example::

        >>> mx.nd.norm(mx.nd.array([[3, 4], [6, 8]]), axis=1).asnumpy()
        array([ 5., 10.], dtype=float32)
    """
    name = 'norm'
    params = {'ord': Param('int', 2, choices={1, 2}), 'axis': Param('axis', None),
              'out_dtype': Param('dtype_or_none', None, choices={
                  None, 'float16', 'float32', 'float64', 'int32', 'int64', 'int8'}),
              'keepdims': Param('bool', False)}
    samples = (Sample({}, {'data': (3, 4)}),
               Sample({'ord': 1}, {'data': (3, 4)}),
               Sample({'axis': 1}, {'data': (2, 3, 4)}),
               Sample({'ord': 1, 'axis': (0, 2), 'keepdims': True}, {'data': (2, 3, 4)}),
               Sample({'axis': -1, 'keepdims': True}, {'data': (2, 3, 4)}))

    def setup(self):
        # the L1 gradient is sign(x); the L2 one x / norm
        self.retain_inputs = (0,)
        self.retain_outputs = (0,) if self.ord == 2 else ()

    def infer_type(self, in_types):
        dtype = in_types[0]
        return [dtype], [self.out_dtype or dtype], []

    def reduce(self, xp, x, axes, out):
        # integers are normed in float64 and truncated into the output, as MXNet does
        work = x.dtype if x.dtype.kind == 'f' else np.float64
        target = out if out.dtype == work else xp.empty(out.shape, work)
        if self.ord == 1:
            xp.sum(xp.abs(x), axis=axes, keepdims=True, out=target)
        else:
            xp.sum(xp.square(x), axis=axes, keepdims=True, out=target)
            xp.sqrt(target, out=target)
        if target is not out:
            out[...] = target

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        x = ins[0]
        kshape = self._kept_shape(x.shape)
        g = ograds[0].reshape(kshape)
        if self.ord == 1:
            xp.sign(x, out=dx)
        else:
            y = outs[0].reshape(kshape)
            # where the norm is 0, x is 0 there too, so dividing by 1 gives a 0 gradient
            xp.divide(x, xp.where(y == 0, 1, y), out=dx)
        dx *= g


@register
class Moments(Operator):
    """The mean and the (biased) variance over ``axes``, as two outputs.

    Example::

        >>> mean, var = mx.nd.moments(mx.nd.array([[1, 3], [5, 7]]), axes=(1,))
        >>> mean.asnumpy(), var.asnumpy()
        (array([2., 6.], dtype=float32), array([1., 1.], dtype=float32))
    """
    name = 'moments'
    params = {'axes': Param('axis', None), 'keepdims': Param('bool', False)}
    outputs = ('output0', 'output1')
    retain_inputs = (0,)      # the variance's gradient is 2 (x - mean) / n
    retain_outputs = (0,)
    samples = (Sample({'axes': (1,)}, {'data': (3, 4)}),
               Sample({'axes': (0, 2), 'keepdims': True}, {'data': (2, 3, 2)}),
               Sample({'axes': (-1, 0)}, {'data': (2, 3)}))

    def _axes(self, ndim):
        if not self.axes:
            raise InferError('moments: give the axes to reduce (MXNet does not take empty '
                             'axes; list every axis for global moments)')
        axes = sorted(a + ndim if a < 0 else a for a in self.axes)
        if any(not 0 <= a < ndim for a in axes) or len(set(axes)) != len(axes):
            raise InferError('moments: axes %s do not fit %d dimensions' % (self.axes, ndim))
        return tuple(axes)

    def _kept(self, shape):
        axes = self._axes(len(shape))
        return tuple(1 if i in axes else d for i, d in enumerate(shape))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return [s], [None, None], []
        axes = self._axes(len(s))
        if self.keepdims:
            out = self._kept(s)
        else:
            out = tuple(d for i, d in enumerate(s) if i not in axes) or (1,)
        return [tuple(s)], [out, out], []

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        axes, kept = self._axes(x.ndim), self._kept(x.shape)
        mean = outs[0].reshape(kept)
        xp.mean(x, axis=axes, keepdims=True, out=mean)
        centred = x - mean
        centred *= centred
        xp.mean(centred, axis=axes, keepdims=True, out=outs[1].reshape(kept))

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        dx = igrads[0]
        if dx is None:
            return
        x = ins[0]
        axes, kept = self._axes(x.ndim), self._kept(x.shape)
        n = prod(x.shape[a] for a in axes)
        xp.subtract(x, outs[0].reshape(kept), out=dx)
        dx *= ograds[1].reshape(kept) * (2.0 / n)
        dx += ograds[0].reshape(kept) * (1.0 / n)
