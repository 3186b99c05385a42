"""harness.measure.sample_size: photos needed to tell two models apart or for an interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.measure import sample_size, stats


def test_the_rejection_region_is_the_one_stats_mcnemar_gives() -> None:
    for d in [*range(1, 301), 997, 1000, 2001, 4999]:
        k = sample_size.critical(d)
        if k >= 0:
            assert stats.mcnemar(k, d - k) < 0.05, d
        assert stats.mcnemar(k + 1, d - k - 1) >= 0.05, d


def simulated_power(n: int, a_rate: float, b_rate: float, draws: int, seed: int) -> float:
    """The share of ``draws`` samples of n photos in which stats.mcnemar gives p < 0.05."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [a_rate, b_rate, 1 - a_rate - b_rate], size=draws)
    return float(np.mean([stats.mcnemar(int(a), int(b)) < 0.05 for a, b, _ in counts]))


@pytest.mark.parametrize(("a_only", "b_only", "n"), [(17, 25, 500), (3, 12, 50), (0, 4, 100)])
def test_photos_to_tell_apart_agree_with_a_simulation_within_ten_percent(a_only, b_only, n):
    need = sample_size.photos_to_tell_apart(a_only, b_only, n)
    assert need is not None
    a, b = a_only / n, b_only / n
    assert sample_size.mcnemar_power(need, a, b) >= 0.8 > sample_size.mcnemar_power(need - 1, a, b)
    # binomial draws at the observed rates: 80% power lies between 0.9 and 1.1 times it
    assert simulated_power(math.floor(0.9 * need), a, b, 2000, 1) < 0.8
    assert simulated_power(math.ceil(1.1 * need), a, b, 2000, 2) > 0.8
    assert simulated_power(need, a, b, 2000, 3) == pytest.approx(0.8, abs=0.03)


def test_no_number_tells_apart_models_that_disagree_evenly_or_never() -> None:
    assert sample_size.photos_to_tell_apart(2, 2, 50) is None
    assert sample_size.photos_to_tell_apart(0, 0, 50) is None


@pytest.mark.parametrize(("correct", "n"), [(453, 500), (309, 500), (46, 50), (50, 50)])
def test_photos_for_an_interval_of_two_points_as_a_plain_loop_finds(correct, n) -> None:
    p = correct / n
    need = sample_size.photos_for_interval(correct, n)
    m = 1
    while True:  # the plain way: every size in turn, the Wilson interval from its formula
        k = round(p * m)
        q, z = k / m, 1.959963984540054
        half = z / (1 + z * z / m) * math.sqrt(q * (1 - q) / m + z * z / (4 * m * m))
        if half <= 0.02:
            break
        m += 1
    assert need == m
    if 0 < correct < n:  # and close to the textbook z^2 p (1 - p) / 0.02^2
        assert need == pytest.approx(z * z * p * (1 - p) / 0.02**2, rel=0.1)
