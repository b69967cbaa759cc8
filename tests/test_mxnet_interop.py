"""Our symbol JSON and .params load in real MXNet 1.9.1 and compute the same outputs there.

Runs only where the reference venv exists (../shared/anchors/mxnet-venv.sh builds it, by
default at /tmp/mxnet-anchor; MXNET_VENV overrides); skipped with that reason elsewhere.
"""
import os
import subprocess
import textwrap

import numpy as np
import pytest

import distmod as mx

VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')
pytestmark = pytest.mark.skipif(not os.path.exists(VENV_PY),
                                reason='reference MXNet venv not found at %s '
                                       '(build it with ../shared/anchors/mxnet-venv.sh)' % VENV_PY)

SCRIPT = textwrap.dedent('''
    import sys, mxnet as mx
    d = sys.argv[1]
    sym = mx.sym.load(d + '/net-symbol.json')
    args = mx.nd.load(d + '/args.params')
    exe = sym.bind(mx.cpu(), args={n: args[n] for n in sym.list_arguments()})
    outs = exe.forward(is_train=False)
    mx.nd.save(d + '/mx-out.params', {'out:%d' % i: o for i, o in enumerate(outs)})
''')


def _net():
    data = mx.sym.Variable('data')
    x = mx.sym.FullyConnected(data, num_hidden=6, name='fc1')
    x = mx.sym.LeakyReLU(x, act_type='leaky', slope=0.1, name='lrelu')
    x = mx.sym.Reshape(x, shape=(0, 2, -1), name='rs')
    parts = mx.sym.SliceChannel(x, num_outputs=2, axis=1, squeeze_axis=True, name='sl')
    y = mx.sym.Concat(parts[0] * 2 + 1, mx.sym.exp(parts[1]), dim=1, name='cat')
    y = mx.sym.sum(y, axis=1, keepdims=True, name='s') / 3
    return mx.sym.Group([mx.sym.softmax(x, axis=-1, name='sm'), y])


def test_our_json_and_params_run_in_mxnet(tmp_path):
    net = _net()
    rng = np.random.default_rng(0)
    arg_shapes, _, _ = net.infer_shape(data=(4, 5))
    args = {n: mx.nd.array(rng.standard_normal(s)) for n, s in
            zip(net.list_arguments(), arg_shapes)}
    net.save(str(tmp_path / 'net-symbol.json'))
    mx.nd.save(str(tmp_path / 'args.params'), args)
    ours = net.bind(mx.cpu(), args=args).forward()
    env = dict(os.environ, OMP_NUM_THREADS='1')
    subprocess.run([VENV_PY, '-c', SCRIPT, str(tmp_path)], check=True, env=env, timeout=300)
    theirs = mx.nd.load(str(tmp_path / 'mx-out.params'))
    for i, o in enumerate(ours):
        np.testing.assert_allclose(o.asnumpy(), theirs['out:%d' % i].asnumpy(), rtol=1e-5,
                                   atol=1e-6)
