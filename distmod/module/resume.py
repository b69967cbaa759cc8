"""Exact resume: what a checkpoint carries beyond the parameters and optimizer states, so that
``fit(..., begin_epoch=k)`` from epoch k's checkpoint repeats an uninterrupted run bit for bit.

At every epoch's end ``fit`` gathers, from every rank, the random streams
(``mx.random.get_streams``: distmod's generator, NumPy's and Python's) and the training
iterator's own state (``DataIter._resume_state``), with the learning-rate scheduler's state.
``save_checkpoint`` keeps that *resume record* in the epoch's manifest (JSON, never pickle).
Resuming puts each rank's streams back and resets the training iterator, which draws the
epoch's order from them: the order, the Dropout masks and the optimizer's steps are then the
uninterrupted run's.  The optimizer's update counts travel in its states file.

On a different number of ranks the parameters and the optimizer's states still resume (they
do not depend on the rank), the data is sharded afresh, and the record's per-rank streams are
left aside (one line says so): that run is a correct continuation, not a replay.

``distmod-launch --max-restarts N --checkpoint PREFIX`` restarts a failed job with
``DISTMOD_RESUME_PREFIX``/``DISTMOD_RESUME_EPOCH`` set; the first ``fit`` of each process that
checkpoints under that prefix (or names no prefix) then loads that checkpoint and continues
from it, with no change to the script.
"""
import json
import os

from ..base import MXNetError

__all__ = ['record', 'apply', 'auto_resume_target']


def record(module, run, epoch):
    """The resume record of the checkpoint numbered ``epoch`` (one allgather; call it on
    every rank).  JSON data."""
    from .. import random as _random
    kv = run.kv
    state = getattr(run.train_data, '_resume_state', None)
    mine = {'streams': _random.get_streams(), 'train_data': state() if state else None}
    texts = kv.gather_text(json.dumps(mine), 'gathering the resume record')
    ranks = [json.loads(t) for t in texts]
    sched = _scheduler(module)
    return {'epoch': int(epoch), 'num_workers': kv.num_workers, 'ranks': ranks,
            'lr_scheduler': None if sched is None else
            {'class': type(sched).__name__, 'state': sched._checkpoint_state()}}


def apply(module, run, rec, source):
    """Continue from resume record ``rec`` (of checkpoint ``source``): this rank's streams,
    the training iterator's state and the scheduler's, then reset the iterator (which draws
    the epoch's order)."""
    from .. import random as _random
    kv = run.kv
    sched, saved = _scheduler(module), rec.get('lr_scheduler')
    if sched is not None and saved is not None:
        if saved.get('class') == type(sched).__name__:
            sched._restore_checkpoint_state(saved['state'])
        else:
            module.logger.warning('resume from %s: the checkpoint has a %s learning-rate '
                                  'scheduler, this run a %s; its state is not restored',
                                  source, saved.get('class'), type(sched).__name__)
    ranks = rec.get('ranks') or []
    if len(ranks) != kv.num_workers:
        run.info('Resuming from %s (written by %d rank%s) on %d: the data is sharded afresh, '
                 'so the order differs from the run that wrote it', source, len(ranks),
                 '' if len(ranks) == 1 else 's', kv.num_workers)
        return
    mine = ranks[kv.rank]
    _random.set_streams(mine['streams'])
    if mine.get('train_data') is not None and hasattr(run.train_data, '_set_resume_state'):
        run.train_data._set_resume_state(mine['train_data'])
    run.train_data.reset()


def _scheduler(module):
    opt = getattr(module, '_optimizer', None)
    if opt is None:
        default = getattr(module, '_buckets', {}).get(getattr(module, '_default_bucket_key',
                                                               None))
        opt = getattr(default, '_optimizer', None)
    sched = getattr(opt, 'lr_scheduler', None)
    return sched if hasattr(sched, '_checkpoint_state') else None


def auto_resume_target(epoch_end_callback, begin_epoch):
    """``(prefix, epoch)`` when the launcher restarted this job and this ``fit`` should resume
    (see the module); else None.  Consumed: later ``fit`` calls of the process run as
    written."""
    prefix = os.environ.get('DISTMOD_RESUME_PREFIX')
    epoch = os.environ.get('DISTMOD_RESUME_EPOCH')
    if not prefix or epoch is None or epoch == '':
        return None
    try:
        epoch = int(epoch)
    except ValueError:
        raise MXNetError('DISTMOD_RESUME_EPOCH=%r is not an epoch number' % epoch) from None
    cbs = epoch_end_callback if isinstance(epoch_end_callback, (list, tuple)) else \
        [epoch_end_callback]
    named = [os.path.abspath(cb._checkpoint_prefix) for cb in cbs
             if getattr(cb, '_checkpoint_prefix', None)]
    if named and os.path.abspath(prefix) not in named:
        return None            # this fit checkpoints elsewhere: not the one restarted
    os.environ.pop('DISTMOD_RESUME_PREFIX', None)
    os.environ.pop('DISTMOD_RESUME_EPOCH', None)
    if begin_epoch >= epoch:   # the script resumed by itself, from there or later
        return None
    return prefix, epoch
