"""Writing results: atomic JSON and CSV files, and tables for the terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``.

    A reader (or a run killed halfway) sees the old file or the new one, never
    a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Rows of dicts as CSV text, columns in first-seen order."""
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain aligned text table; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(cells[0]), *map(line, cells[1:])])


def _is_number(s: str) -> bool:
    try:
        float(s.rstrip("%"))
        return True
    except ValueError:
        return s in ("", "n/a")


COMPARE_COLUMNS = (
    ("model", "model", None),
    ("top-1", "top1", "pct"),
    ("top-5", "top5", "pct"),
    ("published top-1", "published_top1", "published"),
    ("ms/image p50", "latency_ms_p50", ".2f"),
    ("p90", "latency_ms_p90", ".2f"),
    ("images/s model", "throughput_ips", ".1f"),
    ("images/s end-to-end", "throughput_e2e_ips", ".1f"),
    ("peak MiB", "peak_memory_mib", ".0f"),
    ("rise MiB", "memory_rise_mib", ".0f"),
    ("params M", "params", "M"),
    ("GFLOPs/image", "flops", "G"),
    ("weights MiB", "size_mib", ".1f"),
)


def cell(row: dict[str, Any], key: str, fmt: str | None) -> str:
    """One formatted table cell; n/a where the value is missing."""
    v = row.get(key)
    if v is None:
        return "n/a" if fmt else ""
    if fmt == "pct":
        return f"{100 * v:.1f}%"
    if fmt == "published":  # * : the library's figure is for other weights than these
        return f"{100 * v:.1f}%" + ("*" if row.get("published_note") else "")
    if fmt in ("M", "G"):
        return f"{v / (1e6 if fmt == 'M' else 1e9):.2f}"
    return format(v, fmt) if fmt else str(v)


def compare_table(rows: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    """The comparison as a text table, or a Markdown one."""
    header = [h for h, _, _ in COMPARE_COLUMNS]
    body = [
        [cell(r, k, f) if not r.get("error") or k == "model" else "" for _, k, f in COMPARE_COLUMNS]
        for r in rows
    ]
    if not markdown:
        return table(body, header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in body)])


def environment(precision: str) -> dict[str, Any]:
    """The machine and versions a comparison ran on."""
    import platform

    import torch
    import torchvision

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "precision": precision,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def same_classes(rows: Sequence[dict[str, Any]]) -> str:
    """A sentence on whether the measured models share one label space (classes by WordNet id).

    Accuracy is only comparable within one label space: models of different ones
    are named in groups, and their accuracy is not ranked across them.
    """
    done = [r for r in rows if not r.get("error")]
    spaces: dict[Any, list[dict[str, Any]]] = {}
    for r in done:
        spaces.setdefault(r.get("label_space"), []).append(r)
    if len(spaces) <= 1 and done:
        first = done[0]
        return (
            f"All {len(done)} measured models predict the same {first.get('classes')} classes "
            f"({first.get('dataset')}; same WordNet ids in the same order)."
        )
    groups = "; ".join(
        f"{', '.join(r['model'] for r in g)}: {g[0].get('dataset')}, {g[0].get('classes')} classes"
        for g in spaces.values()
    )
    return f"WARNING: different label spaces, accuracy not comparable across them: {groups}."


def write_compare(
    run: Path, rows: list[dict[str, Any]], spec: Any, env: dict[str, Any], final: bool
) -> None:
    """results.json, results.csv, report.md and (at the end) accuracy_vs_latency.png.

    ``env`` is ``environment()`` taken once when the comparison started.
    """
    write_atomic(run / "results.json", to_json(rows))
    write_atomic(
        run / "results.csv", to_csv([{**r, "skipped": len(r.get("skipped") or [])} for r in rows])
    )
    if final and any(r.get("latency_ms_p50") for r in rows):
        plot_compare(rows, run / "accuracy_vs_latency.png", env)
    notes = [f"- {r['model']}: {r['error']}" for r in rows if r.get("error")]
    notes += [
        f"- {r['model']}: accuracy {r['accuracy_note']}"
        for r in rows
        if not r.get("error") and r.get("top1") is None and r.get("accuracy_note")
    ]
    notes += [f"- {r['model']}: * {r['published_note']}" for r in rows if r.get("published_note")]
    md = [
        f"# Comparison of {len(rows)} models",
        "",
        f"Data: `{spec.data}`"
        + (f" (first {spec.limit} images)" if spec.limit else "")
        + (f", labels `{spec.labels}`" if spec.labels else "")
        + (" (`--decode fast`: JPEGs in draft mode)" if spec.decode == "fast" else ""),
        "",
        compare_table(rows, markdown=True),
        "",
        "Top-1/top-5 are micro averages (correct images / images). Latency: batch size 1 "
        "after warm-up. Throughput at batch size "
        f"{spec.batch_size}: model alone, and end to end (read, decode, preprocess, model). "
        "Peak MiB: the model's process's peak resident memory; rise: over the process "
        "after imports. GFLOPs count 2 per multiply-accumulate (torchvision's GFLOPS are "
        "multiply-accumulates, half these).",
        "",
        same_classes(rows),
        "",
        *(["Notes:", *notes, ""] if notes else []),
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items() if v is not None),
        "",
        *(
            ["![accuracy vs latency](accuracy_vs_latency.png)", ""]
            if final
            else ["(run in progress)", ""]
        ),
    ]
    write_atomic(run / "report.md", "\n".join(md))


def plot_compare(rows: Sequence[dict[str, Any]], path: Path, env: dict[str, Any]) -> None:
    """Top-1 against latency (left) and peak memory against latency (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    done = [r for r in rows if r.get("latency_ms_p50")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), sharex=True)
    for r in done:
        x = r["latency_ms_p50"]
        if r.get("top1") is not None:
            left.scatter(x, 100 * r["top1"], s=60, color="C0")
            left.annotate(
                r["model"], (x, 100 * r["top1"]), textcoords="offset points", xytext=(5, 5)
            )
        if r.get("published_top1") is not None and (
            r.get("top1") is None or r.get("published_note")
        ):
            left.scatter(x, 100 * r["published_top1"], s=60, facecolors="none", edgecolors="C1")
            left.annotate(
                f"{r['model']} (published)",
                (x, 100 * r["published_top1"]),
                textcoords="offset points",
                xytext=(5, -12),
                color="C1",
                fontsize=8,
            )
    left.scatter([], [], color="C0", label="measured here")
    left.scatter(
        [],
        [],
        facecolors="none",
        edgecolors="C1",
        label="published by torchvision or timm on ImageNet (not measured here)",
    )
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    left.set(
        xlabel="latency per image, p50 (ms, batch 1)",
        ylabel="top-1 accuracy (%)",
        title="Accuracy vs latency",
    )
    for r in done:
        size = 20 + 200 * r["params"] / max(d["params"] for d in done)
        right.scatter(r["latency_ms_p50"], r["peak_memory_mib"], s=size, alpha=0.7)
        right.annotate(
            r["model"],
            (r["latency_ms_p50"], r["peak_memory_mib"]),
            textcoords="offset points",
            xytext=(5, 5),
        )
    right.set(
        xlabel="latency per image, p50 (ms, batch 1)",
        ylabel="peak memory (MiB)",
        title="Memory vs latency (point area ~ parameters)",
    )
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.margins(x=0.2, y=0.12)
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"{env['cpu']}, {env['torch_threads']} threads, {env['precision']}"
        + (f", {env['gpu']}" if env.get("gpu") else ""),
        fontsize=9,
    )
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
