"""mx.io iterators yield what MXNet 1.9.1's yield, batch by batch: shapes, pads, batch counts and
the very samples in each row, at sizes below one batch, at exact multiples and one past, over
several epochs with reset(); for NDArrayIter (pad/discard/roll_over), MNISTIter, CSVIter
(round_batch), ResizeIter, PrefetchingIter, and their parts (num_parts/part_index, shard).

The expectations, tests/fixtures/io_batches/*.json, were recorded by MXNet itself with
tests/fixtures/make_io_fixtures.py (see the README there); the same script's ``replay`` runs
each case here with distmod, so both libraries get the same arguments, calls and files.
"""
import doctest
import importlib.util
import json
import logging
import os

import numpy as np
import pytest

import distmod as mx

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, 'fixtures', 'io_batches')


def _generator():
    spec = importlib.util.spec_from_file_location(
        'make_io_fixtures', os.path.join(HERE, 'fixtures', 'make_io_fixtures.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()


def _load(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


ITERS = _load('iterators.json')
PREDICT = _load('predict.json')
CASES = {c['name']: c for c in ITERS['cases']}


def test_fixtures_are_mxnets_and_match_the_generator():
    assert ITERS['mxnet'] == PREDICT['mxnet'] == '1.9.1'
    recorded = [{k: v for k, v in c.items() if k != 'expect'} for c in ITERS['cases']]
    assert recorded == json.loads(json.dumps(GEN.CASES)), 'regenerate the fixtures'
    assert len(CASES) == len(ITERS['cases'])


def _same_batch(got, want, where):
    for key in ('data_shape', 'label_shape', 'pad', 'more_data'):
        assert got.get(key) == want.get(key), '%s: %s %s != MXNet %s' % (
            where, key, got.get(key), want.get(key))
    for key in ('ids', 'labels'):
        if want[key] is None:
            assert got[key] is None, where
            continue
        # None in MXNet's record: a row of uninitialised memory, anything goes here
        bad = [j for j, (g, w) in enumerate(zip(got[key], want[key])) if w is not None and g != w]
        assert not bad and len(got[key]) == len(want[key]), '%s: %s %s != MXNet %s' % (
            where, key, got[key], want[key])


def _check_error_message(case, message):
    """distmod's errors name the iterator and the sizes."""
    kind = case['iter'] if case['iter'] not in ('ResizeIter', 'PrefetchingIter') else \
        (case.get('inner') or case['inners'][0])['iter']
    assert kind in message, message
    b = (case.get('inner') or (case.get('inners') or [case])[0])['kwargs']['batch_size']
    assert 'batch' in message and str(b) in message, message


def _compare(case, got, want):
    name = case['name']
    if want['ctor'] is not None:
        # MXNet raised when made (MNISTIter: a bare StopIteration): here a clear MXNetError
        assert got['ctor'] is not None and got['ctor']['error'] == 'MXNetError', \
            '%s: MXNet raised %s when made, distmod gave %s' % (name, want['ctor'], got)
        _check_error_message(case, got['ctor']['message'])
        return
    assert got['ctor'] is None, '%s: distmod raised %s' % (name, got['ctor'])
    assert got['provide'] == want['provide'], name
    assert len(got['ops']) == len(want['ops']), '%s: ops %s vs MXNet %s' % (
        name, got['ops'], want['ops'])
    for i, (op, g, w) in enumerate(zip(case['ops'], got['ops'], want['ops'])):
        where = '%s op %d (%s)' % (name, i, op)
        if isinstance(w, dict):                 # MXNet raised here
            assert isinstance(g, dict), '%s: MXNet raised %s, distmod gave %s' % (where, w, g)
            assert g['error'] == w['error'], '%s: %s vs MXNet %s' % (where, g, w)
            if w['error'] == 'MXNetError':
                _check_error_message(case, g['message'])
            g, w = g.get('batches', []), w.get('batches', [])
        assert not isinstance(g, dict), '%s: distmod raised %s' % (where, g)
        if w is None:
            assert g is None, where
            continue
        assert len(g) == len(w), '%s: %d batches, MXNet %d\n%s\n%s' % (
            where, len(g), len(w), [b['ids'] for b in g], [b['ids'] for b in w])
        for j, (gb, wb) in enumerate(zip(g, w)):
            _same_batch(gb, wb, '%s batch %d' % (where, j))


# deliberate differences from MXNet, each pinned by its own test below
DEVIATIONS = {'CSVIter/n10_b2/mxnet_ignores_num_parts'}


def _part_without_a_batch(case):
    """A distmod part (``shard``) smaller than one batch where only full batches come."""
    if 'shard' not in case:
        return False
    lo, hi = case['rows']
    mode = 'discard' if case['iter'] == 'MNISTIter' else \
        case['kwargs'].get('last_batch_handle', 'pad')
    return case['iter'] != 'CSVIter' and mode in ('discard', 'roll_over') and \
        hi - lo < case['kwargs']['batch_size']


@pytest.mark.parametrize('name', sorted(set(CASES) - DEVIATIONS))
def test_batches_match_mxnet(name):
    case = CASES[name]
    got = json.loads(json.dumps(GEN.replay(mx, case, FIX, sharded='shard' in case)))
    if _part_without_a_batch(case):
        spec = case['shard']
        if spec['even']:
            # training parts: no rank would have a batch; distmod says so when sharding
            # (MXNet over such a slice yields no batch, or raises in a later epoch)
            assert got['ctor'] is not None and got['ctor']['error'] == 'MXNetError', got
            assert 'part %d of %d' % (spec['part_index'], spec['num_parts']) in \
                got['ctor']['message']
            _check_error_message(case, got['ctor']['message'])
            return
        if case['expect']['ctor'] is not None:
            # validation parts may be empty of batches (other parts hold the data); MXNet's
            # MNISTIter made over such a part alone raises a bare StopIteration
            assert case['expect']['ctor']['error'] == 'StopIteration'
            assert got['ctor'] is None and all(r in (None, []) for r in got['ops']), got
            return
    _compare(case, got, case['expect'])


def test_csv_num_parts_shards_where_mxnet_reads_every_row():
    """MXNet 1.9.1's CSVIter has no num_parts/part_index and silently reads every row;
    distmod's reads the part, as NDArrayIter's (and its fit on several ranks) do."""
    case = CASES['CSVIter/n10_b2/mxnet_ignores_num_parts']
    assert [b['ids'] for b in case['expect']['ops'][0]] == \
        [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    got = GEN.replay(mx, case, FIX)
    assert [(b['ids'], b['pad']) for b in got['ops'][0]] == \
        [([5, 6], 0), ([7, 8], 0), ([9, 5], 1)]
    # exactly what MXNet's CSVIter does over a file of those rows
    part = CASES['CSVIter/n10_b2/part1_of2_even_ctor']
    assert [(b['ids'], b['pad']) for b in part['expect']['ops'][0]] == \
        [(b['ids'], b['pad']) for b in got['ops'][0]]


# ---- the issue: 10 samples, batch 32 -----------------------------------------------------
def test_ten_samples_batch_32_pads_to_a_full_batch_and_predicts_ten_rows():
    x = GEN.samples(40)
    y = np.arange(40, dtype=np.float32)
    it = mx.io.NDArrayIter(x[:10], y[:10], batch_size=32)
    batches = list(it)
    assert [(b.data[0].shape, b.label[0].shape, b.pad) for b in batches] == \
        [((32, 20), (32,), 22)]
    rows = batches[0].data[0].asnumpy()[:, 0].astype(int).tolist()
    assert rows == (list(range(10)) * 4)[:32]           # the data wrapped around, as MXNet
    mod = mx.mod.Module(GEN.predict_net(mx), data_names=['data'], label_names=None)
    mod.bind(data_shapes=it.provide_data, for_training=False)
    mod.init_params(arg_params={'fc_weight': mx.nd.array(np.eye(3, 20, dtype=np.float32))})
    pred = mod.predict(it)
    assert pred.shape == (10, 3)
    np.testing.assert_array_equal(pred.asnumpy(), x[:10, :3])
    assert mod.predict(x[:10]).shape == (10, 3)          # an array: batches of the bound 32


@pytest.mark.parametrize('case', PREDICT['cases'], ids=[c['name'] for c in PREDICT['cases']])
def test_module_predict_returns_what_mxnet_returns(case):
    assert GEN.run_predict(mx, case) == case['expect']


# ---- errors and warnings -----------------------------------------------------------------
def test_discard_with_fewer_samples_than_a_batch_yields_nothing_and_warns(caplog):
    with caplog.at_level(logging.WARNING):
        it = mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=32, last_batch_handle='discard')
    assert list(it) == [] and list(it) == []                 # as MXNet: no batch, no error
    assert 'NDArrayIter: 10 samples, fewer than batch_size 32' in caplog.text


def test_roll_over_that_cannot_fill_a_batch_raises_naming_the_sizes():
    it = mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=32, last_batch_handle='roll_over')
    assert list(it) == []
    it.reset()
    with pytest.raises(mx.MXNetError, match=r"roll_over.*batch of 32 from the 10 samples rolled "
                                            r"over.*10 samples of the data"):
        next(it)


def test_mnist_with_fewer_images_than_a_batch_raises_naming_the_sizes():
    with pytest.raises(mx.MXNetError, match=r'MNISTIter: batch_size 32 is larger than the 10 '
                                            r'images of .*mnist_n10_images.idx'):
        mx.io.MNISTIter(image=os.path.join(FIX, 'mnist_n10_images.idx'),
                        label=os.path.join(FIX, 'mnist_n10_labels.idx'), batch_size=32)
    with pytest.raises(mx.MXNetError, match=r'part 0 of 3\)'):
        mx.io.MNISTIter(image=os.path.join(FIX, 'mnist_n10_images.idx'),
                        label=os.path.join(FIX, 'mnist_n10_labels.idx'), batch_size=4,
                        num_parts=3, part_index=0)


def test_csv_round_batch_that_cannot_fill_a_batch_raises_and_stays_broken():
    csv = os.path.join(FIX, 'csv_n10_data.csv')
    with pytest.raises(mx.MXNetError, match=r'CSVIter: round_batch cannot fill a batch of 32: '
                                            r'the 10 rows of .*csv_n10_data.csv'):
        mx.io.CSVIter(data_csv=csv, data_shape=(2,), batch_size=32)
    it = mx.io.CSVIter(data_csv=csv, data_shape=(2,), batch_size=16)
    assert [b.pad for b in it] == [6]
    it.reset()
    with pytest.raises(mx.MXNetError, match='batch of 16'):
        next(it)
    with pytest.raises(mx.MXNetError, match='batch of 16'):     # as MXNet's: broken for good
        it.reset()
    it = mx.io.CSVIter(data_csv=csv, data_shape=(2,), batch_size=32, round_batch=False)
    assert [(b.data[0].shape, b.pad) for b in it] == [((32, 2), 22)]


@pytest.mark.parametrize('mode', ['discard', 'roll_over'])
def test_even_parts_smaller_than_a_batch_raise_naming_part_and_sizes(mode):
    with pytest.raises(mx.MXNetError, match=r"NDArrayIter.shard: part 1 of 2 has 5 samples, "
                                            r"fewer than batch_size 32 with last_batch_handle"):
        mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=32, last_batch_handle=mode).shard(2, 1)
    with pytest.raises(mx.MXNetError, match=r'NDArrayIter: part 0 of 2 has 5 samples'):
        mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=32, last_batch_handle=mode,
                          num_parts=2, part_index=0)
    # uneven parts (validation) may be empty of batches: no sample is lost by that
    it = mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=32, last_batch_handle=mode)
    assert list(it.shard(2, 1, even=False)) == []


# ---- parts together ------------------------------------------------------------------------
def _unpadded_ids(it):
    out = []
    for b in it:
        ids = b.data[0].asnumpy()[:, 0].astype(int).tolist()
        out.append(ids[:len(ids) - b.pad])
    return out


@pytest.mark.parametrize('k', [2, 3])
@pytest.mark.parametrize('n,b', [(10, 32), (9, 4), (64, 32), (65, 32), (66, 32), (7, 3)])
def test_parts_cover_the_data_as_documented(k, n, b):
    x = GEN.samples(n, 2)
    # even (training): n // k each, the same number of batches on every part
    parts = [_unpadded_ids(mx.io.NDArrayIter(x, batch_size=b).shard(k, r)) for r in range(k)]
    assert len({len(p) for p in parts}) == 1
    flat = sorted(i for p in parts for batch in p for i in batch)
    assert flat == list(range(k * (n // k)))
    # uneven (validation): every sample once
    parts = [_unpadded_ids(mx.io.NDArrayIter(x, batch_size=b).shard(k, r, even=False))
             for r in range(k)]
    assert sorted(i for p in parts for batch in p for i in batch) == list(range(n))
    # and whole again
    it = mx.io.NDArrayIter(x, batch_size=b).shard(k, k - 1).shard(1, 0)
    assert sorted(i for batch in _unpadded_ids(it) for i in batch) == list(range(n))


def test_wrappers_shard_what_they_wrap():
    x = GEN.samples(10, 2)
    inner = mx.io.NDArrayIter(x, batch_size=4)
    r = mx.io.ResizeIter(inner, 3)
    assert r.num_parts == 1 and r.shard is not None
    r.shard(2, 1)
    assert r.num_parts == 2 and inner.num_parts == 2
    assert [(b.data[0].asnumpy()[:, 0].astype(int).tolist(), b.pad) for b in r] == \
        [([5, 6, 7, 8], 0), ([9, 5, 6, 7], 3), ([5, 6, 7, 8], 0)]
    p = mx.io.PrefetchingIter(mx.io.NDArrayIter(x, batch_size=4))
    next(p)                                     # a read in flight when sharded
    p.shard(2, 0)
    assert p.num_parts == 2
    for _ in range(2):
        assert [(b.data[0].asnumpy()[:, 0].astype(int).tolist(), b.pad) for b in p] == \
            [([0, 1, 2, 3], 0), ([4, 0, 1, 2], 3)]
        p.reset()
    p.shard(1, 0)
    assert len(list(p)) == 3
    p.close()

    class Plain(mx.io.DataIter):
        provide_data = [mx.io.DataDesc('data', (4, 2))]
        provide_label = []
    assert mx.io.ResizeIter(Plain(4), 2).shard is None       # fit then says it cannot shard
    q = mx.io.PrefetchingIter(Plain(4))
    assert q.shard is None
    q.close()


def test_user_given_parts_are_left_alone_by_fit():
    """fit shards an iterator only when it is whole (num_parts 1), wrappers included."""
    it = mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=4, num_parts=2, part_index=1)
    assert mx.io.ResizeIter(it, 2).num_parts == 2
    p = mx.io.PrefetchingIter(it)
    assert p.num_parts == 2
    p.close()


def test_prefetching_iter_joined_pads_must_agree():
    a = mx.io.NDArrayIter(np.zeros((10, 2)), batch_size=4)
    b = mx.io.NDArrayIter(np.zeros((11, 2)), batch_size=4, data_name='d2')
    p = mx.io.PrefetchingIter([a, b])
    next(p), next(p)
    with pytest.raises(mx.MXNetError, match='different lengths or pads'):
        next(p)
    p.close()


def test_io_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    tests = [t for t in finder.find(mx.io, 'mx.io', globs={'mx': mx, 'np': np}) if t.examples]
    assert tests
    for t in tests:
        assert runner.run(t).failed == 0, t.name
