"""What the commands print on stdout: the models table, predictions, a test run's summary."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from harness.engine.files import table, to_csv

# `harness models` table columns: (header, key) per library
TV_COLUMNS = (
    ("model", "model"),
    ("default weights", "weights"),
    ("dataset", "dataset"),
    ("classes", "classes"),
    ("acc@1", "acc1"),
    ("acc@5", "acc5"),
    ("params (M)", "params"),
    ("GFLOPS", "gflops"),
    ("file (MB)", "file_mb"),
)
TIMM_COLUMNS = (
    ("model", "model"),
    ("default tag", "weights"),
    ("classes of", "dataset"),
    ("classes", "classes"),
    ("input", "input_size"),
    ("interpolation", "interpolation"),
    ("crop", "crop_pct"),
    ("mean", "mean"),
    ("std", "std"),
    ("params (M)", "params"),
)


def models_table(rows: list[dict[str, Any]]) -> None:
    """``harness models`` as tables: torchvision's and timm's apart, their sources on stderr."""
    timm = [r for r in rows if r["model"].startswith("timm/")]
    tv = [r for r in rows if not r["model"].startswith("timm/")]
    for part, columns in ((tv, TV_COLUMNS), (timm, TIMM_COLUMNS)):
        if part:
            print(
                table(
                    [[_cell(r[k], k) for _, k in columns] for r in part],
                    [h for h, _ in columns],
                )
            )
    if tv:
        print(
            f"{len(tv)} torchvision models; published figures are "
            "torchvision's, for its default weights",
            file=sys.stderr,
        )
    if timm:
        print(f"{len(timm)} timm models, from timm's pretrained configs", file=sys.stderr)
    else:
        print(
            "timm's models: harness models 'timm/PATTERN', e.g. 'timm/efficientnet*'",
            file=sys.stderr,
        )


def _cell(v: Any, key: str) -> Any:
    """A value for the `models` table: millions of parameters, rounded mean/std."""
    if key == "params":
        return f"{v / 1e6:.1f}"
    if key in ("mean", "std"):
        return ",".join(f"{x:.3f}" for x in v)
    return v


def print_predictions(args: argparse.Namespace, results: list[dict[str, Any]], loaded: Any) -> None:
    """``predict``'s output on stdout: JSON, CSV (a row per file and rank) or tables."""
    if args.format == "json":
        print(json.dumps(results, indent=2, ensure_ascii=False))
    elif args.format == "csv":
        flat = [
            {"file": r["file"], "rank": n, **t, "model": r["model"], "weights": r["weights"]}
            for r in results
            for n, t in enumerate(r["topk"], start=1)
        ]
        print(to_csv(flat), end="")
    else:
        tag = " [RANDOM WEIGHTS: meaningless]" if loaded.random else ""
        for r in results:
            print(f"{r['file']}  ({args.model}, weights: {loaded.source}){tag}")
            print(
                table(
                    [
                        (n, t["index"], t["name"], f"{t['probability']:.4f}")
                        for n, t in enumerate(r["topk"], start=1)
                    ],
                    ("rank", "index", "class", "probability"),
                )
            )
            print()


def pct(v: float | None) -> str:
    """A fraction as a percentage, or n/a."""
    return "n/a" if v is None else f"{100 * v:.2f}%"


def summary(res: dict[str, Any], notes: Sequence[str] = ()) -> None:
    """The summary of a ``test`` run on stdout, ending with the run directory."""
    chosen = "" if res["selection"].startswith("all") else f" ({res['selection']})"
    print(f"model     {res['model']}  (weights: {res['weights']})")
    print(f"data      {res['data']}  ({res['layout']})")
    print(
        f"images    {res['n']} evaluated{chosen}, {res['labelled']} labelled, "
        f"{len(res['skipped'])} skipped"
    )
    for k in ("1", "5"):
        ci = res[f"top{k}_ci95"]
        interval = f"  95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%" if ci else ""
        print(
            f"top-{k}     {pct(res[f'top{k}'])}  ({res[f'correct{k}']}/{res['labelled']}){interval}"
        )
    if res["top1"] is None:
        print(f"accuracy  n/a: {res['accuracy_note']}")
    else:
        print(f"ECE       {res['ece']:.4f}  (top-1 confidence vs accuracy, 15 bins)")
    print(
        f"time      {res['seconds']:.2f} s, {res['images_per_second']:.1f} images/s "
        f"({res['precision']}, {res['accelerator']} x{res['devices']}{_nodes(res)}, "
        f"{threads(res)})"
    )
    for s in res["skipped"]:
        print(f"skipped   {s['file']}: {s['reason']}")
    for note in [*notes, *res["notes"]]:
        print(f"note      {note}")
    run = res["run_dir"]
    print(f"run       {run}  (results.json, predictions.csv, TensorBoard events)")


def threads(res: dict[str, Any]) -> str:
    """``2 threads``, ``1 thread``; ``per process`` where several processes ran."""
    n = res["threads"]
    return f"{n} thread{'s' * (n != 1)}" + (" per process" if res["devices"] > 1 else "")


def _nodes(res: dict[str, Any]) -> str:
    n = res["num_nodes"]
    return f" = {n} nodes x {res['devices_per_node']}" if n > 1 else ""
