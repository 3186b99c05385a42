"""The exported runtimes end to end: one-line errors, imports, parity, rows, runs.

Parity is checked against an independent loop: PIL, torchvision's transforms, and
``onnxruntime.InferenceSession`` / OpenVINO run directly on the exported file, beside
the torch model itself; the harness's figures must match that loop's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from harness.cli.main import main
from harness.config import RunConfig, Spec, for_variant, variant
from harness.engine import onnx_files, outputs
from harness.engine.exported import OnnxRuntime, OpenVino, Session, openvino_core
from harness.engine.runtimes import example_batch, runtime
from harness.errors import HarnessError
from harness.zoo import weights
from tests.helpers import compare_args, labels_of
from tests.helpers.loops import loop_answers

PHOTOS = 8


@pytest.fixture
def cache() -> Path:
    """The session's export cache (conftest's)."""
    return Path(os.environ[onnx_files.CACHE_ENV])


def squeezenet(path: Path) -> torch.nn.Module:
    return weights.load("squeezenet1_1", str(path)).model


def test_a_missing_runtime_is_one_line_naming_what_to_install(
    tiny_images: list[Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    args = ["predict", str(tiny_images[0]), "--model", "squeezenet1_1@openvino", "--weights"]
    assert main([*args, "none", "--num-workers", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "harness: error: the openvino runtime needs openvino, which is not installed: "
        "pip install 'harness[deploy]' (or pip install openvino)"
    ]


def test_int8_without_calibration_photos_and_bf16_in_onnxruntime_are_one_line(
    tiny_images: list[Path], capsys: pytest.CaptureFixture
) -> None:
    args = ["predict", str(tiny_images[0]), "--weights", "none", "--model"]
    assert main([*args, "squeezenet1_1@onnxruntime:int8"]) == 2  # predict: no photos set aside
    assert capsys.readouterr().err.splitlines() == [
        "harness: error: onnxruntime:int8: int8 needs photos to calibrate on: test and compare "
        "set them aside from the data (--calibration N), or take them from --calibration-data DIR"
    ]
    assert main([*args, "squeezenet1_1@onnxruntime:bf16"]) == 2
    assert "runs no bf16 here" in capsys.readouterr().err


def test_runs_without_the_exported_runtimes_import_none_of_them(tiny_images: list[Path]) -> None:
    code = (
        "import sys\n"
        "from harness.cli.main import main\n"
        f"assert main(['predict', {str(tiny_images[0])!r}, '--model', 'squeezenet1_1', "
        "'--weights', 'none', '--num-workers', '0', '--format', 'json']) == 0\n"
        "import harness.compare.child, harness.compare.parity\n"
        "deploy = ('onnx', 'onnxscript', 'onnxruntime', 'openvino', 'onnx_ir')\n"
        "print([m for m in sys.modules if m.split('.')[0] in deploy])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def deployed(
    nips: Path, squeezenet_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict]]:
    """compare of squeezenet1_1 in ONNX Runtime and OpenVINO alone, on a few photos: each
    child computes its own torch fp32 reference."""
    out = tmp_path_factory.mktemp("deployed") / "run"
    models = ["squeezenet1_1@onnxruntime", "squeezenet1_1@openvino"]
    args = compare_args(nips, squeezenet_weights, out, models, PHOTOS)
    with pytest.MonkeyPatch.context() as mp:  # set up before conftest's per-test cache
        mp.setenv(onnx_files.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "harness_cache"))
        assert main([*args, "--latency-seconds", "0", "--threads", "1"]) == 0
    rows = json.loads((out / "results.json").read_text())
    return out, {r["model"]: r for r in rows}


def test_parity_matches_an_independent_loop_over_the_exported_file(
    deployed: tuple[Path, dict[str, dict]], nips: Path, squeezenet_weights: Path
) -> None:
    import onnxruntime

    run, rows = deployed
    files = list(labels_of(nips))[:PHOTOS]  # --limit: the labels file's first
    model = squeezenet(squeezenet_weights).eval()
    with torch.inference_mode():
        ref = loop_answers(nips, files, lambda x: model(torch.from_numpy(x)).numpy())
    onnx = rows["squeezenet1_1@onnxruntime"]["onnx_file"]
    session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    compiled = openvino_core().compile_model(onnx, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    direct = {
        "squeezenet1_1@onnxruntime": loop_answers(
            nips, files, lambda x: session.run(None, {"images": x})[0]
        ),  # noqa: E501
        "squeezenet1_1@openvino": loop_answers(nips, files, lambda x: compiled(x)[0]),
    }
    for name, answers in direct.items():
        row = rows[name]
        same1 = sum(answers[f][0][0] == ref[f][0][0] for f in files)
        same5 = sum(set(answers[f][0]) == set(ref[f][0]) for f in files)
        diff = max(abs(answers[f][1] - ref[f][1]) for f in files)
        assert (row["parity_n"], row["agree_top1"], row["agree_top5"]) == (PHOTOS, same1, same5)
        assert row["max_top1_prob_diff"] == pytest.approx(diff, abs=2e-6) and diff < 1e-4
        assert row["parity_reference"].startswith("torch fp32, computed")
        assert not row["parity_flag"] and row["runs_in"] == "fp32" and row["threads"] == 1
        mine = outputs.read(Spec(name, str(run)).test_dir() / outputs.OUTPUTS)
        by_name = {Path(f).name: a for f, a in mine.items()}
        for f in files:  # the harness's own answers are the session's, image by image
            assert by_name[f][0] == answers[f][0]
            assert by_name[f][1] == pytest.approx(answers[f][1], abs=1e-6)


def test_a_runtime_row_says_how_it_was_made(deployed: tuple[Path, dict[str, dict]]) -> None:
    run, rows = deployed
    row = rows["squeezenet1_1@openvino"]
    assert row["runtime"] == "openvino" and row["precision"] == "fp32"
    assert row["size_mib"] == pytest.approx(os.path.getsize(row["onnx_file"]) / 2**20, abs=1e-3)
    assert 0 < row["compile_seconds"] <= row["first_answer_seconds"]
    assert row["latency_ms_p50"] > 0 and row["throughput_e2e_ips"] > 0
    report = (run / "report.md").read_text()
    assert "openvino fp32 changed " in report and "largest top-1 probability difference" in report
    assert f"| {rows['squeezenet1_1@onnxruntime']['agree_top1']}/{PHOTOS} |" in report


def test_tensorboard_hparams_name_the_runtime_and_precision(
    deployed: tuple[Path, dict[str, dict]],
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    from harness.config import tensorboard_runs

    run, rows = deployed
    for name, folder in tensorboard_runs(list(rows)).items():
        ea = EventAccumulator(str(run / folder))
        ea.Reload()
        start = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hp = HParamsPluginData.FromString(start).session_start_info.hparams
        assert hp["model"].string_value == name
        assert (hp["runtime"].string_value, hp["precision"].string_value) == (
            name.rpartition("@")[2], "fp32",
        )  # fmt: skip


def test_an_export_keeps_stdout_for_the_data(
    tiny_images: list[Path],
    squeezenet_weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv(onnx_files.CACHE_ENV, str(tmp_path / "fresh"))  # an export, now
    args = ["predict", *map(str, tiny_images[:2]), "--model", "squeezenet1_1@onnxruntime"]
    assert main([*args, "--weights", str(squeezenet_weights), "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)  # nothing but the JSON document
    assert [r["model"] for r in found] == ["squeezenet1_1@onnxruntime"] * 2
    assert len(list((tmp_path / "fresh" / "onnx").glob("squeezenet1_1-fp32-*.onnx"))) == 1


def test_a_test_run_reports_its_runtime(
    cache: Path, nips: Path, squeezenet_weights: Path, tmp_path: Path, capsys
) -> None:
    images, labels = str(nips / "images"), str(nips / "labels.csv")
    args = ["test", "--model", "squeezenet1_1@openvino", "--weights", str(squeezenet_weights)]
    args += ["--data", images, "--labels", labels, "--limit", "4", "--num-workers", "0"]
    assert main([*args, "--output", str(tmp_path / "out"), "--threads", "1"]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (res["runtime"], res["precision"]) == ("openvino", "fp32")
    setup = res["export"]
    assert setup["runs_in"] == "fp32" and setup["threads"] == 1
    assert setup["first_answer_seconds"] >= setup["compile_seconds"] > 0
    assert Path(setup["onnx_file"]).parent == cache / "onnx"
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("runtime"))
    assert "openvino" in line and "first answer after" in line and "1 thread" in line


# the export, its cache, the session the module calls


def test_the_export_is_cached_and_a_changed_weights_file_exports_again(
    cache: Path, squeezenet_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports: list[Path] = []
    real = onnx_files.export
    monkeypatch.setattr(
        onnx_files, "export", lambda *a: (exports.append(a[2]), real(*a))[1]
    )  # counts the exports
    rt = OnnxRuntime("fp32", threads=1, model_name="squeezenet1_1")
    first = rt.prepare(squeezenet(squeezenet_weights), example_batch(224)).setup
    path = Path(first.onnx_file)
    mtime = path.stat().st_mtime_ns
    again = rt.prepare(squeezenet(squeezenet_weights), example_batch(224)).setup  # a new model
    assert again.export_cached and again.onnx_file == first.onnx_file
    assert path.stat().st_mtime_ns == mtime and len(exports) <= 1  # 0: an earlier test made it
    key = json.loads(path.with_suffix(".json").read_text())
    assert key["input_size"] == 224 and key["precision"] == "fp32" and key["torch_version"]
    changed = tmp_path / "squeezenet1_1-changed.pth"
    state = torch.load(squeezenet_weights, weights_only=True)
    state["classifier.1.bias"][0] += 1.0
    torch.save(state, changed)
    other = rt.prepare(squeezenet(changed), example_batch(224)).setup
    assert not other.export_cached and other.onnx_file != first.onnx_file
    assert exports[-1] != path and Path(other.onnx_file).is_file()
    assert [p.name for p in path.parent.glob(".*.tmp")] == []  # atomic: no temporary left


def test_the_end_to_end_pass_has_a_session_whose_idle_threads_sleep(
    squeezenet_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONNX Runtime's session for sharing the cores is built with allow_spinning 0 (read
    back from the options ONNX Runtime was given), once, and answers as the other does."""
    import onnxruntime

    spinning: list[str] = []
    real = onnxruntime.InferenceSession

    def recording(path: str, options: Any, **kwargs: Any) -> Any:
        try:
            spinning.append(options.get_session_config_entry("session.intra_op.allow_spinning"))
        except Exception:  # not set: ONNX Runtime's default, spinning
            spinning.append("default")
        return real(path, options, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    rt = OnnxRuntime("fp32", threads=1, model_name="squeezenet1_1")
    session = rt.prepare(squeezenet(squeezenet_weights), example_batch(224))
    shared = session.for_sharing()
    assert shared is not session and session.for_sharing() is shared
    assert spinning == ["default", "0"]
    assert session.sharing_options == {"session.intra_op.allow_spinning": "0"}
    x = torch.randn(2, 3, 224, 224)
    assert torch.equal(shared(x), session(x))
    ov = OpenVino("fp32", threads=1, model_name="squeezenet1_1")
    ov_session = ov.prepare(squeezenet(squeezenet_weights), example_batch(224))
    assert ov_session.for_sharing() is ov_session  # OpenVINO has no such setting


def test_a_model_the_exporter_cannot_take_is_one_line(cache: Path) -> None:
    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[: int(x.sum().item() > 0) + 1].flatten(1)  # the batch size from the data

    with pytest.raises(HarnessError, match=r"^odd could not be exported to ONNX \(") as e:
        OnnxRuntime("fp32", 1, "odd").prepare(DataDependent(), example_batch(8))
    assert "\n" not in str(e.value)


def test_a_session_is_what_the_module_calls(cache: Path, squeezenet_weights: Path) -> None:
    from harness.engine.classifier import build_module

    loaded = weights.load("squeezenet1_1", str(squeezenet_weights))
    cfg = for_variant(RunConfig(threads=1), variant("squeezenet1_1@onnxruntime"))
    module = build_module(cfg, loaded)
    again = runtime(cfg, model_name="squeezenet1_1").prepare(loaded.model, example_batch(224))
    assert isinstance(module.net, Session) and module.net is again  # prepared once
    x = torch.randn(3, 3, 224, 224)
    with torch.inference_mode():
        torch.testing.assert_close(module(x), loaded.model(x), atol=1e-4, rtol=1e-4)
