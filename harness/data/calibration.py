"""The photos an int8 model is calibrated on, as the model's preprocessed batches.

They are drawn from the data (``find_samples(..., calibration=N)`` sets them
aside, out of the evaluation) or from a folder of their own (``--calibration-data``,
nothing set aside); ``selection.draw_calibration`` draws them either way.
:meth:`Calibration.prepared` gives them as the int8 runtimes take them (``Batches``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.data.datamodule import ImageFolderDataModule, Samples
from harness.data.images import load_rgb
from harness.data.selection import (
    calibration_record,
    check_calibration_data,
    draw_calibration,
    relative,
)
from harness.errors import HarnessError
from harness.rows import CalibrationRecord


@dataclass(frozen=True)
class Batches:
    """Calibration photos as an int8 runtime takes them: batches made when asked for, and
    a digest of what makes them (each photo's name and bytes, the preprocessing), which
    keys the cached int8 file; ``record`` is the results' (``selection.calibration_record``).
    """

    digest: str
    make: Callable[[], Iterator[np.ndarray]] = field(compare=False, repr=False)
    record: CalibrationRecord = field(compare=False, repr=False)


@dataclass
class Calibration:
    """Calibration photos, their record for the results, and those that could not be read."""

    files: list[Path]
    record: CalibrationRecord
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # name, reason

    @classmethod
    def of(cls, samples: Samples) -> Calibration:
        """The photos ``find_samples`` set aside (``samples.calibration``)."""
        if not samples.calibration:
            raise HarnessError("int8: no photos were set aside to calibrate on")
        return cls(samples.calibration, samples.chosen["calibration"])

    @classmethod
    def from_folder(cls, folder: str, n: int, seed: int = 0) -> Calibration:
        """``n`` photos of ``folder`` (``--calibration-data``), drawn with ``seed``."""
        found = check_calibration_data(folder)
        drawn = [found[i] for i in draw_calibration(relative(found, Path(folder)), n, seed, folder)]
        return cls(drawn, calibration_record(drawn, Path(folder), seed, folder))

    def prepared(
        self,
        transform: Callable,
        decode: Callable[[Path], Any] = load_rgb,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> Batches:
        """The photos as ``batches`` will give them, with their digest."""
        h = hashlib.sha256(f"{transform!r}\n{decode!r}\n".encode())
        for name, path in zip(self.record["files"], self.files, strict=True):
            h.update(f"{name}\n".encode())
            h.update(_bytes(path))

        def make() -> Iterator[np.ndarray]:
            return self.batches(transform, decode, batch_size, num_workers)

        return Batches(h.hexdigest(), make, self.record)

    def batches(
        self,
        transform: Callable,
        decode: Callable[[Path], Any] = load_rgb,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> Iterator[np.ndarray]:
        """The photos as the model gets them: float32 (B, C, H, W) batches, NCHW.

        A photo that cannot be read is left out and listed in ``unreadable`` (and
        in the record), as the evaluation lists its skipped files.
        """
        samples = Samples.unlabelled(self.files)
        dm = ImageFolderDataModule(
            samples,
            transform,
            batch_size,
            num_workers,
            decode,
            channels_last=False,
            pin_memory=False,
        )
        for batch in dm.predict_dataloader():
            self.unreadable += [(self.record["files"][i], why) for i, why in batch["skipped"]]
            if len(batch["image"]):
                yield dm.on_device(batch["image"], torch.device("cpu")).numpy()
        self.record["unreadable"] = [f"{name}: {why}" for name, why in self.unreadable]


def _bytes(path: Path) -> bytes:
    """The file's bytes; for one that cannot be read, why (``batches`` lists it)."""
    try:
        return path.read_bytes()
    except OSError as e:
        return f"unreadable: {e}".encode()
