"""Gradient compression (MXNet's ``2bit`` and ``1bit``) in one process: the codec against a
NumPy reference and MXNet's own numbers, error feedback over steps, the packed layout, and
the stores (``device`` between devices, ``dist_*`` as one rank of one, ``local`` refused).

The multi-rank cases are tests/distributed/test_mpi_compression.py.
"""
import hashlib
import logging

import numpy as np
import pytest

import kvstore
from kvstore.compression import (GradientCompression, Workspace, reduce_compressed,
                                 merge_devices, parse_params)


def reference(kind, t, values, residual):
    """MXNet's rule, element by element in the values' dtype: (sent, new residual)."""
    dt = values.dtype.type
    r = residual + values
    if kind == '2bit':
        sent = np.where(r >= dt(t), dt(t), np.where(r <= -dt(t), -dt(t), dt(0)))
    else:
        sent = np.where(r > dt(t), dt(1), dt(-1))
    sent = sent.astype(values.dtype)
    return sent, r - sent


def sin_grads(n, devices, step, scale):
    """Gradients any NumPy can regenerate (the inputs of the MXNet recordings below)."""
    i = np.arange(n)
    return [(np.sin(i * 0.37 + d * 1.3 + step * 0.71) * scale).astype(np.float32)
            for d in range(devices)]


# ---- the codec -----------------------------------------------------------------------------
@pytest.mark.parametrize('kind,t', [('2bit', 0.5), ('2bit', 0.3), ('2bit', 1e-3),
                                    ('1bit', 0.0), ('1bit', 0.5), ('1bit', -0.25)])
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16'])
def test_encode_then_decode_is_mxnets_rule_with_the_residual(kind, t, dtype):
    gc = GradientCompression(kind, t)
    rng = np.random.RandomState(3)
    work = Workspace()
    for n in (1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 100, 1211):
        values = (rng.randn(n) * 0.6).astype(dtype)
        residual = (rng.randn(n) * 0.3).astype(dtype)
        want_sent, want_res = reference(kind, t, values, residual)
        codes = gc.encode(values, residual, work=work)
        assert codes.dtype == np.uint8 and codes.nbytes == gc.code_bytes(n)
        np.testing.assert_array_equal(residual, want_res)
        np.testing.assert_array_equal(gc.decode(codes, np.empty(n, dtype)), want_sent)
        added = np.full(n, 2, dtype)
        np.testing.assert_array_equal(gc.decode(codes, added, add=True, work=work),
                                      (np.full(n, 2, dtype) + want_sent).astype(dtype))


def test_values_on_the_threshold_are_sent_for_2bit_but_not_for_1bit():
    v = np.array([0.5, -0.5, 0.4999, -0.4999, 0.0], np.float32)
    r = np.zeros(5, np.float32)
    two = GradientCompression('2bit', 0.5)
    np.testing.assert_array_equal(two.compress(v, r), [0.5, -0.5, 0, 0, 0])
    np.testing.assert_array_equal(r, np.array([0, 0, 0.4999, -0.4999, 0], np.float32))
    r = np.zeros(5, np.float32)
    one = GradientCompression('1bit', 0.5)
    np.testing.assert_array_equal(one.compress(v, r), [-1, -1, -1, -1, -1])   # r > t only
    np.testing.assert_array_equal(r, v + 1)
    r = np.zeros(5, np.float32)
    np.testing.assert_array_equal(GradientCompression('1bit', 0.0).compress(v, r),
                                  [1, -1, 1, -1, -1])                          # 0 is not > 0


def test_packed_layout_16_elements_per_word_for_2bit_and_32_for_1bit():
    two, one = GradientCompression('2bit', 1.0), GradientCompression('1bit', 0.0)
    assert [two.code_bytes(n) for n in (1, 16, 17, 32, 33)] == [4, 4, 8, 8, 12]
    assert [one.code_bytes(n) for n in (1, 32, 33, 64, 65)] == [4, 4, 8, 8, 12]
    v = np.zeros(40, np.float32)
    v[[0, 17, 39]] = 1.0          # +t
    v[[1, 16]] = -1.0             # -t
    words = two.encode(v, np.zeros(40, np.float32)).view('<u4')
    # element i: bits 2(i % 16) (+t) and 2(i % 16) + 1 (-t) of word i // 16
    assert words.tolist() == [0b1001, (0b01 << 2) | 0b10, 0b01 << 14]
    bits = np.zeros(40, np.float32) - 1
    bits[[0, 31, 32, 39]] = 1
    words = one.encode(bits, np.zeros(40, np.float32)).view('<u4')
    assert words.tolist() == [1 | (1 << 31), 1 | (1 << 7)]


def test_packing_round_trip_for_every_code_pattern():
    for kind in ('2bit', '1bit'):
        gc = GradientCompression(kind, 0.5)
        n = 4096 + 7
        levels = [0.5, -0.5, 0.0] if kind == '2bit' else [1.0, -1.0]
        rng = np.random.RandomState(0)
        want = np.array(levels, np.float32)[rng.randint(0, len(levels), n)]
        residual = np.zeros(n, np.float32)
        codes = gc.encode(want, residual)
        # values that are levels go through unchanged and leave nothing behind
        np.testing.assert_array_equal(gc.decode(codes, np.empty(n, np.float32)), want)
        np.testing.assert_array_equal(residual, 0)
        # every byte value decodes to its documented elements
        b = np.arange(256, dtype=np.uint8)
        out = gc.decode(np.tile(b, 1), np.empty(256 * gc.per_byte, np.float32))
        for byte in (0, 1, 2, 0b01100110, 255):
            got = out[byte * gc.per_byte:(byte + 1) * gc.per_byte]
            if kind == '2bit':
                codes_ = [(byte >> (2 * j)) & 3 for j in range(4)]
                exp = [0.5 if c == 1 else -0.5 if c == 2 else 0.0 for c in codes_]
            else:
                exp = [1.0 if (byte >> j) & 1 else -1.0 for j in range(8)]
            assert got.tolist() == exp


def test_error_feedback_the_sum_of_what_was_sent_follows_the_sum_of_gradients():
    rng = np.random.RandomState(1)
    n = 1000
    # a steady gradient (smaller than what one step can send) plus noise
    for kind, t, steady, noise in (('2bit', 0.5, 0.3, 0.1), ('2bit', 0.05, 0.03, 0.01),
                                   ('1bit', 0.0, 0.6, 0.2)):
        gc = GradientCompression(kind, t)
        residual = np.zeros(n, np.float64)
        sent_total, grad_total = np.zeros(n), np.zeros(n)
        bias = rng.uniform(-steady, steady, n)
        errors = []
        for step in range(1, 401):
            g = bias + rng.randn(n) * noise
            sent_total += gc.compress(g, residual)
            grad_total += g
            # nothing is lost: what was sent plus what waits is what came in
            np.testing.assert_allclose(sent_total + residual, grad_total, atol=1e-9)
            if step in (10, 100, 400):
                errors.append(np.abs(sent_total - grad_total).max() / step)
        # the residual stays bounded, so the average of what was sent converges to the
        # average gradient (the error of the mean falls as 1/steps)
        level = t if kind == '2bit' else 1.0
        assert np.abs(residual).max() <= 2 * level + 5 * noise, kind
        assert errors[2] < errors[1] < errors[0], (kind, errors)
        assert errors[2] <= (2 * level + 5 * noise) / 400, (kind, errors)


def test_reduce_compressed_of_one_rank_is_its_compressed_value():
    gc = GradientCompression('2bit', 0.25)
    rng = np.random.RandomState(2)
    arrays = [rng.randn(n).astype(np.float32) for n in (5, 33, 1)]
    want = [reference('2bit', 0.25, a, np.zeros_like(a))[0] for a in arrays]
    residuals = [np.zeros_like(a) for a in arrays]
    sent = reduce_compressed(gc, arrays, residuals, comm=None)
    assert sent == sum(gc.code_bytes(a.size) for a in arrays)
    for a, w in zip(arrays, want):
        np.testing.assert_array_equal(a, w)


@pytest.mark.parametrize('kind,t', [('2bit', 0.5), ('2bit', 0.3), ('2bit', 1e-3),
                                    ('1bit', 0.0), ('1bit', -0.2), ('1bit', 0.7)])
@pytest.mark.parametrize('dtype', ['float32'])
def test_the_native_encoder_gives_the_numpy_codes_and_residuals_bit_for_bit(kind, t, dtype,
                                                                            monkeypatch):
    from kvstore import compression
    if compression.native_codec() is None:
        pytest.skip('kvstore/_codec.c is not built here (no C compiler at install)')
    gc = GradientCompression(kind, t)
    rng = np.random.RandomState(5)
    for n in (1, 15, 16, 17, 31, 32, 33, 1000, 4099):
        v = (rng.randn(n) * 0.6).astype(dtype)
        # values on the thresholds, signed zeros, infinities and NaN
        specials = np.array([t, -t, 0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0], dtype)
        v[:min(n, specials.size)] = specials[:min(n, specials.size)]
        # a residual of 0 first, so that the specials are the sums the encoder compares
        for res0 in (np.zeros(n, dtype), (rng.randn(n) * 0.3).astype(dtype)):
            got = []
            for native in (True, False):
                monkeypatch.setattr(compression, '_codec_lib', [] if native else [None])
                res = res0.copy()
                codes = []
                for step in range(3):
                    codes.append(gc.encode(v, res, work=Workspace()).tobytes())
                got.append((codes, res.tobytes()))
            assert got[0] == got[1], (n, kind, t, dtype)


def test_reduce_compressed_refuses_an_unknown_method_before_touching_the_residuals():
    gc = GradientCompression('2bit', 0.5)
    arrays, residuals = [np.ones(5, np.float32)], [np.full(5, 0.25, np.float32)]
    with pytest.raises(kvstore.KVStoreError, match="'allgather' or 'scatter', got 'ring'"):
        reduce_compressed(gc, arrays, residuals, comm=None, method='ring')
    np.testing.assert_array_equal(residuals[0], 0.25)
    np.testing.assert_array_equal(arrays[0], 1.0)


def test_counts_of_three_senders_times_the_threshold_are_the_sum():
    # the sum is the count times the threshold in the values' dtype
    gc = GradientCompression('2bit', 0.3)
    codes = [gc.encode(np.full(20, v, np.float16), np.zeros(20, np.float16))
             for v in (0.4, 0.35, 0.31)]
    counts = np.empty(gc.code_bytes(20) * gc.per_byte, np.int8)
    for i, c in enumerate(codes):
        gc.add_counts(c, counts, add=i > 0)
    assert (counts[:20] == 3).all()
    out = gc.from_counts(counts, np.empty(20, np.float16))
    assert (out == np.float16(3 * np.float64(np.float16(0.3)))).all()


# ---- MXNet's numbers -------------------------------------------------------------------------
# Recorded from Apache MXNet 1.9.1 (CPU; /tmp/mxnet-anchor): for each case,
#   kv = mx.kv.create('device'); kv.set_gradient_compression({'type': '2bit', 'threshold': t})
#   kv.init(0, mx.nd.zeros(n))
#   each step: kv.push(0, [mx.nd.array(g, ctx=mx.cpu(d)) for d, g in
#                          enumerate(sin_grads(n, devices, step, scale))]); kv.pull(0, out=o)
# sha256 is over every step's pulled float32 bytes, in order; counts are the first 20
# pulled values of the first and of the last step divided by t.
MXNET_2BIT_DEVICE = [
    ((37, 2, 6, 0.5, 0.6),
     '4ac5b5f096e0b319a15398ae0099b20aa62d0f7dfbe5715e8e5a09204be79d44',
     [1, 1, 1, 1, 1, 1, 0, 0, -1, -1, -1, 0, -1, -1, -1, 0, 0, 1, 1, 1],
     [-1, -1, -2, -1, -1, -1, -1, 1, 1, 1, 1, 2, 1, 1, 1, 0, -1, -1, -1, -2]),
    ((1211, 3, 8, 0.3, 0.45),
     'bba27c76171b05f880b5ac2b56be5894b3875ed305a179c509da1820524d574e',
     [1, 1, 2, 2, 0, 0, 0, -2, -1, -1, -1, -2, 0, 0, 0, 0, 2, 1, 1, 2],
     [0, 0, 0, 0, 2, 1, 1, 2, 2, 0, 0, 0, -2, -2, -1, -1, -2, 0, 0, 0]),
    ((50, 1, 5, 0.25, 0.2),
     '46bc780bb2f586765bb6b07d86fb4ad9419dba0f2ace241a69c04f5d9faed768',
     [0] * 20,
     [1, 0, 0, 0, 0, -1, -1, 0, -1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0]),
]


@pytest.mark.parametrize('case,digest,first,last', MXNET_2BIT_DEVICE,
                         ids=['37x2dev', '1211x3dev_t0.3', '50x1dev'])
def test_device_store_pushes_are_mxnets_bit_for_bit(case, digest, first, last):
    n, devices, steps, t, scale = case
    kv = kvstore.create('device')
    kv.set_gradient_compression({'type': '2bit', 'threshold': t})
    kv.init(0, np.zeros(n, np.float32))
    h, counts = hashlib.sha256(), []
    out = np.empty(n, np.float32)
    for step in range(steps):
        kv.push(0, sin_grads(n, devices, step, scale))
        kv.pull(0, out)
        h.update(out.tobytes())
        counts.append(np.round(out / np.float32(t)).astype(int)[:20].tolist())
    assert counts[0] == first and counts[-1] == last
    assert h.hexdigest() == digest


def test_mxnets_three_steps_of_two_devices_by_hand():
    # MXNet 1.9.1, kvstore('device'), 2bit, threshold 0.5, devices cpu(0) and cpu(1)
    g0 = np.array([0.6, -0.6, 0.3, -0.3, 0.5, -0.5, 0.0], np.float32)
    g1 = np.array([0.2, 0.2, 0.2, -0.2, 1.7, -1.2, 0.1], np.float32)
    mxnet = [[0.5, -0.5, 0, 0, 1, -1, 0], [0.5, -0.5, 0.5, -0.5, 1, -1, 0],
             [1, 0, 0.5, -0.5, 1, -1, 0]]
    residuals = []
    gc = GradientCompression('2bit', 0.5)
    for want in mxnet:
        np.testing.assert_array_equal(merge_devices(gc, [g0, g1], residuals), want)


def test_1bit_follows_mxnet_2s_rule():
    # MXNet 1.9.1 refuses '1bit' ("Unknown type for gradient compression 1bit"); MXNet 2
    # (PR #17952) sends +1 where residual + gradient > threshold, else -1, and keeps
    # residual + gradient - sent
    gc = GradientCompression('1bit', 0.1)
    r = np.zeros(4, np.float32)
    g = np.array([0.3, 0.1, -0.2, 2.5], np.float32)
    np.testing.assert_array_equal(gc.compress(g, r), [1, -1, -1, 1])
    np.testing.assert_array_equal(r, np.array([0.3 - 1, 0.1 + 1, -0.2 + 1, 2.5 - 1],
                                              np.float32))
    np.testing.assert_array_equal(gc.compress(g, r), [-1, 1, 1, 1])


# ---- settings --------------------------------------------------------------------------------
def test_settings_are_checked_as_mxnet_does():
    assert parse_params({'type': '2bit'}).params == {'type': '2bit', 'threshold': 0.5}
    assert parse_params({'type': '1bit'}).params == {'type': '1bit', 'threshold': 0.5}
    assert parse_params({'type': '2bit', 'threshold': '0.25'}).threshold == 0.25
    assert parse_params({'type': '1bit', 'threshold': 0}).threshold == 0.0
    assert parse_params({'type': 'none'}) is None
    for bad, msg in (({'threshold': 0.5}, "needs a 'type'"),
                     ({'type': '4bit'}, 'unknown type'),
                     ({'type': '2bit', 'thresh': 0.5}, 'unknown argument'),
                     ({'type': '2bit', 'threshold': 0}, 'greater than 0'),
                     ({'type': '2bit', 'threshold': -1}, 'greater than 0'),
                     ({'type': '2bit', 'threshold': 'big'}, 'must be a number'),
                     ('2bit', 'must be a dict')):
        with pytest.raises(kvstore.KVStoreError, match=msg):
            parse_params(bad)


def test_local_stores_refuse_compression_as_mxnet_does_and_accept_none():
    for name in ('local', 'local_allreduce_cpu', 'local_update_cpu', 'nccl'):
        kv = kvstore.create(name)
        kv.set_gradient_compression({'type': 'none'})
        with pytest.raises(kvstore.KVStoreError, match="not supported for this type of "
                           "kvstore .*'device'"):
            kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    for name in ('device', 'local_allreduce_device', 'dist_sync', 'dist_device_sync'):
        kv = kvstore.create(name)
        kv.set_gradient_compression({'type': '1bit', 'threshold': 0.0})
        assert kv.compression == {'type': '1bit', 'threshold': 0.0}
        kv.set_gradient_compression({'type': 'none'})
        assert kv.compression == {'type': 'none'}


def test_init_is_not_compressed_and_none_is_exact_again():
    kv = kvstore.create('device')
    kv.init('a', np.full(3, 3.3, np.float32))
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    out = np.empty(3, np.float32)
    kv.pull('a', out)
    np.testing.assert_array_equal(out, np.float32(3.3))
    kv.push('a', [np.full(3, 0.7, np.float32)] * 2)
    kv.pull('a', out)
    np.testing.assert_array_equal(out, 1.0)
    kv.set_gradient_compression({'type': 'none'})
    kv.push('a', [np.full(3, 0.7, np.float32)] * 2)
    kv.pull('a', out)
    np.testing.assert_array_equal(out, np.float32(0.7) + np.float32(0.7))


def test_device_store_with_an_optimizer_and_non_float_or_sparse_values():
    kv = kvstore.create('device')
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    seen = []
    kv.set_optimizer(lambda k, g, w: (seen.append(np.array(g)), w.__iadd__(2 * g)))
    kv.init(['f', 'i'], [np.zeros(4, np.float32), np.zeros(4, np.int32)])
    kv.push(['f', 'i'], [[np.array([0.6, 0.3, -0.7, 0.49], np.float32)] * 2,
                         [np.array([1, 2, 3, 4], np.int32)] * 2])
    np.testing.assert_array_equal(seen[0], [1, 0, -1, 0])
    np.testing.assert_array_equal(seen[1], [2, 4, 6, 8])           # integers: exact
    out = np.empty(4, np.float32)
    kv.pull('f', out)
    np.testing.assert_array_equal(out, [2, 0, -2, 0])


@pytest.mark.parametrize('make', [lambda: kvstore.create('dist_sync'),
                                  lambda: kvstore.LocalStore('dist_sync')],
                         ids=['dist_sync', 'dist_sync_without_mpi'])
def test_dist_store_of_one_rank_compresses_its_pushes_and_gradient_buckets(make):
    kv = make()                            # one rank of one (over MPI, or without mpi4py)
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    kv.init(3, np.zeros(5, np.float32))
    out = np.empty(5, np.float32)
    kv.push(3, [np.full(5, 0.3, np.float32), np.full(5, 0.3, np.float32)])   # 0.6 merged
    kv.pull(3, out)
    np.testing.assert_array_equal(out, 0.5)
    kv.push(3, np.full(5, 0.3, np.float32))                                 # 0.1 + 0.3
    kv.pull(3, out)
    np.testing.assert_array_equal(out, 0)
    flat = np.zeros(40, np.float32)
    red = kv.gradient_buckets([flat], [(0, 0, 10), (0, 10, 40)])
    gc = GradientCompression('2bit', 0.5)
    res = np.zeros(40, np.float32)
    for step in range(3):
        flat[...] = np.linspace(-1, 1, 40, dtype=np.float32) * (step + 1) / 3
        want = gc.compress(flat.copy(), res)
        red.ready(1)
        red.ready(0)
        red.wait()
        np.testing.assert_array_equal(flat, want)
    # a new setting reaches the reducer the store made; 'none' is the exact path again
    kv.set_gradient_compression({'type': 'none'})
    assert red.compression is None
    flat[...] = 0.3
    red.run()
    np.testing.assert_array_equal(flat, np.float32(0.3))
    red.close()


def test_bucket_reducer_compresses_float_flats_and_sums_integer_flats_exactly():
    from kvstore.buckets import BucketAllreduce
    f32, i32 = np.zeros(20, np.float32), np.arange(6, dtype=np.int32)
    red = BucketAllreduce(None, [f32, i32], [(0, 0, 10), (0, 10, 20), (1, 0, 6)],
                          bucket_bytes=40, compression=GradientCompression('1bit', 0.0))
    assert red.payload_bytes == 4 + 4 + 24        # two float buckets of codes, the ints
    f32[...] = 0.25
    red.run()
    np.testing.assert_array_equal(f32, 1)
    np.testing.assert_array_equal(i32, np.arange(6))
    f32[...] = 0.25                               # residual -0.75 + 0.25 = -0.5: not > 0
    red.run()
    np.testing.assert_array_equal(f32, -1)


# ---- through mx.kv and Module ---------------------------------------------------------------
def test_mx_kv_device_store_and_its_params():
    import distmod as mx
    kv = mx.kv.create('device')
    assert kv.compression_params == {'type': 'none'}
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    kv.init(0, mx.nd.zeros(3))
    kv.push(0, [mx.nd.array([0.6, 0.3, -0.7]), mx.nd.array([0.6, 0.3, -0.7])])
    out = mx.nd.zeros(3)
    kv.pull(0, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [1, 0, -1])
    with pytest.raises(mx.MXNetError, match='greater than 0'):
        kv.set_gradient_compression({'type': '2bit', 'threshold': 0})
    with pytest.raises(mx.MXNetError, match='not supported for this type of kvstore'):
        mx.kv.create('local').set_gradient_compression({'type': '2bit'})


def _mlp(hidden=16, classes=3):
    import distmod as mx
    data = mx.sym.Variable('data')
    net = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=hidden, name='fc1'),
                            act_type='relu')
    net = mx.sym.FullyConnected(net, num_hidden=classes, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def test_module_on_a_device_store_compresses_each_devices_gradients():
    import distmod as mx
    rng = np.random.RandomState(0)
    x = rng.rand(8, 5).astype(np.float32)
    y = rng.randint(0, 3, 8).astype(np.float32)
    mod = mx.mod.Module(_mlp(), context=[mx.cpu(0), mx.cpu(1)])
    mod.bind([('data', (8, 5))], [('softmax_label', (8,))])
    mod.init_params(mx.init.Xavier(magnitude=3))
    kv = mx.kv.create('device')
    kv.set_gradient_compression({'type': '2bit', 'threshold': 0.05})
    mod.init_optimizer(kvstore=kv, optimizer='sgd', optimizer_params={'learning_rate': 0.1})
    gc = GradientCompression('2bit', 0.05)
    group = mod._exec_group
    residuals = {}
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    for step in range(3):
        mod.forward_backward(batch)
        per_device = [[g.asnumpy().ravel() for g in grads] for grads in group.grad_arrays]
        mod.update()
        for i, grads in enumerate(per_device):
            res = residuals.setdefault(i, [np.zeros_like(g) for g in grads])
            want = gc.compress(grads[0], res[0])
            want += gc.compress(grads[1], res[1])
            np.testing.assert_array_equal(group.grad_arrays[i][0].asnumpy().ravel(), want)


def _fit(kvstore_name, compression_params, epochs=8, lr=0.5):
    import distmod as mx
    logging.disable(logging.CRITICAL)
    rng = np.random.RandomState(0)
    x = rng.rand(300, 10).astype(np.float32)
    y = np.argmax(x @ rng.randn(10, 3), axis=1).astype(np.float32)
    mx.random.seed(2)
    mod = mx.mod.Module(_mlp(), compression_params=compression_params)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=20), num_epoch=epochs, kvstore=kvstore_name,
            optimizer_params={'learning_rate': lr}, initializer=mx.init.Xavier())
    acc = mod.score(mx.io.NDArrayIter(x, y, batch_size=20), 'acc')[0][1]
    return mod.get_params()[0]['fc1_weight'].asnumpy(), acc


def test_module_with_2bit_on_dist_sync_trains_and_none_is_the_exact_path():
    exact, acc = _fit('dist_sync', None)
    none, _ = _fit('dist_sync', {'type': 'none'})
    np.testing.assert_array_equal(none, exact)
    two, acc2 = _fit('dist_sync', {'type': '2bit', 'threshold': 0.01})
    assert not np.array_equal(two, exact)
    assert acc > 0.85 and acc2 > 0.85, (acc, acc2)
    one, acc1 = _fit('dist_sync', {'type': '1bit', 'threshold': 0.0}, lr=0.05)
    assert acc1 > 0.8, acc1


def test_the_docstring_examples_run():
    import doctest

    import distmod as mx
    import distmod.kvstore
    import kvstore.compression
    for module, globs in ((kvstore.compression, {}), (distmod.kvstore, {'mx': mx, 'np': np})):
        result = doctest.testmod(module, extraglobs=globs,
                                 optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
