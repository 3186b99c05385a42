"""harness: evaluate and benchmark pretrained image classifiers side by side."""

from __future__ import annotations

__version__ = "0.1.0"


class HarnessError(Exception):
    """An error the user caused or can fix: printed as one line, exit status 2."""
