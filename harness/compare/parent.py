"""The compare parent: one child process per model (``harness.compare.child``), rows collected.

A fresh process per model keeps memory figures clean (the OS's peak resident
size only ever grows) and turns a crash or an out-of-memory kill into one
error row instead of the end of the run. ``compare()`` is the parent; the
child is ``python -m harness.compare.child SPEC.json`` (``harness.compare.child``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import cast

from harness.config import EXPORTED, Spec, variant
from harness.engine.files import write_atomic
from harness.errors import HarnessError
from harness.rows import CompareRow

NOT_RUN = "not run"


def entries(models: list[str]) -> list[str]:
    """Model names for ``--models``: names, shell patterns and NAME=FILE, once each, each
    with the runtime it asks for (``MODEL@RUNTIME[:PRECISION]``, a pattern's on each match).

    NAME=FILE is the architecture NAME with the weights in FILE (one's own).
    """
    from harness.zoo import registry

    found: list[str] = []
    for m in models:
        v = variant(m)
        name, own, file = v.model.partition("=")
        if own and not Path(file).is_file():
            raise HarnessError(f"weights file {file!r} (in {m}) does not exist")
        hits = [str(v)] if own and registry.check(name) else registry.match_variants([m])
        found += [h for h in hits if h not in found]
    return found


def child_environ(spec: Spec) -> dict[str, str]:
    """The child's environment: ours, with torch's OpenMP threads waiting passively
    (``OMP_WAIT_POLICY=PASSIVE``, unless it is set) for a model in an exported runtime.

    There torch only normalises each batch, and its threads spinning after that take
    the cores that the runtime's own threads and the loader's workers need: OpenVINO
    int8 end to end was 5-10% faster with them passive (docs/studies.md).
    """
    env = dict(os.environ)
    if variant(spec.model).runtime in EXPORTED:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_child(spec: Spec, timeout: float | None = None) -> CompareRow:
    """Measure one model in a fresh interpreter; any failure becomes an error row."""
    models = spec.models_dir()
    spec_file = write_atomic(models / f"{spec.stem()}.spec.json", spec.to_json())
    log = models / f"{spec.stem()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)  # timm/ARCH names make a subfolder
    out = spec.result_path()
    out.unlink(missing_ok=True)
    with open(log, "w") as f:
        # -P: a file in the working folder named like a stdlib module (grp.py, say)
        # must not shadow it in the child
        safe = ["-P"] if sys.version_info >= (3, 11) else []
        cmd = [sys.executable, *safe, "-m", "harness.compare.child", str(spec_file)]
        try:
            code = subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, env=child_environ(spec)
            ).returncode
        except subprocess.TimeoutExpired:
            return {"model": spec.model, "error": f"timed out after {timeout:.0f} s"}
    if code == 0 and out.is_file():
        return cast(CompareRow, json.loads(out.read_text()))  # the child's measure()
    if code < 0:
        why = f"killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
    else:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {code}"
    return {"model": spec.model, "error": why, "log": str(log)}


def _measured(spec: Spec, tag: str, timeout: float | None) -> CompareRow:
    """One child's row, with progress on stderr."""
    print(f"{tag} {spec.model} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    row = run_child(spec, timeout)
    status = row.get("error") or ("done, noisy" if row.get("noisy") else "done")
    seconds = time.perf_counter() - start
    print(f"{tag} {spec.model}: {status} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    return row


def compare(
    models: list[str], spec: Spec, timeout: float | None = None, repeat: int = 1
) -> list[CompareRow]:
    """Measure each model in turn; results files are rewritten after every model.

    With ``repeat`` K > 1 the models are measured round-robin K times (A B C A B
    C ...), so that a burst of load hits every model rather than one, and each
    row holds the median of its runs (``conditions.combine``). A model that fails
    its first run is not run again. An interruption leaves the finished models'
    rows and marks the rest not run.
    """
    from harness.compare.parity import add_parity, references
    from harness.compare.report import write_compare
    from harness.config import tensorboard_runs
    from harness.engine.files import environment
    from harness.measure.conditions import combine

    env = environment(spec.precision)  # the machine, and when the comparison started
    env["torch_threads"] = spec.threads or env["torch_threads"]  # the children's
    rows: list[CompareRow] = [{"model": m, "error": NOT_RUN} for m in models]
    tb = tensorboard_runs(models)
    refs = references(models, spec)  # each row's torch fp32 row, where parity needs one
    runs: list[list[CompareRow]] = [[] for _ in models]
    try:
        for run in range(1, repeat + 1):
            for i, m in enumerate(models):
                if run > 1 and runs[i][0].get("error"):
                    continue
                tag = f"[{i + 1}/{len(models)}]" + (f" run {run}/{repeat}" if repeat > 1 else "")
                child = replace(
                    spec, model=m, run=run, tensorboard_run=tb[m], reference=refs.get(m)
                )
                runs[i].append(_measured(child, tag, timeout))
                rows[i] = combine(runs[i])
                write_compare(Path(spec.run_dir), rows, spec, env, final=False)
    except KeyboardInterrupt:
        for r in rows:
            if r.get("error") == NOT_RUN:
                r["error"] = f"{NOT_RUN} (interrupted)"
        write_compare(Path(spec.run_dir), rows, spec, env, final=True)
        raise
    add_parity(Path(spec.run_dir), rows, refs)
    write_compare(Path(spec.run_dir), rows, spec, env, final=True)
    return rows


if __name__ == "__main__":  # the child's old entry point: ``python -m harness.compare.parent SPEC``
    from harness.compare.child import run_main

    run_main()
