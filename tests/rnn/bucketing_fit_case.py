"""One LSTM bucketing training run that MXNet 1.9.1 and distmod can both make exactly.

``examples/lstm_bucketing.py``'s model in miniature (Embedding -> two LSTMCells unrolled per
bucket -> FullyConnected -> SoftmaxOutput, ``Perplexity(invalid_label)``), trained with
``BucketingModule.fit`` from given parameters on batches in a fixed order, so nothing depends
on either library's random numbers: the initial parameters, the sentences and the batch order
are NumPy's (``RandomState``), and a plain DataIter yields them.  Comparing the example's
perplexity between the libraries over random seeds mixes in the seeds' effect (initial
parameters, batch order) and, across ranks, the batch size; this run compares the training
itself.

``run(mx, opt, part_index, num_parts)``: with ``num_parts`` N > 1 each rank's iterator yields
rows ``part_index::N`` of every batch (batch size B / N, as ``fit`` on N ranks trains on
B / N rows per rank per step), which must give MXNet's one-process run with batch B.

``tests/fixtures/make_bucketing_fit_fixtures.py`` runs it under MXNet and writes
``tests/fixtures/mxnet/bucketing_fit.npz``; ``tests/rnn/test_bucketing_fit_matches_mxnet.py``
and ``tests/distributed/test_mpi_bucketing_fit_matches_mxnet.py`` compare distmod with it.
"""
import numpy as np

VOCAB, EMBED, HIDDEN, BATCH = 30, 8, 12, 12     # the batch splits over 2 and 3 ranks
BUCKETS = (4, 8)
INVALID = 0
EPOCHS = 5
#: the two optimizers of the fixture: MXNet's example (sgd) and distmod's (adam), each with
#: weight decay; sgd with momentum and gradient clipping
OPTIMIZERS = {
    'sgd': {'learning_rate': 0.2, 'momentum': 0.9, 'wd': 1e-4, 'clip_gradient': 1.0},
    'adam': {'learning_rate': 0.05, 'wd': 1e-4},
}


def _batches(rng, n):
    """``n`` (bucket, data, label) batches; sentences of bucket - 1 or bucket words (padded with 0), the
    label the data shifted left by one (its last step ``INVALID``), as BucketSentenceIter."""
    out = []
    for k in range(n):
        key = BUCKETS[k % len(BUCKETS)]
        data = np.full((BATCH, key), INVALID, dtype=np.float32)
        for row in range(BATCH):
            length = rng.randint(key - 1, key + 1)
            # each word is mostly followed by the next of a ring: something to learn
            words = [rng.randint(1, VOCAB)]
            for _ in range(length - 1):
                words.append(words[-1] % (VOCAB - 1) + 1 if rng.rand() < 0.8
                             else rng.randint(1, VOCAB))
            data[row, :length] = words
        label = np.full_like(data, INVALID)
        label[:, :-1] = data[:, 1:]
        out.append((key, data, label))
    return out


def case_data():
    """(train batches, validation batches, initial arg_params as NumPy arrays)."""
    rng = np.random.RandomState(20261203)
    train = _batches(rng, 8)
    val = _batches(rng, 2)
    shapes = {'embed_weight': (VOCAB, EMBED), 'pred_weight': (VOCAB, HIDDEN),
              'pred_bias': (VOCAB,)}
    for layer, width in ((0, EMBED), (1, HIDDEN)):
        shapes['lstm_l%d_i2h_weight' % layer] = (4 * HIDDEN, width)
        shapes['lstm_l%d_i2h_bias' % layer] = (4 * HIDDEN,)
        shapes['lstm_l%d_h2h_weight' % layer] = (4 * HIDDEN, HIDDEN)
        shapes['lstm_l%d_h2h_bias' % layer] = (4 * HIDDEN,)
    params = {name: rng.uniform(-0.3, 0.3, shape).astype(np.float32)
              for name, shape in sorted(shapes.items())}
    return train, val, params


def run(mx, opt, part_index=0, num_parts=1):
    """Train (``fit``) with optimizer ``opt`` and return a dict of NumPy arrays: ``train_ppl``
    (each batch's Perplexity of the epoch so far), ``val_ppl`` (validation after each epoch),
    and ``arg:NAME`` (the parameters after training)."""
    train, val, params = case_data()

    class FixedBatches(mx.io.DataIter):
        def __init__(self, batches):
            super().__init__(BATCH // num_parts)
            self.batches = batches
            self.num_parts, self.part_index = num_parts, part_index    # already a part
            self.default_bucket_key = max(BUCKETS)
            shape = (BATCH // num_parts, self.default_bucket_key)
            self.provide_data = [mx.io.DataDesc('data', shape)]
            self.provide_label = [mx.io.DataDesc('softmax_label', shape)]
            self.cur = 0

        def reset(self):
            self.cur = 0

        def next(self):
            if self.cur == len(self.batches):
                raise StopIteration
            key, data, label = self.batches[self.cur]
            self.cur += 1
            data, label = data[part_index::num_parts], label[part_index::num_parts]
            return mx.io.DataBatch(
                [mx.nd.array(data)], [mx.nd.array(label)], pad=0, bucket_key=key,
                provide_data=[mx.io.DataDesc('data', data.shape)],
                provide_label=[mx.io.DataDesc('softmax_label', label.shape)])

    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=HIDDEN, prefix='lstm_l%d_' % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        embed = mx.sym.Embedding(data=data, input_dim=VOCAB, output_dim=EMBED, name='embed')
        stack.reset()
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, HIDDEN))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=VOCAB, name='pred')
        label = mx.sym.Reshape(label, shape=(-1,))
        return (mx.sym.SoftmaxOutput(data=pred, label=label, name='softmax'),
                ('data',), ('softmax_label',))

    train_it, val_it = FixedBatches(train), FixedBatches(val)
    model = mx.mod.BucketingModule(sym_gen=sym_gen, default_bucket_key=max(BUCKETS),
                                   context=mx.cpu())
    train_ppl, val_ppl = [], []
    model.fit(train_data=train_it, eval_data=val_it,
              eval_metric=mx.metric.Perplexity(INVALID),
              kvstore='dist_sync' if num_parts > 1 else 'local',
              optimizer=opt, optimizer_params=dict(OPTIMIZERS[opt]),
              arg_params={k: mx.nd.array(v) for k, v in params.items()},
              num_epoch=EPOCHS,
              batch_end_callback=lambda p: train_ppl.append(p.eval_metric.get()[1]),
              eval_end_callback=lambda p: val_ppl.append(p.eval_metric.get_global()[1]))
    arg, _ = model.get_params()
    out = {'train_ppl': np.array(train_ppl), 'val_ppl': np.array(val_ppl)}
    out.update(('arg:' + k, v.asnumpy()) for k, v in arg.items())
    return out
