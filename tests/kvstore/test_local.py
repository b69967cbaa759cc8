"""mx.kv in one process: the local/device stores, their errors, and Module's use of them."""
import numpy as np
import pytest

import distmod as mx


def test_local_store_sums_devices_and_replaces_without_updater():
    kv = mx.kv.create('local')
    assert (kv.type, kv.rank, kv.num_workers) == ('local', 0, 1)
    kv.init(['a', 'b'], [mx.nd.zeros((2, 2)), mx.nd.zeros(3)])
    kv.push('a', [mx.nd.ones((2, 2)), mx.nd.ones((2, 2)) * 2])
    outs = [mx.nd.zeros((2, 2)), mx.nd.zeros((2, 2))]
    kv.pull('a', out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), np.full((2, 2), 3.0))
    v = mx.nd.ones(3) * 5
    kv.pushpull('b', v)                       # in place
    np.testing.assert_array_equal(v.asnumpy(), np.full(3, 5.0))
    out = mx.nd.zeros(4)
    kv.broadcast('c', mx.nd.arange(4), out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.arange(4))
    with pytest.raises(mx.MXNetError, match="mixed key types are not allowed: this store's "
                                            "keys are str, got 9"):
        kv.broadcast(9, mx.nd.arange(4), out=out)          # as MXNet: one key type a store


def test_store_errors_name_the_key_and_the_shapes():
    kv = mx.kv.create('device')
    kv.init(3, mx.nd.zeros((2, 3)))
    with pytest.raises(mx.MXNetError, match=r"key 3 was initialised with shape \(2, 3\) but "
                                            r"got shape \(3, 2\)"):
        kv.push(3, mx.nd.zeros((3, 2)))
    with pytest.raises(mx.MXNetError, match="key 4 has not been initialised"):
        kv.pull(4, out=mx.nd.zeros(1))
    with pytest.raises(mx.MXNetError, match='key 3 is already initialised'):
        kv.init(3, mx.nd.zeros((2, 3)))
    with pytest.raises(mx.MXNetError, match="unknown kvstore type 'dist_async'.*dist_sync"):
        mx.kv.create('dist_async')


def test_optimizer_on_the_store_and_its_states_round_trip(tmp_path):
    kv = mx.kv.create('local')
    kv.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9))
    kv.init(0, mx.nd.ones(3))
    kv.push(0, mx.nd.ones(3))
    out = mx.nd.zeros(3)
    kv.pull(0, out=out)
    np.testing.assert_allclose(out.asnumpy(), np.full(3, 0.9), rtol=1e-6)
    fname = str(tmp_path / 'kv.states')
    kv.save_optimizer_states(fname)
    assert open(fname, 'rb').read(2) == b'PK'          # npz, never a pickle
    kv2 = mx.kv.create('local')
    kv2.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9))
    kv2.load_optimizer_states(fname)
    kv2.init(0, out)
    kv.push(0, mx.nd.ones(3))
    kv2.push(0, mx.nd.ones(3))
    a, b = mx.nd.zeros(3), mx.nd.zeros(3)
    kv.pull(0, out=a)
    kv2.pull(0, out=b)
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)   # momentum carried over


def test_gradient_compression_settings_are_checked_and_module_applies_them():
    kv = mx.kv.create('local')
    kv.set_gradient_compression({'type': 'none'})
    with pytest.raises(mx.MXNetError, match="unknown argument"):
        kv.set_gradient_compression({'type': '2bit', 'thresh': 0.5})
    with pytest.raises(mx.MXNetError, match="not supported for this type of kvstore"):
        kv.set_gradient_compression({'type': '2bit', 'threshold': 0.5})
    data = mx.sym.Variable('data')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=2), name='softmax')
    mod = mx.mod.Module(net, compression_params={'type': '2bit', 'threshold': 0.5})
    it = mx.io.NDArrayIter(np.random.rand(10, 3), np.zeros(10), batch_size=5)
    mod.fit(it, num_epoch=1, kvstore='dist_sync')
    assert mod._kvstore.compression_params == {'type': '2bit', 'threshold': 0.5}


def test_dist_sync_in_one_process_trains_like_local():
    x = np.random.RandomState(0).rand(60, 4).astype(np.float32)
    y = (x.sum(axis=1) > 2).astype(np.float32)
    data = mx.sym.Variable('data')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=2, name='fc'),
                               name='softmax')
    params = []
    for kv in ('local', 'dist_sync'):
        mx.random.seed(5)
        mod = mx.mod.Module(net)
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=2, kvstore=kv,
                optimizer_params={'learning_rate': 0.5})
        params.append(mod.get_params()[0]['fc_weight'].asnumpy())
    np.testing.assert_array_equal(params[0], params[1])


def test_a_registered_store_is_made_by_name_and_teststore_sums():
    import distmod as mx

    @mx.kv.KVStoreBase.register
    class MyOwnStore(mx.kv.KVStoreBase):
        @property
        def type(self):
            return 'myownstore'

    assert type(mx.kv.create('MyOwnStore')) is MyOwnStore
    assert mx.kv.create('myownstore').type == 'myownstore'
    kv = mx.kv.create('teststore')
    assert kv.type == 'teststore' and kv.rank == 0 and kv.num_workers == 1
    assert not type(kv).is_capable('optimizer') and mx.kv.create('local').is_capable('optimizer')
    vals = [mx.nd.ones((2,)) * (i + 1) for i in range(3)]
    kv.pushpull('k', vals)
    assert all(v.asnumpy().tolist() == [6, 6] for v in vals)
    out = [mx.nd.zeros((2,)), mx.nd.zeros((2,))]
    kv.broadcast('k', mx.nd.ones((2,)) * 3, out)
    assert all(o.asnumpy().tolist() == [3, 3] for o in out)
    with pytest.raises(ValueError):
        type(kv).is_capable('teleport')
    del mx.kv.KVStoreBase.kv_registry['myownstore']
