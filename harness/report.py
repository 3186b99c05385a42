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
    ("top-1 95% CI", "top1_ci95", "ci"),
    ("top-5", "top5", "pct"),
    ("top-5 95% CI", "top5_ci95", "ci"),
    ("ECE", "ece", ".3f"),
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
    if fmt == "ci":
        return f"{100 * v[0]:.1f}-{100 * v[1]:.1f}%"
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
    """The machine and versions a run is made on, and (``date``) when it started."""
    import platform
    from importlib.metadata import version

    import lightning
    import torch
    import torchmetrics
    import torchvision

    import harness

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
        "harness": harness.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "timm": version("timm"),  # without importing timm
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
    from harness.timing import describe

    write_atomic(run / "results.json", to_json(rows))
    write_atomic(
        run / "results.csv", to_csv([{**r, "skipped": len(r.get("skipped") or [])} for r in rows])
    )
    if final and any(r.get("latency_ms_p50") for r in rows):
        from harness.plot import plot_compare, title

        plot_compare(rows, run / "accuracy_vs_latency.png", title(spec.data, rows, env))
    sections: list[str] = []
    if final:  # intervals, paired tests, calibration, disagreements, worst classes
        from harness.analysis import analyse

        sections = analyse(run, rows, spec.data)
    notes = [f"- {r['model']}: {r['error']}" for r in rows if r.get("error")]
    notes += [
        f"- {r['model']}: accuracy {r['accuracy_note']}"
        for r in rows
        if not r.get("error") and r.get("top1") is None and r.get("accuracy_note")
    ]
    notes += [f"- {r['model']}: * {r['published_note']}" for r in rows if r.get("published_note")]
    notes += [
        f"- {r['model']}: {describe(r)}" for r in rows if r.get("noisy") and not r.get("error")
    ]
    repeat = max((r.get("repeat", 1) for r in rows), default=1)
    if repeat > 1:
        notes.append(f"- timings: median of {repeat} runs, round-robin (ranges in results.json)")
    md = [
        f"# Comparison of {len(rows)} models",
        "",
        f"Data: `{spec.data}`"
        + (f" (the first {spec.limit} images, --limit)" if spec.limit else "")
        + (f" (a random {spec.sample} images, seed {spec.seed})" if spec.sample else "")
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
        *sections,
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
