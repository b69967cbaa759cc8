"""The classic MXNet MLP on MNIST, run unchanged but for the import.

784 -> 128 (relu) -> 64 (relu) -> 10 (softmax), SGD with momentum, batch 100.  The data is
MNIST's original IDX files (examples/mnist_data.py fetches them).  Logs MXNet's lines
(``Epoch[0] Train-accuracy=...``, ``Time cost``, ``Validation-accuracy``) and ends with the
test accuracy; it reaches about 0.98 (at least 0.97) in 10 epochs.

Data-parallel: ``fit`` uses ``kvstore='dist_sync'``, which in one process is simply a local
store; the same file runs on N ranks with ``distmod-launch -n N python examples/mnist_mlp.py``
(each rank trains on its 1/N of the training set with batch 100, gradients are summed over
ranks, replicas stay identical, rank 0 logs).

Run: ``python examples/mnist_mlp.py [num_epoch]``
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distmod as mx  # noqa: E402
from mnist_data import get_mnist  # noqa: E402


def main(num_epoch=10, batch_size=100):
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    files = get_mnist()
    mx.random.seed(42)
    train_iter = mx.io.MNISTIter(image=files['train-images-idx3-ubyte'],
                                 label=files['train-labels-idx1-ubyte'],
                                 batch_size=batch_size, shuffle=True, flat=True)
    val_iter = mx.io.MNISTIter(image=files['t10k-images-idx3-ubyte'],
                               label=files['t10k-labels-idx1-ubyte'],
                               batch_size=batch_size, flat=True)

    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data=data, name='fc1', num_hidden=128)
    act1 = mx.sym.Activation(data=fc1, name='relu1', act_type='relu')
    fc2 = mx.sym.FullyConnected(data=act1, name='fc2', num_hidden=64)
    act2 = mx.sym.Activation(data=fc2, name='relu2', act_type='relu')
    fc3 = mx.sym.FullyConnected(data=act2, name='fc3', num_hidden=10)
    mlp = mx.sym.SoftmaxOutput(data=fc3, name='softmax')

    mod = mx.mod.Module(mlp, context=mx.cpu())
    mod.fit(train_iter, eval_data=val_iter, kvstore='dist_sync', optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9}, eval_metric='acc',
            initializer=mx.init.Xavier(), num_epoch=num_epoch,
            batch_end_callback=mx.callback.Speedometer(batch_size, 200))
    acc = mod.score(val_iter, mx.metric.Accuracy())[0][1]
    print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
