"""harness.zoo.classlist: class lists of one's own, as text and CSV, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.zoo.classlist import read


@pytest.mark.parametrize(
    ("text", "names", "wnids"),
    [
        ("cat\ndog\n\n", ["cat", "dog"], ("", "")),
        ("\ufeffcat \r\ndog\r\n", ["cat", "dog"], ("", "")),
    ],
)
def test_text_class_list(tmp_path: Path, text, names, wnids) -> None:
    (tmp_path / "c.txt").write_bytes(text.encode())
    got = read(tmp_path / "c.txt")
    assert (got.names, got.wnids, len(got)) == (names, wnids, len(names))


@pytest.mark.parametrize(
    "text",
    [
        "1,dog\n0,cat,n02123045\n",  # any order, no header
        "index,wnid,name\n0,n02123045,cat\n1,,dog\n",  # `harness classes --format csv`
        "name,index\ncat,0\ndog,1\n",
    ],
)
def test_csv_class_list(tmp_path: Path, text) -> None:
    (tmp_path / "c.csv").write_text(text)
    got = read(tmp_path / "c.csv")
    assert got.names == ["cat", "dog"]
    assert got.wnids == (("n02123045", "") if "n0" in text else ("", ""))


@pytest.mark.parametrize(
    ("file", "text", "error"),
    [
        ("c.txt", "cat\n\ndog\n", "line 2 is empty"),
        ("c.txt", "\n", "names no class"),
        ("c.csv", "0,cat\n2,dog\n", r"indices must run 0..1, 1 is missing"),
        ("c.csv", "0,cat\n0,dog\n", "line 2: index 0 appears twice"),
        ("c.csv", "0,cat,cat123\n", "'cat123' is not a WordNet id"),
        ("c.csv", "cat,0\n", "line 1: expected index,name"),
    ],
)
def test_bad_class_list(tmp_path: Path, file, text, error) -> None:
    (tmp_path / file).write_text(text)
    with pytest.raises(HarnessError, match=error):
        read(tmp_path / file)


def test_unreadable_class_list(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="cannot read class list"):
        read(tmp_path / "absent.txt")
