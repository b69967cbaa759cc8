"""``mx.nd.random``: random draws as NDArrays, from ``distmod.random``'s generator.

``mx.random.seed(n)`` makes every call here repeatable.  Example::

    >>> mx.random.seed(42)
    >>> a = mx.nd.random.uniform(0, 1, shape=(2, 2))
    >>> mx.random.seed(42)
    >>> bool((a == mx.nd.random.uniform(0, 1, shape=(2, 2))).asnumpy().all())
    True
"""
from ..base import MXNetError
from ..context import Context
from ..ops import get as _get_op
from .ndarray import NDArray
from .op import invoke as _invoke

__all__ = ['uniform', 'normal', 'randn', 'randint', 'exponential', 'gamma', 'poisson',
           'negative_binomial', 'generalized_negative_binomial', 'shuffle', 'multinomial',
           'uniform_like', 'normal_like', 'exponential_like', 'gamma_like', 'poisson_like',
           'negative_binomial_like', 'generalized_negative_binomial_like', 'random_uniform',
           'random_normal']


def _no_array_params(fn_name, **values):
    for key, value in values.items():
        if isinstance(value, NDArray):
            raise MXNetError('mx.nd.random.%s: an NDArray %s (MXNet\'s per-element _sample_* '
                             'operators) is not supported by distmod; pass a number'
                             % (fn_name, key))


def _draw(op_name, params, shape, dtype, ctx, out, kwargs, inputs=()):
    params = dict(params)
    if shape is not None:
        params['shape'] = shape
    if dtype is not None:
        params['dtype'] = dtype
    kwargs = dict(kwargs)
    kwargs.pop('ctx', None)
    params.update(kwargs)
    if out is not None:
        params['out'] = out
    if ctx is None:
        return _invoke(_get_op(op_name), inputs, params)
    with Context(ctx):      # a fresh scope object: entering the caller's own could nest badly
        return _invoke(_get_op(op_name), inputs, params)


def _distribution(dist, params, shape, dtype, ctx, out, kwargs):
    """One draw call: ``_random_<dist>`` for numbers, ``_sample_<dist>`` (one distribution per
    element, ``shape`` draws of each) when the parameters are NDArrays (all of them, as MXNet
    asks)."""
    arrays = [isinstance(v, NDArray) for v in params.values()]
    if not any(arrays):
        return _draw('_random_' + dist, params, shape, dtype, ctx, out, kwargs)
    if not all(arrays):
        raise MXNetError('mx.nd.random.%s: the parameters %s must all be numbers or all '
                         'NDArrays' % (dist, ', '.join(params)))
    # (the draws are where the parameter arrays are: ``ctx`` does not apply)
    return _draw('_sample_' + dist, {}, shape, dtype, None, out, kwargs,
                 inputs=tuple(params.values()))


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the uniform distribution on ``[low, high)``.

    ``shape`` defaults to ``(1,)``, ``dtype`` to float32 (float16 and float64 also work);
    ``ctx`` places the result.  NDArray ``low`` and ``high`` (of one shape) give one
    distribution per element, ``shape`` draws of each.  Example::

        >>> mx.nd.random.uniform(-1, 1, shape=(2, 3)).shape
        (2, 3)
        >>> mx.nd.random.uniform(mx.nd.zeros(4), mx.nd.ones(4), shape=2).shape
        (4, 2)
    """
    return _distribution('uniform', {'low': low, 'high': high}, shape, dtype, ctx, out, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the normal distribution N(``loc``, ``scale``\u00b2) (NDArray ``loc`` and
    ``scale``: one per element, as ``uniform``).

    Example::

        >>> mx.nd.random.normal(0, 1, shape=(4,), dtype='float64').dtype.__name__
        'float64'
    """
    return _distribution('normal', {'loc': loc, 'scale': scale}, shape, dtype, ctx, out, kwargs)


def randn(*shape, **kwargs):
    """Standard normal draws of the given shape (``loc``, ``scale``, ``dtype``, ``ctx``, ``out``
    as keywords).

    Example::

        >>> mx.nd.random.randn(2, 3).shape
        (2, 3)
    """
    loc, scale = kwargs.pop('loc', 0), kwargs.pop('scale', 1)
    return normal(loc, scale, shape=shape or None, **kwargs)


def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the exponential distribution of mean ``scale`` (rate ``1/scale``).

    Example::

        >>> mx.nd.random.exponential(2.0, shape=(3,)).shape
        (3,)
    """
    return _distribution('exponential', {'lam': 1.0 / scale}, shape, dtype, ctx, out, kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the gamma distribution of shape ``alpha`` and scale ``beta``."""
    return _distribution('gamma', {'alpha': alpha, 'beta': beta}, shape, dtype, ctx, out, kwargs)


def poisson(lam=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the Poisson distribution of mean ``lam`` (as floats, MXNet's dtype)."""
    return _distribution('poisson', {'lam': lam}, shape, dtype, ctx, out, kwargs)


def negative_binomial(k=1, p=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Failures before the ``k``-th success of trials succeeding with probability ``p``."""
    return _distribution('negative_binomial', {'k': k, 'p': p}, shape, dtype, ctx, out, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, ctx=None, out=None,
                                  **kwargs):
    """Samples of mean ``mu`` and variance ``mu + alpha mu^2`` (``alpha`` 0: Poisson)."""
    return _distribution('generalized_negative_binomial', {'mu': mu, 'alpha': alpha}, shape,
                         dtype, ctx, out, kwargs)


def _like(dist, names):
    def fn(data, *args, **kwargs):
        params = dict(zip(names, args))
        for n in names:
            if n in kwargs:
                params[n] = kwargs.pop(n)
        kwargs.pop('name', None)
        params.update(kwargs)
        return _invoke(_get_op('_random_%s_like' % dist), (data,), params)
    fn.__name__ = dist + '_like'
    fn.__doc__ = ('Draws from the %s distribution (%s) with the shape and dtype of ``data``.'
                  % (dist.replace('_', ' '), ', '.join(names)))
    return fn


def _make_likes():
    from ..ops.random import LIKE_PARAMS
    for dist, names in LIKE_PARAMS.items():
        globals()[dist + '_like'] = _like(dist, names)


_make_likes()


def randint(low, high, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from ``[low, high)``; ``dtype`` int32 (default) or int64.

    Example::

        >>> mx.nd.random.randint(0, 10, shape=(3,)).dtype.__name__
        'int32'
    """
    _no_array_params('randint', low=low, high=high)
    return _draw('_random_randint', {'low': low, 'high': high}, shape, dtype, ctx, out, kwargs)


def shuffle(data, **kwargs):
    """``data`` with its first axis randomly permuted.

    Example::

        >>> sorted(mx.nd.random.shuffle(mx.nd.arange(4)).asnumpy().tolist())
        [0.0, 1.0, 2.0, 3.0]
    """
    return _invoke(_get_op('_shuffle'), (data,), kwargs)


def multinomial(data, shape=None, get_prob=False, out=None, dtype='int32', **kwargs):
    """Category indices drawn from the probabilities in the last axis of ``data``.

    The result has shape ``data.shape[:-1] + shape``; with ``get_prob=True`` a list
    ``[samples, log_probabilities]``.  Example::

        >>> p = mx.nd.array([[0, 1.0], [1.0, 0]])
        >>> mx.nd.random.multinomial(p, shape=3).asnumpy().tolist()
        [[1, 1, 1], [0, 0, 0]]
    """
    params = dict(kwargs, get_prob=get_prob, dtype=dtype)
    if shape is not None:
        params['shape'] = shape
    if out is not None:
        params['out'] = out
    return _invoke(_get_op('_sample_multinomial'), (data,), params)


def _alias(op_name, first, second, what):
    def fn(*args, **kwargs):
        names = (first, second, 'shape', 'ctx', 'dtype', 'out')
        if len(args) > len(names):
            raise MXNetError('mx.nd.%s takes at most %d positional arguments'
                             % (fn.__name__, len(names)))
        kwargs.update(zip(names, args))
        ctx = kwargs.pop('ctx', None)
        out = kwargs.pop('out', None)
        kwargs.pop('name', None)
        params = {k: v for k, v in kwargs.items() if v is not None}
        shape, dtype = params.pop('shape', None), params.pop('dtype', None)
        return _draw(op_name, params, shape, dtype, ctx, out, {})
    fn.__name__ = 'random_' + what
    fn.__doc__ = ('Same as ``mx.nd.random.%s``, with MXNet\'s older signature (%s=None, '
                  '%s=None, shape=None, ctx=None, dtype=None, out=None).' % (what, first, second))
    return fn


# the older top-level names, ``ctx`` honoured (MXNet's ``mx.nd.random_uniform`` etc.)
random_uniform = _alias('_random_uniform', 'low', 'high', 'uniform')
random_normal = _alias('_random_normal', 'loc', 'scale', 'normal')
