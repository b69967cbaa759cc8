"""``Custom``: operators written in Python (``mx.operator.CustomOp``) as registry entries.

A user describes an operator with a ``CustomOpProp`` subclass (its inputs, outputs, auxiliary
states, shape and type inference, what backward needs) registered under a name with
``register(name)``, and computes it with the ``CustomOp`` its ``create_operator`` returns.
``mx.sym.Custom(*inputs, op_type=name, **params)`` makes a node of the one registry operator
:class:`Custom`; its instance builds the user's prop from the parameters (as strings, as MXNet
passes them) and asks it everything the registry asks of an operator:

* names: ``list_arguments()`` / ``list_outputs()`` / ``list_auxiliary_states()``;
* inference: ``infer_shape`` (unknown shapes are ``[]``, as MXNet passes them) and
  ``infer_type`` (NumPy types, ``None`` where unknown);
* retention: ``declare_backward_dependency`` over MXNet's ids (head gradients, then inputs,
  then outputs), mapped onto ``retain_inputs`` / ``retain_outputs``, so the executor keeps
  exactly the buffers the operator says its backward reads;
* compute: at the first forward, ``create_operator(ctx, shapes, dtypes)`` (the shapes and
  MXNet type flags of the inputs then the auxiliary states); ``forward`` and ``backward`` get
  NDArrays that wrap the executor's own buffers (no copies), so what the operator assigns
  lands in the executor's outputs and gradient buffers.

``req``: forward outputs are ``'write'``.  A gradient backward must produce is ``'write'``;
one nobody needs (a label's, with ``grad_req='null'``) is ``'null'`` and its ``in_grad`` is a
scratch array.  ``grad_req='add'`` is the executor's business, as for every operator here: it
gives the operator a temporary to write and adds it, so an operator that honours ``req``
(``self.assign``) computes what it does in MXNet.
"""
import warnings

import numpy as np

from ..base import MXNetError, DTYPE_TO_FLAG
from ..context import Context
from .registry import Operator, Param, Sample, InferError, OpenParams, register as _register_op

__all__ = ['CustomOp', 'CustomOpProp', 'register', 'registered', 'Custom']

_PROPS = {}     # op_type -> CustomOpProp subclass


class CustomOp:
    """The computation of an operator written in Python: subclass it and override ``forward``
    and ``backward``; ``CustomOpProp.create_operator`` makes it.

    Both receive lists of NDArrays and a ``req`` per array they write (``'write'``,
    ``'add'``, ``'inplace'`` or ``'null'``); ``self.assign(dst, req, src)`` honours it.
    """

    def __init__(self):
        pass

    def forward(self, is_train, req, in_data, out_data, aux):
        """Compute ``out_data`` from ``in_data`` (and the auxiliary states ``aux``, which it
        may update in place); ``is_train`` is whether this is a training pass."""

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Compute ``in_grad`` from the head gradients ``out_grad`` and whatever of
        ``in_data``/``out_data`` ``declare_backward_dependency`` kept."""

    def assign(self, dst, req, src):
        """Put ``src`` into ``dst`` as ``req`` says: nothing for ``'null'``, overwrite for
        ``'write'``/``'inplace'``, accumulate for ``'add'``."""
        if req == 'null':
            return
        if req in ('write', 'inplace'):
            dst[:] = src
        elif req == 'add':
            dst[:] += src
        else:
            raise MXNetError("assign: req must be 'null', 'write', 'inplace' or 'add', got %r"
                             % (req,))


class CustomOpProp:
    """What an operator written in Python is: its names, inference and backward needs.

    Subclass it, override what differs from the defaults (one input ``data``, one output
    ``output`` shaped and typed like it, no auxiliary state, backward needing everything) and
    ``create_operator``; register it with ``mx.operator.register(name)``.  Its ``__init__``
    receives the keyword parameters of ``mx.sym.Custom`` as strings.  ``need_top_grad=False``
    makes a loss: backward gets no useful head gradient (and is not meant to read one).
    """

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape):
        """``(argument shapes, output shapes[, auxiliary shapes])`` from the argument shapes
        (lists; ``[]`` for one not known yet).  Default: every output like the first input."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type):
        """``(argument types, output types[, auxiliary types])`` from the argument types
        (NumPy types; ``None`` for one not known yet).  Default: the first input's."""
        return (in_type, [in_type[0]] * len(self.list_outputs()),
                [in_type[0]] * len(self.list_auxiliary_states()))

    def infer_storage_type(self, in_stype):
        """Storage types of the arguments, outputs and auxiliary states; distmod has dense
        (``'default'``) storage only."""
        for i, stype in enumerate(in_stype):
            if stype != 'default':
                raise MXNetError('argument %d has storage type %r; distmod has dense '
                                 "('default') storage only" % (i, stype))
        return (in_stype, ['default'] * len(self.list_outputs()),
                ['default'] * len(self.list_auxiliary_states()))

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        """Storage types of everything backward touches; dense only."""
        lists = [ograd_stype, in_stype, out_stype, igrad_stype, aux_stype]
        for lst in lists:
            bad = [s for s in lst if s not in ('default', 'undefined')]
            if bad:
                raise MXNetError('storage type %r in backward; distmod has dense '
                                 "('default') storage only" % bad[0])
        return tuple(['default'] * len(lst) for lst in lists)

    def list_outputs(self):
        """Output names (default ``['output']``)."""
        return ['output']

    def list_arguments(self):
        """Argument names (default ``['data']``)."""
        return ['data']

    def list_auxiliary_states(self):
        """Auxiliary state names (default none)."""
        return []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The ids, among those given, of what backward reads: by default the head gradients
        (unless ``need_top_grad`` is False), every input and every output."""
        deps = []
        if self.need_top_grad_:
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps

    def create_operator(self, ctx, in_shapes, in_dtypes):
        """The :class:`CustomOp` that computes this operator on ``ctx`` for inputs of these
        shapes (lists) and MXNet type flags (``0`` is float32), inputs then auxiliary states."""
        return CustomOp()


def register(reg_name):
    """Class decorator: register a :class:`CustomOpProp` subclass as ``op_type=reg_name``.

    Registering a name again replaces the earlier class, with a warning, as in MXNet.
    """
    if not isinstance(reg_name, str) or not reg_name:
        raise MXNetError('mx.operator.register: the name must be a non-empty string, got %r'
                         % (reg_name,))

    def do_register(prop_cls):
        if not callable(prop_cls):
            raise MXNetError('mx.operator.register(%r) decorates a CustomOpProp subclass, '
                             'got %r' % (reg_name, prop_cls))
        old = _PROPS.get(reg_name)
        if old is not None and old is not prop_cls:
            warnings.warn('New registration is overriding existing custom operator %s'
                          % reg_name, stacklevel=2)
        _PROPS[reg_name] = prop_cls
        return prop_cls
    return do_register


def registered():
    """``{op_type: CustomOpProp subclass}`` of every registered custom operator."""
    return dict(_PROPS)


def _is_input_value(value):
    """A Symbol or an NDArray (Symbol by duck type: ``distmod.ops`` knows nothing of it)."""
    from ..ndarray.ndarray import NDArray
    return isinstance(value, NDArray) or hasattr(value, 'list_outputs')


def _context_of(xp, arrays):
    """The Context of raw arrays of module ``xp`` (the first array's GPU for CuPy)."""
    if xp is np:
        return Context('cpu', 0)
    for a in arrays:
        device = getattr(a, 'device', None)
        if device is not None:
            return Context('gpu', int(device.id))
    return Context('gpu', 0)


def _shape_arg(shape):
    return [] if shape is None else [int(d) for d in shape]


def _shape_back(shape):
    """A shape the prop returned: ``[]`` (MXNet's unknown) is None."""
    if shape is None or len(shape) == 0:
        return None
    return tuple(int(d) for d in shape)


def _type_back(t):
    return None if t is None else np.dtype(t).name


@_register_op
class Custom(Operator):
    """An operator written in Python: a registered ``mx.operator.CustomOpProp`` named by
    ``op_type``; every other keyword parameter goes, as a string, to the prop's ``__init__``.
    Inputs, outputs and auxiliary states are the prop's.

    Example::

        >>> class Twice(mx.operator.CustomOp):
        ...     def forward(self, is_train, req, in_data, out_data, aux):
        ...         self.assign(out_data[0], req[0], in_data[0] * float(self.k))
        ...     def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        ...         self.assign(in_grad[0], req[0], out_grad[0] * float(self.k))
        >>> @mx.operator.register('doc_times')
        ... class TimesProp(mx.operator.CustomOpProp):
        ...     def __init__(self, k='2'):
        ...         super().__init__(need_top_grad=True)
        ...         self.k = k
        ...     def create_operator(self, ctx, shapes, dtypes):
        ...         op = Twice()
        ...         op.k = self.k
        ...         return op
        >>> mx.nd.Custom(mx.nd.array([1, 2]), op_type='doc_times', k=3).asnumpy()
        array([3., 6.], dtype=float32)
        >>> mx.sym.Custom(mx.sym.Variable('x'), op_type='doc_times', name='t').list_outputs()
        ['t_output']
    """
    name = 'Custom'
    params = OpenParams({'op_type': Param('str', doc='the name the prop is registered as')})
    arguments = ('data',)     # MXNet's declared input; an instance's are its prop's
    outputs = ('output',)
    open_params = True

    def __init__(self, attrs=None, **kwargs):
        attrs = dict(attrs or {})
        attrs.update(kwargs)
        op_type = attrs.pop('op_type', None)
        if op_type is None:
            raise MXNetError("operator Custom: required parameter 'op_type' is missing (the "
                             "name a CustomOpProp is registered as)")
        self.op_type = op_type = str(op_type)
        for key, value in attrs.items():
            if _is_input_value(value):
                raise MXNetError('operator Custom (op_type %r): input %r was given by keyword '
                                 'but is read as a parameter; pass inputs by position'
                                 % (op_type, key))
        # MXNet hands the prop every parameter as a string; its attribute keys are not given
        self.kwargs = {k: v if isinstance(v, str) else str(v) for k, v in attrs.items()
                       if k in self.params}
        self.attrs = dict({'op_type': op_type}, **self.kwargs)
        prop_cls = _PROPS.get(op_type)
        if prop_cls is None:
            raise MXNetError('Cannot find custom operator %r: no CustomOpProp is registered '
                             'under that op_type (mx.operator.register(%r)); registered: %s'
                             % (op_type, op_type, sorted(_PROPS)))
        try:
            self.prop = prop_cls(**self.kwargs)
            self._arguments = [str(n) for n in self.prop.list_arguments()]
            self._outputs = [str(n) for n in self.prop.list_outputs()]
            self._auxiliary = [str(n) for n in self.prop.list_auxiliary_states()]
            self._declare_retention()
            self._check_storage()
        except MXNetError:
            raise
        except Exception as e:
            raise MXNetError('custom operator %r: %s: %s' % (op_type, type(e).__name__, e)) \
                from e
        self.need_top_grad = bool(getattr(self.prop, 'need_top_grad_', True))
        self._op = self._op_key = None
        self._scratch = {}

    def __repr__(self):
        return 'Custom(%s)' % ', '.join('%s=%s' % kv for kv in self.attrs.items())

    # ---- names and retention -------------------------------------------------------------
    def list_arguments(self):
        return list(self._arguments)

    def list_outputs(self):
        return list(self._outputs)

    def list_auxiliary_states(self):
        return list(self._auxiliary)

    def _declare_retention(self):
        """MXNet's ids: head gradients 0..n_out-1, then inputs, then outputs."""
        n_in, n_out = len(self._arguments), len(self._outputs)
        out_grad = list(range(n_out))
        in_data = list(range(n_out, n_out + n_in))
        out_data = list(range(n_out + n_in, 2 * n_out + n_in))
        deps = {int(d) for d in self.prop.declare_backward_dependency(out_grad, in_data,
                                                                      out_data)}
        self.retain_inputs = tuple(i for i, d in enumerate(in_data) if d in deps)
        self.retain_outputs = tuple(i for i, d in enumerate(out_data) if d in deps)

    def _check_storage(self):
        n_in, n_out, n_aux = len(self._arguments), len(self._outputs), len(self._auxiliary)
        got = self.prop.infer_storage_type(['default'] * n_in)
        got = list(got) + [[]] * (3 - len(got))
        back = self.prop.infer_storage_type_backward(
            ['default'] * n_out, ['default'] * n_in, ['default'] * n_out,
            ['default'] * n_in, ['default'] * n_aux)
        for stype in [s for lst in list(got) + list(back) for s in lst]:
            if stype not in ('default', 'undefined'):
                raise MXNetError('custom operator %r infers storage type %r; distmod has '
                                 "dense ('default') storage only" % (self.op_type, stype))

    # ---- inference -------------------------------------------------------------------------
    def _unpack(self, what, ret, complete):
        """``ret`` (2 or 3 lists) checked against the prop's names; None when it is not
        usable and some input is still unknown (the prop may need them all)."""
        try:
            ret = list(ret)
            if len(ret) == 2:
                ret.append([])
            if len(ret) != 3:
                raise InferError('%s must return 2 or 3 lists, got %d' % (what, len(ret)))
            ins, outs, aux = (list(x) for x in ret)
            for kind, got, names in (('input', ins, self._arguments),
                                     ('output', outs, self._outputs),
                                     ('aux state', aux, self._auxiliary)):
                if len(got) != len(names):
                    raise InferError('custom operator %r: %s must return %d %s entries %s, '
                                     'got %d' % (self.op_type, what, len(names), kind, names,
                                                 len(got)))
        except (InferError, TypeError) as e:
            if not complete:
                return None
            raise InferError(str(e)) from e
        return ins, outs, aux

    def _ask(self, what, fn, given, complete):
        try:
            return fn(given)
        except Exception as e:
            if not complete:
                return None
            raise InferError('custom operator %r: %s.%s failed: %s: %s'
                             % (self.op_type, type(self.prop).__name__, what,
                                type(e).__name__, e)) from e

    def infer_shape(self, in_shapes):
        unknown = [None] * len(self._outputs), [None] * len(self._auxiliary)
        complete = all(s is not None and 0 not in s for s in in_shapes)
        ret = self._ask('infer_shape', self.prop.infer_shape,
                        [_shape_arg(s) for s in in_shapes], complete)
        got = None if ret is None else self._unpack('infer_shape', ret, complete)
        if got is None:
            return list(in_shapes), unknown[0], unknown[1]
        ins, outs, aux = got
        try:
            return ([_shape_back(s) for s in ins], [_shape_back(s) for s in outs],
                    [_shape_back(s) for s in aux])
        except (TypeError, ValueError) as e:
            if not complete:
                return list(in_shapes), unknown[0], unknown[1]
            raise InferError('custom operator %r: infer_shape returned a shape that is not '
                             'a list of ints: %s' % (self.op_type, e)) from e

    def infer_type(self, in_types):
        given = [None if t is None else np.dtype(t).type for t in in_types]
        complete = all(t is not None for t in in_types)
        unknown = ([None] * len(self._outputs), [None] * len(self._auxiliary))
        ret = self._ask('infer_type', self.prop.infer_type, given, complete)
        got = None if ret is None else self._unpack('infer_type', ret, complete)
        if got is None:
            return list(in_types), unknown[0], unknown[1]
        ins, outs, aux = got
        try:
            return ([_type_back(t) for t in ins], [_type_back(t) for t in outs],
                    [_type_back(t) for t in aux])
        except TypeError as e:
            if not complete:
                return list(in_types), unknown[0], unknown[1]
            raise InferError('custom operator %r: infer_type returned something that is not '
                             'a dtype: %s' % (self.op_type, e)) from e

    # ---- compute ---------------------------------------------------------------------------
    def _operator(self, ctx, ins, aux):
        """The user's CustomOp for these inputs (made again if their shapes or types change)."""
        arrays = list(ins) + list(aux)
        key = (ctx, tuple(a.shape for a in arrays), tuple(a.dtype for a in arrays))
        if self._op is None or key != self._op_key:
            shapes = [list(a.shape) for a in arrays]
            dtypes = [DTYPE_TO_FLAG[a.dtype.name] for a in arrays]
            with Context(ctx), ctx.device():
                self._op = self._user('create_operator', self.prop.create_operator, ctx,
                                      shapes, dtypes)
            self._op_key = key
        return self._op

    def _user(self, what, fn, *args, **kwargs):
        """Call the user's code; what it raises comes out as an MXNetError naming the
        op_type (the original chained), as MXNet reports errors in custom operators."""
        try:
            return fn(*args, **kwargs)
        except MXNetError:
            raise
        except Exception as e:
            raise MXNetError('Error in custom operator %r (%s): %s: %s'
                             % (self.op_type, what, type(e).__name__, e)) from e

    def forward(self, xp, ins, outs, aux, is_train):
        from ..ndarray.ndarray import _wrap
        ctx = _context_of(xp, list(outs) + list(ins))
        op = self._operator(ctx, ins, aux)
        with Context(ctx), ctx.device():
            self._user('CustomOp.forward', op.forward, is_train=is_train,
                       req=['write'] * len(outs),
                       in_data=[_wrap(a, ctx) for a in ins],
                       out_data=[_wrap(a, ctx) for a in outs],
                       aux=[_wrap(a, ctx) for a in aux])

    def _scratch_like(self, xp, i, a):
        """A write-only stand-in for the gradient of input ``i`` that nobody needs."""
        key = (i, a.shape, a.dtype)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = xp.zeros(a.shape, dtype=a.dtype)
        return buf

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        from ..ndarray.ndarray import _wrap
        ctx = _context_of(xp, list(outs) + list(ins))
        op = self._op if self._op is not None else self._operator(ctx, ins, aux)
        with Context(ctx), ctx.device():
            grads = [g if g is not None else self._scratch_like(xp, i, a)
                     for i, (g, a) in enumerate(zip(igrads, ins))]
            self._user('CustomOp.backward', op.backward,
                       req=['null' if g is None else 'write' for g in igrads],
                       out_grad=[_wrap(g, ctx) for g in ograds],
                       in_data=[_wrap(a, ctx) for a in ins],
                       out_data=[_wrap(a, ctx) for a in outs],
                       in_grad=[_wrap(g, ctx) for g in grads],
                       aux=[_wrap(a, ctx) for a in aux])


# ---- two small registered custom operators: the samples of the generic gradient walk ------
class _Softsign(CustomOp):
    """y = x / (1 + |x|); backward reads the input only."""

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0]
        self.assign(out_data[0], req[0], x / (abs(x) + 1))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        d = abs(in_data[0]) + 1
        self.assign(in_grad[0], req[0], out_grad[0] / (d * d))


@register('_sample_softsign')
class _SoftsignProp(CustomOpProp):
    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return [out_grad[0], in_data[0]]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return _Softsign()


class _ScaledSigmoid(CustomOp):
    """y = sigmoid(scale * x) through ``mx.nd``; backward reads the output only."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, is_train, req, in_data, out_data, aux):
        from .. import ndarray as nd
        self.assign(out_data[0], req[0], nd.sigmoid(in_data[0] * self.scale))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        y = out_data[0]
        self.assign(in_grad[0], req[0], out_grad[0] * y * (1 - y) * self.scale)


@register('_sample_scaled_sigmoid')
class _ScaledSigmoidProp(CustomOpProp):
    def __init__(self, scale='1'):
        super().__init__(need_top_grad=True)
        self.scale = float(scale)

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return [out_grad[0], out_data[0]]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return _ScaledSigmoid(self.scale)


Custom.samples = (Sample({'op_type': '_sample_softsign'}, {'data': (3, 4)}),
                  Sample({'op_type': '_sample_scaled_sigmoid', 'scale': '1.5'},
                         {'data': (2, 5)}))
