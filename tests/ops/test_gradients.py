"""Every registered operator's backward against finite differences, walked from the registry,
and what backward keeps of forward against what it declares (``retain_inputs``/``_outputs``)."""
import functools

import pytest

from distmod.ops import all_ops, ALL

from .gradcheck import check_gradient, check_retention

CASES = [(name, i, s) for name, cls in sorted(all_ops().items())
         for i, s in enumerate(cls.samples)]
IDS = ['%s-%d' % c[:2] for c in CASES]


@pytest.mark.parametrize('name', sorted(all_ops()))
def test_every_operator_has_gradient_samples(name):
    assert all_ops()[name].samples, '%s has no Sample for the gradient check' % name


@pytest.mark.parametrize('name,index,sample', CASES, ids=IDS)
def test_backward_matches_finite_differences(name, index, sample):
    op = all_ops()[name](sample.attrs)
    check_gradient(op, sample)


@pytest.mark.parametrize('name,index,sample', CASES, ids=IDS)
def test_arguments_declare_every_possible_input(name, index, sample):
    cls = all_ops()[name]
    op = cls(sample.attrs)
    if not cls.variadic:
        assert set(op.list_arguments()) <= set(cls.arguments)
    assert set(op.list_auxiliary_states()) <= set(cls.auxiliary)


@pytest.mark.parametrize('name,index,sample', CASES, ids=IDS)
def test_every_operator_declares_what_backward_keeps(name, index, sample):
    # the default (keep everything) is safe but lets the executor free nothing; a declaration
    # may depend on the parameters, so it is the instance's that counts
    op = all_ops()[name](sample.attrs)
    for attr in ('retain_inputs', 'retain_outputs'):
        assert getattr(op, attr) is not ALL, '%s does not declare %s' % (op, attr)


@functools.lru_cache(maxsize=None)
def _retention(name, index):
    """(error message or None, declared buffers backward did not need), once per case."""
    sample = all_ops()[name].samples[index]
    try:
        return None, check_retention(all_ops()[name](sample.attrs), sample)
    except AssertionError as e:
        return str(e), []


@pytest.mark.parametrize('name,index,sample', CASES, ids=IDS)
def test_backward_reads_only_what_it_keeps(name, index, sample):
    # every buffer not declared is overwritten with garbage and replaced between forward and
    # backward; the gradients must not change
    error, _ = _retention(name, index)
    assert error is None, error


@pytest.mark.parametrize('name,index,sample', CASES, ids=IDS)
def test_backward_needs_everything_it_keeps(name, index, sample):
    # a declared buffer whose garbage changes nothing is memory the executor could free
    _, unneeded = _retention(name, index)
    assert not unneeded, '%s keeps %s, which its backward never reads' % (name, unneeded)


# (operator, sample, declaration forced onto the instance): each is wrong, and the checks above
# must say so; reads through ins, through a reference kept from forward (RNN keeps its data)
# and through an integer-valued input all count
MISDECLARED = [('where', 0, {'retain_inputs': ()}),
               ('LeakyReLU', 1, {'retain_outputs': ()}),
               ('RNN', 0, {'retain_inputs': (1,)}),
               ('Convolution', 0, {'retain_inputs': (0,)}),
               ('Embedding', 0, {'retain_inputs': ()}),
               ('SoftmaxOutput', 0, {'retain_outputs': ()})]


@pytest.mark.parametrize('name,index,declared', MISDECLARED,
                         ids=['%s-%d' % c[:2] for c in MISDECLARED])
def test_retention_check_catches_a_buffer_read_but_not_kept(name, index, declared):
    sample = all_ops()[name].samples[index]
    op = all_ops()[name](sample.attrs)
    for attr, value in declared.items():
        setattr(op, attr, value)
    with pytest.raises(AssertionError, match='backward reads'):
        check_retention(op, sample)


def test_retention_check_reports_a_buffer_kept_but_not_read():
    sample = all_ops()['elemwise_add'].samples[0]
    op = all_ops()['elemwise_add'](sample.attrs)
    op.retain_inputs = (0, 1)
    assert check_retention(op, sample) == ["input 'lhs'", "input 'rhs'"]
