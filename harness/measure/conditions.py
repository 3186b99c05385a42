"""Whether a timing can be trusted: threads, the machine's load around it, its spread, repeats.

A latency measured while other work shares the cores can come out many times too
high, and nothing in the figure itself says so. So every measurement records:

- ``threads``: torch's intra-op threads (``--threads``);
- ``load_before`` / ``load_after``: the 1-minute load average (``os.getloadavg``);
- ``runnable_before`` / ``runnable_after``: how many *other* tasks were runnable at
  that instant (``/proc/loadavg``'s ``running/total`` field, less this process's
  own running threads; ``None`` off Linux). The load average moves slowly (a
  busy process takes a minute to show fully); this count is immediate;
- ``runnable_during``: the mean of that count, sampled every 50 ms by a thread
  while the timed loops run (``Watch``);
- ``spread``: p90 / p50 of the timed runs.

It is ``noisy`` when the other runnable tasks during the timing, on average,
plus our own threads exceeded the cores by half a task or more (some of our
threads had to wait for other work), or when the spread is above 1.5;
``noisy_reasons`` says which. The 1-minute load average is recorded but judges
only where nothing was sampled during the timing: it lags by a minute and
counts the harness's own work just before (a compare child's accuracy run with
its loader workers can lift it over the cores of an otherwise idle machine). In a
container the load figures may be the host's: a false alarm, never a missed one.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from harness.measure import bound
from harness.rows import CompareRow

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
    "throughput_e2e_steady_ips",
    "decode_ips",
)
# figures made of the timings: each run's kept in ``runs``, the row's made of its medians
DERIVED = ("core_bound_ips", "e2e_of_bound")
WHEN = ("before", "after")
# each run's conditions, kept beside its timings in a --repeat row's ``runs``
_CONDITIONS = (
    "load_before",
    "load_after",
    "runnable_before",
    "runnable_after",
    "runnable_during",
    "spread",
    "noisy",
)


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


_FAMILY: dict[str, Any] = {"at": -1.0, "pids": []}
FAMILY_TTL = 0.5  # seconds a list of our processes is reused: a scan reads every /proc/PID


def _family() -> list[int]:
    """This process and its descendants (DataLoader workers, say), by ``/proc/*/stat``'s
    parent ids; the list is rescanned at most every ``FAMILY_TTL`` seconds."""
    now = time.monotonic()
    if now - _FAMILY["at"] < FAMILY_TTL:
        return list(_FAMILY["pids"])
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])  # "pid (comm) S ppid ..."
        children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [os.getpid()]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    _FAMILY.update(at=now, pids=pids)
    return pids


def _own_running() -> int:
    """Threads of this process and its descendants in state R (running or waiting for a
    core) at this instant: the benchmark's or the loader's own work, not other load."""
    n = 0
    for pid in _family():
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:  # the process ended meanwhile
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            n += stat[stat.rindex(")") + 2] == "R"  # "pid (comm) S ...": comm may hold spaces
    return n


def runnable_others() -> int | None:
    """Runnable tasks on the machine now, but for this process's and its descendants' own
    (``_own_running``); None off Linux."""
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


class Watch:
    """Other runnable tasks (``runnable_others``), sampled by a thread while a block runs.

    >>> with Watch() as w:
    ...     pass
    >>> w.mean() is None or w.mean() >= 0
    True
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self.before = load_now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = load_now()

    def _run(self) -> None:
        while True:
            n = runnable_others()
            if n is not None:
                self.samples.append(n)
            if self._stop.wait(self.interval):
                return

    def mean(self) -> float | None:
        """The mean count, to 2 decimals; None when nothing could be sampled."""
        return round(statistics.fmean(self.samples), 2) if self.samples else None

    def conditions(self, threads: int, spread: float | None) -> CompareRow:
        """``conditions`` of the watched block: the load before and after it, and during."""
        return conditions(threads, self.before, self.after, spread, self.mean())


def spread(samples: Sequence[float]) -> float:
    """p90 / p50 of timed runs (``numpy.percentile``, linear): 1.0 for identical runs.

    >>> spread([1.0, 1.0, 1.0, 1.0, 3.0])
    2.2
    """
    p50, p90 = np.percentile(samples, [50, 90])
    return round(float(p90 / p50), 3) if p50 > 0 else float("inf")


def reasons(
    threads: int,
    before: dict[str, Any],
    after: dict[str, Any],
    spread: float | None,
    ncores: int,
    during: float | None = None,
) -> list[str]:
    """Why a measurement is not to be trusted; empty when nothing says so.

    With ``during`` (other runnable tasks sampled through the timing) the load is
    judged by it alone; without it, by the load average and the instant counts
    before and after.

    >>> reasons(1, {"load": 0.2, "runnable": 0}, {"load": 0.4, "runnable": 1}, 1.1, 2)
    []
    >>> reasons(2, {"load": 3.5, "runnable": 1}, {"load": 3.0, "runnable": 0}, 1.6, 2)
    ['load average 3.5 > 2 cores', '1 other runnable + 2 threads > 2 cores', 'spread p90/p50 1.6 > 1.5']
    >>> reasons(2, {"load": 2.1, "runnable": 1}, {"load": 2.1, "runnable": 0}, 1.1, 2, during=0.1)
    []
    >>> reasons(2, {"load": 0.5, "runnable": 0}, {"load": 0.5, "runnable": 0}, 1.1, 2, during=0.8)
    ['0.8 other runnable on average during the timing + 2 threads > 2 cores']
    """  # noqa: E501
    out = []
    ours = f"{threads} thread{'s' * (threads != 1)}"
    if during is not None:
        if during + threads >= ncores + 0.5:
            out.append(
                f"{during:g} other runnable on average during the timing + {ours} > {ncores} cores"
            )
    else:
        loads = [x["load"] for x in (before, after) if x.get("load") is not None]
        if loads and max(loads) > ncores:
            out.append(f"load average {max(loads):g} > {ncores} cores")
        others = [x["runnable"] for x in (before, after) if x.get("runnable") is not None]
        if others and max(others) + threads > ncores:
            out.append(f"{max(others)} other runnable + {ours} > {ncores} cores")
    if spread is not None and spread > SPREAD_LIMIT:
        out.append(f"spread p90/p50 {spread:g} > {SPREAD_LIMIT:g}")
    return out


def conditions(
    threads: int,
    before: dict[str, Any],
    after: dict[str, Any],
    spread: float | None,
    during: float | None = None,
) -> CompareRow:
    """The fields a compare row or a benchmark records about how its timing was made."""
    n = cores()
    why = reasons(threads, before, after, spread, n, during)
    return {
        "threads": threads,
        "cores": n,
        "load_before": before["load"],
        "load_after": after["load"],
        "runnable_before": before["runnable"],
        "runnable_after": after["runnable"],
        "runnable_during": during,
        "spread": spread,
        "noisy": bool(why),
        "noisy_reasons": why,
    }


def describe(row: CompareRow) -> str:
    """One line for the console and report.md: why a row's timings are noisy."""
    runs = f" in {row['noisy_runs']} of {row['repeat']} runs" if row.get("noisy_runs") else ""
    return f"noisy timings{runs}: " + "; ".join(row.get("noisy_reasons") or [])


def between_runs(p50_range: Sequence[float] | None, runs: int) -> list[str]:
    """The reason a model's batch-1 medians disagree from run to run, if they do.

    Each run judges only its own conditions: a median that moved from one run to the
    next by more than ``SPREAD_LIMIT`` (slowest / fastest) was measured under different
    conditions in some run, whatever each said of itself.

    >>> between_runs([20.0, 34.0], 2)
    ['batch-1 median 20-34 ms over the 2 runs: 1.7x > 1.5']
    >>> between_runs([20.0, 29.0], 3)
    []
    """
    if not p50_range or min(p50_range) <= 0:
        return []
    low, high = p50_range
    ratio = high / low
    if ratio <= SPREAD_LIMIT:
        return []
    limit = f"{SPREAD_LIMIT:g}"
    return [f"batch-1 median {low:g}-{high:g} ms over the {runs} runs: {ratio:.1f}x > {limit}"]


def combine(runs: list[CompareRow]) -> CompareRow:
    """One row from the ``--repeat`` runs of a model: medians of the timings, with ranges.

    The first run gives everything else (accuracy is measured there only; memory
    figures are that process's). Runs that failed are counted in ``failed_runs``.
    ``load_before``, ``load_after``, ``runnable_*`` and ``spread`` are the worst
    over the runs; the row is ``noisy`` (with the reasons of these worst
    figures) when most runs were, since the median of the runs then may
    come from a noisy one, and when its batch-1 medians disagree across the
    runs (``between_runs``). ``runs`` keeps each run's own timings and conditions.
    The cores' bound and end to end's share of it are the medians' (``bound.of_row``).
    """
    ok = [r for r in runs if not r.get("error")]
    if len(runs) == 1 or not ok or runs[0].get("error"):
        return runs[0]
    row: dict[str, Any] = dict(runs[0])  # read and written by TIMED's and _CONDITIONS' keys
    by_key: list[Mapping[str, Any]] = list(ok)
    for key in TIMED:
        values = [r[key] for r in by_key if r.get(key) is not None]
        if values:
            row[key] = round(statistics.median(values), 3)
            row[f"{key}_range"] = [min(values), max(values)]
    for key in _CONDITIONS[:-1]:  # all but "noisy": the worst over the runs
        values = [r[key] for r in by_key if r.get(key) is not None]
        row[key] = max(values) if values else None
    noisy = [r for r in ok if r.get("noisy")]
    before, after = ({"load": row[f"load_{w}"], "runnable": row[f"runnable_{w}"]} for w in WHEN)
    majority = len(noisy) > len(ok) / 2
    during = row["runnable_during"]
    why = (
        reasons(row["threads"], before, after, row["spread"], row["cores"], during)
        if majority
        else []
    )
    why += between_runs(row.get("latency_ms_p50_range"), len(ok))
    row.update(
        repeat=len(ok),
        noisy_runs=len(noisy),
        noisy=bool(why),
        noisy_reasons=why,
        failed_runs=[r["error"] for r in runs if r.get("error")],
        runs=[{k: r.get(k) for k in (*TIMED, *DERIVED, *_CONDITIONS)} for r in ok],
    )
    if row.get("decode_ips") is not None:
        row.update(bound.of_row(row))
    return cast(CompareRow, row)
