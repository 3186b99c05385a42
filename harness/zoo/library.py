"""What a model library offers the harness, and what it says of a model: the ``Library`` interface.

torchvision's zoo (``harness.zoo.torchvision_models``) and timm's
(``harness.zoo.timm_models``) each implement :class:`Library`; which one a name
belongs to is decided once, by ``registry.library``. Light on purpose (no torch
at import): the command line and the tables read this module's names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torch import nn

TIMM_PREFIX = "timm/"  # timm's models are named timm/ARCH[.TAG], as on the Hugging Face hub


def natural(name: str) -> list[Any]:
    """Sort key that puts resnet18 before resnet101."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name.lower())]


def library_name(name: str) -> str:
    """ "timm" for ``timm/...`` names, else "torchvision": without importing either."""
    return "timm" if name.startswith(TIMM_PREFIX) else "torchvision"


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


class Library(Protocol):
    """A model zoo as the harness uses it: names, cards, builders and weights."""

    name: str  # "torchvision" or "timm": Card.library, and how its weights are shown

    def match(self, pattern: str) -> list[str]:
        """The library's names matching a shell pattern (an exact name as is), in natural order."""
        ...

    def check(self, name: str) -> str:
        """``name`` if the library has it, else raise a HarnessError naming near ones."""
        ...

    def tagged(self, name: str, tag: str) -> tuple[str, str]:
        """The (name, tag) that ``card`` takes for ``name`` with ``--weights tag``."""
        ...

    def arch(self, name: str) -> str:
        """The architecture part of ``name``: what ``--weights-dir`` files are named after."""
        ...

    def card(self, name: str, tag: str = "DEFAULT") -> Card:
        """The :class:`Card` of ``name`` with the weights ``tag`` (DEFAULT: the library's)."""
        ...

    def shown(self, card: Card) -> str:
        """How the library's own weights of ``card`` are named in outputs."""
        ...

    def build(self, name: str, num_classes: int | None = None) -> nn.Module:
        """``name`` with random weights (and a head of ``num_classes`` when given)."""
        ...

    def pretrained(self, card: Card) -> nn.Module:
        """``card``'s model with the library's weights, from its cache or a download."""
        ...

    def cached(self, name: str) -> bool:
        """Whether the default weights of ``name`` are in the library's cache (no download)."""
        ...

    def info(self, name: str) -> dict[str, Any]:
        """One row of ``harness models``: the default weights' published metadata."""
        ...

    def import_library(self) -> None:
        """Import the library itself now (so a memory baseline holds it)."""
        ...


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
