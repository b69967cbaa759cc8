"""The examples in mx.rnn's docstrings run and print what they say."""
import doctest

import numpy as np
import pytest

import distmod as mx

OBJECTS = [('mx.rnn', mx.rnn), ('BucketSentenceIter', mx.rnn.BucketSentenceIter)]


@pytest.mark.parametrize('name,obj', OBJECTS, ids=[o[0] for o in OBJECTS])
def test_docstring_example_runs(name, obj):
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    tests = finder.find(obj, name, globs={'mx': mx, 'np': np})
    assert tests and tests[0].examples
    for test in tests:
        assert runner.run(test).failed == 0, '%s: docstring example failed' % name
