"""One MXNet 1.9.1 dist_sync worker (see run.sh): worker 1 fails in epoch 1, batch 3."""
import os, signal, sys, time
import numpy as np
import mxnet as mx
fault = os.environ.get('FAULT', 'none')
kv = mx.kv.create('dist_sync')
rank = kv.rank
rng = np.random.RandomState(0)
x = rng.rand(600, 10).astype(np.float32); y = (x.sum(1) > 5).astype(np.float32)
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2), name='softmax')
def cb(p):
    if rank == 1 and p.epoch == 1 and p.nbatch == 3:
        if fault == 'kill': os.kill(os.getpid(), signal.SIGKILL)
        if fault == 'raise': raise ValueError('bad batch')
        if fault == 'hang': time.sleep(3600)
        if fault == 'exit0': os._exit(0)
mod = mx.mod.Module(net)
mod.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=3, kvstore=kv, batch_end_callback=cb,
        optimizer_params={'learning_rate': 0.1})
print('worker', rank, 'done', flush=True)
