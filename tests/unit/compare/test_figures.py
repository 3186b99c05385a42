"""harness.compare.figures: a PNG written as atomically as the results."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engine.files import write_atomic


def test_png_written_as_atomically_as_the_results(tmp_path: Path) -> None:
    """A figure is written like results.json: readable by others, and a failed write
    keeps the old picture with no temporary file left behind."""
    from harness.compare.figures import pyplot, save_png

    plt = pyplot()
    path = tmp_path / "plot.png"
    fig = plt.figure(figsize=(1, 1))
    save_png(fig, path, dpi=20)
    old = path.read_bytes()
    assert old.startswith(b"\x89PNG")
    assert (
        path.stat().st_mode & 0o777
        == write_atomic(tmp_path / "r.json", "{}").stat().st_mode & 0o777
    )

    def broken(target: object, **kwargs: object) -> None:  # half a file, then the disk is full
        Path(str(target)).write_bytes(old[:100])
        raise OSError(28, "No space left on device")

    fig.savefig = broken
    with pytest.raises(OSError):
        save_png(fig, path, dpi=20)
    plt.close(fig)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "r.json"]
