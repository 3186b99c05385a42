"""Can the labels and the sample be trusted? Likely label errors, near-duplicates and the
photos a firmer answer needs, as files and as report.md sections (docs/trust.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.engine.files import to_csv, write_atomic
from harness.engine.photo_grid import Tile, grid, save
from harness.measure import label_issues, sample_size
from harness.measure.label_issues import Row
from harness.rows import LabelIssues

GRID = 16  # likely label errors shown
CERTAIN = 3  # named in words
PROBABLY = 0.5  # the models' average probability for another class that makes an error probable
WORDS = {2: "two", 3: "three"}
ISSUE_COLUMNS = label_issues.COLUMNS
Views = Mapping[str, Mapping[str, Row]]  # model -> file -> predictions.csv row


def photo_path(file: str, root: Path) -> Path:
    return Path(file) if Path(file).is_absolute() else root / file


def issue_tiles(rows: Sequence[Mapping[str, Any]], root: Path) -> list[Tile]:
    """The label_issues.csv rows as captioned photos: rank and file, given label, the models'."""
    return [
        Tile(
            photo_path(r["file"], root),
            [
                (f"#{r['rank']} {Path(r['file']).name}", "black"),
                (f"label: {r['label_name']}", "red"),
                (
                    f"models: {r['suggested_name']} ({100 * float(r['suggested_prob']):.0f}%)",
                    "green",
                ),
                (f"top-1 of {100 * float(r['agreement']):.0f}% of them", "black"),
            ],
        )
        for r in rows
    ]


def write_issues(
    run: Path, views: Sequence[Mapping[str, Row]], root: Path, tensorboard: Path | None, tag: str
) -> list[dict[str, Any]]:
    """label_issues.csv and (when there are any) label_issues.png, also in TensorBoard."""
    rows = label_issues.label_issues(views)
    write_atomic(run / "label_issues.csv", to_csv(rows) if rows else ",".join(ISSUE_COLUMNS) + "\n")
    if rows:
        save(grid(issue_tiles(rows[:GRID], root)), run / "label_issues.png", tensorboard, tag)
    return rows


def test_fields(run: Path, preds: Sequence[Mapping[str, Any]], root: Path) -> LabelIssues:
    """What a ``test`` run adds to results.json: likely label errors and top-1 without them."""
    view = {str(r["file"]): r for r in preds}
    rows = write_issues(run, [view], root, None, "test/label_issues")
    right, n = label_issues.set_aside(view, {r["file"] for r in rows})
    return {
        "label_issues": len(rows),
        "correct1_label_issues_aside": right,
        "labelled_label_issues_aside": n,
        "top1_label_issues_aside": right / n if n else None,
    }


def labels_section(run: Path, views: Views, root: Path) -> list[str]:
    """report.md's likely label errors, and each model's accuracy with them set aside."""
    rows = write_issues(run, list(views.values()), root, run / "label_issues", "compare/labels")
    n = len(label_issues.photos(list(views.values())))
    lines = [
        "## Can I trust the labels?",
        "",
        f"Confident learning over the probabilities of {len(views)} model"
        f"{'s' * (len(views) != 1)} (averaged; see docs/trust.md) finds {found_words(rows, n)}",
        "",
    ]
    if rows:
        lines += ["![likely label errors](label_issues.png)", "", *aside_lines(views, rows)]
    return lines


def found_words(rows: Sequence[Mapping[str, Any]], n: int) -> str:
    """How many photos may be mislabelled, how many probably (the models give the class
    they suggest over half their probability), and the most certain of them, in words.

    >>> found_words([], 500)
    'no photo of the 500 labelled ones that looks mislabelled.'
    """
    if not rows:
        return f"no photo of the {n} labelled ones that looks mislabelled."
    sure = sum(float(r["suggested_prob"]) > PROBABLY for r in rows)
    most = "The one:" if len(rows) == 1 else f"The {WORDS[min(CERTAIN, len(rows))]} most certain:"
    return (
        f"{len(rows)} of the {n} labelled photos that may be mislabelled (label_issues.csv, "
        f"label_issues.png), {sure} of them probably (the models give the class they suggest "
        "over half their probability; under that a photo may only be unusual: look before "
        f"trusting either label). {most} " + "; ".join(issue_words(r) for r in rows[:CERTAIN]) + "."
    )


def issue_words(r: Mapping[str, Any]) -> str:
    return (
        f"{r['file']} is labelled {r['label_name']}, the models say {r['suggested_name']} "
        f"({100 * float(r['suggested_prob']):.0f}% on average)"
    )


def aside_lines(views: Views, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Top-1 as labelled beside top-1 with the likely label errors set aside."""
    files = {r["file"] for r in rows}
    lines = [f"Top-1 as labelled, and with these {len(rows)} photos set aside:", ""]
    for m, view in views.items():
        right, n = label_issues.set_aside(view, set())
        kept, k = label_issues.set_aside(view, files)
        lines.append(
            f"- {m}: {100 * right / n:.1f}% ({right}/{n}) as labelled; "
            f"{100 * kept / k:.1f}% ({kept}/{k}) without them"
            if k
            else f"- {m}: {100 * right / n:.1f}% ({right}/{n}) as labelled"
        )
    return [*lines, ""]


def duplicates_section(run: Path, files: Sequence[str], root: Path) -> list[str]:
    """report.md's near-duplicate photos (near_duplicates.csv and .png when any are found)."""
    from harness.measure.duplicates import NEAR, near_pairs

    pairs, unread = near_pairs(files, root)
    rows = [{"file_a": a, "file_b": b, "bits_apart": d} for a, b, d in pairs]
    write_atomic(
        run / "near_duplicates.csv", to_csv(rows) if rows else "file_a,file_b,bits_apart\n"
    )
    lines = ["## Are any photos near-duplicates?", ""]
    how = f"perceptual hash, at most {NEAR} of 64 bits apart; see docs/trust.md"
    if not pairs:
        lines.append(f"No two of the {len(files)} photos are near-duplicates ({how}).")
    else:
        tiles = [
            Tile(photo_path(f, root), [(Path(f).name, "black"), (f"{d} bits apart", "black")])
            for a, b, d in pairs[: GRID // 2]
            for f in (a, b)
        ]
        save(grid(tiles), run / "near_duplicates.png", run / "near_duplicates", "compare/dups")
        lines += [
            f"{len(pairs)} pair{'s' * (len(pairs) != 1)} of the {len(files)} photos "
            f"{'are' if len(pairs) != 1 else 'is'} near-duplicate ({how}; near_duplicates.csv): "
            "each counts twice in every figure above.",
            "",
            *(f"- {a} and {b} ({d} bit{'s' * (d != 1)} apart)" for a, b, d in pairs),
            "",
            "![near-duplicates, side by side](near_duplicates.png)",
        ]
    lines += [f"- not read for the hash: {f} ({why})" for f, why in unread]
    return [*lines, ""]


def about(n: int) -> str:
    """A count in words, to two significant digits: 2680 -> 'about 2,700'."""
    rounded = round(n, 2 - len(str(n))) if n >= 100 else n
    return f"about {rounded:,}"


def sample_size_section(
    run: Path, measured: Sequence[Mapping[str, Any]], pairs: Sequence[Mapping[str, Any]]
) -> list[str]:
    """report.md's photos needed: to tell apart the pairs that are not, and for +-2 points."""
    from harness.measure.sample_size import HALF_WIDTH, POWER

    rows: list[dict[str, Any]] = []
    lines = [
        "## How many photos would you need?",
        "",
        f"At the rates observed here: for the exact McNemar test at 5% to tell two models apart "
        f"with {100 * POWER:.0f}% power, and for a 95% interval no wider than "
        f"+-{100 * HALF_WIDTH:.0f} points (sample_size.csv; the method in docs/trust.md).",
        "",
    ]
    for p in pairs:
        if p["p_value"] < 0.05:
            continue
        need = sample_size.photos_to_tell_apart(p["a_only"], p["b_only"], p["n"])
        rows.append({"what": "tell apart", "model": f"{p['model_a']} vs {p['model_b']}",
                     "have": p["n"], "need": need})  # fmt: skip
        lines.append(f"- {tell_apart_words(p, need)}")
    for r in measured:
        need = sample_size.photos_for_interval(r["correct1"], r["labelled"])
        rows.append({"what": "interval", "model": r["model"], "have": r["labelled"], "need": need})
        low, high = r["top1_ci95"]
        lines.append(
            f"- {r['model']}: {about(need)} photos for its top-1 of {100 * r['top1']:.1f}% to "
            f"within +-{100 * HALF_WIDTH:.0f} points (you have {r['labelled']}: "
            f"now {100 * low:.1f}-{100 * high:.1f}%)."
        )
    write_atomic(run / "sample_size.csv", to_csv(rows))
    return [*lines, ""]


def tell_apart_words(p: Mapping[str, Any], need: int | None) -> str:
    a, b, x, y, n = (p[k] for k in ("model_a", "model_b", "a_only", "b_only", "n"))
    if x == y:
        even = "never disagree" if x == 0 else f"disagree evenly ({x} vs {y} discordant)"
        return f"{a} and {b} {even}: no number of photos would tell them apart at this rate."
    most = f"more than {sample_size.MOST:,}" if need is None else about(need)
    return (
        f"to tell {a} from {b} at this rate of disagreement ({x} vs {y} discordant of {n}) "
        f"you would need {most} photos (you have {n})."
    )
