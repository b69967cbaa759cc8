"""Forward+backward time per call of distmod's Convolution and Pooling on LeNet's shapes.

Batch 64: conv1 20x5x5 on 1x28x28 -> pool1 2x2/2 -> conv2 50x5x5 on 20x12x12 -> pool2 2x2/2.
The operators are called directly (no executor), as the executor calls them each step, with
float32 buffers preallocated once; conv1 takes no data gradient (its input is the batch), the
others do.  Best of several rounds.

``convnet``: the layers of MXNet's stochastic-depth convnet instead (batch 100, 28x28: the
1- and 16-channel 3x3 convolutions, BatchNorm, ReLU), the ones distmod's native kernels
serve (``DISTMOD_NATIVE=0`` times the NumPy/OpenBLAS paths).

Run: ``python bench/bench_conv.py [convnet]`` (``OMP_NUM_THREADS`` as you train).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from distmod.ops import get  # noqa: E402
from tests.ops.gradcheck import infer_all  # noqa: E402

BATCH = 64
LAYERS = [
    ('conv1', 'Convolution', {'kernel': (5, 5), 'num_filter': 20}, (BATCH, 1, 28, 28), False),
    ('pool1', 'Pooling', {'kernel': (2, 2), 'stride': (2, 2), 'pool_type': 'max'},
     (BATCH, 20, 24, 24), True),
    ('conv2', 'Convolution', {'kernel': (5, 5), 'num_filter': 50}, (BATCH, 20, 12, 12), True),
    ('pool2', 'Pooling', {'kernel': (2, 2), 'stride': (2, 2), 'pool_type': 'max'},
     (BATCH, 50, 8, 8), True),
]

CONVNET = [
    ('c0', 'Convolution', {'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1), 'no_bias': True},
     (100, 1, 28, 28), False),
    ('c1', 'Convolution', {'kernel': (3, 3), 'num_filter': 16, 'pad': (1, 1), 'no_bias': True},
     (100, 16, 28, 28), True),
    ('bn', 'BatchNorm', {'fix_gamma': False, 'eps': 2e-5, 'momentum': 0.9}, (100, 16, 28, 28),
     True),
    ('relu', 'Activation', {'act_type': 'relu'}, (100, 16, 28, 28), True),
]


def best_ms(fn, rounds=7, calls=10):
    fn()
    best = float('inf')
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best * 1e3


def layer(op_name, attrs, dshape, data_grad):
    op = get(op_name)(attrs)
    _, in_shapes, out_shapes, aux_shapes = infer_all(op, {'data': dshape})
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal(s).astype(np.float32) for s in in_shapes]
    outs = [np.empty(s, np.float32) for s in out_shapes]
    aux = [np.ones(s, np.float32) for s in aux_shapes]
    heads = [rng.standard_normal(s).astype(np.float32) for s in out_shapes]
    igrads = [np.empty_like(a) for a in ins]
    if not data_grad:
        igrads[0] = None

    def fwd():
        op.forward(np, ins, outs, aux, True)

    def bwd():
        op.backward(np, heads, ins, outs, igrads, aux)
    fwd()
    return best_ms(fwd), best_ms(bwd)


def main():
    total_f = total_b = 0.0
    print('%-6s %-12s %-22s %9s %9s %9s' % ('layer', 'op', 'input', 'fwd ms', 'bwd ms',
                                             'f+b ms'))
    layers = CONVNET if sys.argv[1:] == ['convnet'] else LAYERS
    for name, op_name, attrs, dshape, data_grad in layers:
        f, b = layer(op_name, attrs, dshape, data_grad)
        total_f += f
        total_b += b
        print('%-6s %-12s %-22s %9.2f %9.2f %9.2f' % (name, op_name, dshape, f, b, f + b))
    print('%-6s %-12s %-22s %9.2f %9.2f %9.2f' % ('total', '', '', total_f, total_b,
                                                   total_f + total_b))


if __name__ == '__main__':
    main()
