"""Labelled image folders as a LightningDataModule.

Labels always become the *model's* class indices (never a 0..K-1 numbering of
folders). Three layouts are understood:

- class subfolders named by WordNet id, class index or class name
  (``val/n01440764/*.JPEG``);
- any folder plus a labels CSV with columns ``file,label``;
- a folder of unlabelled images (predictions only).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from harness.data.images import load_rgb, scan
from harness.data.labelfile import read_rows
from harness.data.malloc import return_freed_memory
from harness.data.selection import (
    calibration_record,
    check_inputs,
    choose,
    draw_calibration,
    no_images,
    relative,
)
from harness.data.transforms import split
from harness.errors import HarnessError
from harness.labels.label_map import read_label_map
from harness.labels.resolve import UNLABELLED, Label, Resolver, check_nested
from harness.rows import Chosen

UNNAMED_FOLDERS = "no subfolder names a class of the model"  # a note of find_samples


@dataclass
class Samples:
    """The files to evaluate, their labels, and notes on what was left out and why."""

    root: Path
    files: list[Path]
    labels: list[int]
    layout: str
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # passed over before decoding
    dropped: list[tuple[Path, str]] = field(default_factory=list)  # labels rows, --lenient
    chosen: Chosen = field(default_factory=lambda: Chosen())  # limit, sample, seed, selection
    # where a label stands for several classes (a word): labels index these, else classes
    label_set: list[Label] | None = None
    calibration: list[Path] = field(default_factory=list)  # set aside for int8, not evaluated

    @property
    def labelled(self) -> bool:
        return any(y != UNLABELLED for y in self.labels)

    @classmethod
    def unlabelled(
        cls,
        files: Sequence[Path],
        root: Path | None = None,
        layout: str = "unlabelled",
        skipped: Sequence[tuple[Path, str]] = (),
    ) -> Samples:
        """``files`` without labels; ``root`` defaults to the first one's folder."""
        root = root if root is not None else Path(files[0]).parent if files else Path()
        return cls(root, list(files), [UNLABELLED] * len(files), layout, skipped=list(skipped))


def _counted(one: str, many: str, bad: list[str]) -> str:
    """``bad`` counted: ``one`` says it of one item, ``many`` of several; ten named."""
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    what = one if len(bad) == 1 else many
    return f"{len(bad)} {what}: {', '.join(bad[:10])}{more}"


def _fail(one: str, many: str, bad: list[str]) -> HarnessError:
    """An error counting ``bad`` (``_counted``)."""
    return HarnessError(_counted(one, many, bad))


def from_csv(
    root: Path,
    labels_csv: Path,
    to_index: Callable[[str], int],
    ignore: frozenset[str] = frozenset(),
    lenient: bool = False,
) -> Samples:
    """Samples listed in a labels file (``labelfile``), files relative to ``root``.

    A file named on two lines is an error naming both. A row naming no file of
    ``root``, or a label that is no class, is an error too; with ``lenient`` it
    is skipped instead and listed among the skipped files, with a note. Files of
    ``root`` that the CSV does not list (other than those in ``ignore``) are noted.
    """
    files, labels, missing, unknown, twice = [], [], [], [], []
    line_of: dict[str, int] = {}  # normalised file name -> the line naming it first
    for row in read_rows(labels_csv, root):
        name, n, path, key = row.file, row.line, root / row.file, os.path.normpath(row.file)
        if name and key in line_of:
            twice.append(f"{name} (lines {line_of[key]} and {n})")
            continue
        line_of[key] = n
        if not name or not path.is_file():
            why = "no such file" if name else "empty file name"
            shown = name or f"({why} on line {n})"
            missing.append((path, f"line {n} of {labels_csv.name}: {why}", shown))
            continue
        try:
            labels.append(to_index(row.label))
            files.append(path)
        except ValueError as e:
            why = f"line {n} of {labels_csv.name}: unknown label {e}"
            unknown.append((path, why, f"{name}: {e}"))
    if twice:
        raise _fail(
            f"file named twice in {labels_csv}", f"files named twice in {labels_csv}", twice
        )
    samples = Samples(root, files, labels, f"labels file {labels_csv}")
    _bad_rows(samples, labels_csv, missing, unknown, lenient)
    listed = set(files) | {path for path, _, _ in unknown}  # named, though not by a class
    unlisted = [p for p in scan(root)[0] if p not in listed and os.path.abspath(p) not in ignore]
    shown = ", ".join(str(p.relative_to(root)) for p in unlisted[:3])
    more = f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else ""
    if unlisted:
        samples.notes.append(
            f"{len(unlisted)} file{'s' * (len(unlisted) != 1)} in {root} not listed in "
            f"{labels_csv.name}, not evaluated: {shown}{more}"
        )
    return samples


Bad = list[tuple[Path, str, str]]  # a row's file, why it is skipped, how an error names it


def _bad_rows(
    samples: Samples, labels_csv: Path, missing: Bad, unknown: Bad, lenient: bool
) -> None:
    """Rows naming no file or no class: an error, or with ``lenient`` skipped and noted."""
    if not lenient:  # one line naming both kinds, the hint after the first
        hint, parts = " (--lenient skips such rows)", []
        if missing:
            where = f"listed in {labels_csv} {{}} not exist in {samples.root}{hint}"
            one, many = f"file {where.format('does')}", f"files {where.format('do')}"
            parts.append(_counted(one, many, [shown for _, _, shown in missing]))
        if unknown:
            where = f" in {labels_csv}{'' if missing else hint}"
            bad = [shown for _, _, shown in unknown]
            parts.append(_counted(f"unknown label{where}", f"unknown labels{where}", bad))
        if parts:
            raise HarnessError("; and ".join(parts))
        return
    samples.dropped = [(path, why) for path, why, _ in missing + unknown]
    if missing or unknown:
        k = len(missing) + len(unknown)
        rows = f"{k} row{'s' * (k != 1)}"
        samples.notes.append(
            f"--lenient: {rows} of {labels_csv.name} skipped "
            f"({len(missing)} naming no file, {len(unknown)} with an unknown label; "
            "listed as skipped)"
        )


def _leave_out(samples: Samples, out: Callable[[str], bool]) -> int:
    """Drop the files, listed or passed over, whose absolute path ``out`` holds for; how many."""
    before = len(samples.files) + len(samples.skipped)
    samples.skipped = [s for s in samples.skipped if not out(os.path.abspath(s[0]))]
    _keep(samples, [i for i, f in enumerate(samples.files) if not out(os.path.abspath(f))])
    return before - len(samples.files) - len(samples.skipped)


def _under(folder: str) -> Callable[[str], bool]:
    """Whether an absolute path lies under ``folder`` (absolute)."""
    return lambda path: path.startswith(folder + os.sep)


def from_folders(root: Path, to_index: Callable[[str], int]) -> Samples | None:
    """Samples from class subfolders, or None when no subfolder names a class."""
    subdirs = sorted(d for d in root.iterdir() if not d.name.startswith(".") and _is_dir(d))
    mapped, bad = {}, []
    for d in subdirs:
        try:
            mapped[d] = to_index(d.name)
        except ValueError as e:
            bad.append(str(e))
    if all(y == UNLABELLED for y in mapped.values()):  # none names a class (nor a word's)
        return None
    if bad:
        where = f"of {root} {{}} no class of the model"
        raise _fail(f"subfolder {where.format('names')}", f"subfolders {where.format('name')}", bad)
    files, labels = [], []
    skipped = [(p, "outside the class folders") for p in sorted(root.iterdir()) if not _is_dir(p)]
    for d, y in mapped.items():
        found, passed = scan(d)
        files += found
        labels += [y] * len(found)
        skipped += passed
    return Samples(root, files, labels, "class subfolders", skipped=skipped)


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:  # a link to itself
        return False


def find_samples(
    data: str | os.PathLike[str],
    categories: Sequence[str],
    wnids: Sequence[str] = (),
    labels: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    ignore: Sequence[str | os.PathLike[str]] = (),
    lenient: bool = False,
    label_map: str | os.PathLike[str] | None = None,
    calibration: int | None = None,
    outputs: Sequence[str | os.PathLike[str]] = (),
) -> Samples:
    """Work out the layout of ``data`` and list its images with their model labels.

    ``calibration`` photos (drawn with ``seed``: ``selection.draw_calibration``) are
    set aside for int8 first, in ``samples.calibration``; then ``limit``, ``sample``
    and ``seed`` choose among the others (``selection.choose``);
    the labels file and the files in ``ignore`` are never taken for images, nor any file
    under the folders ``outputs`` (the harness's own runs: figures are PNGs), with a note.
    ``lenient`` skips the labels file's rows that name no file or no class.
    Labels are resolved by ``harness.labels.resolve`` (``label_map``: ``--label-map``).
    """
    check_inputs(data, labels)
    root = Path(data)
    skip = frozenset(map(os.path.abspath, [*ignore, *([labels] if labels else [])]))
    to_index = Resolver(categories, wnids, read_label_map(str(label_map)) if label_map else {})
    if labels is not None:
        samples = from_csv(root, Path(labels), to_index, skip, lenient)
    else:
        found = from_folders(root, to_index)
        if found is None:
            files, skipped = scan(root)
            found = Samples.unlabelled(files, root, skipped=skipped)
            folders = [d.name for d in sorted(root.iterdir()) if d.name[0] != "." and _is_dir(d)]
            if folders:  # perhaps meant as class folders: say why they were not taken as such
                shown = ", ".join(map(repr, folders[:3])) + (", ..." if len(folders) > 3 else "")
                found.notes.append(
                    f"{UNNAMED_FOLDERS} ({len(folders)}: {shown}): "
                    "evaluated unlabelled; name class folders by class name, index or wnid, "
                    "or pass --labels"
                )
        samples = found
    samples.notes += to_index.notes
    _leave_out(samples, skip.__contains__)
    for folder in map(os.path.abspath, outputs):
        k = _leave_out(samples, _under(folder))
        if k:
            samples.notes.append(
                f"{k} file{'s' * (k != 1)} under {folder} (the harness's own output) "
                "not taken for photos"
            )
    if not samples.files:
        raise no_images(root, len(samples.skipped))
    aside = _set_aside(samples, calibration, seed) if calibration is not None else {}
    keep, samples.chosen = choose(len(samples.files), limit, sample, seed)
    if aside:
        aside["selection"] += samples.chosen["selection"]
        samples.chosen.update(aside)
    for asked, option in ((limit, "--limit"), (sample, "--sample")):
        if asked is not None and asked > len(samples.files):
            samples.notes.append(f"{option} {asked}: there are {len(samples.files)}, all taken")
    _keep(samples, keep)
    _label_set(samples, to_index.labels)
    return samples


def _label_set(samples: Samples, found: Sequence[Label]) -> None:
    """Labels as class indices where each label of the files taken is one exact class (as
    always), else as indices of ``samples.label_set``: those labels alone, in the order
    they were met (the labels present, among which ``top1_among_labels`` chooses).
    """
    used = sorted({y for y in samples.labels if y >= 0})
    if all(found[y].how == "class" for y in used):
        samples.labels = [found[y].classes[0] if y >= 0 else y for y in samples.labels]
        return
    check_nested([found[y] for y in used])
    new = {y: k for k, y in enumerate(used)}
    samples.labels = [new[y] if y >= 0 else y for y in samples.labels]
    samples.label_set = [found[y] for y in used]


def _set_aside(samples: Samples, n: int, seed: int) -> Chosen:
    """Move ``n`` photos drawn with ``seed`` from the samples to ``samples.calibration``;
    return their record and the start of the selection's words.
    """
    drawn = set(draw_calibration(relative(samples.files, samples.root), n, seed))
    samples.calibration = [f for i, f in enumerate(samples.files) if i in drawn]
    _keep(samples, [i for i in range(len(samples.files)) if i not in drawn])
    record = calibration_record(samples.calibration, samples.root, seed)
    return {"calibration": record, "selection": f"{n} set aside to calibrate int8, then "}


def _keep(samples: Samples, indices: list[int]) -> None:
    samples.files = [samples.files[i] for i in indices]
    samples.labels = [samples.labels[i] for i in indices]


def check_same_samples(samples: Samples) -> None:
    """Every process of the run lists the same files with the same labels, or a HarnessError.

    Processes split the work by sample index, so a node whose --data, --labels,
    --limit, --sample or --seed differs would silently evaluate other images. File
    names are compared relative to the data folder, which may be mounted elsewhere
    on each node.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    names = relative(samples.files, samples.root)
    text = "\n".join(f"{n}\t{y}" for n, y in zip(names, samples.labels, strict=True))
    mine = (len(samples.files), hashlib.sha256(text.encode(errors="surrogateescape")).hexdigest())
    every: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    if len(set(every)) > 1:
        counts = ", ".join(f"rank {r}: {n}" for r, (n, _) in enumerate(every))
        raise HarnessError(
            f"the processes of this run list different images ({counts} images): every node "
            "needs the same --data folder contents, --labels, --limit, --sample and --seed"
        )


class ImageDataset(Dataset[tuple[Any, int, int, str]]):
    """(image tensor or None, label, sample index, reason it could not be read).

    ``decode`` turns a path into an upright RGB image (``harness.data.images.Decoder``).
    """

    def __init__(
        self,
        files: Sequence[Path],
        labels: Sequence[int],
        transform: Callable,
        decode: Callable[[Path], Any] = load_rgb,
    ) -> None:
        self.files, self.labels, self.transform = files, labels, transform
        self.decode = decode

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, int, int, str]:
        try:
            return self.transform(self.decode(self.files[i])), self.labels[i], i, ""
        except Exception as e:  # any decoder error means "unusable file", reported by name
            return None, self.labels[i], i, f"{type(e).__name__}: {e}".splitlines()[0]


def collate(batch: list[tuple[Any, int, int, str]]) -> dict[str, Any]:
    """Stack the readable images; keep (index, reason) for the others."""
    good = [b for b in batch if b[0] is not None]
    return {
        "image": torch.stack([b[0] for b in good]) if good else torch.empty(0),
        "label": torch.tensor([b[1] for b in good], dtype=torch.long),
        "index": torch.tensor([b[2] for b in good], dtype=torch.long),
        "skipped": [(b[2], b[3]) for b in batch if b[0] is None],
    }


class ImageFolderDataModule(L.LightningDataModule):
    """A folder of images with model-index labels, preprocessed by ``transform``.

    Under several processes each image goes to exactly one of them (no padding
    with repeats, as Lightning's default sampler would do), so counts stay exact.
    Where the transform splits (``harness.data.transforms``), workers send uint8 pixels
    and each batch is normalised after its transfer to the device, in
    channels-last (NCHW when ``channels_last`` is False). Batches are pinned for
    the transfer when ``pin_memory``; by default when the run is on a CUDA device
    (the trainer's), or, with no trainer, whenever CUDA is there.
    """

    def __init__(
        self,
        samples: Samples,
        transform: Callable,
        batch_size: int = 32,
        num_workers: int = 0,
        decode: Callable[[Path], Any] = load_rgb,
        channels_last: bool = True,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        self.samples = samples
        self.pin_memory = pin_memory
        self.split, self.channels_last = split(transform), channels_last
        per_image = self.split.pixels if self.split else transform
        self.dataset = ImageDataset(samples.files, samples.labels, per_image, decode)
        self.batch_size, self.num_workers = batch_size, num_workers

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        if self.split is not None and batch["image"].dtype == torch.uint8:
            batch["image"] = self.split.normalise(batch["image"], self.channels_last)
        return batch

    def on_device(self, images: torch.Tensor, device: torch.device) -> torch.Tensor:
        """A batch's images as the model gets them, outside a Trainer: copied to ``device``
        (without waiting, from pinned memory on a GPU) and normalised as in a run.
        """
        moved = images.to(device, non_blocking=device.type == "cuda")
        return self.on_after_batch_transfer({"image": moved}, 0)["image"]

    def setup(self, stage: str) -> None:
        check_same_samples(self.samples)  # several nodes: each must list the same images

    def pinned(self) -> bool:
        """Whether batches are pinned: ``pin_memory``, else whether they go to a CUDA device."""
        if self.pin_memory is not None:
            return self.pin_memory
        if self.trainer is not None:  # a CPU run on a GPU machine pins nothing
            return self.trainer.strategy.root_device.type == "cuda"
        return torch.cuda.is_available()

    def _loader(self) -> DataLoader:
        from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

        sampler = None
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            sampler = UnrepeatedDistributedSampler(
                self.dataset,
                num_replicas=trainer.world_size,
                rank=trainer.global_rank,
                shuffle=False,
            )
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=False,
            pin_memory=self.pinned(),
            worker_init_fn=return_freed_memory,
        )

    def test_dataloader(self) -> DataLoader:
        return self._loader()

    def predict_dataloader(self) -> DataLoader:
        return self._loader()
