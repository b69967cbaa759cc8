"""Symbol: MXNet's declarative graph, its names, inference and JSON, over the op registry."""
import json
import warnings

import numpy as np

from ..base import MXNetError, numeric_types, DTYPE_TO_FLAG, FLAG_TO_DTYPE, dtype_np
from .. import name as _name
from .. import attribute as _attribute
from ..ops import registry
from ..ops.infer import infer_op_shapes, infer_op_types, merge_shape

__all__ = ['Symbol', 'Graph', 'Node', 'Variable', 'var', 'Group', 'load', 'load_json',
           'topo_order']

MXNET_VERSION = 10901


class Node:
    """One graph node: a variable (``op is None``) or an operator instance's description."""

    __slots__ = ('op', 'name', 'attrs', 'extra', 'inputs', '_proto')

    def __init__(self, op, name, attrs=None, extra=None, inputs=()):
        self.op = op                      # operator class, or None for a variable
        self.name = name
        self.attrs = dict(attrs or {})    # operator parameters, as MXNet strings
        self.extra = dict(extra or {})    # other attributes (__shape__, __lr_mult__, ctx_group)
        self.inputs = list(inputs)        # [(Node, output index)]
        self._proto = None

    @property
    def is_variable(self):
        return self.op is None

    def proto(self):
        """An operator instance for names and inference (executors make their own)."""
        if self._proto is None:
            self._proto = self.op(self.attrs)
        return self._proto

    def make_op(self):
        return self.op(self.attrs)

    def num_outputs(self):
        return 1 if self.op is None else self.proto().output_count()

    def num_args(self):
        return len(self.proto().list_arguments())

    def output_names(self):
        if self.op is None:
            return [self.name]
        return ['%s_%s' % (self.name, o) for o in self.proto().list_outputs()]


def topo_order(heads):
    """Nodes reachable from ``heads`` in MXNet's order: depth first, inputs before a node."""
    order, seen = [], set()
    for head, _ in heads:
        if id(head) in seen:
            continue
        stack = [(head, 0)]
        seen.add(id(head))
        while stack:
            node, i = stack.pop()
            if i < len(node.inputs):
                stack.append((node, i + 1))
                src = node.inputs[i][0]
                if id(src) not in seen:
                    seen.add(id(src))
                    stack.append((src, 0))
            else:
                order.append(node)
    return order


def _propagate(order, known, infer):
    """Run ``infer(node, ins, outs, aux)`` over the operator nodes until nothing changes.

    ``known`` maps entries ``(id(node), output index)`` to what is known of them (a shape or
    a dtype); what an operator infers about its inputs flows back to their producers too.
    """
    for _ in range(len(order) + 1):
        changed = False
        for node in order:
            if node.op is None:
                continue
            nargs = node.num_args()
            keys = [(id(s), i) for s, i in node.inputs]
            okeys = [(id(node), i) for i in range(node.num_outputs())]
            ins, outs, aux = infer(node, [known.get(k) for k in keys[:nargs]],
                                   [known.get(k) for k in okeys],
                                   [known.get(k) for k in keys[nargs:]])
            for k, v in zip(keys + okeys, list(ins) + list(aux) + list(outs)):
                if v is not None and known.get(k) != v:
                    known[k] = v
                    changed = True
        if not changed:
            break
    return known


# Attributes MXNet keeps as ``__key__`` in the graph and also shows as ``key``.
HIDDEN_KEYS = ('ctx_group', 'lr_mult', 'wd_mult', 'force_mirroring', 'mirror_stage',
               'profiler_scope')


def _with_plain_keys(node):
    out = dict(node.attrs)
    out.update(node.extra)
    for k in HIDDEN_KEYS:
        if '__%s__' % k in out:
            out[k] = out['__%s__' % k]
    return out


def _scope_attrs(attr, what):
    """AttrScope and ``attr=`` attributes for an operator node, hidden keys as ``__key__``."""
    out = {}
    for k, v in _attribute.current().get(attr).items():
        if k in HIDDEN_KEYS:
            k = '__%s__' % k
        elif not (k.startswith('__') and k.endswith('__')):
            raise MXNetError('%s: attribute %r is neither a parameter nor one of MXNet\'s '
                             'attributes %s (or a __dunder__ key)' % (what, k, list(HIDDEN_KEYS)))
        out[k] = v
    return out


def _aux_ids(order):
    """ids of the variable nodes that feed an operator's auxiliary-state slots."""
    out = set()
    for node in order:
        if node.op is not None and node.proto().list_auxiliary_states():
            for src, _ in node.inputs[node.num_args():]:
                out.add(id(src))
    return out


class Graph:
    """A symbol's graph as an executor reads it: the public view of a :class:`Symbol`.

    ``nodes`` are in topological order (inputs before a node); ``arguments`` and
    ``auxiliary`` are the variable nodes in ``list_arguments()`` /
    ``list_auxiliary_states()`` order; ``heads`` are the ``(node, output index)`` entries of
    ``list_outputs()``.  An entry is keyed ``(id(node), index)`` in the dicts that
    ``infer_shapes``/``infer_types`` return.
    """

    __slots__ = ('nodes', 'arguments', 'auxiliary', 'heads', '_symbol')

    def __init__(self, symbol):
        self._symbol = symbol
        self.nodes = symbol._topo()
        aux = _aux_ids(self.nodes)
        self.arguments = [n for n in self.nodes if n.op is None and id(n) not in aux]
        self.auxiliary = [n for n in self.nodes if n.op is None and id(n) in aux]
        self.heads = list(symbol._outputs)

    def infer_shapes(self, given):
        """{entry: shape} from ``given`` {input name: shape} (unknown entries absent)."""
        return self._symbol._infer_shapes(given)

    def infer_types(self, given):
        """{entry: dtype name} from ``given`` {input name: dtype}."""
        return self._symbol._infer_types(given)


class Symbol:
    """A graph with one or more outputs, built by calling operator functions on symbols.

    Example::

        >>> data = mx.sym.Variable('data')
        >>> fc = mx.sym.FullyConnected(data, num_hidden=10, name='fc')
        >>> fc.list_arguments()
        ['data', 'fc_weight', 'fc_bias']
    """

    __slots__ = ('_outputs', '__weakref__')

    def __init__(self, outputs):
        self._outputs = list(outputs)

    # ---- structure ---------------------------------------------------------------------
    def _topo(self):
        return topo_order(self._outputs)

    @property
    def name(self):
        """The name of a single-output symbol's node (None for a group)."""
        if len(self._outputs) != 1:
            return None
        return self._outputs[0][0].name

    def list_arguments(self):
        order = self._topo()
        aux = _aux_ids(order)
        return [n.name for n in order if n.op is None and id(n) not in aux]

    def list_auxiliary_states(self):
        order = self._topo()
        aux = _aux_ids(order)
        return [n.name for n in order if n.op is None and id(n) in aux]

    def list_inputs(self):
        return [n.name for n in self._topo() if n.op is None]

    def list_outputs(self):
        return [node.output_names()[i] for node, i in self._outputs]

    def _arg_nodes(self):
        order = self._topo()
        aux = _aux_ids(order)
        return ([n for n in order if n.op is None and id(n) not in aux],
                [n for n in order if n.op is None and id(n) in aux])

    def graph(self):
        """This symbol's :class:`Graph` (nodes in order, arguments, heads, inference)."""
        return Graph(self)

    def get_internals(self):
        """Every output of every node, in topological order."""
        return Symbol([(n, i) for n in self._topo() for i in range(n.num_outputs())])

    def get_children(self):
        """The inputs of this symbol's head node, or None for a variable."""
        node = self._outputs[0][0]
        if node.op is None or not node.inputs:
            return None
        return Symbol(node.inputs)

    def __len__(self):
        return len(self._outputs)

    def __iter__(self):
        return (Symbol([o]) for o in self._outputs)

    def __getitem__(self, index):
        if isinstance(index, str):
            names = self.list_outputs()
            matches = [i for i, n in enumerate(names) if n == index]
            if not matches:
                raise ValueError('There is no output named %r; outputs are %s' % (index, names))
            if len(matches) > 1:
                raise ValueError('There are multiple outputs named %r' % index)
            index = matches[0]
        if isinstance(index, slice):
            return Symbol(self._outputs[index])
        if not -len(self._outputs) <= index < len(self._outputs):
            raise IndexError('output index %d out of range for %d outputs'
                             % (index, len(self._outputs)))
        return Symbol([self._outputs[index]])

    def __copy__(self):
        return self.__deepcopy__(None)

    def __deepcopy__(self, memo):
        mapping = {}
        for node in self._topo():
            new = Node(node.op, node.name, node.attrs, node.extra,
                       [(mapping[id(s)], i) for s, i in node.inputs])
            mapping[id(node)] = new
        return Symbol([(mapping[id(n)], i) for n, i in self._outputs])

    def __repr__(self):
        if len(self._outputs) == 1:
            return '<Symbol %s>' % self.name
        return '<Symbol group [%s]>' % ', '.join(self.list_outputs())

    def __getstate__(self):
        return {'json': self.tojson(remove_amp_cast=False)}

    def __setstate__(self, state):
        self._outputs = load_json(state['json'])._outputs

    # ---- attributes --------------------------------------------------------------------
    def attr(self, key):
        """An attribute of this single-output symbol's node, as a string, or None."""
        node = self._outputs[0][0]
        for k in (key, '__%s__' % key if key in HIDDEN_KEYS else None):
            if k in node.extra:
                return node.extra[k]
            if k in node.attrs:
                return node.attrs[k]
        return None

    def list_attr(self, recursive=False):
        """This node's attributes (MXNet shows hidden keys both as ``__k__`` and ``k``)."""
        if recursive:
            raise DeprecationWarning('list_attr(recursive=True) is gone; use attr_dict()')
        return _with_plain_keys(self._outputs[0][0])

    def attr_dict(self):
        """``{node name: {key: value}}`` for every node that has attributes."""
        out = {}
        for node in self._topo():
            d = _with_plain_keys(node)
            if d:
                out[node.name] = d
        return out

    def _set_attr(self, **kwargs):
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError('Set Attr only accepts string values')
            for node, _ in self._outputs:
                node.extra[k] = v

    # ---- composition -------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """Compose: replace this symbol's variables with other symbols, by position or name."""
        s = self.__deepcopy__(None)
        s._compose(*args, **kwargs)
        return s

    def _compose(self, *args, **kwargs):
        kwargs.pop('name', None)
        arg_names = self.list_arguments()
        if args and kwargs:
            raise TypeError('compose only accepts input Symbols either as positional or '
                            'keyword arguments, not both')
        repl = dict(zip(arg_names, args)) if args else dict(kwargs)
        for k, v in repl.items():
            if not isinstance(v, Symbol) or len(v) != 1:
                raise TypeError('compose: %r must be a single-output Symbol' % k)
        for node in self._topo():
            node.inputs = [(repl[s.name]._outputs[0] if s.op is None and s.name in repl
                            else (s, i)) for s, i in node.inputs]
        self._outputs = [repl[n.name]._outputs[0] if n.op is None and n.name in repl else (n, i)
                         for n, i in self._outputs]

    # ---- arithmetic --------------------------------------------------------------------
    def _binary(self, other, op_sym, op_scalar, reflect=False):
        # through mx.sym._internal's functions, looked up now: what amp.init wraps applies
        if isinstance(other, Symbol):
            a, b = (other, self) if reflect else (self, other)
            return internal_function(op_sym)(a, b)
        if isinstance(other, numeric_types):
            return internal_function(op_scalar)(self, scalar=other)
        raise TypeError('type %s not supported' % type(other))

    def __add__(self, o): return self._binary(o, '_Plus', '_PlusScalar')
    __radd__ = __add__
    def __sub__(self, o): return self._binary(o, '_Minus', '_MinusScalar')
    def __rsub__(self, o): return self._binary(o, '_Minus', '_RMinusScalar', True)
    def __mul__(self, o): return self._binary(o, '_Mul', '_MulScalar')
    __rmul__ = __mul__
    def __truediv__(self, o): return self._binary(o, '_Div', '_DivScalar')
    def __rtruediv__(self, o): return self._binary(o, '_Div', '_RDivScalar', True)
    def __pow__(self, o): return self._binary(o, '_Power', '_PowerScalar')
    def __rpow__(self, o): return self._binary(o, '_Power', '_RPowerScalar', True)
    def __eq__(self, o): return self._binary(o, '_equal', '_equal_scalar')
    def __ne__(self, o): return self._binary(o, '_not_equal', '_not_equal_scalar')
    def __gt__(self, o): return self._binary(o, '_greater', '_greater_scalar')
    def __ge__(self, o): return self._binary(o, '_greater_equal', '_greater_equal_scalar')
    def __lt__(self, o): return self._binary(o, '_lesser', '_lesser_scalar')
    def __le__(self, o): return self._binary(o, '_lesser_equal', '_lesser_equal_scalar')
    __hash__ = object.__hash__

    def __neg__(self):
        return self.__mul__(-1.0)

    def __abs__(self):
        return _create('abs', [self], {})

    def __bool__(self):
        from ..base import NotImplementedForSymbol
        raise NotImplementedForSymbol(self.__bool__, 'bool')

    # ---- inference ---------------------------------------------------------------------
    def _given(self, args, kwargs, what):
        arg_names = self.list_arguments()
        aux_names = self.list_auxiliary_states()
        given = {}
        if args:
            if len(args) > len(arg_names):
                raise MXNetError('%s: %d positional values for %d arguments %s'
                                 % (what, len(args), len(arg_names), arg_names))
            given.update((n, v) for n, v in zip(arg_names, args) if v is not None)
        for k, v in kwargs.items():
            if k not in arg_names and k not in aux_names:
                raise MXNetError('%s: %r is not an argument of this symbol; arguments are %s'
                                 % (what, k, arg_names + aux_names))
            if v is not None:
                given[k] = v
        return given

    def _infer_shapes(self, given):
        """Propagate shapes to a fixed point; returns {entry: shape} keyed by (id, index)."""
        order = self._topo()
        known = {}
        for node in order:
            if node.op is None:
                s = given.get(node.name)
                attr = node.extra.get('__shape__')
                if attr is not None:
                    s2 = registry._parse_tuple(attr)
                    s = s2 if s is None else (merge_shape(tuple(s), s2) or tuple(s))
                if s is not None:
                    known[(id(node), 0)] = tuple(s)

        def infer(node, ins, outs, aux):
            return infer_op_shapes(node.proto(), node.name, ins, outs, aux,
                                   sources=[s.output_names()[i] for s, i in node.inputs])
        return _propagate(order, known, infer)

    def _shape_lists(self, known):
        args, auxs = self._arg_nodes()
        return ([known.get((id(n), 0)) for n in args],
                [known.get((id(n), i)) for n, i in self._outputs],
                [known.get((id(n), 0)) for n in auxs])

    def infer_shape(self, *args, **kwargs):
        """``(arg_shapes, out_shapes, aux_shapes)`` from some argument shapes.

        Returns ``(None, None, None)`` (with a warning) when the given shapes are not enough.
        """
        res = self._shape_lists(self._infer_shapes(self._given(args, kwargs, 'infer_shape')))
        if any(s is None or 0 in s for lst in res for s in lst):
            unknown = [n for n, s in zip(self.list_arguments(), res[0]) if s is None or 0 in s]
            warnings.warn('Cannot decide the shape of the arguments %s; give more input shapes '
                          'or use infer_shape_partial' % unknown, stacklevel=2)
            return None, None, None
        return res

    def infer_shape_partial(self, *args, **kwargs):
        """Like ``infer_shape`` but unknown shapes come back as ``()`` and unknown dimensions
        as 0 (under ``mx.util.np_shape(True)``: ``None`` and -1)."""
        from ..util import is_np_shape
        given = self._given(args, kwargs, 'infer_shape')
        if is_np_shape():
            given = {k: None if v is None else tuple(0 if d == -1 else d for d in v)
                     for k, v in given.items()}
        res = self._shape_lists(self._infer_shapes(given))
        if is_np_shape():
            return tuple([None if s is None else tuple(-1 if d == 0 else d for d in s)
                          for s in lst] for lst in res)
        return tuple([s if s is not None else () for s in lst] for lst in res)

    def _infer_types(self, given):
        """Propagate dtypes (names) to a fixed point, like ``_infer_shapes``."""
        order = self._topo()
        known = {}
        for node in order:
            if node.op is None:
                t = given.get(node.name)
                attr = node.extra.get('__dtype__')
                if t is None and attr is not None:
                    t = FLAG_TO_DTYPE[int(attr)] if attr.isdigit() else attr
                if t is not None:
                    known[(id(node), 0)] = dtype_np(t).name

        def infer(node, ins, outs, aux):
            return infer_op_types(node.proto(), node.name, ins, outs, aux)
        return _propagate(order, known, infer)

    def infer_type(self, *args, **kwargs):
        """``(arg_types, out_types, aux_types)`` as NumPy types, or Nones when incomplete."""
        given = self._given(args, kwargs, 'infer_type')
        res = self._shape_lists(self._infer_types(given))
        if any(t is None for lst in res for t in lst):
            return None, None, None
        return tuple([np.dtype(t).type for t in lst] for lst in res)

    def infer_type_partial(self, *args, **kwargs):
        res = self._shape_lists(self._infer_types(self._given(args, kwargs, 'infer_type')))
        return tuple([np.dtype(t).type if t else None for t in lst] for lst in res)

    # ---- serialisation -----------------------------------------------------------------
    def tojson(self, remove_amp_cast=True):
        """This graph in MXNet 1.9's symbol JSON schema (without the ``amp_cast``/
        ``amp_multicast`` nodes AMP inserted that feed other nodes, unless
        ``remove_amp_cast=False``)."""
        if remove_amp_cast:
            stripped = self._without_amp_cast()
            if stripped is not self:
                return stripped.tojson(remove_amp_cast=False)
        order = self._topo()
        index = {id(n): i for i, n in enumerate(order)}
        nodes, row_ptr = [], [0]
        for n in order:
            entry = {'op': 'null' if n.op is None else n.op.name, 'name': n.name}
            attrs = dict(n.attrs)
            attrs.update(n.extra)
            if attrs:
                entry['attrs'] = attrs
            entry['inputs'] = [[index[id(s)], i, 0] for s, i in n.inputs]
            nodes.append(entry)
            row_ptr.append(row_ptr[-1] + n.num_outputs())
        doc = {'nodes': nodes,
               'arg_nodes': [i for i, n in enumerate(order) if n.op is None],
               'node_row_ptr': row_ptr,
               'heads': [[index[id(n)], i, 0] for n, i in self._outputs],
               'attrs': {'mxnet_version': ['int', MXNET_VERSION]}}
        return json.dumps(doc, indent=2)

    def save(self, fname, remove_amp_cast=True):
        """Write ``tojson(remove_amp_cast)`` to ``fname`` atomically."""
        from ..serialization import atomic_write
        atomic_write(fname, self.tojson(remove_amp_cast=remove_amp_cast).encode('utf-8'))

    def _without_amp_cast(self):
        """This symbol without the AMP casts that feed other nodes (each reader reads the
        cast's input instead); a cast that is an output of the graph stays, as in MXNet.
        ``self`` when there is none."""
        graph = self.graph()
        if not any(n.op is not None and n.op.name in AMP_CASTS for n in graph.nodes):
            return self
        copies, through = {}, {}

        def source(entry):
            node, index = entry
            if id(node) in through:
                return through[id(node)][index]
            return (copies[id(node)], index)
        for node in graph.nodes:
            inputs = [source(e) for e in node.inputs]
            copies[id(node)] = Node(node.op, node.name, node.attrs, node.extra, inputs)
            if node.op is not None and node.op.name in AMP_CASTS:
                through[id(node)] = inputs          # readers skip it; an output keeps it
        return Symbol([(copies[id(n)], i) for n, i in graph.heads])

    def debug_str(self):
        lines = []
        for n in self._topo():
            if n.op is None:
                lines.append('Variable:%s' % n.name)
            else:
                lines.append('Op:%s, Name=%s' % (n.op.name, n.name))
                for j, (s, i) in enumerate(n.inputs):
                    lines.append('\targ[%d]=%s(%d)' % (j, s.name, i))
                for k, v in sorted(n.attrs.items()):
                    lines.append('\t%s=%s' % (k, v))
        return '\n'.join(lines)

    # ---- binding -----------------------------------------------------------------------
    def simple_bind(self, ctx, grad_req='write', type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **kwargs):
        """Allocate every argument, gradient and auxiliary array from input shapes and bind;
        ``group2ctx`` places the nodes of each ``ctx_group`` on a context (model
        parallelism)."""
        from ..executor import simple_bind
        return simple_bind(self, ctx, grad_req, type_dict, shared_arg_names, shared_exec,
                           shared_buffer, kwargs, group2ctx=group2ctx)

    def eval(self, ctx=None, **kwargs):
        """Bind to the arrays given by name and run forward once; returns the outputs
        (a list of NDArrays), as MXNet's ``Symbol.eval``."""
        from ..context import current_context
        exe = self.bind(ctx if ctx is not None else current_context(), kwargs)
        return exe.forward(is_train=False)

    def _gen_atomic_symbol(self):
        """The head operator alone, over fresh variables named after its inputs."""
        node = self._outputs[0][0]
        if node.op is None:
            return Symbol([(Node(None, node.name, extra=dict(node.extra)), 0)])
        proto = node.proto()
        names = proto.list_arguments() + proto.list_auxiliary_states()
        inputs = [(Node(None, n), 0) for n in names]
        head = Node(node.op, node.name, dict(node.attrs), dict(node.extra), inputs)
        return Symbol([(head, i) for i in range(head.num_outputs())])

    def bind(self, ctx, args, args_grad=None, grad_req='write', aux_states=None,
             group2ctx=None, shared_exec=None):
        """Bind to given arrays (list in ``list_arguments()`` order, or dict by name);
        ``group2ctx`` places the nodes of each ``ctx_group`` on a context."""
        from ..executor import Executor
        return Executor(self, ctx, args, args_grad, grad_req, aux_states, group2ctx=group2ctx)

    # a few of MXNet's fluent methods
    def reshape(self, *args, **kwargs):
        if args and 'shape' not in kwargs:
            kwargs['shape'] = args[0] if len(args) == 1 else args
            args = ()
        return _create('Reshape', [self], kwargs)

    def astype(self, dtype):
        return _create('Cast', [self], {'dtype': dtype})


def _fluent(name):
    def method(self, *args, **kwargs):
        return _call_op(name, (self,) + args, kwargs)
    method.__name__ = name
    method.__doc__ = 'Same as ``mx.sym.%s(self, ...)`` (a fluent method, as in MXNet).' % name
    return method


#: MXNet 1.9's fluent methods of Symbol (``x.sum(axis=1)`` is ``mx.sym.sum(x, axis=1)``).
FLUENT_METHODS = (
    'abs', 'arccos', 'arccosh', 'arcsin', 'arcsinh', 'arctan', 'arctanh', 'argmax',
    'argmax_channel', 'argmin', 'argsort', 'broadcast_axes', 'broadcast_like', 'broadcast_to',
    'cast', 'cbrt', 'ceil', 'clip', 'cos', 'cosh', 'degrees', 'depth_to_space', 'diag', 'dot',
    'exp', 'expand_dims', 'expm1', 'fix', 'flatten', 'flip', 'floor', 'log', 'log10', 'log1p',
    'log2', 'log_softmax', 'max', 'mean', 'min', 'nanprod', 'nansum', 'norm', 'one_hot',
    'ones_like', 'pad', 'pick', 'prod', 'radians', 'rcbrt', 'reciprocal', 'relu', 'repeat',
    'reshape_like', 'rint', 'round', 'rsqrt', 'shape_array', 'sigmoid', 'sign', 'sin', 'sinh',
    'size_array', 'slice', 'slice_axis', 'slice_like', 'softmax', 'softmin', 'sort',
    'space_to_depth', 'split', 'split_v2', 'sqrt', 'square', 'squeeze', 'sum', 'swapaxes',
    'take', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'trunc', 'zeros_like')

for _m in FLUENT_METHODS:
    setattr(Symbol, _m, _fluent(_m))


def _as_symbol(value, what):
    if isinstance(value, Symbol):
        if len(value) != 1:
            raise MXNetError('%s is a group of %d outputs %s; pass one of them (sym[i])'
                             % (what, len(value), value.list_outputs()))
        return value._outputs[0]
    raise MXNetError('%s must be a Symbol, got %s' % (what, type(value).__name__))


#: The casts AMP inserts (``amp_cast``, ``amp_multicast``).
AMP_CASTS = ('amp_cast', 'amp_multicast')


def internal_function(op_name):
    """``mx.sym._internal.<op_name>`` as it is now (AMP may have wrapped it)."""
    import sys
    module = sys.modules.get('distmod.symbol._internal')
    fn = getattr(module, op_name, None) if module is not None else None
    return fn if fn is not None else _make(op_name, registry.get(op_name))


def _create(op_name, inputs, params, name=None, attr=None, named=None, hint=None):
    """Make an operator node (auto-named from ``hint``, else ``op_name``) over ``inputs``."""
    cls = registry.get(op_name)
    op = cls(params)
    name = _name.current().get(name, (hint or op_name).lower())
    extra = _scope_attrs(_hidden_as_dunder(attr or {}), "operator '%s' (%s)" % (name, cls.name))
    arg_names = op.list_arguments()
    aux_names = op.list_auxiliary_states()
    named = dict(named or {})
    unknown = [k for k in named if k not in arg_names and k not in aux_names]
    if unknown:
        raise MXNetError("operator '%s' (%s) got unknown input(s) %s; its inputs are %s and "
                         "its parameters %s" % (name, cls.name, unknown, arg_names + aux_names,
                                                sorted(cls.params)))
    if len(inputs) > len(arg_names):
        raise MXNetError("operator '%s' (%s) takes %d inputs %s, got %d"
                         % (name, cls.name, len(arg_names), arg_names, len(inputs)))
    entries = []
    for i, arg in enumerate(arg_names + aux_names):
        value = inputs[i] if i < len(inputs) else named.get(arg)
        what = "operator '%s' (%s) input '%s'" % (name, cls.name, arg)
        if value is None:
            # as in MXNet, a variable an operator creates carries the operator's attributes
            var_extra = dict(op.attrs)
            var_extra.update(extra)
            entries.append((Node(None, '%s_%s' % (name, arg), extra=var_extra), 0))
        else:
            entries.append(_as_symbol(value, what))
    node = Node(cls, name, op.attrs, extra, entries)
    node._proto = op
    return Symbol([(node, i) for i in range(op.output_count())])


def _hidden_as_dunder(attrs):
    """MXNet's hidden attribute keys (``lr_mult``, ``ctx_group``...) stored as ``__key__``."""
    return {('__%s__' % k if k in HIDDEN_KEYS else k): str(v) for k, v in attrs.items()}


def _attribute_keywords(kwargs, skip=()):
    """Pop the keyword arguments that are attributes, not parameters: ``__dunder__`` keys and
    MXNet's hidden keys given plainly (``lr_mult=2``, ``ctx_group='dev1'``), as ``__key__``;
    names in ``skip`` (the operator's parameters) stay."""
    out = {}
    for k in list(kwargs):
        if k in skip:
            continue
        if (k.startswith('__') and k.endswith('__')) or k in HIDDEN_KEYS:
            out['__%s__' % k if k in HIDDEN_KEYS else k] = str(kwargs.pop(k))
    return out


def _call_op(op_name, args, kwargs, hint=None):
    cls = registry.get(op_name)
    name = kwargs.pop('name', None)
    attr = kwargs.pop('attr', None)
    keyword_attrs = _attribute_keywords(kwargs, skip=cls.params)
    if keyword_attrs:
        attr = dict(attr or {}, **keyword_attrs)
    from ..ndarray.op import split_call
    params, inputs, named = split_call(cls, args, kwargs, lambda a: isinstance(a, Symbol))
    registry.check_input_names(cls, named)
    return _create(op_name, inputs, params, name=name, attr=attr, named=named, hint=hint)


def _make(op_name, cls, hint=None):
    """``mx.sym.<op_name>``; ``hint``: the automatic name's stem when not the operator's name
    (``mx.sym.contrib.box_nms`` names its nodes ``box_nms0``, as MXNet's does)."""
    def fn(*args, **kwargs):
        return _call_op(op_name, args, kwargs, hint)
    fn.__name__ = hint or op_name
    fn.__doc__ = cls.__doc__
    return fn


def namespace_function(op_name, public):
    """``mx.sym.<namespace>.<public>``, the operator ``op_name`` under its namespace name."""
    return _make(op_name, registry.get(op_name), hint=public)


def generated_functions():
    return {name: _make(name, cls) for name, cls in registry.all_names().items()}


def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
             stype=None, **kwargs):
    """A named input of the graph: data, label or parameter.

    Example::

        >>> w = mx.sym.Variable('w', shape=(10, 5), lr_mult=2.0, init=mx.init.Xavier())
    """
    if not isinstance(name, str):
        raise TypeError('Expect a string for variable `name`')
    extra = _hidden_as_dunder(_attribute.current().get(attr))
    if shape is not None:
        extra['__shape__'] = str(tuple(shape) if isinstance(shape, (tuple, list)) else
                                 (int(shape),))
    if lr_mult is not None:
        extra['__lr_mult__'] = str(lr_mult)
    if wd_mult is not None:
        extra['__wd_mult__'] = str(wd_mult)
    if dtype is not None:
        extra['__dtype__'] = str(DTYPE_TO_FLAG[dtype_np(dtype).name])
    if init is not None:
        extra['__init__'] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        extra['__storage_type__'] = {'default': '0', 'row_sparse': '1', 'csr': '2'}.get(
            stype, str(stype))
    for k, v in kwargs.items():
        if not (k.startswith('__') and k.endswith('__')):
            raise ValueError('Attribute name=%s is not supported. Additional attributes must '
                             'start and end with double underscores, e.g, __yourattr__' % k)
        extra[k] = str(v)
    return Symbol([(Node(None, name, extra=extra), 0)])


var = Variable


def Group(symbols):
    """One symbol whose outputs are the outputs of ``symbols``, in order."""
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError('Expected a list of symbols as input')
    return Symbol([o for s in symbols for o in s._outputs])


def load_json(json_str):
    """A Symbol from MXNet symbol JSON (``tojson()`` output, or a file MXNet wrote)."""
    try:
        doc = json.loads(json_str)
        raw_nodes = doc['nodes']
        heads = doc['heads']
    except (ValueError, KeyError, TypeError) as e:
        raise MXNetError('not an MXNet symbol JSON document: %s' % e) from None
    nodes = []
    for i, raw in enumerate(raw_nodes):
        attrs = {}
        for key in ('param', 'attr', 'attrs'):     # older files use param / attr
            if isinstance(raw.get(key), dict):
                attrs.update({k: str(v) for k, v in raw[key].items()})
        try:
            inputs = [(nodes[e[0]], e[1]) for e in raw.get('inputs', [])]
        except IndexError:
            raise MXNetError('symbol JSON node %d (%s) refers to a later node' %
                             (i, raw.get('name'))) from None
        op_name = raw.get('op', 'null')
        if op_name == 'null':
            nodes.append(Node(None, raw['name'], extra=attrs))
            continue
        cls = registry.find(op_name)
        if cls is None:
            raise MXNetError("symbol JSON node '%s' uses operator %r, which distmod does not "
                             "have" % (raw.get('name'), op_name))
        params = {k: v for k, v in attrs.items() if k in cls.params}
        extra = {k: v for k, v in attrs.items() if k not in cls.params}
        odd = [k for k in extra if not (k.startswith('__') and k.endswith('__'))
               and k not in HIDDEN_KEYS]
        if odd:
            raise MXNetError("symbol JSON node '%s' (%s) has parameters %s that distmod's %s "
                             "does not take" % (raw['name'], op_name, odd, cls.name))
        node = Node(cls, raw['name'], params, extra, inputs)
        try:
            node.proto()
        except MXNetError as e:
            raise MXNetError("symbol JSON node '%s': %s" % (raw['name'], e)) from None
        nodes.append(node)
    return Symbol([(nodes[h[0]], h[1]) for h in heads])


def load(fname):
    """Read a symbol from a ``prefix-symbol.json`` file (ours or MXNet's)."""
    try:
        with open(fname, 'r', encoding='utf-8') as f:
            text = f.read()
    except OSError as e:
        raise MXNetError('cannot read symbol file %s: %s' % (fname, e)) from None
    try:
        return load_json(text)
    except MXNetError as e:
        raise MXNetError('%s: %s' % (fname, e)) from None
