"""BucketingModule, SequentialModule, PythonModule and PythonLossModule on one process."""
import logging
import os

import numpy as np
import pytest

import distmod as mx

FEAT, CLASSES = 4, 3


def sym_gen(seq_len):
    """Sequences of any length: mean over time, then one FC layer shared by every bucket."""
    data = mx.sym.Variable('data')                    # (N, seq_len, FEAT)
    pooled = mx.sym.sum(data, axis=1) / float(seq_len)
    fc = mx.sym.FullyConnected(pooled, num_hidden=CLASSES, name='fc')
    return mx.sym.SoftmaxOutput(fc, name='softmax'), ('data',), ('softmax_label',)


class BucketIter(mx.io.DataIter):
    """Batches of sequences whose length is the bucket key; the class is in the features."""

    def __init__(self, keys, batch_size=8, seed=0, nbatch_per_key=3):
        super().__init__(batch_size)
        rng = np.random.RandomState(seed)
        self.default_bucket_key = max(keys)
        self.batches = []
        for _ in range(nbatch_per_key):
            for k in keys:
                y = rng.randint(0, CLASSES, batch_size)
                x = rng.randn(batch_size, k, FEAT).astype(np.float32) * 0.5
                x[np.arange(batch_size), :, y] += 1.5
                self.batches.append(mx.io.DataBatch(
                    [mx.nd.array(x)], [mx.nd.array(y)], bucket_key=k,
                    provide_data=[mx.io.DataDesc('data', x.shape)],
                    provide_label=[mx.io.DataDesc('softmax_label', y.shape)]))
        self.provide_data = [mx.io.DataDesc('data', (batch_size, self.default_bucket_key, FEAT))]
        self.provide_label = [mx.io.DataDesc('softmax_label', (batch_size,))]
        self.cur = 0

    def reset(self):
        self.cur = 0

    def next(self):
        if self.cur == len(self.batches):
            raise StopIteration
        self.cur += 1
        return self.batches[self.cur - 1]


def _bound_module(keys=(5, 10)):
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=max(keys))
    it = BucketIter(keys)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': 0.5})
    return mod, it


def test_bucketing_module_trains_and_every_bucket_sees_one_update():
    mod, it = _bound_module()
    batch = it.batches[0]                     # bucket 5 (bound on demand)
    mod.forward(batch, is_train=True)
    assert mod.bucket_key == 5 and set(mod._buckets) == {5, 10}
    mod.backward()
    mod.update()
    w5 = mod._buckets[5]._exec_group.execs[0].arg_dict['fc_weight']
    w10 = mod._buckets[10]._exec_group.execs[0].arg_dict['fc_weight']
    assert w5 is w10                           # the very same array
    arg, _ = mod.get_params()
    np.testing.assert_array_equal(arg['fc_weight'].asnumpy(), w10.asnumpy())
    mod.fit(it, num_epoch=8, eval_metric='acc')   # fit continues with the same optimizer
    score = dict(mod.score(it, 'acc'))
    assert score['accuracy'] > 0.9


def test_an_unseen_bucket_binds_without_touching_parameters():
    mod, it = _bound_module(keys=(10,))
    before = {k: v.asnumpy().copy() for k, v in mod.get_params()[0].items()}
    x = np.ones((8, 3, FEAT), np.float32)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((8,))], bucket_key=3,
                            provide_data=[mx.io.DataDesc('data', x.shape)],
                            provide_label=[mx.io.DataDesc('softmax_label', (8,))])
    mod.prepare(batch)                      # binds ahead, stays in the current bucket
    assert 3 in mod._buckets and mod.bucket_key == 10
    mod.forward(batch, is_train=False)
    assert mod.get_outputs()[0].shape == (8, CLASSES)
    after = mod.get_params()[0]
    for k in before:
        np.testing.assert_array_equal(before[k], after[k].asnumpy())


def test_bucketing_checkpoint_files_are_mxnets_and_load_into_a_plain_module(tmp_path):
    mod, it = _bound_module()
    mod.fit(it, num_epoch=2)
    prefix = str(tmp_path / 'bk')
    mod.save_checkpoint(prefix, 2)
    assert sorted(os.listdir(tmp_path)) == ['bk-0002.json', 'bk-0002.params', 'bk-10-symbol.json',
                                            'bk-5-symbol.json', 'bk.buckets']
    keys = mx.nd.load(prefix + '.buckets')[0]
    assert keys.dtype == np.int32 and sorted(keys.asnumpy().tolist()) == [5, 10]
    # a plain Module for the default bucket
    sym = mx.sym.load(prefix + '-10-symbol.json')
    arg, aux = mx.model.load_params(prefix, 2)
    plain = mx.mod.Module(sym)
    plain.bind(it.provide_data, it.provide_label, for_training=False)
    plain.set_params(arg, aux)
    batch = [b for b in it.batches if b.bucket_key == 10][0]
    plain.forward(batch, is_train=False)
    mod.forward(batch, is_train=False)
    np.testing.assert_allclose(plain.get_outputs()[0].asnumpy(),
                               mod.get_outputs()[0].asnumpy(), rtol=1e-6)
    # and back as a BucketingModule, from the saved symbols or from sym_gen
    for kwargs in ({}, {'sym_gen': sym_gen}):
        again = mx.mod.BucketingModule.load(prefix, 2, default_bucket_key=10, **kwargs)
        again.bind(it.provide_data, it.provide_label, for_training=False)
        again.forward(batch, is_train=False)
        np.testing.assert_allclose(again.get_outputs()[0].asnumpy(),
                                   mod.get_outputs()[0].asnumpy(), rtol=1e-6)


def test_bucketing_module_errors_name_the_bucket():
    def bad_gen(key):
        data = mx.sym.Variable('data')
        fc = mx.sym.FullyConnected(mx.sym.sum(data, axis=1), num_hidden=key, name='fc')
        return mx.sym.SoftmaxOutput(fc, name='softmax'), ('data',), ('softmax_label',)
    mod = mx.mod.BucketingModule(bad_gen, default_bucket_key=4)
    mod.bind([('data', (2, 3, FEAT))], [('softmax_label', (2,))])
    mod.init_params()
    with pytest.raises(mx.MXNetError, match="bucket 5: parameter 'fc_weight' has shape"):
        mod.switch_bucket(5, [('data', (2, 3, FEAT))], [('softmax_label', (2,))])
    with pytest.raises(mx.MXNetError, match='default_bucket_key is required'):
        mx.mod.BucketingModule(bad_gen)


# ---- SequentialModule -------------------------------------------------------------------
def _data(n=200, seed=1):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, CLASSES, n)
    x = rng.randn(n, 6).astype(np.float32) * 0.5
    x[np.arange(n), y] += 1.5
    return x, y.astype(np.float32)


def _body():
    data = mx.sym.Variable('data')
    return mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=8, name='fc1'),
                             act_type='tanh', name='act1')


def _head():
    data = mx.sym.Variable('data')
    fc = mx.sym.FullyConnected(data, num_hidden=CLASSES, name='fc2')
    return mx.sym.SoftmaxOutput(fc, name='softmax')


def test_sequential_module_equals_the_single_module_it_is_cut_from():
    x, y = _data()
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    seq = mx.mod.SequentialModule()
    assert seq.add(mx.mod.Module(_body(), label_names=None)) is seq
    seq.add(mx.mod.Module(_head()), take_labels=True, auto_wiring=True)
    seq.bind(it.provide_data, it.provide_label)
    assert seq.output_names == ['softmax_output'] and seq.label_shapes[0][0] == 'softmax_label'
    seq.init_params(initializer=mx.init.Xavier())
    arg, aux = seq.get_params()
    assert sorted(arg) == ['fc1_bias', 'fc1_weight', 'fc2_bias', 'fc2_weight']
    whole = mx.mod.Module(mx.sym.SoftmaxOutput(
        mx.sym.FullyConnected(_body(), num_hidden=CLASSES, name='fc2'), name='softmax'))
    whole.bind(it.provide_data, it.provide_label)
    whole.set_params(arg, aux)
    opt = {'learning_rate': 0.3, 'momentum': 0.9}
    seq.init_optimizer(optimizer='sgd', optimizer_params=opt)
    whole.init_optimizer(optimizer='sgd', optimizer_params=opt)
    for batch in it:
        for m in (seq, whole):
            m.forward_backward(batch)
            m.update()
    a, b = seq.get_params()[0], whole.get_params()[0]
    for k in a:
        np.testing.assert_allclose(a[k].asnumpy(), b[k].asnumpy(), rtol=1e-5, atol=1e-6)
    it.reset()
    seq.fit(it, num_epoch=5, optimizer_params=opt)
    assert dict(seq.score(it, 'acc'))['accuracy'] > 0.9
    assert seq.predict(it).shape == (200, CLASSES)


def test_sequential_module_rejects_unknown_meta_and_duplicate_names():
    seq = mx.mod.SequentialModule()
    with pytest.raises(mx.MXNetError, match="unknown meta 'take_label'"):
        seq.add(mx.mod.Module(_body(), label_names=None), take_label=True)
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_body(), label_names=None))
    seq.add(mx.mod.Module(_body(), label_names=None), auto_wiring=True)
    seq.bind([('data', (4, 8))], None)
    with pytest.raises(mx.MXNetError, match="Duplicated parameter names: name 'fc1_weight' in "
                                            "layer 1"):
        seq.init_params()


def _softmax_ce_grad(scores, labels):
    s = scores.asnumpy()
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(p)), labels.asnumpy().astype(int)] -= 1.0
    return p


def test_python_loss_module_gives_the_gradient_of_softmax_output():
    x, y = _data(n=40)
    it = mx.io.NDArrayIter(x, y, batch_size=10)
    body = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=CLASSES, name='fc')
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body, label_names=None))
    seq.add(mx.mod.PythonLossModule(grad_func=_softmax_ce_grad), take_labels=True,
            auto_wiring=True)
    seq.bind(it.provide_data, it.provide_label)
    seq.init_params(initializer=mx.init.Xavier())
    ref = mx.mod.Module(mx.sym.SoftmaxOutput(body, name='softmax'))
    ref.bind(it.provide_data, it.provide_label)
    ref.set_params(*seq.get_params())
    batch = next(iter(it))
    seq.forward_backward(batch)
    ref.forward_backward(batch)
    g_seq = seq._modules[0]._exec_group.execs[0].grad_dict['fc_weight'].asnumpy()
    g_ref = ref._exec_group.execs[0].grad_dict['fc_weight'].asnumpy()
    np.testing.assert_allclose(g_seq, g_ref, rtol=1e-5, atol=1e-6)
    loss = seq._modules[1]
    assert loss.output_names == ['pyloss_output'] and loss.get_params() == ({}, {})
    with pytest.raises(mx.MXNetError, match='takes no out_grads'):
        loss.backward(out_grads=[mx.nd.ones((10, CLASSES))])


def test_python_module_subclass_in_a_chain():
    class Scale(mx.mod.PythonModule):
        def __init__(self):
            super().__init__(['data'], None, ['scale_output'])

        def _compute_output_shapes(self):
            return [('scale_output', self._data_shapes[0][1])]

        def forward(self, data_batch, is_train=None):
            self._out = data_batch.data[0] * 2

        def get_outputs(self, merge_multi_context=True):
            return [self._out]

        def backward(self, out_grads=None):
            self._grad = out_grads[0] * 2

        def get_input_grads(self, merge_multi_context=True):
            return [self._grad]

    x, y = _data(n=40)
    it = mx.io.NDArrayIter(x, y, batch_size=10)
    seq = mx.mod.SequentialModule()
    seq.add(Scale()).add(mx.mod.Module(_head()), take_labels=True, auto_wiring=True)
    seq.fit(it, num_epoch=20, optimizer_params={'learning_rate': 0.2})
    assert dict(seq.score(it, 'acc'))['accuracy'] > 0.9
