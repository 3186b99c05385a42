"""``exit_now``: a quick exit that keeps exit handlers, output and running threads' work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = "from harness.engine.shutdown import exit_now\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_status_output_and_exit_handlers_survive(tmp_path):
    done = run(
        """
        import atexit, sys
        atexit.register(lambda: open("atexit.txt", "w").write("ran"))
        print("no newline at the end", end="")
        print("to stderr", file=sys.stderr, end="")
        exit_now(3)
        """,
        tmp_path,
    )
    assert done.returncode == 3
    assert (done.stdout, done.stderr) == ("no newline at the end", "to stderr")
    assert (tmp_path / "atexit.txt").read_text() == "ran"


def test_a_running_thread_is_waited_for(tmp_path):
    """os._exit would cut a non-daemon thread off; exit_now leaves it to Python's exit."""
    done = run(
        """
        import threading, time
        def late():
            time.sleep(0.3)
            open("thread.txt", "w").write("finished")
        threading.Thread(target=late).start()
        exit_now(5)
        """,
        tmp_path,
    )
    assert done.returncode == 5
    assert (tmp_path / "thread.txt").read_text() == "finished"


def test_module_teardown_is_skipped(tmp_path):
    """An object's finaliser that only Python's teardown of modules would run does not run."""
    done = run(
        """
        class Noisy:
            def __del__(self):
                print("torn down")
        keep = Noisy()
        exit_now(0)
        """,
        tmp_path,
    )
    assert (done.returncode, done.stdout) == (0, "")


def test_a_closed_pipe_is_no_error(tmp_path):
    """Output into a reader that has gone (``| head``): status kept, no traceback."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from harness.engine.shutdown import exit_now\n"
            "import sys\nsys.stdout.write('x' * 1_000_000)\nexit_now(0)",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0  # the flush at the end met the closed pipe
    assert b"Traceback" not in proc.stderr.read()
