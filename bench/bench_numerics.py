"""What fit's numerics guard costs: Module.fit samples/s with and without ``check_numerics``.

MLP 784-128-64-10, batch 100, SGD with momentum, synthetic MNIST-shaped data (6,000 samples),
one thread.  Both run in this process on the same module, alternating, best of several
rounds, so drift in machine speed hits both.  Also times the guard's two calls alone per
step (``after_backward`` + ``after_update``), which is steadier than the difference of two
noisy rates.  Goal: a few per cent at most.

Run: ``python bench/bench_numerics.py [rounds]``
"""
import os
import sys
import time

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import distmod as mx  # noqa: E402
from distmod.module import numerics  # noqa: E402

BATCH, SAMPLES, SIZES = 100, 6000, (784, 128, 64, 10)


def mlp():
    x = mx.sym.Variable('data')
    for i, n in enumerate(SIZES[1:], 1):
        x = mx.sym.FullyConnected(x, num_hidden=n, name='fc%d' % i)
        if i < len(SIZES) - 1:
            x = mx.sym.Activation(x, act_type='relu', name='relu%d' % i)
    return mx.sym.SoftmaxOutput(x, name='softmax')


def main():
    import logging
    logging.disable(logging.CRITICAL)
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rng = np.random.RandomState(0)
    x = rng.rand(SAMPLES, SIZES[0]).astype(np.float32)
    y = rng.randint(0, SIZES[-1], SAMPLES).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=BATCH)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    opt = {'learning_rate': 0.05, 'momentum': 0.9}
    epoch = [0]

    def fit(check):
        t = time.perf_counter()
        mod.fit(train, num_epoch=epoch[0] + 1, begin_epoch=epoch[0], optimizer='sgd',
                optimizer_params=opt, check_numerics=check)
        epoch[0] += 1
        return SAMPLES / (time.perf_counter() - t)

    fit(False)
    fit(True)                                      # warm up both
    best = {False: 0.0, True: 0.0}
    for r in range(rounds):
        for check in ((False, True) if r % 2 == 0 else (True, False)):
            best[check] = max(best[check], fit(check))

    # the guard alone, on the bound module's last step: what it adds to each step
    guard = numerics.guard_for(mod, True)
    n = 2000
    guard.after_backward(0, 0)
    t = time.perf_counter()
    for i in range(n):
        guard.after_backward(0, i)
        guard.after_update(0, i)
    per_step = (time.perf_counter() - t) / n

    step = BATCH / best[False]

    print('fit, MLP 784-128-64-10, batch %d, SGD momentum, 1 thread, best of %d (samples/s)'
          % (BATCH, rounds))
    print('  without the guard  %9.0f' % best[False])
    print('  check_numerics     %9.0f' % best[True])
    print('  ratio              %9.3f   (cost %.1f%%)'
          % (best[True] / best[False], 100 * (1 - best[True] / best[False])))
    print('  the guard alone: %.1f us per step = %.1f%% of a %.0f us step'
          % (per_step * 1e6, 100 * per_step / step, step * 1e6))


if __name__ == '__main__':
    main()
