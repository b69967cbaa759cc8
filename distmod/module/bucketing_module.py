"""BucketingModule: one symbol per bucket key (e.g. sequence length), parameters shared.

Every bucket's Module is bound with the default bucket's Module as ``shared_module``: the
parameters, their gradients and the auxiliary states are the same arrays in every bucket, and
all buckets use one optimizer (``borrow_optimizer``).  A bucket seen for the first time is
bound on demand, sharing that memory, without touching any parameter.

Across ranks (``dist_sync``) ranks may be in different buckets in the same step.  The
gradients still meet through the default bucket's parameters (the kvstore keys are the shared
parameter names, never per-bucket ones), so every rank makes the same collectives in the same
order; a parameter that the current bucket's graph does not use gets a zero gradient on that
rank, and every rank updates every shared parameter, so the replicas stay bit-identical.
"""
import logging

import numpy as np

from ..base import MXNetError
from ..context import cpu
from .base_module import BaseModule, checked_input_names, DEFAULT_INIT
from .module import Module

__all__ = ['BucketingModule']


class BucketingModule(BaseModule):
    """MXNet's BucketingModule.

    ``sym_gen(bucket_key)`` returns ``(symbol, data_names, label_names)``; batches choose
    their bucket with ``DataBatch.bucket_key``.

    Example::

        >>> def sym_gen(seq_len):                                     # doctest: +SKIP
        ...     ...
        ...     return net, ('data',), ('softmax_label',)
        >>> mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=60)   # doctest: +SKIP
        >>> mod.fit(bucket_iter, num_epoch=10)                            # doctest: +SKIP
    """

    def __init__(self, sym_gen, default_bucket_key=None, logger=logging, context=None,
                 work_load_list=None, fixed_param_names=None, state_names=None,
                 group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if default_bucket_key is None:
            raise MXNetError('BucketingModule: default_bucket_key is required')
        self._default_bucket_key = default_bucket_key
        self._sym_gen = sym_gen
        symbol, data_names, label_names = self._call_sym_gen(default_bucket_key)
        data_names, label_names, state_names, fixed_param_names = checked_input_names(
            symbol, data_names, label_names, state_names, fixed_param_names)
        self._fixed_param_names = fixed_param_names
        self._state_names = state_names
        self._label_args = [n for n in label_names if n in symbol.list_arguments()]
        self._context = context if context is not None else cpu()
        self._work_load_list = work_load_list
        self._group2ctxs = group2ctxs
        self._compression_params = compression_params
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None
        self._params_dirty = False
        self._monitor = None
        self._grad_req = None
        self._arg_params = self._aux_params = None

    def _call_sym_gen(self, key):
        from ..name import NameManager
        with NameManager():         # as MXNet: every bucket's automatic names count from 0
            out = self._sym_gen(key)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise MXNetError('sym_gen(%r) must return (symbol, data_names, label_names), got %r'
                             % (key, type(out).__name__))
        return out

    def _reset_bind(self):
        self.binded = False
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None

    # ---- properties --------------------------------------------------------------------
    @property
    def data_names(self):
        if self.binded:
            return self._curr_module.data_names
        return list(self._call_sym_gen(self._default_bucket_key)[1])

    @property
    def output_names(self):
        if self.binded:
            return self._curr_module.output_names
        return self._call_sym_gen(self._default_bucket_key)[0].list_outputs()

    @property
    def data_shapes(self):
        self._need_bound('data_shapes')
        return self._curr_module.data_shapes

    @property
    def label_shapes(self):
        self._need_bound('label_shapes')
        return self._curr_module.label_shapes

    @property
    def output_shapes(self):
        self._need_bound('output_shapes')
        return self._curr_module.output_shapes

    @property
    def symbol(self):
        self._need_bound('symbol')
        return self._curr_module.symbol

    @property
    def bucket_key(self):
        """The key of the bucket in use."""
        return self._curr_bucket_key

    def _kv(self):
        if self._buckets:
            return self._buckets[self._default_bucket_key]._kv()
        return super()._kv()

    def _need_bound(self, what):
        if not self.binded:
            raise MXNetError('%s: call bind first' % what)

    # ---- parameters --------------------------------------------------------------------
    def get_params(self):
        """The parameters of every bucket (the default bucket holds them all; every bucket
        shares its arrays)."""
        self._need_bound('get_params')
        if not self.params_initialized:
            raise MXNetError('get_params: call init_params first')
        default = self._buckets[self._default_bucket_key]
        default._params_dirty = default._params_dirty or self._params_dirty
        params = default.get_params()
        self._params_dirty = False
        return params

    def init_params(self, initializer=DEFAULT_INIT, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        if self.params_initialized and not force_init:
            return
        self._need_bound('init_params')
        self._buckets[self._default_bucket_key].init_params(
            initializer=initializer, arg_params=arg_params, aux_params=aux_params,
            allow_missing=allow_missing, force_init=force_init, allow_extra=allow_extra)
        self._params_dirty = False
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Set the parameters of every bucket (through the default bucket, which shares its
        arrays with all of them)."""
        self._need_bound('set_params')
        default = self._buckets[self._default_bucket_key]
        default.set_params(arg_params, aux_params, allow_missing=allow_missing,
                           force_init=force_init, allow_extra=allow_extra)
        self._params_dirty = default._params_dirty
        self.params_initialized = default.params_initialized

    def get_states(self, merge_multi_context=True):
        self._need_bound('get_states')
        return self._curr_module.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None):
        self._need_bound('set_states')
        self._curr_module.set_states(states, value)

    # ---- binding -----------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req='write'):
        """Bind the default bucket (others are bound when first seen)."""
        if self.params_initialized:
            arg_params, aux_params = self.get_params() if self.binded else \
                (self._arg_params, self._aux_params)
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning('Already bound, ignoring bind()')
            return
        if shared_module is not None:
            raise MXNetError('BucketingModule.bind: shared_module is not supported')
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.binded = True
        self._grad_req = grad_req
        module = self._make_module(self._default_bucket_key)
        module.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                    force_rebind=False, shared_module=None, grad_req=grad_req)
        self._curr_module = module
        self._curr_bucket_key = self._default_bucket_key
        self._buckets[self._default_bucket_key] = module
        if self.params_initialized:          # a rebind keeps the parameters
            self.set_params(arg_params, aux_params)

    def _make_module(self, key):
        symbol, data_names, label_names = self._call_sym_gen(key)
        return Module(symbol, data_names, label_names, logger=self.logger,
                      context=self._context, work_load_list=self._work_load_list,
                      fixed_param_names=self._fixed_param_names, state_names=self._state_names,
                      group2ctxs=self._group2ctxs, compression_params=self._compression_params)

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None):
        """Make ``bucket_key`` current, binding it (sharing the default bucket's memory) the
        first time it is seen."""
        self._need_bound('switch_bucket')
        if bucket_key not in self._buckets:
            if data_shapes is None:
                raise MXNetError('switch_bucket: bucket %r is not bound yet and no data_shapes '
                                 'were given' % (bucket_key,))
            default = self._buckets[self._default_bucket_key]
            module = self._make_module(bucket_key)
            module.bind(data_shapes, label_shapes, default.for_training,
                        default.inputs_need_grad, force_rebind=False, shared_module=default,
                        grad_req=self._grad_req)
            _check_shared(module, default, bucket_key, self._default_bucket_key)
            if self._monitor is not None:
                module.install_monitor(self._monitor)
            if default.params_initialized:
                default.get_params()             # the host copies current, then shared
                module.params_initialized = True
                module._arg_params = {k: default._arg_params[k]
                                      for k in module._exec_group.param_names}
                module._aux_params = {k: default._aux_params[k]
                                      for k in module._exec_group.aux_names}
            if self.optimizer_initialized:
                module.borrow_optimizer(default)
            self._buckets[bucket_key] = module
        self._curr_module = self._buckets[bucket_key]
        self._curr_bucket_key = bucket_key

    # ---- optimizer ---------------------------------------------------------------------
    def init_optimizer(self, kvstore='local', optimizer='sgd',
                       optimizer_params=(('learning_rate', 0.01),), force_init=False):
        """One optimizer (and kvstore) for every bucket."""
        self._need_bound('init_optimizer')
        if not self.params_initialized:
            raise MXNetError('init_optimizer: call init_params first')
        if self.optimizer_initialized and not force_init:
            self.logger.warning('optimizer already initialized, ignoring.')
            return
        default = self._buckets[self._default_bucket_key]
        default._params_dirty = default._params_dirty or self._params_dirty
        default.init_optimizer(kvstore, optimizer, optimizer_params, force_init=force_init)
        for module in self._buckets.values():
            if module is not default:
                module.borrow_optimizer(default)
        self.optimizer_initialized = True

    def _average_aux_over_ranks(self):
        if self._buckets:
            self._buckets[self._default_bucket_key]._average_aux_over_ranks()
            self._params_dirty = True

    # ---- compute -----------------------------------------------------------------------
    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Bind the batch's bucket ahead of time (the current bucket stays current)."""
        bucket_key = getattr(data_batch, 'bucket_key', None)
        if bucket_key is None:
            if sparse_row_id_fn is not None and self._curr_module is not None:
                self._curr_module.prepare(data_batch, sparse_row_id_fn)
            return
        original = self._curr_bucket_key
        self.switch_bucket(bucket_key, data_batch.provide_data, data_batch.provide_label)
        if sparse_row_id_fn is not None:
            self._curr_module.prepare(data_batch, sparse_row_id_fn)
        self.switch_bucket(original, None, None)

    def forward(self, data_batch, is_train=None):
        """Forward in the batch's bucket (``data_batch.bucket_key``; default bucket if None)."""
        self._need_bound('forward')
        if not self.params_initialized:
            raise MXNetError('forward: call init_params first')
        key = getattr(data_batch, 'bucket_key', None)
        if key is None:
            key = self._default_bucket_key
        self.switch_bucket(key, getattr(data_batch, 'provide_data', None),
                           getattr(data_batch, 'provide_label', None))
        self._curr_module.forward(data_batch, is_train=is_train)

    def backward(self, out_grads=None):
        self._need_bound('backward')
        if self._kv().num_workers > 1 and self._curr_module is not \
                self._buckets[self._default_bucket_key]:
            self._zero_unused_grads()
        self._curr_module.backward(out_grads=out_grads)

    def _zero_unused_grads(self):
        """Across ranks every shared parameter is reduced and updated: those this bucket's
        graph does not use contribute a zero gradient."""
        default = self._buckets[self._default_bucket_key]
        used = set(self._curr_module._exec_group.param_names)
        for name, grads in zip(default._exec_group.param_names, default._exec_group.grad_arrays):
            if name not in used:
                for g in grads:
                    if g is not None:
                        g[:] = 0

    def update(self):
        """One optimizer step; across ranks through the default bucket's (shared) parameters,
        so that every rank updates the same set whatever bucket it is in."""
        if not self.optimizer_initialized:
            raise MXNetError('update: call init_optimizer first')
        self._params_dirty = True
        if self._kv().num_workers > 1:
            # the buckets share the default bucket's gradient buffers: its update reduces
            # and updates every shared parameter
            self._buckets[self._default_bucket_key].update()
        else:
            self._curr_module.update()

    def get_outputs(self, merge_multi_context=True):
        self._need_bound('get_outputs')
        return self._curr_module.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._need_bound('get_input_grads')
        return self._curr_module.get_input_grads(merge_multi_context=merge_multi_context)

    def _graph_label_names(self):
        return list(self._label_args)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._need_bound('update_metric')
        self._curr_module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._need_bound('install_monitor')
        self._monitor = mon
        for module in self._buckets.values():
            module.install_monitor(mon)

    # ---- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, remove_amp_cast=False):
        """Write ``prefix-<key>-symbol.json`` for every bucket, ``prefix-%04d.params`` and
        ``prefix.buckets`` (the keys), as MXNet does; across ranks only rank 0 writes."""
        from .. import ndarray as nd
        self._need_bound('save_checkpoint')
        if not self._kv().is_root:
            return
        keys = list(self._buckets)
        if not all(isinstance(k, (int, np.integer)) for k in keys):
            raise MXNetError('save_checkpoint: bucket keys must be integers to be saved in '
                             "MXNet's prefix.buckets file, got %r" % (keys,))
        for key, module in self._buckets.items():
            module.symbol.save('%s-%s-symbol.json' % (prefix, key),
                               remove_amp_cast=remove_amp_cast)
        nd.save('%s.buckets' % prefix, [nd.array(keys, dtype='int32')])
        # the params as a checkpoint unit (manifest, params last), as Module's
        from .. import model as _model
        arg_params, aux_params = self.get_params()
        _model.save_checkpoint(prefix, epoch, None, arg_params, aux_params)

    @staticmethod
    def load(prefix, epoch, sym_gen=None, default_bucket_key=None, **kwargs):
        """A BucketingModule from ``save_checkpoint``'s files; without ``sym_gen`` the saved
        bucket symbols are used (``data_names``/``label_names`` may be given)."""
        from .. import ndarray as nd
        from .. import symbol as sym
        from ..model import load_params
        if default_bucket_key is None:
            raise MXNetError('BucketingModule.load: default_bucket_key is required')
        sym_dict = None
        if sym_gen is None:
            keys = nd.load('%s.buckets' % prefix)[0].asnumpy().astype(int).tolist()
            sym_dict = {k: sym.load('%s-%s-symbol.json' % (prefix, k)) for k in keys}
        arg_params, aux_params = load_params(prefix, epoch)
        return BucketingModule.load_dict(sym_dict, sym_gen, default_bucket_key, arg_params,
                                         aux_params, **kwargs)

    @staticmethod
    def load_dict(sym_dict=None, sym_gen=None, default_bucket_key=None, arg_params=None,
                  aux_params=None, **kwargs):
        """A BucketingModule from bucket symbols (or ``sym_gen``) and parameters."""
        if sym_gen is None:
            if not sym_dict:
                raise MXNetError('load_dict: give sym_gen or sym_dict')
            data_names = tuple(kwargs.pop('data_names', ('data',)))
            label_names = tuple(kwargs.pop('label_names', ('softmax_label',)))

            def sym_gen(key):
                if key not in sym_dict:
                    raise MXNetError('no saved symbol for bucket %r (saved: %s)'
                                     % (key, sorted(sym_dict)))
                return sym_dict[key], data_names, label_names
        mod = BucketingModule(sym_gen, default_bucket_key, **kwargs)
        mod._arg_params, mod._aux_params = arg_params, aux_params
        mod.params_initialized = True
        return mod


def _check_shared(module, default, key, default_key):
    """A new bucket must share every parameter it has with the default bucket."""
    dgroup, group = default._exec_group, module._exec_group
    dparams = dict(zip(dgroup.param_names, dgroup.param_arrays))
    for name, arrays in zip(group.param_names, group.param_arrays):
        if name not in dparams:
            raise MXNetError('bucket %r has parameter %r that the default bucket %r does not '
                             'have; the default bucket must be the largest and hold every '
                             'parameter' % (key, name, default_key))
        if arrays[0] is not dparams[name][0]:
            raise MXNetError('bucket %r: parameter %r has shape %s but %s in the default bucket '
                             '%r' % (key, name, arrays[0].shape, dparams[name][0].shape,
                                     default_key))
