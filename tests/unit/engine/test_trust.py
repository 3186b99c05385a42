"""harness.engine.trust: the report sections' numbers in words, label-issue files."""

from __future__ import annotations

import pytest

from harness.engine import trust
from harness.measure import sample_size


def test_about_rounds_to_two_significant_digits() -> None:
    from harness.engine.trust import about

    assert [about(n) for n in (34, 821, 2680, 17313)] == [
        "about 34",
        "about 820",
        "about 2,700",
        "about 17,000",
    ]


@pytest.mark.parametrize(
    ("found", "left"),
    [
        (3, {"label_issues.csv", "label_issues.png"}),  # both rewritten by this run
        (0, {"label_issues.csv"}),  # a header only: no grid this time
        (None, set()),  # not looked for (random weights, no labels)
    ],
)
def test_an_earlier_runs_label_issue_files_go_where_this_run_wrote_none(tmp_path, found, left):
    from harness.engine.results import LABEL_ISSUES, replace_earlier

    earlier = [tmp_path / n for n in LABEL_ISSUES]
    for p in earlier:
        p.write_text("earlier")
    results = {"labelled": 5} | ({} if found is None else {"label_issues": found})
    replace_earlier(earlier, results)
    assert {p.name for p in tmp_path.iterdir()} == left


def test_pairs_in_words_even_many_and_beyond_a_million() -> None:
    from harness.engine.trust import tell_apart_words

    pair = {"model_a": "a", "model_b": "b", "n": 500}
    even = tell_apart_words(pair | {"a_only": 3, "b_only": 3}, None)
    assert even == "a and b disagree evenly (3 vs 3 discordant): no number of photos would " \
        "tell them apart at this rate."  # fmt: skip
    need = sample_size.photos_to_tell_apart(17, 25, 500)
    assert tell_apart_words(pair | {"a_only": 17, "b_only": 25}, need).endswith(
        "(17 vs 25 discordant of 500) you would need about 2,700 photos (you have 500)."
    )
    far = tell_apart_words(pair | {"a_only": 100, "b_only": 101}, None)
    assert "you would need more than 1,000,000 photos" in far


def test_only_flags_the_models_give_over_half_are_called_probable() -> None:
    """The report's sentence: every flag may be an error, those at over 50% probably are."""
    rows = [
        {"file": f"{p}.png", "label_name": "fox", "suggested_name": "dog", "suggested_prob": p}
        for p in (0.73, 0.51, 0.5, 0.11)
    ]  # confident learning's order: the most certain first
    words = trust.found_words(rows, 500)
    assert words.startswith("4 of the 500 labelled photos that may be mislabelled")
    assert ", 2 of them probably (" in words  # 0.73 and 0.51; 0.5 is not over half
    assert words.endswith(
        "The three most certain: 0.73.png is labelled fox, the models say dog (73% on "
        "average); 0.51.png is labelled fox, the models say dog (51% on average); 0.5.png "
        "is labelled fox, the models say dog (50% on average)."
    )
    assert ", 0 of them probably (" in trust.found_words(rows[3:], 500)
