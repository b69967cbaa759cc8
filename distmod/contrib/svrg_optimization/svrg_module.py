"""SVRGModule: a Module trained with SVRG (Johnson & Zhang, 2013), as MXNet 1.9's.

Every ``update_freq`` epochs the module snapshots its weights ``w~`` into an auxiliary module
and averages the gradient over the whole training set at ``w~`` (``mu``); each step then uses
``g(w) - g(w~) + mu`` for its batch, whose variance shrinks as ``w`` nears ``w~``.
"""
import logging

from ...base import MXNetError
from ...context import cpu
from ...module import Module
from ... import ndarray as nd
from .svrg_optimizer import _SVRGOptimizer

__all__ = ['SVRGModule']


class SVRGModule(Module):
    """A Module with SVRG's variance-reduced gradients (MXNet's
    ``mx.contrib.svrg_optimization.svrg_module.SVRGModule``).

    Parameters are Module's, plus ``update_freq`` (a positive int): the full gradient is
    recomputed at the start of every ``update_freq``-th epoch of ``fit``.

    As in MXNet, each recomputation adds the new batch gradients to the previous full gradient
    before dividing by the number of batches (MXNet 1.9.1 never clears it between epochs);
    across ranks, the correction is summed over devices and ranks like the gradients it
    corrects.

    Example::

        >>> mod = SVRGModule(symbol=lro, data_names=['data'], label_names=['lin_reg_label'],
        ...                  update_freq=2)                                  # doctest: +SKIP
        >>> mod.fit(di, eval_metric='mse', optimizer='sgd',
        ...         optimizer_params=(('learning_rate', 0.025),), num_epoch=10)  # doctest: +SKIP
    """

    def __init__(self, symbol, data_names=('data',), label_names=('softmax_label',),
                 logger=logging, context=cpu(), work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None, update_freq=None):
        super().__init__(symbol, data_names=data_names, label_names=label_names, logger=logger,
                         context=context, work_load_list=work_load_list,
                         fixed_param_names=fixed_param_names, state_names=state_names,
                         group2ctxs=group2ctxs, compression_params=compression_params)
        if isinstance(update_freq, bool) or not isinstance(update_freq, int):
            raise TypeError('update_freq in SVRGModule must be an integer to represent the '
                            'frequency for calculating full gradients')
        if update_freq <= 0:
            raise ValueError('update_freq in SVRGModule must be a positive integer to represent '
                             'the frequency for calculating full gradients')
        self.update_freq = update_freq
        self._mod_aux = Module(symbol, data_names, label_names, logger, context, work_load_list,
                               fixed_param_names, state_names, group2ctxs, compression_params)
        self._param_dict = None
        self._ctx_len = len(self._context)

    # ---- binding: both modules ---------------------------------------------------------
    def _reset_bind(self):
        super()._reset_bind()
        self._mod_aux._reset_bind()

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req='write'):
        """Bind this module and, for training, the auxiliary one (the snapshot ``w~``)."""
        super().bind(data_shapes, label_shapes, for_training, inputs_need_grad, force_rebind,
                     shared_module, grad_req)
        if for_training:
            self._mod_aux.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                               force_rebind, shared_module, grad_req)

    def reshape(self, data_shapes, label_shapes=None):
        super().reshape(data_shapes, label_shapes=label_shapes)
        if self._mod_aux.binded:
            self._mod_aux.reshape(data_shapes, label_shapes=label_shapes)

    # ---- optimizer ---------------------------------------------------------------------
    def init_optimizer(self, kvstore='local', optimizer='sgd',
                       optimizer_params=(('learning_rate', 0.01),), force_init=False):
        """Install ``_SVRGOptimizer`` around ``optimizer`` (a name or an Optimizer) with
        ``optimizer_params``; ``rescale_grad`` defaults to 1/batch size as for Module."""
        if self.optimizer_initialized and not force_init:
            self.logger.warning('optimizer already initialized, ignoring...')
            return
        self._need('binded', 'init_optimizer')
        self._need('params_initialized', 'init_optimizer')
        arg_params = self.get_params()[0]
        self._param_dict = [{name: nd.zeros(value.shape, ctx=ctx, dtype=value.dtype)
                             for name, value in arg_params.items()} for ctx in self._context]
        svrg = self._create_optimizer(_SVRGOptimizer.__name__, optimizer, kvstore,
                                      optimizer_params)
        super().init_optimizer(kvstore=kvstore, optimizer=svrg,
                               optimizer_params=optimizer_params, force_init=force_init)

    def _create_optimizer(self, optimizer, default_opt, kvstore, optimizer_params):
        """The ``_SVRGOptimizer`` for ``default_opt``: update indices are parameter positions
        (``name_full`` keys follow them, as in MXNet), ``rescale_grad`` 1/(batch size x
        ranks of a synchronous store) unless given."""
        from ... import kvstore as _kv
        from ...base import WORLD
        batch_size = self._exec_group.batch_size
        if isinstance(kvstore, _kv.KVStore):
            store_type, workers = kvstore.type, kvstore.num_workers
        else:
            store_type, workers = str(kvstore or ''), WORLD['num_workers']
        if 'dist' in store_type and '_sync' in store_type:
            batch_size *= workers
        idx2name = dict(enumerate(self._exec_group.param_names))
        for name in self._param_dict[0]:
            idx2name[max(idx2name) + 1 if idx2name else 0] = name + '_full'
        params = dict(optimizer_params)
        params.setdefault('rescale_grad', 1.0 / batch_size)
        params['default_optimizer'] = default_opt
        params['param_idx2name'] = idx2name
        from ... import optimizer as _opt
        return _opt.create(optimizer, **params)

    # ---- compute -----------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Forward this module and, in training, the snapshot module on the same batch."""
        super().forward(data_batch, is_train)
        if is_train:
            if not self._mod_aux.params_initialized:
                raise MXNetError('SVRGModule.forward: call update_full_grads(train_data) '
                                 'before training steps (fit does, every update_freq epochs)')
            self._mod_aux.forward(data_batch, is_train)

    def backward(self, out_grads=None):
        super().backward(out_grads)
        if self._mod_aux.binded:
            self._mod_aux.backward(out_grads)

    def update(self):
        """One step with the SVRG gradient ``g(w) - g(w~) + mu`` of the last batch."""
        self._update_svrg_gradients()
        super().update()

    def _update_svrg_gradients(self):
        """Give the optimizer each parameter's correction ``mu - g(w~)``, summed over this
        rank's devices and then over the ranks (the gradient it corrects is summed so)."""
        if self._param_dict is None:
            raise MXNetError('SVRGModule.update: call init_optimizer first')
        group, aux_group = self._exec_group, self._mod_aux._exec_group
        deltas = []
        for index, name in enumerate(group.param_names):
            if group.grad_arrays[index][0] is None:
                deltas.append(None)
                continue
            ctx0 = group.grad_arrays[index][0].context
            delta = None
            for dev in range(self._ctx_len):
                part = self._param_dict[dev][name] - aux_group.grad_arrays[index][dev]
                part = part.as_in_context(ctx0)
                delta = part if delta is None else delta + part
            deltas.append(delta)
        kv = self._kv()
        if kv.num_workers > 1:
            raw = [d._data for d in deltas if d is not None]
            kv.raw.average_arrays(raw)
            for d in deltas:
                if d is not None:
                    d *= kv.num_workers
        for index, delta in enumerate(deltas):
            self._optimizer.set_correction(index, delta)

    def update_full_grads(self, train_data):
        """Snapshot the weights into the auxiliary module and average its gradients over
        every batch of ``train_data`` (the last batch's padding counted as a fraction)."""
        param_names = self._exec_group.param_names
        arg, aux = self.get_params()
        self._mod_aux.set_params(arg_params=arg, aux_params=aux)
        train_data.reset()
        nbatch = 0
        padding = 0
        aux_group = self._mod_aux._exec_group
        for batch in train_data:
            self._mod_aux.forward(batch, is_train=True)
            self._mod_aux.backward()
            nbatch += 1
            for dev in range(self._ctx_len):
                for index, name in enumerate(param_names):
                    grad = aux_group.grad_arrays[index][dev]
                    if grad is not None:
                        self._param_dict[dev][name] = self._param_dict[dev][name] + grad
            padding = batch.pad or 0
        if nbatch == 0:
            raise MXNetError('SVRGModule.update_full_grads: the training data yielded no batch')
        true_num_batch = nbatch - padding / float(train_data.batch_size)
        for dev in range(self._ctx_len):
            for name in param_names:
                self._param_dict[dev][name] = self._param_dict[dev][name] / true_num_batch

    # ---- fit ---------------------------------------------------------------------------
    def _fit_epoch(self, epoch, run):
        """Module's epoch, after recomputing the full gradient every ``update_freq`` epochs."""
        if epoch % self.update_freq == 0:
            self.update_full_grads(run.train_data)
            run.train_data.reset()
        super()._fit_epoch(epoch, run)

    def prepare(self, data_batch, sparse_row_id_fn=None):
        super().prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
        self._mod_aux.prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
