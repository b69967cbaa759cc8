"""The classic MXNet MLP on MNIST, run unchanged but for the import.

784 -> 128 (relu) -> 64 (relu) -> 10 (softmax), SGD with momentum, batch 100.  The data is
MNIST's original IDX files (examples/mnist_data.py fetches them).  Logs MXNet's lines
(``Epoch[0] Train-accuracy=...``, ``Time cost``, ``Validation-accuracy``) and ends with the
test accuracy; it reaches about 0.97 in 10 epochs (0.969-0.976 over seeds; MXNet 1.9.1 runs
the same script to 0.9745).

Data-parallel: ``fit`` gets a ``dist_sync`` kvstore, which in one process is simply a local
store; the same file runs on N ranks with ``distmod-launch -n N python examples/mnist_mlp.py``
(each rank trains on its 1/N of the training set with batch 100, gradients are summed over
ranks, replicas stay identical, rank 0 logs and prints the test accuracy).

Checkpoints and resuming, as MXNet's image-classification scripts do: ``--model-prefix P``
writes ``P-symbol.json``, ``P-NNNN.params`` and ``P-NNNN.states`` (optimizer state) after
every epoch (rank 0 writes); ``--load-epoch N`` starts from ``P-NNNN`` with ``Module.load``
and goes on with epoch N (``begin_epoch``) up to ``num_epoch``.

One GPU per rank: ``--gpu`` trains on ``mx.gpu(local_rank)``, ``local_rank`` being this rank's
index on its host (``LOCAL_RANK``, which distmod-launch sets, else the MPI launcher's own).

Run: ``python examples/mnist_mlp.py [num_epoch] [--model-prefix P] [--load-epoch N] [--gpu]``
(see the README's "Examples and figures" and "Resuming from a checkpoint").
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distmod as mx  # noqa: E402
from mnist_data import get_mnist  # noqa: E402

parser = argparse.ArgumentParser(description='Train an MLP on MNIST')
parser.add_argument('num_epoch', type=int, nargs='?', default=10, help='epochs to train in all')
parser.add_argument('--model-prefix', default=None,
                    help='checkpoint after every epoch to PREFIX-symbol.json, PREFIX-NNNN.params')
parser.add_argument('--load-epoch', type=int, default=None,
                    help='resume from the checkpoint of this epoch (needs --model-prefix)')
parser.add_argument('--gpu', action='store_true', help='train on GPU number LOCAL_RANK')


def local_rank():
    """This rank's index on its host: ``LOCAL_RANK`` (distmod-launch sets it for every rank,
    torchrun's name), else what the MPI launcher or Slurm sets, else 0."""
    for name in ('LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID', 'SLURM_LOCALID'):
        value = os.environ.get(name, '').strip()
        if value.isdigit():
            return int(value)
    return 0


def mlp():
    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data=data, name='fc1', num_hidden=128)
    act1 = mx.sym.Activation(data=fc1, name='relu1', act_type='relu')
    fc2 = mx.sym.FullyConnected(data=act1, name='fc2', num_hidden=64)
    act2 = mx.sym.Activation(data=fc2, name='relu2', act_type='relu')
    fc3 = mx.sym.FullyConnected(data=act2, name='fc3', num_hidden=10)
    return mx.sym.SoftmaxOutput(data=fc3, name='softmax')


def main(num_epoch=10, batch_size=100, model_prefix=None, load_epoch=None, gpu=False):
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    files = get_mnist()
    mx.random.seed(42)
    kv = mx.kv.create('dist_sync')
    train_iter = mx.io.MNISTIter(image=files['train-images-idx3-ubyte'],
                                 label=files['train-labels-idx1-ubyte'],
                                 batch_size=batch_size, shuffle=True, flat=True)
    val_iter = mx.io.MNISTIter(image=files['t10k-images-idx3-ubyte'],
                               label=files['t10k-labels-idx1-ubyte'],
                               batch_size=batch_size, flat=True)
    ctx = mx.gpu(local_rank()) if gpu else mx.cpu()

    if load_epoch:
        if not model_prefix:
            raise SystemExit('--load-epoch needs --model-prefix')
        # the symbol and parameters of epoch load_epoch, and the optimizer's state if saved
        states = os.path.exists('%s-%04d.states' % (model_prefix, load_epoch))
        mod = mx.mod.Module.load(model_prefix, load_epoch, load_optimizer_states=states,
                                 context=ctx)
    else:
        mod = mx.mod.Module(mlp(), context=ctx)
    checkpoint = None
    if model_prefix:
        os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
        checkpoint = mx.callback.module_checkpoint(mod, model_prefix, save_optimizer_states=True)
    mod.fit(train_iter, eval_data=val_iter, kvstore=kv, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9}, eval_metric='acc',
            initializer=mx.init.Xavier(), num_epoch=num_epoch, begin_epoch=load_epoch or 0,
            batch_end_callback=mx.callback.Speedometer(batch_size, 200),
            epoch_end_callback=checkpoint)
    acc = mod.score(val_iter, mx.metric.Accuracy())[0][1]
    if kv.rank == 0:
        print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    args = parser.parse_args()
    main(args.num_epoch, model_prefix=args.model_prefix, load_epoch=args.load_epoch,
         gpu=args.gpu)
