"""timm's model zoo, seen the way the harness sees torchvision's: names, configs, classes.

A timm model is named ``timm/ARCH`` or ``timm/ARCH.TAG``, as on the Hugging Face
hub. Everything here comes from timm itself: its registry (names, natural
order), its pretrained configs (input size, interpolation, crop, mean/std,
classes: no download), its preprocessing (``resolve_data_config`` then
``create_transform``) and its ImageNet label tables (``ImageNetInfo``).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from torch import nn

# timm itself is imported where it is used: a run of a torchvision model never loads it

PREFIX = "timm/"

# timm's published ImageNet-1k validation accuracy for weights the harness has
# offline (../shared/weights/README.md quotes them); timm ships no results table
# in its package, so other timm weights show "n/a" beside the measured figure.
PUBLISHED_TOP1 = {
    "tf_efficientnet_lite0.in1k": 0.7485,
    "tf_efficientnet_lite1.in1k": 0.7667,
    "tf_efficientnet_lite2.in1k": 0.7747,
}


def is_timm(name: str) -> bool:
    """Whether ``name`` names a timm model (``timm/...``)."""
    return name.startswith(PREFIX)


@lru_cache(maxsize=1)
def architectures() -> tuple[str, ...]:
    """timm's architectures, in timm's natural order (resnet18 before resnet101)."""
    import timm

    return tuple(timm.list_models())


@lru_cache(maxsize=1)
def pretrained() -> tuple[str, ...]:
    """Every ``ARCH.TAG`` timm has a pretrained config for."""
    import timm

    return tuple(timm.list_pretrained())


def match(pattern: str) -> list[str]:
    """``timm/`` names matching a shell pattern: architectures, or ``ARCH.TAG`` with a dot."""
    body = pattern[len(PREFIX) :]
    pool = pretrained() if "." in body else architectures()
    if body in pool:
        return [pattern]
    return [PREFIX + n for n in fnmatch.filter(pool, body)]


def check(name: str) -> str:
    """``name`` if timm knows it (with a pretrained config for its tag), else raise."""
    from timm.models import split_model_name_tag

    arch, tag = split_model_name_tag(name[len(PREFIX) :])
    if arch in architectures() and (not tag or f"{arch}.{tag}" in pretrained()):
        return name
    pool = pretrained() if tag else architectures()
    near = difflib.get_close_matches(name[len(PREFIX) :].lower(), pool, n=5, cutoff=0.6)
    hint = (
        f"; did you mean {', '.join(PREFIX + n for n in near)}?"
        if near
        else "; see `python -m harness models 'timm/PATTERN'`"
    )
    raise HarnessError(f"unknown model {name!r}{hint}")


def config(name: str) -> Any:
    """timm's pretrained config of ``timm/ARCH[.TAG]`` (the default tag when none is given)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(check(name)[len(PREFIX) :])
    if cfg is None:
        raise HarnessError(f"timm has no pretrained config for {name!r}")
    return cfg


def hub_name(name: str) -> str:
    """``ARCH.TAG`` with the tag timm would use: what ``create_model`` and the hub take."""
    cfg = config(name)
    return f"{cfg.architecture}.{cfg.tag}" if cfg.tag else str(cfg.architecture)


def data_config(name: str) -> dict[str, Any]:
    """timm's eval preprocessing settings for ``name``, from its config alone."""
    from timm.data import resolve_data_config

    return dict(resolve_data_config(pretrained_cfg=config(name).to_dict()))


def transforms(name: str) -> Any:
    """timm's own eval transform for ``name`` (resize, crop, normalise)."""
    from timm.data import create_transform

    return create_transform(**data_config(name), is_training=False)


def classes(name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(label space, class names, WordNet ids) where timm knows them.

    Outside an ImageNet subset timm knows, the names are "class 0", "class 1", ...
    and the WordNet ids empty.
    """
    from timm.data import ImageNetInfo, infer_imagenet_subset

    cfg = config(name)
    subset = infer_imagenet_subset(cfg)
    if subset:
        info = ImageNetInfo(subset)
        n = info.num_classes()
        names = tuple(info.index_to_description(i).split(",")[0] for i in range(n))
        return subset, names, tuple(info.index_to_label_name(i) for i in range(n))
    n = int(cfg.num_classes or 0)
    return f"unknown ({cfg.tag or 'default'})", tuple(f"class {i}" for i in range(n)), ("",) * n


def build(name: str, pretrained_weights: bool = False, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` for ``name``: random weights, or timm's own pretrained ones."""
    import timm

    return timm.create_model(hub_name(name), pretrained=pretrained_weights, **kwargs)


def cached_file(name: str) -> Path | None:
    """The weights file of ``name`` in timm's caches (Hugging Face hub, or torch.hub's)."""
    import torch
    from huggingface_hub import try_to_load_from_cache

    cfg = config(name)
    if cfg.hf_hub_id:
        files = [cfg.hf_hub_filename] if cfg.hf_hub_filename else []
        for f in [*files, "model.safetensors", "pytorch_model.bin"]:
            hit = try_to_load_from_cache(cfg.hf_hub_id, f)
            if isinstance(hit, str):
                return Path(hit)
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if path.is_file():
            return path
    return None


def hub_reachable() -> bool:
    """Whether a download from the Hugging Face hub can even start (offline: fail at once).

    huggingface_hub retries an unreachable host for about a minute; a name that
    does not resolve, or ``HF_HUB_OFFLINE=1``, means no download is possible.
    """
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        socket.getaddrinfo(urlparse(constants.ENDPOINT).hostname, 443)
    except OSError:
        return False
    return True


def params(name: str) -> int:
    """Parameters of ``name``, counted on the meta device (no memory, no download)."""
    import torch

    with torch.device("meta"):
        model = build(name)
    return sum(p.numel() for p in model.parameters())


def info(name: str) -> dict[str, Any]:
    """One row of ``harness models 'timm/...'``: the pretrained config of its default tag."""
    cfg = config(name)
    data = data_config(name)
    space, names, _ = classes(name)
    return {
        "model": name,
        "weights": cfg.tag,
        "dataset": space,
        "classes": len(names),
        "input_size": "x".join(map(str, data["input_size"][1:])),
        "interpolation": data["interpolation"],
        "crop_pct": data["crop_pct"],
        "mean": list(data["mean"]),
        "std": list(data["std"]),
        "params": params(name),
    }
