"""Random operators: mx.nd.random / mx.sym.random repeat per seed, draw the right distributions,
shapes and dtypes, and survive MXNet's symbol JSON."""
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

import distmod as mx
from distmod.base import MXNetError

# written by MXNet 1.9.1: data -> +normal noise -> shuffle -> softmax -> multinomial, plus
# uniform (float64), randint and random_uniform nodes
MXNET_JSON = (
    '{"nodes":[{"op":"null","name":"data","inputs":[]},{"op":"_random_normal","name":"noise",'
    '"attrs":{"loc":"0","scale":"0.1","shape":"(4, 3)"},"inputs":[]},{"op":"elemwise_add",'
    '"name":"_plus0","inputs":[[0,0,0],[1,0,0]]},{"op":"_shuffle","name":"sh","inputs":'
    '[[2,0,0]]},{"op":"_random_uniform","name":"u","attrs":{"dtype":"float64","high":"1",'
    '"low":"-1","shape":"(4, 3)"},"inputs":[]},{"op":"_random_randint","name":"r","attrs":'
    '{"high":"10","low":"0","shape":"(5,)"},"inputs":[]},{"op":"softmax","name":"softmax0",'
    '"inputs":[[3,0,0]]},{"op":"_sample_multinomial","name":"m","attrs":{"dtype":"int32",'
    '"get_prob":"True","shape":"2"},"inputs":[[6,0,0]]},{"op":"_random_uniform","name":"ru",'
    '"attrs":{"shape":"(2,)"},"inputs":[]}],"arg_nodes":[0],"node_row_ptr":[0,1,2,3,4,5,6,7,9,'
    '10],"heads":[[3,0,0],[4,0,0],[5,0,0],[7,0,0],[7,1,0],[8,0,0]],"attrs":{"mxnet_version":'
    '["int",10901]}}')


def _draws():
    p = mx.nd.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    return [mx.nd.random.uniform(-1, 2, shape=(3, 4)), mx.nd.random.normal(1, 2, shape=(5,)),
            mx.nd.random.randint(0, 100, shape=(6,)), mx.nd.random.shuffle(mx.nd.arange(10)),
            mx.nd.random.multinomial(p, shape=4)]


# ---- repeatability -------------------------------------------------------------------------
def test_same_seed_repeats_every_draw_and_another_seed_differs():
    mx.random.seed(11)
    first = [a.asnumpy() for a in _draws()]
    mx.random.seed(11)
    again = [a.asnumpy() for a in _draws()]
    mx.random.seed(12)
    other = [a.asnumpy() for a in _draws()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert not np.array_equal(first[0], other[0])


def test_consecutive_draws_differ_without_reseeding():
    mx.random.seed(0)
    a = mx.nd.random.uniform(shape=(100,)).asnumpy()
    b = mx.nd.random.uniform(shape=(100,)).asnumpy()
    assert not np.array_equal(a, b)


def test_bound_graph_draws_fresh_numbers_each_forward_and_repeats_per_seed():
    exe = mx.sym.random.normal(shape=(50,)).simple_bind(mx.cpu())
    mx.random.seed(5)
    a = exe.forward()[0].asnumpy()
    b = exe.forward()[0].asnumpy()
    mx.random.seed(5)
    c = exe.forward()[0].asnumpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


# ---- distributions -------------------------------------------------------------------------
def test_uniform_moments_and_half_open_range():
    mx.random.seed(1)
    x = mx.nd.random.uniform(-2, 4, shape=(200000,)).asnumpy()
    assert x.min() >= -2 and x.max() < 4
    assert abs(x.mean() - 1.0) < 0.02
    assert abs(x.var() - 36 / 12.0) < 0.03


def test_normal_moments():
    mx.random.seed(2)
    x = mx.nd.random.normal(3, 0.5, shape=(200000,)).asnumpy()
    assert abs(x.mean() - 3) < 0.005
    assert abs(x.std() - 0.5) < 0.005


def test_randint_covers_the_half_open_range_evenly():
    mx.random.seed(3)
    x = mx.nd.random.randint(-3, 4, shape=(70000,)).asnumpy()
    assert x.min() == -3 and x.max() == 3
    counts = np.bincount(x + 3)
    np.testing.assert_allclose(counts / x.size, np.full(7, 1 / 7.0), atol=0.01)


def test_shuffle_permutes_rows_only():
    mx.random.seed(4)
    data = np.arange(40, dtype=np.float32).reshape(10, 4)
    out = mx.nd.random.shuffle(mx.nd.array(data)).asnumpy()
    assert sorted(map(tuple, out)) == sorted(map(tuple, data))     # rows intact
    assert not np.array_equal(out, data)
    seen = {tuple(np.argsort(mx.nd.random.shuffle(mx.nd.arange(3)).asnumpy()))
            for _ in range(60)}
    assert len(seen) == 6          # every permutation of 3 turns up


def test_multinomial_frequencies_follow_the_probabilities():
    mx.random.seed(5)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.0, 0.5]], dtype=np.float32)
    s = mx.nd.random.multinomial(mx.nd.array(probs), shape=50000).asnumpy()
    for row, p in zip(s, probs):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / row.size, p, atol=0.01)


def test_multinomial_get_prob_gives_log_probability_of_each_draw():
    mx.random.seed(6)
    probs = np.array([[0.25, 0.75], [0.9, 0.1]], dtype=np.float32)
    s, logp = mx.nd.random.multinomial(mx.nd.array(probs), shape=(3,), get_prob=True)
    s, logp = s.asnumpy(), logp.asnumpy()
    np.testing.assert_allclose(logp, np.log(np.take_along_axis(probs, s, axis=1)), rtol=1e-6)


def test_multinomial_gradient_is_head_over_probability_at_the_draws():
    d = mx.sym.Variable('d')
    m = mx.sym.random.multinomial(d, shape=4)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]], dtype=np.float32)
    exe = m.bind(mx.cpu(), args={'d': mx.nd.array(probs)}, args_grad={'d': mx.nd.zeros((2, 3))})
    samples = exe.forward(is_train=True)[0].asnumpy()
    exe.backward([mx.nd.zeros((2, 4)), mx.nd.ones((2, 4)) * 2])
    want = np.zeros((2, 3))
    for i in range(2):
        for j in samples[i]:
            want[i, j] += 2 / probs[i, j]
    np.testing.assert_allclose(exe.grad_dict['d'].asnumpy(), want, rtol=1e-5)


# ---- shapes and dtypes ---------------------------------------------------------------------
@pytest.mark.parametrize('fn,kwargs,shape,dtype', [
    (mx.nd.random.uniform, {}, (1,), np.float32),
    (mx.nd.random.uniform, {'shape': 5}, (5,), np.float32),
    (mx.nd.random.uniform, {'shape': (2, 3), 'dtype': 'float16'}, (2, 3), np.float16),
    (mx.nd.random.normal, {'shape': (2, 3), 'dtype': 'float64'}, (2, 3), np.float64),
    (mx.nd.random.randint, {'low': 0, 'high': 5}, (1,), np.int32),
    (mx.nd.random.randint, {'low': 0, 'high': 5, 'shape': (4,), 'dtype': 'int64'}, (4,),
     np.int64),
    (mx.nd.random_uniform, {'shape': (2,)}, (2,), np.float32),
    (mx.nd.random_normal, {'shape': (2,), 'dtype': 'float64'}, (2,), np.float64),
])
def test_nd_shapes_and_dtypes_as_mxnet(fn, kwargs, shape, dtype):
    out = fn(**kwargs)
    assert out.shape == shape and out.dtype == dtype


@pytest.mark.parametrize('data_shape,kwargs,out_shape', [
    ((2, 3), {}, (2,)), ((3,), {}, (1,)), ((3,), {'shape': (2, 3)}, (2, 3)),
    ((3, 4), {'shape': (2, 5)}, (3, 2, 5)), ((2, 3, 4), {}, (2, 3))])
def test_multinomial_shapes_as_mxnet(data_shape, kwargs, out_shape):
    d = mx.sym.Variable('d')
    _, outs, _ = mx.sym.random.multinomial(d, **kwargs).infer_shape(d=data_shape)
    assert outs == [out_shape, out_shape]
    _, types, _ = mx.sym.random.multinomial(d, dtype='float32').infer_type(d='float64')
    assert types == [np.float32, np.float64]


def test_symbol_inference_and_output_names():
    u = mx.sym.random.uniform(0, 1, shape=(2, 3), dtype='float64', name='u')
    assert u.infer_shape() == ([], [(2, 3)], [])
    assert u.infer_type() == ([], [np.float64], [])
    r = mx.sym.random.randint(0, 9, shape=(4,))
    assert r.infer_type()[1] == [np.int32]
    d = mx.sym.Variable('d')
    assert mx.sym.random.multinomial(d, name='m').list_outputs() == ['m_output0', 'm_output1']
    assert mx.sym.random.multinomial(d, get_prob=False, name='m').list_outputs() == ['m_output']
    assert mx.sym.random.shuffle(d).infer_shape(d=(5, 2))[1] == [(5, 2)]


def test_ctx_places_the_result():
    ctx = mx.cpu(1)
    assert mx.nd.random.uniform(shape=(2,), ctx=ctx).context == ctx
    assert mx.nd.random_normal(shape=(2,), ctx=ctx).context == ctx
    assert mx.current_context() == mx.cpu(0)      # the scope did not leak


# ---- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize('call,match', [
    (lambda: mx.nd.random.randint(5, 5, shape=(3,)), 'low must be less than high'),
    (lambda: mx.nd.random.randint(5, 2, shape=(3,)), 'low must be less than high'),
    (lambda: mx.nd.random.uniform(2, 1, shape=(3,)), 'low must be less or equal to high'),
    (lambda: mx.nd.random.normal(0, -1, shape=(3,)), 'scale parameter in gaussian'),
    (lambda: mx.nd.random.normal(0, 0, shape=(3,)), 'scale parameter in gaussian'),
    (lambda: mx.nd.random.randint(0, 5, shape=(3,), dtype='float32'), 'invalid dtype'),
    (lambda: mx.nd.random.uniform(shape=(3,), dtype='int32'), 'invalid dtype'),
    (lambda: mx.nd.random.multinomial(mx.nd.ones((2,)), dtype='int64'), 'dtype'),
    (lambda: mx.nd.random.uniform(mx.nd.zeros((2,)), 1), 'all be numbers or all'),
    (lambda: mx.sym.random.normal(mx.sym.Variable('m'), 1), 'all be numbers or all'),
    (lambda: mx.nd.random.randint(0, 2 ** 40, dtype='int32'), 'does not fit'),
])
def test_bad_parameters_raise_clear_errors(call, match):
    with pytest.raises(MXNetError, match=match):
        call()


def test_equal_bounds_for_uniform_are_allowed_as_in_mxnet():
    np.testing.assert_array_equal(mx.nd.random.uniform(1, 1, shape=(3,)).asnumpy(), [1, 1, 1])


# ---- graphs and JSON -----------------------------------------------------------------------
def test_symbol_json_matches_mxnet_attributes():
    nodes = json.loads(mx.sym.random.uniform(0, 1, shape=(2, 3)).tojson())['nodes']
    assert nodes == [{'op': '_random_uniform', 'name': '_random_uniform0',
                      'attrs': {'low': '0', 'high': '1', 'shape': '(2, 3)'}, 'inputs': []}]
    nodes = json.loads(mx.sym.random_uniform().tojson())['nodes']
    assert nodes[0]['op'] == '_random_uniform' and nodes[0]['name'] == 'random_uniform0'
    assert 'attrs' not in nodes[0]
    m = json.loads(mx.sym.random.multinomial(mx.sym.Variable('d'), shape=3).tojson())
    assert m['nodes'][1]['attrs'] == {'get_prob': 'True', 'dtype': 'int32', 'shape': '3'}


def test_mxnet_json_with_random_ops_loads_infers_and_runs():
    g = mx.sym.load_json(MXNET_JSON)
    assert json.loads(g.tojson())['nodes'] == json.loads(MXNET_JSON)['nodes']
    _, shapes, _ = g.infer_shape(data=(4, 3))
    assert shapes == [(4, 3), (4, 3), (5,), (4, 2), (4, 2), (2,)]
    _, types, _ = g.infer_type(data='float32')
    assert types == [np.float32, np.float64, np.int32, np.int32, np.float32, np.float32]
    data = mx.nd.array(np.arange(12).reshape(4, 3))
    exe = g.bind(mx.cpu(), args={'data': data})
    mx.random.seed(9)
    first = [o.asnumpy() for o in exe.forward()]
    mx.random.seed(9)
    back = mx.sym.load_json(g.tojson()).bind(mx.cpu(), args={'data': data})
    for a, b in zip(first, back.forward()):
        np.testing.assert_array_equal(a, b.asnumpy())
    # shuffled rows of data + N(0, 0.1) noise: rounding recovers the rows
    assert sorted(map(tuple, np.round(first[0]))) == sorted(map(tuple, data.asnumpy()))
    assert ((first[2] >= 0) & (first[2] < 10)).all()
    assert ((first[3] >= 0) & (first[3] < 3)).all()


def test_nd_and_sym_draw_the_same_numbers_for_the_same_seed():
    probs = np.array([[0.3, 0.7], [0.6, 0.4]], dtype=np.float32)
    cases = [(mx.nd.random.uniform, mx.sym.random.uniform, dict(low=-1, high=3, shape=(3, 2))),
             (mx.nd.random.normal, mx.sym.random.normal, dict(loc=2, scale=3, shape=(4,))),
             (mx.nd.random.randint, mx.sym.random.randint, dict(low=0, high=50, shape=(6,)))]
    for nd_fn, sym_fn, kw in cases:
        mx.random.seed(21)
        a = nd_fn(**kw).asnumpy()
        mx.random.seed(21)
        b = sym_fn(**kw).simple_bind(mx.cpu()).forward()[0].asnumpy()
        np.testing.assert_array_equal(a, b)
    d = mx.sym.Variable('d')
    mx.random.seed(22)
    a = mx.nd.random.shuffle(mx.nd.arange(8)).asnumpy()
    mx.random.seed(22)
    b = mx.sym.random.shuffle(d).bind(mx.cpu(), args={'d': mx.nd.arange(8)}).forward()[0]
    np.testing.assert_array_equal(a, b.asnumpy())
    mx.random.seed(23)
    a = mx.nd.random.multinomial(mx.nd.array(probs), shape=5, get_prob=True)
    mx.random.seed(23)
    b = mx.sym.random.multinomial(d, shape=5).bind(mx.cpu(), args={'d': mx.nd.array(probs)})
    for x, y in zip(a, b.forward()):
        np.testing.assert_array_equal(x.asnumpy(), y.asnumpy())


def test_shuffle_backward_routes_gradients_through_the_permutation():
    d = mx.sym.Variable('d')
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    exe = mx.sym.random.shuffle(d).bind(mx.cpu(), args={'d': mx.nd.array(x)},
                                        args_grad={'d': mx.nd.zeros((3, 2))})
    out = exe.forward(is_train=True)[0].asnumpy()
    exe.backward(mx.nd.array(out * 10))
    np.testing.assert_allclose(exe.grad_dict['d'].asnumpy(), x * 10)


VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')


@pytest.mark.mxnet
@pytest.mark.skipif(not os.path.exists(VENV_PY), reason='reference MXNet venv not found')
def test_our_random_graph_json_loads_in_mxnet(tmp_path):
    d = mx.sym.Variable('data')
    g = mx.sym.Group([mx.sym.random.shuffle(d + mx.sym.random.normal(0, 0.1, shape=(4, 3))),
                      mx.sym.random.randint(0, 10, shape=(5,), dtype='int64'),
                      mx.sym.random.multinomial(mx.sym.softmax(d), shape=2)[1],
                      mx.sym.random.uniform(-1, 1, shape=(2,), dtype='float16')])
    g.save(str(tmp_path / 'g-symbol.json'))
    script = textwrap.dedent('''
        import sys, mxnet as mx
        g = mx.sym.load(sys.argv[1])
        print(g.infer_shape(data=(4, 3))[1], [t.__name__ for t in g.infer_type(data='float32')[1]])
    ''')
    env = dict(os.environ, MXNET_SUBGRAPH_BACKEND='NONE')
    out = subprocess.run([VENV_PY, '-c', script, str(tmp_path / 'g-symbol.json')], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line == ("[(4, 3), (5,), (4, 2), (2,)] ['float32', 'int64', 'float32', 'float16']")
    assert g.infer_shape(data=(4, 3))[1] == [(4, 3), (5,), (4, 2), (2,)]


def test_input_less_operators_honour_their_ctx_parameter():
    a = mx.nd._random_uniform(shape=(2,), ctx='cpu(0)')
    assert a.context == mx.cpu(0)
    z = mx.nd._zeros(shape=(2, 3), ctx=mx.cpu(0))
    assert z.context == mx.cpu(0) and z.shape == (2, 3)
    with pytest.raises(mx.MXNetError, match="ctx='nonsense' is not a context"):
        mx.nd._random_uniform(shape=(2,), ctx='nonsense')


def test_more_distributions_have_their_moments():
    mx.random.seed(5)
    n = 40000
    draws = {
        'exponential': (mx.nd.random.exponential(2.0, shape=(n,)), 2.0, 4.0),
        'gamma': (mx.nd.random.gamma(2.0, 3.0, shape=(n,)), 6.0, 18.0),
        'poisson': (mx.nd.random.poisson(3.0, shape=(n,)), 3.0, 3.0),
        'negative_binomial': (mx.nd.random.negative_binomial(3, 0.5, shape=(n,)), 3.0, 6.0),
        'generalized_negative_binomial': (
            mx.nd.random.generalized_negative_binomial(2.0, 0.5, shape=(n,)), 2.0, 4.0),
    }
    for name, (x, mean, var) in draws.items():
        a = x.asnumpy()
        assert x.dtype == np.float32 and x.shape == (n,), name
        assert abs(a.mean() - mean) < 0.05 * mean + 0.03, (name, a.mean())
        assert abs(a.var() - var) < 0.1 * var, (name, a.var())
    assert mx.random.poisson(2.0, shape=(3,)).shape == (3,)
    assert mx.nd.random.randn(2, 3).shape == (2, 3)


def test_per_element_parameters_and_like():
    mx.random.seed(6)
    x = mx.nd.random.normal(mx.nd.array([0.0, 100.0]), mx.nd.array([1.0, 0.01]), shape=500)
    a = x.asnumpy()
    assert a.shape == (2, 500) and abs(a[0].mean()) < 0.2 and abs(a[1].mean() - 100) < 0.01
    u = mx.nd.random.uniform(mx.nd.array([[0.0], [5.0]]), mx.nd.array([[1.0], [6.0]]))
    assert u.shape == (2, 1) and 0 <= u.asnumpy()[0, 0] < 1 and 5 <= u.asnumpy()[1, 0] < 6
    like = mx.nd.random.gamma_like(mx.nd.zeros((3, 4), dtype='float64'), 2.0, 1.0)
    assert like.shape == (3, 4) and like.dtype == np.float64
    s = mx.sym.random.poisson(mx.sym.Variable('lam'), shape=(2,))
    assert s.infer_shape(lam=(3,))[1] == [(3, 2)]
    out = s.eval(lam=mx.nd.array([1.0, 2.0, 3.0]))[0]
    assert out.shape == (3, 2) and (out.asnumpy() >= 0).all()
    assert mx.sym.random.exponential(0.5, shape=(2,)).infer_shape()[1] == [(2,)]
