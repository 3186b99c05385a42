"""Timings a user can trust: --threads, load and spread around each timing, --repeat.

The machine's load cannot be made low by a test, only high: the noisy verdict
is checked on a real compare row with a busy process started by the test (by hand
on fixed figures: tests/unit/measure/test_conditions.py). A spinning process is always
runnable, so it shows in ``/proc/loadavg``'s runnable count at once, whatever
else the machine is doing (the 1-minute load average would take a minute).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from harness.cli.main import main
from harness.measure import conditions
from tests.helpers import compare_args, labels_of

LINUX = pytest.mark.skipif(not Path("/proc/loadavg").is_file(), reason="no /proc/loadavg")


SPIN = "print('spinning', flush=True)\nwhile True: pass"


@pytest.fixture
def busy() -> Iterator[Callable[[int], None]]:
    """Start busy (spinning) processes on demand, not ours: each is started by a shell that
    exits at once, so that it is no descendant of this process (as another user's work is
    not). All are killed at the end."""
    pids: list[int] = []

    def start(n: int) -> None:
        for _ in range(n):
            cmd = f"{shlex.quote(sys.executable)} -S -c {shlex.quote(SPIN)} & echo $!"
            sh = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.PIPE)
            assert sh.stdout is not None
            pids.append(int(sh.stdout.readline()))
            assert sh.wait() == 0
            # past its start-up, in the loop: no sleep guessed
            assert sh.stdout.readline() == b"spinning\n"

    yield start
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def own_busy() -> Iterator[Callable[[int], None]]:
    """Spinning child processes of this one, as DataLoader workers are."""
    procs: list[subprocess.Popen] = []

    def start(n: int) -> None:
        for _ in range(n):
            procs.append(
                subprocess.Popen([sys.executable, "-S", "-c", SPIN], stdout=subprocess.PIPE)
            )
        for p in procs[-n:]:
            assert p.stdout is not None and p.stdout.readline() == b"spinning\n"

    yield start
    for p in procs:
        p.kill()
        p.wait()


@LINUX
def test_watch_samples_busy_processes_through_a_block(busy) -> None:
    """Three spinning processes started before the block: about 3 others at every sample."""
    busy(3)
    with conditions.Watch(interval=0.02) as watch:
        threading.Event().wait(0.5)
    assert len(watch.samples) >= 5
    assert min(watch.samples) >= 3 and watch.mean() == round(
        sum(watch.samples) / len(watch.samples), 2
    )


@LINUX
def test_runnable_counts_busy_processes_but_not_our_own_threads(busy) -> None:
    busy(3)
    assert conditions.runnable_others() >= 3
    stop = threading.Event()

    def hash_until_stopped() -> None:  # hashlib releases the GIL: a second running thread
        h, buf = hashlib.sha256(), bytes(2**24)
        while not stop.is_set():
            h.update(buf)

    t = threading.Thread(target=hash_until_stopped)
    t.start()
    try:
        assert max(conditions._own_running() for _ in range(20)) >= 2
    finally:
        stop.set()
        t.join()


@LINUX
def test_our_own_child_processes_are_not_other_load(busy, own_busy) -> None:
    """Loader workers are the run's own work: two spinning children of ours count as our
    running threads, not as others; two spinners of someone else's as others."""
    own_busy(2)
    conditions._FAMILY["at"] = -1.0  # the children started just now: list them again
    assert max(conditions._own_running() for _ in range(20)) >= 3  # this thread and both
    before = min(conditions.runnable_others() for _ in range(20))
    busy(2)
    after = max(conditions.runnable_others() for _ in range(20))
    assert after >= 2 and after >= before + 1  # others' spinners seen


@LINUX
def test_compare_row_noisy_under_injected_load(busy, tmp_path, capsys) -> None:
    """All cores' worth of our threads plus one busy process: a thread of ours had to wait."""
    busy(1)
    out = tmp_path / "run"
    args = ["compare", "--models", "squeezenet1_1", "--accelerator", "cpu", "--threads",
            str(conditions.cores()), "--latency-seconds", "0.1", "--batch-size", "2",
            "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    (row,) = json.loads((out / "results.json").read_text())
    assert row["noisy"] is True and row["threads"] == conditions.cores()
    assert row["runnable_before"] >= 1 and row["runnable_after"] >= 1
    assert row["runnable_during"] >= 1  # sampled through the timed loops
    assert any("other runnable" in w for w in row["noisy_reasons"])
    for key in ("load_before", "load_after"):
        assert 0 <= row[key] < 1000
    assert row["spread"] >= 1.0
    stdout = capsys.readouterr().out
    assert "noisy     squeezenet1_1: noisy timings: " in stdout
    assert "- squeezenet1_1: noisy timings: " in (out / "report.md").read_text()


LIMIT = 8
MODELS = ("squeezenet1_1", "mobilenet_v3_small")


@pytest.fixture(scope="module")
def repeated(nips: Path, squeezenet_weights: Path, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("repeat") / "run"
    args = compare_args(nips, squeezenet_weights, run_dir, list(MODELS), LIMIT)
    assert main([*args, "--repeat", "3", "--threads", "1", "--latency-seconds", "0.2"]) == 0
    return run_dir


def per_run(run_dir: Path, model: str) -> list[dict]:
    names = [f"{model}.json", f"{model}.run2.json", f"{model}.run3.json"]
    return [json.loads((run_dir / "models" / n).read_text()) for n in names]


def test_repeat_reports_median_and_range_of_the_runs(repeated: Path) -> None:
    rows = {r["model"]: r for r in json.loads((repeated / "results.json").read_text())}
    for model in MODELS:
        row, runs = rows[model], per_run(repeated, model)
        assert row["repeat"] == 3 and all(r["threads"] == 1 for r in runs)
        timings = ("latency_ms_p50", "latency_ms_p90", "throughput_ips", "throughput_e2e_ips")
        for key in (*timings, "decode_ips"):
            values = sorted(r[key] for r in runs)
            assert row[key] == values[1] and row[f"{key}_range"] == [values[0], values[2]]
        # the bound of the medians (--num-workers 0: decoding and the model take turns)
        by_hand = round(1 / (1 / row["throughput_ips"] + 1 / row["decode_ips"]), 3)
        assert row["core_bound_ips"] == by_hand
        # 8 photos, one batch: the pass has no steady part, so no share of the bound
        assert row["throughput_e2e_steady_ips"] is None and row["e2e_of_bound"] is None
        assert row["load_before"] == max(r["load_before"] for r in runs)
        assert row["noisy_runs"] == sum(r["noisy"] for r in runs)
        low, high = row["latency_ms_p50_range"]
        moved = high / low > 1.5  # the batch-1 medians disagree across the runs
        assert row["noisy"] == (row["noisy_runs"] >= 2 or moved)
        assert any("over the 3 runs" in w for w in row["noisy_reasons"]) == moved
    assert "median of 3 runs, round-robin" in (repeated / "report.md").read_text()


def test_repeat_runs_round_robin(repeated: Path) -> None:
    """The runs' result files were written in the order A B A B A B."""
    files = [repeated / "models" / f"{m}{s}.json" for s in ("", ".run2", ".run3") for m in MODELS]
    stamps = [f.stat().st_mtime_ns for f in files]
    assert stamps == sorted(stamps)


def test_repeat_measures_accuracy_once(repeated: Path, nips: Path, reference) -> None:
    first, *later = per_run(repeated, "squeezenet1_1")
    labels = labels_of(nips)
    files = list(labels)[:LIMIT]
    assert first["correct1"] == sum(reference[f][0][0] == labels[f] for f in files)
    assert all(r["top1"] is None and "first run only" in r["accuracy_note"] for r in later)
    row = next(r for r in json.loads((repeated / "results.json").read_text()) if r["top1"])
    assert row["model"] == "squeezenet1_1" and row["top1"] == first["correct1"] / LIMIT


def test_repeat_hparams_tab_shows_the_report_medians(repeated: Path, nips: Path) -> None:
    """TensorBoard's own server gives, for each model, the figures results.json and
    report.md give (the medians of the runs, not the last run), accuracy among the
    five metrics its table ticks, and the data, labels and limit as hyperparameters."""
    from tests.helpers.tensorboard_api import hparams_tab, metric_values

    experiment, groups = hparams_tab(repeated, sessions=len(MODELS))
    rows = {r["model"]: r for r in json.loads((repeated / "results.json").read_text())}
    assert sorted(g["name"] for g in groups) == sorted(MODELS)
    tags = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert {"test/top1", "test/top5"} <= set(tags[:5])  # the table ticks the first five
    keys = {"latency_ms_p50": "timing/latency_ms_p50", "latency_ms_p90": "timing/latency_ms_p90",
            "throughput_ips": "timing/throughput_ips",
            "throughput_e2e_ips": "timing/throughput_e2e_ips"}  # fmt: skip
    for g in groups:
        row, shown = rows[g["hparams"]["model"]], metric_values(g)
        runs = per_run(repeated, row["model"])
        for key, tag in keys.items():  # each the median of the three runs, by hand
            median = sorted(r[key] for r in runs)[1]
            assert shown[tag] == pytest.approx(median, rel=1e-6), (row["model"], key)
        # memory: the first run's (its process also ran the accuracy pass), as in the report
        assert shown["usage/peak_memory_mib"] == pytest.approx(runs[0]["peak_memory_mib"])
        assert row["peak_memory_mib"] == runs[0]["peak_memory_mib"]
        if row["top1"] is not None:
            assert shown["test/top1"] == pytest.approx(row["top1"], abs=1e-6)
        hp = g["hparams"]
        assert (hp["data"], hp["labels"]) == (str(nips / "images"), str(nips / "labels.csv"))
        assert (hp["limit"], hp["repeat"], hp["sample"]) == (LIMIT, 3, "None")


@pytest.fixture
def keep_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("keep_threads")
def test_test_records_threads(tiny_images: list[Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # its TensorBoard run goes to ./lightning_logs
    out = tmp_path / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", "none", "--accelerator", "cpu",
            "--data", str(tiny_images[0].parent), "--num-workers", "0", "--threads", "1",
            "--no-progress", "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["threads"] == 1
    assert torch.get_num_threads() == 1
