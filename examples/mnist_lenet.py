"""LeNet on MNIST, MXNet's classic convolutional example, run unchanged but for the import.

conv 20x5x5, tanh, max-pool 2, conv 50x5x5, tanh, max-pool 2, fc 500, tanh, fc 10, softmax;
SGD with momentum, batch 100, Xavier initialisation.  The data is MNIST's original IDX files
(examples/mnist_data.py fetches them): at least 0.99 test accuracy; the figures are in
the README ("Examples and figures").

Data-parallel: the ``dist_sync`` kvstore is a local store in one process; the same file runs
on N ranks with ``distmod-launch -n N python examples/mnist_lenet.py`` (rank 0 logs and prints
the test accuracy).

Run: ``python examples/mnist_lenet.py [num_epoch]``
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distmod as mx  # noqa: E402
from mnist_data import get_mnist  # noqa: E402


def lenet(num_classes=10):
    data = mx.symbol.Variable('data')
    conv1 = mx.symbol.Convolution(data=data, kernel=(5, 5), num_filter=20)
    tanh1 = mx.symbol.Activation(data=conv1, act_type='tanh')
    pool1 = mx.symbol.Pooling(data=tanh1, pool_type='max', kernel=(2, 2), stride=(2, 2))
    conv2 = mx.symbol.Convolution(data=pool1, kernel=(5, 5), num_filter=50)
    tanh2 = mx.symbol.Activation(data=conv2, act_type='tanh')
    pool2 = mx.symbol.Pooling(data=tanh2, pool_type='max', kernel=(2, 2), stride=(2, 2))
    flatten = mx.symbol.flatten(data=pool2)
    fc1 = mx.symbol.FullyConnected(data=flatten, num_hidden=500)
    tanh3 = mx.symbol.Activation(data=fc1, act_type='tanh')
    fc2 = mx.symbol.FullyConnected(data=tanh3, num_hidden=num_classes)
    return mx.symbol.SoftmaxOutput(data=fc2, name='softmax')


def main(num_epoch=10, batch_size=100):
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    files = get_mnist()
    mx.random.seed(42)
    kv = mx.kv.create('dist_sync')
    train_iter = mx.io.MNISTIter(image=files['train-images-idx3-ubyte'],
                                 label=files['train-labels-idx1-ubyte'],
                                 batch_size=batch_size, shuffle=True)
    val_iter = mx.io.MNISTIter(image=files['t10k-images-idx3-ubyte'],
                               label=files['t10k-labels-idx1-ubyte'], batch_size=batch_size)
    mod = mx.mod.Module(lenet(), context=mx.cpu())
    mod.fit(train_iter, eval_data=val_iter, kvstore=kv, optimizer='sgd',
            optimizer_params={'learning_rate': 0.05, 'momentum': 0.9, 'wd': 1e-4},
            eval_metric='acc', initializer=mx.init.Xavier(magnitude=2.24),
            num_epoch=num_epoch, batch_end_callback=mx.callback.Speedometer(batch_size, 200))
    acc = mod.score(val_iter, mx.metric.Accuracy())[0][1]
    if kv.rank == 0:
        print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
