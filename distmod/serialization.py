"""MXNet's binary NDArray-list format (``mx.nd.save``, ``prefix-NNNN.params``), on NumPy arrays.

The layout is in the shared FORMATS.md: a list header, then per array a magic, storage type,
shape, context, dtype flag and raw little-endian data, then optional names.  Reading never runs
code (no pickle, no eval): every count and size is checked against the bytes that remain, so a
truncated or foreign file is a clear error naming the file and the offset.  Writing is atomic.

bfloat16 arrays (flag 12) are widened to float32 on load; saving bfloat16 is not supported.
"""
import os
import struct

import numpy as np

from kvstore import atomic_write  # noqa: F401  (one writer for every file we save)

from .base import MXNetError, DTYPE_TO_FLAG, FLAG_TO_DTYPE

__all__ = ['save_arrays', 'load_arrays', 'dumps_arrays', 'loads_arrays', 'dumps_array',
           'loads_array', 'atomic_write']

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
_CPU = 1


def _encode_array(arr):
    arr = np.asarray(arr)
    name = arr.dtype.name
    if name not in DTYPE_TO_FLAG or name == 'bfloat16':
        raise MXNetError('cannot save an array of dtype %s in MXNet format' % arr.dtype)
    head = struct.pack('<IiI', V2_MAGIC, 0, arr.ndim)
    head += struct.pack('<%dq' % arr.ndim, *arr.shape)
    head += struct.pack('<iii', _CPU, 0, DTYPE_TO_FLAG[name])
    data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder('<')).tobytes()
    return head + data


def dumps_array(arr):
    """The bytes of one array as MXNet saves it alone (``MXNDArraySaveRawBytes``: the per-array
    record of a ``.params`` file, without the list header; what a pickled MXNet NDArray holds)."""
    return _encode_array(arr)


def dumps_arrays(data):
    """The bytes of an MXNet NDArray-list file holding ``data`` (list, or dict name -> array)."""
    if isinstance(data, dict):
        names = list(data)
        arrays = [data[k] for k in names]
        for k in names:
            if not isinstance(k, str):
                raise MXNetError('array names must be strings, got %r' % (k,))
    else:
        names, arrays = [], list(data)
    parts = [struct.pack('<QQQ', LIST_MAGIC, 0, len(arrays))]
    parts.extend(_encode_array(a) for a in arrays)
    parts.append(struct.pack('<Q', len(names)))
    for k in names:
        raw = k.encode('utf-8')
        parts.append(struct.pack('<Q', len(raw)) + raw)
    return b''.join(parts)


def save_arrays(fname, data):
    """Save a list or dict of NumPy arrays to ``fname`` in MXNet's format, atomically."""
    atomic_write(fname, dumps_arrays(data))


class _Reader:
    def __init__(self, buf, source):
        self.buf = memoryview(buf)
        self.pos = 0
        self.source = source

    def fail(self, what):
        raise MXNetError('%s: %s (at byte %d of %d); not a valid MXNet NDArray file'
                         % (self.source, what, self.pos, len(self.buf)))

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            self.fail('truncated while reading %s (needs %d bytes)' % (what, n))
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, what):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size, what))

    def remaining(self):
        return len(self.buf) - self.pos


def _read_array(r, index):
    where = 'array %d' % index
    (magic,) = r.unpack('<I', where + ' magic')
    if magic not in (V1_MAGIC, V2_MAGIC, V3_MAGIC):
        r.pos -= 4
        r.fail('%s has unknown magic 0x%08X' % (where, magic))
    if magic != V1_MAGIC:
        (stype,) = r.unpack('<i', where + ' storage type')
        if stype != 0:
            r.fail('%s uses sparse storage type %d; distmod reads dense arrays only'
                   % (where, stype))
    (ndim,) = r.unpack('<I', where + ' ndim')
    if ndim > 32:
        r.fail('%s claims %d dimensions' % (where, ndim))
    if ndim == 0 and magic != V3_MAGIC:
        return np.zeros((0,), np.float32)        # MXNet's empty "none" array
    if magic == V1_MAGIC:
        shape = r.unpack('<%dI' % ndim, where + ' shape')
    else:
        shape = r.unpack('<%dq' % ndim, where + ' shape')
    if any(d < 0 for d in shape):
        r.fail('%s has a negative dimension in shape %s' % (where, shape))
    r.unpack('<ii', where + ' context')
    (flag,) = r.unpack('<i', where + ' dtype')
    if flag not in FLAG_TO_DTYPE:
        r.fail('%s has unknown dtype flag %d' % (where, flag))
    count = 1
    for d in shape:
        count *= d
    if FLAG_TO_DTYPE[flag] == 'bfloat16':
        raw = r.take(count * 2, where + ' data')
        bits = np.frombuffer(raw, dtype='<u2').astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    dtype = np.dtype(FLAG_TO_DTYPE[flag]).newbyteorder('<')
    if count * dtype.itemsize > r.remaining():
        r.fail('%s of shape %s and dtype %s needs %d bytes but only %d remain (truncated or '
               'corrupt)' % (where, shape, dtype.name, count * dtype.itemsize, r.remaining()))
    raw = r.take(count * dtype.itemsize, where + ' data')
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder('='), copy=True) \
        .reshape(shape)


def loads_arrays(buf, source='<bytes>'):
    """Parse MXNet NDArray-list bytes: a list (no names) or a dict (named arrays)."""
    r = _Reader(buf, source)
    magic, _reserved = r.unpack('<QQ', 'header')
    if magic != LIST_MAGIC:
        r.pos = 0
        r.fail('header magic is 0x%X, expected 0x112' % magic)
    (count,) = r.unpack('<Q', 'array count')
    if count > r.remaining() // 12:
        r.fail('array count %d is larger than the file could hold' % count)
    arrays = [_read_array(r, i) for i in range(count)]
    (nnames,) = r.unpack('<Q', 'name count')
    if nnames not in (0, count):
        r.fail('%d names for %d arrays' % (nnames, count))
    names = []
    for i in range(nnames):
        (length,) = r.unpack('<Q', 'length of name %d' % i)
        try:
            names.append(bytes(r.take(length, 'name %d' % i)).decode('utf-8'))
        except UnicodeDecodeError:
            r.fail('name %d is not UTF-8' % i)
    if r.remaining():
        r.fail('%d unexpected bytes after the last name' % r.remaining())
    if nnames:
        if len(set(names)) != len(names):
            r.fail('duplicate array names')
        return dict(zip(names, arrays))
    return arrays


def loads_array(buf, source='<bytes>'):
    """Parse one array record (the inverse of :func:`dumps_array`); no bytes may follow it."""
    r = _Reader(buf, source)
    arr = _read_array(r, 0)
    if r.remaining():
        r.fail('%d unexpected bytes after the array' % r.remaining())
    return arr


def load_arrays(fname):
    """Load an MXNet NDArray-list file (ours or MXNet's): a list or a dict of NumPy arrays."""
    fname = os.fspath(fname)
    try:
        with open(fname, 'rb') as f:
            buf = f.read()
    except OSError as e:
        raise MXNetError('cannot read %s: %s' % (fname, e)) from None
    return loads_arrays(buf, fname)
