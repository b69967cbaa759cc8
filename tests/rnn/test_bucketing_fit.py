"""MXNet's lstm_bucketing example in miniature: encode_sentences -> BucketSentenceIter ->
stacked LSTMCells unrolled per bucket -> BucketingModule.fit, then an RNN checkpoint."""
import numpy as np

import distmod as mx


WORDS = 'the cat sat on a mat dog ran far away'.split()


def _corpus(n=120, seed=0):
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        start = rng.randint(len(WORDS))
        length = rng.choice([3, 5, 8])
        out.append([WORDS[(start + k) % len(WORDS)] for k in range(length)])
    return out


def test_lstm_bucketing_learns_and_checkpoints(tmp_path, capsys):
    mx.random.seed(1)
    sents, vocab = mx.rnn.encode_sentences(_corpus(), invalid_label=0, start_label=1)
    it = mx.rnn.BucketSentenceIter(sents, batch_size=8, buckets=[4, 6, 9], invalid_label=0)
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=16, prefix='lstm_l%d_' % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        embed = mx.sym.Embedding(data, input_dim=len(vocab) + 1, output_dim=8, name='embed')
        stack.reset()
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, 16))
        pred = mx.sym.FullyConnected(pred, num_hidden=len(vocab) + 1, name='pred')
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(pred, label, ignore_label=0, use_ignore=True,
                                    name='softmax')
        return pred, ('data',), ('softmax_label',)

    model = mx.mod.BucketingModule(sym_gen, default_bucket_key=it.default_bucket_key,
                                   context=mx.cpu())
    metric = mx.metric.Perplexity(0)
    model.fit(it, eval_metric=metric, num_epoch=8, optimizer='adam',
              optimizer_params={'learning_rate': 0.02},
              initializer=mx.init.Xavier(factor_type='in', magnitude=2.34),
              epoch_end_callback=mx.rnn.do_rnn_checkpoint(stack, str(tmp_path / 'lm'), 4))
    score = dict(model.score(it, mx.metric.Perplexity(0)))
    # each sentence walks the word ring, so the next word is nearly certain
    assert score['perplexity'] < 2.0, score
    sym, arg, aux = mx.rnn.load_rnn_checkpoint(stack, str(tmp_path / 'lm'), 8)
    assert 'lstm_l1_h2h_weight' in arg and 'lstm_l1_h2h_i_weight' not in arg
    saved = mx.nd.load(str(tmp_path / 'lm-0008.params'))
    assert 'arg:lstm_l0_i2h_f_weight' in saved
