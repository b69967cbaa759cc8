"""SequentialModule: modules chained one after another, outputs feeding the next inputs."""
import copy
import logging

from ..base import MXNetError
from .base_module import BaseModule, DEFAULT_INIT

__all__ = ['SequentialModule']


class SequentialModule(BaseModule):
    """A chain of modules; ``add`` returns the chain so calls can be strung together.

    Meta flags for ``add``: ``take_labels=True`` gives the module the batch's labels (a loss
    at the end usually does); ``auto_wiring=True`` renames the previous module's outputs to
    this module's ``data_names``.

    Example::

        >>> seq = mx.mod.SequentialModule()                                   # doctest: +SKIP
        >>> seq.add(mx.mod.Module(body, label_names=None)).add(
        ...     mx.mod.Module(head), take_labels=True, auto_wiring=True)     # doctest: +SKIP
    """

    META_TAKE_LABELS = 'take_labels'
    META_AUTO_WIRING = 'auto_wiring'

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules = []
        self._metas = []
        self._label_shapes = None
        self._data_shapes = None
        self._meta_keys = {self.META_TAKE_LABELS, self.META_AUTO_WIRING}

    def add(self, module, **kwargs):
        """Append ``module`` with its meta flags; everything must be bound again."""
        for key in kwargs:
            if key not in self._meta_keys:
                raise MXNetError('SequentialModule.add: unknown meta %r (known: %s)'
                                 % (key, sorted(self._meta_keys)))
        self._modules.append(module)
        self._metas.append(kwargs)
        self.binded = False
        self.params_initialized = False
        self.optimizer_initialized = False
        return self

    # ---- properties --------------------------------------------------------------------
    @property
    def data_names(self):
        return self._modules[0].data_names if self._modules else []

    @property
    def output_names(self):
        return self._modules[-1].output_names if self._modules else []

    @property
    def data_shapes(self):
        self._need_bound('data_shapes')
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        self._need_bound('label_shapes')
        return self._label_shapes

    @property
    def output_shapes(self):
        self._need_bound('output_shapes')
        return self._modules[-1].output_shapes

    def _need_bound(self, what):
        if not self.binded:
            raise MXNetError('%s: call bind first' % what)

    def _kv(self):
        """The first module's store that spans ranks (every module's spans the same)."""
        for module in self._modules:
            kv = module._kv()
            if kv.num_workers > 1:
                return kv
        return super()._kv()

    # ---- parameters --------------------------------------------------------------------
    def get_params(self):
        """Every module's parameters in one pair of dicts."""
        self._need_bound('get_params')
        arg_params, aux_params = {}, {}
        for module in self._modules:
            arg, aux = module.get_params()
            arg_params.update(arg)
            aux_params.update(aux)
        return arg_params, aux_params

    def init_params(self, initializer=DEFAULT_INIT, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialise every module (each takes what it needs from the given dicts)."""
        if self.params_initialized and not force_init:
            return
        self._need_bound('init_params')
        for module in self._modules:
            module.init_params(initializer=initializer, arg_params=arg_params,
                               aux_params=aux_params, allow_missing=allow_missing,
                               force_init=force_init, allow_extra=allow_extra)
        seen = {}
        for i, module in enumerate(self._modules):
            arg, aux = module.get_params()
            for name in list(arg) + list(aux):
                if name in seen:
                    raise MXNetError('Duplicated parameter names: name %r in layer %d (%s) is '
                                     'already used in layer %d (%s)'
                                     % (name, i, type(module).__name__, seen[name],
                                        type(self._modules[seen[name]]).__name__))
                seen[name] = i
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Give each module its parameters (each takes the names it has)."""
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init, allow_extra=True)

    # ---- binding -----------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req='write'):
        """Bind each module on the previous one's output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning('Already bound, ignoring bind()')
            return
        if inputs_need_grad and not for_training:
            raise MXNetError('inputs_need_grad needs for_training=True')
        if shared_module is not None:
            raise MXNetError('SequentialModule.bind: shared_module is not supported')
        if not self._modules:
            raise MXNetError('SequentialModule.bind: add modules first')
        self.binded = True
        self._label_shapes = label_shapes
        my_data_shapes = data_shapes
        anybody_needs_labels = False
        for i, (module, meta) in enumerate(zip(self._modules, self._metas)):
            if meta.get(self.META_TAKE_LABELS, False):
                my_label_shapes = label_shapes
                anybody_needs_labels = True
            else:
                my_label_shapes = None
            my_inputs_need_grad = bool(inputs_need_grad or (for_training and i > 0))
            if meta.get(self.META_AUTO_WIRING, False):
                data_names = module.data_names
                if len(data_names) != len(my_data_shapes):
                    raise MXNetError('auto_wiring: layer %d (%s) takes %d inputs but the '
                                     'previous layer gives %d outputs'
                                     % (i, type(module).__name__, len(data_names),
                                        len(my_data_shapes)))
                my_data_shapes = [(name, tuple(shape[1])) for name, shape in
                                  zip(data_names, my_data_shapes)]
            module.bind(data_shapes=my_data_shapes, label_shapes=my_label_shapes,
                        for_training=for_training, inputs_need_grad=my_inputs_need_grad,
                        force_rebind=force_rebind, shared_module=None, grad_req=grad_req)
            my_data_shapes = module.output_shapes
        if not anybody_needs_labels:
            self._label_shapes = None

    def init_optimizer(self, kvstore='local', optimizer='sgd',
                       optimizer_params=(('learning_rate', 0.01),), force_init=False):
        """One optimizer per module (each with its own parameters)."""
        self._need_bound('init_optimizer')
        if self.optimizer_initialized and not force_init:
            self.logger.warning('optimizer already initialized, ignoring.')
            return
        for module in self._modules:
            module.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                                  optimizer_params=optimizer_params, force_init=force_init)
        self.optimizer_initialized = True

    def _average_aux_over_ranks(self):
        for module in self._modules:
            module._average_aux_over_ranks()

    # ---- compute -----------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Forward through the chain; each module's outputs are the next one's data."""
        self._need_bound('forward')
        if not self.params_initialized:
            raise MXNetError('forward: call init_params first')
        data_batch = copy.copy(data_batch)     # keeps bucket_key, pad... ; data is replaced
        for i, module in enumerate(self._modules):
            module.forward(data_batch, is_train=is_train)
            if i + 1 == len(self._modules):
                break
            data_batch.data = module.get_outputs()
            if getattr(data_batch, 'provide_data', None) is not None:
                names = [x[0] for x in module.output_shapes]
                data_batch.provide_data = [(name, tuple(x.shape)) for name, x in
                                           zip(names, data_batch.data)]

    def backward(self, out_grads=None):
        """Backward from the last module; each module's input gradients feed the one before."""
        self._need_bound('backward')
        for i in reversed(range(len(self._modules))):
            module = self._modules[i]
            module.backward(out_grads=out_grads)
            if i == 0:
                break
            out_grads = module.get_input_grads()

    def update(self):
        if not self.optimizer_initialized:
            raise MXNetError('update: call init_optimizer first')
        for module in self._modules:
            module.update()

    def get_outputs(self, merge_multi_context=True):
        self._need_bound('get_outputs')
        return self._modules[-1].get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._need_bound('get_input_grads')
        if not self.inputs_need_grad and not self._modules[0].inputs_need_grad:
            raise MXNetError('bind with inputs_need_grad=True to get input gradients')
        return self._modules[0].get_input_grads(merge_multi_context=merge_multi_context)

    def _graph_label_names(self):
        names = []
        for meta, module in zip(self._metas, self._modules):
            if meta.get(self.META_TAKE_LABELS, False):
                names += [n for n in module._graph_label_names() if n not in names]
        return names

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """The modules that take labels update the metric."""
        self._need_bound('update_metric')
        for meta, module in zip(self._metas, self._modules):
            if meta.get(self.META_TAKE_LABELS, False):
                module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._need_bound('install_monitor')
        for module in self._modules:
            module.install_monitor(mon)
