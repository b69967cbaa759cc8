"""Module.fit samples/s on the seed's MLP: distmod against real MXNet 1.9.1, same run.

784-128-64-10, batch 100, SGD with momentum, accuracy metric, 1 thread each (OMP, BLAS);
the data is 12,000 random MNIST-shaped samples in an NDArrayIter.  MXNet runs in its own venv
(../shared/anchors/mxnet-venv.sh; MXNET_VENV overrides /tmp/mxnet-anchor) in a subprocess, one
after the other with distmod.  Also predict() and score() throughput.  Prints ratios
(goal for fit: >= 1.5x MXNet).

Run: ``python bench/bench_module.py``
"""
import sys
import textwrap

from reference import VENV_PY, require_mxnet, run_workload


WORKLOAD = textwrap.dedent('''
    import json, logging, sys, time
    import numpy as np
    import {module} as mx
    logging.disable(logging.CRITICAL)
    rng = np.random.RandomState(0)
    x = rng.rand(12000, 784).astype(np.float32)
    y = rng.randint(0, 10, 12000).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=100)
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=128, name='fc1')
    net = mx.sym.Activation(net, act_type='relu', name='relu1')
    net = mx.sym.FullyConnected(net, num_hidden=64, name='fc2')
    net = mx.sym.Activation(net, act_type='relu', name='relu2')
    net = mx.sym.FullyConnected(net, num_hidden=10, name='fc3')
    net = mx.sym.SoftmaxOutput(net, name='softmax')
    mod = mx.mod.Module(net, context=mx.cpu())
    opt = {{'learning_rate': 0.05, 'momentum': 0.9}}
    mod.fit(train, num_epoch=1, optimizer='sgd', optimizer_params=opt)     # warm up
    res = {{}}
    t = time.perf_counter()
    mod.fit(train, num_epoch=3, begin_epoch=1, optimizer='sgd', optimizer_params=opt)
    res['fit'] = 2 * 12000 / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(3):
        out = mod.predict(train)
    out.asnumpy()              # MXNet computes asynchronously: wait for the last result
    mx.nd.waitall()
    res['predict'] = 3 * 12000 / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(3):
        mod.score(train, 'acc')
    res['score'] = 3 * 12000 / (time.perf_counter() - t)
    print(json.dumps(res))
''')


def run(python, module):
    return run_workload(python, WORKLOAD.format(module=module), distmod=module == 'distmod',
                        timeout=1200)


def main():
    require_mxnet()
    ours = run(sys.executable, 'distmod')
    theirs = run(VENV_PY, 'mxnet')
    print('Module on MLP 784-128-64-10, batch 100, SGD momentum, 1 thread (samples/s)')
    for key in ('fit', 'predict', 'score'):
        print('  %-8s distmod %9.0f   mxnet 1.9.1 %9.0f   ratio %.2f'
              % (key, ours[key], theirs[key], ours[key] / theirs[key]))


if __name__ == '__main__':
    main()
