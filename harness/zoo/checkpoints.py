"""Checkpoints as training tools save them: the state_dict inside, fitted to an architecture.

Lightning saves ``{"state_dict": {"model.features.0.weight": ...}, "epoch": ...}``
(the LightningModule's attribute names prefix every key), DDP and
``nn.DataParallel`` prefix ``module.``, ``torch.compile`` ``_orig_mod.``, timm's
training script saves ``state_dict`` and ``state_dict_ema``. Files are read
with ``weights_only=True``: nothing in them runs.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.errors import HarnessError

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colour codes in torch's messages
WRAPPERS = ("state_dict", "model")  # tried in turn when no --weights-key is given
# Plain data objects that training tools keep beside the weights (Lightning's
# hyper-parameters often hold paths; timm's checkpoints hold its argparse
# arguments). Building them runs nothing of the file.
SAFE_TYPES: list[Any] = [
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.PosixPath,
    pathlib.WindowsPath,
    argparse.Namespace,
]


def load_file(path: Path) -> Any:
    """Everything in a checkpoint file, refusing what would run code on load."""
    check_file(path)
    try:
        with torch.serialization.safe_globals(SAFE_TYPES):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, zip or EOF errors: all mean "not loadable"
        raise HarnessError(not_loadable(path, e)) from e


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
    if isinstance(cls, type) and issubclass(cls, torch.nn.Module):
        return (
            f"refusing to load {path}: it is a pickled whole model ({what}), not a state_dict; "
            "save model.state_dict() with torch.save and pass that file"
        )
    return (
        f"refusing to load {path}: it holds pickled Python objects ({what}), which could run "
        "code; a checkpoint here holds tensors only"
    )


def is_state_dict(obj: Any) -> bool:
    """A non-empty mapping of names to tensors."""
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unwrap(obj: Any, where: str, key: str | None = None) -> dict[str, torch.Tensor]:
    """The state_dict in ``obj``: ``obj[key]``, else ``obj`` itself or a usual wrapper's.

    >>> unwrap({"state_dict": {"w": torch.zeros(1)}, "epoch": 3}, "ckpt")
    {'w': tensor([0.])}
    """
    inner = [k for k, v in obj.items() if is_state_dict(v)] if isinstance(obj, dict) else []
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            has = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
            raise HarnessError(f"{where} has no entry {key!r} (it has: {has})")
        if not is_state_dict(obj[key]):
            raise HarnessError(f"{where}: {key!r} is not a state_dict (names to tensors)")
        return dict(obj[key])
    if is_state_dict(obj):
        return dict(obj)
    for k in WRAPPERS:
        if k in inner:
            return dict(obj[k])
    hint = f"; pass --weights-key with one of: {', '.join(inner)}" if inner else ""
    raise HarnessError(f"{where} holds no state_dict (a mapping of names to tensors){hint}")


def read(path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """The state_dict of a checkpoint file (``key``: the entry that holds it)."""
    return unwrap(load_file(path), str(path), key)


@dataclass
class Fit:
    """How a state_dict fits an architecture once ``prefix`` is removed from its keys."""

    prefix: str
    state: dict[str, torch.Tensor]  # the keys that had the prefix, without it
    missing: list[str]
    unexpected: list[str]  # as written in the file
    shapes: list[str]  # keys whose tensors have another shape than the architecture's

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.shapes)

    def describe(self) -> str:
        """What does not fit, e.g. ``2 missing keys (a, b)``; with the prefix removed, if any."""
        parts = [
            f"{len(v)} {what} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
            for what, v in (
                ("missing keys", self.missing),
                ("unexpected keys", self.unexpected),
                ("shape mismatches", self.shapes),
            )
            if v
        ]
        how = f"closest fit, with the prefix {self.prefix!r} removed: " if self.prefix else ""
        return how + "; ".join(parts)


def fit_with(state: Mapping[str, torch.Tensor], own: Mapping[str, Any], prefix: str) -> Fit:
    """The fit of ``state`` to the keys and shapes ``own`` after removing ``prefix``."""
    n = len(prefix)
    kept = {k[n:]: v for k, v in state.items() if k.startswith(prefix)}
    return Fit(
        prefix,
        kept,
        missing=sorted(own.keys() - kept.keys()),
        unexpected=sorted(k for k in state if not k.startswith(prefix) or k[n:] not in own),
        shapes=sorted(k for k in own.keys() & kept.keys() if own[k].shape != kept[k].shape),
    )


def closest_fit(state: Mapping[str, torch.Tensor], own: Mapping[str, Any]) -> Fit:
    """The best fit of ``state`` to the architecture whose state_dict is ``own``.

    Candidate prefixes are those (ending in ".") whose removal turns some key
    of ``state`` into one of ``own``; the best leaves the fewest missing and
    unexpected keys. It is exact only where every key had that prefix.

    >>> own = {"fc.weight": torch.zeros(2, 3)}
    >>> closest_fit({"module.fc.weight": torch.ones(2, 3)}, own).prefix
    'module.'
    """
    hits: Counter[str] = Counter({"": 0})
    for k in state:
        starts = [0] + [i + 1 for i, c in enumerate(k) if c == "."]
        hits.update(k[:i] for i in starts if k[i:] in own)
    candidates = {"", *(p for p, _ in hits.most_common(5))}
    fits = [fit_with(state, own, p) for p in sorted(candidates, key=len)]
    return min(fits, key=lambda f: (len(f.missing) + len(f.unexpected), len(f.shapes)))
