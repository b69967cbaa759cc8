"""Random state shared by operators (Dropout) and initializers; ``mx.random.seed`` resets it."""
import numpy as np

__all__ = ['seed', 'generator', 'uniform', 'normal', 'randn', 'randint', 'shuffle',
           'multinomial', 'exponential', 'gamma', 'poisson', 'negative_binomial',
           'generalized_negative_binomial', 'get_streams', 'set_streams']

_state = {'seed': None, 'np': np.random.default_rng(), 'gpu': {}}


def seed(seed_state, ctx='all'):
    """Make every later random draw repeatable: ``mx.random.seed(42)``."""
    seed_state = int(seed_state)
    if ctx == 'all' or getattr(ctx, 'device_type', 'cpu') != 'gpu':
        _state['seed'] = seed_state
        _state['np'] = np.random.default_rng(seed_state)
    _state['gpu'].clear()
    _state['gpu_seed'] = seed_state


def generator(xp=np):
    """The generator to draw from for array module ``xp``."""
    if xp is np:
        return _state['np']
    dev = xp.cuda.Device().id
    gen = _state['gpu'].get(dev)
    if gen is None:
        s = _state.get('gpu_seed')
        gen = xp.random.default_rng(s if s is None else s + dev)
        _state['gpu'][dev] = gen
    return gen


def get_streams():
    """Every random stream a training process draws from, as JSON data: distmod's generator
    (Dropout, initializers, the iterators' shuffles), NumPy's global one and Python's
    ``random``.  ``set_streams`` puts them back: a checkpoint carries them so that resuming
    continues the very same draws."""
    import random as _pyrandom
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = _pyrandom.getstate()
    return {'distmod': _state['np'].bit_generator.state,
            'seed': _state['seed'],
            'numpy': [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            'python': [version, list(internal), gauss_next]}


def set_streams(streams):
    """Restore what :func:`get_streams` returned (e.g. from a checkpoint's manifest)."""
    import random as _pyrandom
    state = streams['distmod']
    gen = np.random.Generator(getattr(np.random, state['bit_generator'])())
    gen.bit_generator.state = state
    _state['np'] = gen
    _state['seed'] = streams.get('seed')
    name, keys, pos, has_gauss, cached = streams['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = streams['python']
    _pyrandom.setstate((version, tuple(internal), gauss_next))


# ``mx.random.uniform`` and friends are MXNet's NDArray samplers (``mx.nd.random``), looked up
# when called (that package imports this module).
def _nd(name, what):
    def fn(*args, **kwargs):
        from .ndarray import random as _nd_random
        return getattr(_nd_random, name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = '``mx.nd.random.%s``: %s.' % (name, what)
    return fn


uniform = _nd('uniform', 'samples of U(low, high) as an NDArray')
normal = _nd('normal', 'samples of N(loc, scale^2) as an NDArray')
randn = _nd('randn', 'standard normal samples of the given shape (``loc``/``scale`` keywords '
                     'too)')
exponential = _nd('exponential', 'samples of the exponential distribution of mean ``scale``')
gamma = _nd('gamma', 'samples of the gamma distribution (shape ``alpha``, scale ``beta``)')
poisson = _nd('poisson', 'samples of the Poisson distribution of mean ``lam``')
negative_binomial = _nd('negative_binomial', 'failures before the ``k``-th success')
generalized_negative_binomial = _nd('generalized_negative_binomial',
                                    'samples of mean ``mu``, variance ``mu + alpha mu^2``')
randint = _nd('randint', 'integers in [low, high)')
shuffle = _nd('shuffle', 'the array with its first axis permuted')
multinomial = _nd('multinomial', 'draws from categorical distributions')
