"""``mx.io``: data iterators and the batches they yield (DataDesc, DataBatch, NDArrayIter,
MNISTIter, CSVIter, ResizeIter, PrefetchingIter).

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
MXNet's own.  ResizeIter and PrefetchingIter shard what they wrap.
"""
import gzip
import logging
import struct
import threading
from collections import OrderedDict, namedtuple

import numpy as np

from .base import MXNetError
from .context import cpu
from .ndarray.ndarray import NDArray, _wrap
from . import random as _random

__all__ = ['DataDesc', 'DataBatch', 'DataIter', 'NDArrayIter', 'MNISTIter', 'CSVIter',
           'ResizeIter', 'PrefetchingIter', 'shard_range', 'read_idx']


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
        _random.generator().shuffle(self.idx)

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


class MNISTIter(NDArrayIter):
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
        images = read_idx(image, 2051).astype(np.float32) * (1.0 / 256)
        labels = read_idx(label, 2049).astype(np.float32)
        if images.shape[0] != labels.shape[0]:
            raise MXNetError('%s has %d images but %s has %d labels'
                             % (image, images.shape[0], label, labels.shape[0]))
        images = images.reshape(images.shape[0], -1) if flat else \
            images.reshape(images.shape[0], 1, images.shape[1], images.shape[2])
        if shuffle:
            order = np.random.default_rng(seed).permutation(images.shape[0])
            images, labels = images[order], labels[order]
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
            logging.info('MNISTIter: load %d images, shuffle=%d, shape=%s',
                         self.num_data, int(shuffle), (batch_size,) + images.shape[1:])

    def _check_part(self, part, num_parts, part_index, what):
        size = part.stop - part.start
        if size < self.batch_size:
            raise MXNetError('%s: part %d of %d has %d images of %s, fewer than batch_size %d: '
                             'MNISTIter yields only full batches'
                             % (what, part_index, num_parts, size, self._image_file,
                                self.batch_size))
        return part


class CSVIter(DataIter):
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
            raise MXNetError('CSVIter: %s has no rows%s' % (
                self.data_csv, ' in part %d of %d' % (self.part_index, self.num_parts)
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
                'CSVIter: round_batch cannot fill a batch of %d: the %d rows of %s%s are too '
                'few (number of input must be bigger than batch size); use a batch_size of at '
                'most %d, or round_batch=False'
                % (b, n, self.data_csv, ' (part %d of %d)' % (self.part_index, self.num_parts)
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
