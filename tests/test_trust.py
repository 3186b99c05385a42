"""Confident learning, sample sizes and perceptual hashes against hand-worked examples,
plain loops and simulation (the figures of harness.engine.trust's report sections).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.measure import duplicates, label_issues, sample_size, stats
from harness.measure.label_issues import Photo


def photo(name: str, label: int, probs: list[float]) -> Photo:
    return Photo(name, label, dict(enumerate(probs)), [int(np.argmax(probs))])


# Seven photos of three classes. By hand: the thresholds are the mean probability of a
# class over the photos labelled with it, t0 = (0.9 + 0.7) / 2 = 0.8,
# t1 = (0.8 + 0.1) / 2 = 0.45, t2 = (0.8 + 0.7 + 0.18) / 3 = 0.56. A photo's confident
# class is the one class reaching its threshold (the most probable class where several do):
#   a 0.9 >= t0: 0 = label      b none reaches (0.7 < 0.8, 0.2 < 0.45, 0.1 < 0.56)
#   c 0.8 >= t1: 1 = label      d 0.85 >= t0: 0, label 1: an error
#   e 0.8 >= t2: 2 = label      f 0.7 >= t2: 2 = label
#   g 0.82 >= t0: 0, label 2: an error (0.18 < t2)
# Ranked by the label's probability, lowest first: d (0.1), then g (0.18).
HAND = [
    photo("a", 0, [0.9, 0.05, 0.05]),
    photo("b", 0, [0.7, 0.2, 0.1]),
    photo("c", 1, [0.1, 0.8, 0.1]),
    photo("d", 1, [0.85, 0.1, 0.05]),
    photo("e", 2, [0.1, 0.1, 0.8]),
    photo("f", 2, [0.2, 0.1, 0.7]),
    photo("g", 2, [0.82, 0.0, 0.18]),
]


def test_thresholds_are_each_class_mean_probability_over_its_photos() -> None:
    t, overall = label_issues.thresholds(HAND)
    assert t == pytest.approx({0: 0.8, 1: 0.45, 2: 0.56})
    assert overall == pytest.approx((0.9 + 0.7 + 0.8 + 0.1 + 0.8 + 0.7 + 0.18) / 7)


def test_confident_learning_finds_the_hand_worked_errors_in_order() -> None:
    found = label_issues.find(HAND)
    assert [(p.file, c) for p, c in found] == [("d", 0), ("g", 0)]
    t, overall = label_issues.thresholds(HAND)
    assert label_issues.confident_class(HAND[1], t, overall) is None  # b: none reaches


def test_where_several_classes_reach_their_threshold_the_most_probable_wins() -> None:
    # as cleanlab: 1 and 2 reach theirs, and then the most probable of all is taken
    p = photo("h", 1, [0.4, 0.35, 0.25])
    assert label_issues.confident_class(p, {0: 0.8, 1: 0.3, 2: 0.2}, 0.5) == 0
    assert label_issues.confident_class(p, {0: 0.8, 1: 0.3, 2: 0.3}, 0.5) == 1
    assert label_issues.confident_class(p, {0: 0.8, 1: 0.36, 2: 0.3}, 0.5) is None
    assert label_issues.confident_class(p, {0: 0.8, 1: 0.3500005, 2: 0.3}, 0.5) == 1  # 1e-6


def test_a_class_no_photo_is_labelled_with_takes_the_overall_threshold() -> None:
    # class 3 is nobody's label: its threshold is the mean label probability, 0.5 here
    found = [photo("x", 0, [0.9, 0.1, 0, 0]), photo("y", 1, [0.0, 0.1, 0, 0.9])]
    assert label_issues.thresholds(found)[1] == pytest.approx(0.5)
    assert [(p.file, c) for p, c in label_issues.find(found)] == [("y", 3)]


def row(file: str, label: int, top: list[tuple[int, float]], label_prob: float) -> dict:
    r: dict = {"file": file, "label": str(label), "label_name": f"c{label}"}
    for k, (c, p) in enumerate(top, start=1):
        r |= {f"pred{k}_index": str(c), f"pred{k}_name": f"c{c}", f"pred{k}_prob": str(p)}
    return r | {"correct1": str(int(top[0][0] == label)), "label_prob": str(label_prob)}


def test_probabilities_are_averaged_over_models_unknown_classes_as_zero() -> None:
    one = {"p": row("p", 2, [(0, 0.6), (1, 0.3)], 0.05)}
    two = {"p": row("p", 2, [(0, 0.5), (3, 0.2)], 0.1)}
    (p,) = label_issues.photos([one, two])
    assert p.probs == pytest.approx({0: 0.55, 1: 0.15, 2: 0.075, 3: 0.1})
    assert p.top1 == [0, 0]


def test_issue_rows_and_accuracy_set_aside_by_hand() -> None:
    views = [
        {
            "a": row("a", 0, [(0, 0.9), (1, 0.1)], 0.9),
            "b": row("b", 1, [(0, 0.8), (1, 0.2)], 0.2),  # models say 0
            "c": row("c", 1, [(1, 0.7), (0, 0.3)], 0.7),
        },
        {
            "a": row("a", 0, [(0, 0.7), (1, 0.3)], 0.7),
            "b": row("b", 1, [(1, 0.6), (0, 0.4)], 0.6),
            "c": row("c", 1, [(1, 0.9), (0, 0.1)], 0.9),
        },
    ]
    # t0 = (0.9 + 0.7) / 2 = 0.8, t1 = mean(0.4, 0.8) = 0.6; b: p0 = 0.6 < 0.8, p1 = 0.4 < 0.6
    assert label_issues.label_issues(views) == []
    views[1]["b"] = row("b", 1, [(0, 0.9), (1, 0.1)], 0.1)  # now both say 0: p0 = 0.85
    (r,) = label_issues.label_issues(views)
    assert (r["file"], r["label_name"], r["suggested_name"]) == ("b", "c1", "c0")
    assert (r["agreement"], r["suggested_prob"], r["label_quality"]) == (
        "1.000",
        "0.850000",
        "0.150000",
    )
    assert label_issues.set_aside(views[0], set()) == (2, 3)  # a, c right; b wrong
    assert label_issues.set_aside(views[0], {"b"}) == (2, 2)
    assert label_issues.set_aside(views[0], {"a"}) == (1, 2)


def word_row(file: str, label: str, probs: dict[str, float]) -> dict:
    """A predictions.csv row where labels are words: each label's summed probability in
    its ``prob_<label>`` column, the label of the highest in ``among_label``.
    """
    best = max(probs, key=probs.__getitem__)
    r: dict = {"file": file, "label": label, "label_wnid": "", "label_name": label}
    r |= {"pred1_index": "7", "pred1_name": "c7", "pred1_prob": "0.5", "correct1": "1"}
    r |= {"label_prob": str(probs[label]), "among_label": best, "among_prob": str(probs[best])}
    return r | {f"prob_{w}": str(q) for w, q in probs.items()}


def test_word_labels_are_the_classes_of_confident_learning() -> None:
    """Labels as words: the labels are the classes, their summed probabilities the
    probabilities (no class index is read: models of other label spaces agree on them).

    By hand, two models averaged: a fox 0.9, b fox 0.7, c dog 0.8, d labelled dog with
    fox 0.85, dog 0.1. Thresholds: fox (0.9 + 0.7) / 2 = 0.8, dog (0.8 + 0.1) / 2 = 0.45;
    d's confident label is fox (0.85 >= 0.8, dog 0.1 < 0.45): a likely label error.
    """
    one = {
        "a": word_row("a", "fox", {"fox": 0.9, "dog": 0.05}),
        "b": word_row("b", "fox", {"fox": 0.6, "dog": 0.3}),
        "c": word_row("c", "dog", {"fox": 0.1, "dog": 0.8}),
        "d": word_row("d", "dog", {"fox": 0.9, "dog": 0.05}),
    }
    two = dict(one) | {
        "b": word_row("b", "fox", {"fox": 0.8, "dog": 0.1}),
        "d": word_row("d", "dog", {"fox": 0.8, "dog": 0.15}),
    }
    found = label_issues.photos([one, two])
    assert found[3].probs == pytest.approx({"fox": 0.85, "dog": 0.1})
    assert label_issues.thresholds(found)[0] == pytest.approx({"fox": 0.8, "dog": 0.45})
    (r,) = label_issues.label_issues([one, two])
    assert (r["file"], r["label"], r["label_name"], r["suggested_name"]) == (
        "d",
        "dog",
        "dog",
        "fox",
    )
    assert (r["agreement"], r["suggested_prob"], r["label_quality"]) == (
        "1.000",
        "0.850000",
        "0.100000",
    )


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


def test_dct_matrix_is_the_dct_ii_of_a_plain_loop() -> None:
    c, n = duplicates.dct_matrix(8), 8
    x = np.random.default_rng(0).random((n, n))
    plain = np.zeros((n, n))
    for u in range(n):
        for v in range(n):
            s = sum(
                x[i, j]
                * math.cos(math.pi * (2 * i + 1) * u / (2 * n))
                * math.cos(math.pi * (2 * j + 1) * v / (2 * n))
                for i in range(n)
                for j in range(n)
            )
            au, av = (math.sqrt((1 if k == 0 else 2) / n) for k in (u, v))
            plain[u, v] = au * av * s
    assert c @ x @ c.T == pytest.approx(plain)
    assert c @ c.T == pytest.approx(np.eye(n))


def scene(seed: int) -> Image.Image:
    """A smooth random picture (blobs of colour), 200 x 150."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((200, 150), Image.Resampling.BICUBIC)


def test_a_photo_saved_twice_is_a_near_duplicate_and_another_is_not(tmp_path: Path) -> None:
    scene(0).save(tmp_path / "a.png")
    scene(0).save(tmp_path / "a-again.jpg", quality=60)  # the same photo, re-encoded
    scene(1).save(tmp_path / "b.png")
    Image.open(tmp_path / "a.png").resize((120, 90)).save(tmp_path / "a-small.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    files = ["a.png", "a-again.jpg", "b.png", "a-small.png", "broken.png"]
    pairs, unread = duplicates.near_pairs(files, tmp_path)
    assert {frozenset(p[:2]) for p in pairs} == {
        frozenset(p) for p in [("a.png", "a-again.jpg"), ("a.png", "a-small.png"),
                               ("a-again.jpg", "a-small.png")]
    }  # fmt: skip
    assert [f for f, _ in unread] == ["broken.png"]
    a, b = duplicates.phash(tmp_path / "a.png"), duplicates.phash(tmp_path / "b.png")
    assert duplicates.distance(a, b) == bin(a ^ b).count("1") > duplicates.NEAR


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
