"""NDArray semantics (MXNet's names, defaults and behaviours) and mx.nd functions."""
import numpy as np
import pytest

import distmod as mx


def test_creation_defaults():
    a = mx.nd.array([1, 2, 3])
    assert a.dtype is np.float32 and a.shape == (3,) and a.context == mx.cpu(0)
    assert mx.nd.array(np.arange(3)).dtype is np.float32      # MXNet: float32 unless given
    assert mx.nd.array(mx.nd.ones(2, dtype='int32')).dtype is np.int32
    assert mx.nd.array(np.arange(3), dtype='float16').dtype is np.float16
    assert mx.nd.zeros((2, 3)).asnumpy().sum() == 0
    assert mx.nd.ones(4, dtype='int32').dtype is np.int32
    assert mx.nd.full((2,), 7).asnumpy().tolist() == [7.0, 7.0]
    assert mx.nd.empty((2, 2)).shape == (2, 2)
    assert mx.nd.arange(3).asnumpy().tolist() == [0.0, 1.0, 2.0]
    assert mx.nd.arange(1, 3, repeat=2).asnumpy().tolist() == [1, 1, 2, 2]
    assert a.size == 3 and a.ndim == 1 and a.ctx == a.context and a.stype == 'default'


def test_context():
    assert mx.cpu() == mx.cpu(0) and mx.cpu(1) != mx.cpu(0)
    assert str(mx.gpu(1)) == 'gpu(1)' and mx.context.Context('cpu', 2).device_id == 2
    assert mx.current_context() == mx.cpu(0)
    with mx.Context('cpu', 1):
        assert mx.current_context() == mx.cpu(1)
        assert mx.nd.zeros((1,)).context == mx.cpu(1)
    assert mx.current_context() == mx.cpu(0)


def test_gpu_without_cupy_says_so():
    if mx.num_gpus() > 0:
        pytest.skip('a GPU is present')
    with pytest.raises(mx.MXNetError, match='gpu\\(0\\)'):
        mx.nd.zeros((2,), ctx=mx.gpu(0))


def test_copies_and_conversions():
    a = mx.nd.array([[1, 2], [3, 4]])
    b = a.copy()
    b[:] = 0
    assert a.asnumpy().sum() == 10
    c = mx.nd.zeros((2, 2))
    a.copyto(c)
    assert c.asnumpy().tolist() == [[1, 2], [3, 4]]
    d = a.copyto(mx.cpu(1))
    assert d.context == mx.cpu(1) and d.asnumpy().sum() == 10
    assert a.as_in_context(mx.cpu(0)) is a
    assert a.astype('int32').dtype is np.int32
    assert mx.nd.array([5]).asscalar() == 5
    with pytest.raises(ValueError, match='not a scalar'):
        a.asscalar()
    with pytest.raises(mx.MXNetError, match='shape mismatch'):
        a.copyto(mx.nd.zeros((3,)))


def test_reshape_special_codes():
    a = mx.nd.zeros((2, 3, 4))
    assert a.reshape((6, 4)).shape == (6, 4)
    assert a.reshape(-1).shape == (24,)
    assert a.reshape((0, -1)).shape == (2, 12)
    assert a.reshape((-3, 4)).shape == (6, 4)
    assert a.reshape((-4, 1, 2, -2)).shape == (1, 2, 3, 4)
    assert a.reshape(4, -1).shape == (4, 6)
    b = a.reshape((6, 4))
    b[:] = 1
    assert a.asnumpy().sum() == 24        # a view, as in MXNet


def test_indexing_and_slice_assignment():
    a = mx.nd.array(np.arange(12).reshape(3, 4))
    assert a[1].shape == (4,)
    assert a[1:3].shape == (2, 4)
    assert a[1, 2].asscalar() == 6
    a[0] = 5
    a[1:2] = mx.nd.ones((1, 4))
    a[2, 3] = -1
    assert a.asnumpy().tolist() == [[5] * 4, [1] * 4, [8, 9, 10, -1]]
    a[:] = np.zeros((3, 4))
    assert a.asnumpy().sum() == 0
    with pytest.raises(mx.MXNetError, match='cannot assign'):
        a[:] = np.zeros((2, 2))


def test_arithmetic_and_in_place():
    a = mx.nd.array([1, 2, 3])
    b = mx.nd.array([4, 5, 6])
    assert (a + b).asnumpy().tolist() == [5, 7, 9]
    assert (b - a).asnumpy().tolist() == [3, 3, 3]
    assert (a * 2).asnumpy().tolist() == [2, 4, 6]
    assert (2 - a).asnumpy().tolist() == [1, 0, -1]
    assert (6 / a).asnumpy().tolist() == [6, 3, 2]
    assert (a ** 2).asnumpy().tolist() == [1, 4, 9]
    assert (2 ** a).asnumpy().tolist() == [2, 4, 8]
    assert (-a).asnumpy().tolist() == [-1, -2, -3]
    assert (a % 2).asnumpy().tolist() == [1, 0, 1]
    m = mx.nd.array([[1], [2]])
    assert (m + a).shape == (2, 3)          # broadcasting, as NDArray operators do
    c = a
    c += b
    assert c is a and a.asnumpy().tolist() == [5, 7, 9]
    a *= 2
    a -= 1
    a /= 3
    assert np.allclose(a.asnumpy(), [3, 13 / 3, 17 / 3])
    ints = mx.nd.array([1, 3, 5], dtype='int32')
    assert (ints / 2).dtype is np.int32
    assert (ints + 1).dtype is np.int32


def test_comparisons_return_same_dtype_zero_one():
    a = mx.nd.array([1, 2, 3])
    assert (a > 1).asnumpy().tolist() == [0, 1, 1] and (a > 1).dtype is np.float32
    assert (a == mx.nd.array([1, 0, 3])).asnumpy().tolist() == [1, 0, 1]
    assert (a <= 2).asnumpy().tolist() == [1, 1, 0]
    assert (a != 2).asnumpy().tolist() == [1, 0, 1]


def test_functions():
    a = mx.nd.array([[1, 2], [3, 4]])
    assert mx.nd.concat(a, a, dim=0).shape == (4, 2)
    assert mx.nd.concat(a, a).shape == (2, 4)
    assert mx.nd.dot(a, a).asnumpy().tolist() == [[7, 10], [15, 22]]
    assert mx.nd.sum(a).asnumpy().tolist() == [10]
    assert a.sum(axis=1).asnumpy().tolist() == [3, 7]
    assert mx.nd.maximum(a, 2.5).asnumpy().tolist() == [[2.5, 2.5], [3, 4]]
    assert mx.nd.add(a, a).asnumpy().tolist() == [[2, 4], [6, 8]]
    assert a.argmax(axis=1).asnumpy().tolist() == [1, 1]
    out = mx.nd.zeros((2, 2))
    mx.nd.exp(a, out=out)
    np.testing.assert_allclose(out.asnumpy(), np.exp(a.asnumpy()), rtol=1e-6)
    assert mx.nd.FullyConnected(a, mx.nd.ones((3, 2)), num_hidden=3, no_bias=True).shape == (2, 3)
    mx.nd.waitall()
    with pytest.raises(mx.MXNetError, match='bias'):
        mx.nd.FullyConnected(a, mx.nd.ones((3, 2)), num_hidden=3)   # the missing bias is named
    with pytest.raises(mx.MXNetError) as e:
        mx.nd.elemwise_add(a, mx.nd.ones((3, 2)))
    assert '(2, 2)' in str(e.value) and '(3, 2)' in str(e.value)


def test_repr_and_misc():
    a = mx.nd.array([1, 2, 3])
    assert repr(a).endswith('<NDArray 3 @cpu(0)>')
    assert len(a) == 3 and [x.asscalar() for x in a] == [1, 2, 3]
    assert np.array(a).tolist() == [1, 2, 3]
    assert bool(mx.nd.array([1]))
    with pytest.raises(ValueError):
        bool(a)


def test_save_load_round_trip(tmp_path):
    f = str(tmp_path / 'x.params')
    d = {'arg:w': mx.nd.array([[1, 2, 3], [4, 5, 6]]), 'aux:m': mx.nd.array([7], dtype='int64')}
    mx.nd.save(f, d)
    back = mx.nd.load(f)
    assert sorted(back) == ['arg:w', 'aux:m']
    assert back['aux:m'].dtype is np.int64
    assert back['arg:w'].asnumpy().tolist() == [[1, 2, 3], [4, 5, 6]]
    mx.nd.save(f, [mx.nd.ones((2,)), mx.nd.zeros((1, 1), dtype='float64')])
    lst = mx.nd.load(f)
    assert isinstance(lst, list) and lst[1].dtype is np.float64
    mx.nd.save(f, mx.nd.ones((3,)))
    assert mx.nd.load(f)[0].shape == (3,)
    with open(f, 'rb') as fh:
        assert len(fh.read()) > 0


def test_more_ndarray_functions_of_mxnet_1x():
    np.testing.assert_array_equal(mx.nd.cumsum(mx.nd.array([[1, 2], [3, 4]]), axis=0).asnumpy(),
                                  [[1, 2], [4, 6]])
    assert mx.nd.cumsum(mx.nd.array([[1, 2], [3, 4]])).shape == (4,)
    counts, edges = mx.nd.histogram(mx.nd.array([0, 1, 1, 2, 5]), bins=3, range=(0, 6))
    assert counts.asnumpy().tolist() == [3, 1, 1] and edges.asnumpy().tolist() == [0, 2, 4, 6]
    assert [p.asnumpy().tolist() for p in mx.nd.split_v2(mx.nd.arange(6), (1, 4))] == \
        [[0], [1, 2, 3], [4, 5]]
    assert mx.nd.eye(2, 3, 1).asnumpy().tolist() == [[0, 1, 0], [0, 0, 1]]
    assert mx.nd.linspace(0, 1, 3).asnumpy().tolist() == [0, 0.5, 1]
    a = mx.nd.from_numpy(np.arange(3, dtype=np.float32))
    assert mx.nd.from_dlpack(mx.nd.to_dlpack_for_read(a)).asnumpy().tolist() == [0, 1, 2]
    assert mx.nd.all_finite(mx.nd.array([1, np.inf])).asnumpy().tolist() == [0]
    assert mx.nd.multi_all_finite(mx.nd.ones(2), mx.nd.ones(3), num_arrays=2).asnumpy()[0] == 1
    assert mx.nd.multi_sum_sq(mx.nd.array([1, 2]), mx.nd.array([3]),
                              num_arrays=2).asnumpy().tolist() == [5, 9]
    arrays = [mx.nd.ones(2), mx.nd.ones(3)]
    mx.nd.reset_arrays(*arrays, num_arrays=2)
    assert not any(x.asnumpy().any() for x in arrays)
    # MXNet 1.9.1's expected counts for classes 1 and 2 of range 10, 5 draws
    sampled, true_count, sampled_count = mx.nd.contrib.rand_zipfian(mx.nd.array([1, 2]), 5, 10)
    np.testing.assert_allclose(true_count.asnumpy(), [0.84546042, 0.59986371], rtol=1e-6)
    assert sampled.dtype == np.int64 and sampled.shape == (5,) and sampled_count.shape == (5,)
    assert ((sampled.asnumpy() >= 0) & (sampled.asnumpy() < 10)).all()


def test_load_frombuffer_reads_a_saved_file(tmp_path):
    path = str(tmp_path / 'x.params')
    mx.nd.save(path, {'w': mx.nd.arange(3)})
    with open(path, 'rb') as f:
        loaded = mx.nd.load_frombuffer(f.read())
    assert loaded['w'].asnumpy().tolist() == [0, 1, 2]
