"""harness.measure.label_issues: confident learning against hand-worked examples and plain
loops (the figures of harness.engine.trust's likely-label-errors section)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure import label_issues
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
