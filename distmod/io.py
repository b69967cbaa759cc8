"""``mx.io``: data iterators and the batches they yield (DataDesc, DataBatch, NDArrayIter,
MNISTIter, CSVIter, ResizeIter, PrefetchingIter, ImageRecordIter, ImageRecordUInt8Iter,
LibSVMIter).

Every iterator yields the batches MXNet 1.9.1's does, sample for sample: the same shapes,
pads and batch counts at any data size (below one batch, exact multiples, one past), over
any number of epochs; tests/fixtures/io_batches/ holds MXNet's own record of them.

Sharding (for data-parallel ranks): ``shard(num_parts, part_index, even=True)`` keeps one part
of an iterator made whole; that is how ``Module.fit`` splits the iterators it is given across
the ranks of a ``dist_sync`` job.  ``even`` parts (training) have ``n // num_parts`` samples
each, the remainder dropped, so every rank runs the same number of batches; uneven parts
(validation) keep every sample, the first ``n % num_parts`` parts one more.  Within its part
an iterator batches as MXNet's does over those samples.  NDArrayIter and CSVIter also take
``num_parts``/``part_index`` when made (a distmod extension: even parts); MNISTIter's are
MXNet's own.  ResizeIter and PrefetchingIter shard what they wrap.  ImageRecordIter and
LibSVMIter cut MXNet's own parts of their files (by bytes, or by count with an ``.idx``),
made when asked by ``num_parts``/``part_index``, and by ``shard`` (``even``: every part
shortened to the shortest).
"""
import gzip
import logging
import os
import struct
import sys
import threading
import time
from collections import OrderedDict, namedtuple

import numpy as np

from .base import MXNetError
from .context import cpu
from .ndarray.ndarray import NDArray, _wrap
from . import random as _random

__all__ = ['DataDesc', 'DataBatch', 'DataIter', 'MXDataIter', 'NDArrayIter', 'MNISTIter', 'CSVIter',
           'ResizeIter', 'PrefetchingIter', 'ImageRecordIter', 'ImageRecordUInt8Iter',
           'ImageRecordInt8Iter', 'LibSVMIter', 'shard_range', 'read_idx']


class DataDesc(namedtuple('DataDesc', ['name', 'shape'])):
    """Name, shape, dtype and layout of one input: ``DataDesc('data', (32, 784))``."""

    def __new__(cls, name, shape, dtype=np.float32, layout='NCHW'):
        ret = super().__new__(cls, name, tuple(shape))
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self):
        return 'DataDesc[%s,%s,%s,%s]' % (self.name, self.shape, np.dtype(self.dtype).name,
                                          self.layout)

    @staticmethod
    def get_batch_axis(layout):
        """The index of 'N' in ``layout`` (0 when there is no layout)."""
        if layout is None:
            return 0
        return layout.find('N')

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from ``(name, shape)`` pairs and optional ``(name, dtype)`` pairs."""
        if types is not None:
            type_dict = dict(types)
            return [DataDesc(x[0], x[1], type_dict[x[0]]) for x in shapes]
        return [DataDesc(x[0], x[1]) for x in shapes]


class DataBatch:
    """One batch: ``data`` and ``label`` (lists of NDArrays), ``pad`` samples at the end that
    only fill the batch, ``index``, ``bucket_key`` and the descriptions of what it holds."""

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise MXNetError('DataBatch: data must be a list of NDArrays')
        if label is not None and not isinstance(label, (list, tuple)):
            raise MXNetError('DataBatch: label must be a list of NDArrays')
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self):
        data = [d.shape for d in self.data] if self.data else None
        label = [l.shape for l in self.label] if self.label else None
        return '%s: data shapes: %s label shapes: %s' % (type(self).__name__, data, label)


class DataIter:
    """Base of every iterator: ``for batch in it`` then ``it.reset()`` for the next epoch."""

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        pass

    def next(self):
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        return False

    def getdata(self):
        return None

    def getlabel(self):
        return None

    def getindex(self):
        return None

    def getpad(self):
        return 0

    def _resume_state(self):
        """JSON data that, with the random streams (``mx.random.get_streams``), makes the
        next ``reset`` start the epoch an uninterrupted run would: ``fit`` keeps it in the
        checkpoint.  None (the default) where the streams are enough: the shuffling
        iterators draw each epoch's order afresh from them."""
        return None

    def _set_resume_state(self, state):
        """Take back what :meth:`_resume_state` gave (before the ``reset``)."""


def shard_range(n, num_parts, part_index):
    """The slice of ``range(n)`` part ``part_index`` of ``num_parts`` owns (equal lengths)."""
    if num_parts < 1 or not 0 <= part_index < num_parts:
        raise MXNetError('part_index %d is not in [0, num_parts=%d)' % (part_index, num_parts))
    per = n // num_parts
    if per == 0:
        raise MXNetError('cannot split %d samples into %d parts' % (n, num_parts))
    return slice(part_index * per, (part_index + 1) * per)


def uneven_range(n, num_parts, part_index):
    """Like :func:`shard_range`, but every sample is kept: the first ``n % num_parts`` parts
    get one more (for evaluation, where ranks need not run the same number of batches)."""
    if num_parts < 1 or not 0 <= part_index < num_parts:
        raise MXNetError('part_index %d is not in [0, num_parts=%d)' % (part_index, num_parts))
    per, extra = divmod(n, num_parts)
    start = part_index * per + min(part_index, extra)
    return slice(start, start + per + (1 if part_index < extra else 0))


def _init_data(data, allow_empty, default_name):
    """A list of (name, numpy array) from an array, a list of arrays or a dict."""
    if data is None:
        if not allow_empty:
            raise MXNetError('NDArrayIter needs data')
        return []
    if isinstance(data, (np.ndarray, NDArray)) or not isinstance(data, (list, tuple, dict)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            data = OrderedDict([(default_name, data[0])])
        else:
            data = OrderedDict([('_%d_%s' % (i, default_name), d) for i, d in enumerate(data)])
    elif isinstance(data, dict):
        data = OrderedDict(sorted(data.items()))
    out = []
    for name, value in data.items():
        if isinstance(value, NDArray):
            value = value.asnumpy()
        else:              # as MXNet, anything but an NDArray becomes float32
            try:
                value = np.asarray(value, dtype=np.float32)
            except Exception as e:
                raise MXNetError('NDArrayIter: input %r is not array-like: %s' % (name, e))
        out.append((name, value))
    return out


class MXDataIter(DataIter):
    """The base of MXNet's C++-backed iterators (ImageRecordIter, MNISTIter, CSVIter...);
    here a plain :class:`DataIter`, there for scripts that name or test for it."""


class NDArrayIter(DataIter):
    """Batches over in-memory arrays (NumPy or NDArray; a list or a dict of them).

    ``last_batch_handle`` (what MXNet 1.9 does, sample for sample):

    - 'pad': the last batch is filled up to ``batch_size`` from the start of the data,
      wrapping around as often as needed (10 samples in batches of 32: one batch of 32, the
      data three times and two more, ``pad`` 22); ``pad`` says how many rows only fill.
    - 'discard': only full batches (fewer samples than ``batch_size``: no batch at all).
    - 'roll_over': the samples left over at the end of an epoch start the first batch after
      the next ``reset()``; that batch reports them as its ``pad`` (as MXNet does; so do not
      predict with 'roll_over').  ``reset()`` again before reading drops them; so does
      ``hard_reset()``.  The carried samples and one pass of the data must fill a batch.

    Example::

        >>> it = mx.io.NDArrayIter(np.zeros((10, 3)), np.arange(10), batch_size=4)
        >>> [b.pad for b in it]
        [0, 0, 2]
        >>> it = mx.io.NDArrayIter(np.arange(10), batch_size=32)
        >>> [(b.data[0].shape, b.pad) for b in it]
        [((32,), 22)]

    ``num_parts``/``part_index`` (a distmod extension) keep only that part of the samples:
    ``n // num_parts`` each, the remainder dropped, so every part runs the same number of
    batches; :meth:`shard` does the same later (``Module.fit`` uses it).
    """

    _warn_no_batch = True

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle='pad',
                 data_name='data', label_name='softmax_label', num_parts=1, part_index=0):
        super().__init__(batch_size)
        if last_batch_handle not in ('pad', 'discard', 'roll_over'):
            raise MXNetError("last_batch_handle must be 'pad', 'discard' or 'roll_over', got %r"
                             % (last_batch_handle,))
        self.data = _init_data(data, False, data_name)
        self.label = _init_data(label, True, label_name)
        n = self.data[0][1].shape[0]
        for name, arr in self.data + self.label:
            if arr.shape[0] != n:
                raise MXNetError('NDArrayIter: %r has %d samples but %r has %d'
                                 % (self.data[0][0], n, name, arr.shape[0]))
        self._whole = (self.data, self.label, n)
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.num_source = len(self.data)
        self.num_parts, self.part_index = 1, 0
        self._cache = None          # roll_over: the samples carried into the next epoch
        self._use(slice(0, n))
        if num_parts > 1:
            self._use(self._check_part(shard_range(n, num_parts, part_index), num_parts,
                                       part_index, type(self).__name__))
            self.num_parts, self.part_index = num_parts, part_index
        elif self.num_data < batch_size and last_batch_handle == 'discard' and \
                self._warn_no_batch:
            logging.getLogger(__name__).warning(
                "%s: %d samples, fewer than batch_size %d, with last_batch_handle='discard': "
                "no batch at all", type(self).__name__, self.num_data, batch_size)
        self.cursor = -batch_size
        self.reset()

    def _use(self, part):
        """Read only the samples in ``part`` (a slice of the whole data) from now on."""
        data, label, _ = self._whole
        self.data = [(k, v[part]) for k, v in data]
        self.label = [(k, v[part]) for k, v in label]
        self.num_data = part.stop - part.start
        self.idx = np.arange(self.num_data)

    def _check_part(self, part, num_parts, part_index, what):
        size = part.stop - part.start
        if size < self.batch_size and self.last_batch_handle in ('discard', 'roll_over'):
            raise MXNetError("%s: part %d of %d has %d samples, fewer than batch_size %d with "
                             "last_batch_handle=%r: no batch (use 'pad', a smaller batch or "
                             "more data)" % (what, part_index, num_parts, size, self.batch_size,
                                             self.last_batch_handle))
        return part

    def shard(self, num_parts, part_index, even=True):
        """Keep only part ``part_index`` of ``num_parts`` from now on (``fit`` does this for
        each rank of a data-parallel job when given the whole data).

        ``even``: every part gets ``n // num_parts`` samples, so every rank runs the same
        number of batches (the remainder is dropped); otherwise no sample is dropped (the
        first ``n % num_parts`` parts get one more).  Parts are always cut from the whole
        data: ``shard(1, 0)`` gives it all back.  The iterator starts over (``hard_reset``).
        """
        n = self._whole[2]
        part = (shard_range if even else uneven_range)(n, num_parts, part_index)
        if even:
            self._check_part(part, num_parts, part_index, type(self).__name__ + '.shard')
        self._use(part)
        self.num_parts, self.part_index = num_parts, part_index
        self.hard_reset()
        return self

    @property
    def provide_data(self):
        return [DataDesc(k, (self.batch_size,) + v.shape[1:], v.dtype) for k, v in self.data]

    @property
    def provide_label(self):
        return [DataDesc(k, (self.batch_size,) + v.shape[1:], v.dtype) for k, v in self.label]

    def _shuffle(self):
        # a fresh permutation (not a shuffle of the last epoch's order): an epoch's order then
        # depends only on the random stream, which a checkpoint carries (exact resume)
        self.idx = _random.generator().permutation(self.num_data)

    def hard_reset(self):
        """Back to the start, forgetting any rolled-over samples."""
        if self.shuffle:
            self._shuffle()
        self.cursor = -self.batch_size
        self._cache = None

    def reset(self):
        if self.shuffle:
            self._shuffle()     # the carried samples are already taken: they stay
        n, b = self.num_data, self.batch_size
        if self.last_batch_handle == 'roll_over' and n - b < self.cursor < n:
            # the samples from the cursor on (cached by next()) start the next batch
            self.cursor = self.cursor - n - b
        else:
            self.cursor = -b

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        idx = self._batch_index()
        if len(idx) != self.batch_size:     # an incomplete last batch: kept for roll_over
            self._cache = idx
            raise StopIteration
        if self.cursor < 0:
            self._cache = None
        data = [self._take(v, idx) for _, v in self.data]
        label = [self._take(v, idx) for _, v in self.label]
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _batch_index(self):
        """The samples (positions in the data) of the batch at the cursor."""
        n, b, start = self.num_data, self.batch_size, self.cursor
        if self.last_batch_handle == 'roll_over' and -b < start < 0:
            head = self._cache if self._cache is not None else self.idx[:0]
            if start + b > n:
                raise MXNetError(
                    "NDArrayIter: last_batch_handle='roll_over' cannot make a batch of %d from "
                    "the %d samples rolled over from the last epoch and the %d samples of the "
                    "data (batch_size must be at most %d here; use 'pad' for fewer samples "
                    "than a batch)" % (b, len(head), n, len(head) + n))
            return np.concatenate([head, self.idx[:start + b]])
        if self.last_batch_handle == 'pad' and start + b > n:
            # wrap around, repeating the data as often as needed (MXNet tiles it)
            return np.concatenate([self.idx[start:], self.idx[np.arange(start + b - n) % n]])
        return self.idx[start:min(start + b, n)]

    @staticmethod
    def _take(arr, idx):
        return _wrap(arr[idx], cpu())

    def getdata(self):
        return [self._take(v, self._batch_index()) for _, v in self.data]

    def getlabel(self):
        return [self._take(v, self._batch_index()) for _, v in self.label]

    def getpad(self):
        if self.last_batch_handle == 'pad' and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == 'roll_over' and -self.batch_size < self.cursor < 0:
            return -self.cursor           # MXNet reports the carried samples as padding
        return 0


def read_idx(fname, expect_magic):
    """The array in an IDX file (MNIST's format; gzip-compressed or plain)."""
    opener = gzip.open if str(fname).endswith('.gz') else open
    try:
        with opener(fname, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise MXNetError('cannot read %s: %s' % (fname, e)) from None
    if len(raw) < 8:
        raise MXNetError('%s is too short to be an IDX file' % fname)
    magic = struct.unpack('>i', raw[:4])[0]
    if magic != expect_magic:
        raise MXNetError('%s: IDX magic number is %d, expected %d (%s)'
                         % (fname, magic, expect_magic,
                            'images' if expect_magic == 2051 else 'labels'))
    ndim = magic & 0xFF
    dims = struct.unpack('>%di' % ndim, raw[4:4 + 4 * ndim])
    count = int(np.prod(dims))
    body = raw[4 + 4 * ndim:]
    if len(body) != count:
        raise MXNetError('%s: header promises %s (%d bytes) but %d bytes follow'
                         % (fname, dims, count, len(body)))
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


class MNISTIter(NDArrayIter, MXDataIter):
    """Batches of MNIST from its IDX files, as MXNet's: pixels / 256 (MXNet's scale) as
    (N, 1, rows, cols), or (N, rows*cols) with ``flat``; float32 labels; only full batches
    (the samples after the last full batch are left out, ``pad`` is always 0; fewer
    images than ``batch_size`` is an error).

    ``num_parts``/``part_index`` read part ``part_index`` as MXNet does: images
    ``[int(n / num_parts * part_index), int(n / num_parts * (part_index + 1)))``.
    ``shuffle`` shuffles once with ``seed`` (not MXNet's permutation); ``round_batch`` and
    other MXNet iterator arguments are accepted and ignored, as MXNet's MNISTIter does.
    """

    _warn_no_batch = False          # it raises instead

    def __init__(self, image='./train-images-idx3-ubyte', label='./train-labels-idx1-ubyte',
                 batch_size=128, shuffle=False, flat=False, seed=0, silent=False,
                 num_parts=1, part_index=0, data_name='data', label_name='softmax_label',
                 input_shape=None, **kwargs):
        raw = read_idx(image, 2051)
        labels = read_idx(label, 2049)
        if raw.shape[0] != labels.shape[0]:
            raise MXNetError('%s has %d images but %s has %d labels'
                             % (image, raw.shape[0], label, labels.shape[0]))
        if shuffle:                 # on the bytes: a quarter of the memory traffic
            order = np.random.default_rng(seed).permutation(raw.shape[0])
            raw, labels = raw[order], labels[order]
        # one pass from bytes to float32 pixels / 256 (a power of two: exact either way)
        images = np.multiply(raw, np.float32(1.0 / 256), dtype=np.float32)
        labels = labels.astype(np.float32)
        images = images.reshape(images.shape[0], -1) if flat else \
            images.reshape(images.shape[0], 1, images.shape[1], images.shape[2])
        super().__init__(images, labels, batch_size=batch_size, shuffle=False,
                         last_batch_handle='discard', data_name=data_name,
                         label_name=label_name)
        self._image_file = image
        if num_parts != 1 or part_index != 0:
            n = images.shape[0]
            if num_parts < 1 or not 0 <= part_index < num_parts:
                raise MXNetError('MNISTIter: part_index %d is not in [0, num_parts=%d)'
                                 % (part_index, num_parts))
            # MXNet's GetPart, in double precision as there
            self._use(slice(int(n / num_parts * part_index),
                            int(n / num_parts * (part_index + 1))))
            self.num_parts, self.part_index = num_parts, part_index
            self.hard_reset()
        if self.num_data < batch_size:
            raise MXNetError('MNISTIter: batch_size %d is larger than the %d images of %s%s: '
                             'MNISTIter yields only full batches'
                             % (batch_size, self.num_data, image,
                                ' (part %d of %d)' % (part_index, num_parts)
                                if num_parts > 1 else ''))
        if not silent:
            # MXNet's C++ iterator writes this line to stderr itself: going through
            # logging.info would configure the root logger before the script's own
            # logging.basicConfig(level=...), which then does nothing (no fit logs)
            sys.stderr.write('[%s] MNISTIter: load %d images, shuffle=%d, shape=%s\n' % (
                time.strftime('%H:%M:%S'), self.num_data, int(shuffle),
                (batch_size,) + images.shape[1:]))

    def _check_part(self, part, num_parts, part_index, what):
        size = part.stop - part.start
        if size < self.batch_size:
            raise MXNetError('%s: part %d of %d has %d images of %s, fewer than batch_size %d: '
                             'MNISTIter yields only full batches'
                             % (what, part_index, num_parts, size, self._image_file,
                                self.batch_size))
        return part


class CSVIter(MXDataIter):
    """Batches from CSV files, as MXNet's CSVIter: ``data_csv`` rows reshaped to
    ``data_shape``, labels from ``label_csv`` (zeros without one).

    The last batch of an epoch: with ``round_batch`` (the default) it is filled from the
    first rows, ``pad`` says how many, and the next epoch starts after the rows it borrowed
    (an epoch that would start at the end is empty, the one after starts over); a batch that
    one pass of the rows cannot fill is an error (MXNet: "number of input must be bigger
    than batch size").  Without ``round_batch`` the pad rows hold what the previous batch left
    there (zeros where none did) and every epoch starts at the first row.  As MXNet's, the
    iterator reads its first batch when made (an error shows there).

    ``reset()`` before the end of an epoch starts over at the first row unless the last
    batch read borrowed rows (then, as at the end of an epoch, after them).  MXNet documents
    that its CSVIter be reset only after a complete pass: before that, what it yields depends
    on how far its reader thread has read ahead (two runs can differ).

    ``num_parts``/``part_index`` (a distmod extension: MXNet 1.9.1's CSVIter ignores them)
    keep only that part of the rows, ``n // num_parts`` each, as :meth:`shard` does.
    """

    def __init__(self, data_csv, data_shape, label_csv=None, label_shape=(1,), batch_size=1,
                 round_batch=True, dtype='float32', data_name='data',
                 label_name='softmax_label', num_parts=1, part_index=0, **kwargs):
        super().__init__(batch_size)
        data = self._read(data_csv, data_shape, dtype)
        if label_csv is not None:
            label = self._read(label_csv, label_shape, dtype)
            if label.shape[0] != data.shape[0]:
                raise MXNetError('%s has %d rows but %s has %d'
                                 % (data_csv, data.shape[0], label_csv, label.shape[0]))
        else:
            label = numpy_zeros((data.shape[0],) + tuple(label_shape), dtype)
        if tuple(label_shape) == (1,):
            label = label.reshape(label.shape[0])
        self.data_csv = data_csv
        self._whole = (data, label)
        self.round_batch = bool(round_batch)
        self.data_name, self.label_name = data_name, label_name
        self.num_parts, self.part_index = 1, 0
        self._data, self._label = data, label
        if num_parts > 1:
            self.shard(num_parts, part_index)
        else:
            self._start()

    @staticmethod
    def _read(fname, shape, dtype):
        try:
            rows = np.loadtxt(fname, delimiter=',', dtype=np.dtype(dtype), ndmin=2)
        except (OSError, ValueError) as e:
            raise MXNetError('cannot read CSV %s: %s' % (fname, e)) from None
        width = int(np.prod(shape))
        if rows.shape[1] != width:
            raise MXNetError('%s has %d columns but shape %s needs %d'
                             % (fname, rows.shape[1], tuple(shape), width))
        return rows.reshape((rows.shape[0],) + tuple(shape))

    def shard(self, num_parts, part_index, even=True):
        """Keep only part ``part_index`` of ``num_parts`` of the rows (see NDArrayIter.shard);
        the iterator starts over as if made on those rows."""
        data, label = self._whole
        part = (shard_range if even else uneven_range)(data.shape[0], num_parts, part_index)
        self._data, self._label = data[part], label[part]
        self.num_parts, self.part_index = num_parts, part_index
        self._start()
        return self

    def _start(self):
        """A fresh loader over the current rows; reads the first batch, as MXNet's does."""
        self._pos = 0                # the next row the reader gives
        self._overflow = 0           # rows borrowed from the start by the last batch
        self._slots = np.full(self.batch_size, -1, dtype=np.int64)   # row in each position
        self._error = None
        self._current = None
        self._first = self._load()
        if self._first is None:
            raise MXNetError('%s: %s has no rows%s' % (
                type(self).__name__, self.data_csv,
                ' in part %d of %d' % (self.part_index, self.num_parts)
                if self.num_parts > 1 else ''))

    def _advance(self):
        """One batch of the loader (MXNet's BatchLoader over the row reader): fills the
        positions of ``_slots`` it reads and returns the batch's pad, or None at the end."""
        if self._error is not None:
            raise self._error
        if self._overflow:           # the epoch ended with a borrowed batch
            return None
        n, b = self._data.shape[0], self.batch_size
        top = min(b, n - self._pos)
        if top <= 0:
            return None
        self._slots[:top] = np.arange(self._pos, self._pos + top)
        self._pos += top
        if top == b:
            return 0
        if not self.round_batch:
            return b - top           # positions top.. keep what they held
        if b - top > n:
            self._error = MXNetError(
                '%s: round_batch cannot fill a batch of %d: the %d rows of %s%s are too '
                'few (number of input must be bigger than batch size); use a batch_size of at '
                'most %d, or round_batch=False'
                % (type(self).__name__, b, n, self.data_csv,
                   ' (part %d of %d)' % (self.part_index, self.num_parts)
                   if self.num_parts > 1 else '', n))
            raise self._error
        self._slots[top:] = np.arange(b - top)      # borrowed from the start
        self._pos = self._overflow = b - top
        return self._overflow

    def _load(self):
        """The next batch, or None at the end of the epoch."""
        pad = self._advance()
        return None if pad is None else self._batch(pad)

    def _batch(self, pad):
        def rows(arr):
            out = arr[np.maximum(self._slots, 0)]
            out[self._slots < 0] = 0             # never written: zeros (MXNet: garbage)
            return _wrap(out, cpu())
        return DataBatch(data=[rows(self._data)], label=[rows(self._label)], pad=pad,
                         index=None)

    @property
    def provide_data(self):
        return [DataDesc(self.data_name, (self.batch_size,) + self._data.shape[1:],
                         self._data.dtype)]

    @property
    def provide_label(self):
        return [DataDesc(self.label_name, (self.batch_size,) + self._label.shape[1:],
                         self._label.dtype)]

    def _resume_state(self):
        # each epoch's order is drawn from (seed, epoch number): the number is the state
        state = self._planned[0][0] if self._planned else self._state
        return {'epochs': int(state['epochs'])}

    def _set_resume_state(self, state):
        self._stop_ahead()
        self._first = None
        self._state['epochs'] = int(state['epochs'])
        self._state['overflow'] = False

    def reset(self):
        if self._error is not None:
            raise self._error
        self._first = None
        if not self.round_batch or self._overflow == 0:
            self._pos = 0
        else:                         # the borrowed rows were this epoch's start
            self._overflow = 0

    def iter_next(self):
        if self._first is not None:
            self._current, self._first = self._first, None
        else:
            self._current = self._load()
        return self._current is not None

    def next(self):
        if self.iter_next():
            return self._current
        raise StopIteration

    def getdata(self):
        return self._current.data

    def getlabel(self):
        return self._current.label

    def getpad(self):
        return self._current.pad


def numpy_zeros(shape, dtype):
    return np.zeros(shape, dtype=np.dtype(dtype))


class ResizeIter(DataIter):
    """Exactly ``size`` batches per epoch from ``data_iter``, restarting it (``reset``) when
    it runs out; ``reset_internal`` restarts it at every ``reset`` too.  The batches are the
    inner iterator's own, pads included.  When ``data_iter`` can be sharded, so can this:
    every part then runs ``size`` batches per epoch."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__(data_iter.batch_size)
        self.data_iter = data_iter
        self.size = size
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        if hasattr(data_iter, 'default_bucket_key'):
            self.default_bucket_key = data_iter.default_bucket_key

    @property
    def num_parts(self):
        return getattr(self.data_iter, 'num_parts', 1)

    @property
    def shard(self):
        """``shard(num_parts, part_index, even=True)``: shard the inner iterator (see
        NDArrayIter.shard) and start the epoch over; None when it cannot be sharded (fit
        then says so)."""
        if getattr(self.data_iter, 'shard', None) is None:
            return None

        def shard(num_parts, part_index, even=True):
            self.data_iter.shard(num_parts, part_index, even=even)
            self.provide_data = self.data_iter.provide_data
            self.provide_label = self.data_iter.provide_label
            self.cur = 0
            return self
        return shard

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def _resume_state(self):
        return self.data_iter._resume_state() if hasattr(self.data_iter, '_resume_state') \
            else None

    def _set_resume_state(self, state):
        if hasattr(self.data_iter, '_set_resume_state'):
            self.data_iter._set_resume_state(state)

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True

    def next(self):
        if not self.iter_next():
            raise StopIteration
        return self.current_batch

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class PrefetchingIter(DataIter):
    """Reads the next batch of ``iters`` in a background thread while the current one trains;
    the batches are those the iterators yield, in order, pads included.

    Several iterators are joined batch by batch (their data and labels concatenated);
    ``rename_data``/``rename_label`` map names per iterator.  An exception in a reader
    thread is raised in the caller's ``next``.
    """

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, (list, tuple)):
            iters = [iters]
        self.iters = list(iters)
        self.n_iter = len(self.iters)
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0][1][0]
        self._slots = [None] * self.n_iter
        self._errors = [None] * self.n_iter
        self._taken = [threading.Event() for _ in range(self.n_iter)]
        self._ready = [threading.Event() for _ in range(self.n_iter)]
        for e in self._taken:
            e.set()
        self._alive = True
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(self.n_iter)]
        for t in self._threads:
            t.start()
        self.current_batch = None

    def _run(self, i):
        while True:
            self._taken[i].wait()
            if not self._alive:
                break
            self._taken[i].clear()
            try:
                self._slots[i] = self.iters[i].next()
                self._errors[i] = None
            except StopIteration:
                self._slots[i] = None
                self._errors[i] = None
            except Exception as e:       # handed to the caller's next()
                self._slots[i] = None
                self._errors[i] = e
            self._ready[i].set()

    def __del__(self):
        self.close()

    def close(self):
        """Stop the reader threads (also done when the iterator is garbage collected)."""
        if getattr(self, '_alive', False):
            self._alive = False
            for e in self._taken:
                e.set()
            for t in self._threads:
                t.join(timeout=5)

    def _rename(self, descs, renames):
        if renames is None:
            return [d for lst in descs for d in lst]
        out = []
        for lst, r in zip(descs, renames):
            for d in lst:
                out.append(DataDesc(r.get(d.name, d.name), d.shape, getattr(d, 'dtype',
                                                                               np.float32)))
        return out

    @property
    def provide_data(self):
        return self._rename([it.provide_data for it in self.iters], self.rename_data)

    @property
    def provide_label(self):
        return self._rename([it.provide_label for it in self.iters], self.rename_label)

    @property
    def num_parts(self):
        return getattr(self.iters[0], 'num_parts', 1)

    def _restart(self, action):
        """Wait for the reads in flight, ``action(it)`` on every iterator, read again."""
        for e in self._ready:
            e.wait()
        self._errors = [None] * self.n_iter      # from a read now discarded
        for it in self.iters:
            action(it)
        for e in self._ready:
            e.clear()
        for e in self._taken:
            e.set()

    def reset(self):
        self._restart(lambda it: it.reset())

    @property
    def shard(self):
        """``shard(num_parts, part_index, even=True)``: shard every joined iterator (see
        NDArrayIter.shard) and read anew; None when one of them cannot be sharded."""
        if not all(getattr(it, 'shard', None) is not None for it in self.iters):
            return None

        def shard(num_parts, part_index, even=True):
            self._restart(lambda it: it.shard(num_parts, part_index, even=even))
            return self
        return shard

    def iter_next(self):
        for e in self._ready:
            e.wait()
        for err in self._errors:
            if err is not None:
                self._errors = [None] * self.n_iter
                for e in self._ready:
                    e.clear()
                for e in self._taken:
                    e.set()
                raise err
        if self._slots[0] is None:
            if any(s is not None for s in self._slots):
                raise MXNetError('PrefetchingIter: the joined iterators have different lengths')
            return False
        batches = list(self._slots)
        if any(s is None or s.pad != batches[0].pad for s in batches):
            raise MXNetError('PrefetchingIter: the joined iterators have different lengths or '
                             'pads (%s)' % [None if s is None else s.pad for s in batches])
        self.current_batch = DataBatch(
            data=sum([b.data for b in batches], []),
            label=sum([b.label or [] for b in batches], []),
            pad=batches[0].pad, index=batches[0].index,
            provide_data=self.provide_data, provide_label=self.provide_label)
        for e in self._ready:
            e.clear()
        for e in self._taken:
            e.set()
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


# ---- RecordIO images -----------------------------------------------------------------------
def mxnet_record_parts(offsets, total_bytes, num_parts, indexed):
    """The records (positions in ``offsets``, the start of each record in file order) of
    each of ``num_parts`` parts, as MXNet's ``num_parts``/``part_index`` cut a ``.rec`` file:
    with an index (``indexed``), ``ceil(n / num_parts)`` records a part, the last part the
    rest; without one, by bytes: part ``r`` holds the records that start in
    ``[r * step, (r + 1) * step)``, ``step`` = ``ceil(total_bytes / num_parts)`` rounded up to
    a multiple of 4 (dmlc-core's split)."""
    n = len(offsets)
    if num_parts < 1:
        raise MXNetError('num_parts must be at least 1, got %d' % num_parts)
    if indexed:
        step = -(-n // num_parts)
        return [np.arange(min(r * step, n), min((r + 1) * step, n)) for r in range(num_parts)]
    step = -(-total_bytes // num_parts)
    step = (step + 3) // 4 * 4
    starts = np.asarray(offsets, dtype=np.int64)
    return [np.nonzero((starts >= min(r * step, total_bytes)) &
                       (starts < min((r + 1) * step, total_bytes)))[0]
            for r in range(num_parts)]


def _even_part(parts, part_index, what):
    """Part ``part_index`` of ``parts`` cut to the length of the shortest, so that every part
    yields as many batches (training ranks run in step)."""
    size = min(len(p) for p in parts)
    if size == 0:
        raise MXNetError('%s: cannot split the data into %d parts: part %d would be empty'
                         % (what, len(parts), int(np.argmin([len(p) for p in parts]))))
    return parts[part_index][:size]


def _read_record_at(fd, offset):
    """The record that starts at ``offset`` of an open ``.rec`` file descriptor (pread: safe
    from several threads at once)."""
    from .recordio import MAGIC, _MAGIC_BYTES
    parts = []
    while True:
        head = os.pread(fd, 8, offset)
        if len(head) != 8:
            raise MXNetError('Invalid RecordIO file: no record at byte %d' % offset)
        magic, lrec = struct.unpack('<II', head)
        if magic != MAGIC:
            raise MXNetError('Invalid RecordIO file: no record starts at byte %d' % offset)
        length = lrec & ((1 << 29) - 1)
        parts.append(os.pread(fd, length, offset + 8))
        offset += 8 + ((length + 3) & ~3)
        if lrec >> 29 in (0, 3):
            return _MAGIC_BYTES.join(parts)


# MXNet's augmentations distmod does not do, with the values that leave them off
_UNSUPPORTED_AUG = {'max_rotate_angle': 0, 'max_aspect_ratio': 0, 'min_aspect_ratio': None,
                    'max_shear_ratio': 0, 'max_crop_size': -1, 'min_crop_size': -1,
                    'max_random_scale': 1, 'min_random_scale': 1, 'max_random_area': 1,
                    'min_random_area': 1, 'max_img_size': 1e10, 'min_img_size': 0,
                    'random_resized_crop': False, 'brightness': 0, 'contrast': 0,
                    'saturation': 0, 'pca_noise': 0, 'random_h': 0, 'random_s': 0,
                    'random_l': 0, 'rotate': -1, 'rotate_list': None,
                    'aug_seq': 'aug_default'}
# MXNet's arguments that change nothing here
_IGNORED = ('verbose', 'ctx', 'device_id', 'shuffle_chunk_size', 'shuffle_chunk_seed')


class ImageRecordIter(MXDataIter):
    """Batches of images from a RecordIO ``.rec`` file (MXNet's ``im2rec`` output), as
    MXNet's ImageRecordIter: (batch, c, h, w) ``data_shape`` float32 (``dtype='uint8'``:
    the raw pixels), RGB, and labels (batch,) or (batch, ``label_width``).

    Each image is decoded (Pillow, ``pip install 'distmod[image]'``; grey when ``c`` is 1,
    RGBA when 4), its shorter side resized to ``resize`` (OpenCV's ``inter_method``, 1:
    bilinear), padded by ``pad`` pixels of ``fill_value``, cropped to (h, w) (central, or at
    random with ``rand_crop``), mirrored (``mirror``, or at random with ``rand_mirror``), then
    ``(pixel - mean) * scale / std`` per channel (``mean_r``/``g``/``b``/``a``, ``std_*``;
    ``mean_img``: a mean image saved by ``mx.nd.save``, computed and saved there first when
    the file is missing).  With ``c``/``h``/``w`` and the deterministic options, the batches
    are MXNet's own, pixel for pixel (tests/fixtures/recordio/).  ``preprocess_threads``
    threads decode; ``prefetch_buffer`` batches are prepared ahead.

    Labels: the record's (``flag`` labels after its header, which must be ``label_width``),
    or its one ``label``; ``path_imglist`` (``im2rec``'s ``.lst``) maps the records' ids to
    labels instead.

    The last batch (MXNet's ``round_batch``): filled from the start of the data, ``pad`` says
    how many; the next epoch then starts after those (an epoch that would start at the end
    is empty); a batch that one pass cannot fill is an error.  Without ``round_batch`` the
    rows past the data hold what the previous batch had there (zeros where none did) and
    ``pad`` says how many (MXNet 1.9.1 reports 0: a deliberate difference).

    Parts: ``num_parts``/``part_index`` read the records MXNet's part reads: by bytes (each
    part the records that start in its ``1/num_parts`` of the file), or by count
    (``ceil(n / num_parts)``, the last part the rest) with ``path_imgidx``.
    :meth:`shard` (``Module.fit``) cuts the same parts, ``even`` ones shortened to the
    shortest, so that every rank runs as many batches.

    ``shuffle`` reorders the records of the part at every epoch, from ``seed`` (distmod's
    permutation, not MXNet's); ``rand_crop``/``rand_mirror`` draw from ``seed`` and
    ``seed_aug`` (reproducible run to run, not MXNet's draws).  Not supported (an error when
    set): rotation, shear, aspect, random scale and crop sizes, HSL jitter.
    """

    def __init__(self, path_imgrec, data_shape, batch_size, path_imgidx='', path_imglist='',
                 label_width=1, shuffle=False, seed=0, resize=-1, rand_crop=False,
                 rand_mirror=False, mirror=False, mean_r=0.0, mean_g=0.0, mean_b=0.0,
                 mean_a=0.0, std_r=1.0, std_g=1.0, std_b=1.0, std_a=1.0, mean_img='',
                 scale=1.0, max_random_contrast=0.0, max_random_illumination=0.0,
                 inter_method=1, pad=0, fill_value=255, num_parts=1, part_index=0,
                 preprocess_threads=4, prefetch_buffer=4, round_batch=True, dtype='float32',
                 seed_aug=None, data_name='data', label_name='softmax_label', **kwargs):
        super().__init__(batch_size)
        bad = sorted(k for k, v in kwargs.items()
                     if k in _UNSUPPORTED_AUG and v not in (_UNSUPPORTED_AUG[k], None))
        unknown = sorted(k for k in kwargs if k not in _UNSUPPORTED_AUG and k not in _IGNORED)
        if bad:
            raise MXNetError('%s: %s not supported by distmod (only resize, pad, crop, mirror '
                             'and normalisation)' % (type(self).__name__, ', '.join(bad)))
        if unknown:
            raise MXNetError('%s: unknown arguments %s' % (type(self).__name__,
                                                             ', '.join(unknown)))
        data_shape = tuple(int(d) for d in data_shape)
        if len(data_shape) != 3 or data_shape[0] not in (1, 3, 4):
            raise MXNetError('%s: data_shape must be (c, h, w) with c 1, 3 or 4, got %s'
                             % (type(self).__name__, data_shape))
        if dtype not in ('float32', 'uint8', 'int8'):
            raise MXNetError("%s: dtype must be 'float32', 'uint8' or 'int8', got %r"
                             % (type(self).__name__, dtype))
        if resize not in (-1, None) and resize <= 0:
            raise MXNetError('%s: resize must be positive (or -1: none), got %r'
                             % (type(self).__name__, resize))
        if inter_method not in (1, 2, 3, 4, 9, 10):
            raise MXNetError('%s: invalid inter_method %r: valid values 1, 2, 3, 4, 9, 10'
                             % (type(self).__name__, inter_method))
        self.path_imgrec = path_imgrec
        self.path_imgidx = path_imgidx
        self.data_shape = data_shape
        self.label_width = int(label_width)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.seed_aug = seed_aug
        self.resize = -1 if resize in (-1, None) else int(resize)
        self.rand_crop, self.rand_mirror, self.mirror = bool(rand_crop), bool(rand_mirror), \
            bool(mirror)
        self.inter_method = int(inter_method)
        self.pad, self.fill_value = int(pad), int(fill_value)
        self.round_batch = bool(round_batch)
        self.dtype = np.dtype(dtype)
        self.data_name, self.label_name = data_name, label_name
        c = data_shape[0]
        self._mean = np.array([mean_r, mean_g, mean_b, mean_a][:c] if c > 1 else [mean_r],
                              np.float32)
        self._std = np.array([std_r, std_g, std_b, std_a][:c] if c > 1 else [std_r],
                             np.float32)
        self._scale = np.float32(scale)
        self._contrast, self._illumination = float(max_random_contrast), \
            float(max_random_illumination)
        self._label_map = self._read_imglist(path_imglist) if path_imglist else None
        self._threads = max(1, int(preprocess_threads))
        self._ahead = max(1, int(prefetch_buffer))
        self._pool = None
        self._fd = None

        # where the records are: in file order, as MXNet reads them
        try:
            self._total_bytes = os.path.getsize(path_imgrec)
        except OSError as e:
            raise MXNetError('%s: cannot read %s: %s' % (type(self).__name__, path_imgrec, e)) \
                from None
        if path_imgidx:
            offsets = []
            with open(path_imgidx) as f:
                for line in f:
                    fields = line.split()
                    if fields:
                        offsets.append(int(fields[1]))
            self._offsets = np.array(sorted(offsets), dtype=np.int64)
        else:
            from .recordio import scan_records
            self._offsets = np.array([o for o, _ in scan_records(path_imgrec)], np.int64)
        if len(self._offsets) == 0:
            raise MXNetError('%s: %s holds no record' % (type(self).__name__, path_imgrec))
        self.num_parts, self.part_index = 1, 0
        self._mean_img = None
        self._mean_img_file = mean_img
        if num_parts > 1 or part_index != 0:
            if not 0 <= part_index < num_parts:
                raise MXNetError('%s: part_index %d is not in [0, num_parts=%d)'
                                 % (type(self).__name__, part_index, num_parts))
            parts = mxnet_record_parts(self._offsets, self._total_bytes, num_parts,
                                       bool(path_imgidx))
            self._use(parts[part_index], num_parts, part_index)
        else:
            self._use(np.arange(len(self._offsets)), 1, 0)

    # ---- records and parts ---------------------------------------------------------------
    @staticmethod
    def _read_imglist(path):
        labels = {}
        with open(path) as f:
            for line in f:
                fields = line.strip().split('\t')
                if len(fields) >= 3:
                    labels[int(float(fields[0]))] = np.array(fields[1:-1], np.float32)
        return labels

    def _use(self, records, num_parts, part_index):
        """Read only ``records`` (positions in the file's records) from now on."""
        if len(records) == 0:
            raise MXNetError('%s: part %d of %d of %s holds no record'
                             % (type(self).__name__, part_index, num_parts, self.path_imgrec))
        self._stop_ahead()
        self._part = np.asarray(records, dtype=np.int64)
        self.num_parts, self.part_index = num_parts, part_index
        self._state = {'pos': 0, 'overflow': False, 'order': None, 'epochs': 0, 'batches': 0}
        self._error = None
        self._planned = []            # (state before, future or None at the epoch's end)
        self._last = None
        self._reorder(self._state)
        if self._mean_img_file and self.dtype == np.float32 and self._mean_img is None:
            self._mean_img = self._load_mean_img()
        self._first = self._take()     # as MXNet's, the first batch is read when made

    def shard(self, num_parts, part_index, even=True):
        """Keep part ``part_index`` of ``num_parts``: the records MXNet's ``num_parts``/
        ``part_index`` give that part (see the class), ``even`` parts (training) shortened
        to the shortest part, so that every part runs as many batches; ``even=False`` keeps
        them as they are (together they hold every record once).  The iterator starts over
        as if made on those records (its first batch is read); ``shard(1, 0)`` is the
        whole file again."""
        if not 0 <= part_index < num_parts:
            raise MXNetError('%s.shard: part_index %d is not in [0, num_parts=%d)'
                             % (type(self).__name__, part_index, num_parts))
        parts = mxnet_record_parts(self._offsets, self._total_bytes, num_parts,
                                   bool(self.path_imgidx))
        part = _even_part(parts, part_index, type(self).__name__ + '.shard') if even else \
            parts[part_index]
        self._use(part, num_parts, part_index)
        return self

    @property
    def num_records(self):
        """How many records this iterator reads in an epoch (its part)."""
        return len(self._part)

    def _reorder(self, state):
        """The source starts over (MXNet's BeforeFirst): a new order with ``shuffle``."""
        n = len(self._part)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, 0x5eed, state['epochs']])
            state['order'] = rng.permutation(n)
        else:
            state['order'] = np.arange(n)
        state['epochs'] += 1
        state['pos'] = 0

    # ---- batches -------------------------------------------------------------------------
    def _plan(self, state):
        """The next batch's records (positions in the part) and pad, advancing ``state``;
        None at the end of the epoch."""
        if state['overflow']:
            return None
        n, b = len(self._part), self.batch_size
        pos = state['pos']
        top = min(b, n - pos)
        if top <= 0:
            return None
        rows = list(state['order'][pos:pos + top])
        state['pos'] = pos + top
        if top == b:
            return rows, 0
        if not self.round_batch:
            return rows, b - top
        need = b - top
        if need > n:
            raise MXNetError(
                '%s: round_batch cannot fill a batch of %d: the %d records of %s%s are too '
                'few (number of input images must be bigger than the batch size); use a '
                'batch_size of at most %d, or round_batch=False'
                % (type(self).__name__, b, n, self.path_imgrec,
                   ' (part %d of %d)' % (self.part_index, self.num_parts)
                   if self.num_parts > 1 else '', n))
        self._reorder(state)
        rows += list(state['order'][:need])
        state['pos'] = need
        state['overflow'] = True
        return rows, need

    def _executor(self):
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(self._threads,
                                            thread_name_prefix='ImageRecordIter')
            self._fd = os.open(self.path_imgrec, os.O_RDONLY)
        return self._pool

    def _fill_ahead(self):
        """Plan and start up to ``prefetch_buffer`` batches ahead (not past the epoch's end
        or an error, which waits there for the reader)."""
        while len(self._planned) < self._ahead:
            if self._planned and not isinstance(self._planned[-1][1], tuple):
                return                  # the epoch's end (None) or an error is planned
            before = dict(self._state)
            try:
                plan = self._plan(self._state)
            except MXNetError as e:
                self._planned.append((before, e))
                return
            if plan is None:
                self._planned.append((before, None))
                return
            rows, pad = plan
            batch_no = self._state['batches']
            self._state['batches'] += 1
            pool = self._executor()
            jobs = [pool.submit(self._process, int(self._part[r]), (batch_no, i))
                    for i, r in enumerate(rows)]
            self._planned.append((before, (jobs, pad)))

    def _stop_ahead(self):
        """Drop the batches prepared ahead; the state goes back to the first of them."""
        planned = getattr(self, '_planned', None)
        if planned:
            self._state = planned[0][0]
            for _, work in planned:
                if isinstance(work, tuple):
                    for j in work[0]:
                        j.cancel()
            self._planned = []

    def _take(self):
        """The next batch (None at the end of the epoch)."""
        if self._error is not None:
            raise self._error
        self._fill_ahead()
        _, work = self._planned.pop(0)
        if work is None:
            return None
        if isinstance(work, MXNetError):
            self._planned = []
            self._error = work          # as MXNet's: broken for good
            raise work
        jobs, pad = work
        try:
            images = [j.result() for j in jobs]
        except MXNetError as e:
            self._stop_ahead()
            raise e from None
        self._fill_ahead()              # the next batches decode while this one trains
        b = self.batch_size
        data = np.zeros((b,) + self.data_shape, self.dtype) if self._last is None else \
            self._last[0].copy()
        label = np.zeros((b, self.label_width), np.float32) if self._last is None else \
            self._last[1].copy()
        for i, (img, lab) in enumerate(images):
            data[i] = img
            label[i] = lab
        self._last = (data, label)
        out_label = label[:, 0] if self.label_width == 1 else label
        return DataBatch(data=[_wrap(data.copy(), cpu())],
                         label=[_wrap(out_label.copy(), cpu())], pad=pad, index=None,
                         provide_data=self.provide_data, provide_label=self.provide_label)

    # ---- one image -----------------------------------------------------------------------
    def _rng(self, where):
        seed = self.seed if self.seed_aug is None else int(self.seed_aug)
        return np.random.default_rng([seed, 0xa06, where[0], where[1]])

    def _process(self, record, where):
        """(image (c, h, w) of ``dtype``, label (label_width,)) of record number ``record``."""
        from . import image
        from .recordio import unpack
        offset = int(self._offsets[record])
        raw = _read_record_at(self._fd, offset)
        header, buf = unpack(raw)
        c, h, w = self.data_shape
        try:
            img = image.decode(buf, {1: 0, 3: 1, 4: -1}[c])
        except MXNetError as e:
            raise MXNetError('%s: record %d (id %d, byte %d of %s): %s'
                             % (type(self).__name__, record, header.id, offset,
                                self.path_imgrec, e)) from None
        if img.shape[2] != c:
            raise MXNetError('%s: invalid image with index %d: expected %d channels, got %d'
                             % (type(self).__name__, header.id, c, img.shape[2]))
        label = self._label(header)
        rng = self._rng(where) if (self.rand_crop or self.rand_mirror or self._contrast or
                                   self._illumination or self.inter_method == 10) else None
        rows, cols = img.shape[:2]
        method = None
        if self.resize > 0:
            if rows > cols:
                rows, cols = self.resize * rows // cols, self.resize
            else:
                rows, cols = self.resize, self.resize * cols // rows
            method = self.inter_method
            if method == 9:
                old_rows, old_cols = img.shape[:2]
                method = 2 if (cols > old_cols and rows > old_rows) else \
                    3 if (cols < old_cols and rows < old_rows) else 1
            elif method == 10:
                method = int(rng.integers(0, 5))
        rows, cols = rows + 2 * self.pad, cols + 2 * self.pad
        if rows < h or cols < w:
            raise MXNetError('%s: record %d (id %d): input image size %dx%d (h x w) smaller '
                             'than input shape %dx%d' % (type(self).__name__, record,
                                                         header.id, rows, cols, h, w))
        if self.rand_crop:
            y, x = int(rng.integers(0, rows - h + 1)), int(rng.integers(0, cols - w + 1))
        else:
            y, x = (rows - h) // 2, (cols - w) // 2
        if self.pad > 0:
            if method is not None:
                img = image.resize_array(img, cols - 2 * self.pad, rows - 2 * self.pad, method)
            p = self.pad
            img = np.pad(img, ((p, p), (p, p), (0, 0)), constant_values=self.fill_value)
            img = img[y:y + h, x:x + w]
        elif method is not None:        # only the crop of the resized image is computed
            img = image.resize_array(img, cols, rows, method, region=(y, x, h, w))
        else:
            img = img[y:y + h, x:x + w]
        mirrored = self.mirror or (self.rand_mirror and bool(rng.integers(0, 2)))
        out = self._normalize(img, rng)
        if mirrored:
            out = out[:, ::-1]
        return np.ascontiguousarray(out.transpose(2, 0, 1)), label

    def _normalize(self, img, rng):
        """MXNet's per-pixel ``(p - mean) * (contrast * scale / std) + illumination * scale /
        std`` in float32 (the raw pixels for uint8, ``p - round(mean)`` saturated for int8)."""
        if self.dtype == np.uint8:
            return img
        if self.dtype == np.int8:
            mean = np.round(self._mean_img.transpose(1, 2, 0)) if self._mean_img is not None \
                else np.round(self._mean)
            return np.clip(img.astype(np.int16) - mean.astype(np.int16), -128, 127) \
                .astype(np.int8)
        contrast, illumination = np.float32(1), np.float32(0)
        if rng is not None and (self._contrast or self._illumination):
            u1, u2 = rng.random(2)
            contrast = np.float32(u1 * self._contrast * 2 - self._contrast + 1)
            illumination = np.float32(u2 * self._illumination * 2 - self._illumination)
        mult = (contrast * self._scale) / self._std
        bias = (illumination * self._scale) / self._std
        pixels = img.astype(np.float32)
        mean = self._mean_img.transpose(1, 2, 0) if self._mean_img is not None else self._mean
        out = (pixels - mean) * mult
        if illumination:
            out = out + bias
        return out

    def _label(self, header):
        lw = self.label_width
        if self._label_map is not None:
            if header.id not in self._label_map:
                raise MXNetError('%s: image id %d is not in the image list'
                                 % (type(self).__name__, header.id))
            lab = self._label_map[header.id]
            if lab.size != lw:
                raise MXNetError('%s: the image list gives image %d %d labels but '
                                 'label_width is %d' % (type(self).__name__, header.id,
                                                        lab.size, lw))
            return lab
        if header.flag > 0:
            if header.flag != lw:
                raise MXNetError('%s: rec file provide %d-dimensional label but label_width '
                                 'is set to %d' % (type(self).__name__, header.flag, lw))
            return np.asarray(header.label, np.float32)
        if lw != 1:
            raise MXNetError('%s: label_width must be 1 unless an imglist is provided or the '
                             'rec file is packed with multi dimensional label'
                             % type(self).__name__)
        return np.array([header.label], np.float32)

    def _load_mean_img(self):
        from .ndarray.utils import save, load
        path = self._mean_img_file
        if os.path.exists(path):
            got = load(path)
            arrays = list(got.values()) if isinstance(got, dict) else got
            if len(arrays) != 1:
                raise MXNetError('%s: invalid mean image file %s' % (type(self).__name__, path))
            mean = arrays[0].asnumpy().astype(np.float32)
            if mean.shape != self.data_shape:
                raise MXNetError('%s: the mean image of %s has shape %s, data_shape is %s'
                                 % (type(self).__name__, path, mean.shape, self.data_shape))
            return mean
        logging.getLogger(__name__).info('%s: cannot find %s: computing the mean image',
                                         type(self).__name__, path)
        pool = self._executor()
        total = np.zeros(self.data_shape, np.float64)
        jobs = [pool.submit(self._process, int(r), (-1, i)) for i, r in enumerate(self._part)]
        for j in jobs:
            total += j.result()[0]
        mean = (total / len(jobs)).astype(np.float32)
        save(path, {'mean_img': _wrap(mean, cpu())})
        return mean

    # ---- the iterator --------------------------------------------------------------------
    @property
    def provide_data(self):
        return [DataDesc(self.data_name, (self.batch_size,) + self.data_shape, self.dtype)]

    @property
    def provide_label(self):
        shape = (self.batch_size,) if self.label_width == 1 else \
            (self.batch_size, self.label_width)
        return [DataDesc(self.label_name, shape, np.float32)]

    def reset(self):
        if self._error is not None:
            raise self._error
        self._first = None
        self._stop_ahead()
        if self.round_batch and self._state['overflow']:
            self._state['overflow'] = False     # the borrowed records were this epoch's start
        else:
            self._reorder(self._state)

    def iter_next(self):
        if self._first is not None:
            self._current, self._first = self._first, None
        else:
            self._current = self._take()
        return self._current is not None

    def next(self):
        if self.iter_next():
            return self._current
        raise StopIteration

    def getdata(self):
        return self._current.data

    def getlabel(self):
        return self._current.label

    def getpad(self):
        return self._current.pad

    def close(self):
        """Stop the decoding threads (also done when the iterator is garbage collected)."""
        self._stop_ahead()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class ImageRecordUInt8Iter(ImageRecordIter):
    """:class:`ImageRecordIter` with ``dtype='uint8'``: the raw pixels (MXNet deprecates it
    for ``ImageRecordIter(dtype='uint8')``)."""

    def __init__(self, *args, **kwargs):
        kwargs['dtype'] = 'uint8'
        super().__init__(*args, **kwargs)


class ImageRecordInt8Iter(ImageRecordIter):
    """:class:`ImageRecordIter` with ``dtype='int8'``: pixels less the rounded mean,
    saturated to int8."""

    def __init__(self, *args, **kwargs):
        kwargs['dtype'] = 'int8'
        super().__init__(*args, **kwargs)


# ---- LibSVM ----------------------------------------------------------------------------
class CSRRows:
    """Rows of a sparse matrix in CSR form (``indptr``, ``indices``, ``values``, ``width``)
    that LibSVMIter batches from; ``rows[positions]`` gathers rows into a smaller CSRRows."""

    def __init__(self, indptr, indices, values, width):
        self.indptr = np.asarray(indptr, np.int64)
        self.indices = np.asarray(indices, np.int64)
        self.values = np.asarray(values, np.float32)
        self.width = int(width)

    @property
    def shape(self):
        return (len(self.indptr) - 1, self.width)

    def __getitem__(self, rows):
        rows = np.arange(self.shape[0])[rows] if isinstance(rows, slice) else \
            np.asarray(rows, np.int64)
        starts, stops = self.indptr[rows], self.indptr[rows + 1]
        counts = stops - starts
        take = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) \
            if len(rows) else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return CSRRows(indptr, self.indices[take.astype(np.int64)],
                       self.values[take.astype(np.int64)], self.width)

    def todense(self):
        out = np.zeros(self.shape, np.float32)
        row_of = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[row_of, self.indices] = self.values
        return out


def _libsvm_batch_array(rows):
    """The CSRNDArray a LibSVMIter batch holds for ``rows`` (a CSRRows), as MXNet's."""
    from .ndarray.sparse import csr_matrix
    return csr_matrix((rows.values, rows.indices, rows.indptr), shape=rows.shape)


class LibSVMIter(CSVIter):
    """Batches from LibSVM text files, as MXNet's LibSVMIter: each line of ``data_libsvm`` is
    ``label index:value index:value ...`` (indices 0-based, below ``data_shape[0]``); data
    (batch, ``data_shape[0]``) and labels (batch,) from the first column, or (batch,
    ``label_shape[0]``) rows of ``label_libsvm``, a file of the same form.

    The data (and a ``label_libsvm``'s labels) are CSRNDArrays, as MXNet's (an executor reads
    them densely).

    The last batch is MXNet's ``round_batch``: filled from the first rows, ``pad`` says how
    many, the next epoch starts after those; MXNet has only that (``round_batch=False`` is
    refused, as there).  ``num_parts``/``part_index`` read MXNet's part of the file: cut by
    bytes, each line in the part where it starts (dmlc-core's text split); :meth:`shard`
    (``Module.fit``) cuts the same parts, ``even`` ones shortened to the shortest.

    Example::

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), 'data.t')
        >>> with open(path, 'w') as f:
        ...     _ = f.write('1 0:0.5 2:1.5\\n0 1:2\\n1 3:-1\\n')
        >>> it = mx.io.LibSVMIter(data_libsvm=path, data_shape=(4,), batch_size=2)
        >>> for b in it:
        ...     print(b.data[0].asnumpy().tolist(), b.label[0].asnumpy().tolist(), b.pad)
        [[0.5, 0.0, 1.5, 0.0], [0.0, 2.0, 0.0, 0.0]] [1.0, 0.0] 0
        [[0.0, 0.0, 0.0, -1.0], [0.5, 0.0, 1.5, 0.0]] [1.0, 1.0] 1
    """

    def __init__(self, data_libsvm, data_shape, label_libsvm=None, label_shape=(1,),
                 batch_size=1, round_batch=True, num_parts=1, part_index=0, data_name='data',
                 label_name='softmax_label', **kwargs):
        DataIter.__init__(self, batch_size)
        if not round_batch:
            raise MXNetError("LibSVMIter: round_batch=False is not supported (as in MXNet: "
                             "the sparse batch loader has only round_batch)")
        data_shape, label_shape = tuple(data_shape), tuple(label_shape)
        if len(data_shape) != 1:
            raise MXNetError('LibSVMIter: data_shape must have one dimension, got %s'
                             % (data_shape,))
        self.data_csv = data_libsvm          # the name CSVIter's messages give
        self.data_libsvm, self.label_libsvm = data_libsvm, label_libsvm
        data, labels, self._starts, self._size = self._parse(data_libsvm, data_shape[0],
                                                             with_label=True)
        if label_libsvm is not None:
            label, _, self._label_starts, self._label_size = self._parse(
                label_libsvm, int(np.prod(label_shape)), with_label=False)
            if label.shape[0] != data.shape[0]:
                raise MXNetError('%s has %d rows but %s has %d'
                                 % (data_libsvm, data.shape[0], label_libsvm, label.shape[0]))
        else:
            label = labels
        self._whole = (data, label)
        self._label_sparse = label_libsvm is not None
        self.round_batch = True
        self.data_name, self.label_name = data_name, label_name
        self.num_parts, self.part_index = 1, 0
        self._data, self._label = data, label
        if num_parts > 1 or part_index != 0:
            if not 0 <= part_index < num_parts:
                raise MXNetError('LibSVMIter: part_index %d is not in [0, num_parts=%d)'
                                 % (part_index, num_parts))
            self._take_part(self._parts(num_parts)[part_index], num_parts, part_index)
        else:
            self._start()

    @staticmethod
    def _parse(path, width, with_label):
        """(CSRRows of the features, labels (n,) float32, byte offset of each line, file
        size) of a LibSVM file."""
        try:
            with open(path, 'rb') as f:
                raw = f.read()
        except OSError as e:
            raise MXNetError('cannot read LibSVM file %s: %s' % (path, e)) from None
        indptr, indices, values, labels, starts = [0], [], [], [], []
        pos = 0
        for n, line in enumerate(raw.split(b'\n'), 1):
            start, pos = pos, pos + len(line) + 1
            tokens = line.split()
            if not tokens:
                continue
            starts.append(start)
            try:
                labels.append(float(tokens[0].split(b':')[0]))
                for tok in tokens[1:]:
                    k, v = tok.split(b':')
                    k = int(k)
                    if not 0 <= k < width:
                        raise MXNetError('%s line %d: feature index %d is not below %d '
                                         '(data_shape)' % (path, n, k, width))
                    indices.append(k)
                    values.append(float(v))
            except ValueError:
                raise MXNetError('%s line %d: not LibSVM ("label index:value ..."): %r'
                                 % (path, n, line[:80])) from None
            indptr.append(len(indices))
        return (CSRRows(indptr, indices, values, width), np.array(labels, np.float32),
                np.array(starts, np.int64), len(raw))

    def _parts(self, num_parts):
        """MXNet's parts of the data file: the lines (by number) of each."""
        step = -(-self._size // num_parts)
        # dmlc-core's text split: a part starts after the first line break at or past its
        # first byte, so a line belongs to the part its first byte minus one falls in
        owner = np.where(self._starts == 0, 0, (self._starts - 1) // max(step, 1))
        return [np.nonzero(owner == r)[0] for r in range(num_parts)]

    def _take_part(self, rows, num_parts, part_index):
        data, label = self._whole
        self._data, self._label = data[rows], label[rows]
        self.num_parts, self.part_index = num_parts, part_index
        self._start()

    def shard(self, num_parts, part_index, even=True):
        """Keep part ``part_index`` of ``num_parts``: the lines MXNet's ``num_parts``/
        ``part_index`` give that part, ``even`` parts (training) shortened to the shortest so
        that every part runs as many batches; the iterator starts over (its first batch is
        read); ``shard(1, 0)`` is the whole file again."""
        if not 0 <= part_index < num_parts:
            raise MXNetError('LibSVMIter.shard: part_index %d is not in [0, num_parts=%d)'
                             % (part_index, num_parts))
        parts = self._parts(num_parts)
        rows = _even_part(parts, part_index, 'LibSVMIter.shard') if even else parts[part_index]
        self._take_part(rows, num_parts, part_index)
        return self

    def _batch(self, pad):
        data = _libsvm_batch_array(self._data[self._slots])
        if self._label_sparse:
            label = _libsvm_batch_array(self._label[self._slots])
        else:
            label = _wrap(self._label[self._slots], cpu())
        return DataBatch(data=[data], label=[label], pad=pad, index=None)

    @property
    def provide_data(self):
        return [DataDesc(self.data_name, (self.batch_size, self._data.width), np.float32)]

    @property
    def provide_label(self):
        if self._label_sparse:
            return [DataDesc(self.label_name, (self.batch_size, self._label.width),
                             np.float32)]
        return [DataDesc(self.label_name, (self.batch_size,), np.float32)]
