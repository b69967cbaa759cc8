"""PythonModule and PythonLossModule: modules written in Python, with no parameters.

A PythonModule computes in plain Python/NumPy; PythonLossModule is the common case of a loss
at the end of a SequentialModule: its output is its input, and its input gradient comes from
``grad_func(scores, labels)``.
"""
import logging

from ..base import MXNetError
from ..ndarray.ndarray import NDArray
from .. import ndarray as nd
from .base_module import BaseModule, check_names_match

__all__ = ['PythonModule', 'PythonLossModule']


class PythonModule(BaseModule):
    """A module with no parameters, to subclass: define ``_compute_output_shapes``,
    ``forward``, ``backward``, ``get_outputs`` and ``get_input_grads``."""

    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        if isinstance(data_names, tuple):
            data_names = list(data_names)
        if isinstance(label_names, tuple):
            label_names = list(label_names)
        self._data_names = data_names
        self._label_names = label_names
        self._output_names = output_names
        self._data_shapes = None
        self._label_shapes = None
        self._output_shapes = None

    @property
    def data_names(self):
        return self._data_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        return self._output_shapes

    def get_params(self):
        """No parameters: two empty dicts."""
        return dict(), dict()

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Nothing to initialise."""
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.params_initialized = True

    def init_optimizer(self, kvstore='local', optimizer='sgd',
                       optimizer_params=(('learning_rate', 0.01),), force_init=False):
        """Nothing to optimise."""
        self.optimizer_initialized = True

    def update(self):
        """Nothing to update."""

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Evaluate the outputs against ``labels`` (only when bound with labels)."""
        if self._label_shapes is None:
            return
        if pre_sliced:
            raise MXNetError('PythonModule does not support pre-sliced labels')
        eval_metric.update(labels, self.get_outputs())

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req='write'):
        """Record the shapes and compute the output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning('Already bound, ignoring bind()')
            return
        if grad_req != 'write':
            raise MXNetError("PythonModule supports only grad_req='write', got %r" % (grad_req,))
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        check_names_match(self, self._data_names, data_shapes, 'data')
        self._data_shapes = data_shapes
        self._label_shapes = label_shapes
        if label_shapes is not None:
            check_names_match(self, self._label_names, label_shapes, 'label')
        self._output_shapes = self._compute_output_shapes()
        self.binded = True

    def _compute_output_shapes(self):
        """``[(name, shape), ...]`` of the outputs, from ``self._data_shapes``."""
        raise NotImplementedError('subclasses of PythonModule define _compute_output_shapes')

    def install_monitor(self, mon):
        raise MXNetError('%s has no operators to monitor' % type(self).__name__)


class PythonLossModule(PythonModule):
    """A loss written in Python: passes its input through as output; backward returns
    ``grad_func(scores, labels)`` as the input gradient.

    Example::

        >>> def grad(scores, labels):                 # softmax cross-entropy   # doctest: +SKIP
        ...     p = softmax(scores.asnumpy()); p[range(len(p)), labels] -= 1; return p
        >>> seq.add(mx.mod.PythonLossModule(grad_func=grad), take_labels=True)  # doctest: +SKIP
    """

    def __init__(self, name='pyloss', data_names=('data',), label_names=('softmax_label',),
                 logger=logging, grad_func=None):
        super().__init__(data_names, label_names, [name + '_output'], logger=logger)
        self._name = name
        if len(data_names) != 1 or len(label_names) != 1:
            raise MXNetError('PythonLossModule takes one data and one label, got %s and %s'
                             % (list(data_names), list(label_names)))
        self._scores = None
        self._labels = None
        self._scores_grad = None
        if grad_func is not None and not callable(grad_func):
            raise MXNetError('grad_func must be callable')
        self._grad_func = grad_func

    def _compute_output_shapes(self):
        return [(self._name + '_output', self._data_shapes[0][1])]

    def forward(self, data_batch, is_train=None):
        """Keep the scores (and, in training, the labels)."""
        self._scores = data_batch.data[0]
        if is_train is None:
            is_train = self.for_training
        if is_train:
            if not data_batch.label:
                raise MXNetError('%s.forward: training needs labels' % self._name)
            self._labels = data_batch.label[0]

    def get_outputs(self, merge_multi_context=True):
        return [self._scores]

    def backward(self, out_grads=None):
        """The input gradient, from ``grad_func``; a loss takes no ``out_grads``."""
        if out_grads is not None:
            raise MXNetError('%s.backward: a loss module takes no out_grads' % self._name)
        if not self.for_training:
            raise MXNetError('%s.backward: bind with for_training=True' % self._name)
        self._backward_impl()

    def _backward_impl(self):
        """Compute ``self._scores_grad``; override, or pass ``grad_func``."""
        if self._grad_func is None:
            raise MXNetError('%s: give grad_func or override _backward_impl' % self._name)
        grad = self._grad_func(self._scores, self._labels)
        if not isinstance(grad, NDArray):
            grad = nd.array(grad)
        if tuple(grad.shape) != tuple(self._scores.shape):
            raise MXNetError('%s: grad_func returned shape %s for scores of shape %s'
                             % (self._name, tuple(grad.shape), tuple(self._scores.shape)))
        self._scores_grad = grad

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError('%s: bind with inputs_need_grad=True to get input gradients'
                             % self._name)
        return [self._scores_grad]
