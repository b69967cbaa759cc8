"""Checkpoints in MXNet's own files: ``prefix-symbol.json`` and ``prefix-NNNN.params``.

``prefix-%04d.params`` holds ``arg:NAME`` and ``aux:NAME`` arrays in MXNet's NDArray-list
format; files written here load in MXNet 1.9 and the other way round.

A checkpoint is a unit.  ``save_checkpoint`` writes, each file atomically (a temporary name,
fsync, rename): the symbol, the optimizer states ``prefix-%04d.states`` (when there are),
then a manifest ``prefix-%04d.json`` (the size and SHA-256 of every file of the epoch, and
what resuming needs to be exact), and last ``prefix-%04d.params``: the params file is the
commit point.  A crash at any instant leaves either the whole epoch-N checkpoint or one
without its params file, which :func:`latest_checkpoint` and the launcher's restarts skip;
loading checks every file against the manifest.  The temporary files of a crashed save are
removed by the next save or load of those files.  Checkpoints MXNet wrote (no manifest) load
as they are.
"""
import hashlib
import json
import logging
import os
import re
from collections import namedtuple

from .base import MXNetError
from . import ndarray as nd
from . import symbol as sym

__all__ = ['save_checkpoint', 'load_checkpoint', 'load_params', 'save_params',
           'load_params_file', 'params_file', 'symbol_file', 'states_file', 'manifest_file',
           'read_manifest', 'latest_checkpoint', 'BatchEndParam']

# What batch-end callbacks receive (MXNet's mx.model.BatchEndParam).
BatchEndParam = namedtuple('BatchEndParams', ['epoch', 'nbatch', 'eval_metric', 'locals'])

MANIFEST_FORMAT = 'distmod-checkpoint'

#: What ``fit`` offers the epoch-end callbacks it is running: ``epoch`` (the checkpoint
#: number those callbacks save), ``states`` (a function giving the optimizer's states) and
#: ``resume`` (the random streams of every rank).  ``do_checkpoint`` only has the symbol and
#: the parameters; through this it saves a complete, exactly resumable checkpoint too.
FIT_CONTEXT = {}


def symbol_file(prefix):
    return '%s-symbol.json' % prefix


def params_file(prefix, epoch):
    return '%s-%04d.params' % (prefix, epoch)


def states_file(prefix, epoch):
    return '%s-%04d.states' % (prefix, epoch)


def manifest_file(prefix, epoch):
    return '%s-%04d.json' % (prefix, epoch)


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True,
                    states=None, resume=None):
    """Write epoch ``epoch``'s checkpoint: ``prefix-symbol.json`` (when ``symbol`` is
    given), ``prefix-%04d.states`` (``states``: the optimizer's bytes), the manifest and last
    ``prefix-%04d.params``.  Inside ``fit``'s epoch-end callbacks the optimizer's states and
    the resume record come from ``fit`` when not given.

    Example::

        >>> mx.model.save_checkpoint('mlp', 3, net, arg_params, aux_params)   # doctest: +SKIP

    Each file is written atomically.  In a data-parallel job only rank 0 writes.
    """
    from .base import is_root_rank
    from .serialization import atomic_write, dumps_arrays
    if FIT_CONTEXT.get('epoch') == epoch:
        if states is None and FIT_CONTEXT.get('states') is not None:
            states = FIT_CONTEXT['states']()
        if resume is None:
            resume = FIT_CONTEXT.get('resume')
    if states is False:                   # the caller asked for none
        states = None
    if not is_root_rank():
        return
    busy = FIT_CONTEXT.get('busy')
    with busy('writing checkpoint %s' % params_file(prefix, epoch)) if busy else _Quiet():
        _write_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast,
                          states, resume)


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _write_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast, states,
                      resume):
    from .serialization import atomic_write, dumps_arrays
    name = params_file(prefix, epoch)
    # an epoch saved again (a run started afresh under the same prefix): its commit point
    # goes first, so that a crash while the new files are written leaves the epoch absent,
    # never the old params with new states
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
    if symbol is not None:
        symbol.save(symbol_file(prefix), remove_amp_cast=remove_amp_cast)
    files = {}
    if states is not None:
        atomic_write(states_file(prefix, epoch), states)
        files[os.path.basename(states_file(prefix, epoch))] = _describe(states)
    params = dumps_arrays(_params_dict(arg_params, aux_params))
    files[os.path.basename(name)] = _describe(params)
    manifest = {'format': MANIFEST_FORMAT, 'version': 1, 'epoch': int(epoch), 'files': files,
                'resume': resume}
    atomic_write(manifest_file(prefix, epoch), json.dumps(manifest, indent=1).encode('utf-8'))
    atomic_write(name, params)            # the commit point
    # what saves killed part-way left under this prefix (any epoch, any file): gone now
    from kvstore import remove_stale_temps
    remove_stale_temps(prefix + '-', family=True)
    logging.info('Saved checkpoint to "%s"', name)


def _describe(data):
    return {'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest()}


def _params_dict(arg_params, aux_params):
    out = {'arg:%s' % k: v.as_in_context(_cpu()).asnumpy() for k, v in arg_params.items()}
    out.update({'aux:%s' % k: v.as_in_context(_cpu()).asnumpy() for k, v in aux_params.items()})
    return out


def save_params(fname, arg_params, aux_params):
    """Write ``arg_params``/``aux_params`` as ``arg:NAME``/``aux:NAME`` arrays (MXNet's
    ``.params`` layout), atomically."""
    save_dict = {'arg:%s' % k: v.as_in_context(_cpu()) for k, v in arg_params.items()}
    save_dict.update({'aux:%s' % k: v.as_in_context(_cpu()) for k, v in aux_params.items()})
    # a checkpoint's params file written on its own no longer matches that epoch's manifest
    m = re.match(r'(.*)-(\d{4,})\.params$', os.fspath(fname))
    if m is not None:
        try:
            os.unlink(manifest_file(m.group(1), int(m.group(2))))
        except FileNotFoundError:
            pass
    nd.save(fname, save_dict)


def read_manifest(prefix, epoch):
    """Epoch ``epoch``'s manifest (a dict), or None for a checkpoint without one (MXNet's)."""
    fname = manifest_file(prefix, epoch)
    try:
        with open(fname, 'rb') as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(text.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as e:
        raise MXNetError('%s: not a checkpoint manifest (%s)' % (fname, e)) from None
    if not isinstance(manifest, dict) or manifest.get('format') != MANIFEST_FORMAT:
        raise MXNetError('%s: not a distmod checkpoint manifest' % fname)
    return manifest


def verify_checkpoint(prefix, epoch, which=None):
    """Check epoch ``epoch``'s files (``which``: basenames; default all) against its
    manifest; raise naming the first file that differs.  Returns the manifest (None without
    one)."""
    manifest = read_manifest(prefix, epoch)
    if manifest is None:
        return None
    folder = os.path.dirname(os.path.abspath(params_file(prefix, epoch)))
    for base, want in sorted(manifest.get('files', {}).items()):
        if which is not None and base not in which:
            continue
        path = os.path.join(folder, base)
        try:
            with open(path, 'rb') as f:
                got = _describe(f.read())
        except FileNotFoundError:
            raise MXNetError('checkpoint %s-%04d is incomplete: %s is missing (a save that was '
                             'interrupted?)' % (prefix, epoch, path)) from None
        if got != want:
            raise MXNetError('checkpoint %s-%04d: %s has %d bytes (sha256 %s...) but its manifest '
                             'says %d bytes (sha256 %s...): the file was truncated or replaced'
                             % (prefix, epoch, path, got['bytes'], got['sha256'][:12],
                                want['bytes'], want['sha256'][:12]))
    return manifest


def latest_checkpoint(prefix):
    """The newest complete epoch under ``prefix`` (None if there is none): its params file
    (the commit point) exists, and where the prefix has manifests, its manifest does too."""
    folder = os.path.dirname(os.path.abspath(prefix + 'x'))
    base = os.path.basename(prefix)
    pattern = re.compile(re.escape(base) + r'-(\d{4,})\.(params|json)$')
    params, manifests = set(), set()
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    for entry in entries:
        m = pattern.match(entry)
        if m:
            (params if m.group(2) == 'params' else manifests).add(int(m.group(1)))
    complete = params & manifests if manifests else params
    return max(complete) if complete else None


def _cpu():
    from .context import cpu
    return cpu()


def load_params(prefix, epoch):
    """``(arg_params, aux_params)`` from ``prefix-%04d.params`` (checked against the epoch's
    manifest when it has one)."""
    from kvstore import remove_stale_temps
    name = params_file(prefix, epoch)
    remove_stale_temps(name)
    verify_checkpoint(prefix, epoch, which={os.path.basename(name)})
    return load_params_file(name)


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
