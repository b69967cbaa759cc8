"""Module: a symbol bound on one or more devices, with parameters and an optimizer."""
import logging
import os

from ..base import MXNetError
from ..context import Context, default_context
from ..executor import ExecutorGroup
from ..ndarray.ndarray import NDArray
from .. import ndarray as nd
from .. import model as _model
from .base_module import (BaseModule, checked_input_names, check_names_match, DEFAULT_INIT,
                          default_initializer)

__all__ = ['Module']


def _as_descs(shapes):
    if shapes is None:
        return None
    from ..io import DataDesc
    out = []
    for item in shapes:
        if isinstance(item, DataDesc):
            out.append(item)
        else:
            name, shape = item[0], tuple(item[1])
            out.append(DataDesc(name, shape))
    return out


_STYPE_FLAGS = {'1': 'row_sparse', '2': 'csr'}


def _declared_stypes(symbol):
    """``{variable name: 'row_sparse' | 'csr'}`` of the variables made with ``stype=``."""
    out = {}
    for name, attrs in symbol.attr_dict().items():
        stype = _STYPE_FLAGS.get(attrs.get('__storage_type__'))
        if stype is not None:
            out[name] = stype
    return out


class Module(BaseModule):
    """MXNet's Module: bind a symbol, initialise parameters, train with ``fit``.

    Example::

        >>> mod = mx.mod.Module(net, context=mx.cpu())              # doctest: +SKIP
        >>> mod.fit(train_iter, eval_data=val_iter, num_epoch=10)   # doctest: +SKIP
    """

    def __init__(self, symbol, data_names=('data',), label_names=('softmax_label',),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if context is None:         # cpu(), or this rank's GPU under --gpus-per-host
            context = default_context()
        if isinstance(context, Context):
            context = [context]
        self._context = list(context)
        if work_load_list is None:
            work_load_list = [1] * len(self._context)
        if len(work_load_list) != len(self._context):
            raise MXNetError('work_load_list has %d entries for %d contexts'
                             % (len(work_load_list), len(self._context)))
        self._work_load_list = list(work_load_list)
        self._symbol = symbol
        data_names, label_names, state_names, fixed_param_names = checked_input_names(
            symbol, data_names, label_names, state_names, fixed_param_names)
        inputs = set(data_names + label_names + state_names)
        self._data_names = data_names
        self._label_names = label_names
        self._state_names = state_names
        self._fixed_param_names = fixed_param_names
        self._param_names = [n for n in symbol.list_arguments() if n not in inputs]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._group2ctxs = group2ctxs       # model parallelism by ctx_group, as in MXNet
        self._compression_params = compression_params
        self._arg_params = None
        self._aux_params = None
        self._params_dirty = False
        self._optimizer = None
        self._kvstore = None          # the store gradients meet in (local included)
        self._updater = None
        self._preload_opt_states = None
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    # ---- properties --------------------------------------------------------------------
    @property
    def _total_exec_bytes(self):
        """The memory the executors' plans take (MXNet's ``_total_exec_bytes``)."""
        group = self._exec_group
        return sum(e._plan.bytes for e in group.execs) if group is not None else 0

    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        self._need('binded', 'data_shapes')
        return self._data_shapes

    @property
    def label_shapes(self):
        self._need('binded', 'label_shapes')
        return self._label_shapes

    @property
    def output_shapes(self):
        self._need('binded', 'output_shapes')
        shapes = {d.name: d.shape for d in self._data_shapes + (self._label_shapes or [])}
        _, out, _ = self._symbol.infer_shape(**shapes)
        return list(zip(self._output_names, out))

    def _need(self, flag, what):
        if not getattr(self, flag):
            need = {'binded': 'bind', 'params_initialized': 'init_params',
                    'optimizer_initialized': 'init_optimizer'}[flag]
            raise MXNetError('%s: call %s first' % (what, need))

    # ---- parameters --------------------------------------------------------------------
    def get_params(self):
        """``(arg_params, aux_params)`` on the CPU, averaged over devices."""
        self._need('binded', 'get_params')
        self._need('params_initialized', 'get_params')
        if self._params_dirty:
            self._exec_group.get_params(self._arg_params, self._aux_params)
            self._params_dirty = False
        return self._arg_params, self._aux_params

    def init_params(self, initializer=DEFAULT_INIT, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Give every parameter a value: from ``arg_params``/``aux_params``, else from
        ``initializer`` (default ``Uniform(0.01)``; None: every parameter must be given)."""
        from .. import initializer as _init
        if self.params_initialized and not force_init:
            self.logger.warning('Parameters already initialized and force_init=False. '
                                'init_params call ignored.')
            return
        self._need('binded', 'init_params')
        initializer = default_initializer(initializer)
        group = self._exec_group
        if self._arg_params is None:
            self._arg_params = {n: nd.zeros(b[0].shape, dtype=b[0].dtype)
                                for n, b in zip(group.param_names, group.param_arrays)}
        if self._aux_params is None:
            self._aux_params = {n: nd.zeros(b[0].shape, dtype=b[0].dtype)
                                for n, b in zip(group.aux_names, group.aux_arrays)}
        group.check_param_shapes(arg_params, aux_params, 'the given arg_params/aux_params')
        attrs = self._symbol.attr_dict()

        def fill(name, arr, given):
            if given is not None and name in given:
                src = given[name]
                if tuple(src.shape) != arr.shape:
                    raise MXNetError('parameter %r has shape %s in the given params but the '
                                     'module needs %s' % (name, tuple(src.shape), arr.shape))
                if src is not arr:
                    arr[:] = src.asnumpy() if isinstance(src, NDArray) else src
            elif given is not None and not allow_missing:
                raise MXNetError('%s is not presented' % name)
            elif initializer is not None:
                initializer(_init.InitDesc(name, attrs.get(name, None)), arr)

        for name, arr in sorted(self._arg_params.items()):
            fill(name, arr, arg_params)
        for name, arr in sorted(self._aux_params.items()):
            fill(name, arr, aux_params)
        # a parameter variable declared row_sparse/csr (stype=) is kept in that storage, as
        # MXNet's arg_params are (initialised densely first: a sparse view is read-only)
        for name, stype in _declared_stypes(self._symbol).items():
            arr = self._arg_params.get(name)
            if arr is not None and getattr(arr, 'stype', 'default') != stype:
                self._arg_params[name] = arr.tostype(stype)
        self.params_initialized = True
        self._params_dirty = False
        group.set_params(self._arg_params, self._aux_params, allow_extra=allow_extra)
        if self._kvstore is not None and self._kvstore.num_workers > 1:
            self._kvstore.broadcast_params(group)     # every replica gets rank 0's values
            self._params_dirty = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Copy ``arg_params``/``aux_params`` into the module (initialising it if needed)."""
        if not allow_missing:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=allow_missing, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            self.logger.warning('Parameters already initialized and force_init=False. '
                                'set_params call ignored.')
            return
        self._exec_group.set_params(arg_params, aux_params, allow_extra=allow_extra)
        if self._kvstore is not None:
            self._kvstore.broadcast_params(self._exec_group)
        self._params_dirty = True
        self.params_initialized = True

    # ---- binding -----------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req='write'):
        """Allocate executors for inputs of these shapes (``DataDesc`` or (name, shape))."""
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning('Already bound, ignoring bind()')
            return
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        data_shapes = _as_descs(data_shapes)
        label_shapes = _as_descs(label_shapes)
        check_names_match(self, self._data_names, data_shapes, 'data')
        if label_shapes:
            check_names_match(self, self._label_names, label_shapes, 'label')
        else:
            label_shapes = None
        self._data_shapes, self._label_shapes = data_shapes, label_shapes
        shared_group = None
        if shared_module is not None:
            if not (shared_module.binded and shared_module.params_initialized):
                raise MXNetError('shared_module must be bound and initialised')
            shared_group = shared_module._exec_group
        try:
            self._exec_group = ExecutorGroup(
                self._symbol, self._context, self._work_load_list, data_shapes, label_shapes,
                self._param_names, for_training, inputs_need_grad, shared_group,
                fixed_param_names=self._fixed_param_names, grad_req=grad_req,
                state_names=self._state_names, group2ctxs=self._group2ctxs)
        except MXNetError as e:
            raise MXNetError('Module.bind with data %s and label %s: %s'
                             % ([(d.name, d.shape) for d in data_shapes],
                                [(d.name, d.shape) for d in (label_shapes or [])], e)) from None
        if shared_module is None and self.params_initialized:
            try:        # parameters given before bind (Module.load): they must fit the data
                self._exec_group.check_param_shapes(self._arg_params, self._aux_params,
                                                    'the loaded parameters')
            except MXNetError:
                self._reset_bind()
                raise
        self.binded = True
        if shared_module is not None:
            self.params_initialized = True
            self._arg_params = shared_module._arg_params
            self._aux_params = shared_module._aux_params
        elif self.params_initialized:
            self._exec_group.set_params(self._arg_params, self._aux_params)
        if shared_module is not None and shared_module.optimizer_initialized:
            self.borrow_optimizer(shared_module)

    def _reset_bind(self):
        self.binded = False
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    def reshape(self, data_shapes, label_shapes=None):
        """Rebind for new input shapes, sharing parameters."""
        self._need('binded', 'reshape')
        data_shapes = _as_descs(data_shapes)
        label_shapes = _as_descs(label_shapes) or None
        self._exec_group.reshape(data_shapes, label_shapes)      # refuses a parameter change
        self._data_shapes, self._label_shapes = data_shapes, label_shapes

    # ---- optimizer ---------------------------------------------------------------------
    def init_optimizer(self, kvstore='local', optimizer='sgd',
                       optimizer_params=(('learning_rate', 0.01),), force_init=False):
        """Create the optimizer; ``rescale_grad`` defaults to 1/batch_size as in MXNet."""
        from .. import optimizer as opt
        self._need('binded', 'init_optimizer')
        self._need('params_initialized', 'init_optimizer')
        if self.optimizer_initialized and not force_init:
            self.logger.warning('optimizer already initialized, ignoring...')
            return
        if self._params_dirty:
            self.get_params()
        if self._kvstore is not None:
            self._kvstore.close()
        self._kvstore = self._create_kvstore(kvstore)
        batch_size = self._exec_group.batch_size
        if self._kvstore.type.startswith('dist') and self._kvstore.type.endswith('_sync'):
            batch_size *= self._kvstore.num_workers
        rescale_grad = 1.0 / batch_size
        idx2name = {i: n for i, n in enumerate(self._exec_group.param_names)}
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault('rescale_grad', rescale_grad)
            optimizer = opt.create(optimizer, sym=self._symbol, param_idx2name=idx2name,
                                   **params)
        else:
            if not isinstance(optimizer, opt.Optimizer):
                raise MXNetError('optimizer must be a name or an Optimizer, got %r'
                                 % (optimizer,))
            if optimizer.rescale_grad != rescale_grad:
                self.logger.warning(
                    'Optimizer created manually outside Module but rescale_grad is not '
                    'normalized to 1.0/batch_size/num_workers (%s vs. %s). Is this intended?',
                    optimizer.rescale_grad, rescale_grad)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        from . import agreement     # used alone: the ranks agree on the optimizer first
        agreement.check_optimizer(self, self._kvstore, optimizer)
        self._optimizer = optimizer
        self._updater = opt.get_updater(optimizer)
        self._kvstore._updater = self._updater
        # every replica starts from rank 0's parameters, then gradients meet in the store
        self._kvstore.broadcast_params(self._exec_group)
        self._params_dirty = True
        self._kvstore.attach(self._exec_group)
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def _create_kvstore(self, kvstore):
        """The store gradients meet in: a ``local`` one in one process (several local
        devices are summed there), a ``dist_*`` one across ranks.

        The optimizer always runs in the module, on every rank, on the gradients summed over
        ranks (MXNet's ``update_on_kvstore=False``): the same numbers as updating on the
        store, without keeping a second copy of every parameter.
        """
        from .. import kvstore as _kv
        if kvstore is None:
            kvstore = 'local'
        if isinstance(kvstore, str):
            kvstore = _kv.create(kvstore)
        if not isinstance(kvstore, _kv.KVStore):
            raise MXNetError('kvstore must be a name or a KVStore, got %r' % (kvstore,))
        if self._compression_params and (kvstore.type.startswith('dist') or
                                         len(self._context) > 1):
            # as MXNet: a dist store compresses between ranks, 'device' between devices,
            # 'local' with several devices refuses
            kvstore.set_gradient_compression(self._compression_params)
        return kvstore

    def borrow_optimizer(self, shared_module):
        """Use another module's optimizer and updater (BucketingModule's buckets do)."""
        if not shared_module.optimizer_initialized:
            raise MXNetError('borrow_optimizer: the shared module has no optimizer yet')
        self._optimizer = shared_module._optimizer
        self._kvstore = shared_module._kvstore
        self._updater = shared_module._updater
        self.optimizer_initialized = True

    def _average_aux_over_ranks(self):
        if self._kvstore is not None and self._kvstore.num_workers > 1 and \
                self._exec_group.aux_names:
            self._kvstore.average_aux(self._exec_group)
            self._params_dirty = True

    def _kv(self):
        return self._kvstore if self._kvstore is not None else super()._kv()

    # ---- compute -----------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Forward a batch; a batch of other shapes (a smaller last batch) rebinds first."""
        self._need('binded', 'forward')
        self._need('params_initialized', 'forward')
        new = [tuple(d.shape) for d in data_batch.data]
        cur = [d.shape for d in self._data_shapes]
        if new != cur:
            provide = getattr(data_batch, 'provide_data', None)
            if provide:
                data_shapes = _as_descs(provide)
            else:
                data_shapes = [type(d)(d.name, s) if hasattr(d, 'layout') else (d.name, s)
                               for d, s in zip(self._data_shapes, new)]
                data_shapes = _as_descs(data_shapes)
            label_shapes = None
            if self._label_shapes:
                provide = getattr(data_batch, 'provide_label', None)
                if provide:
                    label_shapes = _as_descs(provide)
                elif getattr(data_batch, 'label', None):
                    label_shapes = _as_descs([(d.name, tuple(l.shape)) for d, l in
                                              zip(self._label_shapes, data_batch.label)])
            self.reshape(data_shapes, label_shapes)
        self._exec_group.forward(data_batch, is_train)

    def backward(self, out_grads=None):
        self._need('binded', 'backward')
        self._need('params_initialized', 'backward')
        if self._kvstore is not None:
            self._kvstore.backward_starts(self._exec_group)
        self._exec_group.backward(out_grads=out_grads)

    def update(self):
        """Sum the gradients over devices and ranks, then apply the optimizer to every
        parameter (on device 0; the other devices get copies)."""
        self._need('optimizer_initialized', 'update')
        self._params_dirty = True
        group = self._exec_group
        self._kvstore.reduce_gradients(group)
        updater = self._updater
        for i, (weights, grads) in enumerate(zip(group.param_arrays, group.grad_arrays)):
            if grads[0] is not None:
                updater(i, grads[0], weights[0])
                for w in weights[1:]:
                    weights[0].copyto(w)

    def get_outputs(self, merge_multi_context=True):
        self._need('binded', 'get_outputs')
        return self._exec_group.get_outputs(merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._need('binded', 'get_input_grads')
        return self._exec_group.get_input_grads(merge_multi_context)

    def get_states(self, merge_multi_context=True):
        self._need('binded', 'get_states')
        return self._exec_group.get_states(merge_multi_context)

    def set_states(self, states=None, value=None):
        self._need('binded', 'set_states')
        self._exec_group.set_states(states, value)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        if labels or not self._label_names:
            self._exec_group.update_metric(eval_metric, labels, pre_sliced)
            return
        try:            # a metric that needs no label (Loss) is fine without one
            self._exec_group.update_metric(eval_metric, labels or [], pre_sliced)
        except (MXNetError, ValueError, TypeError) as err:
            raise MXNetError(
                'update_metric: the batch holds no label, but the module expects %s '
                '(label_names=%s) and metric %r needs one: does the data iterator yield '
                'labels? (%s)' % (', '.join(repr(n) for n in self._label_names),
                                  self._label_names, eval_metric.name, err)) from None

    def _graph_label_names(self):
        args = self._symbol.list_arguments()
        return [n for n in self._label_names if n in args]

    def install_monitor(self, mon):
        self._need('binded', 'install_monitor')
        self._exec_group.install_monitor(mon)

    # ---- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False, remove_amp_cast=True,
                        states_format=None):
        """Write ``prefix-symbol.json``, ``prefix-%04d.params`` (and ``.states``, in
        ``states_format``: None for ``DISTMOD_STATES_FORMAT`` or distmod's, ``'mxnet'``).

        Each file is written atomically; across ranks only rank 0 writes (the replicas are
        identical), every rank may call it.
        """
        arg_params, aux_params = self.get_params()
        states = False
        if save_optimizer_states:
            self._need('optimizer_initialized', 'save_checkpoint(save_optimizer_states=True)')
            from ..optimizer import _states_format
            states = self._updater.get_states(False, fmt=_states_format(states_format),
                                              param_names=self._exec_group.param_names)
        if not self._kv().is_root:
            return
        # one unit: states, manifest, then the params file as the commit point
        _model.save_checkpoint(prefix, epoch, self._symbol, arg_params, aux_params,
                               remove_amp_cast=remove_amp_cast, states=states)
        if save_optimizer_states:
            self.logger.info('Saved optimizer state to "%s"', _model.states_file(prefix, epoch))

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module from a checkpoint (ours or MXNet's); pass Module's other arguments."""
        sym, args, auxs = _model.load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._arg_params = args
        mod._aux_params = auxs
        mod.params_initialized = True
        if load_optimizer_states:
            fname = _model.states_file(prefix, epoch)
            _model.verify_checkpoint(prefix, epoch, which={os.path.basename(fname)})
            mod._preload_opt_states = fname
        mod._resume_from = (prefix, epoch, False)     # fit(begin_epoch=epoch) resumes exactly
        return mod

    def _checkpoint_states(self):
        if not self.optimizer_initialized:
            return None
        return self._updater.get_states(False, param_names=self._exec_group.param_names)

    def _load_checkpoint_states(self, fname):
        self.load_optimizer_states(fname)

    def save_optimizer_states(self, fname, fmt=None, keys='index'):
        """Save the updater's states: distmod's safe format, or MXNet 1.9's pickle with
        ``fmt='mxnet'`` (or ``DISTMOD_STATES_FORMAT=mxnet``); ``keys='name'`` for an MXNet
        Module that updates on its kvstore (several devices).  Rank 0 writes, atomically."""
        self._need('optimizer_initialized', 'save_optimizer_states')
        if not self._kv().is_root:
            return
        from ..optimizer import save_states_file
        save_states_file(fname, self._updater, fmt=fmt, keys=keys,
                         param_names=self._exec_group.param_names)

    def load_optimizer_states(self, fname):
        """Load distmod's format or MXNet's ``.states`` (read without running code; keyed by
        position, name, or position*num_device+device)."""
        self._need('optimizer_initialized', 'load_optimizer_states')
        from ..optimizer import load_states_file
        group = self._exec_group
        weights = [group.param_arrays[i][0] for i in range(len(group.param_names))]
        load_states_file(fname, self._updater, param_names=group.param_names,
                         param_shapes=[w.shape for w in weights],
                         param_dtypes=[w.dtype for w in weights])
