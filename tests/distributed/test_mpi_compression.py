"""Gradient compression across ranks (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``): every
rank quantises its own values with its own residual, the codes travel (allgathered, or
scattered to the owners of slices whose counts are then allgathered), and every rank holds
the same sums, bit for bit: the count of each element's sent values over the ranks times the
value, equal to a one-process simulation of the same ranks' codes."""
import logging

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _same_everywhere(*arrays):
    """True when every rank holds the same bytes."""
    blob = b''.join(np.ascontiguousarray(a).tobytes() for a in arrays)
    everyone = _comm().allgather(blob)
    return all(e == everyone[0] for e in everyone)


def _grad(rank, step, shape, dtype, scale=0.6):
    n = int(np.prod(shape))
    i = np.arange(n)
    return (np.sin(i * 0.37 + rank * 1.9 + step * 0.71) * scale +
            np.cos(i * 0.11 * (rank + 1)) * scale / 3).astype(dtype).reshape(shape)


def _simulate(codec, per_rank, residuals):
    """The sum over ranks of each rank's decoded codes (one process): the number of sent
    values (+1 for +v, -1 for -v) times v, rounded once in the values' dtype."""
    count = None
    for r, v in enumerate(per_rank):
        flat = np.ascontiguousarray(v).reshape(-1)
        if residuals[r] is None:
            residuals[r] = np.zeros_like(flat)
        codes = codec.encode(flat, residuals[r])
        sent = codec.decode(codes, np.empty_like(flat))
        up = codec.sent_values(flat.dtype)[0]
        signs = np.where(sent == up, 1, np.where(sent == -up, -1, 0))
        assert np.all(np.abs(sent) == np.where(signs, up, 0))
        count = signs if count is None else count + signs
    return (count.astype(per_rank[0].dtype) * codec.sent_values(per_rank[0].dtype)[0]) \
        .reshape(per_rank[0].shape)


@pytest.mark.parametrize('params', [{'type': '2bit', 'threshold': 0.5},
                                    {'type': '2bit', 'threshold': 0.3},
                                    {'type': '1bit', 'threshold': 0.0}])
def test_pushes_are_the_simulation_of_every_ranks_codes_and_identical_everywhere(params):
    import kvstore
    from kvstore.compression import parse_params
    kv = kvstore.create('dist_sync')
    r, n = kv.rank, kv.num_workers
    shapes = {'a': ((3,), 'float32'), 'b': ((17, 5), 'float32'), 'c': ((1211,), 'float64'),
              'd': ((4,), 'int32')}
    keys = sorted(shapes)
    kv.init(keys, [np.zeros(*shapes[k]) for k in keys])
    kv.set_gradient_compression(params)
    codec = parse_params(params)
    residuals = {k: [None] * n for k in keys}
    for step in range(5):
        vals = [_grad(r, step, *shapes[k]) for k in keys]
        kv.push(keys, vals)
        outs = [np.empty(*shapes[k]) for k in keys]
        kv.pull(keys, outs)
        for k, out in zip(keys, outs):
            everyone = [_grad(q, step, *shapes[k]) for q in range(n)]
            if k == 'd':                                   # integers: exact sums
                want = sum(everyone)
            else:
                want = _simulate(codec, everyone, residuals[k])
            np.testing.assert_array_equal(out, want)
        assert _same_everywhere(*outs)


def test_row_sparse_values_next_to_compressed_ones_are_summed_exactly():
    import kvstore
    from kvstore._common import RowSparse
    from kvstore.compression import GradientCompression
    kv = kvstore.create('dist_sync')
    r, n = kv.rank, kv.num_workers
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    kv.init(['dense', 'rows'], [np.zeros(6, np.float32), np.zeros((5, 2), np.float32)])
    dense = np.full(6, 0.3 * (r + 1), np.float32)
    rows = RowSparse(np.array([r % 5], np.int64), np.full((1, 2), r + 1.0, np.float32),
                     (5, 2))
    kv.push(['dense', 'rows'], [dense, rows])
    out, got = np.empty(6, np.float32), np.empty((5, 2), np.float32)
    kv.pull(['dense', 'rows'], [out, got])
    gc = GradientCompression('2bit', 0.5)
    want = _simulate(gc, [np.full(6, 0.3 * (q + 1), np.float32) for q in range(n)],
                     [None] * n)
    np.testing.assert_array_equal(out, want)
    rows_want = np.zeros((5, 2), np.float32)
    for q in range(n):
        rows_want[q % 5] += q + 1
    np.testing.assert_array_equal(got, rows_want)


def test_mxnets_nightly_residual_checks_with_the_test_optimizer():
    # tests/nightly/dist_sync_kvstore.py's check_compr_residual and check_compr_ones
    import distmod as mx
    kv = mx.kv.create('dist_sync')
    n, rate, t = kv.num_workers, 2, 0.5
    kv.set_optimizer(mx.optimizer.create('test', rescale_grad=rate))
    kv.set_gradient_compression({'type': '2bit', 'threshold': t})
    shapes = [('1000', (2, 3)), ('1200', (121, 13))]
    for k, s in shapes:
        kv.init(k, mx.nd.zeros(s))
        kv.init(k + 'i', mx.nd.ones(s))
    for k, s in shapes:
        val = mx.nd.ones(s)
        kv.pull(k, out=val)
        assert (val.asnumpy() == 0).all()              # pull before push
        kv.pull(k + 'i', out=val)
        assert (val.asnumpy() == 1).all()              # init is not compressed
        kv.push(k, mx.nd.zeros(s))
        kv.pull(k, out=val)
        assert (val.asnumpy() == 0).all()
        kv.push(k, mx.nd.ones(s) * 0.4)                # does not reach the threshold
        kv.pull(k, out=val)
        assert (val.asnumpy() == 0).all()
        kv.push(k, mx.nd.ones(s) * (t - 0.4))          # reaches it with the residual
        kv.pull(k, out=val)
        cur = t * rate * n
        np.testing.assert_array_equal(val.asnumpy(), cur)
        kv.push(k, mx.nd.ones(s) * 0.2)
        kv.pull(k, out=val)
        np.testing.assert_array_equal(val.asnumpy(), cur)
        kv.push(k, mx.nd.ones(s) * (t - 0.2))
        kv.pull(k, out=val)
        cur += t * rate * n
        np.testing.assert_array_equal(val.asnumpy(), cur)
        kv.push(k, mx.nd.ones(s) * t)                  # residual 0: exactly t
        kv.pull(k, out=val)
        np.testing.assert_array_equal(val.asnumpy(), cur + rate * n * t)


@pytest.mark.parametrize('kind,t', [('2bit', 0.5), ('2bit', 0.3), ('1bit', 0.0)])
@pytest.mark.parametrize('specs', [
    # sizes at a word's edge and past it, in three dtypes
    [(1, 'float32'), (15, 'float64'), (16, 'float32'), (17, 'float16'), (33, 'float32'),
     (1211, 'float32'), (40001, 'float64')],
    [(1, 'float32')]],              # one word of codes: some ranks own an empty slice
    ids=['many', 'one-word'])
def test_scatter_and_allgather_give_the_same_sums_and_residuals(kind, t, specs):
    from kvstore.compression import GradientCompression, Workspace, reduce_compressed
    comm = _comm()
    r, n = comm.rank, comm.size
    codec = GradientCompression(kind, t)
    got = {}
    for method in ('allgather', 'scatter'):
        residuals = [None] * len(specs)
        sims = [[None] * n for _ in specs]
        work = Workspace()
        for step in range(3):
            arrays = [_grad(r, step, (size,), dt) for size, dt in specs]
            if residuals[0] is None:
                residuals = [np.zeros_like(a) for a in arrays]
            sent = reduce_compressed(codec, arrays, residuals, comm, work, method=method)
            assert sent == sum(codec.code_bytes(size) for size, _ in specs)
            for j, (size, dt) in enumerate(specs):
                want = _simulate(codec, [_grad(q, step, (size,), dt) for q in range(n)],
                                 sims[j])
                np.testing.assert_array_equal(arrays[j], want, err_msg='%s %d %s'
                                              % (method, size, dt))
                np.testing.assert_array_equal(residuals[j], sims[j][r])
            assert _same_everywhere(*arrays)
        got[method] = [a.tobytes() for a in arrays + residuals]
    assert got['allgather'] == got['scatter']


def test_the_method_is_the_one_that_receives_fewer_bytes():
    from kvstore.compression import GradientCompression, reduce_method
    two, one = GradientCompression('2bit'), GradientCompression('1bit')
    assert [reduce_method(two, p) for p in (2, 3, 5, 6, 64)] == \
        ['allgather'] * 3 + ['scatter'] * 2
    assert [reduce_method(one, p) for p in (2, 9, 10, 256)] == \
        ['allgather'] * 2 + ['scatter'] * 2


def test_a_store_whose_reductions_scatter_keeps_identical_replicas(monkeypatch):
    # as on 6 or more ranks; every rank patches the same way, so the collectives match
    import kvstore
    from kvstore import compression
    monkeypatch.setattr(compression, 'reduce_method', lambda codec, ranks: 'scatter')
    kv = kvstore.create('dist_sync')
    r, n = kv.rank, kv.num_workers
    params = {'type': '2bit', 'threshold': 0.3}
    kv.init(['w', 'b'], [np.zeros((37, 5), np.float32), np.zeros(3, np.float32)])
    kv.set_gradient_compression(params)
    codec = compression.parse_params(params)
    residuals = {k: [None] * n for k in 'wb'}
    for step in range(3):
        vals = [_grad(r, step, (37, 5), 'float32'), _grad(r, step, (3,), 'float32')]
        kv.push(['w', 'b'], vals)
        outs = [np.empty((37, 5), np.float32), np.empty(3, np.float32)]
        kv.pull(['w', 'b'], outs)
        for k, shape, out in (('w', (37, 5), outs[0]), ('b', (3,), outs[1])):
            want = _simulate(codec, [_grad(q, step, shape, 'float32') for q in range(n)],
                             residuals[k])
            np.testing.assert_array_equal(out, want)
        assert _same_everywhere(*outs)


@pytest.mark.parametrize('kind', ['2bit', '1bit'])
@pytest.mark.parametrize('bucket_bytes', [64, 1 << 20])
def test_gradient_buckets_compress_in_backward_order_and_match_the_simulation(kind,
                                                                             bucket_bytes):
    import kvstore
    from kvstore.compression import GradientCompression
    store = kvstore.create('dist_sync', bucket_bytes=bucket_bytes)
    r, n = store.rank, store.num_workers
    sizes = [3, 70, 1, 12, 33, 2, 9]
    dtypes = ['float32', 'float64', 'float32', 'float32', 'float64', 'int32', 'float32']
    order = list(dict.fromkeys(dtypes))
    used, members = {}, []
    for size, dt in zip(sizes, dtypes):
        start = used.get(dt, 0)
        used[dt] = start + size
        members.append((order.index(dt), start, start + size))
    flats = [np.zeros(used[dt], dtype=dt) for dt in order]
    codec = GradientCompression(kind, 0.4 if kind == '2bit' else 0.1)
    store.set_gradient_compression(codec.params)
    red = store.gradient_buckets(flats, members, overlap=True)
    assert red.compression is not None
    residuals = [[None] * n for _ in flats]
    rng = np.random.RandomState(7)
    for step in range(4):
        everyone = [[_grad(q, step, (f.size,), f.dtype) for f in flats] for q in range(n)]
        for f, v in zip(flats, everyone[r]):
            f[...] = v
        if step % 2:
            for i in (rng.permutation(len(members)) if r % 2 else range(len(members))):
                red.ready(int(i))                   # as backward reports them
            red.wait()
        else:
            red.run()                               # all at once
        for j, f in enumerate(flats):
            per_rank = [everyone[q][j] for q in range(n)]
            want = sum(per_rank) if f.dtype.kind == 'i' else \
                _simulate(codec, per_rank, residuals[j])
            np.testing.assert_array_equal(f, want)
        assert _same_everywhere(*flats)
    # on the wire: `bits` per float element (whole 32-bit words per bucket), ints as they are
    floats = [b for b in red.buckets if flats[b.flat].dtype.kind == 'f']
    codes = red.payload_bytes - flats[order.index('int32')].nbytes
    assert codes <= sum(b.buf.size * codec.bits / 8.0 + 4 for b in floats)
    assert codes >= sum(b.buf.size * codec.bits / 8.0 for b in floats)
    red.close()


# ---- Module ---------------------------------------------------------------------------------
def _mlp(hidden, classes):
    import distmod as mx
    data = mx.sym.Variable('data')
    net = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=hidden, name='fc1'),
                            act_type='relu')
    net = mx.sym.FullyConnected(net, num_hidden=classes, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def _start_params(features, hidden, classes):
    rng = np.random.RandomState(11)
    import distmod as mx
    return {'fc1_weight': mx.nd.array(rng.randn(hidden, features) * 0.3),
            'fc1_bias': mx.nd.zeros(hidden),
            'fc2_weight': mx.nd.array(rng.randn(classes, hidden) * 0.3),
            'fc2_bias': mx.nd.zeros(classes)}


def _batches(rank, steps, batch, features, classes):
    import distmod as mx
    rng = np.random.RandomState(100 + rank)
    w = np.random.RandomState(5).randn(features, classes)
    out = []
    for _ in range(steps):
        x = rng.rand(batch, features).astype(np.float32)
        y = np.argmax(x @ w, axis=1).astype(np.float32)
        out.append(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    return out


@pytest.mark.parametrize('params,lr,devices,bucket_bytes', [
    ({'type': '2bit', 'threshold': 0.05}, 0.5, 1, 256),      # buckets reduced in backward
    ({'type': '2bit', 'threshold': 0.05}, 0.5, 2, None),
    ({'type': '1bit', 'threshold': 0.0}, 0.05, 1, None)])
def test_module_replicas_stay_bit_identical_and_equal_a_one_process_simulation(
        params, lr, devices, bucket_bytes):
    import distmod as mx
    import kvstore
    from kvstore.compression import parse_params
    logging.disable(logging.CRITICAL)
    features, hidden, classes, batch, steps = 12, 16, 3, 10, 12
    kv = mx.kv.KVStore(kvstore.create('dist_sync', bucket_bytes=bucket_bytes))
    r, n = kv.rank, kv.num_workers
    opt = {'learning_rate': lr, 'momentum': 0.9, 'rescale_grad': 1.0 / (batch * n)}
    shapes = ([('data', (batch, features))], [('softmax_label', (batch,))])
    contexts = [mx.cpu(i) for i in range(devices)]
    # several devices per rank: their sum is exact, then it is compressed between ranks
    mod = mx.mod.Module(_mlp(hidden, classes), context=contexts, compression_params=params)
    mod.bind(*shapes)
    mod.init_params(arg_params=_start_params(features, hidden, classes))
    mod.init_optimizer(kvstore=kv, optimizer='sgd', optimizer_params=opt)
    assert kv.compression_params == parse_params(params).params
    red = kv._reducer_of(mod._exec_group)
    assert red.compression is not None
    if bucket_bytes:
        # the communication thread compresses buckets while backward goes on
        assert len(red.buckets) > 2 and red._thread is not None
    for b in _batches(r, steps, batch, features, classes):
        mod.forward_backward(b)
        mod.update()
    got = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    assert _same_everywhere(*[got[k] for k in sorted(got)])

    # the same N ranks in one process: each rank's gradients encoded with its own
    # residuals, every rank's codes decoded and added up in rank order
    codec = parse_params(params)
    sims = []
    for q in range(n):
        m = mx.mod.Module(_mlp(hidden, classes), context=contexts)
        m.bind(*shapes)
        m.init_params(arg_params=_start_params(features, hidden, classes))
        m.init_optimizer(kvstore='local', optimizer='sgd', optimizer_params=opt)
        sims.append(m)
    data = [_batches(q, steps, batch, features, classes) for q in range(n)]
    residuals = None
    for step in range(steps):
        flats = []
        for q, m in enumerate(sims):
            m.forward_backward(data[q][step])
            buffers = m._exec_group.grad_buffers
            for other in buffers[1:]:            # the rank's exact sum over its devices
                for total, part in zip(buffers[0].flats, other.flats):
                    total += part
                    part[...] = 0                # (update adds them again: zeros)
            flats.append(buffers[0].flats)
        if residuals is None:
            residuals = [[None] * n for _ in flats[0]]
        for j in range(len(flats[0])):
            total = _simulate(codec, [flats[q][j] for q in range(n)], residuals[j])
            for q in range(n):
                flats[q][j][...] = total
        for m in sims:
            m.update()
    want = {k: v.asnumpy() for k, v in sims[0].get_params()[0].items()}
    for k in sorted(want):
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def _mnist_like(n, seed):
    """10 classes of 784 pixels: a random stroke pattern per class, noise, flipped pixels."""
    protos = (np.random.RandomState(0).rand(10, 784) < 0.2).astype(np.float32)
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 10, n)
    x = protos[y] * rng.uniform(0.5, 1.0, (n, 1)) + rng.rand(n, 784) * 0.6 - 0.1
    x = np.clip(x, 0, 1)
    x = np.where(rng.rand(n, 784) < 0.35, 1 - x, x)
    return x.astype(np.float32), y.astype(np.float32)


def test_fit_with_2bit_trains_an_mnist_like_model_to_a_sensible_accuracy():
    import distmod as mx
    logging.disable(logging.CRITICAL)
    kv = mx.kv.create('dist_sync')
    x, y = _mnist_like(600 * kv.num_workers, seed=1)
    xv, yv = _mnist_like(500, seed=2)
    np.random.seed(0)                           # the iterator's shuffle
    mx.random.seed(0)
    mod = mx.mod.Module(_mlp(64, 10), compression_params={'type': '2bit', 'threshold': 2.0})
    # 2bit sends at most +-t per element and step: lr * t / batch is the largest step
    # (0.978-0.988 over five seeds on 2 and 3 ranks)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=50, shuffle=True), num_epoch=4, kvstore=kv,
            optimizer='sgd', optimizer_params={'learning_rate': 0.25},
            initializer=mx.init.Xavier())
    acc = mod.score(mx.io.NDArrayIter(xv, yv, batch_size=100), 'acc')[0][1]
    assert acc > 0.9, acc
    params = mod.get_params()[0]
    assert _same_everywhere(*[params[k].asnumpy() for k in sorted(params)])


def test_bucketing_module_with_2bit_keeps_identical_replicas():
    import distmod as mx
    from tests.distributed.test_mpi_bucketing import sym_gen
    from tests.module.test_bucketing_sequential import BucketIter
    comm = _comm()
    keys = [3, 6, 10]
    keys = keys[comm.rank % 3:] + keys[:comm.rank % 3]      # a different bucket every step
    it = BucketIter(keys, seed=comm.rank)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=10,
                                 compression_params={'type': '2bit', 'threshold': 0.1})
    mod.fit(it, num_epoch=2, kvstore='dist_sync', optimizer='sgd',
            optimizer_params={'learning_rate': 0.3, 'momentum': 0.9})
    assert mod._buckets[10]._kvstore.compression_params['type'] == '2bit'
    arg = mod.get_params()[0]
    assert _same_everywhere(*[arg[k].asnumpy() for k in sorted(arg)])


def test_a_bad_setting_is_refused_on_every_rank():
    import distmod as mx
    kv = mx.kv.create('dist_sync')
    with pytest.raises(mx.MXNetError, match='greater than 0'):
        kv.set_gradient_compression({'type': '2bit', 'threshold': 0.0})
    kv.set_gradient_compression({'type': 'none'})
    assert kv.compression_params == {'type': 'none'}
