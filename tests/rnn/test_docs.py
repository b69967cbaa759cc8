"""The examples in mx.rnn's docstrings run and print what they say."""
import doctest

import numpy as np
import pytest

import distmod as mx

from ._common import require

OBJECTS = [('mx.rnn', mx.rnn, ('zeros',)),
           ('BucketSentenceIter', mx.rnn.BucketSentenceIter, ())]


@pytest.mark.parametrize('name,obj,needs', OBJECTS, ids=[o[0] for o in OBJECTS])
def test_docstring_example_runs(name, obj, needs):
    require(*needs)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    tests = finder.find(obj, name, globs={'mx': mx, 'np': np})
    assert tests and tests[0].examples
    for test in tests:
        assert runner.run(test).failed == 0, '%s: docstring example failed' % name
