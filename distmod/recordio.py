"""``mx.recordio``: MXNet's RecordIO files (``.rec``, with an optional ``.idx`` index).

The bytes on disk are MXNet's (dmlc-core's) own, so files written here read in MXNet and
files written by MXNet (``im2rec``, ``mx.recordio``) read here, byte for byte:

- every record is a sequence of parts; a part is the magic ``0xced7230a`` (little-endian
  uint32), a uint32 whose low 29 bits are the part's length and whose upper 3 bits say where
  the part stands (0: a whole record, 1: the first part, 2: a middle part, 3: the last part),
  then the payload, padded with zeros to a multiple of 4 bytes;
- a record is cut into parts wherever its payload holds the magic at an offset that is a
  multiple of 4; the magic itself is left out there and put back by the reader, so a reader
  that looks for the magic at 4-byte steps finds only the starts of parts;
- an ``.idx`` file has one line per record, ``key<TAB>byte offset``.

Images (``pack``/``pack_img``): a record of ``IRHeader(flag, label, id, id2)`` packed as
``struct`` ``'IfQQ'`` (24 bytes), then, when ``flag > 0``, ``flag`` float32 labels, then the
encoded image.  ``pack_img``/``unpack_img`` use Pillow (``pip install 'distmod[image]'``) in
place of OpenCV; images are NumPy arrays in OpenCV's channel order (BGR), as in MXNet.

Example::

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'tmp.rec')
    >>> w = mx.recordio.MXRecordIO(path, 'w')
    >>> for i in range(3):
    ...     w.write(b'record_%d' % i)
    >>> w.close()
    >>> r = mx.recordio.MXRecordIO(path, 'r')
    >>> r.read(), r.read(), r.read(), r.read()
    (b'record_0', b'record_1', b'record_2', None)
    >>> r.close()
"""
import numbers
import os
import struct
from collections import namedtuple
from multiprocessing import current_process

import numpy as np

from .base import MXNetError

__all__ = ['MXRecordIO', 'MXIndexedRecordIO', 'IRHeader', 'pack', 'unpack', 'pack_img',
           'unpack_img']

MAGIC = 0xced7230a
_MAGIC_BYTES = struct.pack('<I', MAGIC)
_LEN_MASK = (1 << 29) - 1
_MAX_RECORD = 1 << 29


def _pad4(n):
    return (n + 3) & ~3


def encode_record(buf):
    """The bytes MXNet's writer puts on disk for one record ``buf`` (its parts, padded)."""
    buf = bytes(buf)
    if len(buf) >= _MAX_RECORD:
        raise MXNetError('RecordIO only accepts records of less than 2^29 bytes, got %d'
                         % len(buf))
    out = []
    start = 0
    # the magic at a 4-byte aligned offset of the payload ends a part there
    pos = buf.find(_MAGIC_BYTES)
    while pos != -1 and pos + 4 <= (len(buf) & ~3):
        if pos % 4 == 0:
            flag = 1 if start == 0 else 2
            out.append(struct.pack('<II', MAGIC, (flag << 29) | (pos - start)))
            out.append(buf[start:pos])
            start = pos + 4
            pos = buf.find(_MAGIC_BYTES, start)
        else:
            pos = buf.find(_MAGIC_BYTES, pos + 1)
    flag = 3 if start else 0
    rest = len(buf) - start
    out.append(struct.pack('<II', MAGIC, (flag << 29) | rest))
    out.append(buf[start:])
    out.append(b'\0' * (_pad4(len(buf)) - len(buf)))
    return b''.join(out)


def read_record(f, where=''):
    """The next record of the open binary file ``f`` (None at its end)."""
    parts = []
    while True:
        head = f.read(8)
        if not head:
            if parts:
                raise MXNetError('Invalid RecordIO file%s: it ends inside a record' % where)
            return None
        if len(head) != 8:
            raise MXNetError('Invalid RecordIO file%s: %d stray bytes at its end'
                             % (where, len(head)))
        magic, lrec = struct.unpack('<II', head)
        if magic != MAGIC:
            raise MXNetError('Invalid RecordIO file%s: no record starts at byte %d (magic '
                             '0x%08x, expected 0x%08x)' % (where, f.tell() - 8, magic, MAGIC))
        flag, length = lrec >> 29, lrec & _LEN_MASK
        body = f.read(_pad4(length))
        if len(body) != _pad4(length):
            raise MXNetError('Invalid RecordIO file%s: a record of %d bytes is cut short'
                             % (where, length))
        parts.append(body[:length])
        if flag in (0, 3):
            return _MAGIC_BYTES.join(parts)


def scan_records(path):
    """``[(offset, length on disk)]`` of every record of a ``.rec`` file, read from the part
    headers only (payloads are skipped)."""
    out = []
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        pos = 0
        start = None
        while pos < size:
            f.seek(pos)
            head = f.read(8)
            if len(head) != 8:
                raise MXNetError('Invalid RecordIO file %s: %d stray bytes at its end'
                                 % (path, len(head)))
            magic, lrec = struct.unpack('<II', head)
            if magic != MAGIC:
                raise MXNetError('Invalid RecordIO file %s: no record starts at byte %d'
                                 % (path, pos))
            flag = lrec >> 29
            if flag in (0, 1):
                start = pos
            pos += 8 + _pad4(lrec & _LEN_MASK)
            if flag in (0, 3):
                out.append((start, pos - start))
    return out


class MXRecordIO:
    """Reads (``flag='r'``) or writes (``flag='w'``, truncating) a ``.rec`` file, record by
    record: ``write(bytes)``, ``read()`` (None at the end), ``reset()`` (back to the start;
    for a writer: empty the file), ``tell()`` (the byte offset of the next record),
    ``seek(offset)`` and ``close()``.  As in MXNet, a handle opened in one process refuses to
    read or write in another (a forked worker must ``reset()``, reopening the file);
    pickling closes the handle and the copy reopens the path."""

    def __init__(self, uri, flag):
        self.uri = os.fspath(uri)
        self.flag = flag
        self.pid = None
        self.is_open = False
        self._file = None
        self.open()

    def open(self):
        """Open the file (done when made; ``reset`` reopens it)."""
        if self.flag == 'w':
            mode, self.writable = 'wb', True
        elif self.flag == 'r':
            mode, self.writable = 'rb', False
        else:
            raise ValueError('Invalid flag %s' % self.flag)
        try:
            self._file = open(self.uri, mode)
        except OSError as e:
            raise MXNetError('cannot open RecordIO file %s: %s' % (self.uri, e)) from None
        self.pid = current_process().pid
        self.is_open = True

    def __del__(self):
        try:
            self.close()
        except Exception:       # interpreter shutdown
            pass

    def __getstate__(self):
        is_open = self.is_open
        self.close()
        d = dict(self.__dict__)
        d['is_open'] = is_open
        d['_file'] = None
        return d

    def __setstate__(self, d):
        was_open = d['is_open']
        self.__dict__ = d
        self.is_open = False
        if was_open:
            self.open()

    def _check_pid(self, allow_reset=False):
        if self.pid != current_process().pid:
            if allow_reset:
                self.reset()
            else:
                raise RuntimeError('Forbidden operation in multiple processes')

    def close(self):
        """Close the file (a writer's records are on disk then)."""
        if not self.is_open:
            return
        self._file.close()
        self._file = None
        self.is_open = False
        self.pid = None

    def reset(self):
        """Back to the first record; a writer starts the file anew (empty)."""
        self.close()
        self.open()

    def write(self, buf):
        """Append one record (bytes)."""
        assert self.writable
        self._check_pid(allow_reset=False)
        if isinstance(buf, str):
            buf = buf.encode('utf-8')
        self._file.write(encode_record(buf))

    def read(self):
        """The next record (bytes), or None after the last."""
        assert not self.writable
        self._check_pid(allow_reset=False)
        return read_record(self._file, ' ' + self.uri)

    def tell(self):
        """The byte offset where the next record starts (written or read)."""
        return self._file.tell()

    def seek(self, pos):
        """Read on from byte offset ``pos`` (a record's start, as in an ``.idx`` file)."""
        assert not self.writable
        self._check_pid(allow_reset=True)
        self._file.seek(pos)


class MXIndexedRecordIO(MXRecordIO):
    """A ``.rec`` file with its ``.idx`` index, for reading records by key:
    ``write_idx(key, bytes)``, ``read_idx(key)``, ``keys`` (in file order), ``idx``
    (key -> byte offset).  ``key_type`` converts the keys read from the index (int).

    Example::

        >>> import os, tempfile
        >>> d = tempfile.mkdtemp()
        >>> w = mx.recordio.MXIndexedRecordIO(os.path.join(d, 'a.idx'),
        ...                                   os.path.join(d, 'a.rec'), 'w')
        >>> for i in range(5):
        ...     w.write_idx(i, b'record_%d' % i)
        >>> w.close()
        >>> r = mx.recordio.MXIndexedRecordIO(os.path.join(d, 'a.idx'),
        ...                                   os.path.join(d, 'a.rec'), 'r')
        >>> r.keys, r.read_idx(3), r.idx[3]
        ([0, 1, 2, 3, 4], b'record_3', 48)
        >>> r.close()
    """

    def __init__(self, idx_path, uri, flag, key_type=int):
        self.idx_path = os.fspath(idx_path)
        self.idx = {}
        self.keys = []
        self.key_type = key_type
        self.fidx = None
        super().__init__(uri, flag)

    def open(self):
        super().open()
        self.idx = {}
        self.keys = []
        self.fidx = open(self.idx_path, self.flag)
        if not self.writable:
            for n, line in enumerate(self.fidx, 1):
                fields = line.strip().split('\t')
                if fields == ['']:
                    continue
                if len(fields) < 2:
                    raise MXNetError('%s line %d: expected "key<TAB>offset", got %r'
                                     % (self.idx_path, n, line))
                key = self.key_type(fields[0])
                self.idx[key] = int(fields[1])
                self.keys.append(key)

    def close(self):
        if not self.is_open:
            return
        super().close()
        self.fidx.close()
        self.fidx = None

    def __getstate__(self):
        d = super().__getstate__()
        d['fidx'] = None
        return d

    def seek(self, idx):
        """Read on from the record of key ``idx``."""
        assert not self.writable
        self._check_pid(allow_reset=True)
        self._file.seek(self.idx[idx])

    def read_idx(self, idx):
        """The record of key ``idx``."""
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf):
        """Append record ``buf`` under key ``idx`` (and its line in the index)."""
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self.fidx.write('%s\t%d\n' % (str(key), pos))
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple('HEADER', ['flag', 'label', 'id', 'id2'])
IRHeader.__doc__ = """The header of an image record: ``flag`` (the number of float32 labels that
follow the header, 0 when ``label`` holds the one label), ``label`` (a float, or an array of
floats for ``pack``), ``id`` and ``id2`` (the record's id, high bits; usually 0)."""

_IR_FORMAT = 'IfQQ'
_IR_SIZE = struct.calcsize(_IR_FORMAT)


def pack(header, s):
    """One record: ``header`` (an IRHeader; its label a number or an array of floats) and
    the bytes ``s``.

    Example::

        >>> rec = mx.recordio.pack(mx.recordio.IRHeader(0, [1, 2], 7, 0), b'abc')
        >>> h, s = mx.recordio.unpack(rec)
        >>> h.flag, h.label.tolist(), h.id, s
        (2, [1.0, 2.0], 7, b'abc')
    """
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32)
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + bytes(s)
    return struct.pack(_IR_FORMAT, *header) + bytes(s)


def unpack(s):
    """``(IRHeader, bytes)`` of a record made by :func:`pack` (the label an array of
    float32 when the header's flag is above 0)."""
    if len(s) < _IR_SIZE:
        raise MXNetError('an image record needs a %d-byte header, got %d bytes'
                         % (_IR_SIZE, len(s)))
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag))
        s = s[header.flag * 4:]
    return header, s


def unpack_img(s, iscolor=-1):
    """``(IRHeader, image)`` of a record made by :func:`pack_img`: a uint8 NumPy array in
    OpenCV's layout, as ``cv2.imdecode(buf, iscolor)`` gives it: ``iscolor=1`` BGR (H, W, 3),
    ``0`` gray (H, W), ``-1`` as stored (gray (H, W), BGR, or BGRA)."""
    from . import image
    header, s = unpack(s)
    return header, image.decode_bgr(s, iscolor)


def pack_img(header, img, quality=95, img_fmt='.jpg'):
    """A record of ``header`` and ``img`` (uint8 NumPy, (H, W) gray or (H, W, 3) BGR as
    OpenCV holds images) encoded as ``img_fmt`` ('.jpg' with JPEG ``quality``, or '.png'
    with ``quality`` as the zlib level, 0-9).  The encoder is Pillow's, not OpenCV's: the
    bytes differ from MXNet's, the decoded pixels of a PNG do not."""
    from . import image
    return pack(header, image.encode_bgr(img, quality, img_fmt))
