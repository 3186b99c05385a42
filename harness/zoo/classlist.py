"""Class lists of one's own (``--classes FILE``), for a fine-tuned model's head.

Two formats, in the model's output order:

- text: one class name per line (line 1 is class 0);
- CSV (``.csv``): ``index,name[,wnid]`` rows, with or without a header naming
  those columns (``harness classes --format csv`` writes one).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.zoo.registry import Card

# here, not in harness.data.datamodule (it imports Lightning): `harness classes` reads class lists
WNID = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class ClassList:
    """Class names in output order, their WordNet ids ("" where none), and the file."""

    names: list[str]
    wnids: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.names)

    def card(self, base: Card) -> Card:
        """The architecture's registry card with these classes instead of its own.

        Its preprocessing stays; the published accuracy, for other classes, goes.
        """
        return replace(
            base,
            dataset=f"own classes ({Path(self.source).name})",
            categories=tuple(self.names),
            wnids=self.wnids,
            published_top1=None,
            published_top5=None,
        )


def read(path: str | os.PathLike[str]) -> ClassList:
    """Read a class list; a malformed file is one clear HarnessError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"cannot read class list {str(p)!r}: {e}") from e
    if p.suffix.lower() == ".csv":
        names, wnids = _from_csv(text, p)
    else:
        names = [ln.strip() for ln in text.rstrip().splitlines()]
        wnids = [""] * len(names)
        if "" in names:
            raise HarnessError(f"class list {p}: line {names.index('') + 1} is empty")
    if not names:
        raise HarnessError(f"class list {p} names no class")
    return ClassList(names, tuple(wnids), str(p))


def _from_csv(text: str, p: Path) -> tuple[list[str], list[str]]:
    """Names and WordNet ids of ``index,name[,wnid]`` rows, ordered by index."""
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), 1) if "".join(r).strip()]
    header = [c.strip().lower() for c in rows[0][1]] if rows else []
    cols = [0, 1, 2]
    if {"index", "name"} <= set(header):
        cols = [header.index(c) if c in header else -1 for c in ("index", "name", "wnid")]
        rows = rows[1:]
    by_index: dict[int, tuple[str, str]] = {}
    for n, row in rows:
        i, name, wnid = (row[c].strip() if 0 <= c < len(row) else "" for c in cols)
        if not i.isdigit() or not name:
            raise HarnessError(f"class list {p}, line {n}: expected index,name[,wnid], got {row}")
        if wnid and not WNID.match(wnid):
            raise HarnessError(f"class list {p}, line {n}: {wnid!r} is not a WordNet id")
        if int(i) in by_index:
            raise HarnessError(f"class list {p}, line {n}: index {i} appears twice")
        by_index[int(i)] = (name, wnid)
    if sorted(by_index) != list(range(len(by_index))):
        gap = min(set(range(len(by_index))) - set(by_index))
        raise HarnessError(
            f"class list {p}: indices must run 0..{len(by_index) - 1}, {gap} is missing"
        )
    ordered = [by_index[i] for i in range(len(by_index))]
    return [n for n, _ in ordered], [w for _, w in ordered]
