"""The contrib operators (and AMP's casts) against MXNet 1.9.1 on fixed inputs, run through
distmod's executor; and where they appear (``mx.sym.contrib``, ``mx.nd.contrib``,
``mx.contrib.sym``, ``mx.contrib.nd``).

tests/fixtures/contrib/ops.npz was written by tests/fixtures/make_contrib_fixtures.py under
MXNet 1.9.1 (see tests/fixtures/contrib/README.md).
"""
import json
import os

import numpy as np
import pytest

import distmod as mx

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'contrib', 'ops.npz')
DATA = np.load(FIXTURE)
CASES = json.loads(str(DATA['__cases__']))


def _function(op):
    return getattr(mx.sym, op) if op.startswith('amp_') else getattr(mx.sym.contrib, op)


def _run(case):
    names = case['args']
    inputs = {n: DATA['%s/in:%s' % (case['case'], n)] for n in names}
    sym = _function(case['op'])(*[mx.sym.Variable(n) for n in names], **case['attrs'])
    req = {n: ('write' if n in case['grads'] else 'null') for n in names}
    exe = sym.simple_bind(mx.cpu(), grad_req=req,
                          type_dict={n: v.dtype for n, v in inputs.items()},
                          **{n: v.shape for n, v in inputs.items()})
    for n in names:
        exe.arg_dict[n][:] = inputs[n]
    exe.forward(is_train=True)
    outs = [o.asnumpy() for o in exe.outputs]
    grads = {}
    if case['grads']:
        heads = [DATA['%s/head:%d' % (case['case'], i)] for i in range(len(outs))]
        exe.backward([mx.nd.array(h, dtype=h.dtype) for h in heads])
        grads = {n: exe.grad_dict[n].asnumpy() for n in case['grads']}
    return outs, grads


@pytest.mark.parametrize('case', CASES, ids=[c['case'] for c in CASES])
def test_forward_and_backward_match_mxnet(case):
    outs, grads = _run(case)
    name = case['case']
    want = [DATA['%s/out:%d' % (name, i)] for i in range(len(outs))]
    assert len(outs) == len([k for k in DATA.files if k.startswith(name + '/out:')])
    for i, (got, exp) in enumerate(zip(outs, want)):
        assert got.dtype == exp.dtype, (name, i, got.dtype, exp.dtype)
        assert got.shape == exp.shape, (name, i)
        np.testing.assert_allclose(got.astype(np.float64), exp.astype(np.float64),
                                   rtol=1e-5, atol=1e-5, err_msg='%s output %d' % (name, i))
    for n, got in grads.items():
        exp = DATA['%s/grad:%s' % (name, n)]
        assert got.dtype == exp.dtype, (name, n)
        np.testing.assert_allclose(got.astype(np.float64), exp.astype(np.float64),
                                   rtol=1e-5, atol=1e-5, err_msg='%s gradient of %s' % (name, n))


def test_contrib_operators_appear_in_every_namespace():
    for name in ('BilinearResize2D', 'box_iou', 'box_nms', 'box_non_maximum_suppression',
                 'MultiBoxPrior', 'MultiBoxTarget', 'MultiBoxDetection', 'quadratic',
                 'div_sqrt_dim', 'arange_like', 'index_copy', 'index_array'):
        assert callable(getattr(mx.sym.contrib, name)), name
        assert callable(getattr(mx.nd.contrib, name)), name
        assert getattr(mx.contrib.sym, name) is getattr(mx.sym.contrib, name)
        assert getattr(mx.contrib.nd, name) is getattr(mx.nd.contrib, name)
        assert getattr(mx.contrib.symbol, name) is getattr(mx.sym.contrib, name)
    assert callable(mx.sym.amp_cast) and callable(mx.nd.amp_multicast)
    with pytest.raises(AttributeError):
        mx.contrib.sym.NoSuchOperator


def test_contrib_symbols_save_under_mxnet_names():
    data = mx.sym.Variable('data')
    sym = mx.sym.contrib.MultiBoxPrior(data, sizes=(0.5, 0.25), ratios=(1, 2), name='anchors')
    doc = json.loads(sym.tojson())
    node = doc['nodes'][-1]
    assert node['op'] == '_contrib_MultiBoxPrior'
    assert node['attrs'] == {'sizes': '(0.5, 0.25)', 'ratios': '(1, 2)'}
    back = mx.sym.load_json(sym.tojson())
    assert back.infer_shape(data=(1, 3, 2, 2))[1] == [(1, 12, 4)]


def test_imperative_calls_match_the_symbolic_ones():
    x = mx.nd.array([[0, 0.5, 0.1, 0.1, 0.2, 0.2], [1, 0.4, 0.1, 0.1, 0.2, 0.2],
                     [0, 0.3, 0.1, 0.1, 0.14, 0.14], [2, 0.6, 0.5, 0.5, 0.7, 0.8]])
    out = mx.nd.contrib.box_nms(x, overlap_thresh=0.1, coord_start=2, score_index=1,
                                id_index=0, force_suppress=True).asnumpy()
    np.testing.assert_allclose(out[:2], [[2, 0.6, 0.5, 0.5, 0.7, 0.8],
                                         [0, 0.5, 0.1, 0.1, 0.2, 0.2]], rtol=1e-6)
    assert (out[2:] == -1).all()
    q = mx.nd.contrib.quadratic(mx.nd.array([[1, 2], [3, 4]]), a=1, b=2, c=3).asnumpy()
    np.testing.assert_array_equal(q, [[6, 11], [18, 27]])
    idx = mx.nd.contrib.index_array(mx.nd.ones((3, 2)))
    assert idx.dtype == np.int64 and idx.shape == (3, 2, 2)
    c = mx.nd.contrib.index_copy(mx.nd.zeros((5, 3)), mx.nd.array([0, 4, 2]),
                                 mx.nd.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])).asnumpy()
    np.testing.assert_array_equal(c[[0, 2, 4]], [[1, 2, 3], [7, 8, 9], [4, 5, 6]])


def test_amp_cast_types_follow_mxnet():
    x = mx.sym.Variable('x')
    cast = mx.sym.amp_cast(x, dtype='float16')
    for given, want in (('float32', np.float16), ('float16', np.float16),
                        ('float64', np.float64), ('int32', np.int32)):
        assert cast.infer_type(x=given)[1] == [want]
    a, b = mx.sym.Variable('a'), mx.sym.Variable('b')
    wide = mx.sym.amp_multicast(a, b, num_outputs=2)
    narrow = mx.sym.amp_multicast(a, b, num_outputs=2, cast_narrow=True)
    assert wide.infer_type(a='float16', b='float32')[1] == [np.float32, np.float32]
    assert narrow.infer_type(a='float16', b='float32')[1] == [np.float16, np.float16]
    # MXNet's quirk: without a float32 input, float16 takes the first input's type
    assert wide.infer_type(a='int32', b='float16')[1] == [np.int32, np.int32]
    assert wide.infer_type(a='float64', b='float32')[1] == [np.float64, np.float32]
    assert [o.rsplit('_', 1)[1] for o in wide.list_outputs()] == ['output0', 'output1']
