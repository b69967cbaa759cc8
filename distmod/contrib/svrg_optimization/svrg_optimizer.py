"""The optimizers ``SVRGModule`` installs: ``_SVRGOptimizer`` wraps the optimizer the script
chose and adds SVRG's gradient correction; ``_AssignmentOptimizer`` copies a gradient into a
weight (MXNet accumulates full gradients in its kvstore with it).

Both are meant for ``SVRGModule`` only, as in MXNet.
"""
from ... import optimizer as _opt

__all__ = ['_SVRGOptimizer', '_AssignmentOptimizer']

#: The parameters the base Optimizer takes; the wrapper keeps these, the wrapped optimizer
#: gets every parameter.
_BASE_PARAMS = ('rescale_grad', 'param_idx2name', 'wd', 'clip_gradient', 'learning_rate',
                'lr_scheduler', 'sym', 'begin_num_update', 'multi_precision', 'param_dict')


@_opt.register
class _AssignmentOptimizer(_opt.Optimizer):
    """``weight[:] = grad``: stores a (full) gradient under a key."""

    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state):
        weight[:] = grad

    def update_multi_precision(self, index, weight, grad, state):
        self.update(index, weight, grad, state)


@_opt.register
class _SVRGOptimizer(_opt.Optimizer):
    """Runs ``default_optimizer`` (a name or an Optimizer) on every parameter, after adding
    the SVRG correction the module set for it (``set_correction``); keys whose name contains
    ``full`` go to ``_AssignmentOptimizer`` instead, as in MXNet.

    The correction is ``full gradient - gradient at the snapshot`` for the current batch,
    summed over devices and ranks: added to the gradient after it was summed the same way, it
    makes ``g(w) - g(w~) + mu``, the SVRG gradient, whatever the number of devices and ranks.
    """

    def __init__(self, default_optimizer, **kwargs):
        super().__init__(**{k: v for k, v in kwargs.items() if k in _BASE_PARAMS})
        if isinstance(default_optimizer, str):
            self.default_opt = _opt.create(default_optimizer, **kwargs)
        else:
            self.default_opt = default_optimizer
        self.aux_opt = _opt.create(_AssignmentOptimizer.__name__)
        self._corrections = {}

    def _check_index(self, index):
        """The parameter name of ``index`` (an update index, or already a name)."""
        if index in self.idx2name.values():
            return index
        return self.idx2name[index]

    def set_correction(self, index, delta):
        """Add ``delta`` (an NDArray, or None for nothing) to the gradient of ``index`` at
        its next update."""
        if delta is None:
            self._corrections.pop(index, None)
        else:
            self._corrections[index] = delta

    def _route(self, index):
        return self.aux_opt if 'full' in self._check_index(index) else self.default_opt

    def create_state(self, index, weight):
        return self._route(index).create_state(index, weight)

    def create_state_multi_precision(self, index, weight):
        return self._route(index).create_state_multi_precision(index, weight)

    def _corrected(self, index, grad):
        delta = self._corrections.pop(index, None)
        if delta is not None:
            grad += delta
        return grad

    def update(self, index, weight, grad, state):
        opt = self._route(index)
        opt.update(index, weight, self._corrected(index, grad), state)

    def update_multi_precision(self, index, weight, grad, state):
        opt = self._route(index)
        opt.update_multi_precision(index, weight, self._corrected(index, grad), state)
