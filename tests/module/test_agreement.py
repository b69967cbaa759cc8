"""The agreement before training in one process: nothing is exchanged (no MPI at all), and
the comparison's words (tests/distributed/test_mpi_agreement.py runs it across ranks)."""
from distmod.module import agreement


def test_compare_groups_ranks_by_value_and_lists_only_what_differs():
    gathered = [{'kvstore': 'dist_sync', 'batch size': '8', 'num_epoch': '3'},
                {'kvstore': 'dist_sync', 'batch size': '4', 'num_epoch': '3'},
                {'kvstore': 'dist_sync', 'batch size': '8', 'num_epoch': '2'}]
    count, text = agreement.compare(gathered)
    assert count == 2
    assert text == 'batch size: ranks 0, 2 8; rank 1 4 | num_epoch: ranks 0, 1 3; rank 2 2'
    assert agreement.compare(gathered[:1]) is None


def test_optimizer_fields_name_the_parameters_that_decide_updates():
    import distmod as mx
    given = agreement.optimizer_fields('SGD', {'learning_rate': 0.1, 'momentum': 0.9})
    assert given == {'optimizer': 'sgd {learning_rate: 0.1, momentum: 0.9}'}
    opt = mx.optimizer.Adam(learning_rate=0.01, wd=1e-4, clip_gradient=5.0,
                            lr_scheduler=mx.lr_scheduler.FactorScheduler(step=10, factor=0.5))
    text = agreement.optimizer_fields(opt)['optimizer']
    assert text.startswith('adam {beta1: 0.9, beta2: 0.999, clip_gradient: 5.0, ')
    assert 'learning_rate: 0.01' in text and 'wd: 0.0001' in text
    assert 'lr_scheduler=FactorScheduler{' in text and 'step: 10' in text


def test_fit_in_one_process_exchanges_nothing(monkeypatch):
    import numpy as np
    import distmod as mx

    def no_gather(*args, **kwargs):
        raise AssertionError('the agreement gathered in one process')
    monkeypatch.setattr(mx.kvstore, 'gather_world_text', no_gather)
    x = np.random.rand(20, 3).astype(np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2),
                               name='softmax')
    for kv in ('local', 'dist_sync'):
        mx.mod.Module(net).fit(mx.io.NDArrayIter(x, (x.sum(1) > 1.5).astype(np.float32), 5),
                               num_epoch=1, kvstore=kv)
