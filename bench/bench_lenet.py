"""Module.fit samples/s on LeNet: distmod against real MXNet 1.9.1, same run.

LeNet (conv 20x5x5, tanh, max-pool 2/2, conv 50x5x5, tanh, max-pool 2/2, flatten, fc 500, tanh,
fc 10, SoftmaxOutput), batch 64, SGD lr 0.05 momentum 0.9, accuracy metric; 6400 random
MNIST-shaped samples (1x28x28) in an NDArrayIter.  One fit of 4 epochs: the first is a warm-up,
the result is the best of the 3 timed epochs (timed by epoch_end_callback).  Each framework runs
in its own subprocess, one after the other: MXNet from its venv (../shared/anchors/mxnet-venv.sh;
MXNET_VENV overrides /tmp/mxnet-anchor), its default oneDNN build with MXNET_SUBGRAPH_BACKEND
unset.  First with 1 thread each (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS), then
with 2.  Prints samples/s and the ratio distmod / MXNet (goal at 1 thread: >= 1.0).

Run: ``python bench/bench_lenet.py [THREADS ...]`` (default: 1 2)
"""
import sys
import textwrap

from reference import RANDOM_MNIST, TIMED_FIT, VENV_PY, require_mxnet, run_workload

N, BATCH, EPOCHS = 6400, 64, 3

WORKLOAD = RANDOM_MNIST + textwrap.dedent('''
    data = mx.sym.Variable('data')
    net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name='conv1')
    net = mx.sym.Activation(net, act_type='tanh', name='tanh1')
    net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2), name='pool1')
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name='conv2')
    net = mx.sym.Activation(net, act_type='tanh', name='tanh2')
    net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2), name='pool2')
    net = mx.sym.Flatten(net, name='flatten')
    net = mx.sym.FullyConnected(net, num_hidden=500, name='fc1')
    net = mx.sym.Activation(net, act_type='tanh', name='tanh3')
    net = mx.sym.FullyConnected(net, num_hidden=10, name='fc2')
    net = mx.sym.SoftmaxOutput(net, name='softmax')
''') + TIMED_FIT.replace('{lr}', '0.05')


def workload(module):
    return (WORKLOAD.replace('{module}', module).replace('{n}', str(N))
            .replace('{batch}', str(BATCH)).replace('{epochs}', str(EPOCHS)))


def run(python, module, threads):
    return run_workload(python, workload(module), threads, distmod=module == 'distmod',
                        drop=('MXNET_SUBGRAPH_BACKEND', 'PYTHONPATH'))


def main():
    require_mxnet()
    threads = [int(t) for t in sys.argv[1:]] or [1, 2]
    print('Module.fit on LeNet, batch %d, SGD momentum, %d samples/epoch, best of %d epochs '
          '(samples/s)' % (BATCH, N, EPOCHS))
    for t in threads:
        ours = run(sys.executable, 'distmod', t)
        theirs = run(VENV_PY, 'mxnet', t)
        print('  %d thread%s  distmod %8.0f   mxnet 1.9.1 %8.0f   ratio %.2f   '
              '(epochs s: distmod %s, mxnet %s)'
              % (t, ' ' if t == 1 else 's', ours['fit'], theirs['fit'],
                 ours['fit'] / theirs['fit'],
                 ' '.join('%.2f' % s for s in ours['epochs_s']),
                 ' '.join('%.2f' % s for s in theirs['epochs_s'])), flush=True)


if __name__ == '__main__':
    main()
