"""Vision checkpoints cross both ways between real MXNet 1.9.1 and distmod.

tests/fixtures/mxnet_vision/ (made by tests/fixtures/make_vision_fixtures.py under the reference
venv; see the README there) holds LeNet and a small BatchNorm/residual net trained a few steps
by MXNet's Module: NAME-symbol.json, NAME-0001.params and NAME-io.npz (an evaluation batch,
MXNet's predictions, and the outputs, gradients and moving stats of one training
forward/backward).  distmod loads them and computes the same.  The other way, distmod trains
each net a few steps, saves its own checkpoint, and real MXNet (in a subprocess, from the
reference venv; skipped with the reason when it is missing) loads it and predicts the same.
"""
import logging
import os
import subprocess
import textwrap

import numpy as np
import pytest

import distmod as mx

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'mxnet_vision')
NETS = ['lenet', 'bnnet']
VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')
needs_mxnet = pytest.mark.skipif(not os.path.exists(VENV_PY),
                                 reason='reference MXNet venv not found at %s '
                                        '(build it with ../shared/anchors/mxnet-venv.sh)' % VENV_PY)


def _io(name):
    with np.load(os.path.join(HERE, name + '-io.npz'), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _batch(io):
    return mx.io.DataBatch([mx.nd.array(io['data'])], [mx.nd.array(io['label'])])


def _bound(sym, io, for_training=False):
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind([('data', io['data'].shape)], [('softmax_label', io['label'].shape)],
             for_training=for_training, inputs_need_grad=for_training)
    return mod


@pytest.mark.parametrize('name', NETS)
def test_mxnet_checkpoint_predicts_the_same(name):
    io = _io(name)
    sym, arg, aux = mx.model.load_checkpoint(os.path.join(HERE, name), 1)
    assert sorted(arg) == sorted(n for n in sym.list_arguments()
                                 if n not in ('data', 'softmax_label'))
    assert sorted(aux) == sorted(sym.list_auxiliary_states())
    if name == 'bnnet':   # the moving stats are not their initial 0 / 1
        assert all(np.abs(aux[n].asnumpy()).min() > 1e-4 for n in aux if 'mean' in n)
        assert all(np.abs(aux[n].asnumpy() - 1).min() > 1e-2 for n in aux if 'var' in n)
    mod = _bound(sym, io)
    mod.set_params(arg, aux)
    mod.forward(_batch(io), is_train=False)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), io['pred'], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('name', NETS)
def test_module_load_predicts_the_same(name):
    io = _io(name)
    mod = mx.mod.Module.load(os.path.join(HERE, name), 1, context=mx.cpu())
    mod.bind([('data', io['data'].shape)], for_training=False)
    it = mx.io.NDArrayIter(io['data'], batch_size=len(io['data']))
    np.testing.assert_allclose(mod.predict(it).asnumpy(), io['pred'], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('name', NETS)
def test_training_step_matches_mxnet(name):
    io = _io(name)
    sym, arg, aux = mx.model.load_checkpoint(os.path.join(HERE, name), 1)
    mod = _bound(sym, io, for_training=True)
    mod.set_params(arg, aux)
    mod.forward(_batch(io), is_train=True)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), io['train_out'],
                               rtol=1e-4, atol=1e-6)
    mod.backward()
    exe = mod._exec_group.execs[0]
    grads = [k[5:] for k in io if k.startswith('grad/')]
    assert sorted(grads) == sorted(n for n in sym.list_arguments() if n != 'softmax_label')
    # atol 1e-5 as in test_mxnet_fixtures.py: the gradient of a conv bias feeding a BatchNorm
    # is exactly zero in exact arithmetic, so both sides hold only float32 round-off (~1e-6).
    for n in grads:
        np.testing.assert_allclose(exe.grad_dict[n].asnumpy(), io['grad/' + n], rtol=1e-3,
                                   atol=1e-5, err_msg='%s gradient of %s' % (name, n))
    for n in sym.list_auxiliary_states():
        np.testing.assert_allclose(exe.aux_dict[n].asnumpy(), io['aux_after/' + n], rtol=1e-4,
                                   atol=1e-6, err_msg='%s moving stat %s' % (name, n))


MX_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import mxnet as mx
    prefix, out = sys.argv[1], sys.argv[2]
    with np.load(prefix + '-io.npz') as f:
        data = f['data']
    sym, arg, aux = mx.model.load_checkpoint(prefix, 3)
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind([('data', data.shape)], for_training=False)
    mod.set_params(arg, aux)
    mod.forward(mx.io.DataBatch([mx.nd.array(data)]), is_train=False)
    a = mod.get_outputs()[0].asnumpy()
    mod2 = mx.mod.Module.load(prefix, 3, context=mx.cpu())
    mod2.bind([('data', data.shape)], for_training=False)
    b = mod2.predict(mx.io.NDArrayIter(data, batch_size=len(data))).asnumpy()
    np.savez(out, load_checkpoint=a, module_load=b)
''')


@needs_mxnet
@pytest.mark.parametrize('name', NETS)
def test_our_checkpoint_predicts_the_same_in_mxnet(name, tmp_path):
    logging.disable(logging.CRITICAL)
    try:
        io = _io(name)
        sym = mx.sym.load(os.path.join(HERE, name + '-symbol.json'))
        rng = np.random.RandomState(3)
        shape = io['data'].shape[1:]
        x = rng.rand(32, *shape).astype(np.float32)
        y = rng.randint(0, 10, 32).astype(np.float32)
        mod = mx.mod.Module(sym, context=mx.cpu())
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=8), num_epoch=3, optimizer='sgd',
                initializer=mx.init.Xavier(magnitude=2.0),
                optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
        prefix = str(tmp_path / name)
        mod.save_checkpoint(prefix, 3)
    finally:
        logging.disable(logging.NOTSET)
    _, aux = mod.get_params()
    for n, a in aux.items():   # distmod's training moved the moving stats
        assert np.abs(a.asnumpy() - (1 if 'var' in n else 0)).min() > 1e-4, n
    np.savez(prefix + '-io.npz', data=io['data'])
    ours = mod.predict(mx.io.NDArrayIter(io['data'], batch_size=len(io['data']))).asnumpy()
    out = str(tmp_path / 'mx-out.npz')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)
    subprocess.run([VENV_PY, '-c', MX_SCRIPT, prefix, out], check=True, env=env, timeout=300)
    with np.load(out) as theirs:
        for how in ('load_checkpoint', 'module_load'):
            np.testing.assert_allclose(theirs[how], ours, rtol=1e-4, atol=1e-6,
                                       err_msg='%s via MXNet %s' % (name, how))
