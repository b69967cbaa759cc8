"""Sentences to integer ids, and a bucketing iterator over them (MXNet's ``mx.rnn.io``).

Sharding (a distmod extension, as for ``mx.io.NDArrayIter``): ``num_parts``/``part_index``
or ``shard(num_parts, part_index)`` keep one part of every bucket's sentences, so parts are
disjoint; with ``even=True`` every part holds the same number of sentences of each bucket and
so yields the same batches per bucket, hence the same number of batches per epoch.
"""
import bisect

import numpy as np

from ..base import MXNetError
from .. import ndarray
from .. import random as _random
from ..io import DataIter, DataBatch, DataDesc, shard_range

__all__ = ['encode_sentences', 'BucketSentenceIter']


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key='\n', start_label=0,
                     unknown_token=None):
    """Replace each word with an integer id; returns ``(encoded sentences, vocab)``.

    Without ``vocab`` one is built: ``invalid_key`` maps to ``invalid_label`` and new words
    get ids counting from ``start_label`` (skipping ``invalid_label``).  With a ``vocab`` an
    unknown word is an error unless ``unknown_token`` is given; then it is encoded as
    ``unknown_token``, which (as in MXNet) is given the next free id each time.
    """
    idx = start_label
    if vocab is None:
        vocab = {invalid_key: invalid_label}
        new_vocab = True
    else:
        new_vocab = False
    res = []
    for sent in sentences:
        coded = []
        for word in sent:
            if word not in vocab:
                if not (new_vocab or unknown_token):
                    raise MXNetError('Unknown token %s' % word)
                if idx == invalid_label:
                    idx += 1
                if unknown_token:
                    word = unknown_token
                vocab[word] = idx
                idx += 1
            coded.append(vocab[word])
        res.append(coded)
    return res, vocab


class BucketSentenceIter(DataIter):
    """Batches of equal-length (padded) sentences for bucketing.

    Each sentence goes to the smallest bucket at least as long, padded with
    ``invalid_label``; longer ones are discarded, and buckets left empty are dropped.
    Without ``buckets``, every length shared by at least ``batch_size`` sentences is a
    bucket.  Labels are the data shifted left by one step (the last step
    ``invalid_label``).  Batches carry ``bucket_key`` (the bucket
    length) and their own provide_data/provide_label; ``default_bucket_key`` is the largest
    bucket.  ``layout`` 'NT' is batch major, 'TN' time major.  Batch order and each bucket's
    sentence order are reshuffled on every ``reset`` (from ``mx.random``).

    Example::

        >>> sents, vocab = mx.rnn.encode_sentences([['a', 'b', 'c'], ['b', 'c', 'a']])
        >>> it = mx.rnn.BucketSentenceIter(sents, batch_size=2, buckets=[4])
        WARNING: discarded 0 sentences longer than the largest bucket.
        >>> next(it).bucket_key
        4
    """

    def __init__(self, sentences, batch_size, buckets=None, invalid_label=-1, data_name='data',
                 label_name='softmax_label', dtype='float32', layout='NT', num_parts=1,
                 part_index=0):
        super().__init__(batch_size)
        if not buckets:
            counts = np.bincount([len(s) for s in sentences])
            buckets = [i for i, j in enumerate(counts) if j >= batch_size]
        buckets = sorted(buckets)
        if not buckets:
            raise MXNetError('BucketSentenceIter: no bucket; no sentence length is shared by '
                             'batch_size=%d sentences, give buckets=' % batch_size)
        ndiscard = 0
        data = [[] for _ in buckets]
        for sent in sentences:
            buck = bisect.bisect_left(buckets, len(sent))
            if buck == len(buckets):
                ndiscard += 1
                continue
            buff = np.full((buckets[buck],), invalid_label, dtype=dtype)
            buff[:len(sent)] = sent
            data[buck].append(buff)
        # as in MXNet 1.9, buckets no sentence went to are dropped
        keep = [i for i, d in enumerate(data) if d]
        if not keep:
            raise MXNetError('BucketSentenceIter: every sentence is longer than the largest '
                             'bucket %d' % buckets[-1])
        buckets = [buckets[i] for i in keep]
        self._whole = [np.asarray(data[i], dtype=dtype) for i in keep]
        print('WARNING: discarded %d sentences longer than the largest bucket.' % ndiscard)

        self.batch_size = batch_size
        self.buckets = buckets
        self.data_name = data_name
        self.label_name = label_name
        self.dtype = dtype
        self.invalid_label = invalid_label
        self.nddata = []
        self.ndlabel = []
        self.major_axis = layout.find('N')
        self.layout = layout
        self.default_bucket_key = max(buckets)
        if self.major_axis == 0:
            shape = (batch_size, self.default_bucket_key)
        elif self.major_axis == 1:
            shape = (self.default_bucket_key, batch_size)
        else:
            raise ValueError('Invalid layout %s: Must by NT (batch major) or TN (time major)'
                             % layout)
        self.provide_data = [DataDesc(name=data_name, shape=shape, layout=layout)]
        self.provide_label = [DataDesc(name=label_name, shape=shape, layout=layout)]
        self.num_parts, self.part_index = 1, 0
        self._select(num_parts, part_index, True)

    def _select(self, num_parts, part_index, even):
        """Keep part ``part_index`` of each bucket's sentences and rebuild the batch list."""
        if num_parts < 1 or not 0 <= part_index < num_parts:
            raise MXNetError('part_index %d is not in [0, num_parts=%d)'
                             % (part_index, num_parts))
        if num_parts > 1 and even:
            self.data = []
            for d in self._whole:
                if len(d) < num_parts:
                    # too few sentences to give every part one: no part gets any
                    self.data.append(d[:0].copy())
                    continue
                self.data.append(d[shard_range(len(d), num_parts, part_index)].copy())
        elif num_parts > 1:
            # uneven (validation): deal each bucket's whole batches out in turn, so the parts
            # together hold exactly the batches one process would see (a bucket of 1.5
            # batches keeps its one batch instead of becoming 0.75 on each of two parts)
            b = self.batch_size
            self.data = [np.concatenate([d[k * b:(k + 1) * b] for k in
                                         range(part_index, len(d) // b, num_parts)] or
                                        [d[:0]]).copy() for d in self._whole]
        else:
            self.data = [d.copy() for d in self._whole]
        self.num_parts, self.part_index = num_parts, part_index
        self.idx = []
        for i, buck in enumerate(self.data):
            self.idx.extend([(i, j) for j in range(0, len(buck) - self.batch_size + 1,
                                                   self.batch_size)])
        self.curr_idx = 0
        self._base = (list(self.idx), [d.copy() for d in self.data])
        self.reset()

    def shard(self, num_parts, part_index, even=True):
        """Keep only part ``part_index`` of ``num_parts`` from now on (``fit`` does this on
        each rank of a data-parallel job).  ``even``: each part gets ``n // num_parts`` of a
        bucket's ``n`` sentences, so every part yields the same number of batches; otherwise
        each bucket's batches are dealt out in turn, so the parts together yield exactly the
        batches of the whole data (some parts may get none).  Parts are cut from the whole
        data: ``shard(1, 0)`` restores it."""
        self._select(num_parts, part_index, even)
        return self

    def reset(self):
        self.curr_idx = 0
        # fresh permutations of the part's own order (not of the last epoch's): an epoch's
        # batches depend only on the random stream, which a checkpoint carries (exact resume)
        gen = _random.generator()
        base_idx, base_data = self._base
        order = gen.permutation(len(base_idx))
        self.idx = [base_idx[k] for k in order]
        self.data = [buck[gen.permutation(len(buck))] for buck in base_data]
        self.nddata = []
        self.ndlabel = []
        for buck in self.data:
            label = np.empty_like(buck)
            if buck.shape[1] > 0:
                label[:, :-1] = buck[:, 1:]
                label[:, -1] = self.invalid_label
            self.nddata.append(ndarray.array(buck, dtype=self.dtype))
            self.ndlabel.append(ndarray.array(label, dtype=self.dtype))

    def next(self):
        if self.curr_idx == len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        data = self.nddata[i][j:j + self.batch_size]
        label = self.ndlabel[i][j:j + self.batch_size]
        if self.major_axis == 1:
            data = data.T
            label = label.T
        return DataBatch([data], [label], pad=0, bucket_key=self.buckets[i],
                         provide_data=[DataDesc(name=self.data_name, shape=data.shape,
                                                layout=self.layout)],
                         provide_label=[DataDesc(name=self.label_name, shape=label.shape,
                                                 layout=self.layout)])
