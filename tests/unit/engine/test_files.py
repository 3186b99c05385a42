"""harness.engine.files: atomic writes that survive a crash, CSV cells of dicts and lists."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import harness
import harness.engine.files
from harness.engine.files import to_csv, write_atomic

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


@pytest.mark.parametrize("crash", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_write_atomic_crash_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: BaseException
) -> None:
    path = tmp_path / "results.json"
    write_atomic(path, '{"old": true}\n')

    def replace(src: object, dst: object) -> None:
        raise crash

    monkeypatch.setattr(harness.engine.files.os, "replace", replace)
    with pytest.raises(type(crash)):
        write_atomic(path, '{"new": true}\n' * 1000)
    assert path.read_text() == '{"old": true}\n'
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_to_csv_writes_dicts_and_lists_as_json() -> None:
    text = to_csv([{"model": "m", "preprocessing": {"mean": [0.5, 0.5], "crop": 0.875}}])
    [row] = list(csv.DictReader(text.splitlines()))
    assert json.loads(row["preprocessing"]) == {"mean": [0.5, 0.5], "crop": 0.875}
