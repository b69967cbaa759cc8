"""ImageRecordIter and LibSVMIter across ranks (``mpiexec -n 2``/``-n 3``, ``pytest
--with-mpi``): each rank's ``num_parts``/``part_index`` part is MXNet 1.9.1's, batch for
batch (tests/fixtures/recordio/, see tests/test_recordio.py); the parts together hold every
record once; and ``Module.fit``, handed the whole iterator, shards it (``shard``) so that
every rank runs as many batches, validates on parts that together hold every record, and
makes it whole again."""
import importlib.util
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(TESTS, 'fixtures', 'recordio')


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _generator():
    spec = importlib.util.spec_from_file_location(
        'make_recordio_fixtures', os.path.join(TESTS, 'fixtures', 'make_recordio_fixtures.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
with open(os.path.join(FIX, 'expect.json')) as _f:
    EXPECT = json.load(_f)
REC = {c['name']: c for c in GEN.REC_CASES}
SVM = {c['name']: c for c in GEN.LIBSVM_CASES}


def _rank_and_size():
    comm = _comm()
    if comm.size not in (2, 3):
        pytest.skip('fixtures for 2 and 3 ranks')
    return comm, comm.rank, comm.size


def _unpadded_ids(epoch):
    return [int(l[0]) if isinstance(l, list) else int(l)
            for b in epoch for l in b['label'][:len(b['label']) - b['pad']]]


@pytest.mark.parametrize('idx', [False, True])
def test_image_record_iter_num_parts_are_mxnets(idx):
    pytest.importorskip('PIL')
    import distmod as mx
    comm, r, k = _rank_and_size()
    name = 'labels_part%d_of%d%s' % (r, k, '_idx' if idx else '')
    got, _ = GEN.run_rec_case(mx, REC[name], FIX)
    got = json.loads(json.dumps(got))
    want = EXPECT['rec'][name]
    assert [[(b['label'], b['pad']) for b in e] for e in got['epochs']] == \
        [[(b['label'], b['pad']) for b in e] for e in want['epochs']]
    everyone = comm.allgather(_unpadded_ids(got['epochs'][0]))
    assert sorted(sum(everyone, [])) == list(range(GEN.LABELS_N))


def test_libsvm_iter_num_parts_are_mxnets():
    import distmod as mx
    comm, r, k = _rank_and_size()
    name = 'part%d_of%d' % (r, k)
    got, _ = GEN.run_libsvm_case(mx, SVM[name], FIX)
    got = json.loads(json.dumps(got))
    assert [(b['label'], b['pad']) for b in got['epochs'][0]] == \
        [(b['label'], b['pad']) for b in EXPECT['libsvm'][name]['epochs'][0]]
    everyone = comm.allgather(_unpadded_ids(got['epochs'][0]))
    assert sorted(sum(everyone, [])) == list(range(12))


def _net(mx):
    data = mx.sym.Flatten(mx.sym.Variable('data'))
    net = mx.sym.FullyConnected(data, num_hidden=2, name='fc')
    return mx.sym.LinearRegressionOutput(net, name='softmax')


def test_fit_shards_the_whole_image_record_iter_over_the_ranks():
    pytest.importorskip('PIL')
    import distmod as mx
    comm, r, k = _rank_and_size()
    kw = dict(path_imgrec=os.path.join(FIX, 'labels.rec'), data_shape=(3, 4, 4), batch_size=2,
              label_width=2, scale=1.0 / 255)
    train = mx.io.ImageRecordIter(**kw)
    val = mx.io.ImageRecordIter(**kw)
    seen = {'train': [], 'val': []}

    def on(which):
        def callback(param):
            b = param.locals['batch']
            if param.epoch == 0:
                lab = b.label[0].asnumpy()[:, 0].astype(int).tolist()
                seen[which].append(lab[:len(lab) - b.pad])
        return callback

    mod = mx.mod.Module(_net(mx), label_names=['softmax_label'])
    mod.fit(train, eval_data=val, num_epoch=2, kvstore='dist_sync', eval_metric='mse',
            batch_end_callback=on('train'), eval_batch_end_callback=on('val'),
            optimizer='sgd', optimizer_params={'learning_rate': 0.01})
    parts = GEN_PARTS[k]
    shortest = min(len(p) for p in parts)
    # training: MXNet's part of this rank, cut to the shortest part, as many batches each
    assert sum(seen['train'], []) == parts[r][:shortest]
    everyone = comm.allgather(seen)
    assert len({len(e['train']) for e in everyone}) == 1
    # validation: MXNet's parts, every record once
    assert sorted(i for e in everyone for b in e['val'] for i in b) == list(range(10))
    assert train.num_parts == 1 and train.num_records == 10        # whole again
    # the replicas are identical
    args = mod.get_params()[0]
    mine = np.concatenate([args[n].asnumpy().ravel() for n in sorted(args)])
    assert all(np.array_equal(mine, other) for other in comm.allgather(mine))


def _mxnet_parts(k):
    return [_unpadded_ids(EXPECT['rec']['labels_part%d_of%d' % (r, k)]['epochs'][0])
            for r in range(k)]


GEN_PARTS = {k: _mxnet_parts(k) for k in (2, 3)}
