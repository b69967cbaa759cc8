"""MXNet's SequentialModule example: an MNIST MLP cut into two modules and chained.

The first module is 784 -> 128 (relu) without labels; the second 128 -> 64 (relu) -> 10 with
the softmax loss, taking the labels and wired to the first one's output (``auto_wiring``).
Trains exactly like the single Module it is cut from.  With the example's settings (default
Uniform(0.01) initialisation, SGD 0.01 with momentum 0.9) the test accuracy is 0.851 after 2
epochs (real MXNet 1.9.1 running this same file gets 0.847) and 0.968 after 10.

Data-parallel: ``--kv-store dist_sync`` under ``distmod-launch -n N`` (the default ``local``
store is MXNet's example as it is); rank 0 prints the test accuracy.

Run: ``python examples/sequential_module.py [num_epoch] [--kv-store dist_sync]``
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distmod as mx  # noqa: E402
from mnist_data import get_mnist  # noqa: E402


def main(n_epoch=2, batch_size=100, kv_store='local'):
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    files = get_mnist()
    mx.random.seed(10)
    kv = mx.kv.create(kv_store)

    # module 1
    data = mx.symbol.Variable('data')
    fc1 = mx.symbol.FullyConnected(data, name='fc1', num_hidden=128)
    act1 = mx.symbol.Activation(fc1, name='relu1', act_type='relu')
    mod1 = mx.mod.Module(act1, label_names=[])

    # module 2
    data = mx.symbol.Variable('data')
    fc2 = mx.symbol.FullyConnected(data, name='fc2', num_hidden=64)
    act2 = mx.symbol.Activation(fc2, name='relu2', act_type='relu')
    fc3 = mx.symbol.FullyConnected(act2, name='fc3', num_hidden=10)
    softmax = mx.symbol.SoftmaxOutput(fc3, name='softmax')
    mod2 = mx.mod.Module(softmax)

    # the container
    mod_seq = mx.mod.SequentialModule()
    mod_seq.add(mod1).add(mod2, take_labels=True, auto_wiring=True)

    train_dataiter = mx.io.MNISTIter(image=files['train-images-idx3-ubyte'],
                                     label=files['train-labels-idx1-ubyte'],
                                     data_shape=(784,), batch_size=batch_size, shuffle=True,
                                     flat=True, silent=False, seed=10)
    val_dataiter = mx.io.MNISTIter(image=files['t10k-images-idx3-ubyte'],
                                   label=files['t10k-labels-idx1-ubyte'],
                                   data_shape=(784,), batch_size=batch_size, shuffle=True,
                                   flat=True, silent=False)

    mod_seq.fit(train_dataiter, eval_data=val_dataiter,
                optimizer_params={'learning_rate': 0.01, 'momentum': 0.9}, num_epoch=n_epoch,
                kvstore=kv)
    acc = mod_seq.score(val_dataiter, 'acc')[0][1]
    if kv.rank == 0:
        print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('num_epoch', type=int, nargs='?', default=2)
    parser.add_argument('--kv-store', default='local', help='local, or dist_sync across ranks')
    args = parser.parse_args()
    main(args.num_epoch, kv_store=args.kv_store)
