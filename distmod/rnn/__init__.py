"""``mx.rnn``: MXNet 1.x's symbolic recurrent cells, bucketing sentence iterator and the
checkpoint helpers that convert cell weights between their fused and per-gate forms.

Example::

    >>> cell = mx.rnn.LSTMCell(num_hidden=8, prefix='lstm_')
    >>> outputs, states = cell.unroll(3, mx.sym.Variable('data'), merge_outputs=True)
    >>> outputs.list_arguments()
    ['data', 'lstm_i2h_weight', 'lstm_i2h_bias', 'lstm_h2h_weight', 'lstm_h2h_bias']
"""
from . import rnn_cell
from . import io
from . import rnn
from .rnn_cell import *   # noqa: F401,F403
from .io import *         # noqa: F401,F403
from .rnn import *        # noqa: F401,F403

__all__ = rnn_cell.__all__ + io.__all__ + rnn.__all__
