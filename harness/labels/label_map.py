"""``--label-map FILE``: the user's own names for wnids, words or sets of classes."""

from __future__ import annotations

from harness.errors import HarnessError


def read_label_map(path: str) -> dict[str, str]:
    """``--label-map FILE``: ``label,target`` rows (a header ``label,...`` is skipped).

    The target is a wnid, a word, or classes (names, indices or wnids) separated
    by ``;``. A label given twice is an error naming both lines.
    """
    import csv

    from harness.labels.wordnet import normal

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise HarnessError(f"cannot read --label-map {path!r}: {e}") from e
    out: dict[str, str] = {}
    line_of: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells) or (n == 1 and cells[0].lower() == "label"):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise HarnessError(f"--label-map {path}, line {n}: expected label,target, got {row}")
        key = normal(cells[0])
        if key in out:
            raise HarnessError(
                f"--label-map {path}: {cells[0]!r} is mapped twice (lines {line_of[key]} and {n})"
            )
        out[key], line_of[key] = cells[1], n
    return out
