"""Checkpoints in MXNet's own files: ``prefix-symbol.json`` and ``prefix-NNNN.params``.

``prefix-%04d.params`` holds ``arg:NAME`` and ``aux:NAME`` arrays in MXNet's NDArray-list
format; files written here load in MXNet 1.9 and the other way round.  Every file is written
atomically (temporary name, fsync, rename), so a crash leaves the previous checkpoint whole.
"""
import logging
from collections import namedtuple

from .base import MXNetError
from . import ndarray as nd
from . import symbol as sym

__all__ = ['save_checkpoint', 'load_checkpoint', 'load_params', 'save_params',
           'load_params_file', 'params_file', 'symbol_file', 'BatchEndParam']

# What batch-end callbacks receive (MXNet's mx.model.BatchEndParam).
BatchEndParam = namedtuple('BatchEndParams', ['epoch', 'nbatch', 'eval_metric', 'locals'])


def symbol_file(prefix):
    return '%s-symbol.json' % prefix


def params_file(prefix, epoch):
    return '%s-%04d.params' % (prefix, epoch)


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write ``prefix-symbol.json`` (when ``symbol`` is given) and ``prefix-%04d.params``.

    Example::

        >>> mx.model.save_checkpoint('mlp', 3, net, arg_params, aux_params)   # doctest: +SKIP

    Each file is written atomically.  In a data-parallel job only rank 0 writes.
    """
    from .base import is_root_rank
    if not is_root_rank():
        return
    if symbol is not None:
        symbol.save(symbol_file(prefix), remove_amp_cast=remove_amp_cast)
    name = params_file(prefix, epoch)
    save_params(name, arg_params, aux_params)
    logging.info('Saved checkpoint to "%s"', name)


def save_params(fname, arg_params, aux_params):
    """Write ``arg_params``/``aux_params`` as ``arg:NAME``/``aux:NAME`` arrays (MXNet's
    ``.params`` layout), atomically."""
    save_dict = {'arg:%s' % k: v.as_in_context(_cpu()) for k, v in arg_params.items()}
    save_dict.update({'aux:%s' % k: v.as_in_context(_cpu()) for k, v in aux_params.items()})
    nd.save(fname, save_dict)


def _cpu():
    from .context import cpu
    return cpu()


def load_params(prefix, epoch):
    """``(arg_params, aux_params)`` from ``prefix-%04d.params``."""
    return load_params_file(params_file(prefix, epoch))


def load_params_file(name):
    """``(arg_params, aux_params)`` from a ``.params`` file of ``arg:``/``aux:`` arrays."""
    save_dict = nd.load(name)
    if not isinstance(save_dict, dict):
        raise MXNetError('%s holds an unnamed list of arrays, not a checkpoint (expected names '
                         'arg:... and aux:...)' % name)
    arg_params, aux_params = {}, {}
    for key, value in save_dict.items():
        kind, sep, pname = key.partition(':')
        if not sep or kind not in ('arg', 'aux'):
            raise MXNetError('%s: array %r is neither arg:NAME nor aux:NAME' % (name, key))
        (arg_params if kind == 'arg' else aux_params)[pname] = value
    return arg_params, aux_params


def load_checkpoint(prefix, epoch):
    """``(symbol, arg_params, aux_params)`` from a checkpoint written by us or by MXNet.

    Example::

        >>> net, arg_params, aux_params = mx.model.load_checkpoint('mlp', 3)   # doctest: +SKIP
    """
    symbol = sym.load(symbol_file(prefix))
    arg_params, aux_params = load_params(prefix, epoch)
    return symbol, arg_params, aux_params
