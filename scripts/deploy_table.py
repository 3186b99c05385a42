"""The deployment study's tables in Markdown, from a compare's results.json.

    python scripts/deploy_table.py benchmarks/results/deploy-2026-12-03/results.json

Prints two tables: the full one (a row per model and runtime: top-1 with its interval,
parity against the model's torch fp32 row, batch-1 p50, throughput, memory, file size)
for docs/studies.md, and the short one (a row per model, a column per runtime: top-1 and
batch-1 p50) for the README.
"""

from __future__ import annotations

import json
import sys

RUNTIMES = ["torch fp32", "torch bf16", "onnxruntime fp32", "openvino fp32",
            "onnxruntime int8", "openvino int8"]  # fmt: skip


def variant(row: dict) -> str:
    """``torch fp32``, ``openvino int8``...: the row's runtime and precision."""
    name = row["model"]
    if "@" not in name:
        return "torch fp32"
    runtime, _, precision = name.split("@", 1)[1].partition(":")
    return f"{runtime} {precision or 'fp32'}"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def full(rows: list[dict]) -> list[str]:
    out = [
        "| model | runtime | top-1 (95% CI) | agree top-1 | McNemar p | ms p50 | images/s "
        "model | images/s end-to-end | peak MiB | file MiB | noisy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["top1_ci95"]
        agree = f"{r['agree_top1']}/{r['parity_n']}" if r.get("parity_n") else "reference"
        p = f"{r['parity_p']:.2g}" if r.get("parity_p") is not None else ""
        out.append(
            f"| {r['architecture']} | {variant(r)} | {pct(r['top1'])} ({pct(lo)}-{pct(hi)}) | "
            f"{agree} | {p} | {r['latency_ms_p50']:.2f} | {r['throughput_ips']:.1f} | "
            f"{r['throughput_e2e_ips']:.1f} | {r['peak_memory_mib']:.0f} | {r['size_mib']:.1f} | "
            f"{'yes' if r['noisy'] else ''} |"
        )
    return out


def short(rows: list[dict]) -> list[str]:
    by = {(r["architecture"], variant(r)): r for r in rows}
    archs = list(dict.fromkeys(r["architecture"] for r in rows))
    out = ["| model | " + " | ".join(RUNTIMES) + " |", "|---" * (len(RUNTIMES) + 1) + "|"]
    for a in archs:
        cells = []
        for v in RUNTIMES:
            r = by.get((a, v))
            noisy = " (noisy)" if r and r["noisy"] else ""
            cells.append(
                "" if r is None else f"{pct(r['top1'])}, {r['latency_ms_p50']:.1f} ms{noisy}"
            )
        out.append(f"| {a} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        rows = json.load(f)
    print("\n".join(full(rows)), "\n")
    print("\n".join(short(rows)))
