import math

import pytest
from pedagraph.evals.metrics import accuracy, bootstrap, macro_f1, macro_f1_value, mean, proportion


def test_proportion_and_standard_error():
    m = proportion([True, True, False, False])
    assert m.value == 0.5 and m.n == 4
    assert m.se == pytest.approx(math.sqrt(0.25 / 4))
    assert proportion([]).value is None


def test_mean_and_sem():
    m = mean([1, 2, 3, 4])
    assert m.value == 2.5
    assert m.se == pytest.approx(math.sqrt((1.5**2 * 2 + 0.5**2 * 2) / 3 / 4))
    assert mean([5]).se is None


def test_accuracy_and_macro_f1_by_hand():
    gold = ["yes", "yes", "no", "no", "some"]
    pred = ["yes", "no", "no", "no", "yes"]
    assert accuracy(gold, pred).value == pytest.approx(3 / 5)
    # yes: tp1 fp1 fn1 -> 0.5 ; no: tp2 fp1 fn0 -> 0.8 ; some: tp0 fp0 fn1 -> 0
    assert macro_f1_value(gold, pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    m = macro_f1(gold, pred)
    assert m.ci_low <= m.value <= m.ci_high


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    rows = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1] * 5
    a = bootstrap(lambda r: sum(r) / len(r), rows, seed=3)
    b = bootstrap(lambda r: sum(r) / len(r), rows, seed=3)
    assert a == b
    assert a.ci_low < 0.7 < a.ci_high
    assert "n=50" in a.format(percent=True)
