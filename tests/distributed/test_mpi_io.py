"""mx.io parts across ranks (``mpiexec -n 2``/``-n 3``, ``pytest --with-mpi``): each rank's batches
have the shapes, pads and samples MXNet 1.9.1 gives over that rank's part
(tests/fixtures/io_batches/, see tests/test_io_batches.py), and the parts together cover the
data as documented: ``num_parts``/``part_index`` given by the user, and the ``shard`` that
``Module.fit`` applies (even parts for training, so every rank runs the same number of
batches; uneven for validation, so every sample is scored once)."""
import importlib.util
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(TESTS, 'fixtures', 'io_batches')


def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _generator():
    spec = importlib.util.spec_from_file_location(
        'make_io_fixtures', os.path.join(TESTS, 'fixtures', 'make_io_fixtures.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
with open(os.path.join(FIX, 'iterators.json')) as _f:
    CASES = {c['name']: c for c in json.load(_f)['cases']}


def _batches(epoch):
    return [(b['data_shape'], b['pad'], b['ids']) for b in epoch]


def _my_part_matches_mxnet(name):
    """Replay this rank's part; its batches are MXNet's over the same samples."""
    import distmod as mx
    case = CASES[name]
    got = json.loads(json.dumps(GEN.replay(mx, case, FIX, sharded='shard' in case)))
    want = case['expect']
    assert got['ctor'] is None and want['ctor'] is None, (name, got['ctor'])
    assert got['provide'] == want['provide'], name
    for g, w in zip(got['ops'], want['ops']):
        if w is not None:
            assert _batches(g) == _batches(w), name
    return got['ops'][0]


def _unpadded(epoch):
    return sorted(i for b in epoch for i in b['ids'][:len(b['ids']) - b['pad']])


@pytest.mark.parametrize('mode', ['pad', 'discard', 'roll_over'])
@pytest.mark.parametrize('n,b', [(10, 32), (9, 4), (64, 32), (65, 32), (66, 32)])
@pytest.mark.parametrize('via', ['ctor', 'shard'])
def test_even_parts_match_mxnet_and_run_the_same_number_of_batches(mode, n, b, via):
    comm = _comm()
    k, r = comm.size, comm.rank
    if k not in (2, 3):
        pytest.skip('fixtures for 2 and 3 ranks')
    name = 'NDArrayIter/%s/n%d_b%d/part%d_of%d_even_%s' % (mode, n, b, r, k, via)
    per = n // k
    if per < b and mode != 'pad':        # no batch on any rank: refused when sharding
        import distmod as mx
        with pytest.raises(mx.MXNetError, match='part %d of %d has %d samples' % (r, k, per)):
            GEN.build(mx, CASES[name], FIX, sharded=True)
        return
    epoch = _my_part_matches_mxnet(name)
    everyone = comm.allgather(epoch)
    assert len({len(e) for e in everyone}) == 1         # nobody waits for another rank
    assert all(e and e[0]['data_shape'][0] == b for e in everyone)
    if mode == 'pad':       # together: the first k * (n // k) samples, each once
        assert sorted(i for e in everyone for i in _unpadded(e)) == list(range(k * per))


@pytest.mark.parametrize('mode', ['pad', 'discard'])
@pytest.mark.parametrize('n,b', [(10, 32), (9, 4), (65, 32), (66, 32)])
def test_uneven_parts_match_mxnet_and_cover_every_sample(mode, n, b):
    comm = _comm()
    k, r = comm.size, comm.rank
    if k not in (2, 3):
        pytest.skip('fixtures for 2 and 3 ranks')
    epoch = _my_part_matches_mxnet('NDArrayIter/%s/n%d_b%d/part%d_of%d_uneven_shard'
                                   % (mode, n, b, r, k))
    everyone = comm.allgather(epoch)
    seen = sorted(i for e in everyone for i in _unpadded(e))
    if mode == 'pad':
        assert seen == list(range(n))
    else:
        assert len(seen) == len(set(seen))


def test_mnist_num_parts_are_mxnets():
    comm = _comm()
    k, r = comm.size, comm.rank
    if k not in (2, 3):
        pytest.skip('fixtures for 2 and 3 ranks')
    epoch = _my_part_matches_mxnet('MNISTIter/n33_b8/num_parts%d_part_index%d' % (k, r))
    everyone = comm.allgather(epoch)
    seen = [i for e in everyone for b in e for i in b['ids']]
    assert len(seen) == len(set(seen)) and all(b['pad'] == 0 for e in everyone for b in e)
    _my_part_matches_mxnet('MNISTIter/n33_b8/part%d_of%d_even_shard' % (r, k))


def test_csv_parts_are_mxnets_over_those_rows():
    comm = _comm()
    k, r = comm.size, comm.rank
    if k not in (2, 3):
        pytest.skip('fixtures for 2 and 3 ranks')
    for via in ('ctor', 'shard'):
        epoch = _my_part_matches_mxnet('CSVIter/n10_b2/part%d_of%d_even_%s' % (r, k, via))
        everyone = comm.allgather(epoch)
        assert len({len(e) for e in everyone}) == 1
        assert sorted(i for e in everyone for i in _unpadded(e)) == list(range(k * (10 // k)))


def _net(mx):
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=3, name='fc')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def test_fit_on_fewer_samples_than_a_batch_pads_every_rank_alike():
    """The issue's 10 samples in batches of 32, trained on every rank: fit shards them
    evenly (10 // k each, one padded batch per rank), validates on uneven parts (every
    sample once), and predict, which fit does not shard, gives 10 rows."""
    import distmod as mx
    comm = _comm()
    k = comm.size
    x = GEN.samples(40)[:10] / 1000.0
    y = (np.arange(10) % 3).astype(np.float32)
    train = mx.io.NDArrayIter(x, y, batch_size=32)
    val = mx.io.NDArrayIter(x, y, batch_size=32)
    seen = {'train': [], 'val': []}

    def on_train(param):
        b = param.locals['batch']
        seen['train'].append((b.data[0].shape[0], b.pad))

    def on_val(param):
        b = param.locals['batch']
        seen['val'].append((b.data[0].shape[0], b.pad))

    mod = mx.mod.Module(_net(mx))
    mod.fit(train, eval_data=val, num_epoch=2, kvstore='dist_sync',
            batch_end_callback=on_train, eval_batch_end_callback=on_val,
            optimizer='sgd', optimizer_params={'learning_rate': 0.1})
    assert seen['train'] == [(32, 32 - 10 // k)] * 2
    sizes = [len(p) for p in np.array_split(np.arange(10), k)]     # uneven: 4,3,3 / 5,5
    assert seen['val'] == [(32, 32 - sizes[comm.rank])] * 2
    everyone = comm.allgather(seen)
    assert len({len(e['train']) for e in everyone}) == 1
    assert sum(32 - e['val'][0][1] for e in everyone) == 10       # every sample once
    assert train.num_parts == 1 and train.num_data == 10          # whole again after fit
    pred = mod.predict(mx.io.NDArrayIter(x, batch_size=32))
    assert pred.shape == (10, 3)
