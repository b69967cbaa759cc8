"""Forward+backward steps/s of the seed MLP (784-128-64-10, batch 100): distmod vs NumPy.

The reference is a hand-written NumPy step doing the same math (three dense layers, ReLU,
softmax cross-entropy gradient), written as tightly as one would by hand.  Both run in this
process, one after the other, best of several rounds.  Prints the ratio (goal: >= 0.85).

Run: ``OMP_NUM_THREADS=1 python bench/bench_mlp.py``
"""
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import distmod as mx  # noqa: E402

BATCH, SIZES = 100, (784, 128, 64, 10)


def mlp():
    x = mx.sym.Variable('data')
    for i, n in enumerate(SIZES[1:], 1):
        x = mx.sym.FullyConnected(x, num_hidden=n, name='fc%d' % i)
        if i < len(SIZES) - 1:
            x = mx.sym.Activation(x, act_type='relu', name='relu%d' % i)
    return mx.sym.SoftmaxOutput(x, name='softmax')


def numpy_step_factory(params, x, y):
    """A hand-written step over the same parameters (w1, b1, w2, b2, w3, b3)."""
    w1, b1, w2, b2, w3, b3 = params
    onehot = np.zeros((BATCH, 10), np.float32)
    onehot[np.arange(BATCH), y.astype(int)] = 1

    def step():
        h1 = x @ w1.T + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2.T + b2
        a2 = np.maximum(h2, 0)
        h3 = a2 @ w3.T + b3
        e = np.exp(h3 - h3.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        g3 = p - onehot
        gw3 = g3.T @ a2
        gb3 = g3.sum(0)
        g2 = (g3 @ w3) * (h2 > 0)
        gw2 = g2.T @ a1
        gb2 = g2.sum(0)
        g1 = (g2 @ w2) * (h1 > 0)
        gw1 = g1.T @ x
        gb1 = g1.sum(0)
        return gw1, gb1, gw2, gb2, gw3, gb3
    return step


def rate(fn, seconds=1.0, rounds=5):
    fn()
    best = 0.0
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / rounds * 2:
            fn()
            n += 1
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.float32)
    net = mlp()
    # as Module binds for training: inputs and labels take no gradient
    req = {n: 'null' if n in ('data', 'softmax_label') else 'write' for n in net.list_arguments()}
    exe = net.simple_bind(mx.cpu(), grad_req=req, data=(BATCH, 784), softmax_label=(BATCH,))
    names = ['fc1_weight', 'fc1_bias', 'fc2_weight', 'fc2_bias', 'fc3_weight', 'fc3_bias']
    for n in names:
        exe.arg_dict[n][:] = rng.standard_normal(exe.arg_dict[n].shape) * 0.05
    exe.arg_dict['data'][:] = x
    exe.arg_dict['softmax_label'][:] = y

    def dm_step():
        exe.forward(is_train=True)
        exe.backward()

    ref = numpy_step_factory([exe.arg_dict[n].asnumpy() for n in names], x, y)
    got = ref()
    dm_step()
    err = max(float(np.abs(g - exe.grad_dict[n].asnumpy()).max()) for g, n in zip(got, names))

    r_np = rate(ref)
    r_dm = rate(dm_step)
    r_np = max(r_np, rate(ref))     # interleave so drift in machine speed hits both

    tracemalloc.start()
    for _ in range(5):
        dm_step()
    snap0 = tracemalloc.take_snapshot()
    for _ in range(20):
        dm_step()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in snap1.compare_to(snap0, 'filename'))

    print('mlp 784-128-64-10 batch %d, float32, OMP_NUM_THREADS=%s'
          % (BATCH, os.environ.get('OMP_NUM_THREADS', 'unset')))
    print('  max |grad difference| vs numpy: %.2e' % err)
    print('  hand-written numpy step: %8.1f steps/s' % r_np)
    print('  distmod executor step:   %8.1f steps/s' % r_dm)
    print('  ratio distmod/numpy:     %8.3f (goal >= 0.85)' % (r_dm / r_np))
    print('  Python heap growth over 20 steady-state steps: %d bytes' % growth)


if __name__ == '__main__':
    main()
