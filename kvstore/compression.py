"""Gradient compression: MXNet's ``2bit`` and ``1bit`` quantisation with error feedback.

Each sender keeps a *residual* per gradient, the part of its past gradients not sent yet.
For every element, with ``r = residual + gradient`` (MXNet's rules):

- ``2bit``, threshold ``t > 0`` (default 0.5): send ``+t`` where ``r >= t``, ``-t`` where
  ``r <= -t``, else 0.
- ``1bit``, threshold ``t`` (default 0.5; zero or negative allowed): send ``+1`` where
  ``r > t``, else ``-1``.  The values sent are always +-1, whatever the threshold.

The residual keeps what was not sent: ``residual = r - sent``, so over the steps the sum of
what was sent follows the sum of the gradients.  MXNet 1.9.1 has ``2bit`` only; ``1bit``
follows MXNet 2's rules (its PR #17952).

The codes travel packed, little-endian: ``2bit`` puts 16 elements in one 32-bit word (element
``i`` in bits ``2(i % 16)`` and ``2(i % 16) + 1`` of word ``i // 16``: ``01`` is ``+t``,
``10`` is ``-t``, ``00`` is 0), ``1bit`` 32 (bit ``i % 32`` of word ``i // 32``: 1 is +1, 0
is -1).

A sum of compressed values is a whole number of sent values, so it is kept as that number:
the *count* of every element (the number of ``+`` codes less the number of ``-`` codes over
the senders, a small integer), and the sum is ``count * v`` (``v`` is ``t`` or 1) in the
values' dtype, rounded once.  Integers add up the same in any order, so every receiver holds
the same sums, bit for bit, however the counts travelled (:func:`reduce_compressed`).

>>> import numpy as np
>>> gc = GradientCompression('2bit', threshold=0.5)
>>> residual = np.zeros(4, np.float32)
>>> codes = gc.encode(np.array([0.75, 0.25, -1.0, 0.5], np.float32), residual)
>>> codes.nbytes                       # one 32-bit word holds 16 elements
4
>>> gc.decode(codes, np.empty(4, np.float32))
array([ 0.5,  0. , -0.5,  0.5], dtype=float32)
>>> residual                           # what was not sent waits for the next step
array([ 0.25,  0.25, -0.5 ,  0.  ], dtype=float32)

Only floating-point dense values are compressed; integer and row-sparse values are reduced
exactly.  The arrays handled here are NumPy arrays; callers stage CuPy buffers through host
memory.
"""
import ctypes
import glob
import os

import numpy as np

from ._common import KVStoreError

__all__ = ['GradientCompression', 'parse_params', 'compressible', 'Workspace',
           'reduce_compressed', 'reduce_method', 'merge_devices', 'TYPES']

#: MXNet's compression types (``'none'`` turns compression off).
TYPES = ('none', '2bit', '1bit')

#: MXNet's default threshold.
DEFAULT_THRESHOLD = 0.5


def compressible(a):
    """True for a value the compression applies to: a dense floating-point array."""
    return getattr(a, 'stype', None) != 'row_sparse' and np.dtype(a.dtype).kind == 'f'


def parse_params(compression_params):
    """MXNet's ``compression_params`` checked: a :class:`GradientCompression`, or None for
    ``{'type': 'none'}``.  Raises :class:`KVStoreError` on a bad setting.

    >>> parse_params({'type': '2bit'}).params
    {'type': '2bit', 'threshold': 0.5}
    >>> parse_params({'type': 'none'}) is None
    True
    """
    if compression_params is None:
        compression_params = {}
    if not isinstance(compression_params, dict):
        raise KVStoreError('set_gradient_compression: compression_params must be a dict such '
                           "as {'type': '2bit', 'threshold': 0.5}, got %r"
                           % (compression_params,))
    params = dict(compression_params)
    kind = params.pop('type', None)
    if kind is None:
        raise KVStoreError("set_gradient_compression: compression_params needs a 'type' "
                           "('none', '2bit' or '1bit' in MXNet)")
    unknown = set(params) - {'threshold'}
    if unknown:
        raise KVStoreError('set_gradient_compression: unknown argument(s) %s; MXNet takes '
                           "'type' and 'threshold'" % sorted(unknown))
    if kind not in TYPES:
        raise KVStoreError("set_gradient_compression: unknown type %r; MXNet's types are "
                           "'none', '2bit', '1bit'" % (kind,))
    if kind == 'none':
        return None
    threshold = params.get('threshold', DEFAULT_THRESHOLD)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise KVStoreError('set_gradient_compression: threshold must be a number, got %r'
                           % (threshold,)) from None
    return GradientCompression(kind, threshold)


class Workspace:
    """Scratch arrays reused from call to call (one per thread that compresses)."""

    def __init__(self):
        self._bufs = {}

    def get(self, name, n, dtype):
        """A 1-D array of ``n`` elements of ``dtype`` (contents undefined)."""
        dtype = np.dtype(dtype)
        buf = self._bufs.get((name, dtype))
        if buf is None or buf.size < n:
            buf = np.empty(max(int(n), 1), dtype=dtype)
            self._bufs[(name, dtype)] = buf
        return buf[:n]


_CODEC_ABI = 1
_codec_lib = []


def native_codec():
    """The one-pass encoder (kvstore/_codec.c, built by the install where a C compiler is
    found), or None: not built, or ``DISTMOD_NATIVE=0``."""
    if not _codec_lib:
        lib = None
        if os.environ.get('DISTMOD_NATIVE', '').strip() != '0':
            here = os.path.dirname(os.path.abspath(__file__))
            for path in sorted(glob.glob(os.path.join(here, '_codec*.so')) +
                               glob.glob(os.path.join(here, '_codec*.pyd'))):
                try:
                    cand = ctypes.CDLL(path)
                    if cand.kv_codec_abi() != _CODEC_ABI:
                        continue            # a stale build
                except (OSError, AttributeError):
                    continue
                p = ctypes.c_void_p
                for name in ('kv_encode2_f32', 'kv_encode1_f32'):
                    fn = getattr(cand, name)
                    fn.argtypes = [p, p, p, ctypes.c_int64, ctypes.c_double]
                    fn.restype = None
                lib = cand
                break
        _codec_lib.append(lib)
    return _codec_lib[0]


_SPREAD = None


def _spread():
    """uint16 with bit ``j`` of the byte index moved to bit ``2j`` (packs 2-bit codes)."""
    global _SPREAD
    if _SPREAD is None:
        b = np.arange(256, dtype=np.uint16)
        out = np.zeros(256, dtype=np.uint16)
        for j in range(8):
            out |= ((b >> j) & 1) << (2 * j)
        _SPREAD = out
    return _SPREAD


class GradientCompression:
    """One compression setting (``'2bit'`` or ``'1bit'`` and its threshold): encodes values
    with a residual into packed codes and decodes them.

    ``encode`` and ``decode`` work on 1-D NumPy arrays; a :class:`Workspace` may be passed to
    reuse scratch memory.
    """

    def __init__(self, kind='2bit', threshold=DEFAULT_THRESHOLD):
        if kind not in ('2bit', '1bit'):
            raise KVStoreError("gradient compression: type must be '2bit' or '1bit', got %r"
                               % (kind,))
        threshold = float(threshold)
        if kind == '2bit' and not threshold > 0:
            raise KVStoreError('set_gradient_compression: threshold must be greater than 0 '
                               'for 2bit compression, got %r' % (threshold,))
        self.kind = kind
        self.threshold = threshold
        self.bits = 2 if kind == '2bit' else 1
        #: elements per byte and per 32-bit word of codes
        self.per_byte = 8 // self.bits
        self.per_word = 32 // self.bits
        self._tables = {}

    @property
    def params(self):
        """MXNet's ``compression_params`` of this setting."""
        return {'type': self.kind, 'threshold': self.threshold}

    def __repr__(self):
        return 'GradientCompression(%r, threshold=%r)' % (self.kind, self.threshold)

    def code_bytes(self, n):
        """Bytes of the codes of ``n`` elements (whole 32-bit words)."""
        return 4 * (-(-int(n) // self.per_word))

    def sent_values(self, dtype):
        """The values a code can stand for, in ``dtype``: ``(+t, -t)`` or ``(+1, -1)``."""
        dt = np.dtype(dtype)
        if self.kind == '2bit':
            t = dt.type(self.threshold)
            return t, -t
        return dt.type(1), dt.type(-1)

    def _table(self, dtype):
        """``table[byte]``: the ``per_byte`` values that byte of codes decodes to: its signs
        (``_count_table``) times ``+t`` (or +1), exact."""
        dt = np.dtype(dtype)
        tab = self._tables.get(dt)
        if tab is None:
            up, _ = self.sent_values(dt)
            tab = self._tables[dt] = self._count_table(np.int8).astype(dt) * up
        return tab

    def encode(self, values, residual, out=None, work=None):
        """Add ``values`` to ``residual``, quantise, and leave in ``residual`` what was not
        sent.  Returns the packed codes (``code_bytes(n)`` uint8, into ``out`` if given).

        ``values`` and ``residual``: 1-D NumPy arrays of one floating dtype and size;
        ``values`` is only read.
        """
        work = work if work is not None else Workspace()
        n = residual.size
        if values.size != n or values.dtype != residual.dtype:
            raise KVStoreError('gradient compression: %d values of %s for a residual of %d '
                               '%s' % (values.size, values.dtype, n, residual.dtype))
        nbytes = self.code_bytes(n)
        if out is None:
            out = np.empty(nbytes, dtype=np.uint8)
        lib = native_codec()
        if lib is not None and residual.dtype == np.float32 and \
                values.flags.c_contiguous and residual.flags.c_contiguous and \
                out.flags.c_contiguous and out.size >= nbytes:
            fn = lib.kv_encode2_f32 if self.bits == 2 else lib.kv_encode1_f32
            fn(values.ctypes.data, residual.ctypes.data, out.ctypes.data, n, self.threshold)
            return out
        np.add(residual, values, out=residual)
        up = work.get('up', n, np.bool_)
        if self.kind == '2bit':
            t = residual.dtype.type(self.threshold)
            down = work.get('down', n, np.bool_)
            np.greater_equal(residual, t, out=up)
            np.less_equal(residual, -t, out=down)
            # 8 elements' "up" bits spread to the even bits of 16, "down" bits to the odd
            spread = _spread()
            half = nbytes // 2                       # uint16 codes, 8 elements each
            ups = np.packbits(up, bitorder='little')
            downs = np.packbits(down, bitorder='little')
            codes = out.view(np.uint16)
            codes[ups.size:] = 0
            np.take(spread, ups, out=codes[:ups.size], mode='clip')
            tmp = work.get('spread', half, np.uint16)[:downs.size]
            np.take(spread, downs, out=tmp, mode='clip')
            np.left_shift(tmp, 1, out=tmp)
            np.bitwise_or(codes[:ups.size], tmp, out=codes[:ups.size])
        else:
            np.greater(residual, residual.dtype.type(self.threshold), out=up)
            packed = np.packbits(up, bitorder='little')
            out[:packed.size] = packed
            out[packed.size:] = 0
        sent = self.decode(out, work.get('sent', n, residual.dtype), work=work)
        np.subtract(residual, sent, out=residual)
        return out

    def decode(self, codes, out, add=False, work=None):
        """Write (``add=True``: add) the values ``codes`` stand for into ``out`` (1-D, of the
        values' floating dtype and size).  Returns ``out``."""
        n, k = out.size, self.per_byte
        if codes.size < -(-n // k):
            raise KVStoreError('gradient compression: %d bytes of codes for %d values'
                               % (codes.size, n))
        tab = self._table(out.dtype)
        full = n // k
        _lookup(tab, codes[:full], out[:full * k], add, work, 'decoded')
        rest = n - full * k
        if rest:
            tail = tab[int(codes[full])][:rest]
            if add:
                out[full * k:] += tail
            else:
                out[full * k:] = tail
        return out

    def _count_table(self, dtype):
        """``table[byte]``: the ``per_byte`` signs (+1, -1 or 0) that byte of codes stands
        for, as integers of ``dtype``."""
        dt = np.dtype(dtype)
        key = ('counts', dt)
        tab = self._tables.get(key)
        if tab is None:
            b = np.arange(256)[:, None]
            if self.kind == '2bit':
                code = (b >> (2 * np.arange(4))) & 3
                tab = np.where(code == 1, 1, np.where(code == 2, -1, 0))
            else:
                tab = np.where((b >> np.arange(8)) & 1, 1, -1)
            tab = self._tables[key] = np.ascontiguousarray(tab, dtype=dt)
        return tab

    def add_counts(self, codes, counts, add=False, work=None):
        """Write (``add=True``: add) the signs ``codes`` stand for into ``counts`` (a 1-D
        integer array of ``codes.size * per_byte`` elements).  Returns ``counts``."""
        k = self.per_byte
        if counts.size != codes.size * k:
            raise KVStoreError('gradient compression: %d counts for %d bytes of codes'
                               % (counts.size, codes.size))
        return _lookup(self._count_table(counts.dtype), codes, counts, add, work, 'signs')

    def from_counts(self, counts, out):
        """``out[:] = counts[:out.size] * v`` in ``out``'s dtype (``v``: ``t`` or 1), each
        value rounded once.  Returns ``out``."""
        up, _ = self.sent_values(out.dtype)
        np.multiply(counts[:out.size], up, out=out, dtype=out.dtype, casting='unsafe')
        return out

    def compress(self, values, residual, out=None, work=None):
        """What receivers get from one sender: ``decode(encode(values, residual))`` (into
        ``out``, a new array if None)."""
        codes = self.encode(values, residual, work=work)
        if out is None:
            out = np.empty(residual.size, dtype=residual.dtype)
        return self.decode(codes, out, work=work)


def _lookup(tab, codes, out, add, work, scratch):
    """``out`` (1-D, ``codes.size`` rows of ``tab``'s width) = ``tab[codes]`` row by row, or
    ``+=`` it (``add``, through the ``scratch`` array of ``work``).  Returns ``out``."""
    k = tab.shape[1]
    if add:
        work = work if work is not None else Workspace()
        tmp = work.get(scratch, out.size, out.dtype)
        np.take(tab, codes, axis=0, out=tmp.reshape(-1, k), mode='clip')
        np.add(out, tmp, out=out)
    else:
        np.take(tab, codes, axis=0, out=out.reshape(-1, k), mode='clip')
    return out


def count_dtype(senders):
    """The smallest integer dtype that holds a sum of ``senders`` signs."""
    return np.dtype(np.int8 if senders <= 127 else np.int16 if senders <= 32767 else np.int32)


def reduce_method(codec, ranks):
    """``'allgather'`` or ``'scatter'``: the way :func:`reduce_compressed` moves the codes
    for ``ranks`` ranks, the one that receives fewer bytes per rank.

    *allgather*: every rank receives every other rank's codes, ``(p - 1) c`` bytes for ``c``
    bytes of codes each, and counts all of them.  *scatter*: rank ``j`` owns the ``j``-th of
    ``p`` slices; every rank sends each owner its codes of that slice (an all-to-all,
    ``(p - 1) / p c``), the owner counts its slice, and the counts go round to everyone (an
    allgather of ``(p - 1) / p`` of the counts, one small integer per element).  With 2bit
    codes and one-byte counts allgather receives less up to 5 ranks, with 1bit up to 9; past
    that the scatter's bytes per rank stop growing with the ranks.
    """
    p = int(ranks)
    per_element = codec.bits / 8.0
    counts = count_dtype(p).itemsize
    return 'allgather' if p * per_element <= per_element + counts else 'scatter'


def _slices(words, p):
    """Word bounds of ``p`` near-equal slices of ``words`` 32-bit words."""
    return [j * words // p for j in range(p + 1)]


def reduce_compressed(codec, arrays, residuals, comm=None, work=None, method=None):
    """Replace each of ``arrays`` by the sum over the ranks of ``comm`` of their compressed
    values.

    Each rank encodes its ``arrays`` (1-D, floating, contiguous NumPy) with its own
    ``residuals`` (updated in place) into one buffer of codes, the counts of every element
    are made from every rank's codes (``method``: ``'allgather'`` or ``'scatter'``, see
    :func:`reduce_method`, which picks it where None), and every rank writes
    ``count * v`` into its arrays: the same sums on every rank, bit for bit, whichever the
    method.  ``comm`` None: one rank.  Collective: every rank of ``comm`` calls it with the
    same sizes, dtypes and method.  Returns the bytes of codes this rank encoded.
    """
    if method not in (None, 'allgather', 'scatter'):
        raise KVStoreError("gradient compression: method must be 'allgather' or 'scatter', "
                           "got %r" % (method,))
    work = work if work is not None else Workspace()
    sizes = [codec.code_bytes(a.size) for a in arrays]
    total = sum(sizes)
    send = work.get('send', total, np.uint8)
    off = 0
    for a, r, s in zip(arrays, residuals, sizes):
        codec.encode(a, r, out=send[off:off + s], work=work)
        off += s
    size = 1 if comm is None else comm.Get_size()
    k = codec.per_byte
    cdt = count_dtype(size)
    counts = work.get('counts', total * k, cdt)
    if size == 1:
        codec.add_counts(send, counts, work=work)
    else:
        method = method or reduce_method(codec, size)
        if method == 'allgather':
            recv = work.get('recv', size * total, np.uint8).reshape(size, total)
            comm.Allgather(send, recv)
            for rank in range(size):
                codec.add_counts(recv[rank], counts, add=rank > 0, work=work)
        else:
            _scatter_counts(codec, send, counts, comm, work)
    off = 0
    for a, s in zip(arrays, sizes):
        codec.from_counts(counts[off * k:(off + s) * k], a)
        off += s
    return total


def _scatter_counts(codec, send, counts, comm, work):
    """The scatter method of :func:`reduce_compressed`: an all-to-all of each owner's slice of
    the codes, the owner's counts, an allgather of the counts."""
    from mpi4py import MPI
    size, me = comm.Get_size(), comm.Get_rank()
    k, item = codec.per_byte, counts.itemsize
    wb = _slices(send.size // 4, size)
    code_counts = [4 * (wb[j + 1] - wb[j]) for j in range(size)]
    code_displs = [4 * wb[j] for j in range(size)]
    mine = code_counts[me]
    recv = work.get('recv', size * mine, np.uint8)
    comm.Alltoallv([send, (code_counts, code_displs), MPI.BYTE],
                   [recv, ([mine] * size, [i * mine for i in range(size)]), MPI.BYTE])
    lo = code_displs[me] * k
    part = counts[lo:lo + mine * k]
    for rank in range(size):
        codec.add_counts(recv[rank * mine:(rank + 1) * mine], part, add=rank > 0, work=work)
    comm.Allgatherv(MPI.IN_PLACE, [counts.view(np.uint8),
                                   ([c * k * item for c in code_counts],
                                    [d * k * item for d in code_displs]), MPI.BYTE])


def merge_devices(codec, values, residuals, work=None):
    """The sum of one key's per-device ``values``, each device's value compressed with its
    own residual (``residuals[i]`` for device ``i``, made on first use), as counts (see the
    module's doc) times the sent value (MXNet's ``device`` store with compression).

    Returns a new host array shaped like ``values[0]``.  CuPy values are staged through
    host memory; the residuals live there.
    """
    work = work if work is not None else Workspace()
    first = values[0]
    shape, dtype = tuple(first.shape), np.dtype(first.dtype)
    n = int(np.prod(shape, dtype=np.int64))
    while len(residuals) < len(values):
        residuals.append(None)
    out = np.empty(n, dtype=dtype)
    nbytes = codec.code_bytes(n)
    counts = work.get('counts', nbytes * codec.per_byte, count_dtype(len(values)))
    for i, v in enumerate(values):
        host = v if isinstance(v, np.ndarray) else v.get()
        host = np.ascontiguousarray(host, dtype=dtype).reshape(-1)
        if host.size != n:
            raise KVStoreError('push: values of shapes %s and %s for one key'
                               % (shape, tuple(v.shape)))
        res = residuals[i]
        if res is None or res.size != n or res.dtype != dtype:
            res = residuals[i] = np.zeros(n, dtype=dtype)
        codes = codec.encode(host, res, out=work.get('codes', nbytes, np.uint8), work=work)
        codec.add_counts(codes, counts, add=i > 0, work=work)
    return codec.from_counts(counts, out).reshape(shape)
