"""harness: evaluate and benchmark pretrained image classifiers side by side."""

from __future__ import annotations

__version__ = "0.1.0"


class HarnessError(Exception):
    """An error the user caused or can fix: printed as one line, exit status 2."""


class RunFailed(Exception):
    """A failure not of the user's making (a node died), said in one line: exit status 1."""
