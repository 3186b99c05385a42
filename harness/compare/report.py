"""Compare's report: the comparison table, report.md, results.json/.csv and the plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engine.files import counted, table, to_csv, to_json, write_atomic
from harness.rows import CompareRow, Skipped, columns

if TYPE_CHECKING:
    from harness.config import Spec

COMPARE_COLUMNS = (
    ("model", "model", None),
    ("top-1", "top1", "pct"),
    ("top-1 95% CI", "top1_ci95", "ci"),
    ("top-5", "top5", "pct"),
    ("top-5 95% CI", "top5_ci95", "ci"),
    ("among labels", "top1_among_labels", "pct"),  # where labels are words (WORD_COLUMNS)
    ("among 95% CI", "top1_among_labels_ci95", "ci"),
    ("ECE", "ece", ".3f"),
    ("published top-1", "published_top1", "published"),
    ("published V2 top-1", "published_v2_top1", "published"),
    ("agree top-1", "agree_top1", "agree"),
    ("ms/image p50", "latency_ms_p50", ".2f"),
    ("p90", "latency_ms_p90", ".2f"),
    ("images/s model", "throughput_ips", ".1f"),
    ("images/s end-to-end", "throughput_e2e_ips", ".1f"),
    ("of bound", "e2e_of_bound", ".2f"),
    ("peak MiB", "peak_memory_mib", ".0f"),
    ("rise MiB", "memory_rise_mib", ".0f"),
    ("params M", "params", "M"),
    ("GFLOPs/image", "flops", "G"),
    ("first answer s", "first_answer_seconds", ".2f"),
    ("file MiB", "size_mib", ".1f"),
)


def cell(row: Mapping[str, Any], key: str, fmt: str | None) -> str:
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
    if fmt == "agree":  # of the images parity compared (compare.parity)
        return f"{v}/{row['parity_n']}"
    if fmt in ("M", "G"):
        return f"{v / (1e6 if fmt == 'M' else 1e9):.2f}"
    return format(v, fmt) if fmt else str(v)


WORD_COLUMNS = ("top1_among_labels", "top1_among_labels_ci95")  # shown where labels are words


def compare_table(rows: Sequence[CompareRow], markdown: bool = False) -> str:
    """The comparison as a text table, or a Markdown one (the columns among the labels
    where some model's labels are words).
    """
    words = any("label_map" in r for r in rows)
    columns = [c for c in COMPARE_COLUMNS if words or c[1] not in WORD_COLUMNS]
    header = [h for h, _, _ in columns]
    body = [
        [cell(r, k, f) if not r.get("error") or k == "model" else "" for _, k, f in columns]
        for r in rows
    ]
    if not markdown:
        return table(body, header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in body)])


def same_classes(rows: Sequence[CompareRow]) -> str:
    """A sentence on whether the measured models share one label space (classes by WordNet id).

    Accuracy is only comparable within one label space: models of different ones
    are named in groups, and their accuracy is not ranked across them.
    """
    from harness.labels.score import scored_by_words

    done = [r for r in rows if not r.get("error")]
    spaces: dict[Any, list[CompareRow]] = {}
    for r in done:
        spaces.setdefault(r.get("label_space"), []).append(r)
    if len(spaces) > 1 and scored_by_words(done):
        return (
            "The labels are words: each model is scored by its own classes under them "
            "(label_map in results.json), so models of different label spaces are compared "
            "on the same photos and words: " + "; ".join(_group(g) for g in spaces.values()) + "."
        )
    if len(spaces) <= 1 and done:
        first = done[0]
        return (
            f"All {len(done)} measured models predict the same {first.get('classes')} classes "
            f"({first.get('dataset')}; same WordNet ids in the same order)."
        )
    groups = "; ".join(_group(g) for g in spaces.values())
    return f"WARNING: different label spaces, accuracy not comparable across them: {groups}."


def _group(rows: Sequence[CompareRow]) -> str:
    """``a, b: ImageNet-1K, 1000 classes``: the models of one label space."""
    models, first = ", ".join(r["model"] for r in rows), rows[0]
    return f"{models}: {first.get('dataset')}, {first.get('classes')} classes"


def write_compare(
    run: Path, rows: list[CompareRow], spec: Spec, env: dict[str, Any], final: bool
) -> None:
    """results.json, results.csv, report.md and (at the end) accuracy_vs_latency.png and
    each model's TensorBoard figures (``compare_tb``).

    ``env`` is ``report.environment()`` taken once when the comparison started.
    """
    write_atomic(run / "results.json", to_json(rows))
    counted_skips = [{**r, "skipped": len(r.get("skipped") or [])} for r in rows]
    write_atomic(run / "results.csv", to_csv(counted_skips, columns(CompareRow)))
    if final and any(r.get("latency_ms_p50") for r in rows):
        from harness.compare.latency_figure import plot_compare, title

        plot_compare(rows, run / "accuracy_vs_latency.png", title(spec.data, rows, env))
    sections: list[str] = []
    if final:  # intervals, paired tests, calibration, disagreements, worst classes
        from harness.compare.analysis import analyse
        from harness.compare.tensorboard import write_runs

        sections = analyse(run, rows, spec.data)
        write_runs(run, rows, spec)
    write_atomic(run / "report.md", report_md(rows, spec, env, final, sections))


def report_md(
    rows: list[CompareRow],
    spec: Spec,
    env: dict[str, Any],
    final: bool,
    sections: Sequence[str] = (),
) -> str:
    """report.md: the data, the table, what the columns mean, analysis, notes, environment."""
    notes = _notes(rows)
    md = [
        f"# Comparison of {counted(len(rows), 'model')}",
        "",
        _data_line(spec),
        "",
        compare_table(rows, markdown=True),
        "",
        "Top-1/top-5 are micro averages (correct images / images). Latency: batch size 1 "
        "after warm-up. Throughput at batch size "
        f"{spec.batch_size}: model alone, and end to end (read, decode, preprocess, model); "
        "of bound: the end-to-end pass's steady rate (once each loader worker had delivered "
        "a batch) over the most the cores allow when decoding and the model share them "
        "(docs/speed.md; the figures in the notes). "
        "Peak MiB: the model's process's peak resident memory; rise: over the process "
        "after imports. GFLOPs count 2 per multiply-accumulate (torchvision's GFLOPS are "
        "multiply-accumulates, half these). Published top-1: the library's own figures for "
        "its weights on ImageNet's validation set and on ImageNet-V2, not measured here "
        "(docs/published.md). Agree top-1: the top-1 answers the same as the model's in "
        "torch fp32 (rows in another runtime or precision; docs/runtimes.md). First answer: "
        "seconds from the built model to its first answer (an exported runtime: export or "
        "cached file, and compiling). File MiB: the weights file, or the ONNX file an "
        "exported runtime loads.",
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
    return "\n".join(md)


def _data_line(spec: Spec) -> str:
    """report.md's line on the images: folder, selection, labels, decoding."""
    return (
        f"Data: `{spec.data}`"
        + (f" (the first {spec.limit} images, --limit)" if spec.limit else "")
        + (f" (a random {spec.sample} images, seed {spec.seed})" if spec.sample else "")
        + (f", labels `{spec.labels}`" if spec.labels else "")
        + (" (`--decode fast`: JPEGs in draft mode)" if spec.decode == "fast" else "")
    )


def problems(rows: Sequence[CompareRow], kind: str) -> list[tuple[str, str]]:
    """(model, what) of the rows that failed (``kind`` "error"), whose accuracy was not
    measured ("n/a": random weights, no labels), that passed files over ("skipped") or
    whose timings are noisy ("noisy"): what the console and report.md both say of them.
    """
    from harness.measure.conditions import describe

    if kind == "error":
        return [(r["model"], e) for r in rows if (e := r.get("error"))]
    if kind == "n/a":
        return [
            (r["model"], f"accuracy {r['accuracy_note']}")
            for r in rows
            if not r.get("error") and r.get("top1") is None and r.get("accuracy_note")
        ]
    if kind == "skipped":
        return [(r["model"], passed_over(s)) for r in rows if (s := r.get("skipped"))]
    return [(r["model"], describe(r)) for r in rows if r.get("noisy") and not r.get("error")]


def passed_over(skipped: Sequence[Skipped], shown: int = 3) -> str:
    """The files a row passed over, in words: how many, the first few and why.

    >>> passed_over([Skipped(file="a.png", reason="truncated")] * 4, shown=2)
    ... # doctest: +NORMALIZE_WHITESPACE
    '4 files passed over, not counted (results.json lists each): a.png (truncated);
    a.png (truncated); and 2 more'
    """
    first = "; ".join(f"{s['file']} ({s['reason']})" for s in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    files = f"{len(skipped)} file{'s' * (len(skipped) != 1)}"
    return f"{files} passed over, not counted (results.json lists each): {first}{more}"


def _notes(rows: list[CompareRow]) -> list[str]:
    """report.md's notes: errors, accuracy not measured, files passed over, published
    figures, noisy timings."""
    notes = [
        f"- {model}: {what}"
        for kind in ("error", "n/a", "skipped")
        for model, what in problems(rows, kind)
    ]
    notes += [f"- {r['model']}: * {r['published_note']}" for r in rows if r.get("published_note")]
    notes += [
        f"- {r['model']}: published figures n/a: {r['published_missing']}"
        for r in rows
        if r.get("published_missing") and not r.get("error")
    ]
    notes += [f"- {model}: {what}" for model, what in problems(rows, "noisy")]
    notes += [
        f"- {r['model']}: exported to ONNX in this run ({r['export_seconds']:.1f} s): its "
        "peak memory holds the export's; a second run reads the cached file"
        for r in rows
        if r.get("export_cached") is False and not r.get("error")
    ]
    notes += [f"- {r['model']}: {of_bound(r)}" for r in rows if r.get("e2e_of_bound")]
    repeat = max((r.get("repeat", 1) for r in rows), default=1)
    if repeat > 1:
        notes.append(f"- timings: median of {repeat} runs, round-robin (ranges in results.json)")
    return notes


def of_bound(row: CompareRow) -> str:
    """End to end against the cores' bound, in words, with the figures it is made of.

    >>> of_bound({"throughput_e2e_ips": 180.4, "throughput_e2e_steady_ips": 215.9,
    ...           "core_bound_ips": 248.3, "e2e_of_bound": 0.8695, "throughput_ips": 523.9,
    ...           "decode_ips": 236.0, "loader_workers": 2, "threads": 2, "cores": 2})
    ... # doctest: +NORMALIZE_WHITESPACE
    'end to end 180.4 images/s, 215.9 once each loader worker had delivered a batch, of a
    bound of 248.3: 0.87 (the model alone 523.9 images/s, one loader worker decodes 236.0
    images/s; 2 workers, 2 threads, 2 cores)'
    """
    r: Mapping[str, Any] = row
    return (
        f"end to end {r['throughput_e2e_ips']:.1f} images/s, "
        f"{r['throughput_e2e_steady_ips']:.1f} once each loader worker had delivered a batch, "
        f"of a bound of {r['core_bound_ips']:.1f}: {r['e2e_of_bound']:.2f} (the model alone "
        f"{r['throughput_ips']:.1f} images/s, one loader worker decodes {r['decode_ips']:.1f} "
        f"images/s; {r['loader_workers']} workers, {r['threads']} threads, {r['cores']} cores)"
    )
