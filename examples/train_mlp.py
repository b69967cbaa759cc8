"""Train the classic MLP (784-128-64-10) with symbols and an executor, MXNet style.

The data is synthetic: ten Gaussian clusters in 784 dimensions, so the example needs no
download.  It shows the core layers only: build a symbol, ``simple_bind`` it, run
``forward``/``backward`` and apply SGD to ``arg_dict`` with ``grad_dict``.  (The Module API
and MNIST arrive with ``examples/mnist_mlp.py``.)

Run: ``python examples/train_mlp.py``; it prints the loss and accuracy per epoch and ends with
the held-out accuracy (above 0.95).
"""
import time

import numpy as np

import distmod as mx


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


def main(epochs=5, batch=100, lr=0.05):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, 784)).astype(np.float32) * 0.3
    x_train, y_train = make_data(rng, 6000, centers)
    x_test, y_test = make_data(rng, 2000, centers)

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
    momentum = {n: mx.nd.zeros(exe.arg_dict[n].shape) for n in params}

    for epoch in range(epochs):
        tic = time.time()
        order = rng.permutation(len(x_train))
        correct, loss = 0, 0.0
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            exe.forward(is_train=True, data=x_train[idx], softmax_label=y_train[idx])
            exe.backward()
            prob = exe.outputs[0].asnumpy()
            correct += (prob.argmax(axis=1) == y_train[idx]).sum()
            loss -= np.log(prob[np.arange(batch), y_train[idx].astype(int)] + 1e-12).sum()
            for name in params:
                mom = momentum[name]
                mom *= 0.9
                mom -= lr / batch * exe.grad_dict[name]
                exe.arg_dict[name] += mom
        n = len(order) // batch * batch
        print('Epoch[%d] Train-accuracy=%.4f Train-loss=%.4f Time cost=%.2fs'
              % (epoch, correct / n, loss / n, time.time() - tic))

    test_exe = exe.reshape(data=(len(x_test), 784), softmax_label=(len(x_test),),
                           allow_up_sizing=True)
    prob = test_exe.forward(is_train=False, data=x_test)[0].asnumpy()
    acc = float((prob.argmax(axis=1) == y_test).mean())
    print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    main()
