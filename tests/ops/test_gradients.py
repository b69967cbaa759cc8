"""Every registered operator's backward against finite differences, walked from the registry."""
import pytest

from distmod.ops import all_ops

from .gradcheck import check_gradient

CASES = [(name, i, s) for name, cls in sorted(all_ops().items())
         for i, s in enumerate(cls.samples)]


@pytest.mark.parametrize('name', sorted(all_ops()))
def test_every_operator_has_gradient_samples(name):
    assert all_ops()[name].samples, '%s has no Sample for the gradient check' % name


@pytest.mark.parametrize('name,index,sample', CASES, ids=['%s-%d' % c[:2] for c in CASES])
def test_backward_matches_finite_differences(name, index, sample):
    op = all_ops()[name](sample.attrs)
    check_gradient(op, sample)


@pytest.mark.parametrize('name,index,sample', CASES, ids=['%s-%d' % c[:2] for c in CASES])
def test_arguments_declare_every_possible_input(name, index, sample):
    cls = all_ops()[name]
    op = cls(sample.attrs)
    if not cls.variadic:
        assert set(op.list_arguments()) <= set(cls.arguments)
    assert set(op.list_auxiliary_states()) <= set(cls.auxiliary)
