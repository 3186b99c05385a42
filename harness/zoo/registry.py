"""One registry over torchvision's classifiers and timm's zoo: names, weights, metadata, classes.

Bare names are torchvision's (``resnet50``), ``timm/ARCH[.TAG]`` are timm's.
Nothing here lists models or classes by hand: names come from
``torchvision.models.list_models`` and timm's registry, metadata from each
torchvision weights enum or timm pretrained config, WordNet ids from timm's
ImageNet tables. A :class:`Card` is what the rest of the harness needs to know
of a model and its weights before (or without) loading them.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torchvision
from torch import nn
from torchvision.models import WeightsEnum, get_model, get_model_weights, list_models

from harness.errors import HarnessError
from harness.zoo import timm_models


def natural(name: str) -> list[Any]:
    """Sort key that puts resnet18 before resnet101."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name.lower())]


@dataclass(frozen=True)
class Card:
    """A model and its weights as the registries describe them, before any weights load.

    ``preprocessing`` records the eval transform: input size (H, W), the short
    side resized to, crop fraction, interpolation, mean and std.
    """

    name: str
    library: str  # "torchvision" or "timm"
    weights: str  # torchvision's enum member (IMAGENET1K_V2) or timm's tag (in1k)
    dataset: str
    categories: tuple[str, ...]
    wnids: tuple[str, ...]  # "" where unknown
    preprocessing: dict[str, Any]
    transforms: Callable[[], Any] = field(repr=False, compare=False)
    published_top1: float | None = None  # fractions, for these weights on ImageNet val
    published_top5: float | None = None
    file_mb: float | None = None

    @property
    def label_space(self) -> str:
        """A digest of the classes (by WordNet id where known): equal means comparable."""
        keys = self.wnids if all(self.wnids) else self.categories
        return hashlib.sha1("\n".join(keys).encode()).hexdigest()

    @property
    def input_size(self) -> int:
        """The square side the model sees (the crop's height)."""
        return int(self.preprocessing["input_size"][0])


@lru_cache(maxsize=1)
def classifiers() -> tuple[str, ...]:
    """All image-classification architectures torchvision registers (80 in 0.29).

    >>> "resnet50" in classifiers()
    True
    """
    return tuple(list_models(module=torchvision.models))


def match(patterns: list[str] | None) -> list[str]:
    """Model names matching the shell-style ``patterns`` (torchvision's all when none), once each.

    Names keep the order of the patterns that matched them first; the names a
    single pattern matches sort naturally. ``timm/`` patterns match timm's
    architectures (or ``ARCH.TAG`` when they hold a dot). An exact name is
    returned as is; a pattern that matches nothing raises a HarnessError that
    names the nearest valid names.
    """
    if not patterns:
        return sorted(classifiers(), key=natural)
    found: list[str] = []
    for pattern in patterns:
        if timm_models.is_timm(pattern):
            hits = timm_models.match(pattern)
        elif pattern in classifiers():
            hits = [pattern]
        else:
            hits = sorted(fnmatch.filter(classifiers(), pattern), key=natural)
        if not hits:
            check(pattern)  # raises with suggestions
        found += [h for h in hits if h not in found]
    return found


def check(name: str) -> str:
    """``name`` if torchvision or timm has such a classifier, else raise naming near matches."""
    if timm_models.is_timm(name):
        return timm_models.check(name)
    if name in classifiers():
        return name
    near = difflib.get_close_matches(name.lower(), classifiers(), n=5, cutoff=0.5)
    if name.lower() in timm_models.architectures():  # a timm architecture typed bare
        near = [timm_models.PREFIX + name.lower(), *near[:4]]
    hint = f"; did you mean {', '.join(near)}?" if near else "; see `python -m harness models`"
    raise HarnessError(f"unknown model {name!r}{hint}")


def weights_enum(name: str) -> type[WeightsEnum]:
    """The weights enum of a torchvision classifier, e.g. ``ResNet50_Weights``."""
    return get_model_weights(check(name))


def weights_tag(name: str, tag: str) -> WeightsEnum:
    """Look up ``tag`` ("DEFAULT", "IMAGENET1K_V2", or "ResNet50_Weights.IMAGENET1K_V2")."""
    enum = weights_enum(name)
    prefix, _, key = tag.rpartition(".")
    if prefix and prefix != enum.__name__:
        raise HarnessError(f"weights {tag!r} are not {name}'s ({enum.__name__})")
    want = "DEFAULT" if key.upper() == "DEFAULT" else tag
    try:  # torchvision's own lookup of "TAG" or "Enum.TAG"
        weights: WeightsEnum = enum.verify(want)
        return weights
    except KeyError:
        valid = ", ".join(["DEFAULT", *(m.name for m in enum)])  # iterating skips the alias
        raise HarnessError(
            f"unknown weights {tag!r} for {name}; valid: {valid}, a .pth file, or none"
        ) from None


def timm_tagged(name: str, tag: str) -> str:
    """``timm/ARCH.TAG`` for a timm name and a ``--weights`` tag (DEFAULT keeps the name's)."""
    if tag.upper() == "DEFAULT":
        return timm_models.check(name)
    arch = name[len(timm_models.PREFIX) :].split(".")[0]
    tagged = f"{timm_models.PREFIX}{arch}.{tag}"
    if "." in name[len(timm_models.PREFIX) :] and tagged != name:
        raise HarnessError(f"{name} already names its weights; --weights {tag} contradicts it")
    if f"{arch}.{tag}" not in timm_models.pretrained():
        tags = [t.split(".", 1)[1] for t in timm_models.pretrained() if t.split(".")[0] == arch]
        raise HarnessError(
            f"unknown weights {tag!r} for {name}; valid: DEFAULT, {', '.join(tags)}, "
            "a .pth file, or none"
        )
    return tagged


def dataset_of(weights: WeightsEnum) -> str:
    """The dataset the weights were trained (and published metrics measured) on."""
    metrics: dict[str, Any] = weights.meta.get("_metrics", {})
    return next(iter(metrics), "unknown")


def card(name: str, tag: str = "DEFAULT") -> Card:
    """The :class:`Card` of ``name`` with the weights ``tag`` (DEFAULT: the library's default)."""
    if timm_models.is_timm(name):
        return _timm_card(timm_tagged(name, tag))
    w = weights_tag(name, tag)
    meta = w.meta
    metrics: dict[str, float] = next(iter(meta.get("_metrics", {}).values()), {})
    tf = w.transforms()
    names = tuple(meta["categories"])
    return Card(
        name=name,
        library="torchvision",
        weights=w.name,
        dataset=dataset_of(w),
        categories=names,
        wnids=imagenet_wnids() if len(names) == 1000 else ("",) * len(names),
        preprocessing={
            "library": "torchvision",
            "input_size": [tf.crop_size[0], tf.crop_size[-1]],
            "resize": tf.resize_size[0],
            "crop_pct": round(tf.crop_size[0] / tf.resize_size[0], 4),
            "interpolation": tf.interpolation.value,
            "mean": list(tf.mean),
            "std": list(tf.std),
        },
        transforms=w.transforms,
        published_top1=_fraction(metrics.get("acc@1")),
        published_top5=_fraction(metrics.get("acc@5")),
        file_mb=meta.get("_file_size"),
    )


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 6)


def _timm_card(name: str) -> Card:
    cfg = timm_models.config(name)
    data = timm_models.data_config(name)
    space, names, wnids = timm_models.classes(name)
    side = data["input_size"][1]
    return Card(
        name=name,
        library="timm",
        weights=str(cfg.tag or "default"),
        dataset=space,
        categories=names,
        wnids=wnids,
        preprocessing={
            "library": "timm",
            "input_size": list(data["input_size"][1:]),
            "resize": math.floor(side / data["crop_pct"]) if data["crop_pct"] else side,
            "crop_pct": data["crop_pct"],
            "interpolation": data["interpolation"],
            "mean": list(data["mean"]),
            "std": list(data["std"]),
        },
        transforms=lambda: timm_models.transforms(name),
        published_top1=timm_models.PUBLISHED_TOP1.get(timm_models.hub_name(name)),
    )


def build(name: str, num_classes: int | None = None) -> nn.Module:
    """``name`` with random weights (and a head of ``num_classes`` when given)."""
    extra = {} if num_classes is None else {"num_classes": num_classes}
    if timm_models.is_timm(name):
        return timm_models.build(name, False, **extra)
    return get_model(check(name), weights=None, **extra)


def info(name: str) -> dict[str, Any]:
    """One row of ``harness models``: the default weights' published metadata."""
    if timm_models.is_timm(name):
        return timm_models.info(name)
    w = weights_tag(name, "DEFAULT")
    meta = w.meta
    metrics: dict[str, float] = next(iter(meta.get("_metrics", {}).values()), {})
    return {
        "model": name,
        "weights": w.name,
        "dataset": dataset_of(w),
        "classes": len(meta["categories"]),
        "acc1": metrics.get("acc@1"),
        "acc5": metrics.get("acc@5"),
        "params": meta.get("num_params"),
        "gflops": meta.get("_ops"),
        "file_mb": meta.get("_file_size"),
    }


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids in class-index order, from timm's synsets.

    timm's own file, read without importing timm (about 0.3 s of a torchvision
    model's start-up); its ``ImageNetInfo`` where the file is not found there.
    """
    import importlib.util

    spec = importlib.util.find_spec("timm")  # finds the package without running it
    if spec and spec.origin:
        synsets = Path(spec.origin).parent / "data" / "_info" / "imagenet_synsets.txt"
        if synsets.is_file():
            return tuple(synsets.read_text().split())
    from timm.data import ImageNetInfo

    info_ = ImageNetInfo("imagenet-1k")
    return tuple(info_.index_to_label_name(i) for i in range(info_.num_classes()))


def class_table(c: Card) -> list[tuple[int, str, str]]:
    """(index, WordNet id, name) for each class a model's weights predict ("" wnid if unknown)."""
    return [(i, c.wnids[i], n) for i, n in enumerate(c.categories)]
