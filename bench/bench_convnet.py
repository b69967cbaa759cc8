"""Module.fit samples/s on the convnet of MXNet's stochastic-depth MNIST example: distmod
against real MXNet 1.9.1, same run.

The network (our own symbol code, the example's shape with every block alive): conv 16x3x3
pad 1 without bias -> BatchNorm -> relu, then a residual block of two such convolutions (the second
without relu) added to its input, relu, flatten, fc 10, SoftmaxOutput; batch 100 of
MNIST-shaped random data (1x28x28), SGD lr 0.01 momentum 0.9, accuracy metric.  One fit of
4 epochs of 3000 samples: the first is a warm-up, the result is the best of the 3 timed ones.
Each library runs in its own subprocess, one after the other, MXNet from its venv
(../shared/anchors/mxnet-venv.sh; MXNET_VENV overrides /tmp/mxnet-anchor) with its default
oneDNN build.  ``default`` runs each library with no thread variable set, as a user's script
runs (MXNet then takes half the processors on x86, distmod the physical cores); a number N
runs both with N threads.

Run: ``python bench/bench_convnet.py [default|N ...]`` (default: default 1)
"""
import sys
import textwrap

from reference import RANDOM_MNIST, TIMED_FIT, VENV_PY, require_mxnet, run_workload

N, BATCH, EPOCHS = 3000, 100, 3
THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS',
               'MXNET_OMP_MAX_THREADS')

WORKLOAD = RANDOM_MNIST + textwrap.dedent('''

    def conv_bn(data, name, relu):
        net = mx.sym.Convolution(data, num_filter=16, kernel=(3, 3), pad=(1, 1),
                                 no_bias=True, name=name + '_conv')
        net = mx.sym.BatchNorm(net, momentum=0.9, fix_gamma=False, eps=2e-5,
                               name=name + '_bn')
        return mx.sym.Activation(net, act_type='relu') if relu else net

    net = conv_bn(mx.sym.Variable('data'), 'c0', True)
    block = conv_bn(conv_bn(net, 'c1', True), 'c2', False)
    net = mx.sym.Activation(net + block, act_type='relu')
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=10, name='fc')
    net = mx.sym.SoftmaxOutput(net, name='softmax')
''') + TIMED_FIT.replace('{lr}', '0.01')


def workload(module):
    return (WORKLOAD.replace('{module}', module).replace('{n}', str(N))
            .replace('{batch}', str(BATCH)).replace('{epochs}', str(EPOCHS)))


def run(python, module, threads):
    drop = ('MXNET_SUBGRAPH_BACKEND', 'PYTHONPATH')
    if threads == 'default':
        code = ('import os\nfor _v in %r: os.environ.pop(_v, None)\n' % (THREAD_VARS,)
                + workload(module))
        return run_workload(python, code, 1, distmod=module == 'distmod', drop=drop)
    return run_workload(python, workload(module), int(threads), distmod=module == 'distmod',
                        drop=drop)


def measure(threads):
    """(distmod samples/s, MXNet samples/s, their epoch times) at ``threads``."""
    ours = run(sys.executable, 'distmod', threads)
    theirs = run(VENV_PY, 'mxnet', threads)
    return ours, theirs


def main():
    require_mxnet()
    modes = sys.argv[1:] or ['default', '1']
    print('Module.fit on the stochastic-depth MNIST convnet, batch %d, SGD momentum, %d '
          'samples/epoch, best of %d epochs (samples/s)' % (BATCH, N, EPOCHS))
    for t in modes:
        ours, theirs = measure(t)
        print('  threads %-8s distmod %7.0f   mxnet 1.9.1 %7.0f   ratio %.2f   '
              '(epochs s: distmod %s, mxnet %s)'
              % (t, ours['fit'], theirs['fit'], ours['fit'] / theirs['fit'],
                 ' '.join('%.2f' % s for s in ours['epochs_s']),
                 ' '.join('%.2f' % s for s in theirs['epochs_s'])), flush=True)


if __name__ == '__main__':
    main()
