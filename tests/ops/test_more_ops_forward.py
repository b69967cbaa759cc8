"""The indexing, sorting, shape, unary-math, loss, creation and spatial operators against
MXNet 1.9.1's own numbers.

tests/fixtures/mxnet/more_ops.npz and linalg_ops.npz (the ``linalg`` namespace) were written by
tests/fixtures/make_more_ops_fixtures.py
under real MXNet: per case the inputs, training-forward outputs, head gradients, argument
gradients and auxiliary states after the step; and the values of the ``mx.sym`` creation
functions.  Backward is also checked against finite differences (test_gradients.py); here it
is checked against MXNet.
"""
import json
import os

import numpy as np
import pytest

import distmod as mx

HERE = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'mxnet')
FIXTURES = [os.path.join(HERE, f) for f in ('more_ops.npz', 'linalg_ops.npz', 'contrib_more.npz')]


def _load():
    arrays, cases, creation = {}, [], []
    for path in FIXTURES:
        with np.load(path, allow_pickle=False) as z:
            more = {k: z[k] for k in z.files}
        cases += [json.loads(s) for s in more.pop('__cases__')]
        creation += [json.loads(s) for s in more.pop('__creation__')]
        arrays.update(more)
    return arrays, {c['case']: c for c in cases}, {c['case']: c['expr'] for c in creation}


ARRAYS, CASES, CREATION = _load()

# Gradients where MXNet 1.9.1 disagrees with its own forward: gather_nd reads a negative index
# from the end (data[-1] is the last row) but its backward drops the gradient of such
# positions.  distmod differentiates its forward; the test below pins the difference.
MXNET_GRAD_BUGS = {('gather_nd', 'data')}
SYMBOLIC = sorted(c for c in CASES if not CASES[c].get('ndarray'))
IMPERATIVE = sorted(c for c in CASES if CASES[c].get('ndarray'))


def _fields(case):
    return {k.split('/', 1)[1]: v for k, v in ARRAYS.items() if k.startswith(case + '/')}


def _attrs(c):
    out = {}
    for k, v in c['attrs'].items():
        out[k] = v           # MXNet's string form, parsed by the operator like JSON attributes
    return out


def _symbol(c):
    make = getattr(mx.sym, c['op'], None) or getattr(mx.sym._internal, c['op'])
    return make(*[mx.sym.Variable(n) for n in c['args']], name='op', **_attrs(c))


def _close(got, want, what, rtol=1e-5, atol=1e-6):
    assert got.shape == want.shape, '%s: shape %s, MXNet %s' % (what, got.shape, want.shape)
    assert got.dtype == want.dtype, '%s: dtype %s, MXNet %s' % (what, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize('case', SYMBOLIC)
def test_training_step_matches_mxnet(case):
    c, a = CASES[case], _fields(case)
    sym = _symbol(c)
    assert sym.list_arguments() == c['args']
    assert sym.list_auxiliary_states() == c['aux']
    assert sym.list_outputs() == c['outputs']
    args = {n: mx.nd.array(a['in:' + n], dtype=a['in:' + n].dtype) for n in c['args']}
    grads = {n: mx.nd.zeros(a['in:' + n].shape, dtype=a['in:' + n].dtype) for n in c['grads']}
    req = {n: 'write' if n in c['grads'] else 'null' for n in c['args']}
    aux = {n: mx.nd.array(a['auxin:' + n]) for n in c['aux']}
    exe = sym.bind(mx.cpu(), args=args, args_grad=grads, grad_req=req, aux_states=aux)
    outs = exe.forward(is_train=True)
    assert len(outs) == len(c['outputs'])
    for i, o in enumerate(outs):
        _close(o.asnumpy(), a['out:%d' % i], '%s output %d' % (case, i))
    if c['grads']:
        exe.backward([mx.nd.array(a['head:%d' % i]) for i in range(len(outs))])
    for n in c['grads']:
        if (case, n) in MXNET_GRAD_BUGS:
            continue
        _close(grads[n].asnumpy(), a['grad:' + n], '%s gradient of %s' % (case, n),
               rtol=1e-4, atol=1e-5)
    for n in c['aux']:
        _close(aux[n].asnumpy(), a['aux:' + n], '%s auxiliary state %s' % (case, n))


def test_gather_nd_negative_indices_get_their_gradient():
    # MXNet's gradient plus the head gradients of the positions given with negative indices
    a = _fields('gather_nd')
    data, idx, head = a['in:data'], a['in:indices'].astype(int), a['head:0']
    exe = _symbol(CASES['gather_nd']).bind(
        mx.cpu(), args={'data': mx.nd.array(data), 'indices': mx.nd.array(idx)},
        args_grad={'data': mx.nd.zeros(data.shape)}, grad_req={'data': 'write',
                                                               'indices': 'null'})
    exe.forward(is_train=True)
    exe.backward([mx.nd.array(head)])
    want = a['grad:data'].copy()
    for k in range(idx.shape[1]):
        if (idx[:, k] < 0).any():
            want[tuple(idx[:, k])] += head[k]
    np.testing.assert_allclose(exe.grad_dict['data'].asnumpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('case', IMPERATIVE)
def test_ndarray_call_matches_mxnet(case):
    c, a = CASES[case], _fields(case)
    out = getattr(mx.nd, c['op'])(*[mx.nd.array(a['in:' + n]) for n in c['args']],
                                  **_attrs(c))
    _close(out.asnumpy(), a['out:0'], case)


@pytest.mark.parametrize('case', sorted(CREATION))
def test_creation_function_matches_mxnet(case):
    got = eval(CREATION[case], {'mx': mx}).eval(ctx=mx.cpu())[0].asnumpy()
    _close(got, ARRAYS[case + '/out:0'], '%s: %s' % (case, CREATION[case]))


# ------------------------------------------------------------------------------------------
# Shape inference MXNet does from partial shapes (0 = unknown), and what it refuses

V = mx.sym.Variable


@pytest.mark.parametrize('build,given,args,out', [
    (lambda: mx.sym.pick(V('x'), V('i'), axis=1), {'x': (0, 3, 3), 'i': (0, 3)},
     [(0, 3, 3), (0, 3)], (0, 3)),
    (lambda: mx.sym.pick(V('x'), V('i'), axis=1), {'x': (2, 0, 3), 'i': (0, 3)},
     [(2, 0, 3), (2, 3)], (2, 3)),
    (lambda: mx.sym.pick(V('x'), V('i'), axis=1, keepdims=True), {'x': (2, 3, 3)},
     [(2, 3, 3), (2, 3)], (2, 1, 3)),
    (lambda: mx.sym.take(V('a'), V('i'), axis=1), {'a': (0, 3, 4), 'i': (2, 2)},
     [(0, 3, 4), (2, 2)], (0, 2, 2, 4)),
    (lambda: mx.sym.take(V('a'), V('i'), axis=1), {'a': (0, 3, 4), 'i': (0, 2)},
     [(0, 3, 4), (0, 2)], None),
    (lambda: mx.sym.one_hot(V('i'), depth=4), {'i': (0, 3)}, [(0, 3)], None),
    (lambda: mx.sym.repeat(V('x'), repeats=2, axis=1), {'x': (0, 3)}, [(0, 3)], (0, 6)),
    (lambda: mx.sym.stack(V('a'), V('b'), axis=1), {'a': (0, 3), 'b': (2, 0)},
     [(2, 3), (2, 3)], (2, 2, 3)),
    (lambda: mx.sym.broadcast_to(V('x'), shape=(4, 0)), {'x': (1, 3)}, [(1, 3)], (4, 3)),
    (lambda: mx.sym.broadcast_like(V('a'), V('b')), {'a': (1, 3), 'b': (2, 0)},
     [(1, 3), (2, 0)], (2, 3)),
    (lambda: mx.sym.slice_like(V('a'), V('b'), axes=(0,)), {'a': (3, 4), 'b': (2, 0)},
     [(3, 4), (2, 0)], (2, 4)),
    (lambda: mx.sym.shape_array(V('x')), {'x': (0, 3)}, [(0, 3)], (2,)),
    (lambda: mx.sym.moments(V('x'), axes=(1,)), {'x': (0, 3)}, [(0, 3)], [(0,), (0,)]),
    (lambda: mx.sym.SVMOutput(V('d'), V('l')), {'d': (0, 3)}, [(0, 3), (0,)], (0, 3)),
    (lambda: mx.sym.argmax(V('x'), axis=1), {'x': (0, 3)}, [(0, 3)], None),
    (lambda: mx.sym.ones((0, 3)) + V('x'), {'x': (2, 3)}, [(2, 3)], (2, 3)),
])
def test_partial_shapes_as_mxnet(build, given, args, out):
    sym = build()
    got_args, got_out, _ = sym.infer_shape_partial(**given)
    assert got_args == args
    assert got_out == (out if isinstance(out, list) else [out if out is not None else ()])


def test_identity_with_attr_like_rhs_carries_the_shape_back():
    # MXNet's own test_backward_infer: the constraint gives the weight its shape
    w = V('weight')
    wt = mx.sym.broadcast_add(w, V('wshift', shape=(1,)))
    wt = mx.sym._internal._identity_with_attr_like_rhs(wt, w)
    net = mx.sym.FullyConnected(data=V('data'), weight=wt, num_hidden=11, no_bias=True)
    shapes = dict(zip(net.list_arguments(), net.infer_shape(data=(7, 100))[0]))
    assert shapes['weight'] == (11, 100)


def test_arange_infer_range_takes_its_length_from_inference():
    a = mx.sym.arange(start=2, step=0.5, repeat=2, infer_range=True)
    exe = (a + V('x')).simple_bind(mx.cpu(), x=(6,))
    np.testing.assert_array_equal(exe.forward()[0].asnumpy(), [2, 2, 2.5, 2.5, 3, 3])


@pytest.mark.parametrize('build,given,pattern', [
    (lambda: mx.sym.pick(V('x'), V('i'), axis=None, name='p1'), {'x': (2, 3)},
     r"'p1'.*axis=None"),
    (lambda: mx.sym.pick(V('x'), V('i'), axis=1, name='p2'), {'x': (2, 3, 3), 'i': (2, 4)},
     r"'p2'"),
    (lambda: mx.sym.topk(V('x'), k=9, name='t1'), {'x': (2, 4)}, r"'t1'.*k=9"),
    (lambda: mx.sym.squeeze(V('x'), axis=0, name='sq'), {'x': (2, 1)}, r"'sq'.*axis 0"),
    (lambda: mx.sym.broadcast_axis(V('x'), axis=0, size=4, name='ba'), {'x': (2, 3)},
     r"'ba'.*not 1"),
    (lambda: mx.sym.reshape_like(V('a'), V('b'), name='rl'), {'a': (6, 2), 'b': (3, 5)},
     r"'rl'.*\(3, 5\)"),
    (lambda: mx.sym.slice_like(V('a'), V('b'), name='sl'), {'a': (3, 4), 'b': (4, 3)},
     r"'sl'.*larger"),
    (lambda: mx.sym.depth_to_space(V('x'), block_size=2, name='d2s'), {'x': (1, 3, 2, 2)},
     r"'d2s'.*multiple"),
    (lambda: mx.sym.diag(V('x'), k=5, name='dg'), {'x': (3, 3)}, r"'dg'.*k=5"),
    (lambda: mx.sym.khatri_rao(V('a'), V('b'), name='kr'), {'a': (2, 2), 'b': (2, 3)},
     r"'kr'.*columns"),
    (lambda: mx.sym.moments(V('x'), name='mo'), {'x': (2, 3)}, r"'mo'.*axes"),
    (lambda: mx.sym.softmax_cross_entropy(V('d'), V('l'), name='sce'), {'d': (2, 3, 4)},
     r"'sce'.*2-D"),
])
def test_shape_errors_name_the_operator(build, given, pattern):
    with pytest.raises(mx.base.MXNetError, match=pattern):
        build().infer_shape(**given)


# ------------------------------------------------------------------------------------------
# Numerics that the fixtures cover only at a few points

def test_special_functions_are_accurate_in_float64():
    import math
    from distmod.ops.elemwise import erf64, erfinv64, gamma64, gammaln64, digamma64
    x = np.linspace(-6, 6, 2001)
    np.testing.assert_allclose(erf64(np, x), [math.erf(v) for v in x], rtol=0, atol=2e-15)
    p = np.linspace(-0.999, 0.999, 999)
    np.testing.assert_allclose(erf64(np, erfinv64(np, p)), p, rtol=0, atol=1e-14)
    g = np.concatenate([np.linspace(-9.9, 30, 1999), [0.5, 1, 2, 1e-6]])
    g = g[np.abs(g - np.round(g)) > 1e-9]
    np.testing.assert_allclose(gammaln64(np, g), [math.lgamma(v) for v in g], rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(gamma64(np, g), [math.gamma(v) for v in g], rtol=1e-12)
    h = 1e-6
    d = g[np.abs(g - np.round(g)) > 1e-3]
    np.testing.assert_allclose(digamma64(np, d), (gammaln64(np, d + h) - gammaln64(np, d - h))
                               / (2 * h), rtol=1e-5, atol=1e-5)
    assert np.isinf(gammaln64(np, np.array([0.0, -3.0]))).all()
    assert np.isnan(gamma64(np, np.array([-1.0, -2.0]))).all()
    assert erfinv64(np, np.array([1.0, -1.0, 1.5])).tolist()[:2] == [np.inf, -np.inf]


def test_rounding_rules_on_integers_keep_the_values():
    x = mx.nd.array([-3, 2, 5], dtype='int32')
    for name in ('floor', 'ceil', 'round', 'rint', 'fix', 'trunc'):
        out = getattr(mx.nd, name)(x)
        assert out.dtype == np.int32 and out.asnumpy().tolist() == [-3, 2, 5], name


def test_topk_both_gives_values_and_positions_in_their_dtypes():
    v, i = mx.nd.topk(mx.nd.array([[3, 1, 2, 1]]), k=2, ret_typ='both', dtype='int64')
    assert v.dtype == np.float32 and i.dtype == np.int64
    assert v.asnumpy().tolist() == [[3, 2]] and i.asnumpy().tolist() == [[0, 2]]


def test_choose_element_0index_is_pick():
    x = mx.nd.array([[1, 2], [3, 4]])
    assert mx.nd.choose_element_0index(x, mx.nd.array([1, 0])).asnumpy().tolist() == [2, 3]


def test_kl_sparse_reg_without_penalty_only_averages():
    s = mx.sym.IdentityAttachKLSparseReg(V('h'), penalty=0.0, momentum=0.5, name='kl')
    exe = s.simple_bind(mx.cpu(), h=(2, 2))
    exe.arg_dict['h'][:] = mx.nd.array([[0.2, 0.4], [0.6, 0.8]])
    exe.aux_dict['kl_moving_avg'][:] = 0
    exe.forward(is_train=True)
    exe.backward([mx.nd.ones((2, 2))])
    np.testing.assert_allclose(exe.grad_dict['h'].asnumpy(), np.ones((2, 2)))


# the NDArray creation functions (distmod/ndarray) against the same MXNet values
ND_CREATION = {
    'ones': lambda: mx.nd.ones((2, 3)), 'ones_int': lambda: mx.nd.ones((2,), dtype='int32'),
    'full': lambda: mx.nd.full((2, 2), 3.5),
    'full_int': lambda: mx.nd.full((3,), 3.7, dtype='int32'),
    'arange': lambda: mx.nd.arange(5), 'arange_step': lambda: mx.nd.arange(1, 4, 0.5),
    'arange_repeat': lambda: mx.nd.arange(0, 3, repeat=2),
    'arange_negative': lambda: mx.nd.arange(5, 1, -1.5),
    'arange_int': lambda: mx.nd.arange(0, 5, 2, dtype='int32'),
    'arange_int_fraction': lambda: mx.nd.arange(0, 2.5, 0.5, dtype='int32'),
    'arange_tenths': lambda: mx.nd.arange(0, 1.7, 0.1),
    'eye_rect_k': lambda: mx.nd._internal._eye(N=2, M=4, k=1),
    'linspace_open': lambda: mx.nd._internal._linspace(start=0, stop=1, num=5, endpoint=False),
}


@pytest.mark.parametrize('case', sorted(ND_CREATION))
def test_ndarray_creation_agrees_with_mxnet(case):
    _close(ND_CREATION[case]().asnumpy(), ARRAYS[case + '/out:0'], case)


def test_operators_mxnet_cannot_differentiate_say_so():
    from distmod.ops import all_ops
    refused = {n for n, cls in all_ops().items() if getattr(cls, 'differentiable', True) is False}
    assert {'batch_take', 'argmax_channel', 'khatri_rao', 'fill_element_0index'} <= refused
    assert not refused & {'argmax', 'argsort', 'topk', 'pick', 'take'}


def test_fluent_methods_reach_the_new_operators():
    x = V('x')
    assert x.tile(reps=(2,)).infer_shape(x=(2, 3))[1] == [(2, 6)]
    assert x.argmax_channel().infer_shape(x=(2, 3))[1] == [(2,)]
    assert x.one_hot(depth=3).infer_shape(x=(4,))[1] == [(4, 3)]
