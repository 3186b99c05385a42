"""harness.engine.tensorboard: what a test run leaves behind in its process."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.cli.main import main


def writer_threads() -> list[threading.Thread]:
    """TensorBoard's event-file writers (one thread per open SummaryWriter)."""
    return [t for t in threading.enumerate() if "event_file_writer" in type(t).__module__]


def test_writer_threads_finds_an_open_writer(tmp_path: Path) -> None:
    """The check below can fail: an open SummaryWriter is found, a closed one not."""
    from torch.utils.tensorboard import SummaryWriter

    before = writer_threads()
    writer = SummaryWriter(str(tmp_path))
    assert len(writer_threads()) == len(before) + 1
    writer.close()
    assert writer_threads() == before


def test_a_test_run_leaves_no_tensorboard_writer_open(tiny_images: list[Path]) -> None:
    """A later run in the same process (a notebook, the suite) finds none of this one's."""
    before = writer_threads()
    out = tiny_images[0].parent / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", "none", "--data",
            str(tiny_images[0].parent), "--no-progress", "--num-workers", "0",
            "--accelerator", "cpu"]  # fmt: skip
    assert main([*args, "--output", str(out)]) == 0
    assert [t for t in writer_threads() if t not in before] == []
    assert list(out.rglob("events.out.tfevents.*")), "the run wrote its TensorBoard events"
