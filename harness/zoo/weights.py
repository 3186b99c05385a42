"""Build a classifier with its weights: a library tag, a local file, or none.

A library's tags go through its own loader and cache (``Library.pretrained``:
torchvision's ``$TORCH_HOME/hub/checkpoints``, timm's Hugging Face hub cache);
local files are loaded with ``weights_only=True`` so that no pickled code runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.zoo import checkpoints, registry
from harness.zoo.classlist import ClassList
from harness.zoo.library import Card

WEIGHTS_DIR_ENV = "HARNESS_WEIGHTS_DIR"
RANDOM_NOTE = "random weights, meaningless for accuracy"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
RANDOM_SOURCE = "none (random)"
RANDOM_SEED = 0  # random weights are the same in every run (and export: the cache's key)


@dataclass
class Loaded:
    """A model ready for inference, with where its weights came from.

    ``card`` is the registry's entry whose class list and transforms apply: the
    chosen tag, or the default one for a local file or random init; with
    ``--classes`` it carries that list's classes (``classes_file``) instead.
    """

    name: str
    model: nn.Module
    card: Card
    source: str
    random: bool = False
    categories: list[str] = field(default_factory=list)
    classes_file: str | None = None

    def transforms(self) -> Any:
        """The weights' own preprocessing (resize, crop, normalise): torchvision's or timm's."""
        return self.card.transforms()


def arch_of(name: str) -> str:
    """The architecture part of a model name: what ``--weights-dir`` files are named after."""
    return registry.library(name).arch(name)


def is_cached(name: str) -> bool:
    """Whether the library's default weights of ``name`` are in its cache (no download)."""
    return registry.library(name).cached(name)


def find_in_dir(name: str, directory: str | os.PathLike[str]) -> Path | None:
    """The single ``NAME.pth`` / ``NAME-*.pth`` (or ``.pt``) file in ``directory``."""
    d = Path(directory)
    if not d.is_dir():
        raise HarnessError(f"weights directory {str(d)!r} is not a folder")
    hits = sorted(
        p for ext in ("pth", "pt") for p in [*d.glob(f"{name}.{ext}"), *d.glob(f"{name}-*.{ext}")]
    )
    if len(hits) > 1:
        raise HarnessError(f"several weight files for {name} in {d}: {', '.join(map(str, hits))}")
    return hits[0] if hits else None


def resolve(
    name: str, weights: str = "DEFAULT", weights_dir: str | None = None
) -> tuple[Card, Path | None, str]:
    """What ``weights`` names, without loading anything (arguments as for ``load``).

    Returns the registry's card whose class list and preprocessing apply, the
    local file to load (None for a tag or random weights), and how the weights
    are shown (``none (random)``, the file, ``TAG (torchvision)``, ``NAME (timm)``).
    """
    lib = registry.library(name)
    lib.check(name)
    weights_dir = weights_dir or os.environ.get(WEIGHTS_DIR_ENV) or None
    rand = weights.lower() == "none"
    if not rand and not _names_file(weights):
        name, weights = lib.tagged(name, weights)
    file = _weights_file(lib.arch(name), weights, weights_dir)
    card = lib.card(name, "DEFAULT" if file or rand else weights)
    if rand:
        return card, None, RANDOM_SOURCE
    if file:
        return card, file, str(file)
    return card, None, lib.shown(card)


def load(
    name: str,
    weights: str = "DEFAULT",
    weights_dir: str | None = None,
    classes: ClassList | None = None,
    weights_key: str | None = None,
) -> Loaded:
    """Build ``name`` in eval mode with ``weights``.

    Args:
        name: a torchvision classifier (``resnet50``) or a timm model
            (``timm/ARCH[.TAG]``); see ``registry.match``.
        weights: ``DEFAULT``, a weights tag (torchvision's enum member, or timm's
            pretrained tag), a path to a checkpoint file, or ``none`` for
            random initialisation (seeded: the same weights in every run).
        weights_dir: a folder searched for ``ARCH.pth`` / ``ARCH-*.pth`` when
            ``weights`` is ``DEFAULT``; defaults to ``$HARNESS_WEIGHTS_DIR``.
        classes: the classes of one's own model (``--classes``): its head is
            built with that many outputs, and they name its predictions.
        weights_key: the checkpoint entry that holds the state_dict.
    """
    card, file, source = resolve(name, weights, weights_dir)
    if classes is None:
        check_head(name, card)
    rand = source == RANDOM_SOURCE
    if (classes or weights_key) and not (file or rand):
        option = "--classes" if classes else "--weights-key"
        raise HarnessError(
            f"{option} is for your own weights: pass --weights FILE (or none), "
            f"not {card.library}'s {card.weights}"
        )
    if rand:
        with torch.random.fork_rng(devices=[]):  # the caller's random state left as it was
            torch.manual_seed(RANDOM_SEED)
            model = registry.build(name, len(classes) if classes else None)
    elif file:
        model = from_file(name, file, classes, weights_key)
    else:
        model = registry.library(name).pretrained(card)
    model.eval()
    if classes is not None:
        card = classes.card(card)
    return Loaded(
        name, model, card, source, rand, list(card.categories), classes.source if classes else None
    )


def check_head(name: str, card: Card) -> None:
    """Raise a HarnessError when ``name`` predicts no classes (a backbone without a head)."""
    if not card.categories:
        raise HarnessError(
            f"{name} has no classifier head (0 classes): its weights give features, not "
            "classes; with --classes FILE and --weights FILE, a head of your own is built"
        )


def _weights_file(arch: str, weights: str, weights_dir: str | None) -> Path | None:
    """The checkpoint file ``weights`` names (or DEFAULT finds in ``weights_dir``), if any."""
    if weights.upper() == "DEFAULT" and weights_dir:
        return find_in_dir(arch, weights_dir)
    return Path(weights) if _names_file(weights) else None


def _names_file(weights: str) -> bool:
    """Whether ``--weights`` names a checkpoint file rather than a tag."""
    return (
        Path(weights).suffix in CHECKPOINT_SUFFIXES or os.sep in weights or Path(weights).is_file()
    )


def from_file(
    name: str, path: Path, classes: ClassList | None = None, key: str | None = None
) -> nn.Module:
    """Build ``name`` (with a head for ``classes``) and load a checkpoint strictly.

    The checkpoint may be wrapped (Lightning, ``{"model": ...}``, ``key``) and
    its keys prefixed (``model.``, ``module.``, ``_orig_mod.``); any mismatch
    is named, a head of another size with the ``--classes`` hint.
    """
    model = registry.build(name, len(classes) if classes else None)
    own = model.state_dict()
    fit = checkpoints.closest_fit(checkpoints.read(path, key), own)
    if not fit.exact:
        raise HarnessError(_mismatch(name, path, fit, own, classes))
    model.load_state_dict(fit.state, strict=True)
    return model


def _mismatch(
    name: str, path: Path, fit: checkpoints.Fit, own: dict[str, Any], classes: ClassList | None
) -> str:
    """Why a checkpoint does not fit; for a head of another size, what to pass."""
    n = len(classes) if classes else len(registry.card(name).categories)
    k = _head_size(fit, own, n)
    if k is None:
        return f"{path} does not fit {name}: {fit.describe()}"
    if classes:
        return f"{path} is for {k} classes but {classes.source} lists {n}"
    return (
        f"{path} is for {k} classes and {name} predicts {n}: "
        f"pass --classes FILE with the {k} class names, in output order"
    )


def _head_size(fit: checkpoints.Fit, own: dict[str, torch.Tensor], n: int) -> int | None:
    """The class count of a checkpoint that differs from the model only in its head's size.

    Head tensors are those with ``n`` (the model's class count) rows; the
    checkpoint's have another row count and otherwise the same shape.
    """
    if fit.missing or fit.unexpected:
        return None
    rows = {
        fit.state[k].shape[0]
        if own[k].shape[0] == n and own[k].shape[1:] == fit.state[k].shape[1:]
        else -1
        for k in fit.shapes
    }
    return rows.pop() if len(rows) == 1 and -1 not in rows else None
