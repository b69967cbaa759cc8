"""Train the classic MLP (784-128-64-10) with symbols, an executor and a kvstore, MXNet style.

The data is synthetic: ten Gaussian clusters in 784 dimensions, so the example needs no
download.  It shows the core layers only: build a symbol, ``simple_bind`` it, run
``forward``/``backward``, sum the gradients in a kvstore (``kv.push`` then ``kv.pull``) and
apply SGD to ``arg_dict`` with ``grad_dict``.  (``fit`` does all of this for you:
``examples/mnist_mlp.py``.)

Data-parallel by hand: with ``--kv-store dist_sync`` under ``distmod-launch -n N`` every rank
starts from rank 0's weights (``kv.init`` then ``kv.pull``), trains on its 1/N of the samples,
and ``push``/``pull`` sum the gradients over the ranks, so every rank applies the same update;
rank 0 prints (the training accuracy of its own part, and the held-out accuracy).  With the
default ``local`` store it is a plain single-process run.

Run: ``python examples/train_mlp.py [--epochs 5] [--kv-store local|dist_sync]``; it prints the
loss and accuracy per epoch and ends with the held-out accuracy (above 0.95).
"""
import argparse
import time

import numpy as np

import distmod as mx

parser = argparse.ArgumentParser(description='Train an MLP on synthetic data with an executor')
parser.add_argument('--epochs', type=int, default=5, help='epochs to train')
parser.add_argument('--kv-store', default='local', help='local, or dist_sync across ranks')


def mlp():
    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data, name='fc1', num_hidden=128)
    act1 = mx.sym.Activation(fc1, name='relu1', act_type='relu')
    fc2 = mx.sym.FullyConnected(act1, name='fc2', num_hidden=64)
    act2 = mx.sym.Activation(fc2, name='relu2', act_type='relu')
    fc3 = mx.sym.FullyConnected(act2, name='fc3', num_hidden=10)
    return mx.sym.SoftmaxOutput(fc3, name='softmax')


def make_data(rng, n, centers):
    labels = rng.integers(0, 10, n)
    x = centers[labels] + rng.standard_normal((n, 784)).astype(np.float32) * 1.5
    return x.astype(np.float32), labels.astype(np.float32)


def main(epochs=5, batch=100, lr=0.05, kv_store='local'):
    kv = mx.kv.create(kv_store)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, 784)).astype(np.float32) * 0.3
    x_train, y_train = make_data(rng, 6000, centers)
    x_test, y_test = make_data(rng, 2000, centers)
    # this rank's part of the training set (all of it in one process)
    x_train, y_train = x_train[kv.rank::kv.num_workers], y_train[kv.rank::kv.num_workers]
    rng = np.random.default_rng(kv.rank)       # each rank its own shuffles

    net = mlp()
    exe = net.simple_bind(mx.cpu(), data=(batch, 784), softmax_label=(batch,))
    params = [n for n in net.list_arguments() if n not in ('data', 'softmax_label')]
    for name in params:      # Xavier-like uniform for weights, zero biases
        arr = exe.arg_dict[name]
        if name.endswith('weight'):
            scale = np.sqrt(6.0 / (arr.shape[0] + arr.shape[1]))
            arr[:] = rng.uniform(-scale, scale, arr.shape)
        else:
            arr[:] = 0
    weights = [exe.arg_dict[n] for n in params]
    grads = [exe.grad_dict[n] for n in params]
    kv.init(params, weights)                   # rank 0's values win ...
    kv.pull(params, out=weights)               # ... and every rank starts from them
    momentum = {n: mx.nd.zeros(exe.arg_dict[n].shape) for n in params}
    step = lr / (batch * kv.num_workers)       # gradients are summed over the global batch
    steps = len(x_train) // batch              # the same on every rank (equal parts)

    for epoch in range(epochs):
        tic = time.time()
        order = rng.permutation(len(x_train))
        correct, loss = 0, 0.0
        for i in range(0, steps * batch, batch):
            idx = order[i:i + batch]
            exe.forward(is_train=True, data=x_train[idx], softmax_label=y_train[idx])
            exe.backward()
            kv.push(params, grads)             # summed over devices and ranks ...
            kv.pull(params, out=grads)         # ... and back into every rank's gradients
            prob = exe.outputs[0].asnumpy()
            correct += (prob.argmax(axis=1) == y_train[idx]).sum()
            loss -= np.log(prob[np.arange(batch), y_train[idx].astype(int)] + 1e-12).sum()
            for name in params:
                mom = momentum[name]
                mom *= 0.9
                mom -= step * exe.grad_dict[name]
                exe.arg_dict[name] += mom
        n = steps * batch
        if kv.rank == 0:
            print('Epoch[%d] Train-accuracy=%.4f Train-loss=%.4f Time cost=%.2fs'
                  % (epoch, correct / n, loss / n, time.time() - tic))

    test_exe = exe.reshape(data=(len(x_test), 784), softmax_label=(len(x_test),),
                           allow_up_sizing=True)
    prob = test_exe.forward(is_train=False, data=x_test)[0].asnumpy()
    acc = float((prob.argmax(axis=1) == y_test).mean())
    if kv.rank == 0:
        print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    args = parser.parse_args()
    main(epochs=args.epochs, kv_store=args.kv_store)
