"""harness.measure.stats against published values and hand counts: Wilson intervals, McNemar,
expected calibration error, per-class and pairwise counts."""

from __future__ import annotations

import pytest
import torch

from harness.measure import stats
from tests.helpers.stats import exact_two_sided, plain_ece, wilson_closed_form


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),  # Newcombe (1998), Stat Med 17:857, Table I, method 3
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718), (29, 29, 0.8830, 1.0)],
)  # fmt: skip
def test_wilson_matches_published_values(k, n, low, high):
    got = stats.wilson(k, n)
    assert got == pytest.approx([low, high], abs=5e-5)
    assert got == pytest.approx(wilson_closed_form(k, n), abs=1e-12)


def test_wilson_of_nothing_is_none():
    assert stats.wilson(0, 0) is None


@pytest.mark.parametrize(("x", "y"), [(3, 1), (1, 3), (10, 2), (0, 5), (6, 6), (0, 0), (40, 0)])
def test_mcnemar_is_the_exact_binomial_test(x, y):
    assert stats.mcnemar(x, y) == pytest.approx(exact_two_sided(x, y), rel=1e-12)


def test_mcnemar_matches_published_example():
    # Fagerland, Lydersen, Laake (2013), BMC Med Res Methodol 13:91: b = 1, c = 7 -> 0.070
    assert round(stats.mcnemar(1, 7), 3) == 0.070


def test_ece_equals_torchmetrics_and_a_plain_loop():
    from torchmetrics.classification import MulticlassCalibrationError

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 10, generator=g) * 2.5  # (images, classes)
    probs = logits.softmax(-1)
    guess = torch.randint(0, 10, (300,), generator=g)
    # right about half the time, so that the bins differ
    target = torch.where(torch.rand(300, generator=g) < 0.5, probs.argmax(-1), guess)
    conf = probs.max(-1).values.tolist()
    right = (probs.argmax(-1) == target).tolist()
    got = stats.ece(conf, right)
    metric = MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")
    assert got == pytest.approx(float(metric(probs, target)), abs=1e-6)
    assert got == pytest.approx(plain_ece(conf, right), abs=1e-6)
    bins = stats.reliability_bins(conf, right)  # the diagram shows the same bins
    assert sum(b["n"] for b in bins) == 300
    weighted = sum(b["n"] / 300 * abs(b["accuracy"] - b["confidence"]) for b in bins)
    assert weighted == pytest.approx(got, abs=1e-6)


def test_ece_of_nothing_is_none_and_certainty_has_its_own_bin():
    assert stats.ece([], []) is None
    assert stats.ece([1.0, 1.0], [True, False]) == pytest.approx(0.5)
    assert [b["low"] for b in stats.reliability_bins([1.0, 0.99], [True, True])] == [
        pytest.approx(14 / 15),
        1.0,
    ]


def test_per_class_and_pairwise_are_hand_counts():
    rows = [  # (sample, label, top-5, probs)
        (0, 3, [3, 1, 2, 0, 4], [0.9] * 5),
        (1, 3, [1, 3, 2, 0, 4], [0.5] * 5),
        (2, 3, [1, 2, 0, 4, 5], [0.5] * 5),
        (3, 0, [0, 1, 2, 3, 4], [0.7] * 5),
    ]
    got = stats.per_class(rows, [f"c{i}" for i in range(6)], [f"n{i}" for i in range(6)])
    assert got == [
        {"index": 0, "wnid": "n0", "name": "c0", "n": 1, "correct1": 1, "correct5": 1},
        {"index": 3, "wnid": "n3", "name": "c3", "n": 3, "correct1": 1, "correct5": 2},
    ]
    correct = {"a": {"x": True, "y": True, "z": False}, "b": {"x": False, "y": True, "w": True}}
    assert stats.pairwise(correct) == [
        {"model_a": "a", "model_b": "b", "n": 2, "a_only": 1, "b_only": 0, "p_value": 1.0}
    ]
