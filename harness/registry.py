"""A thin view over torchvision's model registry: names, weights, metadata, classes.

Nothing here lists models or classes by hand: names come from
``torchvision.models.list_models``, metadata from each weights enum, and
WordNet ids from timm's ImageNet-1k synsets.
"""

from __future__ import annotations

import difflib
import fnmatch
from functools import lru_cache
from typing import Any

import torchvision
from torchvision.models import WeightsEnum, get_model_weights, list_models

from harness import HarnessError


@lru_cache(maxsize=1)
def classifiers() -> tuple[str, ...]:
    """All image-classification architectures torchvision registers (80 in 0.29).

    >>> "resnet50" in classifiers()
    True
    """
    return tuple(list_models(module=torchvision.models))


def match(patterns: list[str] | None) -> list[str]:
    """Model names matching the shell-style ``patterns`` (all when none), once each.

    Names keep the order of the patterns that matched them first; the names a
    single pattern matches are sorted.

    An exact name is returned as is; a pattern that matches nothing raises a
    HarnessError that names the nearest valid names.
    """
    if not patterns:
        return list(classifiers())
    found: list[str] = []
    for pattern in patterns:
        hits = [pattern] if pattern in classifiers() else fnmatch.filter(classifiers(), pattern)
        if not hits:
            check(pattern)  # raises with suggestions
        found += [h for h in hits if h not in found]
    return found


def check(name: str) -> str:
    """Return ``name`` if torchvision has such a classifier, else raise with near matches."""
    if name in classifiers():
        return name
    near = difflib.get_close_matches(name.lower(), classifiers(), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see `python -m harness models`"
    raise HarnessError(f"unknown model {name!r}{hint}")


def weights_enum(name: str) -> type[WeightsEnum]:
    """The weights enum of a classifier, e.g. ``ResNet50_Weights``."""
    return get_model_weights(check(name))


def weights_tag(name: str, tag: str) -> WeightsEnum:
    """Look up ``tag`` ("DEFAULT", "IMAGENET1K_V2", or "ResNet50_Weights.IMAGENET1K_V2")."""
    enum = weights_enum(name)
    prefix, _, key = tag.rpartition(".")
    if prefix and prefix != enum.__name__:
        raise HarnessError(f"weights {tag!r} are not {name}'s ({enum.__name__})")
    if key.upper() == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[key]
    except KeyError:
        valid = ", ".join(["DEFAULT", *(m.name for m in enum)])  # iterating skips the alias
        raise HarnessError(
            f"unknown weights {tag!r} for {name}; valid: {valid}, a .pth file, or none"
        ) from None


def dataset_of(weights: WeightsEnum) -> str:
    """The dataset the weights were trained (and published metrics measured) on."""
    metrics: dict[str, Any] = weights.meta.get("_metrics", {})
    return next(iter(metrics), "unknown")


def info(name: str) -> dict[str, Any]:
    """One row of ``harness models``: the default weights' published metadata."""
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
    """The 1000 ImageNet-1k WordNet ids in class-index order, from timm's synsets."""
    from timm.data import ImageNetInfo

    info_ = ImageNetInfo("imagenet-1k")
    return tuple(info_.index_to_label_name(i) for i in range(info_.num_classes()))


def class_table(weights: WeightsEnum) -> list[tuple[int, str, str]]:
    """(index, WordNet id, name) for each class the weights predict.

    WordNet ids are given for ImageNet-1k weights and are "" elsewhere.
    """
    names = weights.meta["categories"]
    wnids = imagenet_wnids() if len(names) == 1000 else ("",) * len(names)
    return [(i, wnids[i], n) for i, n in enumerate(names)]
