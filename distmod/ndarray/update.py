"""MXNet's optimizer update operators as NDArray functions: ``mx.nd.sgd_update``,
``sgd_mom_update``, ``nag_mom_update``, ``adam_update``, ``rmsprop_update``,
``rmspropalex_update``, ``ftrl_update``, ``ftml_update``, ``signsgd_update``,
``signum_update``, the mixed-precision ``mp_*`` forms, the ``multi_*`` forms over several
weights, and ``lamb_update_phase1``/``phase2``.

As in MXNet the states (momentum, means...) are updated in place and the new weight is
written to ``out`` (a new array if none is given; scripts pass ``out=weight``).  Each
computes ``g = clip(rescale_grad * grad, clip_gradient)`` (no clipping for a negative
``clip_gradient``) and then the update of its optimizer, with the formulas of MXNet 1.9.1's
operators, checked against it in ``tests/test_update_ops.py``.  distmod's own optimizers
(``mx.optimizer``) do not go through these: they update in place on their own.
"""
import numpy as np

from ..base import MXNetError
from .ndarray import NDArray, _wrap

__all__ = ['sgd_update', 'sgd_mom_update', 'mp_sgd_update', 'mp_sgd_mom_update',
           'nag_mom_update', 'mp_nag_mom_update', 'adam_update', 'rmsprop_update',
           'rmspropalex_update', 'ftrl_update', 'ftml_update', 'signsgd_update',
           'signum_update', 'multi_sgd_update', 'multi_sgd_mom_update', 'multi_mp_sgd_update',
           'multi_mp_sgd_mom_update', 'lamb_update_phase1', 'lamb_update_phase2']


def _xp(a):
    return a.context.xp


def _grad(weight, grad, rescale_grad, clip_gradient, wd=0.0):
    xp = _xp(weight)
    dtype = weight._data.dtype if weight._data.dtype.kind == 'f' else np.dtype(np.float32)
    g = xp.multiply(grad._data, rescale_grad, dtype=dtype)      # a new array, once
    if clip_gradient is not None and clip_gradient >= 0:
        xp.clip(g, -clip_gradient, clip_gradient, out=g)
    if wd:
        g += wd * weight._data
    return g


def _result(weight, value, out):
    """Write the new weight ``value`` into ``out`` (made like ``weight`` if None)."""
    if out is None:
        out = _wrap(value.astype(weight._data.dtype, copy=True), weight.context)
    else:
        if not isinstance(out, NDArray):
            raise MXNetError('out must be an NDArray, got %s' % type(out).__name__)
        out._data[...] = value
    return out


def _same(name, *arrays):
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            raise MXNetError('%s: the arrays must have one shape, got %s'
                             % (name, [x.shape for x in arrays]))


def sgd_update(weight, grad, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, lazy_update=True,
               out=None, name=None):
    """``weight - lr * (g + wd * weight)``."""
    _same('sgd_update', weight, grad)
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd)
    return _result(weight, weight._data - lr * g, out)


def sgd_mom_update(weight, grad, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                   clip_gradient=-1.0, lazy_update=True, out=None, name=None):
    """``mom = momentum * mom - lr * (g + wd * weight)``; ``weight + mom``."""
    _same('sgd_mom_update', weight, grad, mom)
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd)
    mom._data *= momentum
    mom._data -= lr * g
    return _result(weight, weight._data + mom._data, out)


def mp_sgd_update(weight, grad, weight32, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                  lazy_update=True, out=None, name=None):
    """``sgd_update`` of the float32 master copy ``weight32`` (updated in place); the
    weight is its cast."""
    new = sgd_update(weight32, grad, lr, wd, rescale_grad, clip_gradient, out=weight32)
    return _result(weight, new._data, out)


def mp_sgd_mom_update(weight, grad, mom, weight32, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                      clip_gradient=-1.0, lazy_update=True, out=None, name=None):
    """``sgd_mom_update`` of the float32 master copy ``weight32``."""
    new = sgd_mom_update(weight32, grad, mom, lr, momentum, wd, rescale_grad, clip_gradient,
                         out=weight32)
    return _result(weight, new._data, out)


def nag_mom_update(weight, grad, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                   clip_gradient=-1.0, out=None, name=None):
    """Nesterov: ``g += wd * weight``; ``mom = momentum * mom - lr * g``;
    ``weight + momentum * mom - lr * g``."""
    _same('nag_mom_update', weight, grad, mom)
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd)
    mom._data *= momentum
    mom._data -= lr * g
    return _result(weight, weight._data + momentum * mom._data - lr * g, out)


def mp_nag_mom_update(weight, grad, mom, weight32, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                      clip_gradient=-1.0, out=None, name=None):
    """``nag_mom_update`` of the float32 master copy ``weight32``."""
    new = nag_mom_update(weight32, grad, mom, lr, momentum, wd, rescale_grad, clip_gradient,
                         out=weight32)
    return _result(weight, new._data, out)


def adam_update(weight, grad, mean, var, lr, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.0,
                rescale_grad=1.0, clip_gradient=-1.0, lazy_update=True, out=None, name=None):
    """``mean``/``var``: running moments of ``clip(rescale_grad * grad + wd * weight)`` (the
    weight decay inside the clipping, as MXNet's); ``weight - lr * mean / (sqrt(var) +
    epsilon)`` (no bias correction here: MXNet's Adam folds it into ``lr``)."""
    _same('adam_update', weight, grad, mean, var)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, -1.0, wd)
    if clip_gradient is not None and clip_gradient >= 0:
        xp.clip(g, -clip_gradient, clip_gradient, out=g)
    mean._data *= beta1
    mean._data += (1 - beta1) * g
    var._data *= beta2
    var._data += (1 - beta2) * g * g
    return _result(weight, weight._data - lr * mean._data / (xp.sqrt(var._data) + epsilon), out)


def _clip_weights(xp, w, clip_weights):
    if clip_weights is not None and clip_weights >= 0:
        xp.clip(w, -clip_weights, clip_weights, out=w)
    return w


def rmsprop_update(weight, grad, n, lr, gamma1=0.95, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
                   clip_gradient=-1.0, clip_weights=-1.0, out=None, name=None):
    """``n = (1 - gamma1) g^2 + gamma1 n``; ``weight - lr * g / sqrt(n + epsilon)``."""
    _same('rmsprop_update', weight, grad, n)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd)
    n._data *= gamma1
    n._data += (1 - gamma1) * g * g
    w = weight._data - lr * g / xp.sqrt(n._data + epsilon)
    return _result(weight, _clip_weights(xp, w, clip_weights), out)


def rmspropalex_update(weight, grad, n, g, delta, lr, gamma1=0.95, gamma2=0.9, epsilon=1e-8,
                       wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0, out=None,
                       name=None):
    """Graves's RMSProp: running ``n`` (of ``g^2``) and ``g`` (of the gradient);
    ``delta = gamma2 delta - lr * grad / sqrt(n - g^2 + epsilon)``; ``weight + delta``."""
    _same('rmspropalex_update', weight, grad, n, g, delta)
    xp = _xp(weight)
    gr = _grad(weight, grad, rescale_grad, clip_gradient, wd)
    n._data *= gamma1
    n._data += (1 - gamma1) * gr * gr
    g._data *= gamma1
    g._data += (1 - gamma1) * gr
    delta._data *= gamma2
    delta._data -= lr * gr / xp.sqrt(n._data - g._data * g._data + epsilon)
    w = weight._data + delta._data
    return _result(weight, _clip_weights(xp, w, clip_weights), out)


def ftrl_update(weight, grad, z, n, lr, lamda1=0.01, beta=1.0, wd=0.0, rescale_grad=1.0,
                clip_gradient=-1.0, out=None, name=None):
    """Follow the regularised leader (McMahan et al.)."""
    _same('ftrl_update', weight, grad, z, n)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    w = weight._data
    z._data += g - (xp.sqrt(n._data + g * g) - xp.sqrt(n._data)) * w / lr
    n._data += g * g
    zd = z._data
    new = (xp.sign(zd) * lamda1 - zd) / ((beta + xp.sqrt(n._data)) / lr + wd) * \
        (xp.abs(zd) > lamda1)
    return _result(weight, new, out)


def ftml_update(weight, grad, d, v, z, lr, t, beta1=0.6, beta2=0.999, epsilon=1e-8, wd=0.0,
                rescale_grad=1.0, clip_grad=-1.0, out=None, name=None):
    """Follow the moving leader (Zheng and Kwok), step ``t`` (from 1)."""
    _same('ftml_update', weight, grad, d, v, z)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, clip_grad, wd)
    v._data *= beta2
    v._data += (1 - beta2) * g * g
    d_t = (1 - beta1 ** t) / lr * (xp.sqrt(v._data / (1 - beta2 ** t)) + epsilon)
    sigma = d_t - beta1 * d._data
    z._data *= beta1
    z._data += (1 - beta1) * g - sigma * weight._data
    d._data[...] = d_t
    return _result(weight, -z._data / d_t, out)


def signsgd_update(weight, grad, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, out=None,
                   name=None):
    """``(1 - lr * wd) * weight - lr * sign(grad)``."""
    _same('signsgd_update', weight, grad)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    return _result(weight, (1 - lr * wd) * weight._data - lr * xp.sign(g), out)


def signum_update(weight, grad, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                  clip_gradient=-1.0, wd_lh=0.0, out=None, name=None):
    """``mom = momentum * mom - (1 - momentum) * (g + wd * weight)``;
    ``(1 - lr * wd_lh) * weight + lr * sign(mom)``."""
    _same('signum_update', weight, grad, mom)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd)
    mom._data *= momentum
    mom._data -= (1 - momentum) * g
    return _result(weight, (1 - lr * wd_lh) * weight._data + lr * xp.sign(mom._data), out)


def _groups(name, data, size, num_weights):
    data = list(data)
    if num_weights is None:
        num_weights = len(data) // size
    if len(data) != size * num_weights:
        raise MXNetError('%s: %d arrays for num_weights=%d (%d each)'
                         % (name, len(data), num_weights, size))
    return [data[i * size:(i + 1) * size] for i in range(num_weights)]


def _per(values, i, default):
    if values is None:
        return default
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    return values[i] if len(values) > 1 else values[0]


def _multi(name, one, size, data, lrs, wds, out, num_weights, extra):
    groups = _groups(name, data, size, num_weights)
    outs = list(out) if isinstance(out, (list, tuple)) else ([out] if out is not None else None)
    results = []
    for i, arrays in enumerate(groups):
        o = outs[i] if outs is not None else None
        results.append(one(*arrays, lr=_per(lrs, i, 0.0), wd=_per(wds, i, 0.0), out=o, **extra))
    return results


def multi_sgd_update(*data, lrs=None, wds=None, rescale_grad=1.0, clip_gradient=-1.0,
                     num_weights=None, out=None, name=None):
    """``sgd_update`` of each (weight, grad) pair in ``data``, with its own ``lrs[i]`` and
    ``wds[i]``; returns the new weights."""
    return _multi('multi_sgd_update', sgd_update, 2, data, lrs, wds, out, num_weights,
                  {'rescale_grad': rescale_grad, 'clip_gradient': clip_gradient})


def multi_sgd_mom_update(*data, lrs=None, wds=None, momentum=0.0, rescale_grad=1.0,
                         clip_gradient=-1.0, num_weights=None, out=None, name=None):
    """``sgd_mom_update`` of each (weight, grad, mom) triple in ``data``."""
    return _multi('multi_sgd_mom_update', sgd_mom_update, 3, data, lrs, wds, out, num_weights,
                  {'momentum': momentum, 'rescale_grad': rescale_grad,
                   'clip_gradient': clip_gradient})


def multi_mp_sgd_update(*data, lrs=None, wds=None, rescale_grad=1.0, clip_gradient=-1.0,
                        num_weights=None, out=None, name=None):
    """``mp_sgd_update`` of each (weight, grad, weight32) triple in ``data``."""
    return _multi('multi_mp_sgd_update', mp_sgd_update, 3, data, lrs, wds, out, num_weights,
                  {'rescale_grad': rescale_grad, 'clip_gradient': clip_gradient})


def multi_mp_sgd_mom_update(*data, lrs=None, wds=None, momentum=0.0, rescale_grad=1.0,
                            clip_gradient=-1.0, num_weights=None, out=None, name=None):
    """``mp_sgd_mom_update`` of each (weight, grad, mom, weight32) quadruple in ``data``."""
    return _multi('multi_mp_sgd_mom_update', mp_sgd_mom_update, 4, data, lrs, wds, out,
                  num_weights, {'momentum': momentum, 'rescale_grad': rescale_grad,
                                'clip_gradient': clip_gradient})


def lamb_update_phase1(weight, grad, mean, var, beta1=0.9, beta2=0.999, epsilon=1e-6, t=1,
                       bias_correction=True, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                       out=None, name=None):
    """LAMB's first phase: running moments (in place) and the step direction
    ``mean_hat / (sqrt(var_hat) + epsilon) + wd * weight``."""
    _same('lamb_update_phase1', weight, grad, mean, var)
    xp = _xp(weight)
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    mean._data *= beta1
    mean._data += (1 - beta1) * g
    var._data *= beta2
    var._data += (1 - beta2) * g * g
    m, v = mean._data, var._data
    if bias_correction:
        m = m / (1 - beta1 ** t)
        v = v / (1 - beta2 ** t)
    return _result(weight, m / (xp.sqrt(v) + epsilon) + wd * weight._data, out)


def lamb_update_phase2(weight, g, r1, r2, lr, lower_bound=-1.0, upper_bound=-1.0, out=None,
                       name=None):
    """LAMB's second phase: ``weight - lr * (r1 / r2) * g`` with ``r1`` the weight's norm
    (clipped to the bounds that are not negative) and ``r2`` the direction's (ratio 1 where
    either is 0)."""
    xp = _xp(weight)
    r1v, r2v = r1._data.reshape(()), r2._data.reshape(())
    if lower_bound is not None and lower_bound >= 0:
        r1v = xp.maximum(r1v, lower_bound)
    if upper_bound is not None and upper_bound >= 0:
        r1v = xp.minimum(r1v, upper_bound)
    ratio = xp.where((r1v > 0) & (r2v > 0), r1v / xp.where(r2v > 0, r2v, 1), 1.0)
    return _result(weight, weight._data - lr * ratio * g._data, out)
