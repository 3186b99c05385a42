"""What a run does when things go wrong: out of memory, an unusable file, Ctrl+C, a lost node."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import lightning as L
import torch
from lightning.pytorch.utilities.memory import garbage_collection_cuda, is_oom_error

from harness.config import RunConfig
from harness.data.datamodule import Samples
from harness.engine.distributed import failure
from harness.errors import HarnessError, UnusableImage

T = TypeVar("T")


def out_of_memory(e: BaseException) -> bool:
    """Lightning's test (CUDA, cuDNN, CPU allocator), and torch's own error on other devices."""
    return isinstance(e, torch.OutOfMemoryError) or is_oom_error(e)


def retrying(attempt: Callable[[RunConfig], T], cfg: RunConfig) -> tuple[T, RunConfig]:
    """``attempt(cfg)``, and again at half the batch size while it runs out of memory.

    Each retry says so on stderr; out of memory at batch size 1 is a HarnessError.
    Returns the outcome and the config it was had with (``cfg`` is not changed).
    """
    while True:
        try:
            return attempt(cfg), cfg
        except RuntimeError as e:
            if not out_of_memory(e):
                raise
            if cfg.batch_size == 1:
                raise HarnessError("out of memory even at batch size 1") from None
            cfg = replace(cfg, batch_size=cfg.batch_size // 2)
            print(
                f"harness: warning: out of memory; trying again with --batch-size {cfg.batch_size}",
                file=sys.stderr,
            )
            garbage_collection_cuda()


@contextmanager
def failures(t: L.Trainer, cfg: RunConfig, samples: Samples) -> Iterator[None]:
    """A Trainer run's failures in one line each: an unusable file (under --strict), Ctrl+C
    (Lightning exits after shutting down cleanly: KeyboardInterrupt), a node that died or hung.
    Out of memory passes through, for ``retrying``.
    """
    try:
        yield
    except UnusableImage as e:
        raise unusable(samples.files[e.index], e.reason) from None
    except SystemExit:
        if t.interrupted:
            raise KeyboardInterrupt from None
        raise
    except Exception as e:  # a node that died or hung: one line, not a library's traceback
        lost = None if out_of_memory(e) or t.world_size <= 1 else failure(e, cfg.dist_timeout)
        if lost is None:
            raise
        raise lost from e


def unusable(path: Path, reason: str) -> HarnessError:
    """The error of an unusable file under ``--strict``."""
    return HarnessError(f"unusable file {str(path)!r}: {reason} (--strict)")
