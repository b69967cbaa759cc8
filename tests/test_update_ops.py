"""MXNet's optimizer update operators (``mx.nd.sgd_update`` ...) against MXNet 1.9.1's own
results (tests/fixtures/mxnet/update_ops.npz, from tests/fixtures/make_update_fixtures.py):
the new weight and every state updated in place."""
import json
import os

import numpy as np
import pytest

import distmod as mx

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'mxnet', 'update_ops.npz')
with np.load(FIXTURE, allow_pickle=False) as _z:
    ARRAYS = {k: _z[k] for k in _z.files}
CASES = {c['case']: c for c in (json.loads(s) for s in ARRAYS.pop('__cases__'))}


@pytest.mark.parametrize('case', sorted(CASES))
def test_update_matches_mxnet(case):
    c = CASES[case]
    nd = {n: mx.nd.array(ARRAYS['%s/in:%s' % (case, n)]) for n in c['args']}
    weight = nd[c['args'][0]]
    out = getattr(mx.nd, c['fn'])(*[nd[n] for n in c['args']], out=weight, **c['params'])
    assert out is weight
    np.testing.assert_allclose(weight.asnumpy(), ARRAYS[case + '/out'], rtol=1e-5, atol=1e-6)
    for n in c['args'][2:]:
        key = '%s/state:%s' % (case, n)
        if key in ARRAYS:
            np.testing.assert_allclose(nd[n].asnumpy(), ARRAYS[key], rtol=1e-5, atol=1e-6,
                                       err_msg=n)


def test_multi_and_mixed_precision_forms_are_the_single_ones():
    rng = np.random.RandomState(0)
    w = [mx.nd.array(rng.randn(3)) for _ in range(2)]
    g = [mx.nd.array(rng.randn(3)) for _ in range(2)]
    m = [mx.nd.zeros(3) for _ in range(2)]
    expect = [mx.nd.sgd_mom_update(w[i].copy(), g[i], m[i].copy(), lr=lr, momentum=0.9, wd=wd)
              for i, (lr, wd) in enumerate([(0.1, 0.0), (0.2, 0.01)])]
    got = mx.nd.multi_sgd_mom_update(w[0], g[0], m[0], w[1], g[1], m[1], lrs=(0.1, 0.2),
                                     wds=(0.0, 0.01), momentum=0.9, num_weights=2, out=w)
    for a, b in zip(got, expect):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)
    w16 = mx.nd.array(rng.randn(3), dtype='float16')
    w32 = w16.astype('float32')
    mx.nd.mp_sgd_update(w16, mx.nd.ones(3, dtype='float16'), w32, lr=0.5, out=w16)
    assert w16.dtype == np.float16 and w32.dtype == np.float32
    np.testing.assert_allclose(w16.asnumpy(), w32.asnumpy().astype(np.float16))
