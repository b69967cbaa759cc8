"""CTCLoss beyond the fixtures (tests/fixtures/mxnet/more_ops.npz holds MXNet's values for
padding, both blank positions and the lengths): its names, a sample no alignment can
produce, and a small sequence model that learns its labels under MakeLoss, as MXNet's
example/ctc trains."""
import numpy as np

import distmod as mx


def test_names_and_namespaces_match_mxnet():
    d, l = mx.sym.Variable('data'), mx.sym.Variable('label')
    assert mx.sym.CTCLoss(d, l).name.startswith('ctcloss')
    assert mx.sym.ctc_loss(d, l).name.startswith('ctc_loss')
    assert mx.sym.contrib.ctc_loss(d, l, name='c').list_outputs() == ['c_output0']
    s = mx.sym.contrib.CTCLoss(d, l, use_data_lengths=True, use_label_lengths=True, name='c')
    assert s.list_arguments() == ['data', 'label', 'c_data_lengths', 'c_label_lengths']
    assert mx.nd.contrib.CTCLoss is not None and mx.nd.ctc_loss is not None
    _, out, _ = mx.sym.CTCLoss(d, l).infer_shape(data=(7, 4, 5), label=(4, 3))
    assert out == [(4,)]


def test_a_label_no_alignment_can_produce_costs_nothing_and_teaches_nothing():
    # 'aa' needs three steps (a, blank, a); two steps cannot produce it
    sym = mx.sym.CTCLoss(mx.sym.Variable('data'), mx.sym.Variable('label'))
    grad = mx.nd.ones((2, 2, 3))
    exe = sym.bind(mx.cpu(), {'data': mx.nd.array(np.random.RandomState(0).randn(2, 2, 3)),
                              'label': mx.nd.array([[1, 1], [2, 0]])},
                   args_grad={'data': grad}, grad_req={'data': 'write', 'label': 'null'})
    loss = exe.forward(is_train=True)[0].asnumpy()
    exe.backward(mx.nd.ones(2))
    assert loss[0] == 0 and loss[1] > 0
    assert not grad.asnumpy()[:, 0].any() and grad.asnumpy()[:, 1].any()


def test_a_sequence_model_learns_its_labels():
    rng = np.random.RandomState(1)
    T, N, C, L = 8, 64, 4, 2
    labels = rng.randint(1, C, (N, L)).astype(np.float32)
    # each step's features say which token it shows: the labels' tokens, blanks between
    x = np.zeros((N, T, C), np.float32)
    for n in range(N):
        seq = [0, labels[n, 0], labels[n, 0], 0, labels[n, 1], labels[n, 1], 0, 0]
        x[n, np.arange(T), np.array(seq, int)] = 1
    x += rng.randn(*x.shape).astype(np.float32) * 0.3
    data = mx.sym.Variable('data')
    h = mx.sym.FullyConnected(mx.sym.Reshape(data, shape=(-1, C)), num_hidden=C, name='fc')
    h = mx.sym.transpose(mx.sym.Reshape(h, shape=(-1, T, C)), axes=(1, 0, 2))
    loss = mx.sym.MakeLoss(mx.sym.contrib.ctc_loss(h, mx.sym.Variable('label')))
    mod = mx.mod.Module(loss, data_names=['data'], label_names=['label'])
    it = mx.io.NDArrayIter(x, {'label': labels}, batch_size=16)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer='adam', optimizer_params={'learning_rate': 0.05})

    def mean_loss():
        it.reset()
        total = 0.0
        for b in it:
            mod.forward(b, is_train=False)
            total += mod.get_outputs()[0].asnumpy().mean()
        return total / 4

    first = mean_loss()
    for _ in range(30):
        it.reset()
        for b in it:
            mod.forward_backward(b)
            mod.update()
    assert mean_loss() < 0.25 * first, (first, mean_loss())
