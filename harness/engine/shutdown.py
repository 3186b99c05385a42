"""Ending a finished process quickly: exit handlers and flushed output, no module teardown.

Python's own finalisation tears down every imported module one by one; with
torch, torchvision, timm and Lightning loaded that takes 1-2 s on a 2-core
machine (about 3 s under load), longer than many evaluations, and does nothing
a finished run needs. So ``python -m harness`` and compare's per-model children
end through ``exit_now``: it runs the ``atexit`` handlers (multiprocessing's
clean-up of worker processes among them), flushes stdout and stderr, and ends
the process with ``os._exit``. Where a non-daemon thread is still running,
Python's ordinary exit is taken instead, since it waits for such threads.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """End the process with status ``code`` once its exit handlers have run and output is out."""
    main = threading.main_thread()
    if any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate()):
        raise SystemExit(code)  # Python's exit waits for them; os._exit would cut them off
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`), a closed stream
            stream.flush()
    os._exit(code)
