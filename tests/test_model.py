"""mx.model checkpoints: round trips, MXNet-written checkpoints, and clear errors."""
import os

import numpy as np
import pytest

import distmod as mx

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'mxnet')


def _net():
    data = mx.sym.Variable('data')
    return mx.sym.FullyConnected(data, num_hidden=3, name='fc')


def test_round_trip(tmp_path):
    prefix = str(tmp_path / 'net')
    arg = {'fc_weight': mx.nd.array(np.arange(12).reshape(3, 4)), 'fc_bias': mx.nd.ones((3,))}
    aux = {'bn_moving_mean': mx.nd.zeros((2,))}
    mx.model.save_checkpoint(prefix, 7, _net(), arg, aux)
    assert sorted(os.listdir(tmp_path)) == ['net-0007.json', 'net-0007.params', 'net-symbol.json']
    sym, arg2, aux2 = mx.model.load_checkpoint(prefix, 7)
    assert sym.tojson() == _net().tojson()
    assert sorted(arg2) == ['fc_bias', 'fc_weight'] and list(aux2) == ['bn_moving_mean']
    assert arg2['fc_weight'].asnumpy().tolist() == arg['fc_weight'].asnumpy().tolist()


def test_mxnet_checkpoint_loads():
    sym, arg, aux = mx.model.load_checkpoint(os.path.join(FIX, 'mlp'), 0)
    assert sym.list_outputs() == ['softmax_output']
    assert arg['fc1_weight'].shape == (128, 784) and aux == {}


def test_errors_name_the_file(tmp_path):
    with pytest.raises(mx.MXNetError, match='nope-0001.params'):
        mx.model.load_params(str(tmp_path / 'nope'), 1)
    mx.nd.save(str(tmp_path / 'lst-0001.params'), [mx.nd.ones((1,))])
    with pytest.raises(mx.MXNetError, match='lst-0001.params.*unnamed'):
        mx.model.load_params(str(tmp_path / 'lst'), 1)
    mx.nd.save(str(tmp_path / 'odd-0001.params'), {'weight': mx.nd.ones((1,))})
    with pytest.raises(mx.MXNetError, match="'weight'"):
        mx.model.load_params(str(tmp_path / 'odd'), 1)
