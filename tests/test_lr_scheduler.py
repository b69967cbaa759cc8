"""mx.lr_scheduler: every scheduler's learning-rate sequence, warmup included, equals MXNet's.

Expected sequences (``[sched(n) for n in range(0, N + 1)]``) and log lines came from running
Apache MXNet 1.9.1; they are compared exactly (same float arithmetic, same order).
"""
import doctest
import logging

import pytest

import distmod as mx
from distmod import lr_scheduler as L

CASES = {
    'factor': (lambda: L.FactorScheduler(step=3, factor=0.5, base_lr=0.1), [
        0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125,
        0.00625, 0.00625]),
    'factor_stop': (lambda: L.FactorScheduler(step=2, factor=0.1, stop_factor_lr=1e-4,
                                              base_lr=0.1), [
        0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002,
        0.0010000000000000002, 0.00010000000000000003, 0.00010000000000000003, 0.0001,
        0.0001]),
    'factor_warmup': (lambda: L.FactorScheduler(step=4, factor=0.9, base_lr=0.2, warmup_steps=5,
                                                warmup_begin_lr=0.01), [
        0.01, 0.048, 0.086, 0.12400000000000001, 0.162, 0.18000000000000002,
        0.18000000000000002, 0.18000000000000002, 0.18000000000000002, 0.16200000000000003,
        0.16200000000000003, 0.16200000000000003, 0.16200000000000003, 0.14580000000000004,
        0.14580000000000004]),
    'multifactor_constant_warmup': (lambda: L.MultiFactorScheduler(
        [3, 7, 9], factor=0.3, base_lr=1.0, warmup_steps=2, warmup_begin_lr=0.1,
        warmup_mode='constant'), [
        0.1, 0.1, 1.0, 1.0, 0.3, 0.3, 0.3, 0.3, 0.09, 0.09, 0.027, 0.027, 0.027]),
    'multifactor_linear_warmup': (lambda: L.MultiFactorScheduler(
        [5, 8], factor=0.5, base_lr=0.3, warmup_steps=4, warmup_begin_lr=0.05), [
        0.05, 0.1125, 0.175, 0.2375, 0.3, 0.3, 0.15, 0.15, 0.15, 0.075, 0.075, 0.075, 0.075]),
    'poly': (lambda: L.PolyScheduler(max_update=8, base_lr=0.5, pwr=1), [
        0.5, 0.4375, 0.375, 0.3125, 0.25, 0.1875, 0.125, 0.0625, 0.0, 0.0, 0.0]),
    'poly_warmup': (lambda: L.PolyScheduler(max_update=10, base_lr=0.5, pwr=2, final_lr=0.01,
                                            warmup_steps=3, warmup_begin_lr=0.05), [
        0.05, 0.2, 0.35, 0.5, 0.37000000000000005, 0.26, 0.16999999999999998, 0.1,
        0.049999999999999996, 0.020000000000000004, 0.01, 0.01, 0.01]),
    'cosine': (lambda: L.CosineScheduler(max_update=7, base_lr=0.3), [
        0.3, 0.28514533018536287, 0.24352347027881002, 0.18337814009344713,
        0.11662185990655284, 0.05647652972118997, 0.014854669814637143, 0.0, 0.0, 0.0]),
    'cosine_warmup': (lambda: L.CosineScheduler(max_update=10, base_lr=0.3, final_lr=0.001,
                                                warmup_steps=4, warmup_begin_lr=0.0), [
        0.0, 0.075, 0.15, 0.22499999999999998, 0.3, 0.2799707978657736, 0.22525, 0.1505,
        0.07575000000000003, 0.021029202134226415, 0.001, 0.001, 0.001]),
    'cosine_constant_warmup': (lambda: L.CosineScheduler(
        max_update=9, base_lr=0.7, final_lr=0.1, warmup_steps=3, warmup_begin_lr=0.2,
        warmup_mode='constant'), [
        0.2, 0.2, 0.2, 0.7, 0.6598076211353316, 0.5499999999999999, 0.4, 0.25000000000000006,
        0.1401923788646684, 0.1, 0.1, 0.1]),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_sequence_equals_mxnet_exactly(case):
    make, expected = CASES[case]
    sched = make()
    assert [sched(n) for n in range(len(expected))] == expected


def test_factor_catches_up_when_updates_are_skipped():
    sched = L.FactorScheduler(step=3, factor=0.5, base_lr=0.1)
    assert [sched(1), sched(10), sched(11), sched(20)] == [0.1, 0.0125, 0.0125, 0.0015625]


def test_factor_and_multifactor_log_lines_are_mxnets(caplog):
    caplog.set_level(logging.INFO)
    sched = L.FactorScheduler(step=2, factor=0.1, stop_factor_lr=1e-4, base_lr=0.1)
    for n in range(1, 11):
        sched(n)
    sched = L.MultiFactorScheduler([2, 4], factor=0.5, base_lr=1.0)
    for n in range(1, 7):
        sched(n)
    assert [r.getMessage() for r in caplog.records] == [
        'Update[3]: Change learning rate to 1.00000e-02',
        'Update[5]: Change learning rate to 1.00000e-03',
        'Update[7]: Change learning rate to 1.00000e-04',
        'Update[9]: now learning rate arrived at 1.00000e-04, will not change in the future',
        'Update[3]: Change learning rate to 5.00000e-01',
        'Update[5]: Change learning rate to 2.50000e-01']


def test_optimizer_drives_the_scheduler_with_its_update_count():
    sched = L.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    opt = mx.optimizer.SGD(learning_rate=1.0, lr_scheduler=sched)
    w, g = mx.nd.ones((3,)), mx.nd.ones((3,))
    seen = []
    for _ in range(5):
        opt.update(0, w, g, None)
        seen.append(sched.base_lr)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_base_class_and_warmup_contract():
    with pytest.raises(NotImplementedError):
        L.LRScheduler()(1)
    sched = L.PolyScheduler(max_update=10, base_lr=0.5, warmup_steps=3)
    with pytest.raises(mx.MXNetError, match='past the 3 warmup steps'):
        sched.get_warmup_lr(3)


@pytest.mark.parametrize('make,message', [
    (lambda: L.FactorScheduler(step=0), 'Schedule step must be greater or equal than 1 round'),
    (lambda: L.FactorScheduler(step=2, factor=1.5), 'Factor must be no more than 1'),
    (lambda: L.MultiFactorScheduler([3, 3]), 'Schedule step must be an increasing integer list'),
    (lambda: L.MultiFactorScheduler([0, 3]), 'Schedule step must be greater or equal than 1'),
    (lambda: L.MultiFactorScheduler(5), 'step must be a non-empty list'),
    (lambda: L.PolyScheduler(0), 'maximum number of updates must be strictly positive'),
    (lambda: L.CosineScheduler(0), 'maximum number of updates must be strictly positive'),
    (lambda: L.CosineScheduler(5.0), 'max_update must be an int'),
    (lambda: L.FactorScheduler(2, base_lr=0.1, warmup_begin_lr=0.2, warmup_steps=2),
     'Base lr has to be higher than warmup_begin_lr'),
    (lambda: L.FactorScheduler(2, warmup_steps=-1), 'Warmup steps has to be positive or 0'),
    (lambda: L.FactorScheduler(2, warmup_steps=2.5), 'warmup_steps must be an int'),
    (lambda: L.FactorScheduler(2, warmup_steps=2, warmup_mode='exp'),
     "Supports only linear and constant modes of warmup, got 'exp'"),
])
def test_bad_arguments_raise_mxnets_errors(make, message):
    # MXNet raises ValueError for these; ours is both an MXNetError and a ValueError.
    with pytest.raises(ValueError, match=message):
        make()
    with pytest.raises(mx.MXNetError):
        make()


def test_module_docstring_example_runs():
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    for test in finder.find(L, 'lr_scheduler', globs={'mx': mx}):
        assert runner.run(test).failed == 0


def test_poly_and_cosine_keep_their_construction_base_lr_as_mxnet_does():
    # An optimizer's learning_rate overwrites sched.base_lr; MXNet's Poly/Cosine schedules and
    # every warmup still run from the base_lr given at construction (MXNet 1.9.1 numbers).
    sched = L.PolyScheduler(10, base_lr=0.3, warmup_steps=2)
    sched.base_lr = 0.1
    assert [sched(n) for n in range(5)] == [0.0, 0.15, 0.3, 0.2296875, 0.16874999999999998]
    sched = L.FactorScheduler(2, 0.5, base_lr=0.3, warmup_steps=2)
    sched.base_lr = 0.1
    assert [sched(n) for n in range(5)] == [0.0, 0.15, 0.1, 0.05, 0.05]
