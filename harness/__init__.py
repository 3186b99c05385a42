"""harness: evaluate and benchmark pretrained image classifiers side by side."""

from __future__ import annotations

import os

__version__ = "0.1.0"


def default_workers() -> int:
    """Data-loading worker processes when ``--num-workers`` is not given: one per core, up to 8."""
    return min(8, os.cpu_count() or 1)


class HarnessError(Exception):
    """An error the user caused or can fix: printed as one line, exit status 2."""


class RunFailed(Exception):
    """A failure not of the user's making (a node died), said in one line: exit status 1."""
