"""Rebuild the harness's copy of timm's published results tables from the shared CSV files.

timm's pip package holds no results table; its repository's ``results/`` folder
does. This script reads a copy of that folder (default ``../shared/data/timm-results``)
and writes ``harness/zoo/timm_results.json.gz``: the accuracy tables joined into one
row per weight and evaluation size, the five speed tables as they are, and
where they came from (repository, commit, date, licence, each file's SHA-256).
Figures are kept as timm prints them (percent, millions, GMACs); the harness
turns them into its own units when it reads them.

    python scripts/timm_results.py [--source DIR] [--commit aa4b5850 --date 2026-08-08]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "harness" / "zoo" / "timm_results.json.gz"

# results-*.csv: the set's key in the harness, its file
ACCURACY = {
    "imagenet": "results-imagenet.csv",
    "real": "results-imagenet-real.csv",
    "v2": "results-imagenetv2-matched-frequency.csv",
    "sketch": "results-sketch.csv",
    "r": "results-imagenet-r.csv",
    "a": "results-imagenet-a.csv",
}
# benchmark-infer-*.csv: the machine's key, its file, what it is, the precision
SPEED = {
    "i7_12700h": (
        "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv",
        "Intel i7-12700H CPU",
    ),
    "i9_10940x": (
        "benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv",
        "Intel i9-10940X CPU",
    ),
    "rtx3090": ("benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv", "NVIDIA RTX 3090"),
    "rtx4090": ("benchmark-infer-amp-nchw-pt291-cu128-4090.csv", "NVIDIA RTX 4090"),
    "rtx5090": ("benchmark-infer-amp-nchw-pt291-cu130-5090.csv", "NVIDIA RTX 5090"),
}
SPEED_COLUMNS = ["model", "img_size", "samples_per_sec", "batch_size", "gmacs", "param_count"]


def number(text: str) -> float | None:
    """A figure as timm prints it: ``"1,013.01"`` (quoted thousands) is 1013.01; "" is None."""
    return float(text.replace(",", "")) if text.strip() else None


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def accuracy(source: Path) -> dict[str, object]:
    """One row per (weight, evaluation size): ImageNet's columns, then each set's top-1/top-5."""
    base = read(source / ACCURACY["imagenet"])
    sets = {k: read(source / f) for k, f in ACCURACY.items()}
    columns = ["model", "img_size", "crop_pct", "interpolation", "param_count"]
    columns += [f"{k}_{m}" for k in ACCURACY for m in ("top1", "top5")]
    by_key = {k: {(r["model"], r["img_size"]): r for r in rows} for k, rows in sets.items()}
    rows = []
    for r in base:
        key = (r["model"], r["img_size"])
        row: list[object] = [r["model"], int(r["img_size"]), number(r["crop_pct"])]
        row += [r["interpolation"], number(r["param_count"])]
        for k in ACCURACY:
            hit = by_key[k].get(key)  # ImageNet-A lacks one weight ImageNet has
            row += [number(hit["top1"]), number(hit["top5"])] if hit else [None, None]
        rows.append(row)
    return {"columns": columns, "rows": rows}


def speed(source: Path) -> dict[str, object]:
    """Each machine's rows as timm measured them: architecture, size, samples/s, batch, GMACs."""
    machines: dict[str, object] = {}
    for key, (file, device) in SPEED.items():
        precision = "fp32" if "-fp32-" in file else "amp"
        rows = [
            [
                r["model"],
                int(r["infer_img_size"]),
                number(r["infer_samples_per_sec"]),
                int(r["infer_batch_size"]) if r["infer_batch_size"] else None,
                number(r["infer_gmacs"]),
                number(r["param_count"]),
            ]
            for r in read(source / file)
        ]
        machines[key] = {"file": file, "device": device, "precision": precision, "rows": rows}
    return {"columns": SPEED_COLUMNS, "machines": machines}


def build(source: Path, commit: str, date: str) -> dict[str, object]:
    files = [*ACCURACY.values(), *(f for f, _ in SPEED.values())]
    return {
        "source": "https://github.com/huggingface/pytorch-image-models/tree/main/results",
        "repository": "huggingface/pytorch-image-models",
        "commit": commit,
        "date": date,
        "license": "Apache-2.0",
        "units": "top1/top5 percent; param_count millions; gmacs per image; samples_per_sec",
        "files": {f: hashlib.sha256((source / f).read_bytes()).hexdigest() for f in files},
        "accuracy": accuracy(source),
        "speed": speed(source),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=ROOT.parent / "shared/data/timm-results")
    p.add_argument("--commit", default="aa4b5850", help="timm's commit the files are from")
    p.add_argument("--date", default="2026-08-08", help="that commit's date")
    p.add_argument("--output", type=Path, default=TARGET)
    args = p.parse_args(argv)
    if not (args.source / ACCURACY["imagenet"]).is_file():
        print(f"error: no {ACCURACY['imagenet']} in {args.source}", file=sys.stderr)
        return 2
    text = json.dumps(build(args.source, args.commit, args.date), separators=(",", ":"))
    tmp = args.output.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as f:
        f.write(text.encode())  # no name, no time in the header: the same tables, the same bytes
    tmp.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
