"""What the commands print on stdout: the models table, predictions, a test run's summary."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from harness.engine.files import counted, table, to_csv
from harness.labels.resolve import mapping_line
from harness.labels.score import PROB_PREFIX
from harness.rows import TestResult
from harness.zoo.library import library_name

# `harness models` table: (header, key, format); {machine}: the --speed-on machine
MODEL_COLUMNS = (
    ("model", "model", None),
    ("weights", "weights", None),
    ("classes", "classes", None),
    ("input", "input_size", None),
    ("top-1", "published_top1", "pct"),
    ("top-5", "published_top5", "pct"),
    ("ReaL", "published_real_top1", "pct"),
    ("V2", "published_v2_top1", "pct"),
    ("Sketch", "published_sketch_top1", "pct"),
    ("R", "published_r_top1", "pct"),
    ("A", "published_a_top1", "pct"),
    ("params M", "params_m", ".2f"),
    ("GFLOPs", "gflops", ".2f"),
    ("img/s {machine}", "published_ips_{machine}", "rate"),
    ("batch", "published_batch_{machine}", None),
    ("file MB", "file_mb", ".1f"),
)


def models_table(rows: list[dict[str, Any]], machine: str) -> None:
    """``harness models`` as one table of published figures; sources and n/a reasons on stderr.

    A column no row has a figure for is left out (torchvision publishes no
    speeds, timm no file sizes).
    """
    columns = [
        (h.format(machine=machine), k.format(machine=machine), f) for h, k, f in MODEL_COLUMNS
    ]
    shown = [
        c for c in columns if c[1] == "published_top1" or any(r.get(c[1]) is not None for r in rows)
    ]
    if rows:
        print(
            table(
                [[_cell(r.get(k), f) for _, k, f in shown] for r in rows], [h for h, _, _ in shown]
            )
        )
    _sources(rows, machine)


def _sources(rows: list[dict[str, Any]], machine: str) -> None:
    """Where the figures come from, and why some are n/a, on stderr."""
    timm = [r for r in rows if library_name(r["model"]) == "timm"]
    tv = len(rows) - len(timm)
    if tv:
        print(
            f"{counted(tv, 'torchvision model')}: published figures from torchvision's "
            "weights metadata (ImageNet-1k validation only)",
            file=sys.stderr,
        )
    if not timm:
        print(
            "timm's models: harness models 'timm/PATTERN', e.g. 'timm/efficientnet*'",
            file=sys.stderr,
        )
        return
    from harness.zoo import published

    print(
        f"{counted(len(timm), 'timm model')}: configs from timm, published figures from "
        f"{published.source()}; img/s on {published.tables().machine(machine)}",
        file=sys.stderr,
    )
    missing = [r for r in timm if r.get("published_missing")]
    for r in missing[:3]:
        print(f"n/a       {r['model']}: {r['published_missing']}", file=sys.stderr)
    if len(missing) > 3:
        print(
            f"n/a       and {len(missing) - 3} more (published_missing in --format csv or json)",
            file=sys.stderr,
        )


def _cell(v: Any, fmt: str | None) -> Any:
    """A value for the `models` table: a fraction as a percentage, n/a where missing."""
    if v is None:
        return "n/a"
    if fmt == "pct":
        return f"{100 * v:.1f}%"
    if fmt == "rate":  # 3 significant digits at least: CPUs run large models at 0.5 images/s
        return f"{v:.0f}" if v >= 100 else f"{v:.3g}"
    return format(v, fmt) if fmt else v


def print_predictions(args: argparse.Namespace, results: list[dict[str, Any]], loaded: Any) -> None:
    """``predict``'s output on stdout: JSON, CSV (a row per file and rank) or tables."""
    if args.format == "json":
        print(json.dumps(results, indent=2, ensure_ascii=False))
    elif args.format == "csv":  # each label's probability beside every rank of its file
        flat = [
            {"file": r["file"], "rank": n, **t, "model": r["model"], "weights": r["weights"]}
            | {f"{PROB_PREFIX}{q['label']}": q["probability"] for q in r.get("labels", ())}
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
            if "labels" in r:
                print()
                print(_labels_table(r["labels"]))
            print()


def _labels_table(labels: list[dict[str, Any]]) -> str:
    """``predict --labels-of``: each label, its synset, its classes, its summed probability."""
    rows = [(q["label"], q["wnid"], q["classes"], f"{q['probability']:.4f}") for q in labels]
    return table(rows, ("label", "wnid", "classes", "probability"))


def pct(v: float | None) -> str:
    """A fraction as a percentage, or n/a."""
    return "n/a" if v is None else f"{100 * v:.2f}%"


def summary(res: TestResult, notes: Sequence[str] = ()) -> None:
    """The summary of a ``test`` run on stdout, ending with the run directory."""
    chosen = "" if res["selection"].startswith("all") else f" ({res['selection']})"
    print(f"model     {res['model']}  (weights: {res['weights']})")
    print(f"data      {res['data']}  ({res['layout']})")
    print(
        f"images    {res['n']} evaluated{chosen}, {res['labelled']} labelled, "
        f"{len(res['skipped'])} skipped"
    )
    for name, record in (res.get("label_map") or {}).items():
        print(f"label     {mapping_line(name, record)}")
    top = (("1", res["top1"], res["correct1"], res["top1_ci95"]),
           ("5", res["top5"], res["correct5"], res["top5_ci95"]))  # fmt: skip
    for k, share, right, ci in top:
        interval = f"  95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%" if ci else ""
        print(f"top-{k}     {pct(share)}  ({right}/{res['labelled']}){interval}")
    if res.get("among_labels_note"):  # one label: no meaningless 100%
        print(f"among     n/a  ({res['among_labels_note'].removesuffix(': n/a')})")
    elif "label_map" in res:  # labels that are words: the model as a classifier of them alone
        ci = res["top1_among_labels_ci95"]
        interval = f"  95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%" if ci else ""
        print(
            f"among     {pct(res['top1_among_labels'])}  ({res['correct_among_labels']}/"
            f"{res['labelled']}){interval}  top-1 among the labels (confusion.csv)"
        )
    if res["top1"] is None:
        print(f"accuracy  n/a: {res['accuracy_note']}")
    else:
        print(f"ECE       {res['ece']:.4f}  (top-1 confidence vs accuracy, 15 bins)")
    if res.get("label_issues") is not None:
        print(f"labels    {_label_issues(res)}")
    print(
        f"time      {res['seconds']:.2f} s, {res['images_per_second']:.1f} images/s "
        f"({res['precision']}, {res['accelerator']} x{res['devices']}{_nodes(res)}, "
        f"{threads(res)})"
    )
    if export := res.get("export"):
        print(f"runtime   {runtime_line(export)}")
    for s in res["skipped"]:
        print(f"skipped   {s['file']}: {s['reason']}")
    for note in [*notes, *res["notes"]]:
        print(f"note      {note}")
    run = res["run_dir"]
    print(f"run       {run}  (results.json, predictions.csv, TensorBoard events)")


def runtime_line(setup: dict[str, Any]) -> str:
    """An exported runtime's set-up in words: first answer, export, compile, file size.

    >>> print(runtime_line({"runtime": "openvino", "precision": "fp32", "runs_in": "f32",
    ...     "version": "2026.4.1", "threads": 2, "first_answer_seconds": 0.31,
    ...     "export_cached": True, "export_seconds": 0.0, "compile_seconds": 0.25,
    ...     "model_file_mib": 4.8, "onnx_file": "x.onnx"}))
    openvino 2026.4.1 fp32 (runs in f32), 2 threads: first answer after 0.31 s (export cached, compile 0.25 s); model file 4.8 MiB (x.onnx)
    """  # noqa: E501
    s = setup
    made = "export and quantization" if s["precision"] == "int8" else "export"
    export = f"{made} cached" if s["export_cached"] else f"{made} {s['export_seconds']:.2f} s"
    return (
        f"{s['runtime']} {s['version']} {s['precision']} (runs in {s['runs_in']}), "
        f"{counted(s['threads'], 'thread')}: first answer after {s['first_answer_seconds']:.2f} s "
        f"({export}, compile {s['compile_seconds']:.2f} s); model file "
        f"{s['model_file_mib']:.1f} MiB ({s['onnx_file']})"
    )


def _label_issues(res: TestResult) -> str:
    """Likely label errors, and top-1 beside the plain figure with them set aside."""
    k = res["label_issues"]
    if not k:
        return "no photo looks mislabelled (confident learning; label_issues.csv)"
    right, n = res["correct1_label_issues_aside"], res["labelled_label_issues_aside"]
    return (
        f"{k} photo{'s' * (k != 1)} may be mislabelled (label_issues.csv, .png: look); "
        f"top-1 without {'them' if k != 1 else 'it'} {pct(res['top1_label_issues_aside'])} "
        f"({right}/{n})"
    )


def threads(res: TestResult) -> str:
    """``2 threads``, ``1 thread``; ``per process`` where several processes ran."""
    n = res["threads"]
    return counted(n, "thread") + (" per process" if res["devices"] > 1 else "")


def _nodes(res: TestResult) -> str:
    n = res["num_nodes"]
    return f" = {n} nodes x {res['devices_per_node']}" if n > 1 else ""
