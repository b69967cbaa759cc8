"""Small models and data that several test files train on (each file may still build its own
where the shape is what it tests)."""
import numpy as np


def mlp(mx, hidden, classes):
    """data -> FullyConnected(hidden) 'fc1' -> relu -> FullyConnected(classes) 'fc2' ->
    SoftmaxOutput 'softmax'."""
    net = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=hidden, name='fc1')
    net = mx.sym.Activation(net, act_type='relu')
    net = mx.sym.FullyConnected(net, num_hidden=classes, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def clusters(n, shape, classes=10, spread=3.0, seed=0):
    """``n`` float32 samples of ``shape``, each its class's centre (drawn with ``spread``)
    plus unit noise, and their float32 labels: separable, so a short fit reaches a high
    accuracy."""
    rng = np.random.RandomState(seed)
    size = int(np.prod(shape))
    centres = rng.randn(classes, size) * spread
    y = rng.randint(0, classes, n)
    x = (centres[y] + rng.randn(n, size)).reshape((n,) + tuple(shape))
    return x.astype(np.float32), y.astype(np.float32)
