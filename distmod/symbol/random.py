"""``mx.sym.random``: random operators as graph nodes (``_random_uniform`` etc. in JSON).

Each forward of a bound graph draws fresh numbers from ``distmod.random``'s generator, so
``mx.random.seed(n)`` before a forward repeats it.  Example::

    >>> u = mx.sym.random.uniform(0, 1, shape=(2, 3))
    >>> u.infer_shape()[1], u.infer_type()[1]
    ([(2, 3)], [<class 'numpy.float32'>])
"""
from ..base import MXNetError
from .symbol import Symbol, _call_op

__all__ = ['uniform', 'normal', 'randn', 'randint', 'exponential', 'gamma', 'poisson',
           'negative_binomial', 'generalized_negative_binomial', 'shuffle', 'multinomial',
           'uniform_like', 'normal_like', 'exponential_like', 'gamma_like', 'poisson_like',
           'negative_binomial_like', 'generalized_negative_binomial_like']


def _no_symbol_params(fn_name, **values):
    for key, value in values.items():
        if isinstance(value, Symbol):
            raise MXNetError('mx.sym.random.%s: a Symbol %s (MXNet\'s per-element _sample_* '
                             'operators) is not supported by distmod; pass a number'
                             % (fn_name, key))


def _node(op_name, params, shape, dtype, kwargs, inputs=()):
    params = dict(params)
    if shape is not None:
        params['shape'] = shape
    if dtype is not None:
        params['dtype'] = dtype
    params.update(kwargs)
    return _call_op(op_name, inputs, params)


def _distribution(dist, params, shape, dtype, kwargs):
    """``_random_<dist>`` for numbers; ``_sample_<dist>`` (one distribution per element of
    the parameter symbols, ``shape`` draws of each) when the parameters are Symbols."""
    symbols = [isinstance(v, Symbol) for v in params.values()]
    if not any(symbols):
        return _node('_random_' + dist, params, shape, dtype, kwargs)
    if not all(symbols):
        raise MXNetError('mx.sym.random.%s: the parameters %s must all be numbers or all '
                         'Symbols' % (dist, ', '.join(params)))
    return _node('_sample_' + dist, {}, shape, dtype, kwargs, inputs=tuple(params.values()))


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
    """A node drawing from the uniform distribution on ``[low, high)`` at each forward.

    Example::

        >>> mx.sym.random.uniform(-1, 1, shape=(4,), name='u').list_outputs()
        ['u_output']
    """
    return _distribution('uniform', {'low': low, 'high': high}, shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
    """A node drawing from N(``loc``, ``scale``\u00b2) at each forward (Symbol ``loc`` and
    ``scale``: one distribution per element)."""
    return _distribution('normal', {'loc': loc, 'scale': scale}, shape, dtype, kwargs)


def randn(*shape, **kwargs):
    """A node of standard normal draws of the given shape (``loc``/``scale`` keywords too)."""
    loc, scale = kwargs.pop('loc', 0), kwargs.pop('scale', 1)
    return normal(loc, scale, shape=shape or None, **kwargs)


def exponential(scale=1, shape=None, dtype=None, **kwargs):
    """A node drawing from the exponential distribution of mean ``scale``."""
    return _distribution('exponential', {'lam': 1.0 / scale}, shape, dtype, kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, **kwargs):
    """A node drawing from the gamma distribution of shape ``alpha`` and scale ``beta``."""
    return _distribution('gamma', {'alpha': alpha, 'beta': beta}, shape, dtype, kwargs)


def poisson(lam=1, shape=None, dtype=None, **kwargs):
    """A node drawing from the Poisson distribution of mean ``lam``."""
    return _distribution('poisson', {'lam': lam}, shape, dtype, kwargs)


def negative_binomial(k=1, p=1, shape=None, dtype=None, **kwargs):
    """A node drawing failures before the ``k``-th success (success probability ``p``)."""
    return _distribution('negative_binomial', {'k': k, 'p': p}, shape, dtype, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, **kwargs):
    """A node drawing with mean ``mu`` and variance ``mu + alpha mu^2``."""
    return _distribution('generalized_negative_binomial', {'mu': mu, 'alpha': alpha}, shape,
                         dtype, kwargs)


def _like(dist, names):
    def fn(data, *args, **kwargs):
        params = dict(zip(names, args))
        params.update(kwargs)
        return _call_op('_random_%s_like' % dist, (data,), params)
    fn.__name__ = dist + '_like'
    fn.__doc__ = ('A node drawing from the %s distribution (%s) with the shape and dtype of '
                  '``data``.' % (dist.replace('_', ' '), ', '.join(names)))
    return fn


def _make_likes():
    from ..ops.random import LIKE_PARAMS
    for dist, names in LIKE_PARAMS.items():
        globals()[dist + '_like'] = _like(dist, names)


_make_likes()


def randint(low, high, shape=None, dtype=None, **kwargs):
    """A node drawing integers from ``[low, high)`` (int32 unless ``dtype='int64'``)."""
    _no_symbol_params('randint', low=low, high=high)
    return _node('_random_randint', {'low': low, 'high': high}, shape, dtype, kwargs)


def shuffle(data, **kwargs):
    """``data`` with its first axis randomly permuted at each forward."""
    return _call_op('_shuffle', (data,), kwargs)


def multinomial(data, shape=None, get_prob=True, dtype='int32', **kwargs):
    """Category indices drawn from the probabilities in ``data``'s last axis.

    As in MXNet's symbol API ``get_prob`` defaults to True: two outputs, the samples and their
    log-probabilities (whose gradient reaches ``data``).
    """
    params = dict(kwargs, get_prob=get_prob, dtype=dtype)
    if shape is not None:
        params['shape'] = shape
    return _call_op('_sample_multinomial', (data,), params)
