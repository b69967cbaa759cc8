"""Random operators: _random_uniform, _random_normal, _random_randint, _shuffle,
_sample_multinomial.

Every draw comes from ``distmod.random.generator(xp)``, so ``mx.random.seed(n)`` makes a graph's
(and ``mx.nd.random.*``'s) numbers repeatable.  The generic gradient check reseeds before each
forward (as it does for Dropout), so the random draws repeat there too: the operators with no
inputs have nothing to check, ``_shuffle`` routes gradients back through its permutation and
``_sample_multinomial`` differentiates the log-probability output.
"""
import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from ._util import prod
from .. import random as _random

_FLOATS = ('float16', 'float32', 'float64')


def _check_dtype(op_name, dtype, valid, default):
    """``dtype`` (None means ``default``) if it is one of ``valid``, else MXNet's message."""
    if dtype is None:
        return default
    if dtype not in valid:
        raise InferError("operator %s: invalid dtype '%s', valid values are: %s"
                         % (op_name, dtype, ', '.join(('None',) + tuple(valid))))
    return dtype


def _draw_dtype(dtype):
    """The dtype generators draw in for an output of ``dtype`` (they make float32/64 only)."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


class _Sampler(Operator):
    """Base of the operators with no inputs that fill ``shape`` with draws of ``dtype``."""

    arguments = ()
    retain_inputs = retain_outputs = ()
    valid_dtypes = _FLOATS
    default_dtype = 'float32'

    def setup(self):
        self.out_dtype = _check_dtype(self.name, self.dtype, self.valid_dtypes,
                                      self.default_dtype)
        if self.shape is not None and any(d is not None and d < 0 for d in self.shape):
            raise InferError('operator %s: shape %s has a negative dimension'
                             % (self.name, self.shape))

    def out_shape(self):
        # MXNet's NDArray face gives (1,) when no shape is given
        return tuple(self.shape) if self.shape else (1,)

    def infer_shape(self, in_shapes):
        return [], [self.out_shape()], []

    def infer_type(self, in_types):
        return [], [self.out_dtype], []

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        pass   # no inputs, nothing to differentiate


def _sampler_params(extra):
    params = {'shape': Param('shape', ()), 'ctx': Param('str', ''),
              'dtype': Param('dtype_or_none', None)}
    params.update(extra)
    return params


@register
class _random_uniform(_Sampler):
    """Draws from the uniform distribution on ``[low, high)``.

    Example::

        >>> mx.random.seed(7)
        >>> x = mx.nd.random.uniform(-1, 1, shape=(2, 3))
        >>> x.shape, x.dtype.__name__, bool(((x.asnumpy() >= -1) & (x.asnumpy() < 1)).all())
        ((2, 3), 'float32', True)
    """
    name = '_random_uniform'
    aliases = ('uniform', 'random_uniform')
    params = _sampler_params({'low': Param('float', 0.0), 'high': Param('float', 1.0)})
    samples = (Sample({'shape': (2, 3)}, {}),
               Sample({'low': -2, 'high': 5, 'shape': (4,), 'dtype': 'float64'}, {}))

    def setup(self):
        super().setup()
        if self.low > self.high:
            raise InferError('operator %s: low must be less or equal to high in uniform '
                             'distribution (low=%s, high=%s)' % (self.name, self.low, self.high))

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        u = _random.generator(xp).random(out.shape, dtype=_draw_dtype(out.dtype))
        out[...] = self.low + (self.high - self.low) * u
        if self.high > self.low:
            # rounding may land on high; the interval is half-open
            top = np.nextafter(out.dtype.type(self.high), out.dtype.type(self.low))
            xp.minimum(out, top, out=out)


@register
class _random_normal(_Sampler):
    """Draws from the normal distribution with mean ``loc`` and standard deviation ``scale``.

    Example::

        >>> mx.random.seed(7)
        >>> x = mx.nd.random.normal(10, 0.1, shape=(1000,))
        >>> bool(abs(x.asnumpy().mean() - 10) < 0.05)
        True
    """
    name = '_random_normal'
    aliases = ('normal', 'random_normal')
    params = _sampler_params({'loc': Param('float', 0.0), 'scale': Param('float', 1.0)})
    samples = (Sample({'shape': (2, 3)}, {}),
               Sample({'loc': 1, 'scale': 2, 'shape': (3,), 'dtype': 'float64'}, {}))

    def setup(self):
        super().setup()
        if not self.scale > 0:
            raise InferError('operator %s: scale parameter in gaussian has to be positive '
                             '(scale=%s)' % (self.name, self.scale))

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        z = _random.generator(xp).standard_normal(out.shape, dtype=_draw_dtype(out.dtype))
        out[...] = self.loc + self.scale * z


@register
class _random_randint(_Sampler):
    """Draws integers uniformly from ``[low, high)`` (``dtype`` int32 unless told int64).

    Example::

        >>> mx.random.seed(7)
        >>> x = mx.nd.random.randint(0, 5, shape=(4,))
        >>> x.dtype.__name__, bool(((x.asnumpy() >= 0) & (x.asnumpy() < 5)).all())
        ('int32', True)
    """
    name = '_random_randint'
    aliases = ('random_randint',)
    valid_dtypes = ('int32', 'int64')
    default_dtype = 'int32'
    params = _sampler_params({'low': Param('int'), 'high': Param('int')})
    samples = (Sample({'low': 0, 'high': 5, 'shape': (2, 3)}, {}),
               Sample({'low': -3, 'high': 3, 'shape': (4,), 'dtype': 'int64'}, {}))

    def setup(self):
        super().setup()
        if self.low >= self.high:
            raise InferError('operator %s: low must be less than high (low=%d, high=%d)'
                             % (self.name, self.low, self.high))
        info = np.iinfo(self.out_dtype)
        if self.low < info.min or self.high - 1 > info.max:
            raise InferError('operator %s: [%d, %d) does not fit dtype %s'
                             % (self.name, self.low, self.high, self.out_dtype))

    def forward(self, xp, ins, outs, aux, is_train):
        out = outs[0]
        out[...] = _random.generator(xp).integers(self.low, self.high, size=out.shape,
                                                  dtype=out.dtype)


@register
class _shuffle(Operator):
    """The input with its first axis randomly permuted (the rows of a matrix shuffled).

    Backward routes each gradient row back through the permutation forward drew (MXNet
    declares no gradient for ``_shuffle``; distmod's is the exact one).

    Example::

        >>> mx.random.seed(7)
        >>> x = mx.nd.array([[0, 1], [2, 3], [4, 5]])
        >>> sorted(mx.nd.random.shuffle(x).asnumpy()[:, 0].tolist())
        [0.0, 2.0, 4.0]
    """
    name = '_shuffle'
    aliases = ('shuffle',)
    params = {}
    retain_inputs = retain_outputs = ()        # the permutation is kept on the op
    samples = (Sample({}, {'data': (5, 3)}), Sample({}, {'data': (4,)}))

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is not None and len(s) == 0:
            raise InferError('operator _shuffle needs at least one dimension to shuffle')
        return [s], [s], []

    def forward(self, xp, ins, outs, aux, is_train):
        x = ins[0]
        # argsort of uniform draws: one code path for numpy and cupy generators
        self.perm = xp.argsort(_random.generator(xp).random(x.shape[0]))
        xp.take(x, self.perm, axis=0, out=outs[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            igrads[0][self.perm] = ograds[0]


def _dirichlet_rows(rng, shape):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


@register
class _sample_multinomial(Operator):
    """Draws category indices from the distributions in the last axis of ``data``.

    ``data`` of shape ``(..., k)`` holds probabilities (each row should sum to 1); the samples
    have shape ``data.shape[:-1] + shape`` (``(1,)`` for one 1-D row and no ``shape``).  With
    ``get_prob`` a second output holds the log-probability of each draw, whose gradient with
    respect to ``data`` is what backward computes (as for REINFORCE).

    Example::

        >>> mx.random.seed(7)
        >>> p = mx.nd.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> mx.nd.random.multinomial(p, shape=2).asnumpy().tolist()
        [[1, 1], [2, 2]]
    """
    name = '_sample_multinomial'
    aliases = ('sample_multinomial',)
    params = {'shape': Param('shape', ()), 'get_prob': Param('bool', False),
              'dtype': Param('dtype', 'int32',
                               choices={'float16', 'float32', 'float64', 'int32', 'uint8'})}
    samples = (Sample({'shape': (3,), 'get_prob': True}, {'data': (2, 4)},
                      values={'data': _dirichlet_rows}),
               Sample({'get_prob': True, 'dtype': 'float32'}, {'data': (5,)},
                      values={'data': _dirichlet_rows}),
               Sample({'shape': (2, 2)}, {'data': (3, 3)}, values={'data': _dirichlet_rows}))

    def setup(self):
        if self.shape is not None and any(d is None or d < 1 for d in self.shape):
            raise InferError('operator %s: shape %s must have positive dimensions'
                             % (self.name, self.shape))
        # the log-probability's gradient reads the probabilities; the draws are kept on the op
        self.retain_inputs = (0,) if self.get_prob else ()
        self.retain_outputs = ()

    def list_outputs(self):
        return ['output0', 'output1'] if self.get_prob else ['output']

    def infer_shape(self, in_shapes):
        s = in_shapes[0]
        if s is None:
            return [None], [None] * self.output_count(), []
        if len(s) == 0:
            raise InferError('operator %s: data must have at least one dimension (the '
                             'categories)' % self.name)
        out = (tuple(s[:-1]) + tuple(self.shape or ())) or (1,)
        return [s], [out] * self.output_count(), []

    def infer_type(self, in_types):
        t = in_types[0]
        if t is not None and t not in _FLOATS:
            raise InferError('operator %s: data (probabilities) must be a float type, got %s'
                             % (self.name, t))
        return [t], [self.dtype, t][:self.output_count()], []

    def _flat(self, data):
        k = data.shape[-1]
        return data.reshape(-1, k), max(1, prod(self.shape or ()))

    def forward(self, xp, ins, outs, aux, is_train):
        data = ins[0]
        probs, m = self._flat(data)
        n, k = probs.shape
        cdf = xp.cumsum(probs.astype(np.float64), axis=1)
        u = _random.generator(xp).random((n, m))
        # one searchsorted over all rows: row i's cdf and draws are shifted by i * stride,
        # with stride above every row's total, so rows never mix
        stride = max(float(cdf[:, -1].max()), 0.0) + 1.0 if n else 1.0
        shift = (xp.arange(n, dtype=np.float64) * stride)[:, None]
        pos = xp.searchsorted((cdf + shift).reshape(-1), (u + shift).reshape(-1), side='right')
        idx = pos.reshape(n, m) - xp.arange(n)[:, None] * k
        xp.clip(idx, 0, k - 1, out=idx)
        self.idx = idx
        outs[0][...] = idx.reshape(outs[0].shape).astype(outs[0].dtype)
        if self.get_prob:
            picked = xp.take_along_axis(probs, idx, axis=1)
            outs[1][...] = xp.log(picked).reshape(outs[1].shape)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        if not self.get_prob:
            igrads[0].fill(0)
            return
        probs, m = self._flat(ins[0])
        n = probs.shape[0]
        g = xp.zeros(probs.shape, dtype=igrads[0].dtype)
        picked = xp.take_along_axis(probs, self.idx, axis=1)
        rows = xp.broadcast_to(xp.arange(n)[:, None], self.idx.shape)
        xp.add.at(g, (rows, self.idx), ograds[1].reshape(n, m) / picked)
        igrads[0][...] = g.reshape(igrads[0].shape)


# ---- more distributions: scalar parameters, *_like, and per-element (_sample_*) ---------------

def _exponential(xp, gen, shape, dtype, lam):
    return gen.exponential(1.0, shape).astype(dtype, copy=False) / lam


def _gamma(xp, gen, shape, dtype, alpha, beta):
    return (gen.standard_gamma(alpha, shape) * beta).astype(dtype, copy=False)


def _poisson(xp, gen, shape, dtype, lam):
    return gen.poisson(lam, shape).astype(dtype, copy=False)


def _negative_binomial(xp, gen, shape, dtype, k, p):
    # failures before the k-th success, p the success probability (MXNet: a gamma-Poisson
    # mixture with the same law)
    lam = gen.standard_gamma(k, shape) * ((1 - p) / p)
    return gen.poisson(lam).astype(dtype, copy=False)


def _generalized_negative_binomial(xp, gen, shape, dtype, mu, alpha):
    # mean mu, variance mu + alpha mu^2; alpha 0 is Poisson(mu)
    if np.all(np.asarray(alpha) == 0):
        return gen.poisson(np.broadcast_to(mu, shape)).astype(dtype, copy=False)
    a = np.where(np.asarray(alpha) > 0, alpha, 1.0)
    lam = gen.standard_gamma(1.0 / a, shape) * (mu * a)
    lam = np.where(np.asarray(alpha) > 0, lam, np.broadcast_to(mu, shape))
    return gen.poisson(lam).astype(dtype, copy=False)


_DISTRIBUTIONS = {
    # name: (parameters with MXNet's defaults, draw, check, MXNet's message)
    'exponential': ((('lam', 1.0),), _exponential,
                    lambda lam: lam > 0, 'lambda parameter in exponential has to be positive'),
    'gamma': ((('alpha', 1.0), ('beta', 1.0)), _gamma,
              lambda a, b: a > 0 and b > 0, 'alpha and beta parameters in gamma have to be '
                                            'positive'),
    'poisson': ((('lam', 1.0),), _poisson, lambda lam: lam >= 0,
                'lambda parameter in poisson has to be non-negative'),
    'negative_binomial': ((('k', 1), ('p', 1.0)), _negative_binomial,
                          lambda k, p: k > 0 and 0 < p <= 1,
                          'k must be positive and p in (0, 1] in negative binomial'),
    'generalized_negative_binomial': ((('mu', 1.0), ('alpha', 1.0)),
                                      _generalized_negative_binomial,
                                      lambda mu, a: mu > 0 and a >= 0,
                                      'mu must be positive and alpha non-negative in '
                                      'generalized negative binomial'),
}


def _host_draw(xp, draw, shape, dtype, *params):
    """Draw on the host (NumPy has every law) and move to ``xp``'s device."""
    out = draw(np, _random.generator(np), shape, np.dtype(dtype), *params)
    return out if xp is np else xp.asarray(out)


def _make_sampler(dist):
    names, draw, check, message = _DISTRIBUTIONS[dist]
    kinds = {'k': 'int'}

    class _Dist(_Sampler):
        __doc__ = 'Draws from the %s distribution (%s), ``shape`` of them.' % (
            dist.replace('_', ' '), ', '.join('%s=%s' % nv for nv in names))
        name = '_random_' + dist
        aliases = ('random_' + dist,)
        params = _sampler_params({n: Param(kinds.get(n, 'float'), v) for n, v in names})
        samples = (Sample({'shape': (2, 3)}, {}),)

        def setup(self):
            super().setup()
            if not check(*[getattr(self, n) for n, _ in names]):
                raise InferError('operator %s: %s (%s)' % (self.name, message, ', '.join(
                    '%s=%s' % (n, getattr(self, n)) for n, _ in names)))

        def forward(self, xp, ins, outs, aux, is_train):
            out = outs[0]
            out[...] = _host_draw(xp, draw, out.shape, out.dtype,
                                  *[getattr(self, n) for n, _ in names])
    _Dist.__name__ = '_random_' + dist
    return register(_Dist)


for _d in _DISTRIBUTIONS:
    _make_sampler(_d)


_LIKE = dict(_DISTRIBUTIONS, uniform=((('low', 0.0), ('high', 1.0)),
                                      lambda xp, g, s, t, lo, hi: (lo + (hi - lo) *
                                                                   g.random(s)).astype(t),
                                      lambda lo, hi: lo <= hi, 'low must be <= high'),
             normal=((('loc', 0.0), ('scale', 1.0)),
                     lambda xp, g, s, t, loc, sc: (loc + sc * g.standard_normal(s)).astype(t),
                     lambda loc, sc: sc > 0, 'scale has to be positive'))


#: ``{distribution: its parameter names}`` of the ``*_like`` samplers (``mx.nd.random`` and
#: ``mx.sym.random`` make their functions from it)
LIKE_PARAMS = {dist: tuple(n for n, _ in spec[0]) for dist, spec in _LIKE.items()}


def _make_like(dist):
    names, draw, check, message = _LIKE[dist]
    kinds = {'k': 'int'}

    class _DistLike(Operator):
        __doc__ = 'Draws from the %s distribution with the shape and dtype of ``data``.' % (
            dist.replace('_', ' '))
        name = '_random_%s_like' % dist
        aliases = ('random_%s_like' % dist,)
        params = {n: Param(kinds.get(n, 'float'), v) for n, v in names}
        nondiff = ('data',)
        retain_inputs = retain_outputs = ()
        samples = (Sample({}, {'data': (2, 3)}),)

        def setup(self):
            if not check(*[getattr(self, n) for n, _ in names]):
                raise InferError('operator %s: %s' % (self.name, message))

        def infer_shape(self, in_shapes):
            return in_shapes, [in_shapes[0]], []

        def forward(self, xp, ins, outs, aux, is_train):
            out = outs[0]
            out[...] = _host_draw(xp, draw, out.shape, out.dtype,
                                  *[getattr(self, n) for n, _ in names])

        def backward(self, xp, ograds, ins, outs, igrads, aux):
            if igrads[0] is not None:
                igrads[0].fill(0)
    _DistLike.__name__ = '_random_%s_like' % dist
    return register(_DistLike)


for _d in _LIKE:
    _make_like(_d)


def _make_per_element(dist):
    """``_sample_<dist>``: one distribution per element of the parameter arrays (all of one
    shape), ``shape`` draws of each: the output is ``param.shape + shape``."""
    names, draw, _, _ = _LIKE[dist]
    names = {'normal': (('mu', 0.0), ('sigma', 1.0))}.get(dist, names)     # MXNet's names

    class _PerElement(Operator):
        __doc__ = ('Draws from %s distributions whose parameters (%s) are arrays of one shape: '
                   '``shape`` draws per element, output ``%s.shape + shape``.'
                   % (dist.replace('_', ' '), ', '.join(n for n, _ in names), names[0][0]))
        name = '_sample_' + dist
        aliases = ('sample_' + dist,)
        params = {'shape': Param('shape', ()), 'dtype': Param('dtype_or_none', None)}
        arguments = tuple(n for n, _ in names)
        nondiff = arguments
        retain_inputs = retain_outputs = ()
        samples = (Sample({'shape': (2,)}, {n: (3,) for n, _ in names},
                          values={n: (lambda rng, s: rng.uniform(0.5, 1.0, s))
                                  for n, _ in names}),)

        def infer_shape(self, in_shapes):
            known = next((s for s in in_shapes if s is not None), None)
            if known is None:
                return in_shapes, [None], []
            for s in in_shapes:
                if s is not None and tuple(s) != tuple(known):
                    raise InferError('%s: the parameter arrays must have one shape, got %s'
                                     % (self.name, [tuple(x) for x in in_shapes]))
            return [tuple(known)] * len(in_shapes), [tuple(known) + tuple(self.shape or ())], []

        def infer_type(self, in_types):
            t = next((t for t in in_types if t is not None), None)
            return [t] * len(in_types), [self.dtype or t or 'float32'], []

        def forward(self, xp, ins, outs, aux, is_train):
            out = outs[0]
            extra = (1,) * len(self.shape or ())
            params = [(p.get() if xp is not np else p).astype(np.float64).reshape(p.shape + extra)
                      for p in ins]
            out[...] = _host_draw(xp, draw, out.shape, out.dtype, *params)

        def backward(self, xp, ograds, ins, outs, igrads, aux):
            for g in igrads:
                if g is not None:
                    g.fill(0)
    _PerElement.__name__ = '_sample_' + dist
    return register(_PerElement)


for _d in ('uniform', 'normal', 'exponential', 'gamma', 'poisson', 'negative_binomial',
           'generalized_negative_binomial'):
    _make_per_element(_d)
