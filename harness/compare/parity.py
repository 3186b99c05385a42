"""Compare's parity: each row run otherwise than in torch fp32, against the same model there.

The reference is the run's own torch fp32 row of the same model (same name, same
weights) when there is one, else a torch fp32 pass in the row's child
(``reference.json``); each child writes its answers at full precision
(``engine.outputs``). The parent adds the figures to the rows
(:func:`add_parity`) and report.md says them in words (:func:`parity_section`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config import SHORT_PRECISION, Spec, Variant, variant
from harness.engine import outputs
from harness.measure.parity import likely_defect, parity
from harness.rows import CompareRow

COMPUTED = "torch fp32, computed in the row's own process"


def is_reference(v: Variant, precision: str, compile: bool = False) -> bool:
    """Whether ``v`` runs in torch fp32 (eager): a bare name does at ``--precision 32-true``."""
    fp32 = v.precision == "fp32" or (v.precision is None and precision == "32-true")
    return v.runtime == "torch" and fp32 and not compile


def references(models: Sequence[str], spec: Spec) -> dict[str, str | None]:
    """Each model that needs a reference -> the run's torch fp32 row of it (None: none)."""
    refs = [m for m in models if is_reference(variant(m), spec.precision, spec.compile)]
    found: dict[str, str | None] = {}
    for m in models:
        if m not in refs:
            base = variant(m).model
            found[m] = next((r for r in refs if variant(r).model == base), None)
    return found


def child_answers(spec: Spec, loaded: Any, samples: Any, module: Any) -> None:
    """In a child: outputs.json of its answers (its accuracy run's, else a predict run's when
    it needs a reference), and reference.json of torch fp32's when the run has none to give.

    The reference row writes its answers from its accuracy run: without labels it has
    none, so a row that needs one then computes its own.
    """
    from harness.engine import runs

    if spec.run > 1 or samples is None or loaded.random:
        return
    needs = not is_reference(variant(spec.model), spec.precision, spec.compile)
    if module is None and needs:
        module = runs.predict(loaded, samples, spec)
    if module is None:
        return
    folder = spec.test_dir()
    outputs.write(folder / outputs.OUTPUTS, outputs.answers(module, samples))
    if needs and (spec.reference is None or not samples.labelled):
        torch_fp32 = replace(spec, runtime="torch", precision="32-true", channels_last=True)
        ref = runs.predict(loaded, samples, replace(torch_fp32, compile=False))
        assert ref is not None  # one process
        outputs.write(folder / outputs.REFERENCE, outputs.answers(ref, samples))


def add_parity(run: Path, rows: list[CompareRow], refs: dict[str, str | None]) -> None:
    """Each row that needs a reference gets the parity figures, or why there are none."""
    by_model = {r["model"]: r for r in rows}
    for row in rows:
        if row["model"] not in refs or row.get("error"):
            continue
        mine = Spec(row["model"], str(run)).test_dir()
        ref_file, ref_row = mine / outputs.REFERENCE, refs[row["model"]]
        if ref_file.is_file():
            source = COMPUTED
        elif ref_row is not None:
            ref_file = Spec(ref_row, str(run)).test_dir() / outputs.OUTPUTS
            source = f"{ref_row}, its row in this run"
        if not (mine / outputs.OUTPUTS).is_file() or not ref_file.is_file():
            row["parity_note"] = _missing(row, by_model.get(ref_row or ""))
            continue
        found = parity(outputs.read(ref_file), outputs.read(mine / outputs.OUTPUTS))
        fp32 = row.get("precision") in ("fp32", "32-true")
        row |= found | {"parity_reference": source, "parity_flag": likely_defect(found, fp32)}


def _missing(row: CompareRow, ref_row: CompareRow | None) -> str:
    """Why a row that needs a reference has no parity figures."""
    if row.get("random_weights"):
        return "n/a (random weights: answers near chance, parity not meaningful)"
    if ref_row is not None and ref_row.get("error"):
        return f"n/a (its reference row {ref_row['model']} failed)"
    return "n/a (no images evaluated)"


def runs_as(row: CompareRow) -> str:
    """``onnxruntime fp32``, ``torch bf16``: a row's runtime and precision in words."""
    p = row.get("precision") or "?"
    return f"{row.get('runtime', 'torch')} {SHORT_PRECISION.get(p, p)}"


def parity_sentence(row: CompareRow) -> str:
    """One row's parity in words, with its reference and, over 0.5% changed in fp32, a flag."""
    n, same = row["parity_n"], row["agree_top1"]
    diff = row["max_top1_prob_diff"]
    text = (
        f"{row['model']}: {runs_as(row)} changed {n - same} of {n} answers (top-5 sets "
        f"the same on {row['agree_top5']}), largest top-1 probability difference "
        f"{diff:.1g}"
    )
    if row["parity_p"] is not None:
        r2w, w2r, p = row["right_to_wrong"], row["wrong_to_right"], row["parity_p"]
        # int8 trades answers for speed: the question is whether it loses any
        verdict = "no measurable loss" if row.get("precision") == "int8" else "no measurable change"
        if p < 0.05:
            verdict = "a measurable loss" if r2w > w2r else "a measurable gain"
        text += f"; {r2w} right->wrong, {w2r} wrong->right, p = {p:.2g}: {verdict}"
    text += f" (against {row['parity_reference']})."
    if row.get("parity_flag"):
        text += (
            f" WARNING: its fp32 answers differ from torch's on {100 * (n - same) / n:.1f}% "
            "of the images, more than 0.5%: likely an export or preprocessing defect."
        )
    return text


def parity_section(rows: Sequence[CompareRow]) -> list[str]:
    """report.md's section on the rows run otherwise than in torch fp32."""
    checked = [r for r in rows if "parity_n" in r or "parity_note" in r]
    if not checked:
        return []
    lines = [
        "## Runtimes and precisions against torch fp32",
        "",
        "Each row run in another runtime or precision is checked, image by image, against "
        "the same model in torch fp32 on the same images: how many top-1 answers changed, "
        "whether the five best classes are the same set, the largest difference between "
        "the two top-1 probabilities, and with labels the exact McNemar test on the "
        "answers that turned right or wrong. An fp32 runtime that changes more than 0.5% "
        "of the answers is flagged: rounding alone does not do that.",
        "",
    ]
    for r in checked:
        lines.append(
            f"- {parity_sentence(r)}"
            if "parity_n" in r
            else f"- {r['model']}: parity {r['parity_note']}"
        )
    return [*lines, ""]
