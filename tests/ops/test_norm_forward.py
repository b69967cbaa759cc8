"""The normalisation, image and SoftmaxActivation operators (distmod/ops/norm.py, image.py and
nn.py; one MXNet fixture file covers them all) against MXNet 1.9.1's own numbers.

tests/fixtures/mxnet/norm_ops.npz was written by tests/fixtures/make_norm_fixtures.py under
real MXNet: inputs, training-forward outputs, head gradients, argument gradients, auxiliary
states after one training step and a later inference forward.  Backward is checked against
finite differences separately (test_gradients.py).
"""
import json
import os

import numpy as np
import pytest

import distmod as mx

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'mxnet', 'norm_ops.npz')


def _load():
    with np.load(FIXTURE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    cases = [json.loads(s) for s in arrays.pop('__cases__')]
    return arrays, {c['case']: c for c in cases}


ARRAYS, CASES = _load()

# Gradients where MXNet 1.9.1 disagrees with its own forward (and with finite differences):
# SoftmaxActivation in instance mode takes the softmax along the last axis but back-propagates
# as if along axis 1 once data has more than 2 dimensions.  distmod differentiates its forward.
MXNET_GRAD_BUGS = {('softmaxact_instance', 'data')}


def _bind(case):
    c = CASES[case]
    a = {k.split('/', 1)[1]: v for k, v in ARRAYS.items() if k.startswith(case + '/')}
    inputs = [mx.sym.Variable(n) for n in c['shapes']]
    sym = getattr(mx.sym, c['op'])(*inputs, name='op', **c['attrs'])
    assert sym.list_arguments() == c['args']
    assert sym.list_auxiliary_states() == c['aux']
    assert sym.list_outputs() == c['outputs']
    args = {n: mx.nd.array(a['in:' + n]) for n in c['args']}
    grads = {n: mx.nd.zeros(a['in:' + n].shape) for n in c['args']}
    aux = {n: mx.nd.array(a['auxin:' + n]) for n in c['aux']}
    exe = sym.bind(mx.cpu(), args=args, args_grad=grads, aux_states=aux)
    return c, a, exe, args, grads, aux


@pytest.mark.parametrize('case', sorted(CASES))
def test_training_step_matches_mxnet(case):
    c, a, exe, args, grads, aux = _bind(case)
    outs = exe.forward(is_train=True)
    assert len(outs) == len(c['outputs'])
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o.asnumpy(), a['out:%d' % i], rtol=1e-4, atol=1e-5,
                                   err_msg='%s output %d' % (case, i))
    exe.backward([mx.nd.array(a['head:%d' % i]) for i in range(len(outs))])
    for n in c['args']:
        if (case, n) in MXNET_GRAD_BUGS:
            continue
        np.testing.assert_allclose(grads[n].asnumpy(), a['grad:' + n], rtol=1e-4, atol=1e-5,
                                   err_msg='%s gradient of %s' % (case, n))
    for n in c['aux']:
        np.testing.assert_allclose(aux[n].asnumpy(), a['aux:' + n], rtol=1e-5, atol=1e-6,
                                   err_msg='%s auxiliary state %s after the step' % (case, n))
    for n in c['args']:   # inputs are only read (MXNet writes 1 into a fixed gamma)
        np.testing.assert_array_equal(args[n].asnumpy(), a['in:' + n])
    infer = exe.forward(is_train=False)
    for i, o in enumerate(infer):
        np.testing.assert_allclose(o.asnumpy(), a['infer:%d' % i], rtol=1e-4, atol=1e-5,
                                   err_msg='%s inference output %d' % (case, i))


def test_batchnorm_updates_moving_stats_only_in_training_forward():
    c, a, exe, args, grads, aux = _bind('bn_free_gamma_mean_var')
    before = {n: v.asnumpy().copy() for n, v in aux.items()}
    exe.forward(is_train=False)
    for n in aux:
        np.testing.assert_array_equal(aux[n].asnumpy(), before[n])
    exe.forward(is_train=True)
    for n in aux:   # MXNet's CPU build does this in backward; the step's result is the same
        np.testing.assert_allclose(aux[n].asnumpy(), a['aux:' + n], rtol=1e-5, atol=1e-6)
    exe.backward([mx.nd.array(a['head:%d' % i]) for i in range(3)])
    for n in aux:   # backward does not fold the batch in a second time
        np.testing.assert_allclose(aux[n].asnumpy(), a['aux:' + n], rtol=1e-5, atol=1e-6)


def test_softmax_activation_instance_gradient_follows_its_forward():
    # MXNet's own gradient here is that of a softmax along axis 1 (see MXNET_GRAD_BUGS)
    c, a, exe, args, grads, aux = _bind('softmaxact_instance')
    y = exe.forward(is_train=True)[0].asnumpy().astype(np.float64)
    g = a['head:0'].astype(np.float64)
    exe.backward([mx.nd.array(g)])
    np.testing.assert_allclose(grads['data'].asnumpy(),
                               y * (g - (g * y).sum(axis=-1, keepdims=True)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(a['grad:data'], y * (g - (g * y).sum(axis=1, keepdims=True)),
                               rtol=1e-4, atol=1e-6)


def test_batchnorm_mean_var_outputs_are_batch_mean_and_inverse_std():
    x = ARRAYS['bn_free_gamma_mean_var/in:data'].astype(np.float64)
    out = ARRAYS['bn_free_gamma_mean_var/out:1'], ARRAYS['bn_free_gamma_mean_var/out:2']
    np.testing.assert_allclose(out[0], x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(out[1], 1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-3), rtol=1e-5)


def test_ndarray_calls():
    x = mx.nd.array(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    up = mx.nd.UpSampling(x, scale=2, sample_type='nearest')
    assert up.shape == (1, 2, 4, 4)
    assert mx.nd.Crop(x, h_w=(1, 1), offset=(1, 1)).asnumpy().ravel().tolist() == [3.0, 7.0]
    y = mx.nd.BatchNorm(x, mx.nd.ones(2), mx.nd.zeros(2), mx.nd.zeros(2), mx.nd.ones(2))
    np.testing.assert_allclose(y.asnumpy(), x.asnumpy() / np.sqrt(1 + 1e-3), rtol=1e-6)


@pytest.mark.parametrize('build,shapes,pattern', [
    (lambda d: mx.sym.BatchNorm(d, axis=3, name='bn7'), {'d': (3, 4)}, r"'bn7'.*axis 3.*\(3, 4\)"),
    (lambda d: mx.sym.BatchNorm(d, name='bn8'), {'d': (3, 4), 'bn8_gamma': (5,)},
     r"'bn8'.*\(5,\)"),
    (lambda d: mx.sym.GroupNorm(d, num_groups=3, name='gn1'), {'d': (2, 4, 3)},
     r"'gn1'.*num_groups=3"),
    (lambda d: mx.sym.InstanceNorm(d, name='in1'), {'d': (2, 4)}, r"'in1'.*\(2, 4\)"),
    (lambda d: mx.sym.Pad(d, mode='constant', pad_width=(0, 0, 1, 1, 1, 1, 0, 0), name='pad1'),
     {'d': (1, 2, 3, 3)}, r"'pad1'.*first two axes"),
    (lambda d: mx.sym.Pad(d, mode='reflect', pad_width=(0, 0, 0, 0, 3, 0, 0, 0), name='pad2'),
     {'d': (1, 2, 3, 3)}, r"'pad2'.*smaller"),
    (lambda d: mx.sym.Crop(d, h_w=(3, 3), offset=(1, 1), name='crop1'), {'d': (1, 1, 3, 3)},
     r"'crop1'.*does not fit.*\(1, 1, 3, 3\)"),
    (lambda d: mx.sym.UpSampling(d, mx.sym.Variable('e'), scale=2, sample_type='nearest',
                                 name='up1'), {'d': (1, 2, 3, 3), 'e': (1, 2, 4, 4)},
     r"'up1'.*\(1, 2, 4, 4\).*\(6, 6\)"),
    (lambda d: mx.sym.UpSampling(d, scale=2, sample_type='bilinear', num_filter=3, name='up2'),
     {'d': (1, 2, 3, 3)}, r"'up2'.*num_filter=3"),
    (lambda d: mx.sym.L2Normalization(d, mode='channel', name='l2n'), {'d': (3, 2)},
     r"'l2n'.*\(3, 2\)"),
])
def test_shape_errors_name_the_operator_and_shapes(build, shapes, pattern):
    sym = build(mx.sym.Variable('d'))
    with pytest.raises(mx.MXNetError, match=pattern):
        sym.infer_shape(**shapes)
