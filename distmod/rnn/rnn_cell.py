"""Symbolic recurrent cells, MXNet 1.x's ``mx.rnn`` API.

A cell turns one time step's input and its states into an output and new states
(``cell(inputs, states)``); ``unroll`` repeats that over a sequence.  Every node, argument and
output gets the name MXNet 1.9.1 gives it (``lstm_t0_i2h``, ``lstm_i2h_weight``,
``lstm_begin_state_0``...), so graphs and checkpoints move between the two unchanged.

Weights are shared across time steps through :class:`RNNParams`; ``unpack_weights`` splits a
cell's fused gate matrices into one array per gate (``lstm_i2h_i_weight``...), the form
``save_rnn_checkpoint`` writes, and ``pack_weights`` joins them again.
"""
import warnings

import numpy as np

from ..base import MXNetError, numeric_types
from .. import symbol
from .. import ndarray
from .. import initializer as init

__all__ = ['RNNParams', 'BaseRNNCell', 'RNNCell', 'LSTMCell', 'GRUCell', 'FusedRNNCell',
           'SequentialRNNCell', 'DropoutCell', 'ModifierCell', 'ZoneoutCell', 'ResidualCell',
           'BidirectionalCell', 'BaseConvRNNCell', 'ConvRNNCell', 'ConvLSTMCell', 'ConvGRUCell']

_MODIFIED_MSG = ('After applying modifier cells (e.g. DropoutCell) the base cell cannot be '
                 'called directly. Call the modifier cell instead.')


def _sym_op(name):
    """``symbol.<name>``, or a clear error when this distmod has no such operator."""
    fn = getattr(symbol, name, None)
    if fn is None:
        raise MXNetError('mx.rnn needs the operator mx.sym.%s, which this distmod does not have'
                         % name)
    return fn


def _zeros(**kwargs):
    """``mx.sym.zeros`` looked up when called (the default ``begin_state`` function)."""
    return _sym_op('zeros')(**kwargs)


def _cells_state_info(cells):
    return sum([c.state_info for c in cells], [])


def _cells_begin_state(cells, **kwargs):
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _cells_unpack_weights(cells, args):
    for cell in cells:
        args = cell.unpack_weights(args)
    return args


def _cells_pack_weights(cells, args):
    for cell in cells:
        args = cell.pack_weights(args)
    return args


def _normalize_sequence(length, inputs, layout, merge, in_layout=None):
    """Inputs as one symbol (``merge`` True) or a list of per-step symbols (``merge`` False);
    ``merge`` None keeps whichever form they came in.  Returns ``(inputs, time axis)``."""
    if inputs is None:
        raise MXNetError('unroll(inputs=None) has been deprecated. Please create input '
                         'variables outside unroll.')
    axis = layout.find('T')
    in_axis = in_layout.find('T') if in_layout is not None else axis
    if isinstance(inputs, symbol.Symbol):
        if merge is False:
            if len(inputs.list_outputs()) != 1:
                raise MXNetError("unroll doesn't allow grouped symbol as input. Please convert "
                                 "to list with list(inputs) first or let unroll handle "
                                 "splitting.")
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length,
                                       squeeze_axis=1))
    else:
        if length is not None and len(inputs) != length:
            raise MXNetError('unroll: %d inputs for length %d' % (len(inputs), length))
        if merge is True:
            inputs = [symbol.expand_dims(i, axis=axis) for i in inputs]
            inputs = symbol.Concat(*inputs, dim=axis)
            in_axis = axis
    if isinstance(inputs, symbol.Symbol) and axis != in_axis:
        inputs = symbol.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis


class RNNParams:
    """The weight variables of one cell (or cells sharing them), made once per name.

    ``get('i2h_weight')`` returns the variable ``<prefix>i2h_weight``, the same one every time.
    """

    def __init__(self, prefix=''):
        self._prefix = prefix
        self._params = {}

    def get(self, name, **kwargs):
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


class BaseRNNCell:
    """Abstract cell.  ``prefix`` starts every name the cell makes; ``params`` (an
    :class:`RNNParams`) shares weights with another cell."""

    def __init__(self, prefix='', params=None):
        if params is None:
            params = RNNParams(prefix)
            self._own_params = True
        else:
            self._own_params = False
        self._prefix = prefix
        self._params = params
        self._modified = False
        self.reset()

    def reset(self):
        """Forget the step counters before a new unroll."""
        self._init_counter = -1
        self._counter = -1
        for cell in getattr(self, '_cells', ()):
            cell.reset()

    def __call__(self, inputs, states):
        """One step: ``(output, new states)`` from a step's input and the states."""
        raise NotImplementedError()

    @property
    def params(self):
        """This cell's :class:`RNNParams` (after this the cell no longer counts as owning
        them, so containers cannot override them)."""
        self._own_params = False
        return self._params

    @property
    def state_info(self):
        """One dict per state: its ``shape`` (0 = batch size, filled in by inference) and
        ``__layout__``."""
        raise NotImplementedError()

    @property
    def state_shape(self):
        return [ele['shape'] for ele in self.state_info]

    @property
    def _gate_names(self):
        """Suffixes of the gates stacked in the i2h/h2h weights, for (un)packing."""
        return ()

    def begin_state(self, func=None, **kwargs):
        """Initial states, ``func(name='<prefix>begin_state_<i>', shape=..., __layout__=...,
        **kwargs)`` for each (default ``mx.sym.zeros``; ``mx.sym.Variable`` makes them
        inputs)."""
        if self._modified:
            raise MXNetError(_MODIFIED_MSG)
        if func is None:
            func = _zeros
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is not None:
                kwargs.update(info)
            states.append(func(name='%sbegin_state_%d' % (self._prefix, self._init_counter),
                               **kwargs))
        return states

    def unpack_weights(self, args):
        """``args`` (name -> NDArray) with each fused gate weight and bias split per gate:
        ``<prefix>i2h_weight`` becomes ``<prefix>i2h_i_weight``, ``..._f_...`` and so on."""
        args = args.copy()
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group in ('i2h', 'h2h'):
            weight = args.pop('%s%s_weight' % (self._prefix, group))
            bias = args.pop('%s%s_bias' % (self._prefix, group))
            for j, gate in enumerate(self._gate_names):
                args['%s%s%s_weight' % (self._prefix, group, gate)] = \
                    _slice_copy(weight, j * h, (j + 1) * h)
                args['%s%s%s_bias' % (self._prefix, group, gate)] = \
                    _slice_copy(bias, j * h, (j + 1) * h)
        return args

    def pack_weights(self, args):
        """The inverse of :meth:`unpack_weights`."""
        args = args.copy()
        if not self._gate_names:
            return args
        for group in ('i2h', 'h2h'):
            weight, bias = [], []
            for gate in self._gate_names:
                weight.append(args.pop('%s%s%s_weight' % (self._prefix, group, gate)))
                bias.append(args.pop('%s%s%s_bias' % (self._prefix, group, gate)))
            args['%s%s_weight' % (self._prefix, group)] = ndarray.concatenate(weight)
            args['%s%s_bias' % (self._prefix, group)] = ndarray.concatenate(bias)
        return args

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        """Run the cell over ``length`` steps.

        ``inputs``: one symbol laid out as ``layout`` ('NTC' or 'TNC'), or a list of per-step
        symbols.  ``merge_outputs``: True gives one symbol, False a list, None whichever
        ``inputs`` was.  Returns ``(outputs, last states)``.
        """
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        outputs = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _step_name(self):
        """The next step's node-name prefix, ``<prefix>t<step>_`` (counting the calls)."""
        self._counter += 1
        return '%st%d_' % (self._prefix, self._counter)

    def _get_activation(self, inputs, activation, **kwargs):
        if isinstance(activation, str):
            return symbol.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


def _slice_copy(arr, start, stop):
    """``arr[start:stop]`` as a new NDArray on ``arr``'s context."""
    return ndarray.array(arr.asnumpy()[start:stop], ctx=arr.context, dtype=arr.dtype)


class RNNCell(BaseRNNCell):
    """Elman cell: ``h' = activation(W_i x + b_i + W_h h + b_h)``."""

    def __init__(self, num_hidden, activation='tanh', prefix='rnn_', params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._activation = activation
        self._iW = self.params.get('i2h_weight')
        self._iB = self.params.get('i2h_bias')
        self._hW = self.params.get('h2h_weight')
        self._hB = self.params.get('h2h_bias')

    @property
    def state_info(self):
        return [{'shape': (0, self._num_hidden), '__layout__': 'NC'}]

    @property
    def _gate_names(self):
        return ('',)

    def __call__(self, inputs, states):
        name = self._step_name()
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden, name='%si2h' % name)
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden, name='%sh2h' % name)
        output = self._get_activation(i2h + h2h, self._activation, name='%sout' % name)
        return output, [output]


class LSTMCell(BaseRNNCell):
    """LSTM cell; gates stacked i, f, c, o; ``forget_bias`` initialises the forget gate's
    bias (through ``mx.init.LSTMBias`` on ``<prefix>i2h_bias``)."""

    def __init__(self, num_hidden, prefix='lstm_', params=None, forget_bias=1.0):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get('i2h_weight')
        self._hW = self.params.get('h2h_weight')
        self._iB = self.params.get('i2h_bias', init=init.LSTMBias(forget_bias=forget_bias))
        self._hB = self.params.get('h2h_bias')

    @property
    def state_info(self):
        return [{'shape': (0, self._num_hidden), '__layout__': 'NC'},
                {'shape': (0, self._num_hidden), '__layout__': 'NC'}]

    @property
    def _gate_names(self):
        return ['_i', '_f', '_c', '_o']

    def __call__(self, inputs, states):
        name = self._step_name()
        h = self._num_hidden
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=h * 4, name='%si2h' % name)
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=h * 4, name='%sh2h' % name)
        gates = i2h + h2h
        sliced = symbol.SliceChannel(gates, num_outputs=4, name='%sslice' % name)
        in_gate = symbol.Activation(sliced[0], act_type='sigmoid', name='%si' % name)
        forget_gate = symbol.Activation(sliced[1], act_type='sigmoid', name='%sf' % name)
        in_transform = symbol.Activation(sliced[2], act_type='tanh', name='%sc' % name)
        out_gate = symbol.Activation(sliced[3], act_type='sigmoid', name='%so' % name)
        next_c = symbol._plus(forget_gate * states[1], in_gate * in_transform,
                              name='%sstate' % name)
        next_h = symbol._mul(out_gate, symbol.Activation(next_c, act_type='tanh'),
                             name='%sout' % name)
        return next_h, [next_h, next_c]


class GRUCell(BaseRNNCell):
    """GRU cell (gates r, z, candidate), as in MXNet: the reset gate multiplies the h2h
    product, ``h' = (1 - z) * candidate + z * h``."""

    def __init__(self, num_hidden, prefix='gru_', params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get('i2h_weight')
        self._iB = self.params.get('i2h_bias')
        self._hW = self.params.get('h2h_weight')
        self._hB = self.params.get('h2h_bias')

    @property
    def state_info(self):
        return [{'shape': (0, self._num_hidden), '__layout__': 'NC'}]

    @property
    def _gate_names(self):
        return ['_r', '_z', '_o']

    def __call__(self, inputs, states):
        # MXNet names this cell's nodes '<prefix>t<i>__i2h' etc. (two underscores)
        name = self._step_name()
        h = self._num_hidden
        prev_h = states[0]
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=h * 3, name='%s_i2h' % name)
        h2h = symbol.FullyConnected(data=prev_h, weight=self._hW, bias=self._hB,
                                    num_hidden=h * 3, name='%s_h2h' % name)
        i2h_r, i2h_z, i2h = symbol.SliceChannel(i2h, num_outputs=3, name='%s_i2h_slice' % name)
        h2h_r, h2h_z, h2h = symbol.SliceChannel(h2h, num_outputs=3, name='%s_h2h_slice' % name)
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type='sigmoid',
                                       name='%s_r_act' % name)
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type='sigmoid',
                                        name='%s_z_act' % name)
        candidate = symbol.Activation(i2h + reset_gate * h2h, act_type='tanh',
                                      name='%s_h_act' % name)
        next_h = symbol._plus((1. - update_gate) * candidate, update_gate * prev_h,
                              name='%sout' % name)
        return next_h, [next_h]


_FUSED_GATES = {'rnn_relu': [''], 'rnn_tanh': [''], 'lstm': ['_i', '_f', '_c', '_o'],
                'gru': ['_r', '_z', '_o']}


class FusedRNNCell(BaseRNNCell):
    """All layers and directions in one ``RNN`` operator, whose weights are one flat
    ``<prefix>parameters`` vector.  It cannot be stepped, only unrolled; ``unfuse()`` gives
    the equivalent stack of per-step cells, and ``unpack_weights``/``pack_weights`` convert
    the flat vector to and from their weights (``<prefix>l0_i2h_i_weight``...).
    """

    def __init__(self, num_hidden, num_layers=1, mode='lstm', bidirectional=False,
                 dropout=0., get_next_state=False, forget_bias=1.0, prefix=None, params=None):
        if mode not in _FUSED_GATES:
            raise MXNetError("FusedRNNCell: mode must be one of %s, got %r"
                             % (sorted(_FUSED_GATES), mode))
        if prefix is None:
            prefix = '%s_' % mode
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._dropout = dropout
        self._get_next_state = get_next_state
        self._directions = ['l', 'r'] if bidirectional else ['l']
        initializer = init.FusedRNN(None, num_hidden, num_layers, mode, bidirectional,
                                    forget_bias)
        self._parameter = self.params.get('parameters', init=initializer)

    @property
    def state_info(self):
        b = self._bidirectional + 1
        n = (self._mode == 'lstm') + 1
        return [{'shape': (b * self._num_layers, 0, self._num_hidden), '__layout__': 'LNC'}
                for _ in range(n)]

    @property
    def _gate_names(self):
        return _FUSED_GATES[self._mode]

    @property
    def _num_gates(self):
        return len(self._gate_names)

    def _slice_names(self, li, lh):
        """``(name, offset, shape)`` of every per-gate array in the flat vector, in the
        cuDNN order the RNN operator uses: all weights (layer, direction, i2h gates then h2h
        gates), then all biases in the same order."""
        out, p = [], 0
        b = len(self._directions)
        for layer in range(self._num_layers):
            for d in self._directions:
                for gate in self._gate_names:
                    shape = (lh, b * lh) if layer > 0 else (lh, li)
                    out.append(('%s%s%d_i2h%s_weight' % (self._prefix, d, layer, gate), p,
                                shape))
                    p += shape[0] * shape[1]
                for gate in self._gate_names:
                    out.append(('%s%s%d_h2h%s_weight' % (self._prefix, d, layer, gate), p,
                                (lh, lh)))
                    p += lh * lh
        for layer in range(self._num_layers):
            for d in self._directions:
                for group in ('i2h', 'h2h'):
                    for gate in self._gate_names:
                        out.append(('%s%s%d_%s%s_bias' % (self._prefix, d, layer, group, gate),
                                    p, (lh,)))
                        p += lh
        return out, p

    def _total_size(self, num_input):
        b, m, h = len(self._directions), self._num_gates, self._num_hidden
        return ((num_input + h + 2) * h * m * b
                + (self._num_layers - 1) * m * h * (h + b * h + 2) * b)

    def unpack_weights(self, args):
        args = args.copy()
        arr = args.pop(self._parameter.name)
        b, m, h = len(self._directions), self._num_gates, self._num_hidden
        num_input = arr.size // b // h // m - (self._num_layers - 1) * (h + b * h + 2) - h - 2
        if self._total_size(num_input) != arr.size:
            raise MXNetError('Invalid parameters size for FusedRNNCell: %d values fit no '
                             'input size' % arr.size)
        flat = arr.asnumpy().reshape(-1)
        for name, p, shape in self._slice_names(num_input, h)[0]:
            size = int(np.prod(shape))
            args[name] = ndarray.array(flat[p:p + size].reshape(shape), ctx=arr.context,
                                       dtype=arr.dtype)
        return args

    def pack_weights(self, args):
        args = args.copy()
        h = self._num_hidden
        w0 = args['%sl0_i2h%s_weight' % (self._prefix, self._gate_names[0])]
        num_input = w0.shape[1]
        names, total = self._slice_names(num_input, h)
        flat = np.zeros((total,), dtype=np.dtype(w0.dtype))
        for name, p, shape in names:
            value = args.pop(name)
            value = value.asnumpy() if hasattr(value, 'asnumpy') else np.asarray(value)
            size = int(np.prod(shape))
            flat[p:p + size] = value.reshape(-1) if value.size == size else \
                np.broadcast_to(value, shape).reshape(-1)
        args[self._parameter.name] = ndarray.array(flat, ctx=w0.context, dtype=w0.dtype)
        return args

    def __call__(self, inputs, states):
        raise NotImplementedError('FusedRNNCell cannot be stepped. Please use unroll')

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, True)
        if axis == 1:
            warnings.warn('NTC layout detected. Consider using TNC for FusedRNNCell for '
                          'faster speed', stacklevel=2)
            inputs = symbol.swapaxes(inputs, dim1=0, dim2=1)
        elif axis != 0:
            raise MXNetError('Unsupported layout %s' % layout)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        if self._mode == 'lstm':
            states = {'state': states[0], 'state_cell': states[1]}
        else:
            states = {'state': states[0]}
        rnn = _sym_op('RNN')(data=inputs, parameters=self._parameter,
                             state_size=self._num_hidden, num_layers=self._num_layers,
                             bidirectional=self._bidirectional, p=self._dropout,
                             state_outputs=self._get_next_state, mode=self._mode,
                             name=self._prefix + 'rnn', **states)
        if not self._get_next_state:
            outputs, states = rnn, []
        else:
            # MXNet marks the state outputs' node with the states' layout
            rnn[1]._set_attr(__layout__='LNC')
            if self._mode == 'lstm':
                outputs, states = rnn[0], [rnn[1], rnn[2]]
            else:
                outputs, states = rnn[0], [rnn[1]]
        if axis == 1:
            outputs = symbol.swapaxes(outputs, dim1=0, dim2=1)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def unfuse(self):
        """The same network as a :class:`SequentialRNNCell` of per-step cells (named
        ``<prefix>l0_``, ``<prefix>r0_``... so ``unpack_weights`` output fits them)."""
        h = self._num_hidden
        make = {'rnn_relu': lambda p: RNNCell(h, activation='relu', prefix=p),
                'rnn_tanh': lambda p: RNNCell(h, activation='tanh', prefix=p),
                'lstm': lambda p: LSTMCell(h, prefix=p),
                'gru': lambda p: GRUCell(h, prefix=p)}[self._mode]
        stack = SequentialRNNCell()
        for i in range(self._num_layers):
            if self._bidirectional:
                stack.add(BidirectionalCell(make('%sl%d_' % (self._prefix, i)),
                                            make('%sr%d_' % (self._prefix, i)),
                                            output_prefix='%sbi_l%d_' % (self._prefix, i)))
            else:
                stack.add(make('%sl%d_' % (self._prefix, i)))
            if self._dropout > 0 and i != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout, prefix='%s_dropout%d_' % (self._prefix, i)))
        return stack


class SequentialRNNCell(BaseRNNCell):
    """Cells stacked one on another; ``params`` given here are shared by every cell added."""

    def __init__(self, params=None):
        super().__init__(prefix='', params=params)
        self._override_cell_params = params is not None
        self._cells = []

    def add(self, cell):
        """Stack ``cell`` on top."""
        self._cells.append(cell)
        if self._override_cell_params:
            if not cell._own_params:
                raise MXNetError('Either specify params for SequentialRNNCell or child cells, '
                                 'not both.')
            cell.params._params.update(self.params._params)
        self.params._params.update(cell.params._params)

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):
        if self._modified:
            raise MXNetError(_MODIFIED_MSG)
        return _cells_begin_state(self._cells, **kwargs)

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        self._counter += 1
        next_states = []
        p = 0
        for cell in self._cells:
            if isinstance(cell, BidirectionalCell):
                raise MXNetError('a SequentialRNNCell holding a BidirectionalCell cannot be '
                                 'stepped; use unroll')
            n = len(cell.state_info)
            state = states[p:p + n]
            p += n
            inputs, state = cell(inputs, state)
            next_states.append(state)
        return inputs, sum(next_states, [])

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        num_cells = len(self._cells)
        if begin_state is None:
            begin_state = self.begin_state()
        p = 0
        next_states = []
        for i, cell in enumerate(self._cells):
            n = len(cell.state_info)
            states = begin_state[p:p + n]
            p += n
            inputs, states = cell.unroll(length, inputs=inputs, begin_state=states,
                                         layout=layout,
                                         merge_outputs=None if i < num_cells - 1
                                         else merge_outputs)
            next_states.extend(states)
        return inputs, next_states


class DropoutCell(BaseRNNCell):
    """Dropout on the input, no state (stack it between cells)."""

    def __init__(self, dropout, prefix='dropout_', params=None):
        super().__init__(prefix, params)
        if not isinstance(dropout, numeric_types):
            raise MXNetError('dropout probability must be a number')
        self.dropout = dropout

    @property
    def state_info(self):
        return []

    def __call__(self, inputs, states):
        if self.dropout > 0:
            inputs = symbol.Dropout(data=inputs, p=self.dropout)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, symbol.Symbol):
            return self(inputs, [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout,
                              merge_outputs=merge_outputs)


class ModifierCell(BaseRNNCell):
    """Wraps a cell to change what it does (dropout, zoneout, residual); the wrapped cell is
    then used only through the modifier."""

    def __init__(self, base_cell):
        super().__init__()
        base_cell._modified = True
        self.base_cell = base_cell

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, init_sym=None, **kwargs):
        if self._modified:
            raise MXNetError(_MODIFIED_MSG)
        self.base_cell._modified = False
        begin = self.base_cell.begin_state(init_sym, **kwargs)
        self.base_cell._modified = True
        return begin

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)

    def __call__(self, inputs, states):
        raise NotImplementedError


class ZoneoutCell(ModifierCell):
    """Zoneout: in training each output and state unit keeps its previous value with
    probability ``zoneout_outputs`` / ``zoneout_states``."""

    def __init__(self, base_cell, zoneout_outputs=0., zoneout_states=0.):
        if isinstance(base_cell, FusedRNNCell):
            raise MXNetError("FusedRNNCell doesn't support zoneout. Please unfuse first.")
        if isinstance(base_cell, BidirectionalCell):
            raise MXNetError("BidirectionalCell doesn't support zoneout since it doesn't "
                             "support step. Please add ZoneoutCell to the cells underneath "
                             "instead.")
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self.prev_output = None

    def reset(self):
        super().reset()
        self.prev_output = None

    def __call__(self, inputs, states):
        cell, p_out, p_states = self.base_cell, self.zoneout_outputs, self.zoneout_states
        next_output, next_states = cell(inputs, states)

        def mask(p, like):
            return symbol.Dropout(symbol.ones_like(like), p=p)
        prev_output = self.prev_output if self.prev_output is not None else \
            _zeros(shape=(0, 0))
        output = (symbol.where(mask(p_out, next_output), next_output, prev_output)
                  if p_out != 0. else next_output)
        states = ([symbol.where(mask(p_states, new_s), new_s, old_s)
                   for new_s, old_s in zip(next_states, states)]
                  if p_states != 0. else next_states)
        self.prev_output = output
        return output, states


class ResidualCell(ModifierCell):
    """Adds the cell's input to its output (``<output name>_plus_residual``)."""

    def __call__(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = symbol.elemwise_add(output, inputs, name='%s_plus_residual' % output.name)
        return output, states

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        self.base_cell._modified = False
        outputs, states = self.base_cell.unroll(length, inputs=inputs, begin_state=begin_state,
                                                layout=layout, merge_outputs=merge_outputs)
        self.base_cell._modified = True
        if merge_outputs is None:
            merge_outputs = isinstance(outputs, symbol.Symbol)
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if merge_outputs:
            outputs = symbol.elemwise_add(outputs, inputs,
                                          name='%s_plus_residual' % outputs.name)
        else:
            outputs = [symbol.elemwise_add(o, i, name='%s_plus_residual' % o.name)
                       for o, i in zip(outputs, inputs)]
        return outputs, states


class BidirectionalCell(BaseRNNCell):
    """One cell over the sequence forwards and one backwards, outputs concatenated on the
    feature axis (``<output_prefix>t<i>`` per step, or ``<output_prefix>out`` merged)."""

    def __init__(self, l_cell, r_cell, params=None, output_prefix='bi_'):
        super().__init__('', params=params)
        self._output_prefix = output_prefix
        self._override_cell_params = params is not None
        if self._override_cell_params:
            if not (l_cell._own_params and r_cell._own_params):
                raise MXNetError('Either specify params for BidirectionalCell or child cells, '
                                 'not both.')
            l_cell.params._params.update(self.params._params)
            r_cell.params._params.update(self.params._params)
        self.params._params.update(l_cell.params._params)
        self.params._params.update(r_cell.params._params)
        self._cells = [l_cell, r_cell]

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        raise NotImplementedError('Bidirectional cannot be stepped. Please use unroll')

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):
        if self._modified:
            raise MXNetError(_MODIFIED_MSG)
        return _cells_begin_state(self._cells, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        l_cell, r_cell = self._cells
        nl = len(l_cell.state_info)
        l_outputs, l_states = l_cell.unroll(length, inputs=inputs, begin_state=states[:nl],
                                            layout=layout, merge_outputs=merge_outputs)
        r_outputs, r_states = r_cell.unroll(length, inputs=list(reversed(inputs)),
                                            begin_state=states[nl:], layout=layout,
                                            merge_outputs=merge_outputs)
        if merge_outputs is None:
            merge_outputs = (isinstance(l_outputs, symbol.Symbol)
                             and isinstance(r_outputs, symbol.Symbol))
            if not merge_outputs:
                if isinstance(l_outputs, symbol.Symbol):
                    l_outputs = list(symbol.SliceChannel(l_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
                if isinstance(r_outputs, symbol.Symbol):
                    r_outputs = list(symbol.SliceChannel(r_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
        if merge_outputs:
            l_outputs = [l_outputs]
            r_outputs = [_sym_op('reverse')(r_outputs, axis=axis)]
        else:
            r_outputs = list(reversed(r_outputs))
        outputs = [symbol.Concat(l_o, r_o, dim=1 + merge_outputs,
                                 name=('%sout' % self._output_prefix if merge_outputs
                                       else '%st%d' % (self._output_prefix, i)))
                   for i, (l_o, r_o) in enumerate(zip(l_outputs, r_outputs))]
        if merge_outputs:
            outputs = outputs[0]
        return outputs, [l_states, r_states]


# ---- convolutional cells ---------------------------------------------------------------------

def _leaky(inputs, **kwargs):
    """MXNet's default activation of the convolutional cells: leaky ReLU of slope 0.2."""
    return symbol.LeakyReLU(inputs, act_type='leaky', slope=0.2, **kwargs)


class BaseConvRNNCell(BaseRNNCell):
    """Base of the convolutional cells (Shi et al., 2015): the i2h and h2h transforms are
    convolutions, the states images.  ``input_shape`` is one step's input, batch first
    (its batch size is not used); the state's shape is the i2h convolution's output.  The
    h2h convolution keeps the state's size (odd ``h2h_kernel``, padded).  Parameters:
    ``<prefix>i2h_weight``, ``i2h_bias``, ``h2h_weight``, ``h2h_bias``.  The prefix defaults
    to the cell's (``ConvRNN_``, ``ConvLSTM_``, ``ConvGRU_``), the activation to a leaky ReLU
    of slope 0.2, as MXNet's.
    """

    _default_prefix = ''
    _num_states = 1

    def __init__(self, input_shape, num_hidden, h2h_kernel=(3, 3), h2h_dilate=(1, 1),
                 i2h_kernel=(3, 3), i2h_stride=(1, 1), i2h_pad=(1, 1), i2h_dilate=(1, 1),
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer='zeros', h2h_bias_initializer='zeros', activation=None,
                 prefix=None, params=None, conv_layout='NCHW'):
        super().__init__(prefix=self._default_prefix if prefix is None else prefix,
                         params=params)
        if any(k % 2 == 0 for k in h2h_kernel):
            raise MXNetError('%s: h2h_kernel must be odd in every dimension (the state keeps '
                             'its size), got %s' % (type(self).__name__, tuple(h2h_kernel)))
        self._h2h_kernel, self._h2h_dilate = tuple(h2h_kernel), tuple(h2h_dilate)
        self._h2h_pad = tuple(d * (k - 1) // 2 for k, d in zip(h2h_kernel, h2h_dilate))
        self._i2h_kernel, self._i2h_stride = tuple(i2h_kernel), tuple(i2h_stride)
        self._i2h_pad, self._i2h_dilate = tuple(i2h_pad), tuple(i2h_dilate)
        self._num_hidden, self._input_shape = num_hidden, tuple(input_shape)
        self._conv_layout = conv_layout
        self._activation = _leaky if activation is None else activation
        probe = symbol.Convolution(data=symbol.Variable('data'), num_filter=num_hidden,
                                   kernel=self._i2h_kernel, stride=self._i2h_stride,
                                   pad=self._i2h_pad, dilate=self._i2h_dilate,
                                   layout=conv_layout)
        shape = probe.infer_shape(data=self._input_shape)[1][0]
        self._state_shape = (0,) + tuple(shape[1:])
        self._iW = self.params.get('i2h_weight', init=i2h_weight_initializer)
        self._hW = self.params.get('h2h_weight', init=h2h_weight_initializer)
        self._iB = self.params.get('i2h_bias', init=i2h_bias_initializer)
        self._hB = self.params.get('h2h_bias', init=h2h_bias_initializer)

    @property
    def _num_gates(self):
        return len(self._gate_names)

    @property
    def state_info(self):
        info = {'shape': self._state_shape, '__layout__': self._conv_layout}
        return [dict(info) for _ in range(self._num_states)]

    def _conv_forward(self, inputs, states, name):
        filters = self._num_hidden * self._num_gates
        i2h = symbol.Convolution(name='%si2h' % name, data=inputs, num_filter=filters,
                                 kernel=self._i2h_kernel, stride=self._i2h_stride,
                                 pad=self._i2h_pad, dilate=self._i2h_dilate, weight=self._iW,
                                 bias=self._iB, layout=self._conv_layout)
        h2h = symbol.Convolution(name='%sh2h' % name, data=states[0], num_filter=filters,
                                 kernel=self._h2h_kernel, dilate=self._h2h_dilate,
                                 pad=self._h2h_pad, stride=(1,) * len(self._h2h_kernel),
                                 weight=self._hW, bias=self._hB, layout=self._conv_layout)
        return i2h, h2h

    def __call__(self, inputs, states):
        raise MXNetError('BaseConvRNNCell is the base of ConvRNNCell, ConvLSTMCell and '
                         'ConvGRUCell; use one of those')


class ConvRNNCell(BaseConvRNNCell):
    """Convolutional Elman cell: ``h' = activation(conv_i(x) + conv_h(h))``."""

    _default_prefix = 'ConvRNN_'

    @property
    def _gate_names(self):
        return ('',)

    def __call__(self, inputs, states):
        name = self._step_name()
        i2h, h2h = self._conv_forward(inputs, states, name)
        out = self._get_activation(i2h + h2h, self._activation, name='%sout' % name)
        return out, [out]


class ConvLSTMCell(BaseConvRNNCell):
    """Convolutional LSTM (Shi et al., 2015); gates i, f, c, o stacked on the channel axis."""

    _default_prefix = 'ConvLSTM_'
    _num_states = 2

    @property
    def _gate_names(self):
        return ['_i', '_f', '_c', '_o']

    def __call__(self, inputs, states):
        name = self._step_name()
        i2h, h2h = self._conv_forward(inputs, states, name)
        parts = symbol.SliceChannel(i2h + h2h, num_outputs=4,
                                    axis=self._conv_layout.find('C'), name='%sslice' % name)
        i = symbol.Activation(parts[0], act_type='sigmoid', name='%si' % name)
        f = symbol.Activation(parts[1], act_type='sigmoid', name='%sf' % name)
        c = self._get_activation(parts[2], self._activation, name='%sc' % name)
        o = symbol.Activation(parts[3], act_type='sigmoid', name='%so' % name)
        next_c = symbol._plus(f * states[1], i * c, name='%sstate' % name)
        next_h = symbol._mul(o, self._get_activation(next_c, self._activation),
                             name='%sout' % name)
        return next_h, [next_h, next_c]


class ConvGRUCell(BaseConvRNNCell):
    """Convolutional GRU; gates r, z and the candidate stacked on the channel axis."""

    _default_prefix = 'ConvGRU_'

    @property
    def _gate_names(self):
        return ['_r', '_z', '_o']

    def __call__(self, inputs, states):
        name = self._step_name()
        i2h, h2h = self._conv_forward(inputs, states, name)
        # (MXNet slices the channel axis as axis 1 whatever the layout; so does this)
        i_r, i_z, i_h = symbol.SliceChannel(i2h, num_outputs=3, name='%s_i2h_slice' % name)
        h_r, h_z, h_h = symbol.SliceChannel(h2h, num_outputs=3, name='%s_h2h_slice' % name)
        reset = symbol.Activation(i_r + h_r, act_type='sigmoid', name='%s_r_act' % name)
        update = symbol.Activation(i_z + h_z, act_type='sigmoid', name='%s_z_act' % name)
        cand = self._get_activation(i_h + reset * h_h, self._activation, name='%s_h_act' % name)
        next_h = symbol._plus((1. - update) * cand, update * states[0], name='%sout' % name)
        return next_h, [next_h]
