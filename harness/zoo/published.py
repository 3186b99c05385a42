"""Published figures of a model's weights: torchvision's metadata, timm's results tables.

torchvision's weights enums carry their ImageNet accuracy, parameters and
multiply-accumulates. timm's pip package carries none of that; its repository's
``results/`` tables do, and the harness ships them (``timm_results.json.gz``,
rebuilt by ``scripts/timm_results.py``, with their commit recorded). They are
read the first time a command asks for a timm weight's figures, never when the
harness starts.

Every accuracy here is a fraction (0.7485, not 74.85), as the harness's
``top1``; parameters are in millions and GFLOPs count 2 per multiply-accumulate,
as compare's figures.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TABLES = Path(__file__).with_name("timm_results.json.gz")

# --published-on: the harder test sets beside ImageNet's validation set
SETS = {
    "imagenet": "ImageNet-1k validation (50,000 images)",
    "real": "ImageNet ReaL labels (the same 50,000 images relabelled)",
    "v2": "ImageNet-V2 matched frequency (10,000 new photos)",
    "sketch": "ImageNet-Sketch (50,000 drawings)",
    "r": "ImageNet-R (renditions, 200 classes)",
    "a": "ImageNet-A (natural adversarial photos, 200 classes)",
}
MACHINES = ("i7_12700h", "i9_10940x", "rtx3090", "rtx4090", "rtx5090")


def top1_key(on: str) -> str:
    """The row key of the published top-1 on a set: ``published_top1`` for ImageNet."""
    return "published_top1" if on == "imagenet" else f"published_{on}_top1"


def speed_key(machine: str) -> str:
    """The row key of the published images/s on one of ``MACHINES``."""
    return f"published_ips_{machine}"


@dataclass(frozen=True)
class Tables:
    """timm's tables, indexed: accuracy by weight, speed by (architecture, size) per machine."""

    meta: dict[str, Any]
    accuracy: dict[str, list[dict[str, Any]]]  # "arch.tag" -> its rows (one per size)
    speed: dict[str, dict[tuple[str, int], dict[str, Any]]]  # machine -> (arch, size) -> row
    params: dict[str, float]  # arch -> millions, from any speed table

    def machine(self, key: str) -> str:
        """What a machine of the speed tables is: device, precision, batch sizes."""
        m = self.meta["speed"][key]
        how = "fp32, torch.compile, batch 1" if m["precision"] == "fp32" else "AMP, large batches"
        return f"{m['device']} ({how})"


@lru_cache(maxsize=1)
def tables() -> Tables:
    """timm's tables as the package ships them (read once, about 50 ms)."""
    with gzip.open(TABLES, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    acc = raw.pop("accuracy")
    accuracy: dict[str, list[dict[str, Any]]] = {}
    for values in acc["rows"]:
        row = dict(zip(acc["columns"], values, strict=True))
        accuracy.setdefault(row["model"], []).append(row)
    speed_raw = raw.pop("speed")
    speed: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
    params: dict[str, float] = {}
    for key, machine in speed_raw["machines"].items():
        rows = [dict(zip(speed_raw["columns"], v, strict=True)) for v in machine.pop("rows")]
        speed[key] = {(r["model"], r["img_size"]): r for r in rows}
        params.update({r["model"]: r["param_count"] for r in rows if r["param_count"]})
    return Tables({**raw, "speed": speed_raw["machines"]}, accuracy, speed, params)


def source() -> str:
    """Where timm's figures come from, in a line."""
    m = tables().meta
    return f"timm's results tables ({m['repository']} at {m['commit']}, {m['date']})"


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 6)


def _accuracy(row: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for on in SETS:
        out[top1_key(on)] = _fraction(row[f"{on}_top1"]) if row else None
        if on == "imagenet":
            out["published_top5"] = _fraction(row["imagenet_top5"]) if row else None
    out["published_size"] = row["img_size"] if row else None
    return out


def _evaluated(weight: str, size: int) -> dict[str, Any] | None:
    """The table's row for ``weight`` at the harness's input ``size``, else at its only size."""
    rows = tables().accuracy.get(weight, [])
    exact = [r for r in rows if r["img_size"] == size]
    return exact[0] if exact else (rows[0] if len(rows) == 1 else None)


def timm_figures(weight: str, size: int, imagenet_1k: bool) -> dict[str, Any]:
    """The published figures of timm's ``ARCH.TAG`` evaluated at ``size`` pixels.

    ``imagenet_1k``: whether the weights predict ImageNet-1k's classes (timm
    evaluates those only). Absent figures are None, and ``published_missing``
    says why.

    >>> timm_figures("tf_efficientnet_lite0.in1k", 224, True)["published_top1"]
    0.74846
    """
    t = tables()
    arch = weight.split(".")[0]
    row = _evaluated(weight, size)
    out = _accuracy(row)
    out["params_m"] = row["param_count"] if row else t.params.get(arch)
    at_size = {m: t.speed[m].get((arch, size)) for m in MACHINES}
    gmacs = next((r["gmacs"] for r in at_size.values() if r and r["gmacs"]), None)
    out["gflops"] = None if gmacs is None else round(2 * gmacs, 4)
    for m, r in at_size.items():
        out[speed_key(m)] = r["samples_per_sec"] if r else None
        out[f"published_batch_{m}"] = r["batch_size"] if r else None
    out["published_source"] = source() if row or any(at_size.values()) else None
    if row is None:
        out["published_missing"] = _why_missing(weight, size, imagenet_1k)
    return out


def _why_missing(weight: str, size: int, imagenet_1k: bool) -> str:
    rows = tables().accuracy.get(weight)
    commit = tables().meta["commit"]
    if rows:
        sizes = ", ".join(str(r["img_size"]) for r in rows)
        return f"timm evaluated {weight} at {sizes} pixels, not at {size}"
    if weight.endswith(".untrained"):
        return f"timm has no pretrained weights for {weight.split('.')[0]}"
    if not imagenet_1k:
        return "timm's tables cover ImageNet-1k classifiers only; these weights have other classes"
    return f"{weight} is not in timm's results tables (commit {commit})"


def torchvision_figures(meta: dict[str, Any]) -> dict[str, Any]:
    """The published figures in a torchvision weights enum's ``meta``, in the same keys.

    torchvision publishes ImageNet validation accuracy only: the harder sets and
    speeds are None.
    """
    metrics: dict[str, float] = next(iter(meta.get("_metrics", {}).values()), {})
    out = _accuracy(None)
    out["published_top1"] = _fraction(metrics.get("acc@1"))
    out["published_top5"] = _fraction(metrics.get("acc@5"))
    out["params_m"] = meta["num_params"] / 1e6 if meta.get("num_params") else None
    ops = meta.get("_ops")  # torchvision's "GFLOPS" are multiply-accumulates
    out["gflops"] = None if ops is None else round(2 * ops, 4)
    for m in MACHINES:
        out[speed_key(m)] = None
        out[f"published_batch_{m}"] = None
    out["published_source"] = "torchvision's weights metadata"
    return out
