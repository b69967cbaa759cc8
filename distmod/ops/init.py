"""Operators without inputs that make arrays: _ones, _full, _arange, _linspace and _eye (the
operators behind ``mx.sym.ones``, ``full``, ``arange``, ``linspace`` and ``eye``; ``_zeros``
is in ``shape``).

A 0 in ``shape`` is a dimension left to inference, which fills it in from the operators that
use the array (as for ``_zeros``); ``_arange`` with ``infer_range=True`` takes its length the
same way.  None of them has inputs, so none has a gradient.
"""
import math

import numpy as np

from .registry import Operator, Param, Sample, InferError, register

__all__ = ['Ones', 'Full', 'Arange', 'Linspace', 'Eye']

_ALL_DTYPES = {'bfloat16', 'bool', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8',
               'uint8'}


class _Maker(Operator):
    """An operator that makes one array from its parameters."""
    arguments = ()
    retain_inputs = retain_outputs = ()

    def infer_type(self, in_types):
        return [], [self.dtype], []

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        pass


@register
class Ones(_Maker):
    """An array of ones of ``shape``.

    Example::

        >>> mx.sym.ones((2, 3)).eval()[0].asnumpy()
        array([[1., 1., 1.],
               [1., 1., 1.]], dtype=float32)
    """
    name = '_ones'
    params = {'shape': Param('shape', ()), 'ctx': Param('str', ''),
              'dtype': Param('dtype', 'float32', choices=_ALL_DTYPES)}
    samples = (Sample({'shape': (2, 3)}, {}),)

    def infer_shape(self, in_shapes):
        return [], [tuple(self.shape or ())], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0].fill(1)


@register
class Full(_Maker):
    """An array of ``shape`` filled with ``value`` (cast to ``dtype``, so 3.7 is 3 in int32).

    Example::

        >>> mx.sym.full((2,), 3.5).eval()[0].asnumpy()
        array([3.5, 3.5], dtype=float32)
    """
    name = '_full'
    params = {'shape': Param('shape', ()), 'ctx': Param('str', ''),
              'dtype': Param('dtype', 'float32', choices=_ALL_DTYPES),
              'value': Param('float')}
    samples = (Sample({'shape': (2, 3), 'value': 2.5}, {}),)

    def infer_shape(self, in_shapes):
        return [], [tuple(self.shape or ())], []

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        out.fill(out.dtype.type(self.value) if out.dtype.kind in 'iub' else self.value)


@register
class Arange(_Maker):
    """Evenly spaced values ``start, start + step, ...`` below ``stop`` (``stop=None``: the
    range ``[0, start)``), each repeated ``repeat`` times.  The values are computed in
    ``dtype`` (an int32 range casts ``start`` and ``step`` first, as MXNet does).
    ``infer_range=True`` takes the length from the array's inferred shape instead of
    ``stop``.

    Example::

        >>> mx.sym.arange(1, 3, 0.5).eval()[0].asnumpy()
        array([1. , 1.5, 2. , 2.5], dtype=float32)
    """
    name = '_arange'
    params = {'start': Param('float'), 'stop': Param('float_or_none', None),
              'step': Param('float', 1.0), 'repeat': Param('int', 1),
              'infer_range': Param('bool', False), 'ctx': Param('str', ''),
              'dtype': Param('dtype', 'float32', choices=_ALL_DTYPES - {'bool'})}
    samples = (Sample({'start': 5}, {}), Sample({'start': 1, 'stop': 4, 'step': 0.5,
                                                 'repeat': 2}, {}))

    def setup(self):
        if self.step == 0:
            raise InferError('_arange: step must not be 0')
        if self.repeat < 1:
            raise InferError('_arange: repeat must be positive, got %d' % self.repeat)

    def _bounds(self):
        if self.stop is None and not self.infer_range:
            return 0.0, self.start
        return self.start, self.stop

    def infer_shape(self, in_shapes):
        if self.infer_range:
            return [], [(0,)], []               # the length comes from the consumers
        start, stop = self._bounds()
        n = int(math.ceil((stop - start) / self.step))
        if n <= 0:
            raise InferError('_arange: the range from %s to %s by %s is empty'
                             % (start, stop, self.step))
        return [], [(n * self.repeat,)], []

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        dtype = out.dtype.type
        start, _ = self._bounds()
        i = xp.arange(out.size) // self.repeat
        out[...] = dtype(start) + i.astype(out.dtype) * dtype(self.step)


@register
class Linspace(_Maker):
    """``num`` evenly spaced values from ``start`` to ``stop`` (``endpoint=False``: stopping
    one step short of it), computed in float64 and cast to ``dtype``.

    Example::

        >>> mx.sym.linspace(0, 1, 5).eval()[0].asnumpy()
        array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    name = '_linspace'
    params = {'start': Param('float'), 'stop': Param('float'), 'num': Param('int'),
              'endpoint': Param('bool', True), 'ctx': Param('str', ''),
              'dtype': Param('dtype', 'float32', choices=_ALL_DTYPES - {'bool'})}
    samples = (Sample({'start': 0, 'stop': 1, 'num': 5}, {}),
               Sample({'start': 2, 'stop': -1, 'num': 4, 'endpoint': False}, {}))

    def infer_shape(self, in_shapes):
        if self.num < 0:
            raise InferError('_linspace: num must not be negative, got %d' % self.num)
        return [], [(self.num,)], []

    def forward(self, xp, ins, outs, aux, is_train):
        outs[0][...] = xp.linspace(self.start, self.stop, self.num, endpoint=self.endpoint)


@register
class Eye(_Maker):
    """An ``N`` x ``M`` matrix (``M=0``: square) with ones on the ``k``-th diagonal.

    Example::

        >>> mx.sym.eye(2, 3, 1).eval()[0].asnumpy()
        array([[0., 1., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    name = '_eye'
    params = {'N': Param('int'), 'M': Param('int', 0), 'k': Param('int', 0),
              'ctx': Param('str', ''),
              'dtype': Param('dtype', 'float32', choices=_ALL_DTYPES - {'bool', 'bfloat16'})}
    samples = (Sample({'N': 3}, {}), Sample({'N': 2, 'M': 4, 'k': -1}, {}))

    def infer_shape(self, in_shapes):
        return [], [(self.N, self.M or self.N)], []

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        out[...] = xp.eye(out.shape[0], out.shape[1], self.k, dtype=out.dtype)
