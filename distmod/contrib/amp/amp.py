"""Automatic mixed precision for the symbolic API, as MXNet 1.9.1's ``mx.contrib.amp``.

Two ways in:

* ``convert_symbol`` / ``convert_model`` / ``convert_bucketing_module`` rewrite a float32
  graph, inserting ``amp_cast`` / ``amp_multicast`` nodes by the operator lists (``lists``),
  exactly where MXNet's ``ReducePrecision`` pass puts them (same nodes, names and order, so the
  JSON is MXNet's).  ``Symbol.save``/``tojson`` drop the casts again by default
  (``remove_amp_cast``).
* ``init()`` wraps the ``mx.sym``/``mx.nd`` operator functions so that graphs built afterwards
  get the casts as they are made.

float16 runs on the NumPy backend (slowly, and correctly: outputs stay within float16 accuracy
of the float32 model).  bfloat16 conversions build, save and load like MXNet's, but NumPy has no
bfloat16, so binding one is refused.  The Gluon pieces (``init_trainer``, ``scale_loss``,
``unscale``, ``convert_hybrid_block``) have no Gluon to work on in distmod: they say so.

Example::

    >>> net = mx.sym.FullyConnected(mx.sym.var('data'), num_hidden=4, name='fc')
    >>> fp16 = amp.convert_symbol(mx.sym.SoftmaxOutput(net, name='softmax'))
    >>> [n for n in fp16.get_internals().list_outputs() if 'amp_cast' in n]    # doctest: +SKIP
    ['data_amp_cast_float16_output', 'fc_weight_amp_cast_float16_output', ...]
"""
import contextlib
import logging

import numpy as np

from ...base import MXNetError, DTYPE_TO_FLAG, FLAG_TO_DTYPE
from ... import symbol as _symbol
from ... import ndarray as _ndarray
from ...ndarray.ndarray import NDArray
from ...ops import registry as _registry
from ...symbol.symbol import Node, Symbol, topo_order
from . import lists
from .loss_scaler import LossScaler

__all__ = ['init', 'init_trainer', 'scale_loss', 'unscale', 'convert_model',
           'convert_hybrid_block', 'list_lp16_ops', 'list_fp32_ops', 'list_lp16_fp32_ops',
           'list_conditional_fp32_ops', 'list_widest_type_cast', 'list_loss_output_functions',
           'list_lp16_use_fp32_params', 'convert_symbol', 'convert_bucketing_module',
           'remove_amp_cast', 'bfloat16']

#: MXNet's stand-in for bfloat16 (NumPy has none): a 16-bit structured type.
bfloat16 = np.dtype([('bfloat16', np.uint16)])

_CASTS = ('amp_cast', 'amp_multicast')


def _dtype_name(target_dtype):
    """'float16' or 'bfloat16' for the target types MXNet accepts, else None."""
    if isinstance(target_dtype, str):
        return target_dtype if target_dtype in ('float16', 'bfloat16') else None
    if isinstance(target_dtype, np.dtype) and target_dtype == bfloat16:
        return 'bfloat16'
    try:
        if np.dtype(target_dtype) == np.float16:
            return 'float16'
    except TypeError:
        pass
    return None


def _lists(target_dtype):
    name = _dtype_name(target_dtype)
    if name is None:
        raise AssertionError('not supported type: %r (float16 or bfloat16)' % (target_dtype,))
    return lists.symbol_fp16 if name == 'float16' else lists.symbol_bf16


# ---- the lists ---------------------------------------------------------------------------

def list_lp16_ops(target_dtype):
    """The operators run in the low-precision type."""
    mod = _lists(target_dtype)
    return mod.FP16_FUNCS if mod is lists.symbol_fp16 else mod.BF16_FUNCS


def list_fp32_ops(target_dtype):
    """The operators run in float32."""
    return _lists(target_dtype).FP32_FUNCS


def list_lp16_fp32_ops(target_dtype):
    """The operators that run in whichever type their inputs have."""
    mod = _lists(target_dtype)
    return mod.FP16_FP32_FUNCS if mod is lists.symbol_fp16 else mod.BF16_FP32_FUNCS


def list_conditional_fp32_ops(target_dtype):
    """``(operator, parameter, values)``: run in float32 when the parameter has a value."""
    return _lists(target_dtype).CONDITIONAL_FP32_FUNCS


def list_widest_type_cast(target_dtype):
    """The operators run in the widest type among their inputs."""
    return _lists(target_dtype).WIDEST_TYPE_CASTS


def list_loss_output_functions(target_dtype):
    """The loss layers (no dynamic loss scaling in symbolic execution)."""
    return _lists(target_dtype).LOSS_OUTPUT_FUNCTIONS


def list_lp16_use_fp32_params(target_dtype):
    """``{operator: [input names kept in float32]}`` (bfloat16 only; None for float16)."""
    mod = _lists(target_dtype)
    return None if mod is lists.symbol_fp16 else mod.BF16_USE_FP32_PARAMS


# ---- the rewrite -------------------------------------------------------------------------

#: Operators MXNet names the outputs of (``FListOutputNames``): a cast of their output is
#: called ``<node>_<output name>_amp_cast_<type>``; for every other operator MXNet uses the
#: output's position (``<node>_0_amp_cast_<type>``).  Found by converting one graph per
#: operator with MXNet 1.9.1.
_NAMED_OUTPUTS = frozenset([
    'Activation', 'BatchNorm', 'BilinearSampler', 'Concat', 'Convolution', 'Correlation',
    'Crop', 'Deconvolution', 'Dropout', 'FullyConnected', 'GridGenerator', 'GroupNorm',
    'IdentityAttachKLSparseReg', 'InstanceNorm', 'L2Normalization', 'LRN', 'LayerNorm',
    'LeakyReLU', 'MakeLoss', 'Pad', 'Pooling', 'RNN', 'ROIPooling', 'SVMOutput', 'SequenceLast',
    'SequenceMask', 'SequenceReverse', 'SliceChannel', 'SoftmaxActivation', 'SoftmaxOutput',
    'SpatialTransformer', 'SwapAxis', 'UpSampling', '_contrib_DeformableConvolution',
    '_contrib_MultiBoxDetection', '_contrib_MultiBoxPrior', '_contrib_MultiBoxTarget',
    '_contrib_Proposal', '_contrib_ROIAlign', '_contrib_SyncBatchNorm', '_contrib_index_array',
    'elemwise_add', 'make_loss', 'softmax'])


def _suffix(entry):
    node, index = entry
    if node.op is None:
        return ''
    if node.op.name in _NAMED_OUTPUTS:
        return '_' + node.proto().list_outputs()[index]
    return '_%d' % index


def _key(entry):
    return (id(entry[0]), entry[1])


def _infer_types(node, first, target):
    """``(input types, output types)`` of ``node`` given only its first input's type (MXNet's
    probe), or None when the operator cannot tell.  The low-precision target is run through
    distmod's inference as float16 (the stand-in for bfloat16 too)."""
    proto = node.proto()
    nargs = len(proto.list_arguments())
    if not node.inputs or nargs == 0:
        return None
    stand = 'float16' if first == target else first
    try:
        ins, outs, aux = proto.infer_type([stand] + [None] * (nargs - 1))
    except Exception:         # an operator that cannot take this type
        return None
    back = {'float16': target}

    def real(t):
        return None if t is None else back.get(np.dtype(t).name, np.dtype(t).name)
    ins = [real(t) for t in list(ins) + list(aux)]
    ins += [None] * (len(node.inputs) - len(ins))
    return ins, [real(t) for t in outs]


class _Pass:
    """MXNet's ReducePrecision pass over one graph (see ``convert_symbol``)."""

    def __init__(self, target, target_ops, fp32_ops, widest_ops, conditional, excluded,
                 data_names, cast_optional_params):
        self.target = target
        self.target_ops, self.fp32_ops, self.widest_ops = target_ops, fp32_ops, widest_ops
        self.conditional = conditional
        self.excluded = excluded
        self.data_names = data_names
        self.cast_optional = cast_optional_params
        self.mirror = {}         # id(old node) -> new node
        self.fp32 = {}           # key of an old entry -> its float32 entry in the new graph
        self.low = {}            # key of an old entry -> its low-precision entry
        self.cast_cls = _registry.get('amp_cast')
        self.multicast_cls = _registry.get('amp_multicast')

    # -- helpers ----------------------------------------------------------------------
    def mirrored(self, entry):
        return (self.mirror[id(entry[0])], entry[1])

    def cast(self, entry, dtype, table, new_node):
        """A new amp_cast of ``entry`` to ``dtype``, fed to ``new_node`` and remembered."""
        name = '%s%s_amp_cast_%s' % (entry[0].name, _suffix(entry), dtype)
        node = Node(self.cast_cls, name, {'dtype': dtype}, {}, [self.mirrored(entry)])
        table[_key(entry)] = (node, 0)
        if new_node is not None:
            new_node.inputs.append((node, 0))
        return (node, 0)

    def multicast(self, old, new_node):
        first = old.inputs[0]
        name = '%s%s_amp_multicast' % (first[0].name, _suffix(first))
        node = Node(self.multicast_cls, name, {'num_outputs': str(len(old.inputs))}, {},
                    [self.mirrored(e) for e in old.inputs])
        new_node.inputs.extend((node, i) for i in range(len(old.inputs)))

    def record_outputs(self, old, new_node, out_types):
        for i, t in enumerate(out_types):
            if t == self.target:
                self.low[(id(old), i)] = (new_node, i)
            elif t == 'float32':
                self.fp32[(id(old), i)] = (new_node, i)

    def is_conditional_fp32(self, node):
        rules = self.conditional.get(node.op.name)
        if not rules or node.name in self.excluded:
            return False
        return any(node.attrs.get(param) in values for param, values in rules.items())

    # -- the four kinds of node ---------------------------------------------------------
    def fp32_node(self, old, new):
        for i in range(old.num_outputs()):
            self.fp32[(id(old), i)] = (new, i)
        for e in old.inputs:
            if _key(e) in self.fp32:
                new.inputs.append(self.fp32[_key(e)])
            elif e[0].op is None:
                new.inputs.append(self.mirrored(e))       # variables are float32 already
            else:
                self.cast(e, 'float32', self.fp32, new)

    def low_node(self, old, new):
        types = _infer_types(old, self.target, self.target)
        if types is None:
            raise MXNetError("amp: cannot infer the types of operator '%s' (%s) run in %s"
                             % (old.name, old.op.name, self.target))
        in_types, out_types = types
        self.record_outputs(old, new, out_types)
        mutable = set(range(len(old.proto().list_arguments()), len(old.inputs)))  # aux states
        for i, e in enumerate(old.inputs):
            if _key(e) in self.low:
                new.inputs.append(self.low[_key(e)])
            elif ((self.cast_optional and e[0].op is None and
                   e[0].name not in self.data_names) or i in mutable or
                  in_types[i] not in (self.target, None)):
                new.inputs.append(self.mirrored(e))
                if self.cast_optional and e[0].op is None:
                    self.low[_key(e)] = self.mirrored(e)
            else:
                self.cast(e, self.target, self.low, new)

    def widest_node(self, old, new):
        if not old.inputs:
            raise MXNetError("amp: operator '%s' (%s) has no inputs" % (old.name, old.op.name))
        if any(_key(e) not in self.low and _key(e) not in self.fp32 for e in old.inputs):
            self.multicast(old, new)
            return
        wide = any(_key(e) in self.fp32 for e in old.inputs)
        dtype, table = ('float32', self.fp32) if wide else (self.target, self.low)
        for i in range(old.num_outputs()):
            table[(id(old), i)] = (new, i)
        for e in old.inputs:
            if _key(e) in table:
                new.inputs.append(table[_key(e)])
            else:
                self.cast(e, dtype, table, new)

    def conditional_node(self, old, new):
        for i in range(old.num_outputs()):
            self.fp32[(id(old), i)] = (new, i)
        mutable = set(range(len(old.proto().list_arguments()), len(old.inputs)))
        for i, e in enumerate(old.inputs):
            if _key(e) in self.fp32:
                new.inputs.append(self.fp32[_key(e)])
            elif i in mutable:
                new.inputs.append(self.mirrored(e))
            else:
                self.cast(e, 'float32', self.fp32, new)

    def other_node(self, old, new):
        if old.op is not None and old.inputs:
            first = _key(old.inputs[0])
            if first in self.low or first in self.fp32:
                t = self.target if first in self.low else 'float32'
                types = _infer_types(old, t, self.target)
                if types is not None:
                    self.record_outputs(old, new, types[1])
        new.inputs.extend(self.mirrored(e) for e in old.inputs)

    def run(self, heads):
        for old in topo_order(heads):
            new = Node(old.op, old.name, old.attrs, old.extra, [])
            is_var = old.op is None
            name = None if is_var else old.op.name
            if (not is_var and name in self.fp32_ops) or old.name in self.excluded:
                self.fp32_node(old, new)
            elif not is_var and name in self.target_ops:
                self.low_node(old, new)
            elif not is_var and name in self.widest_ops:
                self.widest_node(old, new)
            elif not is_var and self.is_conditional_fp32(old):
                self.conditional_node(old, new)
            else:
                self.other_node(old, new)
            self.mirror[id(old)] = new
        outputs = []
        for e in heads:
            if _key(e) in self.fp32:
                outputs.append(self.fp32[_key(e)])
            else:
                outputs.append(self.cast(e, 'float32', self.fp32, None))
        return outputs


# ---- type inference over the converted graph (for the parameters' __dtype__) -------------

def _graph_types(heads, given, target):
    """``{key of an entry: dtype name}`` by forward and backward inference to a fixed point,
    from ``given`` {variable name: dtype}; the low-precision target rides as float16."""
    stand = {target: 'float16'}
    back = {'float16': target}
    order = topo_order(heads)
    known = {}
    for node in order:
        if node.op is None and node.name in given:
            known[(id(node), 0)] = stand.get(given[node.name], given[node.name])
    for _ in range(len(order) + 1):
        changed = False
        for node in order:
            if node.op is None:
                continue
            proto = node.proto()
            keys = [_key(e) for e in node.inputs]
            okeys = [(id(node), i) for i in range(node.num_outputs())]
            nargs = len(proto.list_arguments())
            ins = [known.get(k) for k in keys]
            if node.op.name == 'amp_cast':
                t = ins[0]
                dt = stand.get(node.attrs['dtype'], node.attrs['dtype'])
                got_in, got_out = ins, [None if t is None else
                                        (dt if t in ('float16', 'float32') else t)]
            elif node.op.name == 'amp_multicast':
                got_in, got_out = ins, _multicast_partial(proto, ins)
            else:
                try:
                    a, o, x = proto.infer_type(ins[:nargs])
                except Exception:
                    continue
                got_in, got_out = list(a) + list(x), list(o)
            for k, v in zip(keys + okeys, list(got_in) + list(got_out)):
                if v is not None:
                    v = np.dtype(v).name
                    if known.get(k) is None:
                        known[k] = v
                        changed = True
        if not changed:
            break
    return {k: back.get(v, v) for k, v in known.items()}


def _multicast_partial(proto, ins):
    """amp_multicast's output types from the inputs whose types are known."""
    known = [t for t in ins if t is not None]
    if not known:
        return [None] * len(ins)
    _, outs, _ = proto.infer_type(known)
    it = iter(outs)
    return [next(it) if t is not None else None for t in ins]


def _infer_unknown(heads, known, target):
    """MXNet's AMPInferUnknown: variables of unknown type feeding a cast take its type."""
    result = dict(known)
    visited = {}

    def update(entry, dtype):
        node = entry[0]
        k = _key(entry)
        if node.name not in visited:
            if result.get(k) is None:
                visited[node.name] = dtype
                result[k] = dtype
        elif visited[node.name] != dtype:
            result[k] = known.get(k)

    for node in topo_order(heads):
        if node.op is None:
            continue
        if node.op.name == 'amp_cast':
            for e in node.inputs:
                if e[0].op is None:
                    update(e, node.attrs['dtype'])
        elif node.op.name == 'amp_multicast':
            if all(e[0].op is None for e in node.inputs):
                for e in node.inputs:
                    update(e, target)
    return result


def _check_list(value, what):
    if value is not None and not isinstance(value, list):
        raise AssertionError('%s should be a list' % what)


def convert_symbol(sym, target_dtype='float16', target_dtype_ops=None, fp32_ops=None,
                   conditional_fp32_ops=None, excluded_sym_names=None, data_names=None,
                   cast_optional_params=False):
    """A float32 graph with ``amp_cast``/``amp_multicast`` nodes added for ``target_dtype``.

    Parameters
    ----------
    sym : Symbol
        The float32 network.
    target_dtype : 'float16' or 'bfloat16'
        The low-precision type.
    target_dtype_ops, fp32_ops : list of str, optional
        Operators to run in the low-precision type / in float32 (default: ``lists``).
    conditional_fp32_ops : list of (operator, parameter, [values]), optional
        Operators run in float32 when a parameter has one of the values.
    excluded_sym_names : list of str, optional
        Node names kept in float32.
    data_names : list of str, optional
        The data inputs (float32); the other inputs are parameters, and get a ``__dtype__``
        attribute with the type they must have.  Default: the inputs without ``__dtype__``.
    cast_optional_params : bool
        Feed parameters of low-precision operators directly (their ``__dtype__`` becomes the
        low type) instead of through a cast.

    Returns
    -------
    Symbol
        The mixed-precision graph: the same nodes, names and order as MXNet 1.9.1 makes.
    """
    if not isinstance(sym, Symbol):
        raise AssertionError('First argument to convert_symbol should be Symbol')
    target = _dtype_name(target_dtype) if isinstance(target_dtype, str) else None
    if target is None:
        raise AssertionError('Only target_dtype float16 and bfloat16 are supported currently')
    for value, what in ((target_dtype_ops, 'target_dtype_ops'), (fp32_ops, 'fp32_ops'),
                        (conditional_fp32_ops, 'conditional_fp32_ops'),
                        (excluded_sym_names, 'excluded_sym_names')):
        _check_list(value, what)
    if target_dtype_ops is None:
        target_dtype_ops = list_lp16_ops(target)
    if fp32_ops is None:
        fp32_ops = list_fp32_ops(target)
    if conditional_fp32_ops is None:
        conditional_fp32_ops = list_conditional_fp32_ops(target)
    conditional = {}
    for item in conditional_fp32_ops:
        if not (isinstance(item[0], str) and isinstance(item[1], str) and
                isinstance(item[2], list)):
            raise AssertionError('conditional_fp32_ops should be a list of '
                                 '(str, str, list of str)')
        conditional.setdefault(item[0], {}).setdefault(item[1], []).extend(item[2])
    excluded = set(excluded_sym_names or [])
    cond_names = list(conditional)
    for a, b, what in ((target_dtype_ops, fp32_ops, 'target_dtype_ops and fp32_ops'),
                       (target_dtype_ops, cond_names, 'target_dtype_ops and '
                                                      'conditional_fp32_ops'),
                       (cond_names, fp32_ops, 'fp32_ops and conditional_fp32_ops')):
        common = set(a) & set(b)
        if common:
            raise AssertionError('Ops cannot be in two or more lists. Common ops in %s %s'
                                 % (what, common))
    legal = set(list_lp16_ops(target) + list_fp32_ops(target) + list_lp16_fp32_ops(target) +
                [c[0] for c in list_conditional_fp32_ops(target)])
    illegal = set(target_dtype_ops + fp32_ops + cond_names) - legal
    if illegal:
        raise AssertionError('Can only choose ops from one of the lists amp.list_lp16_ops, '
                             'amp.list_fp32_ops, amp.list_lp16_fp32_ops and '
                             'amp.list_conditional_fp32_ops; op %s not in any of them'
                             % illegal)
    widest = set(list_widest_type_cast(target))

    graph = sym.graph()
    inputs = [n for n in graph.nodes if n.op is None]
    if data_names is None:
        data_names = [n.name for n in inputs if '__dtype__' not in n.extra]
    data_names = list(data_names)
    model_params = {n.name for n in inputs} - set(data_names)

    amp_pass = _Pass(target, set(target_dtype_ops), set(fp32_ops), widest, conditional,
                     excluded, set(data_names), bool(cast_optional_params))
    heads = amp_pass.run(list(graph.heads))

    known = _graph_types(heads, {n: 'float32' for n in data_names}, target)
    if cast_optional_params:
        known = _infer_unknown(heads, known, target)
    with_dtype, without_dtype = {n: 'float32' for n in data_names}, {}
    new_inputs = [n for n in topo_order(heads) if n.op is None]
    for node in new_inputs:
        t = known.get((id(node), 0)) or 'float32'
        (with_dtype if '__dtype__' in node.extra else without_dtype)[node.name] = t
    for node in new_inputs:
        if model_params:
            if node.name in model_params:
                t = with_dtype.get(node.name, without_dtype.get(node.name))
                node.extra['__dtype__'] = str(DTYPE_TO_FLAG[t])
        elif '__dtype__' in node.extra and node.name in with_dtype:
            node.extra['__dtype__'] = str(DTYPE_TO_FLAG[with_dtype[node.name]])
    return Symbol(heads)


def _param_dtype(attr):
    """The dtype name a ``__dtype__`` attribute holds (a flag, or a name)."""
    return FLAG_TO_DTYPE[int(attr)] if attr.lstrip('-').isdigit() else attr


def _cast_params(params, converted):
    for name in list(params):
        attr = converted.get(name, {}).get('__dtype__')
        if attr is None or attr == '-1':
            continue
        dtype = _param_dtype(attr)
        if dtype == 'bfloat16':
            raise MXNetError("amp.convert_model: parameter %r would be stored as bfloat16, "
                             "which distmod's NumPy backend cannot hold; convert with "
                             "target_dtype='float16' or cast_optional_params=False" % name)
        params[name] = params[name].astype(dtype)


def convert_model(sym, arg_params, aux_params, target_dtype='float16', target_dtype_ops=None,
                  fp32_ops=None, conditional_fp32_ops=None, excluded_sym_names=None,
                  cast_optional_params=False):
    """``convert_symbol`` for a model, and its parameters cast to the types the converted
    graph gives them; returns ``(symbol, arg_params, aux_params)`` (the given dicts, updated
    in place as MXNet does).  The inputs that are not parameters are the data."""
    if excluded_sym_names is not None and not isinstance(excluded_sym_names, list):
        raise ValueError('excluded_sym_names must be a list of strings representing the names '
                         'of the symbols that should not be casted, while received type %s'
                         % type(excluded_sym_names))
    if _dtype_name(target_dtype) is None or not isinstance(target_dtype, str):
        raise AssertionError('Only target_dtype float16 and bfloat16 are supported currently')
    if not isinstance(sym, Symbol):
        raise AssertionError('First argument to convert_model should be Symbol')
    if not isinstance(arg_params, dict):
        raise AssertionError('Second argument to convert_model should be a dict of name to '
                             'ndarray')
    if not isinstance(aux_params, dict):
        raise AssertionError('Third argument to convert_model should be a dict of name to '
                             'ndarray')
    param_names = list(arg_params) + list(aux_params)
    data_names = [n for n in sym.list_inputs() if n not in set(param_names)]
    sym = convert_symbol(sym, target_dtype, target_dtype_ops, fp32_ops, conditional_fp32_ops,
                         excluded_sym_names, data_names, cast_optional_params)
    attrs = sym.attr_dict()
    _cast_params(arg_params, {k: v for k, v in attrs.items() if k in sym.list_arguments()})
    _cast_params(aux_params, {k: v for k, v in attrs.items()
                              if k in sym.list_auxiliary_states()})
    return sym, arg_params, aux_params


def convert_bucketing_module(bucketing_mod, target_dtype='float16', target_dtype_ops=None,
                             fp32_ops=None, conditional_fp32_ops=None, excluded_sym_names=None,
                             cast_optional_params=False):
    """A new BucketingModule whose buckets run the converted graphs, with the module's
    parameters (cast as ``convert_model`` casts them).  A bucket the module had not yet made
    is converted when it is first needed."""
    from ...module import BucketingModule
    if not isinstance(bucketing_mod, BucketingModule):
        raise AssertionError('module should be instance of bucketing module')
    if not bucketing_mod.binded or not bucketing_mod._buckets:
        raise AssertionError('Bucketing Module should not be empty')
    if not bucketing_mod.params_initialized:
        raise AssertionError('bucketing_mod params should be initialized for mixed precision '
                             'conversion')
    arg, aux = bucketing_mod.get_params()
    arg_params = {k: v.copy() for k, v in arg.items()}
    aux_params = {k: v.copy() for k, v in aux.items()}
    options = dict(target_dtype=target_dtype, target_dtype_ops=target_dtype_ops,
                   fp32_ops=fp32_ops, conditional_fp32_ops=conditional_fp32_ops,
                   excluded_sym_names=excluded_sym_names,
                   cast_optional_params=cast_optional_params)
    original = bucketing_mod._sym_gen
    converted = {}
    result_args, result_aux = None, None
    for key, module in bucketing_mod._buckets.items():
        a, x = dict(arg_params), dict(aux_params)
        converted[key], a, x = convert_model(module.symbol, a, x, **options)
        result_args, result_aux = a, x

    def sym_gen(key):
        sym, data_names, label_names = original(key)
        if key not in converted:
            params = set(arg_params) | set(aux_params)
            converted[key] = convert_symbol(
                sym, data_names=[n for n in sym.list_inputs() if n not in params], **options)
        return converted[key], data_names, label_names

    return BucketingModule.load_dict(
        sym_gen=sym_gen, default_bucket_key=bucketing_mod._default_bucket_key,
        arg_params=result_args, aux_params=result_aux, logger=bucketing_mod.logger,
        context=bucketing_mod._context, work_load_list=bucketing_mod._work_load_list,
        fixed_param_names=bucketing_mod._fixed_param_names,
        state_names=bucketing_mod._state_names, group2ctxs=bucketing_mod._group2ctxs,
        compression_params=bucketing_mod._compression_params)


def convert_hybrid_block(block, *args, **kwargs):
    """Gluon's HybridBlock conversion: distmod has no Gluon."""
    raise MXNetError('amp.convert_hybrid_block converts Gluon HybridBlocks, and distmod has no '
                     'Gluon; convert the symbol with amp.convert_model(sym, arg_params, '
                     'aux_params) instead')


def remove_amp_cast(sym):
    """``sym`` without the ``amp_cast``/``amp_multicast`` nodes that feed other nodes (each
    such use reads the cast's input instead): what MXNet's ``Symbol.save``/``tojson`` write
    by default (``remove_amp_cast=True``).  As in MXNet, a cast that is itself an output of
    the graph stays."""
    return sym._without_amp_cast()


# ---- amp.init: casts added as graphs are built -------------------------------------------

_state = {'initialized': False, 'loss_scale_initialized': False, 'loss_scaler': None,
          'saved': []}


def _cast_value(value, dtype, gpu_types=('float16', 'float32'),
                cpu_types=('bfloat16', 'float32')):
    """``value`` cast to ``dtype`` when it is a Symbol, or a float NDArray of another type."""
    if isinstance(value, Symbol):
        return _symbol.amp_cast(value, dtype=dtype)
    if isinstance(value, NDArray):
        current = np.dtype(value.dtype).name
        floats = cpu_types if value.context.device_type == 'cpu' else gpu_types
        if current != dtype and current in floats:
            return _ndarray.amp_cast(value, dtype=dtype)
    return value


def _symbol_wrapper(fn, dtype, fp32_param=None, cond_arg=None):
    def wrapped(*args, **kwargs):
        if cond_arg is not None and kwargs.get(cond_arg[0]) not in cond_arg[1]:
            return fn(*args, **kwargs)
        sym = fn(*args, **kwargs)
        head_node = sym.graph().heads[0][0]
        nargs = len(head_node.proto().list_arguments())
        inputs = []
        for i, entry in enumerate(head_node.inputs):
            if i >= nargs or (fp32_param and i < len(fp32_param) and fp32_param[i]):
                inputs.append(entry)
            else:
                inputs.append(_cast_value(Symbol([entry]), dtype).graph().heads[0])
        node = Node(head_node.op, head_node.name, head_node.attrs, head_node.extra, inputs)
        return Symbol([(node, i) for _, i in sym.graph().heads])
    return _named_like(wrapped, fn)


def _ndarray_wrapper(fn, dtype, fp32_param=None, cond_arg=None, arg_names=()):
    def wrapped(*args, **kwargs):
        if cond_arg is not None and kwargs.get(cond_arg[0]) not in cond_arg[1]:
            return fn(*args, **kwargs)
        keep = set()
        if fp32_param:
            keep = {i for i, k in enumerate(fp32_param) if k}
            keep_names = {k for k in fp32_param if k}
        else:
            keep_names = set()
        args = [a if i in keep else _cast_value(a, dtype) for i, a in enumerate(args)]
        kwargs = {k: (v if k in keep_names else _cast_value(v, dtype))
                  for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    return _named_like(wrapped, fn)


def _widest_wrapper(fn, target):
    def wrapped(*args, **kwargs):
        args = list(args)
        found = [(args, i, a) for i, a in enumerate(args) if isinstance(a, (Symbol, NDArray))]
        found += [(kwargs, k, a) for k, a in kwargs.items() if isinstance(a, (Symbol, NDArray))]
        if any(isinstance(a, Symbol) for _, _, a in found):
            casted = _symbol.amp_multicast(*[a for _, _, a in found], num_outputs=len(found))
            for (where, k, _), c in zip(found, casted):
                where[k] = c
        else:
            widest = target
            if any(np.dtype(a.dtype) == np.float32 for _, _, a in found):
                widest = 'float32'
            for where, k, a in found:
                if np.dtype(a.dtype).name == target and widest != target:
                    where[k] = _ndarray.amp_cast(a, dtype=widest)
        return fn(*args, **kwargs)
    return _named_like(wrapped, fn)


def _loss_wrapper(fn, for_ndarray):
    if for_ndarray:
        def wrapped(*args, **kwargs):
            scale = _state['loss_scaler'].loss_scale
            kwargs['grad_scale'] = kwargs.get('grad_scale', 1.0) * scale
            return fn(*args, **kwargs)
    else:
        def wrapped(*args, **kwargs):
            logging.warning('%s does not support dynamic loss scaling in symbolic and '
                            'hybridized execution.', fn.__name__)
            return fn(*args, **kwargs)
    return _named_like(wrapped, fn)


def _named_like(wrapped, fn):
    wrapped.__name__ = getattr(fn, '__name__', 'op')
    wrapped.__doc__ = fn.__doc__
    wrapped.__wrapped_by_amp__ = fn
    return wrapped


def _places(package, name):
    """The modules of ``package`` (mx.sym or mx.nd) where operator function ``name`` lives:
    ``contrib.X`` for ``_contrib_X`` (and the other namespaces), ``_internal`` for other names
    starting with '_', the package itself otherwise."""
    for ns, prefix in _registry.NAMESPACE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return [(getattr(package, ns, None), name[len(prefix):])]
    if name.startswith('_'):
        return [(getattr(package, '_internal', None), name)]
    return [(package, name)]


def _wrap_all(package, make, names):
    for name in names:
        for module, attr in _places(package, name):
            fn = getattr(module, attr, None) if module is not None else None
            if fn is None or not callable(fn):
                continue            # an operator distmod does not have
            _state['saved'].append((module, attr, fn))
            setattr(module, attr, make(fn, name))


def init(target_dtype='float16', target_precision_ops=None, conditional_fp32_ops=None,
         fp32_ops=None):
    """Turn AMP on for graphs built from now on (call before building the model).

    ``mx.sym`` operator functions insert ``amp_cast`` nodes (to ``target_dtype`` for the
    low-precision operators, to float32 for the float32 ones), ``amp_multicast`` for the
    widest-type ones; ``mx.nd`` functions cast their float arrays.  The loss layers warn that
    symbolic execution has no dynamic loss scaling.  A second call does nothing.

    Parameters
    ----------
    target_dtype : 'float16' or 'bfloat16'
    target_precision_ops, fp32_ops : list of str, optional
        Override the low-precision / float32 lists.
    conditional_fp32_ops : list of (operator, parameter, [values]), optional
    """
    if _state['initialized']:
        return
    if _dtype_name(target_dtype) is None:
        raise AssertionError('AMP currently supports only float16 or bfloat16 as a '
                             'target_dtype')
    target = _dtype_name(target_dtype)
    _state['initialized'] = True
    logging.info('Using AMP')
    low = target_precision_ops if target_precision_ops is not None else list_lp16_ops(target)
    f32 = fp32_ops if fp32_ops is not None else list_fp32_ops(target)
    cond = (conditional_fp32_ops if conditional_fp32_ops is not None
            else list_conditional_fp32_ops(target))
    fp32_params = list_lp16_use_fp32_params(target) or {}
    for package, wrapper in ((_symbol, _symbol_wrapper), (_ndarray, _ndarray_wrapper)):
        _wrap_all(package, lambda fn, name, w=wrapper: w(fn, target, fp32_params.get(name)),
                  low)
        _wrap_all(package, lambda fn, name, w=wrapper: w(fn, 'float32'), f32)
        for op_name, param, values in cond:
            _wrap_all(package, lambda fn, name, w=wrapper, p=param, v=values:
                      w(fn, 'float32', cond_arg=(p, v)), [op_name])
        _wrap_all(package, lambda fn, name: _widest_wrapper(fn, target),
                  list_widest_type_cast(target))
    _state['loss_scaler'] = LossScaler()
    for package, for_nd in ((_ndarray, True), (_symbol, False)):
        for name in list_loss_output_functions(target):
            fn = getattr(package, name, None)
            if fn is not None:
                _state['saved'].append((package, name, fn))
                setattr(package, name, _loss_wrapper(fn, for_nd))


def _uninit():
    """Undo ``init`` (distmod's, for tests: MXNet has no way back)."""
    for module, attr, fn in reversed(_state['saved']):
        setattr(module, attr, fn)
    _state.update(initialized=False, loss_scale_initialized=False, loss_scaler=None, saved=[])


def _gluon_only(what):
    return TypeError('amp.%s works on a Gluon Trainer (AMP is currently only compatible with '
                     'Gluon Trainer), and distmod has no Gluon; a Module trains with a fixed '
                     'scale: give the loss layers grad_scale and the optimizer rescale_grad'
                     % what)


def init_trainer(optimizer_or_trainer):
    """Gluon's dynamic loss scaling for a Trainer: not applicable to distmod's Module API."""
    if not _state['initialized']:
        raise AssertionError('AMP not initialized, did you forget to call amp.init()?')
    raise _gluon_only('init_trainer')


@contextlib.contextmanager
def scale_loss(loss, optimizer_or_trainer):
    """Gluon's loss scaling context (needs ``init_trainer``, which needs Gluon)."""
    scaler = getattr(optimizer_or_trainer, '_amp_loss_scaler', None)
    if scaler is None:
        raise AssertionError('Loss scaler is not initialized, did you forget to call '
                             'amp.init_trainer()?')
    optimizer_or_trainer._scale = optimizer_or_trainer._amp_original_scale / scaler.loss_scale
    if isinstance(loss, (list, tuple)):
        yield [l * scaler.loss_scale for l in loss]
    else:
        yield scaler.loss_scale * loss


def unscale(optimizer_or_trainer):
    """Gluon's manual unscaling of a Trainer's gradients: not applicable to distmod."""
    raise _gluon_only('unscale')
