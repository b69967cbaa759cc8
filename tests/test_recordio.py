"""mx.recordio and mx.io.ImageRecordIter read and write what MXNet 1.9.1 does.

tests/fixtures/recordio/ was made by MXNet itself (tests/fixtures/make_recordio_fixtures.py,
see the README there): ``raw.rec`` holds awkward payloads written by MXNet's MXRecordIO (the
magic inside them at aligned and unaligned offsets), ``imgs.rec``/``passthrough.rec`` are
``im2rec`` output, ``labels.rec`` is ``pack_img`` output, and ``expect.json``/``expect.npz``
hold the batches MXNet's ImageRecordIter gave over them.  The generator's ``run_rec_case``
replays each case here with distmod: the same arguments, calls and files.
"""
import importlib.util
import json
import os
import pickle

import numpy as np
import pytest

import distmod as mx

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, 'fixtures', 'recordio')


def _generator():
    spec = importlib.util.spec_from_file_location(
        'make_recordio_fixtures', os.path.join(HERE, 'fixtures', 'make_recordio_fixtures.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
with open(os.path.join(FIX, 'expect.json')) as _f:
    EXPECT = json.load(_f)
ARRAYS = np.load(os.path.join(FIX, 'expect.npz'))
REC = {c['name']: c for c in GEN.REC_CASES}


def test_fixtures_are_mxnets_and_cover_every_case():
    assert EXPECT['mxnet'] == '1.9.1'
    assert set(EXPECT['rec']) == set(REC)


# ---- MXRecordIO: MXNet's bytes ------------------------------------------------------------
def test_reader_reads_mxnets_records(tmp_path):
    r = mx.recordio.MXRecordIO(os.path.join(FIX, 'raw.rec'), 'r')
    got = []
    while True:
        s = r.read()
        if s is None:
            break
        got.append(s)
    assert got == GEN.PAYLOADS
    r.reset()
    assert r.read() == GEN.PAYLOADS[0]
    r.close()


def test_writer_writes_mxnets_bytes(tmp_path):
    path = str(tmp_path / 'raw.rec')
    w = mx.recordio.MXRecordIO(path, 'w')
    for p in GEN.PAYLOADS:
        w.write(p)
    w.close()
    with open(path, 'rb') as a, open(os.path.join(FIX, 'raw.rec'), 'rb') as b:
        assert a.read() == b.read()


def test_indexed_writer_writes_mxnets_rec_and_idx(tmp_path):
    idx, rec = str(tmp_path / 'a.idx'), str(tmp_path / 'a.rec')
    w = mx.recordio.MXIndexedRecordIO(idx, rec, 'w')
    for k, p in enumerate(GEN.PAYLOADS):
        w.write_idx(10 * k, p)
    w.close()
    for ours, theirs in ((idx, 'raw_idx.idx'), (rec, 'raw_idx.rec')):
        with open(ours, 'rb') as a, open(os.path.join(FIX, theirs), 'rb') as b:
            assert a.read() == b.read(), theirs
    r = mx.recordio.MXIndexedRecordIO(os.path.join(FIX, 'raw_idx.idx'),
                                      os.path.join(FIX, 'raw_idx.rec'), 'r')
    assert r.keys == [10 * k for k in range(len(GEN.PAYLOADS))]
    for k in reversed(r.keys):
        assert r.read_idx(k) == GEN.PAYLOADS[k // 10]
    r.close()


def test_tell_and_seek_are_record_offsets(tmp_path):
    path = str(tmp_path / 't.rec')
    w = mx.recordio.MXRecordIO(path, 'w')
    offsets = []
    for p in GEN.PAYLOADS:
        offsets.append(w.tell())
        w.write(p)
    w.close()
    assert [o for o, _ in mx.recordio.scan_records(path)] == offsets
    r = mx.recordio.MXRecordIO(path, 'r')
    r.seek(offsets[7])
    assert r.read() == GEN.PAYLOADS[7]
    assert r.tell() == offsets[8]
    r.close()


def test_a_writer_reset_empties_the_file_and_pickling_reopens(tmp_path):
    path = str(tmp_path / 'p.rec')
    w = mx.recordio.MXRecordIO(path, 'w')
    w.write(b'first')
    w.reset()
    w.write(b'second')
    w.close()
    r = mx.recordio.MXRecordIO(path, 'r')
    assert r.read() == b'second'
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.is_open and r2.read() == b'second' and r2.read() is None
    r.close()
    r2.close()


def test_bad_files_and_flags_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match='Invalid flag x'):
        mx.recordio.MXRecordIO(str(tmp_path / 'x.rec'), 'x')
    bad = tmp_path / 'bad.rec'
    bad.write_bytes(b'not a recordio file')
    r = mx.recordio.MXRecordIO(str(bad), 'r')
    with pytest.raises(mx.MXNetError, match='Invalid RecordIO file.*bad.rec'):
        r.read()
    with pytest.raises(mx.MXNetError, match='cannot open RecordIO file'):
        mx.recordio.MXRecordIO(str(tmp_path / 'missing.rec'), 'r')


# ---- pack/unpack ----------------------------------------------------------------------------
@pytest.mark.parametrize('header', sorted(EXPECT['pack']))
def test_pack_gives_mxnets_bytes(header):
    h = json.loads(header)
    got = mx.recordio.pack(mx.recordio.IRHeader(*h), b'img')
    assert got.hex() == EXPECT['pack'][header]
    back, s = mx.recordio.unpack(got)
    assert s == b'img' and back.id == h[2] and back.id2 == h[3]
    if isinstance(h[1], list):
        assert back.flag == len(h[1]) and back.label.tolist() == h[1]
    else:
        assert back.flag == 0 and back.label == h[1]


def test_unpack_img_reads_mxnets_pack_img_and_round_trips():
    pytest.importorskip('PIL')
    r = mx.recordio.MXIndexedRecordIO(os.path.join(FIX, 'labels.idx'),
                                      os.path.join(FIX, 'labels.rec'), 'r')
    for i in r.keys:
        header, img = mx.recordio.unpack_img(r.read_idx(i))
        assert header.id == i and header.label.tolist() == [i, 100 + i]
        want = GEN.labelled_pixels(i)[:, :, ::-1]             # BGR, as OpenCV
        np.testing.assert_array_equal(img, want)
        # ours: PNG is lossless, JPEG close
        again = mx.recordio.unpack_img(mx.recordio.pack_img(header, img, img_fmt='.png'))[1]
        np.testing.assert_array_equal(again, want)
        jpg = mx.recordio.unpack_img(mx.recordio.pack_img(header, img, quality=100), 1)[1]
        assert np.abs(jpg.astype(int) - want).max() <= 3
        gray = mx.recordio.unpack_img(mx.recordio.pack_img(header, img, img_fmt='.png'), 0)[1]
        assert gray.shape == img.shape[:2]
    r.close()


# ---- ImageRecordIter: MXNet's batches ------------------------------------------------------
def _compare(name, got, got_arrays, want, group='rec', allow_pad=None):
    if 'error' in want:
        assert 'error' in got, '%s: MXNet raised %s, distmod did not' % (name, want['error'])
        assert 'number of input' in want['error'] and 'bigger than' in want['error']
        assert 'number of input' in got['error'] and 'bigger than' in got['error'], got
        return
    assert 'error' not in got, '%s: distmod raised %s' % (name, got['error'])
    assert got['provide_data'] == want['provide_data'], name
    assert got['provide_label'] == want['provide_label'], name
    assert ('error_later' in got) == ('error_later' in want), (name, got.get('error_later'))
    assert len(got['epochs']) == len(want['epochs']), name
    for e, (g, w) in enumerate(zip(got['epochs'], want['epochs'])):
        assert len(g) == len(w), '%s epoch %d: %d batches, MXNet %d' % (name, e, len(g), len(w))
        for j, (gb, wb) in enumerate(zip(g, w)):
            where = '%s epoch %d batch %d' % (name, e, j)
            if allow_pad is None:
                assert gb['pad'] == wb['pad'], where
            else:
                assert (gb['pad'], wb['pad']) in allow_pad, where
            for row, (gl, wl) in enumerate(zip(gb['label'], wb['label'])):
                if wl is not None:
                    assert gl == wl, '%s row %d: label %s, MXNet %s' % (where, row, gl, wl)
    assert got.get('data_dtype') == want.get('data_dtype'), name
    for key, data in got_arrays.items():
        want_data = ARRAYS['%s/%s/%s' % (group, name, key)].astype(data.dtype)
        data = data[:len(want_data)]
        if not np.array_equal(data, want_data):
            diff = np.abs(data.astype(np.float64) - want_data)
            raise AssertionError('%s %s: %d values differ from MXNet\'s (max %g)'
                                 % (name, key, int((diff > 0).sum()), diff.max()))


@pytest.mark.parametrize('name', sorted(set(REC) - {'labels_no_round_batch'}))
def test_image_record_iter_matches_mxnet(name):
    pytest.importorskip('PIL')
    got, arrays = GEN.run_rec_case(mx, REC[name], FIX)
    got = json.loads(json.dumps(got))
    _compare(name, got, arrays, EXPECT['rec'][name])


def test_without_round_batch_pad_says_how_many_rows_are_not_data():
    """MXNet 1.9.1's ImageRecordIter reports pad 0 for a last batch that it only partly
    fills (round_batch=False); distmod says how many rows hold no record (here 2).  The
    rows that do are MXNet's."""
    pytest.importorskip('PIL')
    name = 'labels_no_round_batch'
    got, arrays = GEN.run_rec_case(mx, REC[name], FIX)
    got = json.loads(json.dumps(got))
    want = EXPECT['rec'][name]
    assert [[b['pad'] for b in e] for e in want['epochs']] == [[0, 0, 0]] * 2
    assert [[b['pad'] for b in e] for e in got['epochs']] == [[0, 0, 2]] * 2
    _compare(name, got, arrays, want, allow_pad={(0, 0), (2, 0)})
    # the two rows past the data hold what the batch before had there
    it = mx.io.ImageRecordIter(**GEN._paths(REC[name]['kwargs'], FIX))
    batches = list(it)
    np.testing.assert_array_equal(batches[2].label[0].asnumpy()[2:],
                                  batches[1].label[0].asnumpy()[2:])


def _labels(it):
    """[(first labels of each batch, pad)] of an epoch."""
    return [(b.label[0].asnumpy()[:, 0].astype(int).tolist(), b.pad) for b in it]


def _mxnet_part(k, r, idx):
    """The records MXNet's part r of k holds (from its first epoch, pad rows left out)."""
    epoch = EXPECT['rec']['labels_part%d_of%d%s' % (r, k, '_idx' if idx else '')]['epochs'][0]
    out = []
    for b in epoch:
        rows = b['label'][:len(b['label']) - b['pad']]
        out += [int(l[0]) for l in rows]
    return out


@pytest.mark.parametrize('idx', [False, True])
@pytest.mark.parametrize('k', [2, 3])
def test_shard_cuts_mxnets_parts(k, idx):
    pytest.importorskip('PIL')
    kw = GEN._paths({'path_imgrec': 'labels.rec', 'data_shape': [3, 4, 4], 'batch_size': 1,
                     'label_width': 2, 'dtype': 'uint8'}, FIX)
    if idx:
        kw['path_imgidx'] = os.path.join(FIX, 'labels.idx')
    parts = [_mxnet_part(k, r, idx) for r in range(k)]
    assert sorted(sum(parts, [])) == list(range(10))      # MXNet's parts: every record once
    it = mx.io.ImageRecordIter(**kw)
    for r in range(k):
        # validation: exactly MXNet's part
        it.shard(k, r, even=False)
        assert it.num_parts == k and it.part_index == r
        assert [ids[0] for ids, _ in _labels(it)] == parts[r]
        # training: MXNet's part, cut to the shortest so every rank runs as many batches
        it.shard(k, r)
        shortest = min(len(p) for p in parts)
        assert [ids[0] for ids, _ in _labels(it)] == parts[r][:shortest]
    it.shard(1, 0)
    assert [ids[0] for ids, _ in _labels(it)] == list(range(10))
    it.close()


def test_shard_batches_as_mxnet_does_over_the_part():
    """After shard(k, r, even=False) the iterator yields what MXNet's num_parts/part_index
    iterator yields: the same records, pads and epochs."""
    pytest.importorskip('PIL')
    for name in ('labels_part0_of3', 'labels_part1_of2_idx'):
        case = REC[name]
        kw = dict(case['kwargs'])
        k, r = kw.pop('num_parts'), kw.pop('part_index')
        it = mx.io.ImageRecordIter(**GEN._paths(kw, FIX)).shard(k, r, even=False)
        want = EXPECT['rec'][name]['epochs']
        for epoch in want:
            got = [(b.label[0].asnumpy().tolist(), b.pad) for b in it]
            assert got == [(b['label'], b['pad']) for b in epoch], name
            it.reset()


def test_fit_shards_an_image_record_iter(caplog):
    """Module.fit's sharding reaches ImageRecordIter through shard (here one rank: a
    part of one is the whole)."""
    pytest.importorskip('PIL')
    it = mx.io.ImageRecordIter(path_imgrec=os.path.join(FIX, 'labels.rec'), data_shape=(3, 4, 4),
                               batch_size=5, label_width=2)
    assert it.num_parts == 1 and callable(it.shard)
    data = mx.sym.Variable('data')
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(mx.sym.Flatten(data),
                                                              num_hidden=2, name='fc'),
                                        name='softmax')
    mod = mx.mod.Module(net, label_names=['softmax_label'])
    mod.fit(it, num_epoch=1, optimizer_params={'learning_rate': 1e-6})
    assert mod.score(it, 'mse')[0][0] == 'mse'


def test_errors_name_the_record_and_the_sizes(tmp_path):
    pytest.importorskip('PIL')
    with pytest.raises(mx.MXNetError, match=r'input image size 6x5 .* smaller than input '
                                            r'shape 8x8'):
        mx.io.ImageRecordIter(path_imgrec=os.path.join(FIX, 'labels.rec'),
                              data_shape=(3, 8, 8), batch_size=2, label_width=2)
    with pytest.raises(mx.MXNetError, match='rec file provide 2-dimensional label but '
                                            'label_width is set to 1'):
        mx.io.ImageRecordIter(path_imgrec=os.path.join(FIX, 'labels.rec'),
                              data_shape=(3, 4, 4), batch_size=2)
    with pytest.raises(mx.MXNetError, match='max_rotate_angle not supported'):
        mx.io.ImageRecordIter(path_imgrec=os.path.join(FIX, 'labels.rec'),
                              data_shape=(3, 4, 4), batch_size=2, max_rotate_angle=10)
    with pytest.raises(mx.MXNetError, match='part 2 of 3 .* holds no record'):
        mx.io.ImageRecordIter(path_imgrec=os.path.join(FIX, 'labels.rec'), label_width=2,
                              data_shape=(3, 4, 4), batch_size=2, num_parts=3, part_index=2,
                              path_imgidx=str(_one_record_idx(tmp_path)))
    broken = tmp_path / 'broken.rec'
    w = mx.recordio.MXRecordIO(str(broken), 'w')
    w.write(mx.recordio.pack(mx.recordio.IRHeader(0, 1.0, 42, 0), b'not an image'))
    w.close()
    with pytest.raises(mx.MXNetError, match=r'record 0 \(id 42, byte 0 of .*broken.rec\): '
                                            r'imdecode'):
        mx.io.ImageRecordIter(path_imgrec=str(broken), data_shape=(3, 4, 4), batch_size=1)


def _one_record_idx(tmp_path):
    p = tmp_path / 'one.idx'
    p.write_text('0\t0\n')
    return p


def test_rand_crop_and_mirror_repeat_with_the_seed_and_stay_in_the_image():
    pytest.importorskip('PIL')
    kw = dict(path_imgrec=os.path.join(FIX, 'passthrough.rec'), data_shape=(3, 12, 12),
              batch_size=4, rand_crop=True, rand_mirror=True, shuffle=True, dtype='uint8',
              preprocess_threads=3, prefetch_buffer=2)

    def epochs(seed):
        it = mx.io.ImageRecordIter(seed=seed, **kw)
        out = []
        for _ in range(2):
            out.append([(b.data[0].asnumpy(), b.label[0].asnumpy()) for b in it])
            it.reset()
        it.close()
        return out
    a, b, c = epochs(3), epochs(3), epochs(4)
    for x, y in zip(sum(a, []), sum(b, [])):
        np.testing.assert_array_equal(x[0], y[0])
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(sum(a, []), sum(c, [])))
    # every label of the file, each epoch, in some order
    for epoch in a:
        labels = np.concatenate([lab for _, lab in epoch])
        assert sorted(labels[:8].tolist()) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_reset_in_the_middle_of_an_epoch_starts_over_whatever_was_read_ahead():
    pytest.importorskip('PIL')
    it = mx.io.ImageRecordIter(path_imgrec=os.path.join(FIX, 'labels.rec'), data_shape=(3, 4, 4),
                               batch_size=3, label_width=2, prefetch_buffer=3)
    whole = _labels(it)
    it.reset()
    next(it)
    next(it)
    it.reset()
    assert _labels(it) == whole
    it.close()


def test_uint8_iter_and_mean_image(tmp_path):
    pytest.importorskip('PIL')
    kw = dict(path_imgrec=os.path.join(FIX, 'passthrough.rec'), data_shape=(3, 16, 16),
              batch_size=8, resize=20)
    raw = next(mx.io.ImageRecordUInt8Iter(**kw)).data[0].asnumpy()
    assert raw.dtype == np.uint8
    mean_file = str(tmp_path / 'mean.nd')
    it = mx.io.ImageRecordIter(mean_img=mean_file, **kw)          # computed and saved
    mean = mx.nd.load(mean_file)['mean_img'].asnumpy()
    np.testing.assert_allclose(mean, raw.astype(np.float64).mean(axis=0), rtol=1e-6)
    got = next(it).data[0].asnumpy()
    np.testing.assert_array_equal(got, raw.astype(np.float32) - mean)
    again = next(mx.io.ImageRecordIter(mean_img=mean_file, **kw)).data[0].asnumpy()
    np.testing.assert_array_equal(again, got)                     # read back


def test_io_docstrings_name_pillow_extra():
    assert "distmod[image]" in mx.io.ImageRecordIter.__doc__
    assert 'CSRNDArray' in mx.io.LibSVMIter.__doc__


def test_recordio_docstring_examples_run():
    import doctest
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    tests = [t for t in finder.find(mx.recordio, 'mx.recordio', globs={'mx': mx, 'np': np})
             if t.examples]
    assert len(tests) >= 3
    for t in tests:
        assert runner.run(t).failed == 0, t.name
