"""Recurrent layers: the fused ``RNN`` operator and the ``Sequence*`` helpers over time-major data.

``RNN`` follows MXNet's fused operator (the one ``mx.rnn.FusedRNNCell`` and Gluon's
``rnn.LSTM`` bind to): every layer and direction's weights in one packed 1-D ``parameters``
vector, time-major ``TNC`` data, and a hand-written backward through time.
"""
import numpy as np

from .registry import Operator, Param, Sample, InferError, register
from .elemwise import sigmoid_into, tanh_into
from .. import random as _random

_GATES = {'rnn_relu': 1, 'rnn_tanh': 1, 'lstm': 4, 'gru': 3}


def rnn_param_size(mode, num_layers, state_size, input_size, bidirectional=False):
    """Length of the packed ``parameters`` vector of an ``RNN`` operator.

    Per layer and direction: ``G*H*(in + H + 2)`` with ``G`` gates (1, 4 for LSTM, 3 for GRU),
    ``H = state_size`` and ``in`` the input size (``D*H`` above the first layer).

    Example::

        >>> rnn_param_size('lstm', 1, 2, 3)
        56
    """
    g, h, d = _GATES[mode], state_size, 2 if bidirectional else 1
    size = 0
    for layer in range(num_layers):
        width = input_size if layer == 0 else d * h
        size += d * g * h * (width + h + 2)
    return size


def _unpack(flat, mode, num_layers, state_size, input_size, directions):
    """Views of MXNet's packed layout: ``[(wx, wh, bx, bh)]`` indexed ``layer * D + direction``.

    MXNet stores first every weight, layer by layer and direction by direction, each as the
    input-to-hidden matrix ``(G*H, in)`` then the hidden-to-hidden one ``(G*H, H)``; then every
    bias in the same order, ``i2h`` bias ``(G*H,)`` then ``h2h`` bias ``(G*H,)``.
    """
    gh, h = _GATES[mode] * state_size, state_size
    weights, off = [], 0
    for layer in range(num_layers):
        width = input_size if layer == 0 else directions * h
        for _ in range(directions):
            wx = flat[off:off + gh * width].reshape(gh, width)
            off += gh * width
            wh = flat[off:off + gh * h].reshape(gh, h)
            off += gh * h
            weights.append((wx, wh))
    out = []
    for wx, wh in weights:
        out.append((wx, wh, flat[off:off + gh], flat[off + gh:off + 2 * gh]))
        off += 2 * gh
    return out


def _time_views(buf, reverse):
    """``(prev, cur)`` views of a ``(T+1, N, H)`` state buffer, both indexed by time.

    Forward: ``buf[0]`` is the initial state and ``buf[t+1]`` the state after time ``t``.
    Reverse (the backward direction runs from ``T-1`` down to 0): ``buf[T]`` is the initial
    state and ``buf[t]`` the state after time ``t``.  Either way both views are contiguous.
    """
    n = buf.shape[0] - 1
    return (buf[1:], buf[:n]) if reverse else (buf[:n], buf[1:])


@register
class RNN(Operator):
    """MXNet's fused multi-layer recurrent layer: vanilla RNN (relu/tanh), LSTM or GRU.

    Inputs: ``data`` ``(T, N, C)`` (layout TNC), ``parameters`` (the packed 1-D weight vector,
    its length inferred from the data; see ``rnn_param_size``), ``state`` ``(L*D, N, H)`` and,
    for LSTM, ``state_cell`` of the same shape (``L = num_layers``, ``D = 2`` when
    ``bidirectional``, ``H = state_size``).  Output ``(T, N, D*H)``, the last layer's hidden
    states, the two directions concatenated; with ``state_outputs`` also the final hidden state
    (and the final cell state for LSTM), shaped like ``state``.

    Equations (gate order as MXNet and cuDNN pack them)::

        rnn_tanh/rnn_relu: h' = act(W_x x + b_x + W_h h + b_h)
        lstm (i, f, g, o): i, f, o = sigmoid(...), g = tanh(...),
                           c' = f*c + i*g,  h' = o * tanh(c')
        gru  (r, z, n):    r, z = sigmoid(W_x x + b_x + W_h h + b_h)
                           n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)),  h' = (1-z)*n + z*h

    ``p`` is dropout on each layer's output that feeds the next layer, in training only.
    ``use_sequence_length`` (honoured only by MXNet's cuDNN build; MXNet's CPU build ignores the
    lengths), ``projection_size`` and ``lstm_state_clip_*`` are refused.

    Example::

        >>> x = mx.nd.ones((3, 2, 4))
        >>> w = mx.nd.ones((165,)) * 0.1    # 3 gates * 5 * (4 + 5 + 2), rnn_param_size
        >>> mx.nd.RNN(x, w, mx.nd.zeros((1, 2, 5)), state_size=5, num_layers=1,
        ...           mode='gru').shape
        (3, 2, 5)
    """
    name = 'RNN'
    params = {'state_size': Param('int'), 'num_layers': Param('int'),
              'bidirectional': Param('bool', False),
              'mode': Param('str', choices=set(_GATES)),
              'p': Param('float', 0.0), 'state_outputs': Param('bool', False),
              'projection_size': Param('int_or_none', None),
              'lstm_state_clip_min': Param('float_or_none', None),
              'lstm_state_clip_max': Param('float_or_none', None),
              'lstm_state_clip_nan': Param('bool', False),
              'use_sequence_length': Param('bool', False)}
    arguments = ('data', 'parameters', 'state', 'state_cell', 'sequence_length')
    # backward reads the data and the weights; everything else it needs (the states and gate
    # activations of every step, dropout masks) forward keeps in the op's own buffers
    retain_inputs = (0, 1)
    retain_outputs = ()
    samples = tuple(
        Sample(dict(state_size=2, num_layers=layers, mode=mode, bidirectional=bi,
                    state_outputs=so, **extra), {'data': (3, 2, 3)}, rtol=1e-4, atol=1e-6)
        for mode in ('rnn_relu', 'rnn_tanh', 'lstm', 'gru')
        for layers, bi, so, extra in ((1, False, False, {}), (2, True, True, {}))) + (
        Sample(dict(state_size=2, num_layers=2, mode='lstm', state_outputs=True),
               {'data': (3, 2, 3)}),
        Sample(dict(state_size=3, num_layers=1, mode='gru', bidirectional=True),
               {'data': (4, 1, 2)}),
        Sample(dict(state_size=2, num_layers=2, mode='lstm', p=0.4), {'data': (3, 2, 3)}),
        Sample(dict(state_size=2, num_layers=2, mode='gru', p=0.4, bidirectional=True),
               {'data': (3, 2, 3)}, is_train=False))

    def setup(self):
        if self.state_size <= 0 or self.num_layers <= 0:
            raise InferError('RNN: state_size and num_layers must be positive, got %d and %d'
                             % (self.state_size, self.num_layers))
        if not 0 <= self.p < 1:
            raise InferError('RNN: dropout p must be in [0, 1), got %s' % self.p)
        if self.use_sequence_length:
            raise InferError('RNN: use_sequence_length=True is not supported by distmod (MXNet '
                             'honours it only with cuDNN; its CPU build ignores the lengths)')
        if self.projection_size is not None:
            raise InferError('RNN: projection_size is not supported by distmod')
        if self.lstm_state_clip_min is not None or self.lstm_state_clip_max is not None:
            raise InferError('RNN: lstm_state_clip_min/max are not supported by distmod')
        self.gates = _GATES[self.mode]
        self.directions = 2 if self.bidirectional else 1
        self._buffers = {}
        self._saved = None

    def list_arguments(self):
        names = ['data', 'parameters', 'state']
        return names + ['state_cell'] if self.mode == 'lstm' else names

    def list_outputs(self):
        if not self.state_outputs:
            return ['output']
        return ['output', 'state_output'] + (['statecell_output'] if self.mode == 'lstm' else [])

    def infer_shape(self, in_shapes):
        dshape = in_shapes[0]
        nstate = len(in_shapes) - 2
        if dshape is None or any(not d for d in dshape):
            return in_shapes, [None] * self.output_count(), []
        if len(dshape) != 3:
            raise InferError('data must be 3-D (sequence length, batch size, input size) in '
                             'layout TNC, got %s' % (dshape,))
        t, n, c = dshape
        h, ld = self.state_size, self.num_layers * self.directions
        size = rnn_param_size(self.mode, self.num_layers, h, c, self.bidirectional)
        state = (ld, n, h)
        outs = [(t, n, self.directions * h)]
        if self.state_outputs:
            outs += [state] * (len(self.list_outputs()) - 1)
        return [dshape, (size,)] + [state] * nstate, outs, []

    # ---- buffers -----------------------------------------------------------------------
    def _buffer(self, xp, key, shape, dtype):
        """A scratch array kept between calls (reallocated only when shape or dtype change)."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[key] = xp.empty(shape, dtype=dtype)
        return buf

    # ---- forward -----------------------------------------------------------------------
    def forward(self, xp, ins, outs, aux, is_train):
        x, flat, h0 = ins[0], ins[1], ins[2]
        c0 = ins[3] if self.mode == 'lstm' else None
        T, N, C = x.shape
        H, G, D, L = self.state_size, self.gates, self.directions, self.num_layers
        dt = x.dtype
        weights = _unpack(flat, self.mode, L, H, C, D)
        dropout = is_train and self.p > 0 and L > 1
        layer_in, masks, layers = x, [], []
        for layer in range(L):
            if layer > 0 and dropout:
                # one fixed mask per forward, as Dropout does, so backward sees the same one
                keep = _random.generator(xp).random(layer_in.shape, dtype=np.float32) >= self.p
                mask = keep.astype(dt) * (1.0 / (1.0 - self.p))
                dropped = self._buffer(xp, ('drop', layer), layer_in.shape, dt)
                xp.multiply(layer_in, mask, out=dropped)
                layer_in = dropped
                masks.append(mask)
            else:
                masks.append(None)
            y = outs[0] if layer == L - 1 else self._buffer(xp, ('y', layer), (T, N, D * H), dt)
            saved = []
            for d in range(D):
                k = layer * D + d
                wx, wh, bx, bh = weights[k]
                gates = self._buffer(xp, ('gates', k), (T, N, G * H), dt)
                # the input projection of every time step in one matmul
                xp.dot(layer_in.reshape(T * N, -1), wx.T, out=gates.reshape(T * N, G * H))
                gates += bx
                if self.mode != 'gru':
                    gates += bh
                hs = self._buffer(xp, ('h', k), (T + 1, N, H), dt)
                cs = self._buffer(xp, ('c', k), (T + 1, N, H), dt) if c0 is not None else None
                ghn = self._buffer(xp, ('ghn', k), (T, N, H), dt) if self.mode == 'gru' else None
                self._run_direction(xp, d == 1, gates, hs, cs, ghn, h0[k],
                                    None if c0 is None else c0[k], wh, bh)
                _, cur = _time_views(hs, d == 1)
                y[:, :, d * H:(d + 1) * H] = cur
                saved.append((gates, hs, cs, ghn))
                if self.state_outputs:
                    outs[1][k] = hs[0] if d == 1 else hs[T]
                    if c0 is not None:
                        outs[2][k] = cs[0] if d == 1 else cs[T]
            layers.append((layer_in, y, saved))
            layer_in = y
        self._saved = (layers, masks)

    def _run_direction(self, xp, reverse, gates, hs, cs, ghn, h0, c0, wh, bh):
        """One direction of one layer; ``gates`` holds the input projections on entry and the
        gate activations on exit (the pre-activations for rnn_relu/rnn_tanh)."""
        T, N, GH = gates.shape
        H = GH // self.gates
        steps = range(T - 1, -1, -1) if reverse else range(T)
        prev_h, cur_h = _time_views(hs, reverse)
        (hs[T] if reverse else hs[0])[...] = h0
        if cs is not None:
            prev_c, cur_c = _time_views(cs, reverse)
            (cs[T] if reverse else cs[0])[...] = c0
        gh = self._buffer(xp, ('gh', GH), (N, GH), gates.dtype)
        tmp = self._buffer(xp, ('tmp', H), (N, H), gates.dtype)
        mode = self.mode
        for t in steps:
            g = gates[t]
            xp.dot(prev_h[t], wh.T, out=gh)
            if mode == 'gru':
                gh += bh
                g[:, :2 * H] += gh[:, :2 * H]
                sigmoid_into(xp, g[:, :2 * H], g[:, :2 * H])
                r, z, n = g[:, :H], g[:, H:2 * H], g[:, 2 * H:]
                ghn[t] = gh[:, 2 * H:]
                xp.multiply(r, ghn[t], out=tmp)
                n += tmp
                tanh_into(xp, n, n)
                # h' = n + z * (h - n)
                xp.subtract(prev_h[t], n, out=tmp)
                tmp *= z
                xp.add(n, tmp, out=cur_h[t])
                continue
            g += gh
            if mode == 'rnn_tanh':
                tanh_into(xp, g, cur_h[t])
            elif mode == 'rnn_relu':
                xp.maximum(g, 0, out=cur_h[t])
            else:
                i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
                sigmoid_into(xp, g[:, :2 * H], g[:, :2 * H])
                tanh_into(xp, gg, gg)
                sigmoid_into(xp, o, o)
                c = cur_c[t]
                xp.multiply(f, prev_c[t], out=c)
                xp.multiply(i, gg, out=tmp)
                c += tmp
                tanh_into(xp, c, cur_h[t])
                cur_h[t] *= o

    # ---- backward ----------------------------------------------------------------------
    def backward(self, xp, ograds, ins, outs, igrads, aux):
        x, flat = ins[0], ins[1]
        T, N, C = x.shape
        H, G, D, L = self.state_size, self.gates, self.directions, self.num_layers
        dt = x.dtype
        layers, masks = self._saved
        weights = _unpack(flat, self.mode, L, H, C, D)
        dflat = igrads[1] if igrads[1] is not None else \
            self._buffer(xp, 'dflat', flat.shape, flat.dtype)
        dweights = _unpack(dflat, self.mode, L, H, C, D)
        lstm = self.mode == 'lstm'
        dh_out = ograds[1] if self.state_outputs and len(ograds) > 1 else None
        dc_out = ograds[2] if self.state_outputs and lstm and len(ograds) > 2 else None
        dh0 = igrads[2] if igrads[2] is not None else \
            self._buffer(xp, 'dh0', ins[2].shape, dt)
        dc0 = None
        if lstm:
            dc0 = igrads[3] if igrads[3] is not None else \
                self._buffer(xp, 'dc0', ins[3].shape, dt)
        dy = ograds[0]
        for layer in range(L - 1, -1, -1):
            layer_in, _, saved = layers[layer]
            width = layer_in.shape[2]
            if layer == 0:
                dx = igrads[0] if igrads[0] is not None else self._buffer(xp, 'dx', x.shape, dt)
            else:
                dx = self._buffer(xp, ('dx', layer), layer_in.shape, dt)
            for d in range(D):
                k = layer * D + d
                wx, wh, _, _ = weights[k]
                dwx, dwh, dbx, dbh = dweights[k]
                gates, hs, cs, ghn = saved[d]
                dgx = self._buffer(xp, ('dgx', k), (T, N, G * H), dt)
                dgh = self._buffer(xp, ('dgh', k), (T, N, G * H), dt) if ghn is not None else dgx
                dh = dh0[k]
                if dh_out is not None:
                    dh[...] = dh_out[k]
                else:
                    dh.fill(0)
                dc = None
                if lstm:
                    dc = dc0[k]
                    if dc_out is not None:
                        dc[...] = dc_out[k]
                    else:
                        dc.fill(0)
                self._back_direction(xp, d == 1, dy[:, :, d * H:(d + 1) * H], gates, hs, cs,
                                     ghn, dgx, dgh, dh, dc, wh)
                prev_h, _ = _time_views(hs, d == 1)
                xp.dot(dgx.reshape(T * N, -1).T, layer_in.reshape(T * N, width), out=dwx)
                xp.dot(dgh.reshape(T * N, -1).T, prev_h.reshape(T * N, H), out=dwh)
                dgx.sum(axis=(0, 1), out=dbx)
                dgh.sum(axis=(0, 1), out=dbh)
                if d == 0:
                    xp.dot(dgx.reshape(T * N, -1), wx, out=dx.reshape(T * N, width))
                else:
                    dx += xp.dot(dgx.reshape(T * N, -1), wx).reshape(dx.shape)
            if layer > 0 and masks[layer] is not None:
                dx *= masks[layer]
            dy = dx

    def _back_direction(self, xp, reverse, dy, gates, hs, cs, ghn, dgx, dgh, dh, dc, wh):
        T, N, GH = gates.shape
        H = GH // self.gates
        prev_h, cur_h = _time_views(hs, reverse)
        if cs is not None:
            prev_c, cur_c = _time_views(cs, reverse)
        tmp = self._buffer(xp, ('btmp', H), (N, H), gates.dtype)
        tmp2 = self._buffer(xp, ('btmp2', H), (N, H), gates.dtype)
        steps = range(T) if reverse else range(T - 1, -1, -1)
        mode = self.mode
        for t in steps:
            dh += dy[t]
            da = dgx[t]
            if mode == 'rnn_tanh':
                y = cur_h[t]
                xp.multiply(y, y, out=da)
                xp.subtract(1, da, out=da)
                da *= dh
            elif mode == 'rnn_relu':
                xp.multiply(dh, cur_h[t] > 0, out=da)
            elif mode == 'lstm':
                g = gates[t]
                i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
                di, df, dg, do = da[:, :H], da[:, H:2 * H], da[:, 2 * H:3 * H], da[:, 3 * H:]
                tc = tanh_into(xp, cur_c[t], tmp)
                # do = dh * tanh(c) * o * (1 - o)
                xp.multiply(dh, tc, out=do)
                _dsigmoid(xp, do, o, tmp2)
                # dc += dh * o * (1 - tanh(c)^2)
                tc *= tc
                xp.subtract(1, tc, out=tc)
                tc *= o
                tc *= dh
                dc += tc
                xp.multiply(dc, gg, out=di)
                _dsigmoid(xp, di, i, tmp2)
                xp.multiply(dc, prev_c[t], out=df)
                _dsigmoid(xp, df, f, tmp2)
                xp.multiply(gg, gg, out=dg)
                xp.subtract(1, dg, out=dg)
                dg *= i
                dg *= dc
                dc *= f
            else:
                g = gates[t]
                r, z, n = g[:, :H], g[:, H:2 * H], g[:, 2 * H:]
                dr, dz, dn = da[:, :H], da[:, H:2 * H], da[:, 2 * H:]
                # dn_pre = dh * (1 - z) * (1 - n^2)
                xp.subtract(1, z, out=dn)
                dn *= dh
                xp.multiply(n, n, out=tmp)
                xp.subtract(1, tmp, out=tmp)
                dn *= tmp
                # dz_pre = dh * (h_prev - n) * z * (1 - z)
                xp.subtract(prev_h[t], n, out=dz)
                dz *= dh
                _dsigmoid(xp, dz, z, tmp2)
                # dr_pre = dn_pre * (W_hn h + b_hn) * r * (1 - r)
                xp.multiply(dn, ghn[t], out=dr)
                _dsigmoid(xp, dr, r, tmp2)
                dgh[t][:, :2 * H] = da[:, :2 * H]
                xp.multiply(dn, r, out=dgh[t][:, 2 * H:])
                dh *= z
                dh += xp.dot(dgh[t], wh)
                continue
            xp.dot(da, wh, out=dh)


def _dsigmoid(xp, grad, y, tmp):
    """``grad *= y * (1 - y)`` in place, for ``y = sigmoid(a)``."""
    xp.subtract(1, y, out=tmp)
    tmp *= y
    grad *= tmp


# ---- Sequence* -------------------------------------------------------------------------

def _lengths(rng, shape, high=4):
    """Valid sequence lengths for the samples: integers in [1, high]."""
    return rng.integers(1, high + 1, shape)


class _SequenceBase(Operator):
    """Shared by the Sequence* operators: optional ``sequence_length`` of shape (batch,)."""
    arguments = ('data', 'sequence_length')
    nondiff = ('sequence_length',)
    axes = (0, 1)

    def setup(self):
        if self.axis not in self.axes:
            raise InferError('%s: axis must be %s, got %d'
                             % (self.name, ' or '.join(map(str, self.axes)), self.axis))
        # backward needs the lengths (when there are any) and the data's shape
        self.retain_inputs = (1,) if self.use_sequence_length else ()
        self.retain_outputs = ()

    def list_arguments(self):
        return ['data', 'sequence_length'] if self.use_sequence_length else ['data']

    def _check(self, in_shapes):
        """(data shape, batch size) or None, after checking what is known."""
        dshape = in_shapes[0]
        if dshape is None or any(not d for d in dshape):
            return None
        if len(dshape) < 2:
            raise InferError('data must have rank 2 or more (sequence length and batch size '
                             'first), got %s' % (dshape,))
        return dshape, dshape[1 - self.axis]

    def _in_shapes(self, dshape, batch):
        return [dshape] + ([(batch,)] if self.use_sequence_length else [])

    def infer_shape(self, in_shapes):
        """The output has the data's shape (SequenceLast drops the time axis instead)."""
        known = self._check(in_shapes)
        if known is None:
            return in_shapes, [None], []
        return self._in_shapes(*known), [known[0]], []

    def infer_type(self, in_types):
        t = in_types[0]
        return ([t] + ([in_types[1] or t] if self.use_sequence_length else []), [t], [])

    def _steps(self, ins):
        """Integer lengths (MXNet truncates float lengths), or None without sequence_length."""
        if not self.use_sequence_length:
            return None
        return ins[1].astype(np.int64)

    def _tn(self, x):
        """``x`` viewed as (time, batch, rest) whatever ``axis`` is; transposed view for 1."""
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        return x3 if self.axis == 0 else x3.transpose(1, 0, 2)


@register
class SequenceMask(_SequenceBase):
    """Set every step at or after each sequence's length to ``value``.

    ``data`` is ``(T, N, ...)`` (``axis=0``) or ``(N, T, ...)`` (``axis=1``);
    ``sequence_length`` ``(N,)`` is an input only with ``use_sequence_length=True`` (else the
    data passes through unchanged).  Lengths are truncated to integers; no gradient flows to
    them, and masked steps get a zero gradient.

    Example::

        >>> x = mx.nd.ones((3, 2))
        >>> mx.nd.SequenceMask(x, mx.nd.array([1, 3]), use_sequence_length=True,
        ...                    value=-1).asnumpy()
        array([[ 1.,  1.],
               [-1.,  1.],
               [-1.,  1.]], dtype=float32)
    """
    name = 'SequenceMask'
    params = {'use_sequence_length': Param('bool', False), 'value': Param('float', 0.0),
              'axis': Param('int', 0)}
    samples = (Sample({'use_sequence_length': True, 'value': -2.0}, {'data': (4, 3, 2)},
                      values={'sequence_length': _lengths}),
               Sample({'use_sequence_length': True, 'axis': 1}, {'data': (3, 4)},
                      values={'sequence_length': _lengths}),
               Sample({}, {'data': (3, 2)}))

    def _keep(self, xp, ins):
        x = ins[0]
        steps = xp.arange(x.shape[self.axis]).reshape(-1, 1)
        keep = steps < self._steps(ins).reshape(1, -1)       # (T, N)
        keep = keep if self.axis == 0 else keep.T
        return keep.reshape(keep.shape + (1,) * (x.ndim - 2))

    def forward(self, xp, ins, outs, aux, is_train):
        if not self.use_sequence_length:
            outs[0][...] = ins[0]
            return
        outs[0][...] = xp.where(self._keep(xp, ins), ins[0], self.value)

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        if not self.use_sequence_length:
            igrads[0][...] = ograds[0]
            return
        xp.multiply(ograds[0], self._keep(xp, ins), out=igrads[0])


@register
class SequenceLast(_SequenceBase):
    """The last valid step of each sequence: ``data[length-1, n]`` (``axis=0``).

    ``data`` is ``(T, N, ...)`` (``axis=0``) or ``(N, T, ...)`` (``axis=1``); the output drops
    the time axis.  Without ``use_sequence_length`` every sequence has length ``T``.  Lengths
    are truncated to integers and clipped to ``[1, T]`` (MXNet leaves other lengths undefined).

    Example::

        >>> x = mx.nd.array([[1, 2], [3, 4], [5, 6]])
        >>> mx.nd.SequenceLast(x, mx.nd.array([1, 3]), use_sequence_length=True).asnumpy()
        array([1., 6.], dtype=float32)
    """
    name = 'SequenceLast'
    params = {'use_sequence_length': Param('bool', False), 'axis': Param('int', 0)}
    samples = (Sample({'use_sequence_length': True}, {'data': (4, 3, 2)},
                      values={'sequence_length': _lengths}),
               Sample({'use_sequence_length': True, 'axis': 1}, {'data': (3, 4)},
                      values={'sequence_length': _lengths}),
               Sample({'axis': 1}, {'data': (2, 3, 2)}))

    def infer_shape(self, in_shapes):
        known = self._check(in_shapes)
        if known is None:
            return in_shapes, [None], []
        dshape = known[0]
        out = tuple(d for i, d in enumerate(dshape) if i != self.axis)
        return self._in_shapes(*known), [out], []

    def _index(self, xp, ins):
        x3 = self._tn(ins[0])
        T, N = x3.shape[:2]
        if self.use_sequence_length:
            last = xp.clip(self._steps(ins), 1, T) - 1
        else:
            last = xp.full((N,), T - 1, dtype=np.int64)
        return last, xp.arange(N)

    def forward(self, xp, ins, outs, aux, is_train):
        last, batch = self._index(xp, ins)
        outs[0].reshape(batch.shape[0], -1)[...] = self._tn(ins[0])[last, batch]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        last, batch = self._index(xp, ins)
        igrads[0].fill(0)
        g3 = self._tn(igrads[0])     # a view: writing into it writes the gradient
        g3[last, batch] = ograds[0].reshape(batch.shape[0], -1)


@register
class SequenceReverse(_SequenceBase):
    """Reverse the first ``length`` steps of each sequence along time (``axis=0`` only).

    ``data`` is ``(T, N, ...)``; steps at or after a sequence's length stay where they are.
    Without ``use_sequence_length`` the whole time axis is reversed.  Lengths are truncated to
    integers and clipped to ``[0, T]``.

    Example::

        >>> x = mx.nd.array([[1, 2], [3, 4], [5, 6]])
        >>> mx.nd.SequenceReverse(x, mx.nd.array([2, 3]), use_sequence_length=True).asnumpy()
        array([[3., 6.],
               [1., 4.],
               [5., 2.]], dtype=float32)
    """
    name = 'SequenceReverse'
    params = {'use_sequence_length': Param('bool', False), 'axis': Param('int', 0)}
    axes = (0,)
    samples = (Sample({'use_sequence_length': True}, {'data': (4, 3, 2)},
                      values={'sequence_length': _lengths}),
               Sample({}, {'data': (3, 2)}))

    def _source(self, xp, ins):
        """(time index, batch index) of the element each output position takes."""
        T, N = ins[0].shape[:2]
        steps = xp.arange(T).reshape(-1, 1)
        if self.use_sequence_length:
            length = xp.clip(self._steps(ins), 0, T).reshape(1, -1)
        else:
            length = xp.full((1, N), T, dtype=np.int64)
        src = xp.where(steps < length, length - 1 - steps, steps)
        return src, xp.arange(N).reshape(1, -1)

    def forward(self, xp, ins, outs, aux, is_train):
        src, batch = self._source(xp, ins)
        outs[0].reshape(src.shape + (-1,))[...] = self._tn(ins[0])[src, batch]

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is None:
            return
        src, batch = self._source(xp, ins)   # the permutation is its own inverse
        igrads[0].reshape(src.shape + (-1,))[...] = self._tn(ograds[0])[src, batch]
