"""harness.engine.results: the note on DDP slower than one process."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("devices", "nodes", "accelerator", "seconds", "loop", "noted"),
    [(2, 1, "cpu", 3.0, 1.5, True), (2, 1, "cpu", 2.9, 1.5, False), (1, 1, "cpu", 9.0, 1.0, False),
     (2, 2, "cpu", 9.0, 1.0, False), (2, 1, "cuda", 9.0, 1.0, False)],
)  # fmt: skip
def test_ddp_slower_note_only_for_processes_sharing_one_cpu(
    devices: int, nodes: int, accelerator: str, seconds: float, loop: float, noted: bool
) -> None:
    """Twice the loop's time or more, several processes, one machine, its CPU: noted."""
    from harness.engine.results import ddp_note

    res = {"devices": devices, "num_nodes": nodes, "accelerator": accelerator,
           "seconds": seconds, "loop_seconds": loop, "n": 10}  # fmt: skip
    assert bool(ddp_note(res)) == noted
