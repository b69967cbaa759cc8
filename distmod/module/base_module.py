"""BaseModule: the training and inference loops every module shares (fit, score, predict)."""
import contextlib
import logging
import os
import time
import numpy as np

from .. import model as _model
from ..base import MXNetError
from ..context import cpu
from ..ndarray.ndarray import NDArray, _wrap
from ..model import BatchEndParam

__all__ = ['BaseModule', 'BatchEndParam', 'DEFAULT_INIT']

# Stands for MXNet's default ``initializer=Uniform(0.01)``; ``None`` means "no initializer".
DEFAULT_INIT = 'uniform(0.01)'


def default_initializer(initializer):
    if isinstance(initializer, str) and initializer == DEFAULT_INIT:
        from .. import initializer as _init
        return _init.Uniform(0.01)
    return initializer


def _as_list(obj):
    return obj if isinstance(obj, (list, tuple)) else [obj]


def _check_input_names(symbol, names, typename, throw):
    """Every name in ``names`` must be an argument of ``symbol`` (MXNet's message style)."""
    args = symbol.list_arguments()
    for name in names:
        if name in args:
            continue
        candidates = [a for a in args if not a.endswith(('_weight', '_bias', '_gamma', '_beta'))]
        msg = ('You created Module with Module(..., %s_names=%s) but input with name %r is not '
               'found in symbol.list_arguments(). Did you mean one of:\n\t%s'
               % (typename, list(names), name, '\n\t'.join(candidates)))
        if throw:
            raise MXNetError(msg)
        logging.warning(msg)


def check_names_match(module, names, descs, kind):
    """The names of the shapes given to ``bind`` must be the module's ``kind``_names (in any
    order), in MXNet's words."""
    got = [d[0] for d in descs]
    if sorted(got) != sorted(names or []):
        raise MXNetError("%s.bind: data provided by %s_shapes don't match names specified by "
                         "%s_names (%s vs. %s)" % (type(module).__name__, kind, kind, got,
                                                  list(names or [])))


def checked_input_names(symbol, data_names, label_names, state_names, fixed_param_names):
    """The four name lists as lists (None: empty), each checked against ``symbol`` the way
    MXNet's modules do (a missing label only warns)."""
    names = [list(n) if n is not None else [] for n in
             (data_names, label_names, state_names, fixed_param_names)]
    for n, kind, throw in zip(names, ('data', 'label', 'state', 'fixed_param'),
                              (True, False, True, True)):
        _check_input_names(symbol, n, kind, throw)
    return names


def _unpad(outputs, pad):
    if not pad:
        return outputs
    return [_wrap(o._data[:o.shape[0] - pad], o.context) for o in outputs]


class BaseModule:
    """What every module shares: the ``fit``, ``score``, ``predict`` loops over the
    lower-level ``bind``/``forward``/``backward``/``update`` that each module defines."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol = None

    # ---- high level --------------------------------------------------------------------
    def forward_backward(self, data_batch):
        """One forward (training) and backward pass."""
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None,
              _across_ranks=False):
        """Evaluate ``eval_metric`` over ``eval_data``; returns its ``get_name_value()``.

        (Inside ``fit`` on several ranks, each rank scores its shard and the metric is summed
        over ranks.)"""
        from .. import metric as _metric
        self._check_ready('score')
        if reset:
            eval_data.reset()
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        actual = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(batch, is_train=False)
            if isinstance(batch, list):
                self.update_metric(eval_metric, [b.label for b in batch], pre_sliced=True)
            else:
                self.update_metric(eval_metric, batch.label)
            if batch_end_callback is not None:
                params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                       locals=locals())
                for cb in _as_list(batch_end_callback):
                    cb(params)
            actual = nbatch + 1
        if _across_ranks:       # inside fit: an empty evaluation is an error, never a NaN
            # every rank scored its part: the metric holds the sums over ranks from here on,
            # so score_end_callback sees the whole evaluation data on every rank, as the one
            # process that scores it whole would
            kv = self._kv()
            res, batches = kv.global_name_value(eval_metric, batches=actual, keep=True)
            if batches == 0:
                raise MXNetError(
                    'fit: the evaluation data (%s) yielded no batch%s: give more validation '
                    'data or a smaller batch size' % (
                        type(eval_data).__name__,
                        ' on any rank (it is empty after sharding over %d ranks)'
                        % kv.num_workers if kv.num_workers > 1 else ''))
            actual = batches
        if score_end_callback:
            params = BatchEndParam(epoch=epoch, nbatch=actual, eval_metric=eval_metric,
                                   locals=locals())
            for cb in _as_list(score_end_callback):
                cb(params)
        if _across_ranks:
            return res
        if actual == 0:
            self.logger.warning('score: the evaluation data (%s) yielded no batch; the metric '
                                'has no value', type(eval_data).__name__)
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yield ``(outputs, nbatch, batch)`` per batch, padding removed from the outputs."""
        self._check_ready('iter_predict')
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(batch, is_train=False)
            yield _unpad(self.get_outputs(), batch.pad), nbatch, batch

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        """Run inference over ``eval_data`` (an iterator, or an NDArray/NumPy array).

        With ``merge_batches`` the batches' outputs are joined: one NDArray per output (a
        single NDArray when the module has one output, unless ``always_output_list``).
        """
        from .. import io as _io
        self._check_ready('predict')
        if isinstance(eval_data, (NDArray, np.ndarray)):
            if isinstance(eval_data, np.ndarray):
                eval_data = _wrap(eval_data, cpu())
            eval_data = _io.NDArrayIter(eval_data, batch_size=self.data_shapes[0][1][0],
                                        last_batch_handle='pad')
        if reset:
            eval_data.reset()
        outputs = []
        for out, _, _ in self.iter_predict(eval_data, num_batch=num_batch, reset=False,
                                           sparse_row_id_fn=sparse_row_id_fn):
            outputs.append([o.copy() for o in out])
        if not outputs:
            return []
        if not merge_batches:
            return outputs
        n = len(outputs[0])
        for out in outputs:
            if len(out) != n:
                raise MXNetError('cannot merge batches: the number of outputs changed from %d '
                                 'to %d (use merge_batches=False)' % (n, len(out)))
        merged = [_wrap(np.concatenate([out[i].asnumpy() for out in outputs], axis=0), cpu())
                  for i in range(n)]
        if n == 1 and not always_output_list:
            return merged[0]
        return merged

    def fit(self, train_data, eval_data=None, eval_metric='acc', epoch_end_callback=None,
            batch_end_callback=None, kvstore='local', optimizer='sgd',
            optimizer_params=(('learning_rate', 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=DEFAULT_INIT, arg_params=None,
            aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
            begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
            sparse_row_id_fn=None, check_numerics=None):
        """Train: bind, initialise, then per epoch run every batch through forward, backward
        and update, log ``Epoch[n] Train-<metric>``, time cost and validation, as MXNet.

        On several ranks the ranks first agree, in one collective, on everything that must
        match (network, optimizer and its parameters, batch size, epochs, kvstore type,
        ``eval_data`` given, version: ``distmod.module.agreement``); any difference is one
        error on every rank, naming each field and each rank's value.

        ``check_numerics=True`` (or ``DISTMOD_CHECK_NUMERICS=1``; a distmod addition) stops
        at the first non-finite loss, gradient or parameter, naming it with the operator
        or parameter, epoch and batch (``distmod.module.numerics``)."""
        from . import resume as _resume
        if num_epoch is None:
            raise MXNetError('fit: please specify num_epoch')
        target = _resume.auto_resume_target(epoch_end_callback, begin_epoch)
        if target is not None:       # restarted by distmod-launch: continue from there
            from ..model import load_params
            arg_params, aux_params = load_params(*target)
            force_init, begin_epoch = True, target[1]
            self._resume_from = target + (True,)
        # one collective: every rank runs the same configuration (see agreement.py)
        from . import agreement
        agreement.check_fit(self, train_data, eval_data, kvstore, optimizer, optimizer_params,
                            begin_epoch, num_epoch)
        with agreement.inside_fit():
            self._fit(train_data, eval_data, eval_metric, epoch_end_callback,
                      batch_end_callback, kvstore, optimizer, optimizer_params,
                      eval_end_callback, eval_batch_end_callback, initializer, arg_params,
                      aux_params, allow_missing, force_rebind, force_init, begin_epoch,
                      num_epoch, validation_metric, monitor, sparse_row_id_fn,
                      check_numerics)

    def _fit(self, train_data, eval_data, eval_metric, epoch_end_callback, batch_end_callback,
             kvstore, optimizer, optimizer_params, eval_end_callback, eval_batch_end_callback,
             initializer, arg_params, aux_params, allow_missing, force_rebind, force_init,
             begin_epoch, num_epoch, validation_metric, monitor, sparse_row_id_fn,
             check_numerics):
        from .. import metric as _metric
        from . import numerics as _numerics
        unfed = self._graph_label_names() if not train_data.provide_label else []
        if unfed:
            raise MXNetError(
                'fit: the training iterator (%s) yields no label, but the module expects %s '
                '(label_names=%s, an input of the network): give the iterator labels '
                '(NDArrayIter(data, label)), or create the module with label_names=None for a '
                'network that takes none' % (type(train_data).__name__,
                                             ', '.join(repr(n) for n in unfed), unfed))
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        self.init_params(initializer=initializer, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        if validation_metric is None:
            validation_metric = eval_metric
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        kv = self._kv()
        info = self.logger.info if kv.is_root else _quiet
        if kv.num_workers == 1:
            _warn_if_ranks_train_alone(self.logger, kvstore, kv)
        sharded = []
        if kv.num_workers > 1:
            sharded = [it for it, even, what in ((train_data, True, 'training'),
                                                 (eval_data, False, 'validation'))
                       if _shard_for_ranks(it, kv, even, info, what)]
        run = _FitRun(train_data=train_data, eval_data=eval_data, eval_metric=eval_metric,
                      validation_metric=validation_metric, monitor=monitor,
                      epoch_end_callback=epoch_end_callback,
                      batch_end_callback=batch_end_callback,
                      eval_end_callback=eval_end_callback,
                      eval_batch_end_callback=eval_batch_end_callback,
                      sparse_row_id_fn=sparse_row_id_fn, kv=kv, info=info, stepped=False,
                      numerics=_numerics.guard_for(self, check_numerics))
        self._resume_run(run, begin_epoch)
        kv.set_location(phase='fit', left=None)    # the watchdog's errors say where
        try:
            with run.numerics if run.numerics is not None else contextlib.nullcontext():
                for epoch in range(begin_epoch, num_epoch):
                    self._fit_epoch(epoch, run)
        except BaseException as e:      # sys.exit too: the other ranks are told how it left
            kv.set_location(left=type(e).__name__)
            raise
        else:
            kv.set_location(phase=None, epoch=None, batch=None)
        finally:
            for it in sharded:          # the iterators the user gave are whole again
                it.shard(1, 0)

    def _fit_epoch(self, epoch, run):
        """One epoch of ``fit``: every batch through forward, backward and update (every
        rank stops as soon as one runs out), then the epoch's log lines, the replicas'
        auxiliary states averaged, the epoch-end callbacks and validation."""
        kv, info, train_data = run.kv, run.info, run.train_data
        tic = time.time()
        run.eval_metric.reset()
        batches = iter(train_data)
        next_batch = next(batches, None)
        have = next_batch is not None
        if not kv.all_true(have):
            where = ''
            if kv.num_workers > 1:
                where = ' on rank %d of %d' % (kv.rank, kv.num_workers) if not have \
                    else ' on another rank'
            raise MXNetError(
                'fit: the training data (%s) yielded no batch%s in epoch %d: an iterator '
                'already read to its end needs reset() before fit; otherwise it holds '
                'fewer samples than one batch%s' % (
                    type(train_data).__name__, where, epoch,
                    ' after sharding over %d ranks' % kv.num_workers
                    if kv.num_workers > 1 else ''))
        nbatch = 0
        done = False
        while not done:
            batch = next_batch
            kv.set_location(epoch=epoch, batch=nbatch)
            if run.monitor is not None:
                run.monitor.tic()
            self.forward_backward(batch)
            if run.numerics is not None:    # DISTMOD_CHECK_NUMERICS: first non-finite value
                run.numerics.after_backward(epoch, nbatch)
            self.update()
            if run.numerics is not None:
                run.numerics.after_update(epoch, nbatch)
            if not run.stepped:     # binding and the first step are done: the steady deadline
                run.stepped = True
                kv.first_step_done()
            if isinstance(batch, list):
                self.update_metric(run.eval_metric, [b.label for b in batch], pre_sliced=True)
            else:
                self.update_metric(run.eval_metric, batch.label)
            next_batch = next(batches, None)
            have = next_batch is not None
            if not kv.all_true(have):
                if have:        # another rank ran out: everyone stops together
                    self.logger.warning('fit: rank %d stops epoch %d after %d batches with '
                                        'data left, as another rank ran out',
                                        kv.rank, epoch, nbatch + 1)
                have = False
            if have:
                self.prepare(next_batch, sparse_row_id_fn=run.sparse_row_id_fn)
            else:
                done = True
            if run.monitor is not None:
                run.monitor.toc_print()
            if done:
                name_values = kv.global_name_value(run.eval_metric)
            if run.batch_end_callback is not None:
                params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=run.eval_metric,
                                       locals=locals())
                for cb in _as_list(run.batch_end_callback):
                    cb(params)
            nbatch += 1
        for name, value in name_values:
            info('Epoch[%d] Train-%s=%f', epoch, name, value)
        info('Epoch[%d] Time cost=%.3f', epoch, time.time() - tic)
        # BatchNorm's moving statistics drift apart across ranks (each sees its own data):
        # average them; then keep every device's copy identical, the host current
        self._average_aux_over_ranks()
        arg_params, aux_params = self.get_params()
        self.set_params(arg_params, aux_params)
        # what a checkpoint saved by these callbacks needs for an exact resume (do_checkpoint
        # gets the optimizer's states and the random streams through FIT_CONTEXT); gathered
        # on every rank, every epoch, whatever the callbacks (they may differ by rank)
        from . import resume as _resume
        kv.set_location(batch=None)
        _model.FIT_CONTEXT.update(epoch=epoch + 1, states=self._checkpoint_states,
                                  resume=_resume.record(self, run, epoch + 1), busy=kv.busy)
        try:
            if run.epoch_end_callback is not None:
                for cb in _as_list(run.epoch_end_callback):
                    cb(epoch, self.symbol, arg_params, aux_params)
        finally:
            _model.FIT_CONTEXT.clear()
        if run.eval_data:
            kv.set_location(phase='fit (validation)')
            res = self.score(run.eval_data, run.validation_metric,
                             score_end_callback=run.eval_end_callback,
                             batch_end_callback=run.eval_batch_end_callback, epoch=epoch,
                             _across_ranks=True)
            for name, value in res:
                info('Epoch[%d] Validation-%s=%f', epoch, name, value)
            kv.set_location(phase='fit')
        train_data.reset()

    # ---- exact resume ------------------------------------------------------------------
    _resume_from = None          # (prefix, epoch, load the optimizer's states too)

    def _checkpoint_states(self):
        """The optimizer's states as bytes for a checkpoint; None where there are none."""
        return None

    def _load_checkpoint_states(self, fname):
        """Load a checkpoint's optimizer states file (once the optimizer is made)."""
        raise MXNetError('%s cannot resume optimizer states (from %s)'
                         % (type(self).__name__, fname))

    def _resume_run(self, run, begin_epoch):
        """Before the first epoch: when this module came from epoch ``begin_epoch``'s
        checkpoint (``Module.load``, or a restart by distmod-launch), take its optimizer
        states (for a restart) and its resume record (see :mod:`distmod.module.resume`)."""
        if self._resume_from is None:
            return
        prefix, epoch, with_states = self._resume_from
        self._resume_from = None
        if epoch != begin_epoch:
            return
        from . import resume as _resume
        source = '%s-%04d' % (prefix, epoch)
        manifest = _model.verify_checkpoint(prefix, epoch)
        if with_states:
            fname = _model.states_file(prefix, epoch)
            if manifest is not None and os.path.basename(fname) in manifest.get('files', {}):
                self._load_checkpoint_states(fname)
            else:
                run.info('Resuming from %s without optimizer states (the checkpoint has none)',
                         source)
        run.info('Resuming from checkpoint %s: epoch %d onwards', source, epoch)
        if manifest is not None and manifest.get('resume'):
            _resume.apply(self, run, manifest['resume'], source)

    # ---- parameters --------------------------------------------------------------------
    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Give the parameters these values: ``init_params`` without an initializer."""
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    def save_params(self, fname):
        """Save parameters as ``arg:``/``aux:`` arrays (the format of a checkpoint); across
        ranks only rank 0 writes."""
        from ..model import save_params
        arg_params, aux_params = self.get_params()
        if not self._kv().is_root:
            return
        save_params(fname, arg_params, aux_params)

    def load_params(self, fname):
        """Load parameters saved by ``save_params`` (or an MXNet ``.params`` file)."""
        from ..model import load_params_file
        self.set_params(*load_params_file(fname))

    # ---- misc --------------------------------------------------------------------------
    def _graph_label_names(self):
        """The label names that are inputs of the network (a batch must feed them)."""
        return []

    def _average_aux_over_ranks(self):
        """Average auxiliary states over data-parallel ranks (modules with some override)."""

    def _kv(self):
        """The store this module's replicas meet in (a local one until ``init_optimizer``
        makes the module's own): every cross-rank call of the training loop goes to it."""
        from .. import kvstore as _kv
        return _kv.create('local')

    def _check_ready(self, what):
        if not (self.binded and self.params_initialized):
            raise MXNetError('%s: call bind and init_params first' % what)

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Prepare for a batch: MXNet pulls the rows ``sparse_row_id_fn(batch)`` names of
        row-sparse weights; here every replica keeps its weights whole, so the rows are only
        checked (a module with an optimizer)."""
        if sparse_row_id_fn is not None and self.optimizer_initialized:
            group = getattr(self, '_exec_group', None)
            if group is not None:
                self._kv().prepare_rows(group, sparse_row_id_fn(data_batch))

    @property
    def symbol(self):
        return self._symbol


_WARNED_ALONE = []


def _warn_if_ranks_train_alone(logger, kvstore, kv):
    """A job started on N ranks whose script never asked for a distributed kvstore trains N
    separate models on all the data: say so once, on rank 0."""
    from ..base import WORLD
    if WORLD['num_workers'] <= 1 or _WARNED_ALONE or not kv.is_root:
        return
    _WARNED_ALONE.append(True)
    name = kvstore if isinstance(kvstore, str) else getattr(kvstore, 'type', kvstore)
    logger.warning(
        'fit: this job runs %d ranks but kvstore=%r: every rank trains its own model on all '
        'the data and nothing is averaged. Pass kvstore=\'dist_sync\' to fit to train one '
        'model together (only rank 0 logs and writes checkpoints either way)',
        WORLD['num_workers'], name)


class _FitRun:
    """What ``fit`` hands each epoch: its data, metrics, callbacks, store and logger."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def _quiet(*args, **kwargs):
    """Logging on ranks other than 0: nothing."""


def _shard_for_ranks(data, kv, even, info, what):
    """Give each rank its part of ``data`` (in place, for the duration of ``fit``) unless it
    is already a part; True when it was sharded here."""
    if data is None:
        return False
    if getattr(data, 'num_parts', 1) not in (None, 1):
        return False                      # the user sharded it (num_parts/part_index)
    shard = getattr(data, 'shard', None)
    if shard is None:
        info('fit: the %s iterator (%s) cannot be sharded: every rank reads all of it; give '
             'it num_parts=kv.num_workers, part_index=kv.rank', what, type(data).__name__)
        return False
    shard(kv.num_workers, kv.rank, even=even)
    info('fit: %s data split over %d ranks (%s.shard)', what, kv.num_workers,
         type(data).__name__)
    return True
