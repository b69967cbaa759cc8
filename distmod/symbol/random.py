"""``mx.sym.random``: random operators as graph nodes (``_random_uniform`` etc. in JSON).

Each forward of a bound graph draws fresh numbers from ``distmod.random``'s generator, so
``mx.random.seed(n)`` before a forward repeats it.  Example::

    >>> u = mx.sym.random.uniform(0, 1, shape=(2, 3))
    >>> u.infer_shape()[1], u.infer_type()[1]
    ([(2, 3)], [<class 'numpy.float32'>])
"""
from ..base import MXNetError
from .symbol import Symbol, _call_op

__all__ = ['uniform', 'normal', 'randint', 'shuffle', 'multinomial']


def _no_symbol_params(fn_name, **values):
    for key, value in values.items():
        if isinstance(value, Symbol):
            raise MXNetError('mx.sym.random.%s: a Symbol %s (MXNet\'s per-element _sample_* '
                             'operators) is not supported by distmod; pass a number'
                             % (fn_name, key))


def _node(op_name, params, shape, dtype, kwargs):
    params = dict(params)
    if shape is not None:
        params['shape'] = shape
    if dtype is not None:
        params['dtype'] = dtype
    params.update(kwargs)
    return _call_op(op_name, (), params)


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
    """A node drawing from the uniform distribution on ``[low, high)`` at each forward.

    Example::

        >>> mx.sym.random.uniform(-1, 1, shape=(4,), name='u').list_outputs()
        ['u_output']
    """
    _no_symbol_params('uniform', low=low, high=high)
    return _node('_random_uniform', {'low': low, 'high': high}, shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
    """A node drawing from N(``loc``, ``scale``\u00b2) at each forward."""
    _no_symbol_params('normal', loc=loc, scale=scale)
    return _node('_random_normal', {'loc': loc, 'scale': scale}, shape, dtype, kwargs)


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
