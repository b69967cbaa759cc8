"""encode_sentences and BucketSentenceIter behave as MXNet 1.9.1's on a small corpus
(tests/fixtures/mxnet/rnn_io.json); batch order differs (distmod shuffles from mx.random), so
epochs are compared as collections: the same buckets, batch shapes and sentences."""
from collections import Counter

import numpy as np
import pytest

import distmod as mx

from ._common import load_json

FIX = load_json('rnn_io.json')
CORPUS = FIX['corpus']


def test_encode_default_matches_mxnet():
    enc, vocab = mx.rnn.encode_sentences(CORPUS)
    assert enc == FIX['encode_default']['sentences']
    assert vocab == FIX['encode_default']['vocab']


def test_encode_invalid_label_zero_matches_mxnet():
    enc, vocab = mx.rnn.encode_sentences(CORPUS, invalid_label=0, invalid_key='<pad>',
                                         start_label=0)
    assert enc == FIX['encode_invalid0']['sentences']
    assert vocab == FIX['encode_invalid0']['vocab']
    assert 0 not in [w for s in enc for w in s]


def test_encode_unknown_token_matches_mxnet():
    case = FIX['encode_unknown']
    enc, vocab = mx.rnn.encode_sentences(CORPUS[:4], vocab=dict(case['vocab_in']),
                                         unknown_token='<unk>', start_label=10)
    assert enc == case['sentences']
    assert vocab == case['vocab']


def test_encode_unknown_word_without_token_fails():
    assert FIX['encode_unknown_error'] == 'Unknown token sat'
    with pytest.raises(mx.MXNetError, match='Unknown token sat'):
        mx.rnn.encode_sentences(CORPUS[:2], vocab={'the': 5, 'cat': 6, 'dog': 7})


def _make(rec):
    kwargs = dict(rec['kwargs'])
    enc = FIX['encode_invalid0' if kwargs.get('invalid_label') == 0 else
              'encode_default']['sentences']
    return mx.rnn.BucketSentenceIter(enc, **kwargs)


def _desc(descs):
    return [[d.name, list(d.shape), d.layout] for d in descs]


def _rows(batch_data, layout):
    arr = np.asarray(batch_data)
    return arr.T if layout == 'TN' else arr


def _epoch_summary(batches, layout):
    """bucket keys counted, and per bucket the (data row, label row) pairs, as a Counter."""
    keys = Counter(b['bucket_key'] for b in batches)
    rows = {}
    for b in batches:
        pairs = zip(_rows(b['data'], layout).tolist(), _rows(b['label'], layout).tolist())
        rows.setdefault(b['bucket_key'], Counter()).update(tuple(map(tuple, p)) for p in pairs)
    return keys, rows


def _bucket_content(rec):
    """Every (data row, label row) each bucket can hold: the padded sentences, shifted."""
    kwargs = rec['kwargs']
    inv = kwargs.get('invalid_label', -1)
    enc = FIX['encode_invalid0' if inv == 0 else 'encode_default']['sentences']
    out = {}
    for sent in enc:
        fits = [b for b in rec['buckets'] if b >= len(sent)]
        if not fits:
            continue
        row = [float(w) for w in sent] + [float(inv)] * (fits[0] - len(sent))
        out.setdefault(fits[0], Counter())[(tuple(row), tuple(row[1:] + [float(inv)]))] += 1
    return out


def _our_batches(it):
    out = []
    for b in it:
        out.append({'bucket_key': b.bucket_key, 'pad': b.pad,
                    'data': b.data[0].asnumpy().tolist(), 'label': b.label[0].asnumpy().tolist(),
                    'provide_data': _desc(b.provide_data),
                    'provide_label': _desc(b.provide_label)})
    return out


@pytest.mark.parametrize('tag', sorted(FIX['iters']))
def test_bucket_iter_matches_mxnet(tag, capsys):
    rec = FIX['iters'][tag]
    it = _make(rec)
    assert 'WARNING: discarded' in capsys.readouterr().out
    assert it.buckets == rec['buckets']
    assert it.default_bucket_key == rec['default_bucket_key']
    assert _desc(it.provide_data) == rec['provide_data']
    assert _desc(it.provide_label) == rec['provide_label']
    layout = rec['kwargs'].get('layout', 'NT')
    for want in rec['epochs']:
        it.reset()
        got = _our_batches(it)
        assert len(got) == len(want)
        got_keys, got_rows = _epoch_summary(got, layout)
        want_keys, want_rows = _epoch_summary(want, layout)
        assert got_keys == want_keys
        content = _bucket_content(rec)
        for key, rows in want_rows.items():
            assert not rows - content[key]          # the fixture agrees with the corpus
            assert sum(got_rows[key].values()) == sum(rows.values())
            assert not got_rows[key] - content[key]
            if sum(content[key].values()) % it.batch_size == 0:
                assert got_rows[key] == rows        # no leftover: the very same sentences
        want_descs = sorted((b['bucket_key'], str(b['provide_data']), str(b['provide_label']),
                             b['pad']) for b in want)
        got_descs = sorted((b['bucket_key'], str(b['provide_data']), str(b['provide_label']),
                            b['pad']) for b in got)
        assert got_descs == want_descs


def test_label_is_data_shifted_and_dtype():
    enc, _ = mx.rnn.encode_sentences(CORPUS)
    it = mx.rnn.BucketSentenceIter(enc, batch_size=2, buckets=[4, 8], dtype='int32')
    for b in it:
        d, l = b.data[0].asnumpy(), b.label[0].asnumpy()
        assert d.dtype == np.int32
        np.testing.assert_array_equal(l[:, :-1], d[:, 1:])
        assert (l[:, -1] == -1).all()
        assert b.data[0].shape == (2, b.bucket_key)


def test_reset_reshuffles_from_mx_random():
    enc, _ = mx.rnn.encode_sentences(CORPUS * 4)

    def epochs(seed):
        mx.random.seed(seed)
        it = mx.rnn.BucketSentenceIter(enc, batch_size=2)
        out = []
        for _ in range(3):
            it.reset()
            out.append([(b.bucket_key, b.data[0].asnumpy().tolist()) for b in it])
        return out
    a, b = epochs(5), epochs(5)
    assert a == b                      # the same seed, the same epochs
    assert a[0] != a[1]                # each reset reshuffles
    assert a != epochs(6)


def _sentences(it):
    """The (padded) sentences an iterator holds, whatever batches they fall in."""
    return sorted(tuple(row) for buck in it.data for row in buck.tolist())


def _num_batches(it):
    it.reset()
    return sum(1 for _ in it)


def test_shard_parts_are_disjoint_and_even():
    enc, _ = mx.rnn.encode_sentences(CORPUS * 5)
    whole = mx.rnn.BucketSentenceIter(enc, batch_size=2)
    all_rows = _sentences(whole)
    n_whole = _num_batches(whole)
    parts = [mx.rnn.BucketSentenceIter(enc, batch_size=2, num_parts=3, part_index=i)
             for i in range(3)]
    counts = []
    seen = Counter()
    for p in parts:
        assert p.num_parts == 3
        assert p.default_bucket_key == whole.default_bucket_key
        assert _desc(p.provide_data) == _desc(whole.provide_data)
        for _ in range(2):
            p.reset()
            counts.append(Counter(b.bucket_key for b in p))
        seen.update(_sentences(p))
    assert all(c == counts[0] for c in counts)           # same batches per bucket, every part
    assert sum(counts[0].values()) * 3 <= n_whole
    whole_count = Counter(all_rows)
    assert all(seen[r] <= whole_count[r] for r in seen)  # no sentence in two parts


def test_shard_method_matches_constructor_and_restores():
    enc, _ = mx.rnn.encode_sentences(CORPUS * 5)
    it = mx.rnn.BucketSentenceIter(enc, batch_size=2)
    whole = _sentences(it)
    for i in range(2):
        ctor = mx.rnn.BucketSentenceIter(enc, batch_size=2, num_parts=2, part_index=i)
        assert it.shard(2, i) is it
        assert (it.num_parts, it.part_index) == (2, i)
        assert _sentences(it) == _sentences(ctor)
    it.shard(1, 0)
    assert it.num_parts == 1
    assert _sentences(it) == whole
    with pytest.raises(mx.MXNetError):
        it.shard(2, 2)


def test_uneven_shard_keeps_every_sentence():
    enc, _ = mx.rnn.encode_sentences(CORPUS * 3)
    it = mx.rnn.BucketSentenceIter(enc, batch_size=1)
    whole = _sentences(it)
    rows = []
    for i in range(4):
        it.shard(4, i, even=False)
        rows.extend(_sentences(it))
    assert sorted(rows) == whole


def test_time_major_batches():
    enc, _ = mx.rnn.encode_sentences(CORPUS)
    it = mx.rnn.BucketSentenceIter(enc, batch_size=2, buckets=[3, 7], layout='TN')
    assert it.provide_data[0].shape == (7, 2)
    assert it.provide_data[0].layout == 'TN'
    for b in it:
        assert b.data[0].shape == (b.bucket_key, 2)
        assert b.provide_label[0].shape == (b.bucket_key, 2)
    with pytest.raises(ValueError):
        mx.rnn.BucketSentenceIter(enc, batch_size=2, layout='TC')


def test_no_bucket_fails_clearly():
    with pytest.raises(mx.MXNetError):
        mx.rnn.BucketSentenceIter([[1, 2, 3]], batch_size=2)
    with pytest.raises(mx.MXNetError):
        mx.rnn.BucketSentenceIter([[1, 2, 3]], batch_size=1, buckets=[2])


def test_uneven_shard_deals_whole_batches_so_parts_hold_the_batches_of_the_whole():
    # a bucket of 6 sentences with batch 4 has one batch: split sentence by sentence over 2
    # or 3 parts no part would have a whole batch (validation on N ranks saw nothing)
    enc = [[1, 2, 3, 4]] * 6 + [[1, 2]] * 9
    it = mx.rnn.BucketSentenceIter(enc, batch_size=4, buckets=[2, 4])
    whole = sorted(b.bucket_key for b in it)
    assert whole == [2, 2, 4]
    for n in (2, 3):
        keys = []
        for i in range(n):
            it.shard(n, i, even=False)
            part = [b.bucket_key for b in it]
            it.reset()
            assert sorted(part) == sorted(b.bucket_key for b in it)     # stable over epochs
            keys.extend(part)
        assert sorted(keys) == whole
    it.shard(1, 0)
