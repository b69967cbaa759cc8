"""Is resume exact?  Trains a small MLP 2 epochs in one go, and 1 epoch, checkpoint
(``module_checkpoint(save_optimizer_states=True)``), ``Module.load`` and 1 more epoch; prints
whether the weights agree bit for bit, per optimizer.  Runs under either library:

    python bench/resume_exactness.py                       # distmod: sgd, adam bit-identical
    /tmp/mxnet-anchor/bin/python bench/resume_exactness.py mxnet   # MXNet 1.9.1: adam differs

(the reference venv: ../shared/anchors/mxnet-venv.sh /tmp/mxnet-anchor).  The README quotes
MXNet's figure.
"""
import importlib
import os
import sys
import tempfile

import numpy as np


def main(lib='distmod'):
    mx = importlib.import_module(lib)
    rng = np.random.RandomState(0)
    x = rng.rand(200, 8).astype(np.float32)
    y = (x.sum(1) > 4).astype(np.float32)
    hidden = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=16,
                                                     name='fc1'), act_type='relu')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(hidden, num_hidden=2, name='fc2'),
                               name='softmax')
    prefix = os.path.join(tempfile.mkdtemp(), 'ck')

    def data():
        return mx.io.NDArrayIter(x, y, batch_size=20)
    for opt in ('sgd', 'adam'):
        args = dict(optimizer=opt, optimizer_params={'learning_rate': 0.01})
        mx.random.seed(1)
        whole = mx.mod.Module(net)
        whole.fit(data(), num_epoch=2, initializer=mx.init.Uniform(0.1), **args)
        mx.random.seed(1)
        first = mx.mod.Module(net)
        first.fit(data(), num_epoch=1, initializer=mx.init.Uniform(0.1), **args,
                  epoch_end_callback=mx.callback.module_checkpoint(
                      first, prefix, save_optimizer_states=True))
        resumed = mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
        resumed.fit(data(), num_epoch=2, begin_epoch=1, **args)
        a = whole.get_params()[0]['fc1_weight'].asnumpy()
        b = resumed.get_params()[0]['fc1_weight'].asnumpy()
        print('%s %s: %s' % (lib, opt, 'bit-identical' if np.array_equal(a, b) else
                             'differs, max abs %.4g' % np.abs(a - b).max()))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'distmod')
