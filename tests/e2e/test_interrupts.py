"""Interrupted runs leave whole result files or none, and the next run in the same place works.

Each signalled run is ``python -m harness`` in a subprocess, as a user at a terminal
starts it; the next run in the same place runs in this process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
RESULT_FILES = ("results.json", "predictions.csv", "*.tmp")


def environment(torch_home: Path) -> dict[str, str]:
    """This environment, with an empty torch cache and downloads refused at once."""
    env = {**os.environ, "TORCH_HOME": str(torch_home), "PYTHONUNBUFFERED": "1"}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[proxy] = "http://127.0.0.1:9"  # nothing listens there: as offline, even online
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    return env


def default_sigint() -> None:
    """Ctrl+C's default in the child, even where pytest itself runs with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Run:
    proc: subprocess.Popen
    cwd: Path
    log: Path  # stdout and stderr

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 600) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"harness ran past {timeout} s in {self.cwd}:\n{self.output}")

    def stop(self) -> None:
        """Kill it (and its children, when it leads a process group) if it still runs."""
        if self.proc.poll() is None:
            if os.getpgid(self.proc.pid) == self.proc.pid:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()
            self.proc.wait()


# ``python -m harness`` whose image decoder, at image GATE_AT, creates the file named by
# $HARNESS_TEST_GATE and then waits: a signal sent once that file exists always arrives
# mid-run, however fast or slow the machine (no sleep tuned to its speed).
GATED = """
import os, runpy, sys, time
import harness.data.images as images
decode, calls = images.load_rgb, []
def gated(*args, **kwargs):
    calls.append(1)
    if len(calls) == {at}:
        open(os.environ["HARNESS_TEST_GATE"], "w").close()
        while True:
            time.sleep(1)
    return decode(*args, **kwargs)
images.load_rgb = gated
sys.argv[0] = "harness"
runpy.run_module("harness", run_name="__main__", alter_sys=True)
"""
GATE_AT = 12  # of the run's --limit 40 images (batch 4: the third batch)


def start(
    args: list[str], cwd: Path, env: dict[str, str], log: Path, session: bool = False,
    gate: Path | None = None,
) -> Run:  # fmt: skip
    """``python -m harness ARGS`` in ``cwd``; ``session``: in a process group of its own;
    ``gate``: the run waits at image GATE_AT once it has created this file.
    """
    head = ["-m", "harness"] if gate is None else ["-c", GATED.format(at=GATE_AT)]
    if gate is not None:
        env = {**env, "HARNESS_TEST_GATE": str(gate)}
    with open(log, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, *head, *args],
            cwd=cwd,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
            start_new_session=session,
        )
    LAUNCHED.append(Run(proc, cwd, log))
    return LAUNCHED[-1]


LAUNCHED: list[Run] = []


@pytest.fixture(autouse=True, scope="module")
def _reap() -> Iterator[None]:
    """No harness process outlives this module, whatever failed on the way."""
    yield
    for run in LAUNCHED:
        run.stop()


def wait_for(what: str, ready: Callable[[], bool], runs: list[Run], timeout: float = 600) -> None:
    """Poll ``ready`` every 0.2 s; fail early, with its output, if a run ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        for r in runs:
            if r.proc.poll() is not None:
                pytest.fail(f"harness ended ({r.proc.returncode}) before {what}:\n{r.output}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.2)


def run_dirs(cwd: Path) -> list[Path]:
    return sorted((cwd / "lightning_logs" / "squeezenet1_1").glob("*"))


def found(cwd: Path, *patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in cwd.rglob(pattern))


def test_args(nips: Path, weights: Path, *extra: str) -> list[str]:
    return [
        "test", "--model", "squeezenet1_1", "--weights", str(weights),
        "--data", str(nips / "images"), "--labels", str(nips / "labels.csv"),
        "--batch-size", "4", "--num-workers", "0", "--no-progress", "--accelerator", "cpu",
        *extra,
    ]  # fmt: skip


test_args.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class Outcome:
    status: int
    output: str
    left: list[Path]  # result and temporary files found after the signal
    next_status: int
    next_output: str
    next_results: list[Path]


@pytest.fixture(scope="module")
def interrupted(
    nips: Path, squeezenet_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """A 40-image run per signal, side by side, each signalled mid-way; then a --limit 10 run.

    The three run at once to keep the module short; each has its own folder. Each is
    signalled while it waits at its gate, at image GATE_AT: mid-run, on any machine.
    """
    env = environment(tmp_path_factory.getbasetemp() / "torch_home")
    base = tmp_path_factory.mktemp("signals")
    runs: dict[str, Run] = {}
    for name in SIGNALS:
        (base / name).mkdir()
        runs[name] = start(
            test_args(nips, squeezenet_weights, "--limit", "40"),
            base / name, env, base / f"{name}.log", gate=base / f"{name}.gate",
        )  # fmt: skip
    gates = [base / f"{name}.gate" for name in SIGNALS]
    wait_for("the runs at their gates", lambda: all(g.exists() for g in gates), [*runs.values()])
    for name, r in runs.items():
        assert r.proc.poll() is None, f"{name}: the run ended before its signal:\n{r.output}"
        r.proc.send_signal(SIGNALS[name])
    after = {name: (r.wait(), found(r.cwd, *RESULT_FILES)) for name, r in runs.items()}
    again = {
        name: run_here(test_args(nips, squeezenet_weights, "--limit", "10"), r.cwd)
        for name, r in runs.items()
    }
    return {
        name: Outcome(
            status=after[name][0],
            output=runs[name].output,
            left=after[name][1],
            next_status=again[name][0],
            next_output=again[name][1],
            next_results=found(runs[name].cwd, "results.json"),
        )
        for name in SIGNALS
    }


def run_here(args: list[str], cwd: Path) -> tuple[int, str]:
    """``harness ARGS`` in this process, in ``cwd`` (no new interpreter: the next run
    in the same place is what is tested, not its process): exit status and output.
    """
    output = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
    ):
        mp.chdir(cwd)
        status = main(args)
    return status, output.getvalue()


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signalled_run_leaves_no_result_files(interrupted: dict[str, Outcome], name: str) -> None:
    o = interrupted[name]
    if name == "SIGKILL":
        assert o.status == -signal.SIGKILL
    else:  # the same clean way out as Ctrl+C
        assert o.status == 130, o.output
        assert "harness: interrupted" in o.output
        assert "Traceback" not in o.output
    assert o.left == []  # no results.json, predictions.csv or *.tmp: not even a truncated one


@pytest.mark.parametrize("name", list(SIGNALS))
def test_next_run_in_the_same_place_works(interrupted: dict[str, Outcome], name: str) -> None:
    o = interrupted[name]
    assert o.next_status == 0, o.next_output
    [results] = o.next_results
    res = json.loads(results.read_text())
    assert res["n"] == res["labelled"] == 10 and res["skipped"] == []
    assert (results.parent / "predictions.csv").read_text().count("\n") == 1 + 10


def rows_of(path: Path) -> dict[str, dict[str, Any]] | None:
    """results.json of a compare run, by model; None while it is not there yet."""
    try:
        return {r["model"]: r for r in json.loads(path.read_text())}
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("whom", ["parent", "group"])
def test_compare_interrupted_keeps_finished_models(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, whom: str
) -> None:
    """SIGINT to the parent alone, or to its whole process group as Ctrl+C at a terminal."""
    env = environment(tmp_path_factory.getbasetemp() / "torch_home")
    out = tmp_path / "R"
    models = ["squeezenet1_1", "mobilenet_v3_small", "resnet18"]
    args = ["compare", "--models", *models, "--accelerator", "cpu", "--latency-seconds", "0.2"]
    log = tmp_path / "compare.log"
    run = start([*args, "--output", str(out)], tmp_path, env, log, session=whom == "group")

    def first_done() -> bool:
        rows = rows_of(out / "results.json")  # written atomically: whole or absent
        return rows is not None and rows["squeezenet1_1"]["error"] is None

    wait_for("finished squeezenet1_1 row", first_done, [run])
    if whom == "group":  # the child measuring the next model gets it too
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGINT)
    assert run.wait() == 130, run.output
    assert "Traceback" not in run.output
    assert f"partial report in {out}/report.md" in run.output
    rows = rows_of(out / "results.json")
    assert rows is not None and list(rows) == models
    sq = rows["squeezenet1_1"]
    assert sq["error"] is None and sq["latency_runs"] >= 10 and sq["params"] > 0
    for name in models[1:]:
        assert rows[name]["error"].startswith("not run"), rows[name]
    assert (out / "report.md").is_file()
    assert found(out, "*.tmp") == []


def test_two_runs_at_once_in_the_same_place(
    nips: Path, squeezenet_weights: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = environment(tmp_path_factory.getbasetemp() / "torch_home")
    args = test_args(nips, squeezenet_weights, "--limit", "20")
    runs = [
        start(args, tmp_path, env, tmp_path.parent / f"{tmp_path.name}-{i}.log") for i in (1, 2)
    ]
    assert [r.wait() for r in runs] == [0, 0], [r.output for r in runs]
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 2
    for d in dirs:
        res = json.loads((d / "results.json").read_text())
        assert res["n"] == res["labelled"] == 20 and res["run_dir"].endswith(d.name)
        assert (d / "predictions.csv").read_text().count("\n") == 1 + 20
    assert found(tmp_path, "*.tmp") == []
