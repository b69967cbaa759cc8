"""``mx.io``: data iterators and the batches they yield (DataDesc, DataBatch, NDArrayIter).

Sharding (a distmod extension, for data-parallel ranks): iterators take ``num_parts`` and
``part_index`` and then yield only that part's samples; every part gets the same number of
samples (the remainder of an uneven split is dropped), so every rank runs the same number of
batches.  ``shard(num_parts, part_index)`` does the same to an iterator made whole: that is how
``Module.fit`` splits an iterator it is given whole across the ranks of a ``dist_sync`` job.
"""
import gzip
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

    ``last_batch_handle``: 'pad' fills the last batch from the start (``pad`` says how many),
    'discard' drops it, 'roll_over' carries the remainder into the next epoch's first batch.

    Example::

        >>> it = mx.io.NDArrayIter(np.zeros((10, 3)), np.arange(10), batch_size=4)
        >>> [b.pad for b in it]
        [0, 0, 2]
    """

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
        self.num_parts, self.part_index = 1, 0
        if num_parts > 1:
            part = shard_range(n, num_parts, part_index)
            self.data = [(k, v[part]) for k, v in self.data]
            self.label = [(k, v[part]) for k, v in self.label]
            n = part.stop - part.start
            self.num_parts, self.part_index = num_parts, part_index
        if n < batch_size and last_batch_handle == 'discard':
            raise MXNetError('NDArrayIter: batch_size %d is larger than the %d samples and '
                             'last_batch_handle is discard' % (batch_size, n))
        self.num_data = n
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.idx = np.arange(n)
        self.cursor = -batch_size
        self._cache = None          # roll_over: the samples carried into the next epoch
        self._cache_pad = 0
        self.num_source = len(self.data)
        if shuffle:
            self._shuffle()

    def shard(self, num_parts, part_index, even=True):
        """Keep only part ``part_index`` of ``num_parts`` from now on (``fit`` does this for
        each rank of a data-parallel job when given the whole data).

        ``even``: every part gets ``n // num_parts`` samples, so every rank runs the same
        number of batches (the remainder is dropped); otherwise no sample is dropped.  Parts
        are always cut from the whole data: ``shard(1, 0)`` gives it all back.
        """
        data, label, n = self._whole
        part = (shard_range if even else uneven_range)(n, num_parts, part_index)
        if part.stop - part.start < self.batch_size and self.last_batch_handle == 'discard':
            raise MXNetError('NDArrayIter.shard: part %d of %d has %d samples, fewer than '
                             'batch_size %d with last_batch_handle discard'
                             % (part_index, num_parts, part.stop - part.start, self.batch_size))
        self.data = [(k, v[part]) for k, v in data]
        self.label = [(k, v[part]) for k, v in label]
        self.num_data = part.stop - part.start
        self.num_parts, self.part_index = num_parts, part_index
        self.idx = np.arange(self.num_data)
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
        carry = None
        if self.last_batch_handle == 'roll_over' and \
                0 <= self.cursor < self.num_data < self.cursor + self.batch_size:
            carry = self.idx[self.cursor:].copy()      # taken before any reshuffle
        if self.shuffle:
            self._shuffle()
        self._cache = carry
        # with a carried head the first batch starts len(carry) samples before this epoch
        self.cursor = -self.batch_size - (len(carry) if carry is not None else 0)

    def iter_next(self):
        self.cursor += self.batch_size
        if self.last_batch_handle in ('discard', 'roll_over'):
            return self.cursor + self.batch_size <= self.num_data
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        idx = self._batch_index()
        data = [self._take(v, idx) for _, v in self.data]
        label = [self._take(v, idx) for _, v in self.label]
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _batch_index(self):
        start = self.cursor
        end = start + self.batch_size
        if start < 0:            # a rolled-over head followed by this epoch's first samples
            head = self._cache if self._cache is not None else self.idx[:0]
            return np.concatenate([head, self.idx[:end]])
        if end <= self.num_data:
            return self.idx[start:end]
        if self.last_batch_handle == 'pad':
            return np.concatenate([self.idx[start:], self.idx[:end - self.num_data]])
        return self.idx[start:]

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
    """Batches of MNIST from its IDX files: images scaled to [0, 1] as (N, 1, 28, 28), or
    (N, 784) with ``flat``; float32 labels.  ``shuffle`` shuffles once with ``seed``;
    ``num_parts``/``part_index`` shard it."""

    def __init__(self, image='./train-images-idx3-ubyte', label='./train-labels-idx1-ubyte',
                 batch_size=128, shuffle=False, flat=False, seed=0, silent=False,
                 num_parts=1, part_index=0, data_name='data', label_name='softmax_label',
                 input_shape=None, **kwargs):
        images = read_idx(image, 2051).astype(np.float32) * (1.0 / 255)
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
                         last_batch_handle='pad', data_name=data_name, label_name=label_name,
                         num_parts=num_parts, part_index=part_index)
        if not silent:
            import logging
            logging.info('MNISTIter: load %d images, shuffle=%d, shape=%s',
                         self.num_data, int(shuffle), (batch_size,) + images.shape[1:])


class CSVIter(DataIter):
    """Batches from CSV files: ``data_csv`` rows reshaped to ``data_shape``, labels from
    ``label_csv`` (zeros without one).  With ``round_batch`` the last batch wraps around to
    the first rows and the next epoch starts after the rows it borrowed, as MXNet's does."""

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
        self._data, self._label = data, label
        self._whole = (data, label)
        self.num_parts, self.part_index = 1, 0
        if num_parts > 1:
            self.shard(num_parts, part_index)
        self.round_batch = round_batch
        self.data_name, self.label_name = data_name, label_name
        self._start = 0
        self._next_start = 0
        self.cursor = None
        self._pad = 0

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
        """Keep only part ``part_index`` of ``num_parts`` of the rows (see NDArrayIter.shard)."""
        data, label = self._whole
        part = (shard_range if even else uneven_range)(data.shape[0], num_parts, part_index)
        self._data, self._label = data[part], label[part]
        self.num_parts, self.part_index = num_parts, part_index
        self._start = self._next_start = 0
        self.cursor = None
        return self

    @property
    def provide_data(self):
        return [DataDesc(self.data_name, (self.batch_size,) + self._data.shape[1:],
                         self._data.dtype)]

    @property
    def provide_label(self):
        return [DataDesc(self.label_name, (self.batch_size,) + self._label.shape[1:],
                         self._label.dtype)]

    def reset(self):
        self._start = self._next_start if self.round_batch else 0
        self._next_start = 0
        self.cursor = None

    def iter_next(self):
        n = self._data.shape[0]
        self.cursor = self._start if self.cursor is None else self.cursor + self.batch_size
        if self.cursor >= n:
            return False
        self._pad = max(0, self.cursor + self.batch_size - n)
        if self._pad:
            self._next_start = self._pad
        return True

    def _rows(self, arr):
        idx = (np.arange(self.cursor, self.cursor + self.batch_size)) % arr.shape[0]
        return _wrap(arr[idx], cpu())

    def getdata(self):
        return [self._rows(self._data)]

    def getlabel(self):
        return [self._rows(self._label)]

    def getpad(self):
        return self._pad


def numpy_zeros(shape, dtype):
    return np.zeros(shape, dtype=np.dtype(dtype))


class ResizeIter(DataIter):
    """Exactly ``size`` batches per epoch from ``data_iter``, restarting it when it runs out;
    ``reset_internal`` restarts it at every ``reset`` too."""

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
    """Reads the next batch of ``iters`` in a background thread while the current one trains.

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

    def reset(self):
        for e in self._ready:
            e.wait()
        for it in self.iters:
            it.reset()
        for e in self._ready:
            e.clear()
        for e in self._taken:
            e.set()

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
