"""Bucketing LSTM language model: training tokens/s of distmod against real MXNet 1.9.1.

The model of examples/lstm_bucketing.py (MXNet's lstm_bucketing example): embedding 200, two
LSTMCell layers of 200 unrolled per bucket, FullyConnected to a 10,001-word softmax,
BucketingModule over buckets 10/20/30/40/60, batch 32, Adam, 1 thread.  The data is random
word ids (a synthetic corpus with the length mix of the Brown corpus's sentences), the same
for both.  MXNet runs in its own venv (../shared/anchors/mxnet-venv.sh; MXNET_VENV overrides
/tmp/mxnet-anchor), one after the other with distmod.  Prints the ratio (goal: >= 1.0).

Run: ``python bench/bench_bucketing.py``
"""
import sys
import textwrap

from reference import VENV_PY, require_mxnet, run_workload


WORKLOAD = textwrap.dedent('''
    import json, logging, time
    import numpy as np
    import {module} as mx
    logging.disable(logging.CRITICAL)
    V, H, E, B = 10001, 200, 200, 32
    rng = np.random.RandomState(0)
    lengths = np.clip(rng.gamma(2.2, 10.0, 3000).astype(int) + 2, 3, 60)
    sents = [list(rng.randint(1, V, n)) for n in lengths]
    it = mx.rnn.BucketSentenceIter(sents, B, buckets=[10, 20, 30, 40, 60], invalid_label=0)
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(mx.rnn.LSTMCell(num_hidden=H, prefix='lstm_l%d_' % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        embed = mx.sym.Embedding(data=data, input_dim=V, output_dim=E, name='embed')
        stack.reset()
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, H))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=V, name='pred')
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name='softmax')
        return pred, ('data',), ('softmax_label',)

    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=it.default_bucket_key)
    opt = {{'learning_rate': 0.002}}
    batches = [b for b in it][:{nbatch}]
    tokens = sum(b.data[0].shape[0] * b.bucket_key for b in batches)

    class Fixed(mx.io.DataIter):
        def __init__(self):
            super().__init__(B)
            self.provide_data, self.provide_label = it.provide_data, it.provide_label
            self.i = 0
        def reset(self):
            self.i = 0
        def next(self):
            if self.i == len(batches):
                raise StopIteration
            self.i += 1
            return batches[self.i - 1]

    data = Fixed()
    mod.fit(data, num_epoch=1, optimizer='adam', optimizer_params=opt,
            eval_metric=mx.metric.Perplexity(0))               # warm up: binds every bucket
    best = 0.0
    for epoch in range(1, 3):
        t = time.perf_counter()
        mod.fit(data, num_epoch=epoch + 1, begin_epoch=epoch, optimizer='adam',
                optimizer_params=opt, eval_metric=mx.metric.Perplexity(0))
        best = max(best, tokens / (time.perf_counter() - t))
    print(json.dumps({{'tokens_per_s': best, 'tokens': tokens}}))
''')


def run(python, module, nbatch=30):
    return run_workload(python, WORKLOAD.format(module=module, nbatch=nbatch),
                        distmod=module == 'distmod', env={'MXNET_SUBGRAPH_BACKEND': 'NONE'},
                        timeout=3600)


def main():
    require_mxnet()
    ours = run(sys.executable, 'distmod')
    theirs = run(VENV_PY, 'mxnet')
    print('Bucketing LSTM LM (2x200, vocab 10001, batch 32, Adam, 1 thread): training '
          'tokens/s over %d tokens' % ours['tokens'])
    print('  distmod %8.0f   mxnet 1.9.1 %8.0f   ratio %.2f (goal >= 1.0)'
          % (ours['tokens_per_s'], theirs['tokens_per_s'],
             ours['tokens_per_s'] / theirs['tokens_per_s']))


if __name__ == '__main__':
    main()
