"""Small networks built the same way by MXNet 1.9.1 (the fixture generator) and by distmod
(the tests): ``build(mx, name)`` takes the library module, so one definition serves both."""

NETS = ('mlp', 'lenet', 'branches', 'mixed', 'rnn', 'dtyped', 'detection')


def build(mx, name):
    """Network ``name``, auto-named from zero (a fresh NameManager) whatever came before."""
    with mx.name.NameManager():
        return _build(mx, name)


def _build(mx, name):
    sym = mx.sym
    data = sym.Variable('data')
    if name == 'mlp':
        fc1 = sym.FullyConnected(data, num_hidden=8, name='fc1')
        act = sym.Activation(fc1, act_type='relu', name='relu1')
        fc2 = sym.FullyConnected(act, num_hidden=4, name='fc2')
        return sym.SoftmaxOutput(fc2, name='softmax')
    if name == 'lenet':
        c1 = sym.Convolution(data, kernel=(3, 3), num_filter=4, name='conv1')
        bn = sym.BatchNorm(c1, name='bn1')
        a1 = sym.Activation(bn, act_type='tanh', name='tanh1')
        p1 = sym.Pooling(a1, kernel=(2, 2), stride=(2, 2), pool_type='max', name='pool1')
        f = sym.Flatten(p1, name='flat')
        fc1 = sym.FullyConnected(f, num_hidden=10, name='fc1')
        sr = sym.Activation(fc1, act_type='softrelu', name='sr')
        fc2 = sym.FullyConnected(sr, num_hidden=10, name='fc2')
        s = sym.elemwise_add(fc2, fc1, name='plus')
        return sym.SoftmaxOutput(s, name='softmax')
    if name == 'branches':
        sl = sym.SliceChannel(data, num_outputs=2, name='split')
        x = sym.FullyConnected(sl[0], num_hidden=3, name='fa')
        y = sym.FullyConnected(sl[1], num_hidden=3, name='fb')
        z = sym.FullyConnected(sl[1], num_hidden=3, name='fc', no_bias=True)
        e = sym.exp(x, name='e')
        return sym.Group([e, y, z, sym.concat(x, y, dim=1, name='cc')])
    if name == 'mixed':
        w = sym.Variable('w')
        fc = sym.FullyConnected(data, num_hidden=6, name='fc')
        add1 = sym.elemwise_add(fc, data, name='add_data')          # data was cast to fp16
        ex = sym.exp(fc, name='ex')
        add2 = sym.elemwise_add(ex, fc, name='add_mix')             # fp32 + fp16
        add3 = sym.elemwise_add(w, sym.Variable('v'), name='add_vars')   # two variables
        elu = sym.LeakyReLU(add1, act_type='elu', name='elu')
        drop = sym.Dropout(elu, p=0.2, name='drop')
        mul = sym.broadcast_mul(drop, add2, name='mul')
        tan = sym.tanh(mul, name='tanh')
        emb = sym.Embedding(sym.Variable('ids'), input_dim=5, output_dim=6, name='emb')
        fc2 = sym.FullyConnected(emb, num_hidden=6, name='fc2', flatten=False)
        mean = sym.mean(fc2, axis=1, name='mean')
        return sym.Group([tan, add3, sym.make_loss(mean, name='loss')])
    if name == 'rnn':
        params = sym.Variable('rnn_params')
        state = sym.Variable('rnn_state')
        cell = sym.Variable('rnn_cell')
        out = sym.RNN(data, params, state, cell, state_size=4, num_layers=1, mode='lstm',
                      state_outputs=True, name='lstm')
        last = sym.SequenceLast(out[0], name='last')
        fc = sym.FullyConnected(last, num_hidden=2, name='fc')
        return sym.Group([sym.SoftmaxOutput(fc, name='softmax'), out[1]])
    if name == 'dtyped':
        w = sym.Variable('w', dtype='float32')
        fc = sym.FullyConnected(data, w, num_hidden=3, no_bias=True, name='fc')
        return sym.LinearRegressionOutput(fc, sym.Variable('label'), name='lro')
    if name == 'detection':
        anchors = sym.contrib.MultiBoxPrior(data, sizes=(0.5, 0.25), ratios=(1, 2),
                                            name='anchors')
        cls = sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=9, name='cls')
        loc = sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=12, name='loc')
        cls = sym.Reshape(sym.transpose(cls, axes=(0, 2, 3, 1)), shape=(0, -1, 3))
        cls = sym.transpose(cls, axes=(0, 2, 1), name='cls_t')
        prob = sym.softmax(cls, axis=1, name='prob')
        loc = sym.Flatten(sym.transpose(loc, axes=(0, 2, 3, 1)), name='loc_flat')
        return sym.contrib.MultiBoxDetection(prob, loc, anchors, name='det')
    raise ValueError(name)
