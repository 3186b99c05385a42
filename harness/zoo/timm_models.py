"""timm's model zoo behind the :class:`~harness.zoo.library.Library` interface.

A timm model is named ``timm/ARCH`` or ``timm/ARCH.TAG``, as on the Hugging Face
hub. Everything here comes from timm itself: its registry (names, natural
order), its pretrained configs (input size, interpolation, crop, mean/std,
classes: no download), its preprocessing (``resolve_data_config`` then
``create_transform``) and its ImageNet label tables (``ImageNetInfo``).

Names and ``harness models`` rows come from ``timm_listing.json.gz`` when it was
written from the installed timm's version (``scripts/timm_listing.py`` writes it
from timm's registry and configs): a search over 1,300 models then answers
without importing torch or timm (about 5 s of start-up on a slow machine).
Another timm version is read live, as the file would have been made.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import importlib.metadata
import io
import json
import math
import os
import socket
import sys
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, WeightsUnavailable
from harness.zoo import published, suggest
from harness.zoo.library import TIMM_PREFIX as PREFIX
from harness.zoo.library import Card

if TYPE_CHECKING:
    from torch import nn

# timm itself is imported where it is used: a run of a torchvision model never loads it

LISTING = Path(__file__).with_name("timm_listing.json.gz")  # scripts/timm_listing.py


@lru_cache(maxsize=1)
def shipped() -> dict[str, Any] | None:
    """The listing shipped with the package, if it was written from the installed timm."""
    try:
        installed = importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        return None
    if not LISTING.is_file():
        return None
    listing: dict[str, Any] = json.loads(gzip.decompress(LISTING.read_bytes()))
    return listing if listing["timm"] == installed else None


def live_listing() -> dict[str, Any]:
    """timm's registry and every pretrained config's ``harness models`` row, read from timm
    itself: what ``timm_listing.json.gz`` holds (``rows`` by ``ARCH.TAG``, ``defaults``
    the tag each architecture's own name means).
    """
    import timm
    from timm.models import get_pretrained_cfg

    archs, tagged_ = timm.list_models(), timm.list_pretrained()
    defaults = {a: _hub(get_pretrained_cfg(a)) for a in archs}
    hubs = dict.fromkeys([*tagged_, *defaults.values()])
    return {
        "timm": timm.__version__,
        "architectures": archs,
        "pretrained": tagged_,
        "defaults": defaults,
        "rows": {h: _row(get_pretrained_cfg(h)) for h in hubs},
    }


@lru_cache(maxsize=1)
def architectures() -> tuple[str, ...]:
    """timm's architectures, in timm's natural order (resnet18 before resnet101)."""
    listing = shipped()
    if listing:
        return tuple(listing["architectures"])
    import timm

    return tuple(timm.list_models())


@lru_cache(maxsize=1)
def pretrained() -> tuple[str, ...]:
    """Every ``ARCH.TAG`` timm has a pretrained config for."""
    listing = shipped()
    if listing:
        return tuple(listing["pretrained"])
    import timm

    return tuple(timm.list_pretrained())


@lru_cache(maxsize=1)
def _known() -> tuple[frozenset[str], frozenset[str]]:
    """Architectures and ``ARCH.TAG`` names as sets: a listing checks each of 1,300 names."""
    return frozenset(architectures()), frozenset(pretrained())


def match(pattern: str) -> list[str]:
    """``timm/`` names matching a shell pattern: architectures, or ``ARCH.TAG`` with a dot."""
    body = pattern[len(PREFIX) :]
    pool = pretrained() if "." in body else architectures()
    if body in pool:
        return [pattern]
    return [PREFIX + n for n in fnmatch.filter(pool, body)]


def check(name: str) -> str:
    """``name`` if timm knows it (with a pretrained config for its tag), else raise."""
    arch, _, tag = name[len(PREFIX) :].partition(".")  # timm's split_model_name_tag
    if arch in architectures() and (not tag or f"{arch}.{tag}" in pretrained()):
        return name
    pool = pretrained() if tag else architectures()
    near = suggest.near(name[len(PREFIX) :], pool)
    hint = (
        f"; {suggest.did_you_mean(PREFIX + n for n in near)}"
        if near
        else "; see `python -m harness models 'timm/PATTERN'`"
    )
    raise HarnessError(f"unknown model {name!r}{hint}")


@cache
def config(name: str) -> Any:
    """timm's pretrained config of ``timm/ARCH[.TAG]`` (the default tag when none is given)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(check(name)[len(PREFIX) :])
    if cfg is None:
        raise HarnessError(f"timm has no pretrained config for {name!r}")
    return cfg


def _hub(cfg: Any) -> str:
    return f"{cfg.architecture}.{cfg.tag}" if cfg.tag else str(cfg.architecture)


def hub_name(name: str) -> str:
    """``ARCH.TAG`` with the tag timm would use: what ``create_model`` and the hub take."""
    return _hub(config(name))


def _data(cfg: Any) -> dict[str, Any]:
    from timm.data import resolve_data_config

    # vars(), not to_dict(): resolve_data_config only reads the fields, and to_dict's deep
    # copy is a quarter of what reading 1,300 configs costs
    return dict(resolve_data_config(pretrained_cfg=dict(vars(cfg))))


def data_config(name: str) -> dict[str, Any]:
    """timm's eval preprocessing settings for ``name``, from its config alone."""
    return _data(config(name))


def transforms(name: str) -> Any:
    """timm's own eval transform for ``name`` (resize, crop, normalise)."""
    from timm.data import create_transform

    return create_transform(**data_config(name), is_training=False)


def classes(name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(label space, class names, WordNet ids) where timm knows them.

    Outside an ImageNet subset timm knows, the names are "class 0", "class 1", ...
    and the WordNet ids empty.
    """
    from timm.data import infer_imagenet_subset

    cfg = config(name)
    subset = infer_imagenet_subset(cfg)
    if subset:
        return (subset, *_subset_classes(subset))
    n = int(cfg.num_classes or 0)
    return f"unknown ({cfg.tag or 'default'})", tuple(f"class {i}" for i in range(n)), ("",) * n


@cache
def _subset_classes(subset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names, WordNet ids) of an ImageNet subset, read once (``'timm/*'`` asks 1,300 times)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo(subset)
    n = info.num_classes()
    names = tuple(info.index_to_description(i).split(",")[0] for i in range(n))
    return names, tuple(info.index_to_label_name(i) for i in range(n))


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


def _row(cfg: Any) -> dict[str, Any]:
    """A pretrained config's part of its ``harness models`` row, and its ``hub`` name."""
    from timm.data import infer_imagenet_subset

    data = _data(cfg)
    subset = infer_imagenet_subset(cfg)  # what classes() names, without reading class lists
    return {
        "hub": _hub(cfg),
        "weights": cfg.tag,
        "dataset": subset or f"unknown ({cfg.tag or 'default'})",
        "classes": int(cfg.num_classes or 0),
        "input_size": "x".join(map(str, data["input_size"][1:])),
        "interpolation": data["interpolation"],
        "crop_pct": data["crop_pct"],
        "mean": list(data["mean"]),
        "std": list(data["std"]),
    }


def info(name: str) -> dict[str, Any]:
    """One row of ``harness models 'timm/...'``: its default tag's config and published figures.

    Parameters and FLOPs are not counted here (that means building the model):
    they come with the published figures, from timm's tables. The config part comes
    from the shipped listing when it is the installed timm's.
    """
    listing = shipped()
    if listing:
        body = check(name)[len(PREFIX) :]
        row = dict(listing["rows"][listing["defaults"].get(body, body)])
    else:
        row = _row(config(name))
    hub = row.pop("hub")
    side = int(row["input_size"].split("x")[0])
    figures_ = published.timm_figures(hub, side, row["dataset"] == "imagenet-1k")
    return {"model": name, **row, **figures_}


def figures(card: Card) -> dict[str, Any]:
    """The published figures of a card's weights, from timm's results tables."""
    return published.timm_figures(
        hub_name(card.name), card.input_size, card.dataset == "imagenet-1k"
    )


def tagged(name: str, tag: str) -> str:
    """``timm/ARCH.TAG`` for a timm name and a ``--weights`` tag (DEFAULT keeps the name's)."""
    if tag.upper() == "DEFAULT":
        return check(name)
    arch = name[len(PREFIX) :].split(".")[0]
    full = f"{PREFIX}{arch}.{tag}"
    if "." in name[len(PREFIX) :] and full != name:
        raise HarnessError(f"{name} already names its weights; --weights {tag} contradicts it")
    if f"{arch}.{tag}" not in pretrained():
        tags = [t.split(".", 1)[1] for t in pretrained() if t.split(".")[0] == arch]
        raise HarnessError(
            f"unknown weights {tag!r} for {name}; valid: DEFAULT, {', '.join(tags)}, "
            "a .pth file, or none"
        )
    return full


def card(name: str) -> Card:
    """The :class:`Card` of ``timm/ARCH[.TAG]`` (the default tag when none is given)."""
    cfg = config(name)
    data = data_config(name)
    space, names, wnids = classes(name)
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
        transforms=lambda: transforms(name),
    )


def from_timm(card: Card) -> nn.Module:
    """timm's own pretrained loader and cache; offline without a cached file: one clear error."""
    from huggingface_hub import constants

    hub = hub_name(card.name)
    cached = cached_file(card.name)
    if cached is None and not hub_reachable():
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
            model = build(card.name, True, pretrained_cfg_overlay=overlay)
    except (OSError, ValueError, RuntimeError) as e:  # hub and HTTP errors are OSErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise WeightsUnavailable(
            f"cannot get {card.name} weights from timm/{hub}: {first[:200]}"
        ) from e
    finally:
        sys.stderr.write(log.getvalue())
    return model


class Timm:
    """timm's zoo as a :class:`~harness.zoo.library.Library`."""

    name = "timm"

    def match(self, pattern: str) -> list[str]:
        return match(pattern)

    def check(self, name: str) -> str:
        return check(name)

    def tagged(self, name: str, tag: str) -> tuple[str, str]:
        return tagged(name, tag), "DEFAULT"  # as if named timm/ARCH.TAG

    def arch(self, name: str) -> str:
        return name.removeprefix(PREFIX).split(".")[0]

    def card(self, name: str, tag: str = "DEFAULT") -> Card:
        return card(tagged(name, tag))

    def shown(self, card: Card) -> str:
        return f"{card.name} (timm)"

    def build(self, name: str, num_classes: int | None = None) -> nn.Module:
        extra = {} if num_classes is None else {"num_classes": num_classes}
        return build(name, False, **extra)

    def pretrained(self, card: Card) -> nn.Module:
        return from_timm(card)

    def cached(self, name: str) -> bool:
        return cached_file(name) is not None

    def info(self, name: str) -> dict[str, Any]:
        return info(name)

    def figures(self, card: Card) -> dict[str, Any]:
        return figures(card)

    def import_library(self) -> None:
        import timm  # noqa: F401


TIMM = Timm()
