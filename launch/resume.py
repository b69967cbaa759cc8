"""Where a job resumes: the newest complete checkpoint of ``--checkpoint PREFIX``.

``distmod-launch --max-restarts N --checkpoint PREFIX`` runs the job again, up to N times,
when it fails, and every run (the first too) starts from the newest complete checkpoint that
the scan below finds, if there is one.  The script saves with
``mx.callback.do_checkpoint(PREFIX)`` (or ``module_checkpoint``), as it would anyway; the
launcher tells every rank where to resume in its environment:

``DISTMOD_RESUME_PREFIX``
    PREFIX, exactly as given to ``--checkpoint``.
``DISTMOD_RESUME_EPOCH``
    N, the epoch number of the checkpoint's files (``PREFIX-NNNN.params``), a plain decimal
    integer: what ``mx.model.load_checkpoint(PREFIX, N)`` loads, and the ``begin_epoch`` that
    continues the training (``do_checkpoint`` names the file after the epochs done).
``DISTMOD_RESUME_STATES``
    ``PREFIX-NNNN.states``, the optimizer states of that epoch, only when that file exists.

All three are unset (even if the launcher's own environment had them) when there is nothing
to resume from: no ``--checkpoint``, or no complete checkpoint yet.  Nothing in them depends
on the rank or the number of ranks, so a job restarted by hand with another ``-n`` resumes
the same way.

A checkpoint is **complete** when ``PREFIX-NNNN.params`` exists and is not empty, and, if
any ``PREFIX-NNNN.json`` manifest exists for the prefix, only when that epoch's manifest
exists too: distmod writes each file of an epoch atomically, the manifest before the params
file, so the params file is the commit point and an epoch without a manifest among ones
with manifests is half-written; MXNet's own checkpoints have no manifests.
``PREFIX-symbol.json`` is not a manifest, and ``PREFIX-NNNN.states`` is not required (only
reported).  NNNN is four digits or more.  The scan lists the folder of PREFIX on the
launcher's host: the checkpoints must be written there, or on a file system it shares with
the host of rank 0.
"""
import collections
import os
import re

__all__ = ['Checkpoint', 'RESUME_VARIABLES', 'newest_complete_checkpoint', 'resume_environment']

RESUME_VARIABLES = ('DISTMOD_RESUME_PREFIX', 'DISTMOD_RESUME_EPOCH', 'DISTMOD_RESUME_STATES')

#: ``prefix`` as given, ``epoch`` an int, ``name`` the file stem (``PREFIX-0003``), ``states``
#: the states file's path or None.
Checkpoint = collections.namedtuple('Checkpoint', 'prefix epoch name params states')


def newest_complete_checkpoint(prefix):
    """The newest complete :class:`Checkpoint` of ``prefix`` (see the module docstring), or
    None when there is none (or no folder)."""
    folder = os.path.dirname(os.path.abspath(prefix + 'x'))     # 'ckpt/' is a folder's prefix
    base = os.path.basename(prefix)
    pattern = re.compile(re.escape(base) + r'-(\d{4,})\.(params|json|states)$')
    files = {'params': {}, 'json': {}, 'states': {}}
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    for entry in entries:
        m = pattern.match(entry)
        if m:
            files[m.group(2)][int(m.group(1))] = entry
    complete = []
    for epoch, entry in files['params'].items():
        try:
            if os.path.getsize(os.path.join(folder, entry)) == 0:
                continue
        except OSError:
            continue
        if files['json'] and epoch not in files['json']:
            continue
        complete.append(epoch)
    if not complete:
        return None
    epoch = max(complete)
    stem = files['params'][epoch][:-len('.params')]
    name = prefix[:len(prefix) - len(base)] + stem      # PREFIX as spelled, then -NNNN
    states = name + '.states' if epoch in files['states'] else None
    return Checkpoint(prefix, epoch, name, name + '.params', states)


def resume_environment(checkpoint):
    """The ``DISTMOD_RESUME_*`` variables for ``checkpoint`` (a :class:`Checkpoint` or None):
    a dict of those to set; those missing from it are to be unset."""
    if checkpoint is None:
        return {}
    env = {'DISTMOD_RESUME_PREFIX': checkpoint.prefix, 'DISTMOD_RESUME_EPOCH': str(checkpoint.epoch)}
    if checkpoint.states:
        env['DISTMOD_RESUME_STATES'] = checkpoint.states
    return env
