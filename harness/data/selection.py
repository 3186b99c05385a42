"""The user's inputs, checked before any model loads: the data folder (or its
default), the labels file, which of the images a run takes, and which of them
calibrate int8 models (left out of the evaluation).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from harness.data.images import scan, walk
from harness.errors import HarnessError
from harness.rows import CalibrationRecord, Chosen

DEFAULT_DATA = "data"  # the repository's folder for the user's own images
DEFAULT_LABELS = "labels.csv"  # the labels file of the default folder, when there


def check_inputs(
    data: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None
) -> None:
    """Raise a HarnessError when the data folder or the labels file is missing."""
    root = Path(data)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise HarnessError(f"data path {str(root)!r} {what}")
    if labels is not None and not Path(labels).is_file():
        what = "does not exist" if not Path(labels).exists() else "is not a file"
        raise HarnessError(f"labels file {str(labels)!r} {what}")


def check_not_empty(data: str | os.PathLike[str], labels: str | os.PathLike[str] | None) -> None:
    """Raise a HarnessError, as ``find_samples`` would, when a folder without a labels
    file holds no files at all (compare's check, before any model process starts).
    """
    if labels is None and not scan(Path(data))[0]:
        raise no_images(data)


def no_images(root: str | os.PathLike[str], passed: int = 0) -> HarnessError:
    """The error of a data folder with no image to try (``passed`` files passed over)."""
    why = f" ({passed} passed over: hidden or not regular files)" if passed else ""
    return HarnessError(f"no images found in {str(root)!r}{why}")


def check_output(output: str | os.PathLike[str] | None) -> None:
    """Raise a HarnessError when ``--output`` cannot be a folder: it, or the nearest of
    its parents that exists, is a file.
    """
    if output is None:
        return
    path = Path(output).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        named = repr(str(output))
        if path != Path(output).absolute():  # a parent is the file
            named += f": {str(path)!r}"
        raise HarnessError(f"--output {named} is a file: name a folder (made if absent)")


def default_data(checkout: Path | None = None) -> tuple[Path, Path | None]:
    """The data folder used when none is given, and its labels file if it has one.

    That is ``./data``, else the ``data/`` folder of the harness checkout
    (``checkout``, by default the folder above the package), whichever first
    holds images; its ``labels.csv``, when there, is the labels file.
    """
    checkout = checkout or Path(__file__).resolve().parents[1]
    for folder in (Path(DEFAULT_DATA), checkout / DEFAULT_DATA):
        if folder.is_dir() and walk(folder):
            labels = folder / DEFAULT_LABELS
            return folder, labels if labels.is_file() else None
    raise HarnessError(
        f"no --data given and {DEFAULT_DATA}/ holds no images: put your images in "
        f"{DEFAULT_DATA}/ (in class subfolders, or listed in {DEFAULT_DATA}/{DEFAULT_LABELS} "
        "with the columns file,label; see data/README.md), or pass --data DIR"
    )


def choose(
    n: int, limit: int | None = None, sample: int | None = None, seed: int = 0
) -> tuple[list[int], Chosen]:
    """Which of ``n`` listed images to take, and a record of how they were chosen.

    ``limit`` takes the first ones; ``sample`` a random choice drawn with ``seed``,
    kept in listing order.

    >>> choose(10, limit=3)[0], choose(10, sample=3, seed=0)[0]
    ([0, 1, 2], [0, 6, 9])
    """
    keep = list(range(n))
    if limit is not None:
        keep, how = keep[:limit], f"the first {min(limit, n)} of {n} (--limit)"
    elif sample is not None:
        keep = sorted(random.Random(seed).sample(keep, min(sample, n)))
        how = f"a random {len(keep)} of {n}, seed {seed} (--sample)"
    else:
        how = f"all {n}"
    return keep, {"limit": limit, "sample": sample, "seed": seed, "selection": how}


def relative(files: Sequence[Path], root: Path) -> list[str]:
    """Each file's name relative to ``root`` (as it is, when outside ``root``)."""
    return [str(f.relative_to(root) if f.is_relative_to(root) else f) for f in files]


def check_calibration_data(folder: str | None) -> list[Path]:
    """The photos of a ``--calibration-data`` folder, or a HarnessError saying why it has
    none ([] when no folder is given).
    """
    if folder is None:
        return []
    root = Path(folder)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise HarnessError(f"--calibration-data {folder!r} {what}")
    found = walk(root)
    if not found:
        raise HarnessError(f"--calibration-data {folder!r} holds no images")
    return found


def draw_calibration(
    names: Sequence[str], n: int, seed: int = 0, folder: str | None = None
) -> list[int]:
    """Which of ``names`` calibrate int8: ``n`` drawn with ``seed``, as indices in listing order.

    They are drawn from the names sorted, so that the same names give the same
    photos whatever their order: every model of a compare calibrates on, and is
    evaluated without, the same photos. Drawn from the data (``folder`` None),
    at least one photo must remain to evaluate; from a ``--calibration-data``
    folder, all may be taken.

    >>> names = ["d", "b", "a", "c"]
    >>> [names[i] for i in draw_calibration(names, 2)], draw_calibration(sorted(names), 2)
    (['d', 'b'], [1, 3])
    """
    spare = 0 if folder else 1
    if n > len(names) - spare:
        if folder:
            raise HarnessError(
                f"--calibration {n}: --calibration-data {folder!r} holds {len(names)} "
                f"photos: pass --calibration {len(names)} or fewer"
            )
        raise HarnessError(
            f"--calibration {n}: the data holds {len(names)} photos and those that calibrate "
            f"int8 are left out of the evaluation: pass --calibration {len(names) - 1} or "
            "fewer, or --calibration-data DIR"
        )
    by_name = sorted(range(len(names)), key=names.__getitem__)
    return sorted(random.Random(seed).sample(by_name, n))


def calibration_record(
    files: Sequence[Path], root: Path, seed: int, folder: str | None = None
) -> CalibrationRecord:
    """What results say of the photos int8 calibrates on: how many, which, from where."""
    return {
        "count": len(files),
        "seed": seed,
        "source": folder or "the data",
        "excluded_from_evaluation": folder is None,
        "files": relative(files, root),
        "unreadable": [],  # "name: reason", once the photos are read (``Calibration.batches``)
    }
