"""Peak memory of ``harness test`` on 108-megapixel JPEGs, with its loader workers.

``python benchmarks/photo_memory.py [--photos 6] [--workers 2] [--decode exact] [--json F]``

Runs the harness as a child process twice, on PHOTOS 12000x9000 JPEGs and on as
many 1200x900 ones, and samples every 20 ms the memory of the child and all its
descendants (the DataLoader workers) from /proc: the peak of their summed
proportional set size (PSS: shared library pages split between the processes,
so the sum is what the run costs the machine), the peak of their summed RSS (an
upper bound: pages shared by forked workers are counted once per process), and
each process's own peak RSS (cross-checked with ``getrusage(RUSAGE_CHILDREN)``,
the kernel's unsampled peak of the largest process: exact for the first run).
Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KIB_PER_MIB = 1024


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc/*/stat."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [pid], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        todo += kids
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; (0, 0) once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]  # after the header
        fields = dict(line.split(":", 1) for line in lines)
    except (OSError, ValueError):
        return 0, 0
    return int(fields["Rss"].split()[0]), int(fields["Pss"].split()[0])


def sample(cmd: list[str], every: float = 0.02) -> dict[str, float]:
    """Run ``cmd``; the peaks of its process tree's summed PSS and RSS, and per process."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_pss = peak_rss = 0
    per_process: dict[int, int] = {}
    while proc.poll() is None:
        rss_sum = pss_sum = 0
        for p in tree(proc.pid):
            rss, pss = memory_kib(p)
            rss_sum, pss_sum = rss_sum + rss, pss_sum + pss
            per_process[p] = max(per_process.get(p, 0), rss)
        peak_pss, peak_rss = max(peak_pss, pss_sum), max(peak_rss, rss_sum)
        time.sleep(every)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    peaks = sorted(per_process.values(), reverse=True)
    exact = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, not sampled
    return {
        "peak_total_pss_mib": round(peak_pss / KIB_PER_MIB),
        "peak_total_rss_mib": round(peak_rss / KIB_PER_MIB),
        "peak_rss_per_process_mib": [round(k / KIB_PER_MIB) for k in peaks],
        # the kernel's own figure: the largest single process of every run so far
        "largest_process_peak_rss_mib_getrusage": round(exact / KIB_PER_MIB),
    }


def folder(root: Path, size: tuple[int, int], n: int) -> Path:
    """``n`` copies of one JPEG of ``size`` (decoding costs the same whatever the pixels)."""
    root.mkdir()
    first = root / "photo00.jpg"
    w, h = size
    im = Image.new("RGB", size, (90, 140, 200))
    im.paste((230, 200, 40), (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    im.save(first, quality=90)
    for i in range(1, n):
        os.link(first, root / f"photo{i:02d}.jpg")
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--decode", choices=("exact", "fast"), default="exact")
    ap.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = ap.parse_args()
    out: dict[str, object] = {"photos": args.photos, "workers": args.workers, "decode": args.decode}
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in (("108mp", (12000, 9000)), ("1mp", (1200, 900))):
            data = folder(Path(tmp) / name, size, args.photos)
            cmd = [sys.executable, "-m", "harness", "test", "--model", "squeezenet1_1"]
            cmd += ["--weights", "none", "--data", str(data), "--num-workers", str(args.workers)]
            cmd += ["--batch-size", "2", "--accelerator", "cpu", "--no-progress"]
            cmd += ["--decode", args.decode, "--output", str(Path(tmp) / f"out-{name}")]
            out[name] = sample(cmd)
            print(name, out[name], file=sys.stderr, flush=True)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
