"""int8 end to end: photos set aside, the same photos for every row, answers and parity
against an independent loop, the quantized file's calibration, its cache, one-line errors.

The loop is PIL, torchvision's transforms, and ``onnxruntime.InferenceSession`` /
OpenVINO run directly on the row's QDQ file, beside the torch model itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from harness.cli.main import main
from harness.config import Spec
from harness.engine import onnx_files, outputs
from harness.engine.exported import openvino_core
from harness.zoo import weights
from tests.helpers import check_declared, compare_args, labels_of
from tests.helpers.loops import loop_answers

pytest.importorskip("onnxruntime", reason="int8 needs the deploy extra")
pytest.importorskip("openvino", reason="the openvino rows need the deploy extra")

EVALUATED, CALIBRATING = 12, 16
INT8 = ["squeezenet1_1@onnxruntime:int8", "squeezenet1_1@openvino:int8"]


@pytest.fixture(scope="module")
def compared(
    nips: Path, squeezenet_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict], str]:
    """compare of squeezenet1_1 in torch fp32 and in int8 in both runtimes: its run folder,
    rows by model, and stdout.
    """
    out = tmp_path_factory.mktemp("int8") / "run"
    # a loader worker: the end-to-end pass shares the cores
    args = compare_args(nips, squeezenet_weights, out, ["squeezenet1_1", *INT8], EVALUATED, 1)
    args += ["--calibration", str(CALIBRATING), "--latency-seconds", "0", "--threads", "1"]
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()) as got:
        mp.setenv(onnx_files.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "int8_cache"))
        assert main(args) == 0
    rows = json.loads((out / "results.json").read_text())
    return out, {r["model"]: r for r in rows}, got.getvalue()


def test_the_rows_hold_the_declared_keys(compared: tuple[Path, dict[str, dict], str]) -> None:
    """int8 rows: their calibration record and parity figures are declared (harness.rows)."""
    from harness.rows import CompareRow

    _, rows, _ = compared
    for r in rows.values():
        check_declared(r, CompareRow)
    assert all("calibration" in r for r in rows.values()) and any(
        "parity_n" in r for r in rows.values()
    )
    # ONNX Runtime's end-to-end pass ran a session whose idle threads sleep (Session.for_sharing)
    assert [r.get("e2e_session_options") for r in rows.values()] == [
        None, {"session.intra_op.allow_spinning": "0"}, None
    ]  # fmt: skip
    assert all(r["loader_workers"] == 1 for r in rows.values())


def answers(run: Path, model: str) -> dict[str, Any]:
    """The row's own answers (outputs.json), by file name."""
    found = outputs.read(Spec(model, str(run)).test_dir() / outputs.OUTPUTS)
    return {Path(f).name: a for f, a in found.items()}


def test_every_row_is_evaluated_on_the_same_photos_none_of_them_calibrating(
    compared: tuple[Path, dict[str, dict], str], nips: Path
) -> None:
    run, rows, _ = compared
    records = [rows[m]["calibration"] for m in rows]
    assert all(r == records[0] for r in records)  # the torch row records it too
    aside = records[0]["files"]
    assert records[0]["count"] == len(set(aside)) == CALIBRATING
    assert records[0]["excluded_from_evaluation"] is True and records[0]["seed"] == 0
    listed = list(labels_of(nips))  # --limit: the first of those left, in labels-file order
    expected = [f for f in listed if f not in aside][:EVALUATED]
    for model in rows:
        assert sorted(answers(run, model)) == sorted(expected)
        assert rows[model]["n"] == EVALUATED


def test_int8_answers_are_the_qdq_files_run_directly(
    compared: tuple[Path, dict[str, dict], str], nips: Path
) -> None:
    import onnxruntime

    run, rows, _ = compared
    files = sorted(answers(run, INT8[0]))
    qdq = rows[INT8[0]]["onnx_file"]
    assert rows[INT8[1]]["onnx_file"] == qdq  # one quantized file serves both runtimes
    session = onnxruntime.InferenceSession(qdq, providers=["CPUExecutionProvider"])
    compiled = openvino_core().compile_model(qdq, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    direct = {
        INT8[0]: loop_answers(nips, files, lambda x: session.run(None, {"images": x})[0]),
        INT8[1]: loop_answers(nips, files, lambda x: compiled(x)[0]),
    }
    for model, found in direct.items():
        mine = answers(run, model)
        for f in files:
            assert mine[f][0] == found[f][0], (model, f)
            assert mine[f][1] == pytest.approx(found[f][1], abs=1e-5)
        assert rows[model]["precision"] == "int8"
    assert rows[INT8[1]]["runs_in"] == "int8, fp32 elsewhere"


def test_the_qdq_file_is_calibrated_on_the_recorded_photos(
    compared: tuple[Path, dict[str, dict], str], nips: Path, tmp_path: Path
) -> None:
    import onnx
    from onnx import numpy_helper
    from torchvision.models import SqueezeNet1_1_Weights

    from harness.engine.quantize import quantize

    _, rows, _ = compared
    row = rows[INT8[0]]
    qdq = Path(row["onnx_file"])
    fp32 = qdq.parent / json.loads(qdq.with_suffix(".json").read_text())["fp32_file"]
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    photos = [
        tf(Image.open(nips / "images" / f).convert("RGB")).numpy()
        for f in row["calibration"]["files"]
    ]
    mine = quantize(fp32, [np.stack(photos)], tmp_path / "mine.onnx")

    def scales(path: Path) -> dict[str, np.ndarray]:
        graph = onnx.load(str(path)).graph
        return {t.name: numpy_helper.to_array(t) for t in graph.initializer if "scale" in t.name}

    theirs, ours = scales(qdq), scales(mine)
    assert theirs.keys() == ours.keys() and len(ours) > 50
    for name, s in ours.items():  # activation ranges: those of exactly these photos
        np.testing.assert_allclose(theirs[name], s, rtol=1e-4, err_msg=name)


def exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar p: a binomial test with math.comb, written out again."""
    n, k = b + c, min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def test_parity_of_the_int8_rows_matches_the_loop_and_is_said_in_words(
    compared: tuple[Path, dict[str, dict], str], nips: Path, squeezenet_weights: Path
) -> None:
    import onnxruntime

    run, rows, stdout = compared
    row = rows[INT8[0]]
    files = sorted(answers(run, INT8[0]))
    labels = labels_of(nips)
    model = weights.load("squeezenet1_1", str(squeezenet_weights)).model.eval()
    with torch.inference_mode():
        ref = loop_answers(nips, files, lambda x: model(torch.from_numpy(x)).numpy())
    session = onnxruntime.InferenceSession(row["onnx_file"], providers=["CPUExecutionProvider"])
    q = loop_answers(nips, files, lambda x: session.run(None, {"images": x})[0])
    same = sum(q[f][0][0] == ref[f][0][0] for f in files)
    lost = sum(ref[f][0][0] == labels[f] != q[f][0][0] for f in files)
    won = sum(q[f][0][0] == labels[f] != ref[f][0][0] for f in files)
    assert (row["parity_n"], row["agree_top1"]) == (EVALUATED, same)
    assert (row["right_to_wrong"], row["wrong_to_right"]) == (lost, won)
    assert row["parity_p"] == pytest.approx(exact_mcnemar(lost, won))
    assert row["parity_reference"] == "squeezenet1_1, its row in this run"
    assert not row["parity_flag"]  # a flag is for fp32 runtimes
    sentence = f"{INT8[0]}: onnxruntime int8 changed {EVALUATED - same} of {EVALUATED} answers"
    words = f"{lost} right->wrong, {won} wrong->right, p = {row['parity_p']:.2g}"
    line = next(ln for ln in stdout.splitlines() if ln.startswith(f"parity    {INT8[0]}:"))
    assert sentence in line and words in line
    if row["parity_p"] >= 0.05:
        assert line.endswith("no measurable loss (against squeezenet1_1, its row in this run).")
    assert sentence in (run / "report.md").read_text()


def test_a_test_run_calibrated_on_another_folder_sets_nothing_aside_and_caches_the_file(
    nips: Path, squeezenet_weights: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "calibration"
    folder.mkdir()
    for name in list(labels_of(nips))[-6:]:  # photos of the set's end, not evaluated here
        (folder / name).write_bytes((nips / "images" / name).read_bytes())
    args = ["test", "--model", INT8[1], "--weights", str(squeezenet_weights)]
    args += ["--data", str(nips / "images"), "--labels", str(nips / "labels.csv")]
    args += ["--limit", "4", "--num-workers", "0", "--no-progress"]
    args += ["--calibration-data", str(folder), "--calibration", "6"]
    made = []
    for run in ("one", "two"):
        assert main([*args, "--output", str(tmp_path / run)]) == 0
        made.append(json.loads((tmp_path / run / "results.json").read_text()))
    first, second = made
    assert first["n"] == 4 and first["selection"] == "the first 4 of 500 (--limit)"
    record = first["calibration"]
    assert record["source"] == str(folder) and record["excluded_from_evaluation"] is False
    assert sorted(record["files"]) == sorted(p.name for p in folder.iterdir())
    assert not first["export"]["export_cached"] and second["export"]["export_cached"]
    assert second["export"]["onnx_file"] == first["export"]["onnx_file"]
    os.remove(folder / record["files"][0])  # other photos: another file
    assert main([*args, "--calibration", "5", "--output", str(tmp_path / "three")]) == 0
    third = json.loads((tmp_path / "three" / "results.json").read_text())
    assert third["export"]["onnx_file"] != first["export"]["onnx_file"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--limit", "5", "--calibration", "500"],
            "--calibration 500: the data holds 500 photos and those that calibrate int8 are "
            "left out of the evaluation: pass --calibration 499 or fewer, or "
            "--calibration-data DIR",
        ),
        (["--calibration-data", "nowhere"], "--calibration-data 'nowhere' does not exist"),
    ],
)
def test_bad_calibration_options_are_one_line(
    nips: Path, squeezenet_weights: Path, extra: list[str], expected: str, capsys: Any
) -> None:
    args = ["test", "--model", INT8[0], "--weights", str(squeezenet_weights)]
    args += ["--data", str(nips / "images"), "--labels", str(nips / "labels.csv")]
    assert main([*args, *extra]) == 2
    assert capsys.readouterr().err.splitlines() == [f"harness: error: {expected}"]
