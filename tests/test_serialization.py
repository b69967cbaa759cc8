"""MXNet's NDArray-list file format: byte-exact with MXNet, safe on bad input, atomic writes."""
import ast
import os
import struct
import subprocess

import numpy as np
import pytest

from distmod.base import MXNetError
from distmod import serialization as ser

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'ndarray')
DTYPES = ['float32', 'float64', 'float16', 'uint8', 'int8', 'int32', 'int64', 'bool']
VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')


def values(dtype, shape):
    base = np.arange(int(np.prod(shape))).reshape(shape) - 3
    src = base % 2 if dtype == 'bool' else base * 1.5 if 'float' in dtype else base % 100
    return np.asarray(src).astype(dtype)


def test_the_formats_md_example_is_byte_exact():
    data = {'arg:w': np.array([[1, 2, 3], [4, 5, 6]], np.float32),
            'aux:m': np.array([7], np.int64)}
    with open(os.path.join(HERE, 'example162.params'), 'rb') as f:
        theirs = f.read()
    assert len(theirs) == 162
    assert ser.dumps_arrays(data) == theirs


@pytest.mark.parametrize('fname,named', [('list.params', False), ('dict.params', True)])
def test_files_written_by_mxnet_load_with_their_values(fname, named):
    got = ser.load_arrays(os.path.join(HERE, fname))
    if named:
        assert sorted(got) == sorted('arg:%s_w' % d for d in DTYPES)
        for d in DTYPES:
            a = got['arg:%s_w' % d]
            assert a.dtype == np.dtype(d) and a.shape == (3, 1, 2)
            np.testing.assert_array_equal(a, values(d, (3, 1, 2)))
    else:
        assert isinstance(got, list) and len(got) == len(DTYPES)
        for d, a in zip(DTYPES, got):
            assert a.dtype == np.dtype(d)
            np.testing.assert_array_equal(a, values(d, (2, 3)))
    with open(os.path.join(HERE, fname), 'rb') as f:
        assert ser.dumps_arrays(got) == f.read()      # and we write the same bytes back


@pytest.mark.parametrize('dtype', DTYPES + ['uint16', 'uint32', 'uint64', 'int16'])
def test_round_trip_every_dtype(tmp_path, dtype):
    arrays = [values(dtype, (2, 2)), values(dtype, (5,)), np.zeros((0, 3), dtype)]
    f = tmp_path / 'x.params'
    ser.save_arrays(f, arrays)
    back = ser.load_arrays(str(f))
    for a, b in zip(arrays, back):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_empty_list_and_unicode_names(tmp_path):
    assert ser.loads_arrays(ser.dumps_arrays([])) == []
    d = {'arg:poids_é': np.ones(2, np.float32), 'aux:均值': np.zeros((1, 1))}
    back = ser.loads_arrays(ser.dumps_arrays(d))
    assert list(back) == list(d)


def test_bfloat16_is_widened_to_float32():
    raw = ser.dumps_arrays([np.zeros(2, np.float32)])
    # patch the dtype flag (float32 = 0) to bfloat16 (12) and the data to two bf16 values
    head = raw[:24 + 4 + 4 + 4 + 8 + 8]
    patched = head + struct.pack('<i', 12) + struct.pack('<HH', 0x3F80, 0xC000) + raw[-8:]
    got = ser.loads_arrays(patched)
    assert got[0].dtype == np.float32 and got[0].tolist() == [1.0, -2.0]


@pytest.mark.parametrize('mutate,message', [
    (lambda b: b[:40], 'truncated'),
    (lambda b: b[:-3], 'truncated'),
    (lambda b: b + b'xx', 'unexpected bytes'),
    (lambda b: b'{"nodes": []}' + b, 'header magic'),
    (lambda b: b[:24] + b'\x00\x00\x00\x00' + b[28:], 'unknown magic'),
    (lambda b: b[:16] + struct.pack('<Q', 10 ** 15) + b[24:], 'array count'),
    (lambda b: b[:32] + struct.pack('<I', 2 ** 20) + b[36:], 'dimensions'),
    (lambda b: b[:28] + struct.pack('<i', 2) + b[32:], 'sparse'),
])
def test_bad_files_give_clear_errors_naming_the_file(tmp_path, mutate, message):
    good = ser.dumps_arrays({'arg:w': np.ones((2, 3), np.float32)})
    f = tmp_path / 'bad.params'
    f.write_bytes(mutate(good))
    with pytest.raises(MXNetError) as e:
        ser.load_arrays(str(f))
    assert 'bad.params' in str(e.value) and message in str(e.value)


def test_huge_shape_in_a_corrupt_header_is_refused_without_allocating(tmp_path):
    good = ser.dumps_arrays([np.ones((2, 3), np.float32)])
    bad = good[:36] + struct.pack('<q', 10 ** 12) + good[44:]
    with pytest.raises(MXNetError, match='needs'):
        ser.loads_arrays(bad, 'corrupt.params')


def test_pickle_and_random_bytes_are_rejected(tmp_path):
    import pickle
    f = tmp_path / 'p.params'
    f.write_bytes(pickle.dumps({'a': 1}))
    with pytest.raises(MXNetError, match='p.params'):
        ser.load_arrays(str(f))
    f.write_bytes(os.urandom(1000))
    with pytest.raises(MXNetError, match='p.params'):
        ser.load_arrays(str(f))
    with pytest.raises(MXNetError, match='cannot read'):
        ser.load_arrays(str(tmp_path / 'nope.params'))


def test_failed_write_leaves_the_old_file_and_no_temporaries(tmp_path):
    f = tmp_path / 'keep.params'
    ser.save_arrays(f, [np.ones(3, np.float32)])
    before = f.read_bytes()
    with pytest.raises(MXNetError):
        ser.save_arrays(f, [np.ones(3, np.float32), np.array([object()], dtype=object)])
    assert f.read_bytes() == before
    assert os.listdir(tmp_path) == ['keep.params']


@pytest.mark.skipif(not os.path.exists(VENV_PY), reason='reference MXNet venv not found at %s'
                    % VENV_PY)
def test_our_files_load_in_mxnet(tmp_path):
    f = tmp_path / 'ours.params'
    ser.save_arrays(f, {'arg:%s' % d: values(d, (2, 3)) for d in DTYPES})
    code = ('import mxnet as mx, sys\n'
            'd = mx.nd.load(sys.argv[1])\n'
            'print(";".join("%s=%s:%s" % (k, v.dtype.__name__, v.asnumpy().ravel().tolist()) '
            'for k, v in sorted(d.items())))')
    out = subprocess.run([VENV_PY, '-c', code, str(f)], check=True, capture_output=True,
                         text=True, timeout=300).stdout.strip()
    for item in out.split(';'):
        key, rest = item.split('=')
        dt, vals = rest.split(':', 1)
        want = values(key[4:], (2, 3))
        assert np.dtype(dt) == want.dtype
        np.testing.assert_array_equal(np.array(ast.literal_eval(vals), dtype=want.dtype), want.ravel())


def test_saved_files_get_the_usual_permissions(tmp_path):
    f = tmp_path / 'perm.params'
    ser.save_arrays(f, [np.ones(2, np.float32)])
    mask = os.umask(0)
    os.umask(mask)
    assert (f.stat().st_mode & 0o777) == (0o666 & ~mask)
