"""harness.measure.kendall: Kendall's tau and its exact p against hand-worked examples."""

from __future__ import annotations

import itertools

import pytest

from harness.measure import kendall

# --- Kendall's tau ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "tau", "p"),
    [
        # one swapped pair of 4: (5 - 1) / 6; orderings with <= 1 or >= 5 inversions: 8 of 24
        ([1, 2, 3, 4], [1, 2, 4, 3], 2 / 3, 8 / 24),
        # all agree, 5 models: only the order itself and its reverse are as extreme: 2 of 120
        ([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], 1.0, 2 / 120),
        ([1, 2, 3], [3, 2, 1], -1.0, 2 / 6),
        # ties in y: C = 2, D = 0, tau-b = 2 / sqrt(3 * 2); of the 3 distinct orderings of
        # (1, 1, 2) against (1, 2, 3), (1,1,2) and (2,1,1) reach |tau| = 0.816, (1,2,1) 0
        ([1, 2, 3], [1, 1, 2], 2 / 6**0.5, 2 / 3),
        # all three tied: tau-b is 0 for every ordering
        ([1, 2, 3], [5, 5, 5], 0.0, 1.0),
    ],
)
def test_kendall_against_hand_worked_examples(x, y, tau, p) -> None:
    k = kendall.kendall(x, y)
    assert k.tau == pytest.approx(tau) and k.p == pytest.approx(p) and k.n == len(x)


def test_kendall_exact_p_equals_plain_enumeration() -> None:
    """The inversion-count recursion against counting over all 6! orderings by hand."""
    x = [0.61, 0.75, 0.77, 0.78, 0.80, 0.81]
    y = [0.62, 0.91, 0.90, 0.92, 0.85, 0.95]

    def tau(a: list[float], b: list[float]) -> float:
        pairs = itertools.combinations(range(6), 2)
        return sum(1 if (a[i] > a[j]) == (b[i] > b[j]) else -1 for i, j in pairs) / 15

    observed = tau(x, y)
    far = sum(abs(tau(x, list(o))) >= abs(observed) - 1e-9 for o in itertools.permutations(y))
    k = kendall.kendall(x, y)
    assert k.tau == pytest.approx(observed) and k.p == pytest.approx(far / 720)
    assert kendall.inversions_counts(6) == [
        sum(sum(o[i] > o[j] for i, j in itertools.combinations(range(6), 2)) == inv
            for o in itertools.permutations(range(6)))
        for inv in range(16)
    ]  # fmt: skip
