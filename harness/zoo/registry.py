"""One registry over torchvision's classifiers and timm's zoo: names, weights, metadata, classes.

Bare names are torchvision's (``resnet50``), ``timm/ARCH[.TAG]`` are timm's;
:func:`library` decides which, once, and everything else asks the
:class:`~harness.zoo.library.Library` it returns. Nothing here lists models or
classes by hand: names come from each library's registry, metadata from its
weights enum or pretrained config. A :class:`Card` is what the rest of the
harness needs to know of a model and its weights before (or without) loading them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.config import variant
from harness.zoo import timm_models
from harness.zoo.library import Card, Library, library_name, natural
from harness.zoo.library import imagenet_wnids as imagenet_wnids  # where tests and labels look

if TYPE_CHECKING:
    from torch import nn

# torchvision (and so torch) is imported at the first torchvision name: a search of timm's
# zoo alone answers from timm's listing without either (harness.zoo.timm_models)


def library(name: str) -> Library:
    """The library that ``name`` (a model name or a ``timm/`` pattern) belongs to."""
    if library_name(name) == "timm":
        return timm_models.TIMM
    from harness.zoo import torchvision_models

    return torchvision_models.TORCHVISION


def match(patterns: list[str] | None) -> list[str]:
    """Model names matching the shell-style ``patterns`` (torchvision's all when none), once each.

    Names keep the order of the patterns that matched them first; the names a
    single pattern matches sort naturally. ``timm/`` patterns match timm's
    architectures (or ``ARCH.TAG`` when they hold a dot). An exact name is
    returned as is; a pattern that matches nothing raises a HarnessError that
    names the nearest valid names.
    """
    if not patterns:
        from harness.zoo import torchvision_models

        return sorted(torchvision_models.classifiers(), key=natural)
    found: list[str] = []
    for pattern in patterns:
        hits = library(pattern).match(pattern)
        if not hits:
            check(pattern)  # raises with suggestions
        found += [h for h in hits if h not in found]
    return found


def match_variants(patterns: list[str]) -> list[str]:
    """``match`` for names that may carry a runtime, ``MODEL@RUNTIME[:PRECISION]``: each
    pattern's model part is matched and its runtime kept on every match.

    >>> match_variants(["squeezenet1_*@openvino"])
    ['squeezenet1_0@openvino', 'squeezenet1_1@openvino']
    """
    found: list[str] = []
    for pattern in patterns:
        v = variant(pattern)
        found += [h for h in (str(v.named(m)) for m in match([v.model])) if h not in found]
    return found


def check(name: str) -> str:
    """``name`` if torchvision or timm has such a classifier, else raise naming near matches."""
    return library(name).check(name)


def card(name: str, tag: str = "DEFAULT") -> Card:
    """The :class:`Card` of ``name`` with the weights ``tag`` (DEFAULT: the library's default)."""
    return library(name).card(name, tag)


def build(name: str, num_classes: int | None = None) -> nn.Module:
    """``name`` with random weights (and a head of ``num_classes`` when given)."""
    return library(name).build(name, num_classes)


def info(name: str) -> dict[str, Any]:
    """One row of ``harness models``: the default weights' metadata and published figures.

    Nothing is built: parameters and FLOPs are the published ones (torchvision's
    metadata, timm's tables), accuracies fractions as everywhere in the harness.
    """
    return library(name).info(name)


def figures(c: Card) -> dict[str, Any]:
    """The published figures of a card's weights (:mod:`harness.zoo.published`'s keys).

    torchvision's come from its weights enum, timm's from timm's results tables
    (read at the first call: only the commands that show them pay for them).
    """
    return library(c.name).figures(c)


def class_table(c: Card) -> list[tuple[int, str, str]]:
    """(index, WordNet id, name) for each class a model's weights predict ("" wnid if unknown)."""
    return [(i, c.wnids[i], n) for i, n in enumerate(c.categories)]
