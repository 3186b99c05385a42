"""The exported runtimes: ONNX Runtime and OpenVINO, each running the model's ONNX file.

Both take the same file (``onnx_files.onnx_file``: exported once, cached) and build a
session of it on the CPU, with ``threads`` intra-op threads: an
``onnxruntime.InferenceSession`` (``intra_op_num_threads``), or OpenVINO's
``compile_model`` (``INFERENCE_NUM_THREADS``; one ``Core`` per process), which reads ONNX directly.
OpenVINO is told the precision outright (``INFERENCE_PRECISION_HINT``): on a CPU with
bf16 units it would otherwise run an fp32 file in bf16. What :meth:`Exported.prepare`
returns is a :class:`Session`, called like the model on a (B, 3, H, W) batch; it
records how it was made (export, compile, first answer, file size) in ``setup``.

int8 is another ONNX file for the same sessions: the fp32 file quantized
(``quantize.int8_file``, cached beside it) on the photos of ``calibration``.
"""

from __future__ import annotations

import functools
import importlib
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from harness.config import INSTALL_DEPLOY
from harness.engine.onnx_files import OnnxFile, first_line, onnx_file
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.data.calibration import Batches
    from harness.data.datamodule import Samples
    from harness.zoo.weights import Loaded

NO_CALIBRATION = (
    "int8 needs photos to calibrate on: test and compare set them aside from the data "
    "(--calibration N), or take them from --calibration-data DIR"
)
Run = Callable[[np.ndarray], np.ndarray]  # (B, 3, H, W) float32 -> (B, classes) logits
# each model's sessions, by runtime and example shape: prepared once per process
_SESSIONS: weakref.WeakKeyDictionary[nn.Module, dict[Any, Session]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Setup:
    """How a session came to be: what results.json, the summary and compare rows say."""

    runtime: str
    precision: str  # as asked: fp32, bf16
    runs_in: str  # as the runtime says it runs (OpenVINO's inference precision)
    version: str
    threads: int
    onnx_file: str
    model_file_mib: float
    export_cached: bool
    export_seconds: float
    compile_seconds: float
    first_answer_seconds: float  # export, compile and the first batch of one image

    def record(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


class Session:
    """A compiled ONNX model, called as the PyTorch model is: tensor in, logits tensor out.

    ``sharing`` makes the same model's run for a pass whose loader workers share the cores
    (:meth:`for_sharing`), with ``sharing_options`` its settings; None where the runtime
    runs the same way either way.
    """

    def __init__(
        self,
        run: Run,
        setup: Setup,
        sharing: Callable[[], Run] | None = None,
        sharing_options: dict[str, str] | None = None,
    ) -> None:
        self.run, self.setup = run, setup
        self._sharing, self.sharing_options = sharing, sharing_options or {}
        self._shared: Session | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(x.detach().float().cpu().contiguous().numpy()))

    def for_sharing(self) -> Session:
        """The session for the end-to-end pass, where decoding workers need the cores:
        ONNX Runtime's threads then sleep when idle instead of spinning (its
        ``session.intra_op.allow_spinning`` 0), which would take the workers' cores;
        made once. Itself where the runtime has no such setting (OpenVINO).
        """
        if self._sharing is None:
            return self
        if self._shared is None:
            self._shared = Session(self._sharing(), self.setup)
        return self._shared


def need(package: str, runtime: str) -> Any:
    """The imported ``package``, or a HarnessError naming what to install."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise HarnessError(
            f"the {runtime} runtime needs {package}, which is not installed: "
            f"{INSTALL_DEPLOY} (or pip install {package})"
        ) from None


@functools.cache
def openvino_core() -> Any:
    """The process's one OpenVINO ``Core``, kept for the life of the process.

    OpenVINO's documentation recommends a single Core per application (each one loads
    its plugins again); and a compiled model whose Core was freed before it can crash the
    process when it is freed in turn, long after (openvinotoolkit/openvino#18388).
    """
    return need("openvino", "openvino").Core()


def calibration_for(
    cfg: RunConfig, loaded: Loaded, samples: Samples | None, folder: str | None, n: int, seed: int
) -> Batches | None:
    """The photos an int8 run quantizes ``loaded`` on, preprocessed as its data is; None when
    ``cfg`` is not int8. ``folder`` (``--calibration-data``): ``n`` of its photos drawn
    with ``seed``; else those ``find_samples`` set aside from ``samples``.
    """
    if cfg.precision != "int8":
        return None
    from harness.data.calibration import Calibration
    from harness.data.decode import decoder

    if folder:
        photos = Calibration.from_folder(folder, n, seed)
    elif samples is not None and samples.calibration:
        photos = Calibration.of(samples)
    else:
        raise HarnessError(f"{cfg.runtime}:int8: {NO_CALIBRATION}")
    transform = loaded.transforms()
    return photos.prepared(transform, decoder(cfg, transform), cfg.batch_size, cfg.workers())


@dataclass(frozen=True)
class Exported(ABC):
    """A runtime of the model's ONNX file; subclasses say how a session is built."""

    precision: str  # fp32, bf16 or int8 (config.RUNTIME_PRECISIONS)
    threads: int | None = None  # None: torch's intra-op threads, as the torch rows have
    model_name: str = "model"  # names the cached file
    # int8's photos; not compared, so that a later lookup finds the session they made
    calibration: Batches | None = field(default=None, compare=False)
    name: ClassVar[str] = ""
    package: ClassVar[str] = ""
    channels_last: ClassVar[bool] = False
    # the settings of a session for a pass that shares the cores (Session.for_sharing)
    SHARING: ClassVar[Mapping[str, str]] = {}

    def check(self) -> None:
        """Raise a HarnessError, before any model loads, when this cannot run here."""
        need(self.package, self.name)
        if self.precision == "int8":  # quantized by ONNX Runtime, for either runtime
            need("onnxruntime", f"{self.name}:int8")

    def prepare(self, model: nn.Module, example: torch.Tensor) -> Session:
        """Export (or take from the cache), compile, and answer ``example`` once; the same
        session again for the same model, runtime and example shape (a process's second
        run, compare's timings after its accuracy run).
        """
        self.check()
        mine = _SESSIONS.setdefault(model, {})
        key = (self, tuple(example.shape))
        if key not in mine:
            mine[key] = self._session(model, example)
        return mine[key]

    def _session(self, model: nn.Module, example: torch.Tensor) -> Session:
        start = time.perf_counter()
        found = self.onnx(model, example)
        threads = self.threads or torch.get_num_threads()
        compiling = time.perf_counter()
        run, runs_in, version = self.load(found, threads)
        compiled = time.perf_counter()
        run(example.float().contiguous().numpy())
        setup = Setup(
            self.name, self.precision, runs_in, version, threads, str(found.path),
            round(found.mib, 3), found.cached, found.seconds, compiled - compiling,
            time.perf_counter() - start,
        )  # fmt: skip
        sharing = (lambda: self.load(found, threads, self.SHARING)[0]) if self.SHARING else None
        return Session(run, setup, sharing, dict(self.SHARING))

    def onnx(self, model: nn.Module, example: torch.Tensor) -> OnnxFile:
        """The file a session of this precision runs: the fp32 export (bf16 too), or for
        int8 that file quantized on ``calibration``'s photos.
        """
        if self.precision == "int8" and self.calibration is None:
            raise HarnessError(f"{self.name}:int8: {NO_CALIBRATION}")
        found = onnx_file(model, self.model_name, example)
        if self.calibration is None or self.precision != "int8":
            return found
        from harness.engine.quantize import int8_file

        return int8_file(found, self.calibration)

    @abstractmethod
    def load(
        self, found: OnnxFile, threads: int, options: Mapping[str, str] | None = None
    ) -> tuple[Run, str, str]:
        """The session's run, the precision it runs in, and the runtime's version;
        ``options``: the runtime's settings beside the harness's (``SHARING``)."""


@dataclass(frozen=True)
class OnnxRuntime(Exported):
    """ONNX Runtime's CPU execution provider."""

    name: ClassVar[str] = "onnxruntime"
    package: ClassVar[str] = "onnxruntime"
    # idle threads sleep: spinning ones take the cores from the loader's workers
    SHARING: ClassVar[Mapping[str, str]] = {"session.intra_op.allow_spinning": "0"}

    def check(self) -> None:
        super().check()
        if self.precision == "bf16":  # its CPU provider has no bf16 kernels for x86
            raise HarnessError(
                "onnxruntime:bf16: ONNX Runtime's CPU execution runs no bf16 here; "
                "use onnxruntime (fp32) or openvino:bf16"
            )

    def load(
        self, found: OnnxFile, threads: int, options: Mapping[str, str] | None = None
    ) -> tuple[Run, str, str]:
        ort = need("onnxruntime", self.name)
        settings = ort.SessionOptions()
        settings.intra_op_num_threads = threads
        settings.inter_op_num_threads = 1
        settings.log_severity_level = 3  # errors only
        for key, value in (options or {}).items():
            settings.add_session_config_entry(key, value)
        try:
            session = ort.InferenceSession(
                str(found.path), settings, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # a model the runtime cannot take
            raise HarnessError(
                f"onnxruntime could not load {found.path}: {first_line(e)}"
            ) from None
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0]

        return run, self.precision, ort.__version__


# INFERENCE_PRECISION_HINT's names; int8 runs what stays in floating point in f32
OV_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


@dataclass(frozen=True)
class OpenVino(Exported):
    """OpenVINO on the CPU, reading the ONNX file directly."""

    name: ClassVar[str] = "openvino"
    package: ClassVar[str] = "openvino"

    def check(self) -> None:
        super().check()
        if self.precision == "bf16":
            need("openvino", self.name)
            found = openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            if "BF16" not in found:
                raise HarnessError(
                    "openvino:bf16: this CPU has no bf16 for OpenVINO (its capabilities: "
                    f"{', '.join(found)}); use openvino (fp32)"
                )

    def load(
        self, found: OnnxFile, threads: int, options: Mapping[str, str] | None = None
    ) -> tuple[Run, str, str]:
        ov = need("openvino", self.name)
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": OV_PRECISION[self.precision],
            "PERFORMANCE_HINT": "LATENCY",
            **(options or {}),  # OpenVINO's own properties
        }
        try:
            compiled = openvino_core().compile_model(str(found.path), "CPU", config)
        except Exception as e:
            raise HarnessError(
                f"openvino could not compile {found.path}: {first_line(e)}"
            ) from None
        found_in = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        runs_in = {"f32": "fp32", "bf16": "bf16"}.get(found_in, found_in)
        if self.precision == "int8":
            runs_in = f"int8, {runs_in} elsewhere"

        def run(x: np.ndarray) -> np.ndarray:
            return compiled(x)[0]

        return run, runs_in, ov.__version__.split("-")[0]
