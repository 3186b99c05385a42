"""Lightning's progress bar on stderr, and only at a terminal: stdout carries data alone."""

from __future__ import annotations

import contextlib
import sys

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class StderrProgressBar(TQDMProgressBar):
    """``TQDMProgressBar`` whose test and predict bars write to stderr.

    Lightning's own bars write to stdout, where they would end up inside
    ``--format json > out.json``.
    """

    def init_test_tqdm(self) -> Tqdm:
        with contextlib.redirect_stdout(sys.stderr):  # the bar takes file=sys.stdout
            return super().init_test_tqdm()

    def init_predict_tqdm(self) -> Tqdm:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_predict_tqdm()


def progress_bar(wanted: bool) -> StderrProgressBar | None:
    """A progress bar when ``wanted`` and stderr is a terminal, else None."""
    return StderrProgressBar() if wanted and sys.stderr.isatty() else None
