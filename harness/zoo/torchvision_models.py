"""torchvision's classifiers behind the :class:`~harness.zoo.library.Library` interface.

Bare names are torchvision's (``resnet50``). Names come from
``torchvision.models.list_models``, metadata and preprocessing from each
weights enum, files from torchvision's own loader and cache
(``$TORCH_HOME/hub/checkpoints``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum, get_model, get_model_weights, list_models

from harness.errors import HarnessError, WeightsUnavailable
from harness.zoo import published, suggest, timm_models
from harness.zoo.library import TIMM_PREFIX, Card, imagenet_wnids, natural


@lru_cache(maxsize=1)
def classifiers() -> tuple[str, ...]:
    """All image-classification architectures torchvision registers (80 in 0.29).

    >>> "resnet50" in classifiers()
    True
    """
    return tuple(list_models(module=torchvision.models))


def weights_enum(name: str) -> type[WeightsEnum]:
    """The weights enum of a torchvision classifier, e.g. ``ResNet50_Weights``."""
    return get_model_weights(TORCHVISION.check(name))


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


def dataset_of(weights: WeightsEnum) -> str:
    """The dataset the weights were trained (and published metrics measured) on."""
    metrics: dict[str, Any] = weights.meta.get("_metrics", {})
    return next(iter(metrics), "unknown")


def cache_path(weights: WeightsEnum) -> Path:
    """Where torchvision's loader keeps (and looks for) the file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def card(name: str, tag: str = "DEFAULT") -> Card:
    """The :class:`Card` of torchvision's ``name`` with the weights ``tag``."""
    w = weights_tag(name, tag)
    tf = w.transforms()
    names = tuple(w.meta["categories"])
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
        file_mb=w.meta.get("_file_size"),
    )


def from_torchvision(name: str, weights: WeightsEnum) -> nn.Module:
    """torchvision's builder and loader; offline without a cached file: one clear error."""
    cached = cache_path(weights)
    log = io.StringIO()
    try:
        # torch.hub prints "Downloading: ..." to stdout, which would corrupt JSON
        # or CSV output there: hold it, and pass it on to stderr once it worked
        with contextlib.redirect_stdout(log):
            model = get_model(name, weights=weights, progress=False)
        sys.stderr.write(log.getvalue())
        return model
    except (OSError, ValueError) as e:  # URLError is an OSError
        reason = getattr(e, "reason", None) or e
        raise WeightsUnavailable(
            f"cannot get {name} weights {weights.name}: not in torchvision's cache ({cached}) "
            f"and the download failed ({reason}); put the file there, pass --weights FILE.pth, "
            f"--weights-dir DIR holding {name}.pth (used for --weights DEFAULT), or --weights "
            "none for random weights"
        ) from e
    except RuntimeError as e:  # a corrupt or partial cached file
        raise HarnessError(f"cannot load {name} weights from {cached}: {e}") from e


def info(name: str) -> dict[str, Any]:
    """One row of ``harness models``: the default weights' metadata and published figures.

    Nothing is built: parameters and FLOPs are torchvision's metadata, accuracies
    fractions as everywhere in the harness.
    """
    w = weights_tag(name, "DEFAULT")
    crop = w.transforms().crop_size
    return {
        "model": name,
        "weights": w.name,
        "dataset": dataset_of(w),
        "classes": len(w.meta["categories"]),
        "input_size": f"{crop[0]}x{crop[-1]}",
        **published.torchvision_figures(w.meta),
        "file_mb": w.meta.get("_file_size"),
    }


def figures(card: Card) -> dict[str, Any]:
    """The published figures of a card's weights, from torchvision's weights enum."""
    return published.torchvision_figures(weights_tag(card.name, card.weights).meta)


class Torchvision:
    """torchvision's zoo as a :class:`~harness.zoo.library.Library`."""

    name = "torchvision"

    def match(self, pattern: str) -> list[str]:
        if pattern.lower() in classifiers():  # torchvision's names are lowercase
            return [pattern.lower()]
        return sorted(fnmatch.filter(classifiers(), pattern.lower()), key=natural)

    def check(self, name: str) -> str:
        if name in classifiers():
            return name
        near = suggest.near(name, classifiers(), cutoff=0.5)
        if name.lower() in timm_models.architectures():  # a timm architecture typed bare
            own = near[:1] if near[:1] == [name.lower()] else []  # torchvision's, only miscased
            near = [*own, TIMM_PREFIX + name.lower(), *near[len(own) : 4]]
        hint = f"; {suggest.did_you_mean(near)}" if near else "; see `python -m harness models`"
        raise HarnessError(f"unknown model {name!r}{hint}")

    def tagged(self, name: str, tag: str) -> tuple[str, str]:
        return name, tag  # the tag is checked against the weights enum by ``card``

    def arch(self, name: str) -> str:
        return name

    def card(self, name: str, tag: str = "DEFAULT") -> Card:
        return card(name, tag)

    def shown(self, card: Card) -> str:
        return f"{card.weights} (torchvision)"

    def build(self, name: str, num_classes: int | None = None) -> nn.Module:
        extra = {} if num_classes is None else {"num_classes": num_classes}
        return get_model(self.check(name), weights=None, **extra)

    def pretrained(self, card: Card) -> nn.Module:
        return from_torchvision(card.name, weights_tag(card.name, card.weights))

    def cached(self, name: str) -> bool:
        return cache_path(weights_tag(name, "DEFAULT")).is_file()

    def info(self, name: str) -> dict[str, Any]:
        return info(name)

    def figures(self, card: Card) -> dict[str, Any]:
        return figures(card)

    def import_library(self) -> None:
        import torchvision  # noqa: F401


TORCHVISION = Torchvision()
