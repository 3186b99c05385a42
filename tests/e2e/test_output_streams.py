"""stdout carries data only: a terminal on stderr shows the progress; a closed pipe is
no traceback."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]
# --- 1. stdout carries data only ------------------------------------------------------------


def at_a_terminal(args: list[str], cwd: Path) -> tuple[bytes, bytes]:
    """``harness ARGS`` with stdout piped and stderr a 100-column terminal: (stdout, terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    terminal: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                return
            if not chunk:
                return
            terminal.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    assert proc.returncode == 0, b"".join(terminal).decode(errors="replace")
    return out, b"".join(terminal)


def test_progress_bar_goes_to_a_terminal_on_stderr(tiny_images: list[Path], tmp_path: Path) -> None:
    """stdout piped into a file, stderr a terminal: the bar, a skipped file's line and a note
    show there, the JSON stays whole."""
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    args = ["predict", str(tiny_images[0]), str(empty), *FAST[:4], "--num-workers", "0",
            "--topk", "2000", "--format", "json"]  # fmt: skip
    out, terminal = at_a_terminal(args, tmp_path)
    [result] = json.loads(out)  # nothing but the JSON
    assert result["file"] == str(tiny_images[0]) and len(result["topk"]) == 1000
    assert b"Predicting" in terminal  # Lightning's bar, on the terminal
    assert f"harness: skipped {empty}: ".encode() in terminal
    assert b"harness: note: --topk 2000: squeezenet1_1 has 1000 classes, all shown" in terminal


def test_models_shows_progress_at_a_terminal(tmp_path: Path) -> None:
    """Counting timm's parameters builds each model: a long list shows how far it is."""
    from harness.zoo import registry

    patterns = ["resnet*", "vgg*", "efficientnet*"]  # torchvision's: quick to list
    n = len(registry.match(patterns))
    out, terminal = at_a_terminal(["models", *patterns, "--format", "json"], tmp_path)
    assert n > 20 and len(json.loads(out)) == n  # stdout holds the JSON only
    assert b"models:   0%| " in terminal and f"| 0/{n} [".encode() in terminal


def test_json_error_into_a_closed_pipe_is_no_traceback() -> None:
    """``... --format json | head -c 0``: the reader has gone before the error document."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "predict", "x.png", "--format", "json"],
            stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=300,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 2  # no --model: a usage error, said on stderr
    assert "--model" in done.stderr and "Traceback" not in done.stderr
