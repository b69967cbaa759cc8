"""A small residual network with BatchNorm on Fashion-MNIST, in the manner of MXNet's
image-classification ``symbols/resnet.py`` (pre-activation units: BatchNorm, relu,
convolution; a 3x3 stem; three stages of 16, 32 and 64 filters, stride 2 between stages;
global average pooling; fc 10).

The data is Fashion-MNIST's original files from Debian's package ``dataset-fashion-mnist``
(examples/fashion_data.py finds or fetches it).  Figures (test accuracy, time per epoch) are
in the README ("Examples and figures").

Data-parallel like the other examples (a ``dist_sync`` kvstore; BatchNorm's moving statistics
are averaged over ranks at every epoch end; rank 0 logs and prints the test accuracy).

Run: ``python examples/fashion_resnet.py [num_epoch] [units_per_stage]`` (defaults 4 and 1:
eight 3x3 convolutions)
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distmod as mx  # noqa: E402
from fashion_data import get_fashion_mnist  # noqa: E402

BN_MOM = 0.9
EPS = 2e-5


def residual_unit(data, num_filter, stride, dim_match, name):
    """Pre-activation residual unit (BN, relu, conv 3x3, BN, relu, conv 3x3) + shortcut."""
    bn1 = mx.sym.BatchNorm(data=data, fix_gamma=False, eps=EPS, momentum=BN_MOM,
                           name=name + '_bn1')
    act1 = mx.sym.Activation(data=bn1, act_type='relu', name=name + '_relu1')
    conv1 = mx.sym.Convolution(data=act1, num_filter=num_filter, kernel=(3, 3), stride=stride,
                               pad=(1, 1), no_bias=True, name=name + '_conv1')
    bn2 = mx.sym.BatchNorm(data=conv1, fix_gamma=False, eps=EPS, momentum=BN_MOM,
                           name=name + '_bn2')
    act2 = mx.sym.Activation(data=bn2, act_type='relu', name=name + '_relu2')
    conv2 = mx.sym.Convolution(data=act2, num_filter=num_filter, kernel=(3, 3), stride=(1, 1),
                               pad=(1, 1), no_bias=True, name=name + '_conv2')
    if dim_match:
        shortcut = data
    else:
        shortcut = mx.sym.Convolution(data=act1, num_filter=num_filter, kernel=(1, 1),
                                      stride=stride, no_bias=True, name=name + '_sc')
    return conv2 + shortcut


def resnet(units=2, filter_list=(16, 16, 32, 64), num_classes=10):
    data = mx.sym.Variable('data')
    data = mx.sym.BatchNorm(data=data, fix_gamma=True, eps=EPS, momentum=BN_MOM,
                            name='bn_data')
    body = mx.sym.Convolution(data=data, num_filter=filter_list[0], kernel=(3, 3),
                              stride=(1, 1), pad=(1, 1), no_bias=True, name='conv0')
    for i in range(3):
        body = residual_unit(body, filter_list[i + 1], (1, 1) if i == 0 else (2, 2), False,
                             name='stage%d_unit1' % (i + 1))
        for j in range(units - 1):
            body = residual_unit(body, filter_list[i + 1], (1, 1), True,
                                 name='stage%d_unit%d' % (i + 1, j + 2))
    bn1 = mx.sym.BatchNorm(data=body, fix_gamma=False, eps=EPS, momentum=BN_MOM, name='bn1')
    relu1 = mx.sym.Activation(data=bn1, act_type='relu', name='relu1')
    pool1 = mx.sym.Pooling(data=relu1, global_pool=True, kernel=(7, 7), pool_type='avg',
                           name='pool1')
    flat = mx.sym.Flatten(data=pool1)
    fc1 = mx.sym.FullyConnected(data=flat, num_hidden=num_classes, name='fc1')
    return mx.sym.SoftmaxOutput(data=fc1, name='softmax')


def main(num_epoch=4, units=1, batch_size=64, train_batches=None):
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    files = get_fashion_mnist()
    mx.random.seed(3)
    kv = mx.kv.create('dist_sync')
    train_iter = mx.io.MNISTIter(image=files['train-images-idx3-ubyte'],
                                 label=files['train-labels-idx1-ubyte'],
                                 batch_size=batch_size, shuffle=True)
    val_iter = mx.io.MNISTIter(image=files['t10k-images-idx3-ubyte'],
                               label=files['t10k-labels-idx1-ubyte'], batch_size=batch_size)
    if train_batches:                   # a quick run on the first batches of every epoch
        train_iter = mx.io.ResizeIter(train_iter, train_batches)
    steps = train_batches or 60000 // batch_size
    sched = mx.lr_scheduler.MultiFactorScheduler(step=[steps * max(1, num_epoch - 1)],
                                                 factor=0.1)
    mod = mx.mod.Module(resnet(units), context=mx.cpu())
    mod.fit(train_iter, eval_data=val_iter, kvstore=kv, optimizer='sgd',
            optimizer_params={'learning_rate': 0.1, 'momentum': 0.9, 'wd': 1e-4,
                              'lr_scheduler': sched},
            initializer=mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2),
            eval_metric='acc', num_epoch=num_epoch,
            batch_end_callback=mx.callback.Speedometer(batch_size, 200))
    acc = mod.score(val_iter, mx.metric.Accuracy())[0][1]
    if kv.rank == 0:
        print('Test-accuracy=%.4f' % acc)
    return acc


if __name__ == '__main__':
    main(*(int(a) for a in sys.argv[1:3]))
