"""``mx.viz``: print_summary prints MXNet 1.9.1's table and plot_network builds MXNet's
digraph, for the same symbols (the expected texts were printed by MXNet 1.9.1)."""
import contextlib
import io
import re
import sys

import numpy as np
import pytest

import distmod as mx


def mlp():
    x = mx.sym.Variable('data')
    x = mx.sym.FullyConnected(x, num_hidden=128, name='fc1')
    x = mx.sym.Activation(x, act_type='relu', name='relu1')
    x = mx.sym.FullyConnected(x, num_hidden=64, name='fc2')
    x = mx.sym.Activation(x, act_type='relu', name='relu2')
    x = mx.sym.FullyConnected(x, num_hidden=10, name='fc3')
    return mx.sym.SoftmaxOutput(x, name='softmax')


def lenet():
    x = mx.sym.Variable('data')
    x = mx.sym.Convolution(x, kernel=(5, 5), num_filter=20, name='conv1')
    x = mx.sym.Activation(x, act_type='tanh', name='tanh1')
    x = mx.sym.Pooling(x, pool_type='max', kernel=(2, 2), stride=(2, 2), name='pool1')
    x = mx.sym.Convolution(x, kernel=(5, 5), num_filter=50, name='conv2')
    x = mx.sym.Activation(x, act_type='tanh', name='tanh2')
    x = mx.sym.Pooling(x, pool_type='max', kernel=(2, 2), stride=(2, 2), name='pool2')
    x = mx.sym.Flatten(x, name='flatten')
    x = mx.sym.FullyConnected(x, num_hidden=500, name='fc1')
    x = mx.sym.Activation(x, act_type='tanh', name='tanh3')
    x = mx.sym.FullyConnected(x, num_hidden=10, name='fc2')
    return mx.sym.SoftmaxOutput(x, name='softmax')


def resblock():
    """A residual block (BatchNorm, no_bias convolutions, a skip connection), a grouped
    strided convolution, global pooling, and an Embedding branch concatenated in."""
    d = mx.sym.Variable('data')
    x = mx.sym.Convolution(d, kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True,
                           name='conv0')
    x = mx.sym.BatchNorm(x, fix_gamma=False, name='bn0')
    x = mx.sym.Activation(x, act_type='relu', name='relu0')
    y = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True,
                           name='conv1')
    y = mx.sym.BatchNorm(y, fix_gamma=False, name='bn1')
    y = mx.sym.Activation(y, act_type='relu', name='relu1')
    y = mx.sym.Convolution(y, kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True,
                           name='conv2')
    y = mx.sym.BatchNorm(y, fix_gamma=False, name='bn2')
    z = mx.sym.elemwise_add(x, y, name='add')
    z = mx.sym.Activation(z, act_type='relu', name='relu2')
    z = mx.sym.Convolution(z, kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=32,
                           num_group=2, name='conv3')
    z = mx.sym.Pooling(z, global_pool=True, kernel=(1, 1), pool_type='avg', name='gap')
    z = mx.sym.Flatten(z, name='flat')
    e = mx.sym.Embedding(mx.sym.Variable('tok'), input_dim=50, output_dim=8, name='emb')
    e = mx.sym.Flatten(e, name='eflat')
    z = mx.sym.Concat(z, e, dim=1, name='cat')
    z = mx.sym.FullyConnected(z, num_hidden=10, name='fc')
    return mx.sym.SoftmaxOutput(z, name='softmax')


def split_group():
    """A FullyConnected on a 4-D input, a multi-output op and a Group of two heads."""
    x = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(3, 3), num_filter=4, name='c')
    x = mx.sym.FullyConnected(x, num_hidden=7, name='fc')
    s = mx.sym.split(x, num_outputs=7, axis=1, name='sp')
    return mx.sym.Group([s[0] + s[6], x])


def summary(symbol, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        mx.viz.print_summary(symbol, **kwargs)
    return out.getvalue()


def assert_table(text, expected, line_length):
    lines = text.rstrip('\n').split('\n')
    assert [line.rstrip() for line in lines] == expected.rstrip('\n').split('\n')
    # MXNet pads every row of the table to the full width (the total line is not)
    assert all(len(line) == line_length for line in lines if not line.startswith('Total'))


LENET = """\
________________________________________________________________________________________________________________________
Layer (type)                                        Output Shape            Param #     Previous Layer
========================================================================================================================
data(null)                                          1x28x28                 0
________________________________________________________________________________________________________________________
conv1(Convolution)                                  20x24x24                520         data
________________________________________________________________________________________________________________________
tanh1(Activation)                                   20x24x24                0           conv1
________________________________________________________________________________________________________________________
pool1(Pooling)                                      20x12x12                0           tanh1
________________________________________________________________________________________________________________________
conv2(Convolution)                                  50x8x8                  25050       pool1
________________________________________________________________________________________________________________________
tanh2(Activation)                                   50x8x8                  0           conv2
________________________________________________________________________________________________________________________
pool2(Pooling)                                      50x4x4                  0           tanh2
________________________________________________________________________________________________________________________
flatten(Flatten)                                    800                     0           pool2
________________________________________________________________________________________________________________________
fc1(FullyConnected)                                 500                     400500      flatten
________________________________________________________________________________________________________________________
tanh3(Activation)                                   500                     0           fc1
________________________________________________________________________________________________________________________
fc2(FullyConnected)                                 10                      5010        tanh3
________________________________________________________________________________________________________________________
softmax(SoftmaxOutput)                              10                      0           fc2
========================================================================================================================
Total params: 431080
________________________________________________________________________________________________________________________
"""

RESBLOCK_80 = """\
________________________________________________________________________________
Layer (type)                       Output Shape    Param # Previous Layer
================================================================================
data(null)                         3x32x32         0
________________________________________________________________________________
conv0(Convolution)                 16x32x32        432     data
________________________________________________________________________________
bn0(BatchNorm)                     16x32x32        32      conv0
________________________________________________________________________________
relu0(Activation)                  16x32x32        0       bn0
________________________________________________________________________________
conv1(Convolution)                 16x32x32        2304    relu0
________________________________________________________________________________
bn1(BatchNorm)                     16x32x32        32      conv1
________________________________________________________________________________
relu1(Activation)                  16x32x32        0       bn1
________________________________________________________________________________
conv2(Convolution)                 16x32x32        2304    relu1
________________________________________________________________________________
bn2(BatchNorm)                     16x32x32        32      conv2
________________________________________________________________________________
add(elemwise_add)                  16x32x32        0       relu0
                                                           bn2
________________________________________________________________________________
relu2(Activation)                  16x32x32        0       add
________________________________________________________________________________
conv3(Convolution)                 32x16x16        2336    relu2
________________________________________________________________________________
gap(Pooling)                       32x1x1          0       conv3
________________________________________________________________________________
flat(Flatten)                      32              0       gap
________________________________________________________________________________
emb(Embedding)                     4x8             400
________________________________________________________________________________
eflat(Flatten)                     32              0       emb
________________________________________________________________________________
cat(Concat)                        64              0       flat
                                                           eflat
________________________________________________________________________________
fc(FullyConnected)                 10              650     cat
________________________________________________________________________________
softmax(SoftmaxOutput)             10              0       fc
================================================================================
Total params: 8522
________________________________________________________________________________
"""

MLP_WITHOUT_SHAPES = """\
________________________________________________________________________________________________________________________
Layer (type)                                        Output Shape            Param #     Previous Layer
========================================================================================================================
data(null)                                                                  0
________________________________________________________________________________________________________________________
fc1(FullyConnected)                                                         128         data
________________________________________________________________________________________________________________________
relu1(Activation)                                                           0           fc1
________________________________________________________________________________________________________________________
fc2(FullyConnected)                                                         64          relu1
________________________________________________________________________________________________________________________
relu2(Activation)                                                           0           fc2
________________________________________________________________________________________________________________________
fc3(FullyConnected)                                                         10          relu2
________________________________________________________________________________________________________________________
softmax(SoftmaxOutput)                                                      0           fc3
========================================================================================================================
Total params: 202
________________________________________________________________________________________________________________________
"""

SPLIT_AT_POSITIONS = """\
__________________________________________________________________________________________
Layer (type)                  Output Shape        Param #     Previous Layer
==========================================================================================
data(null)                    3x8x8               0
__________________________________________________________________________________________
c(Convolution)                4x6x6               112         data
__________________________________________________________________________________________
fc(FullyConnected)            7                   35          c
__________________________________________________________________________________________
sp(SliceChannel)                                  0           fc
__________________________________________________________________________________________
_plus0(elemwise_add)          1                   0           sp
                                                              sp
==========================================================================================
Total params: 147
__________________________________________________________________________________________
"""


@pytest.mark.parametrize('build, kwargs, expected, width', [
    (lenet, dict(shape={'data': (64, 1, 28, 28)}), LENET, 120),
    (resblock, dict(shape={'data': (8, 3, 32, 32), 'tok': (8, 4)}, line_length=80),
     RESBLOCK_80, 80),
    (mlp, dict(), MLP_WITHOUT_SHAPES, 120),
    (split_group, dict(shape={'data': (2, 3, 8, 8)}, positions=[30, 50, 62, 90],
                       line_length=90), SPLIT_AT_POSITIONS, 90),
], ids=['lenet', 'resblock_80_columns', 'mlp_without_shapes', 'group_absolute_positions'])
def test_print_summary_prints_mxnets_table(build, kwargs, expected, width):
    with mx.name.NameManager():          # automatic names count from 0, as in MXNet's run
        net = build()
    assert_table(summary(net, **kwargs), expected, width)


def test_print_summary_docstring_example():
    import doctest
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(mx.viz.print_summary, 'print_summary',
                                             globs={'mx': mx}):
        assert runner.run(test).failed == 0


def test_print_summary_errors():
    with pytest.raises(TypeError, match='Symbol'):
        mx.viz.print_summary('not a symbol')
    with pytest.raises(ValueError, match='Input shape is incomplete'):
        mx.viz.print_summary(mlp(), shape={'softmax_label': (4,)})


# ---- plot_network ---------------------------------------------------------------------------
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def graph(dot):
    """(nodes, edges) of a Digraph, whatever the graphviz package's quoting:
    [(name, attrs)], [(tail, head, attrs)]."""
    def attrs(text):
        return {k: v[1:-1] if v.startswith('"') else v for k, v in ATTR.findall(text)}
    nodes, edges = [], []
    for line in dot.body:
        line = line.strip()
        m = re.match(r'^(\S+) -> (\S+) \[(.*)\]$', line, re.S)
        if m:
            edges.append((m.group(1), m.group(2), attrs(m.group(3))))
        else:
            m = re.match(r'^(\S+) \[(.*)\]$', line, re.S)
            nodes.append((m.group(1), attrs(m.group(2))))
    return nodes, edges


# What MXNet 1.9.1's plot_network(lenet(), shape={'data': (64, 1, 28, 28)}) draws
LENET_NODES = [
    ('data', 'data', '#8dd3c7', 'oval'),
    ('conv1', 'Convolution\n5x5/1, 20', '#fb8072', 'box'),
    ('tanh1', 'Activation\ntanh', '#ffffb3', 'box'),
    ('pool1', 'Pooling\nmax, 2x2/2x2', '#80b1d3', 'box'),
    ('conv2', 'Convolution\n5x5/1, 50', '#fb8072', 'box'),
    ('tanh2', 'Activation\ntanh', '#ffffb3', 'box'),
    ('pool2', 'Pooling\nmax, 2x2/2x2', '#80b1d3', 'box'),
    ('flatten', 'flatten', '#fdb462', 'box'),
    ('fc1', 'FullyConnected\n500', '#fb8072', 'box'),
    ('tanh3', 'Activation\ntanh', '#ffffb3', 'box'),
    ('fc2', 'FullyConnected\n10', '#fb8072', 'box'),
    ('softmax_label', 'softmax_label', '#8dd3c7', 'oval'),
    ('softmax', 'softmax', '#fccde5', 'box')]
LENET_EDGES = [
    ('conv1', 'data', '1x28x28'), ('tanh1', 'conv1', '20x24x24'),
    ('pool1', 'tanh1', '20x24x24'), ('conv2', 'pool1', '20x12x12'),
    ('tanh2', 'conv2', '50x8x8'), ('pool2', 'tanh2', '50x8x8'),
    ('flatten', 'pool2', '50x4x4'), ('fc1', 'flatten', '800'), ('tanh3', 'fc1', '500'),
    ('fc2', 'tanh3', '500'), ('softmax', 'fc2', '10'), ('softmax', 'softmax_label', '')]


@pytest.fixture
def graphviz():
    return pytest.importorskip('graphviz', reason='plot_network needs the graphviz package '
                                                  '(pip install graphviz)')


def test_plot_network_draws_mxnets_digraph(graphviz):
    dot = mx.viz.plot_network(lenet(), title='lenet', save_format='png',
                              shape={'data': (64, 1, 28, 28)})
    assert isinstance(dot, graphviz.Digraph)
    assert (dot.name, dot.format) == ('lenet', 'png')
    nodes, edges = graph(dot)
    assert [(n, a['label'], a['fillcolor'], a['shape']) for n, a in nodes] == LENET_NODES
    assert [(t, h, a['label']) for t, h, a in edges] == LENET_EDGES
    for _, a in nodes:
        assert (a['fixedsize'], a['width'], a['height'], a['style']) == \
            ('true', '1.3', '0.8034', 'filled')
    assert all((a['dir'], a['arrowtail']) == ('back', 'open') for _, _, a in edges)


def test_plot_network_weights_dtypes_and_node_attrs(graphviz):
    dot = mx.viz.plot_network(resblock(), shape={'data': (8, 3, 32, 32), 'tok': (8, 4)},
                              dtype={'data': np.float32, 'tok': np.float32},
                              hide_weights=False, node_attrs={'shape': 'oval'})
    nodes, edges = graph(dot)
    names = [n for n, _ in nodes]
    # weights get edges but no node of their own (Graphviz draws them as plain ovals)
    assert 'conv0_weight' not in names and 'tok' in names
    assert all(a['shape'] == 'oval' for _, a in nodes)
    labels = {(t, h): a['label'] for t, h, a in edges}
    assert labels[('conv0', 'conv0_weight')] == '3x3x3(float32)'
    assert labels[('bn0', 'bn0_moving_var')] == '(float32)'
    assert labels[('conv3', 'conv3_weight')] == '8x3x3(float32)'
    assert labels[('add', 'relu0')] == labels[('add', 'bn2')] == '16x32x32(float32)'
    assert dict((n, a['label']) for n, a in nodes)['gap'] == 'Pooling\navg, 1x1/1'
    hidden_nodes, hidden_edges = graph(mx.viz.plot_network(resblock()))
    assert not any(h.endswith(('_weight', '_bias', '_gamma', '_beta', '_moving_mean',
                               '_moving_var')) for _, h, _ in hidden_edges)
    assert len(hidden_edges) == len(edges) - 20


def test_plot_network_without_graphviz_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'graphviz', None)       # import graphviz fails
    with pytest.raises(ImportError, match='pip install graphviz'):
        mx.viz.plot_network(mlp())


def test_plot_network_errors(graphviz):
    with pytest.raises(TypeError, match='Symbol'):
        mx.viz.plot_network('not a symbol')
    with pytest.raises(ValueError, match='Input shape is incomplete'):
        mx.viz.plot_network(mlp(), shape={'softmax_label': (4,)})


def test_mx_viz_is_mx_visualization():
    assert mx.viz is mx.visualization
