"""Random state shared by operators (Dropout) and initializers; ``mx.random.seed`` resets it."""
import numpy as np

__all__ = ['seed', 'generator']

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
