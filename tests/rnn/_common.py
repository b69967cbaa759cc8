"""Shared by the mx.rnn tests: fixture paths and the cell configurations of
tests/rnn/cell_configs.py built with distmod."""
import json
import os
import warnings

import distmod as mx
from .cell_configs import configs, flat  # noqa: F401  (flat: used by the tests)

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'fixtures', 'mxnet')


def load_json(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


CONFIGS = {name: fn for name, (fn, _) in configs(mx).items()}


def build(name):
    """``(cell, outputs, states)`` of configuration ``name`` in a fresh NameManager."""
    with mx.name.NameManager(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return CONFIGS[name]()


