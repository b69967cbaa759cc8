"""``mx.nd``: NDArray, creation functions, every operator, save/load."""
import numpy as _np

from .ndarray import (NDArray, array, zeros, ones, empty, full, arange, concatenate,
                      waitall, moveaxis, onehot_encode, _wrap)
from . import op as _op
from .utils import save, load

globals().update(_op.generated_functions())
from .ndarray import concat   # noqa: E402  (the direct version beats the generated one)
from .random import (random_uniform, random_normal, random_uniform as uniform,   # noqa: E402
                     random_normal as normal)   # ctx-aware faces of the aliases; makes mx.nd.random
from . import sparse                              # noqa: E402  (mx.nd.sparse, before the namespaces)
from .sparse import cast_storage                  # noqa: E402  (returns the asked storage type)


def _ufunc(fn_arr, fn_scalar_name=None):
    def f(lhs, rhs):
        if isinstance(lhs, NDArray):
            return fn_arr(lhs, rhs)
        if isinstance(rhs, NDArray):
            return fn_arr(rhs, lhs, reflect=True)
        return fn_arr(NDArray(_np.asarray(lhs, dtype=_np.float32)), rhs)
    return f


def _binary(np_fn):
    def call(a, b, reflect=False):
        return a._binary(b, np_fn, reflect)
    return _ufunc(call)


add = _binary(_np.add)
subtract = _binary(_np.subtract)
multiply = _binary(_np.multiply)
divide = true_divide = _binary(_np.true_divide)
modulo = _binary(_np.mod)
power = _binary(_np.power)
maximum = _binary(_np.maximum)
minimum = _binary(_np.minimum)
equal = _binary(_np.equal)
not_equal = _binary(_np.not_equal)
greater = _binary(_np.greater)
greater_equal = _binary(_np.greater_equal)
lesser = _binary(_np.less)
lesser_equal = _binary(_np.less_equal)
logical_and = _binary(_np.logical_and)
logical_or = _binary(_np.logical_or)


def _fluent(name):
    fn = globals()[name]

    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = 'Same as ``mx.nd.%s(self, ...)``.' % name
    return method


for _name in ('sum', 'mean', 'max', 'min', 'prod', 'norm', 'exp', 'log', 'sqrt', 'square',
              'abs', 'clip', 'transpose', 'flatten', 'expand_dims', 'swapaxes', 'softmax',
              'log_softmax', 'slice_axis', 'split', 'relu', 'sigmoid', 'tanh', 'sign',
              'reciprocal', 'rsqrt', 'log1p', 'expm1', 'sin', 'cos', 'slice', 'dot'):
    if _name in globals() and not hasattr(NDArray, _name):
        setattr(NDArray, _name, _fluent(_name))
del _name


def _operator_namespaces():
    """``mx.nd.contrib``, ``mx.nd.linalg``, ``mx.nd._internal``...: modules of the operators MXNet
    files under those names (``_contrib_Foo`` is ``contrib.Foo``)."""
    import sys
    from ..ops import registry
    registry.install_namespaces(sys.modules[__name__], _op.generated_functions(), 'mx.nd')


_operator_namespaces()
from .update import (sgd_update, sgd_mom_update, mp_sgd_update, mp_sgd_mom_update,   # noqa: E402
                     nag_mom_update, mp_nag_mom_update, adam_update, rmsprop_update,
                     rmspropalex_update, ftrl_update, ftml_update, signsgd_update,
                     signum_update, multi_sgd_update, multi_sgd_mom_update,
                     multi_mp_sgd_update, multi_mp_sgd_mom_update, lamb_update_phase1,
                     lamb_update_phase2)
from .more import (eye, linspace, cumsum, histogram, split_v2, from_numpy,   # noqa: E402
                   from_dlpack, to_dlpack_for_read, to_dlpack_for_write, load_frombuffer,
                   imdecode, all_finite, multi_all_finite, multi_sum_sq, multi_lars,
                   reset_arrays)
from .more import rand_zipfian as _rand_zipfian, boolean_mask as _boolean_mask   # noqa: E402
contrib.rand_zipfian = _rand_zipfian               # noqa: F821 (mx.nd.contrib, made above)
contrib.boolean_mask = _boolean_mask               # noqa: F821
