"""Which static-quantization settings keep a model's answers, in ONNX Runtime and OpenVINO.

For one model with the shared weights on nips17-dev: 100 photos (seed 0) calibrate,
the other 400 are evaluated. The model is exported twice (torch's TorchScript
tracer and its dynamo exporter, batch axis dynamic), quantized with each setting
(``quantize_static``, QDQ) and with the harness's own ``quantize``; each line
prints, against fp32 in ONNX Runtime on the same photos, the top-1 agreement in
ONNX Runtime and in OpenVINO reading the same file, and top-1 against the labels.
``--speed`` then times batch 1 side by side (interleaved rounds, median).
The figures and the machine: docs/int8.md.

    python scripts/int8_study.py timm/tf_efficientnet_lite0 [--threads 1] [--speed]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import openvino as ov
import torch
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

from harness.data.calibration import Calibration
from harness.data.datamodule import ImageFolderDataModule, find_samples
from harness.engine.quantize import Reader, quantize
from harness.zoo.weights import load

ROOT = Path(__file__).resolve().parent.parent
NIPS = ROOT.parent / "shared" / "data" / "nips17-dev"
WEIGHTS = ROOT.parent / "shared" / "weights"
U8, S8 = QuantType.QUInt8, QuantType.QInt8
SETTINGS: dict[str, dict[str, Any]] = {  # name: quantize_static's arguments
    "minmax s8": {},
    "minmax u8": {"activation_type": U8},
    "minmax u8 per-tensor": {"activation_type": U8, "per_channel": False},
    "entropy u8": {"activation_type": U8, "calibrate_method": CalibrationMethod.Entropy},
    "percentile u8": {"activation_type": U8, "calibrate_method": CalibrationMethod.Percentile},
    "minmax u8 reduce-range": {"activation_type": U8, "reduce_range": True},
}


def arrays(samples: Any, transform: Any) -> tuple[np.ndarray, np.ndarray]:
    """The evaluated photos as the model gets them, and their labels."""
    dm = ImageFolderDataModule(samples, transform, 50, 2, channels_last=False, pin_memory=False)
    images = [dm.on_device(b["image"], torch.device("cpu")) for b in dm.predict_dataloader()]
    return torch.cat(images).numpy(), np.array(samples.labels)


def export(model: torch.nn.Module, side: int, path: Path, dynamo: bool) -> Path:
    batch = {"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if dynamo else {}
    axes = {} if dynamo else {"dynamic_axes": {"input": {0: "batch"}}}
    torch.onnx.export(
        model, (torch.zeros(1, 3, side, side),), str(path), input_names=["input"],
        dynamo=dynamo, **batch, **axes,
    )  # fmt: skip
    return path


def ort_session(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = threads, 3
    s = ort.InferenceSession(str(path), so, ["CPUExecutionProvider"])
    return lambda x: s.run(None, {"input": x})[0]


def ov_model(path: Path, threads: int, hint: str = "f32") -> Callable[[np.ndarray], np.ndarray]:
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint}
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})[0]


def top1(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.concatenate([fn(x[i : i + 25]).argmax(1) for i in range(0, len(x), 25)])


def settings(name: str, fp32: dict[str, Path], cal: Calibration, x: np.ndarray, y: np.ndarray,
             transform: Any, folder: Path, threads: int) -> Path:  # fmt: skip
    """One line per export and setting; returns the harness's int8 file of the dynamo export."""
    ours = folder / "harness.int8.onnx"
    for how, path in fp32.items():
        ref = top1(ort_session(path, threads), x)
        print(json.dumps({"model": name, "export": how, "fp32_top1": float(np.mean(ref == y))}))
        runs = [(s, kw) for s, kw in SETTINGS.items()] + [("harness quantize", None)]
        for setting, kw in runs:
            out = folder / f"{how}.{setting.replace(' ', '_')}.onnx"
            t = time.perf_counter()
            if kw is None:
                quantize(path, cal.batches(transform), out)
            else:
                kw = {"per_channel": True, **kw}
                batches = Reader("input", cal.batches(transform))
                quantize_static(str(path), str(out), batches, quant_format=QuantFormat.QDQ, **kw)
            row = {"export": how, "setting": setting, "seconds": round(time.perf_counter() - t, 1)}
            for runtime, make in (("onnxruntime", ort_session), ("openvino", ov_model)):
                try:
                    got = top1(make(out, threads), x)
                except RuntimeError as e:
                    row[runtime] = str(e).strip().splitlines()[-1][:60]
                    continue
                row[runtime] = f"{int((got == ref).sum())}/{len(x)}, top-1 {np.mean(got == y):.3f}"
            print(json.dumps(row), flush=True)
            if kw is None and how == "dynamo":
                out.replace(ours)
    return ours


def speed(fp32: Path, int8: Path, model: torch.nn.Module, side: int, threads: int) -> None:
    """Batch-1 latency of each runtime, interleaved rounds of 20 runs, median of all."""
    torch.set_num_threads(threads)
    x = np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)
    eager = model.to(memory_format=torch.channels_last)
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    fns = {
        "torch eager fp32": lambda _: eager(xt),
        "onnxruntime fp32": ort_session(fp32, threads),
        "onnxruntime int8": ort_session(int8, threads),
        "openvino fp32 (f32)": ov_model(fp32, threads),
        "openvino fp32 (bf16 hint)": ov_model(fp32, threads, "bf16"),
        "openvino int8": ov_model(int8, threads),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.inference_mode():
        for _ in range(20):
            for k, fn in fns.items():
                for _ in range(20):
                    t = time.perf_counter()
                    fn(x)
                    times[k].append(time.perf_counter() - t)
    base = np.median(times["torch eager fp32"])
    for k, v in times.items():
        print(f"{k:26s} p50 {np.median(v) * 1e3:6.2f} ms  {base / np.median(v):5.2f}x torch eager")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--speed", action="store_true")
    args = p.parse_args()
    loaded = load(args.model, weights_dir=str(WEIGHTS))
    card, transform = loaded.card, loaded.transforms()
    samples = find_samples(
        NIPS / "images", loaded.categories, card.wnids, NIPS / "labels.csv", calibration=100
    )
    x, y = arrays(samples, transform)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fp32 = {
            how: export(loaded.model, card.input_size, folder / f"{how}.onnx", how == "dynamo")
            for how in ("tracer", "dynamo")
        }
        cal = Calibration.of(samples)
        int8 = settings(args.model, fp32, cal, x, y, transform, folder, args.threads)
        if args.speed:
            speed(fp32["dynamo"], int8, loaded.model, card.input_size, args.threads)


if __name__ == "__main__":
    main()
