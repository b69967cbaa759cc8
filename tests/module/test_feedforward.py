"""mx.model.FeedForward, MXNet's older training interface, over Module."""
import numpy as np
import pytest

import distmod as mx

from .. import nets


def _data(n=200, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 6).astype(np.float32)
    y = (x[:, :3].sum(1) > x[:, 3:].sum(1)).astype(np.float32)
    return x, y


def _net():
    return nets.mlp(mx, 16, 2)


def test_fit_on_numpy_arrays_trains_and_predicts_every_sample():
    x, y = _data()
    mx.random.seed(1)
    np.random.seed(1)
    model = mx.model.FeedForward(_net(), num_epoch=30, numpy_batch_size=20,
                                 learning_rate=0.3, momentum=0.9,
                                 initializer=mx.init.Xavier())
    model.fit(x, y)
    prob = model.predict(x)
    assert prob.shape == (200, 2)
    assert (prob.argmax(1) == y).mean() > 0.9
    assert model.score(mx.io.NDArrayIter(x, y, batch_size=32)) > 0.9
    out, data, label = model.predict(x[:30], return_data=True)
    assert out.shape == (30, 2) and data.shape == (30, 6)


def test_save_load_round_trip_and_create(tmp_path):
    x, y = _data()
    model = mx.model.FeedForward.create(_net(), x, y, num_epoch=2, numpy_batch_size=50,
                                        learning_rate=0.1)
    prefix = str(tmp_path / 'ff')
    model.save(prefix)
    loaded = mx.model.FeedForward.load(prefix, 2)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    sym, arg, aux = mx.model.load_checkpoint(prefix, 2)      # MXNet's files
    assert sorted(arg) == sorted(model.arg_params)


def test_fit_with_an_iterator_and_eval_data():
    x, y = _data()
    model = mx.model.FeedForward(_net(), num_epoch=1, learning_rate=0.1)
    model.fit(mx.io.NDArrayIter(x, y, batch_size=20), eval_data=(x[:40], y[:40]))
    assert model.predict(mx.io.NDArrayIter(x, batch_size=20)).shape == (200, 2)


def test_bad_input_is_named():
    with pytest.raises(mx.MXNetError, match='num_epoch'):
        mx.model.FeedForward(_net()).fit(*_data())
    with pytest.raises(mx.MXNetError, match='X has 200 samples but y has 10'):
        mx.model.FeedForward(_net(), num_epoch=1).fit(_data()[0], np.zeros(10))
    with pytest.raises(mx.MXNetError, match='no parameters'):
        mx.model.FeedForward(_net()).predict(_data()[0])
