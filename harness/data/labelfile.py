"""Labels files as people write them: ``file,label`` rows, with a header or without.

A header names the file column ``file``, ``filename``, ``image`` or ``path`` and
the label column ``label`` or ``class`` (any case; other columns are ignored).
Without one, the first column is the file and the second the label; a first
line is taken for a row when its first cell names a file (it exists, or it has
an extension). Cells are separated by commas, semicolons or tabs, whichever the
first line holds most of.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

FILE_COLUMNS = ("file", "filename", "image", "path")
LABEL_COLUMNS = ("label", "class")
DELIMITERS = ",;\t"  # the first is the default


@dataclass(frozen=True)
class Row:
    """One row of a labels file: its line number, the file as written, the label."""

    line: int
    file: str
    label: str


def read_rows(path: Path, root: Path) -> list[Row]:
    """The rows of a labels file, files relative to ``root``; one HarnessError if unreadable.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "l.csv").write_text("a.jpg;tent")
    >>> read_rows(d / "l.csv", d)
    [Row(line=1, file='a.jpg', label='tent')]
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"cannot read labels file {str(path)!r}: {e}") from e
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = max(DELIMITERS, key=first.count)  # ties (none at all): the comma
    try:
        lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as e:
        raise HarnessError(f"cannot read labels file {str(path)!r}: {e}") from e
    rows = [(n, r) for n, r in enumerate(lines, start=1) if "".join(r).strip()]
    if not rows:
        return []
    cols = _columns([c.strip().lower() for c in rows[0][1]])
    if cols is not None:
        rows = rows[1:]
    elif _names_a_file(rows[0][1][0].strip(), root):
        cols = (0, 1)
    else:
        raise HarnessError(
            f"labels file {str(path)!r}: line {rows[0][0]} ({delimiter.join(rows[0][1])!r}) is "
            f"neither a header naming a file column ({', '.join(FILE_COLUMNS)}) and a label "
            f"column ({', '.join(LABEL_COLUMNS)}) nor a file,label row"
        )
    return [Row(n, _cell(r, cols[0]), _cell(r, cols[1])) for n, r in rows]


def _columns(header: list[str]) -> tuple[int, int] | None:
    """The file and label columns a header names, or None when it is no such header."""
    file = next((header.index(c) for c in FILE_COLUMNS if c in header), None)
    label = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    return None if file is None or label is None else (file, label)


def _names_a_file(cell: str, root: Path) -> bool:
    return bool(cell) and ((root / cell).exists() or bool(Path(cell).suffix))


def _cell(row: list[str], i: int) -> str:
    return row[i].strip() if i < len(row) else ""
