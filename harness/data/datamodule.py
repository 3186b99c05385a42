"""Labelled image folders as a LightningDataModule.

Labels always become the *model's* class indices (never a 0..K-1 numbering of
folders). Three layouts are understood:

- class subfolders named by WordNet id, class index or class name
  (``val/n01440764/*.JPEG``);
- any folder plus a labels CSV with columns ``file,label``;
- a folder of unlabelled images (predictions only).
"""

from __future__ import annotations

import csv
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
from harness.data.malloc import return_freed_memory
from harness.data.selection import check_inputs, choose, no_images
from harness.data.transforms import split
from harness.errors import HarnessError
from harness.zoo.classlist import WNID

UNLABELLED = -1


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
    chosen: dict[str, Any] = field(default_factory=dict)  # limit, sample, seed, selection

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


class LabelMap:
    """Turns a label written as an index, a WordNet id or a class name into an index."""

    def __init__(self, categories: Sequence[str], wnids: Sequence[str] = ()) -> None:
        self.n = len(categories)
        self.by_wnid = {w: i for i, w in enumerate(wnids) if w}
        self.by_name: dict[str, list[int]] = {}
        for i, name in enumerate(categories):
            self.by_name.setdefault(name.lower(), []).append(i)

    def __call__(self, value: str) -> int:
        """The class index of ``value``; raises ValueError saying why it has none."""
        v = value.strip()
        if v.isdigit():
            if int(v) < self.n:
                return int(v)
            raise ValueError(f"{v} (index out of range 0..{self.n - 1})")
        if WNID.match(v):
            if v in self.by_wnid:
                return self.by_wnid[v]
            raise ValueError(f"{v} (unknown WordNet id)")
        hits = self.by_name.get(v.lower(), [])
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise ValueError(f"{v!r} (ambiguous name: classes {hits}; use the index or wnid)")
        raise ValueError(f"{v!r} (no such class)")


def _fail(what: str, bad: list[str]) -> HarnessError:
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    return HarnessError(f"{len(bad)} {what}: {', '.join(bad[:10])}{more}")


def from_csv(
    root: Path, labels_csv: Path, to_index: LabelMap, ignore: frozenset[str] = frozenset()
) -> Samples:
    """Samples listed in a ``file,label`` CSV, files relative to ``root``.

    A file named on two lines is an error naming both; files of ``root`` that
    the CSV does not list (other than those in ``ignore``) are noted.
    """
    try:
        with open(labels_csv, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = set(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise HarnessError(f"cannot read labels file {str(labels_csv)!r}: {e}") from e
    if not {"file", "label"} <= fields:
        raise HarnessError(
            f"labels file {str(labels_csv)!r} needs the columns file,label (has: {sorted(fields)})"
        )
    files, labels, missing, unknown, twice = [], [], [], [], []
    line_of: dict[str, int] = {}  # normalised file name -> the line naming it first
    for n, row in enumerate(rows, start=2):
        name, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        path, key = root / name, os.path.normpath(name)
        if name and key in line_of:
            twice.append(f"{name} (lines {line_of[key]} and {n})")
            continue
        line_of[key] = n
        if not name or not path.is_file():
            missing.append(name or f"(empty file name on line {n})")
            continue
        try:
            labels.append(to_index(label))
            files.append(path)
        except ValueError as e:
            unknown.append(f"{name}: {e}")
    if twice:
        raise _fail(f"files named twice in {labels_csv}", twice)
    if missing:
        raise _fail(f"files listed in {labels_csv} do not exist in {root}", missing)
    if unknown:
        raise _fail(f"unknown labels in {labels_csv}", unknown)
    listed = set(files)
    unlisted = [p for p in scan(root)[0] if p not in listed and os.path.abspath(p) not in ignore]
    shown = ", ".join(str(p.relative_to(root)) for p in unlisted[:3])
    more = f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else ""
    notes = [
        f"{len(unlisted)} file{'s' * (len(unlisted) != 1)} in {root} not listed in "
        f"{labels_csv.name}, not evaluated: {shown}{more}"
    ]
    return Samples(root, files, labels, f"labels file {labels_csv}", notes if unlisted else [])


def from_folders(root: Path, to_index: LabelMap) -> Samples | None:
    """Samples from class subfolders, or None when no subfolder names a class."""
    subdirs = sorted(d for d in root.iterdir() if not d.name.startswith(".") and _is_dir(d))
    mapped, bad = {}, []
    for d in subdirs:
        try:
            mapped[d] = to_index(d.name)
        except ValueError as e:
            bad.append(str(e))
    if not mapped:
        return None
    if bad:
        raise _fail(f"subfolders of {root} name no class of the model", bad)
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
) -> Samples:
    """Work out the layout of ``data`` and list its images with their model labels.

    ``limit``, ``sample`` and ``seed`` choose among them (``selection.choose``);
    the labels file and the files in ``ignore`` are never taken for images.
    """
    check_inputs(data, labels)
    root = Path(data)
    skip = frozenset(map(os.path.abspath, [*ignore, *([labels] if labels else [])]))
    to_index = LabelMap(categories, wnids)
    if labels is not None:
        samples = from_csv(root, Path(labels), to_index, skip)
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
    samples.skipped = [s for s in samples.skipped if os.path.abspath(s[0]) not in skip]
    _keep(samples, [i for i, f in enumerate(samples.files) if os.path.abspath(f) not in skip])
    if not samples.files:
        raise no_images(root, len(samples.skipped))
    keep, samples.chosen = choose(len(samples.files), limit, sample, seed)
    for asked, option in ((limit, "--limit"), (sample, "--sample")):
        if asked is not None and asked > len(samples.files):
            samples.notes.append(f"{option} {asked}: there are {len(samples.files)}, all taken")
    _keep(samples, keep)
    return samples


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
    names = (
        f.relative_to(samples.root) if f.is_relative_to(samples.root) else f for f in samples.files
    )
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
