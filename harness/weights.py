"""Build a classifier with its weights: a library tag, a local file, or none.

torchvision tags go through torchvision's own loader and cache
(``$TORCH_HOME/hub/checkpoints``), timm's through timm's (the Hugging Face hub
cache); local files are loaded with ``weights_only=True`` so that no pickled
code runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import WeightsEnum, get_model

from harness import HarnessError, registry, timm_zoo
from harness.registry import Card

WEIGHTS_DIR_ENV = "HARNESS_WEIGHTS_DIR"
RANDOM_NOTE = "random weights, meaningless for accuracy"
RANDOM_SOURCE = "none (random)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colour codes in torch's messages


class WeightsUnavailable(HarnessError):
    """The library's weights are neither cached nor downloadable (offline)."""


@dataclass
class Loaded:
    """A model ready for inference, with where its weights came from.

    ``card`` is the registry's entry whose class list and transforms apply: the
    chosen tag, or the default one for a local file or random init.
    """

    name: str
    model: nn.Module
    card: Card
    source: str
    random: bool = False
    categories: list[str] = field(default_factory=list)

    def transforms(self) -> Any:
        """The weights' own preprocessing (resize, crop, normalise): torchvision's or timm's."""
        return self.card.transforms()


def arch_of(name: str) -> str:
    """The architecture part of a model name: what ``--weights-dir`` files are named after."""
    return name.removeprefix(timm_zoo.PREFIX).split(".")[0]


def is_cached(name: str) -> bool:
    """Whether the library's default weights of ``name`` are in its cache (no download)."""
    if timm_zoo.is_timm(name):
        return timm_zoo.cached_file(name) is not None
    return cache_path(registry.weights_tag(name, "DEFAULT")).is_file()


def cache_path(weights: WeightsEnum) -> Path:
    """Where torchvision's loader keeps (and looks for) the file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


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
    registry.check(name)
    weights_dir = weights_dir or os.environ.get(WEIGHTS_DIR_ENV) or None
    is_file = Path(weights).suffix in (".pth", ".pt") or os.sep in weights
    card = registry.card(name, "DEFAULT" if is_file or weights.lower() == "none" else weights)
    if weights.lower() == "none":
        return card, None, RANDOM_SOURCE
    found = weights.upper() == "DEFAULT" and weights_dir and find_in_dir(arch_of(name), weights_dir)
    if found:
        return card, found, str(found)
    if is_file:
        return card, Path(weights), weights
    if card.library == "timm":
        return card, None, f"{card.name} (timm)"
    return card, None, f"{card.weights} (torchvision)"


def load(name: str, weights: str = "DEFAULT", weights_dir: str | None = None) -> Loaded:
    """Build ``name`` in eval mode with ``weights``.

    Args:
        name: a torchvision classifier (``resnet50``) or a timm model
            (``timm/ARCH[.TAG]``); see ``registry.match``.
        weights: ``DEFAULT``, a weights tag (torchvision's enum member, or timm's
            pretrained tag), a path to a ``.pth`` state_dict, or ``none`` for
            random initialisation.
        weights_dir: a folder searched for ``ARCH.pth`` / ``ARCH-*.pth`` when
            ``weights`` is ``DEFAULT``; defaults to ``$HARNESS_WEIGHTS_DIR``.
    """
    card, path, source = resolve(name, weights, weights_dir)
    rand = source == RANDOM_SOURCE
    if rand:
        model = registry.build(name)
    elif path is not None:
        model = from_file(name, path)
    elif card.library == "timm":
        model = from_timm(card)
    else:
        model = from_torchvision(name, registry.weights_tag(name, weights))
    model.eval()
    return Loaded(name, model, card, source, rand, list(card.categories))


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
            f"--weights-dir DIR, or --weights none for random weights"
        ) from e
    except RuntimeError as e:  # a corrupt or partial cached file
        raise HarnessError(f"cannot load {name} weights from {cached}: {e}") from e


def from_timm(card: Card) -> nn.Module:
    """timm's own pretrained loader and cache; offline without a cached file: one clear error."""
    from huggingface_hub import constants

    hub = timm_zoo.hub_name(card.name)
    cached = timm_zoo.cached_file(card.name)
    if cached is None and not timm_zoo.hub_reachable():
        raise WeightsUnavailable(
            f"cannot get {card.name} weights: timm/{hub} is not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) and the hub cannot be reached (offline); pass "
            f"--weights FILE.pth, --weights-dir DIR (holding {hub.split('.')[0]}.pth), "
            "or --weights none for random weights"
        )
    overlay = {"file": str(cached)} if cached else None
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):  # stdout is for data
            model = timm_zoo.build(card.name, True, pretrained_cfg_overlay=overlay)
    except (OSError, ValueError, RuntimeError) as e:  # hub and HTTP errors are OSErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise WeightsUnavailable(
            f"cannot get {card.name} weights from timm/{hub}: {first[:200]}"
        ) from e
    finally:
        sys.stderr.write(log.getvalue())
    return model


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, refusing anything that would run code on load."""
    check_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, zip or EOF errors: all mean "not loadable"
        raise HarnessError(not_loadable(path, e)) from e
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):  # common wrappers around a state_dict
            if isinstance(obj.get(key), dict):
                obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise HarnessError(f"{path} holds no state_dict (a mapping of names to tensors)")
    return obj


def check_file(path: Path) -> None:
    """A HarnessError unless ``path`` is an existing file."""
    if not path.is_file():
        raise HarnessError(f"weights file {str(path)!r} does not exist")


def not_loadable(path: Path, error: Exception) -> str:
    """In the harness's words, why ``torch.load(weights_only=True)`` failed on ``path``.

    torch's own message advises ``weights_only=False`` (which would run the
    file's code) and holds terminal colour codes; neither belongs here.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return f"cannot load {path}: the file is empty (0 bytes)"
    if head[:2] != b"PK" and head[:1] != b"\x80":  # torch.save writes a zip or a pickle
        return f"cannot load {path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)"
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
    if found is None:
        first = (ANSI.sub("", str(error)).strip().splitlines() or [type(error).__name__])[0]
        return f"cannot load {path}: not a readable PyTorch checkpoint ({first})"
    what = found.group(1)
    module, _, attr = what.rpartition(".")
    cls = getattr(sys.modules.get(module), attr, None)  # only modules already imported
    if isinstance(cls, type) and issubclass(cls, nn.Module):
        return (
            f"refusing to load {path}: it is a pickled whole model ({what}), not a state_dict; "
            "save model.state_dict() with torch.save and pass that file"
        )
    return (
        f"refusing to load {path}: it holds pickled Python objects ({what}), which could run "
        "code; a checkpoint here holds tensors only"
    )


def from_file(name: str, path: Path) -> nn.Module:
    """Build ``name`` and load a local state_dict strictly, naming any mismatch."""
    state = read_state_dict(path)
    model = registry.build(name)
    own = model.state_dict()
    n_classes = len(registry.card(name).categories)
    missing, extra = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    shapes = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    for k in shapes:
        if own[k].shape[0] == n_classes and own[k].shape[1:] == state[k].shape[1:]:
            raise HarnessError(
                f"{path} is for {state[k].shape[0]} classes; {name} here predicts {n_classes}"
            )
    if missing or extra or shapes:
        parts = [
            f"{len(v)} {what} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
            for what, v in (
                ("missing keys", missing),
                ("unexpected keys", extra),
                ("shape mismatches", shapes),
            )
            if v
        ]
        raise HarnessError(f"{path} does not fit {name}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
    return model
