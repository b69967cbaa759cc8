"""mx.io.LibSVMIter yields what MXNet 1.9.1's does (CSRNDArrays): the values, labels, pads
and epochs, MXNet's parts (num_parts/
part_index), and shard (Module.fit).  The expectations are MXNet's own, recorded over
tests/fixtures/recordio/data.t and label.t by tests/fixtures/make_recordio_fixtures.py."""
import doctest
import importlib.util
import json
import os

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
    EXPECT = json.load(_f)['libsvm']
ARRAYS = np.load(os.path.join(FIX, 'expect.npz'))
CASES = {c['name']: c for c in GEN.LIBSVM_CASES}


def test_every_case_was_recorded():
    assert set(EXPECT) == set(CASES)


@pytest.mark.parametrize('name', sorted(CASES))
def test_libsvm_iter_matches_mxnet(name):
    got, arrays = GEN.run_libsvm_case(mx, CASES[name], FIX)
    got = json.loads(json.dumps(got))
    want = EXPECT[name]
    if 'error' in want:
        assert 'number of input must be bigger than batch size' in want['error']
        assert 'error' in got and 'number of input must be bigger than batch size' in \
            got['error'] and 'batch of 30' in got['error'], got
        return
    assert got['provide_data'] == want['provide_data']
    assert got['provide_label'] == want['provide_label']
    assert [[(b['label'], b['pad']) for b in e] for e in got['epochs']] == \
        [[(b['label'], b['pad']) for b in e] for e in want['epochs']]
    assert arrays and set(arrays) == {k.split('/', 2)[2] for k in ARRAYS.files
                                      if k.startswith('libsvm/%s/' % name)}
    for key, data in arrays.items():
        np.testing.assert_array_equal(data, ARRAYS['libsvm/%s/%s' % (name, key)])


def test_batches_are_float32_of_the_data_shape():
    it = mx.io.LibSVMIter(data_libsvm=os.path.join(FIX, 'data.t'), data_shape=(7,),
                          batch_size=4)
    b = next(it)
    assert isinstance(b.data[0], mx.nd.NDArray) and b.data[0].dtype == np.float32
    assert b.data[0].shape == (4, 7)


def _labels(it):
    return [(b.label[0].asnumpy().astype(int).tolist(), b.pad) for b in it]


@pytest.mark.parametrize('k', [2, 3])
def test_shard_cuts_mxnets_parts(k):
    parts = []
    for r in range(k):
        epoch = EXPECT['part%d_of%d' % (r, k)]['epochs'][0]
        parts.append(sum([b['label'][:len(b['label']) - b['pad']] for b in epoch], []))
    assert sorted(sum(parts, [])) == list(range(12))
    it = mx.io.LibSVMIter(data_libsvm=os.path.join(FIX, 'data.t'), data_shape=(7,),
                          batch_size=1)
    for r in range(k):
        it.shard(k, r, even=False)
        assert [ids[0] for ids, _ in _labels(it)] == parts[r]
        it.shard(k, r)
        assert [ids[0] for ids, _ in _labels(it)] == parts[r][:min(len(p) for p in parts)]
    it.shard(1, 0)
    assert [ids[0] for ids, _ in _labels(it)] == list(range(12))


def test_errors_are_clear(tmp_path):
    with pytest.raises(mx.MXNetError, match='round_batch=False is not supported'):
        mx.io.LibSVMIter(data_libsvm=os.path.join(FIX, 'data.t'), data_shape=(7,),
                         batch_size=2, round_batch=False)
    with pytest.raises(mx.MXNetError, match=r'data.t line 1: feature index 6 is not below 5'):
        mx.io.LibSVMIter(data_libsvm=os.path.join(FIX, 'data.t'), data_shape=(5,),
                         batch_size=2)
    bad = tmp_path / 'bad.t'
    bad.write_text('1 0:1\n2 nonsense\n')
    with pytest.raises(mx.MXNetError, match=r'bad.t line 2: not LibSVM'):
        mx.io.LibSVMIter(data_libsvm=str(bad), data_shape=(3,), batch_size=1)


def test_libsvm_docstring_example_runs():
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(mx.io.LibSVMIter, 'LibSVMIter', globs={'mx': mx, 'np': np})
    assert tests and tests[0].examples
    assert runner.run(tests[0]).failed == 0


def test_libsvm_batches_are_csr_as_mxnet_gives_them(tmp_path):
    path = tmp_path / 'data.t'
    path.write_text('1 0:0.5 2:1.5\n0 1:2\n1 3:-1\n0 0:1\n')
    it = mx.io.LibSVMIter(data_libsvm=str(path), data_shape=(4,), batch_size=2)
    batch = next(it)
    assert batch.data[0].stype == 'csr'
    np.testing.assert_array_equal(batch.data[0].asnumpy(),
                                  [[0.5, 0, 1.5, 0], [0, 2, 0, 0]])
