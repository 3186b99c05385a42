"""Whether a timing can be trusted: threads, the machine's load around it, its spread, repeats.

A latency measured while other work shares the cores can come out 10-80x too
high, and nothing in the figure itself says so. So every measurement records:

- ``threads``: torch's intra-op threads (``--threads``);
- ``load_before`` / ``load_after``: the 1-minute load average (``os.getloadavg``);
- ``runnable_before`` / ``runnable_after``: how many *other* tasks were runnable at
  that instant (``/proc/loadavg``'s ``running/total`` field, less this process's
  own running threads; ``None`` off Linux). The load average moves slowly (a
  busy process takes a minute to show fully); this count is immediate;
- ``spread``: p90 / p50 of the timed runs.

It is ``noisy`` when the load average exceeded the cores, when the other runnable
tasks plus our own threads exceeded them (some of our threads had to wait), or
when the spread is above 1.5; ``noisy_reasons`` says which. In a container both
load figures may be the host's, not the container's: a false alarm, never a
missed one.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SPREAD_LIMIT = 1.5
# per-run figures that ``--repeat`` summarises by their median and range
TIMED = (
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_ms_mean",
    "latency_ms_min",
    "throughput_ips",
    "throughput_e2e_ips",
)
WHEN = ("before", "after")
# each run's conditions, kept beside its timings in a --repeat row's ``runs``
_CONDITIONS = ("load_before", "load_after", "runnable_before", "runnable_after", "spread", "noisy")


def cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_threads(n: int | None) -> int:
    """``torch.set_num_threads(n)`` when ``n`` is given; the intra-op threads now in use."""
    import torch

    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def _own_running() -> int:
    """This process's threads in state R (running or waiting for a core) at this instant."""
    n = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        n += stat[stat.rindex(")") + 2] == "R"  # "pid (comm) S ...": comm may hold spaces
    return n


def runnable_others() -> int | None:
    """Runnable tasks on the machine now, this process's own excepted; None off Linux."""
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        own = _own_running()
    except (OSError, IndexError, ValueError):
        return None
    return max(0, running - max(own, 1))  # the reading thread itself is always running


def load_now() -> dict[str, Any]:
    """``load`` (1-minute load average) and ``runnable`` (other runnable tasks) now."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"load": None if load is None else round(load, 2), "runnable": runnable_others()}


def spread(samples: Sequence[float]) -> float:
    """p90 / p50 of timed runs (``numpy.percentile``, linear): 1.0 for identical runs.

    >>> spread([1.0, 1.0, 1.0, 1.0, 3.0])
    2.2
    """
    p50, p90 = np.percentile(samples, [50, 90])
    return round(float(p90 / p50), 3) if p50 > 0 else float("inf")


def reasons(
    threads: int, before: dict[str, Any], after: dict[str, Any], spread: float | None, ncores: int
) -> list[str]:
    """Why a measurement is not to be trusted; empty when nothing says so.

    >>> reasons(1, {"load": 0.2, "runnable": 0}, {"load": 0.4, "runnable": 1}, 1.1, 2)
    []
    >>> reasons(2, {"load": 3.5, "runnable": 1}, {"load": 3.0, "runnable": 0}, 1.6, 2)
    ['load average 3.5 > 2 cores', '1 other runnable + 2 threads > 2 cores', 'spread p90/p50 1.6 > 1.5']
    """  # noqa: E501
    out = []
    loads = [x["load"] for x in (before, after) if x.get("load") is not None]
    if loads and max(loads) > ncores:
        out.append(f"load average {max(loads):g} > {ncores} cores")
    others = [x["runnable"] for x in (before, after) if x.get("runnable") is not None]
    if others and max(others) + threads > ncores:
        ours = f"{threads} thread{'s' * (threads != 1)}"
        out.append(f"{max(others)} other runnable + {ours} > {ncores} cores")
    if spread is not None and spread > SPREAD_LIMIT:
        out.append(f"spread p90/p50 {spread:g} > {SPREAD_LIMIT:g}")
    return out


def conditions(
    threads: int, before: dict[str, Any], after: dict[str, Any], spread: float | None
) -> dict[str, Any]:
    """The fields a compare row or a benchmark records about how its timing was made."""
    why = reasons(threads, before, after, spread, cores())
    return {
        "threads": threads,
        "cores": cores(),
        "load_before": before["load"],
        "load_after": after["load"],
        "runnable_before": before["runnable"],
        "runnable_after": after["runnable"],
        "spread": spread,
        "noisy": bool(why),
        "noisy_reasons": why,
    }


def describe(row: dict[str, Any]) -> str:
    """One line for the console and report.md: why a row's timings are noisy."""
    runs = f" in {row['noisy_runs']} of {row['repeat']} runs" if row.get("repeat") else ""
    return f"noisy timings{runs}: " + "; ".join(row.get("noisy_reasons") or [])


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the ``--repeat`` runs of a model: medians of the timings, with ranges.

    The first run gives everything else (accuracy is measured there only; memory
    figures are that process's). Runs that failed are counted in ``failed_runs``.
    ``load_before``, ``load_after``, ``runnable_*`` and ``spread`` are the worst
    over the runs; the row is ``noisy`` (with the reasons of these worst
    figures) when most runs were, since the median of the runs then may
    come from a noisy one. ``runs`` keeps each run's own timings and conditions.
    """
    ok = [r for r in runs if not r.get("error")]
    if len(runs) == 1 or not ok or runs[0].get("error"):
        return runs[0]
    row = dict(runs[0])
    for key in TIMED:
        values = [r[key] for r in ok if r.get(key) is not None]
        if values:
            row[key] = round(statistics.median(values), 3)
            row[f"{key}_range"] = [min(values), max(values)]
    for key in (*(f"{k}_{w}" for k in ("load", "runnable") for w in WHEN), "spread"):
        values = [r[key] for r in ok if r.get(key) is not None]
        row[key] = max(values) if values else None
    noisy = [r for r in ok if r.get("noisy")]
    before, after = ({"load": row[f"load_{w}"], "runnable": row[f"runnable_{w}"]} for w in WHEN)
    majority = len(noisy) > len(ok) / 2
    why = reasons(row["threads"], before, after, row["spread"], row["cores"]) if majority else []
    row.update(
        repeat=len(ok),
        noisy_runs=len(noisy),
        noisy=majority,
        noisy_reasons=why,
        failed_runs=[r["error"] for r in runs if r.get("error")],
        runs=[{k: r.get(k) for k in (*TIMED, *_CONDITIONS)} for r in ok],
    )
    return row
