"""Every exception of the harness, and the exit statuses the command line ends with.

A leaf: it imports nothing of the harness, so every layer can raise and catch these.
"""

from __future__ import annotations

# exit statuses: ok, failed (not the user's doing), usage (the user can fix it), Ctrl+C
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class HarnessError(Exception):
    """An error the user caused or can fix: printed as one line, exit status 2."""


class RunFailed(Exception):
    """A failure not of the user's making (a node died), said in one line: exit status 1."""


class UnusableImage(HarnessError):
    """An image that could not be decoded, raised under ``--strict``."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"sample {index}: {reason}")
        self.index, self.reason = index, reason


class ImageTooLarge(ValueError):
    """An image over ``--max-pixels``, refused before its pixels are decoded."""


class WeightsUnavailable(HarnessError):
    """The library's weights are neither cached nor downloadable (offline)."""
