"""harness.measure.parity against a hand count."""

from __future__ import annotations

import pytest

from harness.measure.parity import likely_defect, parity


def test_parity_counts_as_a_hand_count() -> None:
    ref = {f"f{i}": ([i, 100, 101, 102, 103], 0.5, i % 2 == 0) for i in range(10)}
    new = dict(ref)
    new["f0"] = ([9, 100, 101, 102, 103], 0.4, False)  # right -> wrong, another set of five
    new["f1"] = ([7, 100, 101, 102, 103], 0.5000001, True)  # wrong -> right, another set
    new["f3"] = ([103, 102, 101, 100, 3], 0.75, False)  # another top-1, the same five
    found = parity(ref, new)
    assert found["parity_n"] == 10 and found["agree_top1"] == 7 and found["agree_top5"] == 8
    assert found["max_top1_prob_diff"] == pytest.approx(0.25)
    assert (found["right_to_wrong"], found["wrong_to_right"], found["parity_p"]) == (1, 1, 1.0)
    assert likely_defect(found, fp32=True) and not likely_defect(found, fp32=False)
    assert parity(ref, {"other": ref["f0"]})["parity_n"] == 0
