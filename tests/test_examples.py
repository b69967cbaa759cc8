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
