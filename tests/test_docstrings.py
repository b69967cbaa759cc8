"""The runnable examples in docstrings (operators, NDArray, Symbol) run and print what they say."""
import doctest

import numpy as np
import pytest

import distmod as mx
from distmod.ops import all_ops

OBJECTS = [(name, cls) for name, cls in sorted(all_ops().items()) if '>>>' in (cls.__doc__ or '')]
OBJECTS += [('NDArray', mx.nd.NDArray), ('Symbol', mx.sym.Symbol), ('Context', mx.Context)]
# the NDArray functions beyond the operators, the samplers and the metrics
for _module in (mx.nd.more, mx.nd.random, mx.metric):
    OBJECTS += [('%s.%s' % (_module.__name__, n), getattr(_module, n))
                for n in sorted(_module.__all__) if '>>>' in (getattr(_module, n).__doc__ or '')]


def test_many_operators_carry_an_example():
    assert len(OBJECTS) > 30


@pytest.mark.parametrize('name,obj', OBJECTS, ids=[o[0] for o in OBJECTS])
def test_docstring_example_runs(name, obj):
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(obj, name, globs={'mx': mx, 'np': np}):
        result = runner.run(test)
        assert result.failed == 0, '%s: docstring example failed' % name
