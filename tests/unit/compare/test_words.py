"""harness.compare.words: models of different label spaces paired on the same photos and
words, top1_among_labels' paired tests and calibration, on hand-counted stub predictions.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from harness.compare import analysis
from harness.compare.report import compare_table, same_classes
from harness.config import Spec
from harness.measure import stats
from tests.helpers import read_csv, write_csv

# photo: label, then per model (top-1 class, the label it lies under, P(fox), P(dog))
PHOTOS = {
    "0.png": ("fox", ("red fox", "fox", 0.9, 0.05), ("red fox", "fox", 0.95, 0.01)),
    "1.png": ("fox", ("grey wolf", "", 0.3, 0.2), ("kit fox", "fox", 0.8, 0.1)),
    "2.png": ("fox", ("beagle", "dog", 0.2, 0.6), ("red fox", "fox", 0.7, 0.2)),
    "3.png": ("fox", ("coyote", "", 0.1, 0.3), ("timber wolf", "", 0.2, 0.1)),
    "4.png": ("dog", ("beagle", "dog", 0.01, 0.9), ("beagle", "dog", 0.02, 0.9)),
    "5.png": ("dog", ("pug", "dog", 0.0, 0.8), ("tabby", "", 0.05, 0.3)),
    "6.png": ("dog", ("red fox", "fox", 0.6, 0.3), ("collie", "dog", 0.1, 0.85)),
    "7.png": ("dog", ("collie", "dog", 0.1, 0.7), ("collie", "dog", 0.2, 0.6)),
}
# by hand from the table: right at top-1 (the top-1 class under the label)
RIGHT1 = {"a": "10001101", "b": "11101011"}  # a alone on 5; b alone on 1, 2, 6
AMONG = {"a": "11001101", "b": "11111111"}  # a chose dog on 2, 3 and fox on 6
DIFFER = ["1.png", "2.png", "5.png", "6.png"]  # the label of the top-1 differs (3: none, none)


def prediction(file: str, k: int, offset: int) -> dict:
    """A predictions.csv row as test writes it where labels are words."""
    label, *answers = PHOTOS[file]
    name, under_label, fox, dog = answers[k]
    probs = {"fox": fox, "dog": dog}
    chosen = max(probs, key=probs.__getitem__)
    return {
        "file": file, "label": label, "label_wnid": "", "label_name": label,
        "pred1_index": offset + len(name), "pred1_name": name, "pred1_prob": "0.5",
        "correct1": int(under_label == label), "correct5": 1, "label_prob": probs[label],
        "pred1_label": under_label, "among_label": chosen, "among_prob": probs[chosen],
        "correct_among_labels": int(chosen == label), "prob_fox": fox, "prob_dog": dog,
    }  # fmt: skip


@pytest.fixture
def word_run(tmp_path: Path) -> tuple[Path, list[dict]]:
    """Models a (ImageNet-1k) and b (ImageNet-22k, other class indices) on 8 photos."""
    data = tmp_path / "data"
    data.mkdir()
    for i, file in enumerate(PHOTOS):
        Image.new("RGB", (20, 20), (25 * i, 90, 0)).save(data / file)
    rows = []
    for k, (m, space, offset) in enumerate((("a", "1k", 0), ("b", "22k", 5000))):
        preds = [prediction(f, k, offset) for f in PHOTOS]
        where = tmp_path / "run" / "models" / Spec(m, "").slug()
        write_csv(where / "predictions.csv", preds)
        per_label = [{"label": w, "wnid": "", "name": w, "words": w, "classes": 1, "n": 4,
                      "correct1": 2, "correct5": 4, "correct_among_labels": 2}
                     for w in ("fox", "dog")]  # fmt: skip
        write_csv(where / "per_class.csv", per_label)
        c1, among = RIGHT1[m].count("1"), AMONG[m].count("1")
        rows.append(
            {"model": m, "error": None, "label_space": space, "dataset": space, "classes": 9,
             "top1": c1 / 8, "top5": 1.0, "labelled": 8, "correct1": c1, "correct5": 8,
             "top1_ci95": stats.wilson(c1, 8), "top5_ci95": stats.wilson(8, 8), "ece": 0.1,
             "correct_among_labels": among, "top1_among_labels": among / 8,
             "top1_among_labels_ci95": stats.wilson(among, 8), "ece_among_labels": 0.2,
             "label_map": {"fox": {}, "dog": {}}}
        )  # fmt: skip
    return tmp_path, rows


def discordant(a: str, b: str) -> tuple[int, int]:
    """(a right alone, b right alone), counted over the marks."""
    return (
        sum(x == "1" and y == "0" for x, y in zip(a, b, strict=True)),
        sum(x == "0" and y == "1" for x, y in zip(a, b, strict=True)),
    )


def test_models_of_two_label_spaces_are_paired_on_the_words(word_run) -> None:
    root, rows = word_run
    run = root / "run"
    md = "\n".join(analysis.analyse(run, rows, str(root / "data")))
    assert "not compared" not in md
    for csv_name, marks in (("pairwise.csv", RIGHT1), ("pairwise_among_labels.csv", AMONG)):
        (pair,) = read_csv(run / csv_name)
        x, y = discordant(marks["a"], marks["b"])
        assert (pair["n"], pair["a_only"], pair["b_only"]) == ("8", str(x), str(y))
        # exact McNemar by hand: twice the smaller binomial tail of x + y discordant
        tail = sum(math.comb(x + y, i) for i in range(min(x, y) + 1))
        assert float(pair["p_value"]) == pytest.approx(min(1.0, 2 * tail / 2 ** (x + y)))
    assert (x, y) == (0, 3)  # among the labels: b alone right on 2, 3 and 6
    assert "- a: top-1 among the labels 62.5% (5/8)" in md
    dis = read_csv(run / "disagreements.csv")
    assert [d["file"] for d in dis] == DIFFER  # every class index differs; the words do not
    assert (dis[0]["a_top1_label"], dis[0]["b_top1_label"]) == ("", "fox")
    assert "differ on 4 of the 8 images" in md
    chosen = [max(p[1][2], p[1][3]) for p in PHOTOS.values()]  # a's label's probability
    mean = f"{100 * sum(chosen) / len(chosen):.1f}%"
    assert f"- a: ECE 0.200 among the labels; mean probability of the chosen label {mean}" in md
    for png in ("reliability_among_labels_a.png", "reliability_among_labels_b.png"):
        assert (run / png).read_bytes().startswith(b"\x89PNG")
    assert "Confident learning over the probabilities of 2 models" in md  # both spaces
    assert (run / "label_issues.csv").is_file()
    assert same_classes(rows).startswith("The labels are words: each model is scored by its own")
    assert "among labels" in compare_table(rows) and "62.5%" in compare_table(rows)


def test_without_words_two_label_spaces_are_still_not_ranked(word_run) -> None:
    root, rows = word_run
    for r in rows:
        del r["label_map"]
    md = "\n".join(analysis.analyse(root / "run", rows, str(root / "data")))
    assert "- a and b predict different classes: not compared." in md
    assert same_classes(rows).startswith("WARNING: different label spaces")
    assert "among labels" not in compare_table(rows)


def test_a_model_of_one_label_has_no_among_figures(word_run) -> None:
    """A row whose top1_among_labels is n/a (one label: 100% by definition) gets no
    paired test or calibration among the labels, and says why."""
    root, rows = word_run
    rows[1] |= dict.fromkeys(("top1_among_labels", "top1_among_labels_ci95", "ece_among_labels"))
    md = "\n".join(analysis.analyse(root / "run", rows, str(root / "data")))
    assert "- b: top-1 among the labels n/a (one label only: among one label every" in md
    assert not (root / "run" / "pairwise_among_labels.csv").exists()
    assert not (root / "run" / "reliability_among_labels_b.png").exists()
    assert (root / "run" / "reliability_among_labels_a.png").exists()
    table = compare_table(rows, markdown=True).splitlines()
    assert "| n/a | n/a | 0.100 |" in table[3] and "| 62.5% |" in table[2]  # rows a, b
