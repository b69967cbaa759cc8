"""``mx.viz``: a symbol as a table of layers (``print_summary``) or a graph (``plot_network``).

Both read the symbol's MXNet JSON, so they show what MXNet 1.9 shows for the same symbol:
``print_summary`` prints MXNet's table, ``plot_network`` builds the same Graphviz digraph
(it needs the ``graphviz`` Python package: ``pip install graphviz``).
"""
import json
import re
import warnings

from .symbol import Symbol

__all__ = ['print_summary', 'plot_network']


def _numbers(text):
    """The integers written in a parameter such as ``'(5, 5)'``, as strings."""
    return re.findall(r'\d+', text)


def _output_shapes(symbol, shape):
    """{output name of every internal node: shape} for the given input shapes."""
    internals = symbol.get_internals()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        _, out_shapes, _ = internals.infer_shape(**shape)
    if out_shapes is None:
        raise ValueError('Input shape is incomplete')
    return dict(zip(internals.list_outputs(), out_shapes))


def _entry_key(node):
    """The name under which get_internals() lists a node's (first) output."""
    return node['name'] if node['op'] == 'null' else node['name'] + '_output'


def _layer_params(node, in_channels, out_shape):
    """The parameter count MXNet's summary gives a layer: only Convolution,
    FullyConnected, BatchNorm and Embedding count; ``in_channels`` is the sum of the second
    dimension of the layer's shown inputs (MXNet's rule, even for a 4-D FullyConnected
    input)."""
    op, attrs = node['op'], node.get('attrs', {})
    bias = attrs.get('no_bias') != 'True'
    if op == 'Convolution':
        filters = int(attrs['num_filter'])
        count = in_channels * filters // int(attrs.get('num_group', '1'))
        for k in _numbers(attrs['kernel']):
            count *= int(k)
        return count + (filters if bias else 0)
    if op == 'FullyConnected':
        return (in_channels + (1 if bias else 0)) * int(attrs['num_hidden'])
    if op == 'BatchNorm':
        return int(out_shape[0]) * 2 if out_shape is not None else 0
    if op == 'Embedding':
        return int(attrs['input_dim']) * int(attrs['output_dim'])
    return 0


def print_summary(symbol, shape=None, line_length=120, positions=(.44, .64, .74, 1.)):
    """Print a table of the layers of ``symbol``: name (type), output shape (without the
    batch dimension), parameter count and the layers it reads, then the total.

    Parameters
    ----------
    symbol : Symbol
    shape : dict of str to tuple, optional
        Input shapes (``{'data': (1, 3, 224, 224)}``); without them shapes and the
        parameters that depend on them are left out.
    line_length : int
        Width of the table.
    positions : sequence of float or int
        Where each column ends: fractions of ``line_length`` when the last is at most 1,
        else character positions.

    Example::

        >>> net = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=10, name='fc')
        >>> mx.viz.print_summary(net, shape={'data': (1, 20)}, line_length=80)
        ________________________________________________________________________________
        Layer (type)                       Output Shape    Param # Previous Layer
        ================================================================================
        data(null)                         20              0
        ________________________________________________________________________________
        fc(FullyConnected)                 10              210     data
        ================================================================================
        Total params: 210
        ________________________________________________________________________________
    """
    if not isinstance(symbol, Symbol):
        raise TypeError('symbol must be Symbol')
    shapes = _output_shapes(symbol, shape) if shape is not None else None
    doc = json.loads(symbol.tojson())
    nodes = doc['nodes']
    # MXNet's rule for which variables count as a layer's inputs: those whose node number
    # appears in the first head entry [node, output, version], which always includes node 0
    # (the data variable of an ordinary network).
    head_numbers = set(doc['heads'][0])
    positions = list(positions)
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]

    def row(fields):
        line = ''
        for field, end in zip(fields, positions):
            line = (line + str(field))[:end]
            line += ' ' * (end - len(line))
        print(line)

    def shape_of(node):
        if shapes is None:
            return None
        found = shapes.get(_entry_key(node))
        return None if found is None else tuple(found[1:])

    print('_' * line_length)
    row(['Layer (type)', 'Output Shape', 'Param #', 'Previous Layer'])
    print('=' * line_length)
    total = 0
    last = len(nodes) - 1
    for i, node in enumerate(nodes):
        is_var = node['op'] == 'null'
        if is_var and i > 0:
            continue
        previous, in_channels = [], 0
        if not is_var:
            for src, _, _ in node['inputs']:
                inp = nodes[src]
                if inp['op'] != 'null' or src in head_numbers:
                    previous.append(inp['name'])
                    s = shape_of(inp)
                    if s:
                        in_channels += int(s[0])
        out_shape = shape_of(node) if (not is_var or i in head_numbers) else None
        params = _layer_params(node, in_channels, out_shape)
        total += params
        row(['%s(%s)' % (node['name'], node['op']),
             'x'.join(str(d) for d in out_shape or ()), params,
             previous[0] if previous else ''])
        for name in previous[1:]:
            row(['', '', '', name])
        print(('=' if i == last else '_') * line_length)
    print('Total params: %d' % total)
    print('_' * line_length)


_WEIGHT_SUFFIXES = ('_weight', '_bias', '_beta', '_gamma', '_moving_var', '_moving_mean',
                    '_running_var', '_running_mean')
# MXNet's palette: inputs, weighted layers, activations, BatchNorm, pooling, shape ops,
# Softmax, everything else
_COLORS = ('#8dd3c7', '#fb8072', '#ffffb3', '#bebada', '#80b1d3', '#fdb462', '#b3de69',
           '#fccde5')


def _node_look(node):
    """(label, fill colour) of an operator node, as MXNet draws it."""
    op, name, attrs = node['op'], node['name'], node.get('attrs', {})
    if op == 'Convolution':
        stride = 'x'.join(_numbers(attrs['stride'])) if 'stride' in attrs else '1'
        return ('Convolution\n%s/%s, %s' % ('x'.join(_numbers(attrs['kernel'])), stride,
                                            attrs['num_filter']), _COLORS[1])
    if op == 'FullyConnected':
        return 'FullyConnected\n%s' % attrs['num_hidden'], _COLORS[1]
    if op == 'BatchNorm':
        return name, _COLORS[3]
    if op == 'Activation':
        return 'Activation\n%s' % attrs['act_type'], _COLORS[2]
    if op == 'LeakyReLU':
        return 'LeakyReLU\n%s' % attrs.get('act_type', 'Leaky'), _COLORS[2]
    if op == 'Pooling':
        kernel = 'x'.join(_numbers(attrs['kernel'])) if 'kernel' in attrs else '[]'
        stride = 'x'.join(_numbers(attrs['stride'])) if 'stride' in attrs else '1'
        return 'Pooling\n%s, %s/%s' % (attrs['pool_type'], kernel, stride), _COLORS[4]
    if op in ('Concat', 'Flatten', 'Reshape'):
        return name, _COLORS[5]
    if op == 'Softmax':
        return name, _COLORS[6]
    if op == 'Custom':
        return attrs['op_type'], _COLORS[7]
    return name, _COLORS[7]


def plot_network(symbol, title='plot', save_format='pdf', shape=None, dtype=None,
                 node_attrs=None, hide_weights=True):
    """A ``graphviz.Digraph`` of ``symbol``'s graph, drawn as MXNet draws it.

    Parameters
    ----------
    symbol : Symbol
    title : str
        The digraph's name.
    save_format : str
        The format ``render()``/``view()`` write ('pdf', 'png', 'svg', ...).
    shape : dict of str to tuple, optional
        Input shapes: each edge is labelled with the shape it carries (without the batch
        dimension).
    dtype : dict of str to type, optional
        Input dtypes: each edge's label also gets its dtype.
    node_attrs : dict, optional
        Graphviz node attributes that replace the defaults (``{'shape': 'oval'}``).
    hide_weights : bool
        Leave out the variables named like parameters (``*_weight``, ``*_bias``,
        ``*_gamma``, ``*_beta``, moving statistics) and their edges.

    Needs the ``graphviz`` Python package (``pip install graphviz``; drawing files also
    needs Graphviz's ``dot`` program). Example::

        >>> dot = mx.viz.plot_network(net, shape={'data': (1, 784)})   # doctest: +SKIP
        >>> dot.render('mlp')                                          # doctest: +SKIP
    """
    try:
        from graphviz import Digraph
    except ImportError:
        raise ImportError('mx.viz.plot_network needs the graphviz Python package: '
                          'pip install graphviz (and, to render files, the Graphviz '
                          'programs: apt-get install graphviz)') from None
    if not isinstance(symbol, Symbol):
        raise TypeError('symbol must be a Symbol')
    shapes = _output_shapes(symbol, shape) if shape is not None else None
    types = None
    if dtype is not None:
        internals = symbol.get_internals()
        _, out_types, _ = internals.infer_type(**dtype)
        if out_types is None:
            raise ValueError('Input type is incomplete')
        types = dict(zip(internals.list_outputs(), out_types))
    nodes = json.loads(symbol.tojson())['nodes']
    names = [n['name'] for n in nodes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        warnings.warn('There are multiple variables with the same name in your graph, this '
                      'may result in cyclic graph. Repeated names: ' + ','.join(repeated),
                      RuntimeWarning, stacklevel=2)
    base_attrs = {'shape': 'box', 'fixedsize': 'true', 'width': '1.3', 'height': '0.8034',
                  'style': 'filled'}
    base_attrs.update(node_attrs or {})
    dot = Digraph(name=title, format=save_format)
    hidden = set()
    for node in nodes:
        name = node['name']
        attrs = dict(base_attrs)
        if node['op'] == 'null':
            if name.endswith(_WEIGHT_SUFFIXES):
                # hidden: no node, no edges; shown (hide_weights=False): edges to a node
                # Graphviz makes up (an empty oval), as in MXNet
                if hide_weights:
                    hidden.add(name)
                continue
            attrs['shape'] = 'oval'
            label, attrs['fillcolor'] = name, _COLORS[0]
        else:
            label, attrs['fillcolor'] = _node_look(node)
        dot.node(name=name, label=label, **attrs)

    def entry_key(src):
        key = _entry_key(src)
        if src['op'] != 'null' and 'num_outputs' in src.get('attrs', {}):
            # MXNet labels an edge from a multi-output node with its last output
            key += str(int(src['attrs']['num_outputs']) - 1)
        return key

    for node in nodes:
        if node['op'] == 'null':
            continue
        inputs = node['inputs']
        if node['op'] == '_contrib_BilinearResize2D':
            inputs = inputs[:1]
        for src_index, _, _ in inputs:
            src = nodes[src_index]
            if src['name'] in hidden:
                continue
            attrs = {'dir': 'back', 'arrowtail': 'open', 'label': ''}
            if shapes is not None:
                attrs['label'] = 'x'.join(str(d) for d in shapes[entry_key(src)][1:])
            if types is not None:
                attrs['label'] += '(%s)' % types[entry_key(src)].__name__
            dot.edge(tail_name=node['name'], head_name=src['name'], **attrs)
    return dot
