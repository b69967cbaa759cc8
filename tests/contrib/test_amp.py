"""``mx.contrib.amp`` against MXNet 1.9.1: the graphs ``convert_symbol``/``convert_model``/
``init`` make (nodes, names, order, attributes: tests/fixtures/contrib/amp.json, written by
tests/fixtures/make_contrib_fixtures.py), the casts removed again, the parameters' types, and
float16 outputs within float16 accuracy of the float32 model."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import distmod as mx
from distmod.base import MXNetError
from distmod.contrib.amp import amp

from . import amp_nets

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = json.load(open(os.path.join(HERE, '..', 'fixtures', 'contrib', 'amp.json')))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))


def _graph(doc):
    """What a conversion decides, from symbol JSON: every node's operator, name, attributes
    and inputs, and the heads.  (``node_row_ptr``, entry versions and the ``__init__`` of
    auxiliary states describe distmod's symbols apart from AMP and are left out.)"""
    nodes = [(n['op'], n['name'],
              {k: v for k, v in n.get('attrs', {}).items() if k != '__init__'},
              [tuple(e[:2]) for e in n['inputs']]) for n in doc['nodes']]
    return nodes, [tuple(h[:2]) for h in doc['heads']]


def _with_casts(sym):
    """``sym``'s JSON with every cast kept (MXNet's ``tojson(remove_amp_cast=False)``)."""
    try:
        return json.loads(sym.tojson(remove_amp_cast=False))
    except TypeError:          # a Symbol.tojson that takes no flag keeps everything
        return json.loads(sym.tojson())


def _kwargs(case):
    kw = dict(case['kwargs'])
    if 'conditional_fp32_ops' in kw:
        kw['conditional_fp32_ops'] = [tuple(c) for c in kw['conditional_fp32_ops']]
    return kw


CONVERT = FIXTURE['convert_symbol']
MODELS = FIXTURE['convert_model']


@pytest.mark.parametrize('case', CONVERT, ids=[c['case'] for c in CONVERT])
def test_convert_symbol_makes_mxnets_graph(case):
    conv = amp.convert_symbol(amp_nets.build(mx, case['net']), **_kwargs(case))
    assert _graph(_with_casts(conv)) == _graph(case['json'])


@pytest.mark.parametrize('case', CONVERT, ids=[c['case'] for c in CONVERT])
def test_remove_amp_cast_gives_what_mxnet_saves(case):
    conv = amp.convert_symbol(amp_nets.build(mx, case['net']), **_kwargs(case))
    assert _graph(json.loads(amp.remove_amp_cast(conv).tojson())) == _graph(case['removed'])


def _model(case):
    sym = amp_nets.build(mx, case['net'])
    shapes = {k: tuple(v) for k, v in case['shapes'].items()}
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    args = {n: mx.nd.ones(s) for n, s in zip(sym.list_arguments(), arg_shapes)
            if n not in shapes and not n.endswith('label')}
    auxs = {n: mx.nd.ones(s) for n, s in zip(sym.list_auxiliary_states(), aux_shapes)}
    return sym, args, auxs


@pytest.mark.parametrize('case', MODELS, ids=[c['case'] for c in MODELS])
def test_convert_model_casts_parameters_as_mxnet(case):
    sym, args, auxs = _model(case)
    conv, args2, auxs2 = amp.convert_model(sym, args, auxs, **_kwargs(case))
    assert _graph(_with_casts(conv)) == _graph(case['json'])
    assert {k: np.dtype(v.dtype).name for k, v in args2.items()} == case['arg_dtypes']
    assert {k: np.dtype(v.dtype).name for k, v in auxs2.items()} == case['aux_dtypes']
    assert args2 is args and auxs2 is auxs        # MXNet updates the given dicts


def test_amp_init_builds_mxnets_graph():
    # amp.init changes mx.sym for the rest of the process: build the graph in a fresh one
    code = (
        'import json, distmod as mx\n'
        'from distmod.contrib import amp\n'
        'mx.contrib.amp.init()\n'
        'data = mx.sym.Variable("data")\n'
        'fc1 = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")\n'
        'act = mx.sym.Activation(fc1, act_type="relu", name="relu1")\n'
        'fc2 = mx.sym.FullyConnected(act, num_hidden=4, name="fc2")\n'
        's = mx.sym.elemwise_add(fc2, mx.sym.slice_axis(fc1, axis=1, begin=0, end=4))\n'
        'sr = mx.sym.Activation(s, act_type="softrelu", name="sr")\n'
        'ex = mx.sym.exp(sr, name="ex")\n'
        'out = mx.sym.SoftmaxOutput(ex, name="softmax")\n'
        'try:\n'
        '    text = out.tojson(remove_amp_cast=False)\n'
        'except TypeError:\n'
        '    text = out.tojson()\n'
        'print(text.replace("\\n", " "))\n')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert 'SoftmaxOutput does not support dynamic loss scaling' in res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert _graph(got) == _graph(FIXTURE['init'])


def test_amp_init_casts_ndarrays_and_can_be_undone():
    try:
        amp.init()
        x = mx.nd.ones((2, 3))
        w = mx.nd.ones((4, 3))
        assert mx.nd.FullyConnected(x, w, num_hidden=4, no_bias=True).dtype == np.float16
        # on the CPU MXNet casts only float32 and bfloat16 arrays: float16 stays
        assert mx.nd.exp(x.astype("float16")).dtype == np.float16
        assert mx.nd.elemwise_add(x, x.astype('float16')).dtype == np.float32
        amp.init()                                  # a second call changes nothing
    finally:
        amp._uninit()
    assert mx.nd.FullyConnected(mx.nd.ones((2, 3)), mx.nd.ones((4, 3)), num_hidden=4,
                                no_bias=True).dtype == np.float32


@pytest.mark.parametrize('net, dshape', [('mlp', (4, 5)), ('lenet', (4, 1, 8, 8))])
@pytest.mark.parametrize('optional', [False, True])
def test_float16_model_stays_within_float16_accuracy(net, dshape, optional):
    rng = np.random.default_rng(0)
    sym = amp_nets.build(mx, net)
    mod = mx.mod.Module(sym)
    mod.bind([('data', dshape)], [('softmax_label', (dshape[0],))], for_training=False)
    mod.init_params(mx.init.Xavier())
    arg, aux = mod.get_params()
    batch = mx.io.DataBatch([mx.nd.array(rng.standard_normal(dshape))],
                            [mx.nd.zeros((dshape[0],))])
    mod.forward(batch, is_train=False)
    want = mod.get_outputs()[0].asnumpy()
    conv, arg16, aux16 = amp.convert_model(sym, dict(arg), dict(aux),
                                           cast_optional_params=optional)
    half = mx.mod.Module(conv)
    half.bind([('data', dshape)], [('softmax_label', (dshape[0],))], for_training=False)
    half.set_params(arg16, aux16)
    if optional:
        assert half.get_params()[0]['fc1_weight'].dtype == np.float16
    half.forward(batch, is_train=False)
    got = half.get_outputs()[0].asnumpy()
    assert got.dtype == np.float32                  # the loss layer runs in float32
    np.testing.assert_allclose(got, want, rtol=5e-3, atol=2e-3)
    assert np.abs(got - want).max() > 0            # it really ran in float16


def test_converted_symbol_trains_and_saves_as_float32():
    rng = np.random.default_rng(1)
    conv = amp.convert_symbol(amp_nets.build(mx, 'mlp'))
    mod = mx.mod.Module(conv)
    it = mx.io.NDArrayIter(rng.standard_normal((16, 5)).astype('float32'),
                           rng.integers(0, 4, 16), batch_size=4)
    mod.fit(it, num_epoch=2, optimizer_params={'learning_rate': 0.1})
    assert mod.get_params()[0]['fc1_weight'].dtype == np.float32
    plain = json.loads(amp.remove_amp_cast(conv).tojson())
    assert all(n['op'] != 'amp_cast' for n in plain['nodes'])
    assert _graph(plain) == _graph(json.loads(amp_nets.build(mx, 'mlp').tojson()))


def test_symbol_save_and_tojson_drop_the_casts_by_default(tmp_path):
    conv = amp.convert_symbol(amp_nets.build(mx, 'lenet'))
    want = _graph(json.loads(amp.remove_amp_cast(conv).tojson()))
    conv.save(str(tmp_path / 'net-symbol.json'))
    saved = json.loads((tmp_path / 'net-symbol.json').read_text())
    assert _graph(saved) == want
    assert _graph(json.loads(conv.tojson())) == want
    conv.save(str(tmp_path / 'kept.json'), remove_amp_cast=False)
    assert _graph(json.loads((tmp_path / 'kept.json').read_text())) == _graph(_with_casts(conv))


def test_bfloat16_graphs_build_but_do_not_bind():
    conv = amp.convert_symbol(amp_nets.build(mx, 'mlp'), target_dtype='bfloat16')
    assert mx.sym.load_json(conv.tojson()).tojson() == conv.tojson()
    mod = mx.mod.Module(conv)
    with pytest.raises(MXNetError, match="bfloat16.*not supported"):
        mod.bind([('data', (2, 5))], [('softmax_label', (2,))])
    sym, args, auxs = _model({'net': 'mlp', 'shapes': {'data': (2, 5)}})
    with pytest.raises(MXNetError, match='bfloat16'):
        amp.convert_model(sym, args, auxs, target_dtype='bfloat16', cast_optional_params=True)


def test_lists_and_their_checks():
    assert amp.list_lp16_ops('float16') == ['Convolution', 'Deconvolution', 'FullyConnected',
                                            'RNN']
    assert amp.list_lp16_ops(amp.bfloat16) == ['Convolution', 'FullyConnected']
    assert 'SoftmaxOutput' in amp.list_fp32_ops('float16')
    assert 'elemwise_add' in amp.list_widest_type_cast(np.float16)
    assert 'Pooling' in amp.list_lp16_fp32_ops('float16')
    assert amp.list_lp16_use_fp32_params('float16') is None
    assert 'BatchNorm' in amp.list_lp16_use_fp32_params('bfloat16')
    assert amp.list_loss_output_functions('float16')[0] == 'SoftmaxOutput'
    # every operator distmod registers is in exactly one float16 list (or MXNet's unlisted)
    lists = amp.lists.symbol_fp16
    cond = [c[0] for c in lists.CONDITIONAL_FP32_FUNCS]
    from distmod.ops import all_names
    for name in all_names():
        homes = [lst for lst in (lists.FP16_FUNCS, lists.FP16_FP32_FUNCS, lists.FP32_FUNCS,
                                 lists.WIDEST_TYPE_CASTS, cond, lists.UNLISTED) if name in lst]
        assert len(homes) == 1, name
    sym = amp_nets.build(mx, 'mlp')
    with pytest.raises(AssertionError, match='two or more lists'):
        amp.convert_symbol(sym, target_dtype_ops=['FullyConnected'],
                           fp32_ops=['FullyConnected'])
    with pytest.raises(AssertionError, match='not in any of them'):
        amp.convert_symbol(sym, target_dtype_ops=['NoSuchOperator'])
    with pytest.raises(AssertionError, match='float16 and bfloat16'):
        amp.convert_symbol(sym, target_dtype='float64')


def test_gluon_pieces_say_they_do_not_apply():
    with pytest.raises(MXNetError, match='Gluon'):
        amp.convert_hybrid_block(object())
    with pytest.raises(TypeError, match='Gluon'):
        amp.unscale(mx.optimizer.SGD())
    with pytest.raises(AssertionError):
        with amp.scale_loss(mx.nd.ones(1), mx.optimizer.SGD()):
            pass


def test_loss_scaler_schedule():
    from distmod.contrib.amp.loss_scaler import LossScaler
    ls = LossScaler()
    assert ls.loss_scale == 2.0 ** 16
    assert ls.has_overflow([mx.nd.array([1.0, np.inf])])
    assert not ls.has_overflow([mx.nd.ones(2)])
    assert ls.loss_scale == 2.0 ** 15


def _lstm_bucketing_model():
    """A two-layer LSTM language model over buckets, trained one epoch (MXNet's
    test_bucketing ``train_model``, smaller)."""
    rng = np.random.default_rng(0)
    vocab, hidden = 12, 6
    sents = [list(rng.integers(1, vocab, rng.integers(2, 12))) for _ in range(96)]
    it = mx.rnn.BucketSentenceIter(sents, 16, buckets=[4, 8, 12], invalid_label=-1)
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=hidden, prefix='lstm_l%d_' % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Reshape(mx.sym.Variable('softmax_label'), shape=(-1,))
        embed = mx.sym.Embedding(data, input_dim=vocab, output_dim=hidden, name='embed')
        stack.reset()
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, hidden)),
                                     num_hidden=vocab, name='pred')
        return (mx.sym.SoftmaxOutput(pred, label, name='softmax'), ('data',),
                ('softmax_label',))

    model = mx.mod.BucketingModule(sym_gen, default_bucket_key=it.default_bucket_key)
    model.fit(it, num_epoch=1, eval_metric=mx.metric.Perplexity(-1),
              optimizer_params={'learning_rate': 0.1}, initializer=mx.init.Xavier())
    return model, rng


@pytest.mark.parametrize('optional', [False, True])
def test_convert_bucketing_module_scores_like_the_float32_model(optional):
    model, rng = _lstm_bucketing_model()
    conv = amp.convert_bucketing_module(model, cast_optional_params=optional)
    # a bucket the model never made (6) is converted when first needed
    val = [list(rng.integers(1, 12, rng.integers(2, 12))) for _ in range(64)]
    data = mx.rnn.BucketSentenceIter(val, 16, buckets=[4, 6, 8, 12], invalid_label=-1)
    assert data.default_bucket_key == 12
    conv.bind(data.provide_data, data.provide_label, for_training=False)
    assert any('amp_cast_float16' in n for n in conv.symbol.get_internals().list_outputs())
    got = conv.score(data, mx.metric.Perplexity(-1))[0][1]
    want = model.score(data, mx.metric.Perplexity(-1))[0][1]
    assert got == pytest.approx(want, rel=0.02)
    assert 6 in conv._buckets
    assert any('amp_cast' in n for n in conv._buckets[6].symbol.get_internals().list_outputs())
    assert model._buckets[model._default_bucket_key].symbol.list_outputs() == \
        ['softmax_output']                         # the float32 model is left as it was


def test_from_mxnet_contrib_amp_import_amp_works():
    from distmod.contrib.amp import amp as inner
    assert inner.convert_symbol is mx.contrib.amp.convert_symbol
    assert mx.contrib.amp.amp is inner
    assert callable(mx.contrib.amp.init)
