"""The run configuration: precisions, runtimes, run-directory names, the typed config of a run.

Light on purpose (no torch at import): the command line takes its choices from
here, and compare's child reads its ``Spec`` back from JSON. Pure data: what a
config builds (a decoder, a LightningModule, a runtime's session) is built where
those live. A model's name may carry its runtime, ``MODEL@RUNTIME[:PRECISION]``:
:func:`variant` reads it, the one place that does.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import HarnessError

PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed")  # resolved by speedups.resolve_precision
AMP = {"bf16-mixed": "bfloat16", "16-mixed": "float16"}  # autocast dtype (torch.<name>)
LOGS = "lightning_logs"
MAX_PIXELS = 250_000_000  # a 200-megapixel camera's photos, with room to spare
MODES = ("exact", "fast")  # --decode: how photos are decoded (harness.data.decode)
DEFAULT_TIMEOUT = 1800.0  # seconds: torch's own default for a process group
RUNTIMES = ("torch", "compile", "onnxruntime", "openvino")  # MODEL@RUNTIME; torch: eager
EXPORTED = ("onnxruntime", "openvino")  # runtimes of the model's exported ONNX file, on the CPU
RUNTIME_PRECISIONS = ("fp32", "bf16", "int8")  # MODEL@RUNTIME:PRECISION
TORCH_PRECISION = {"fp32": "32-true", "bf16": "bf16-mixed"}  # as --precision says them
SHORT_PRECISION = {"32-true": "fp32", "bf16-mixed": "bf16", "16-mixed": "fp16"}  # in words
INSTALL_DEPLOY = "pip install 'harness[deploy]'"  # onnx, onnxscript, onnxruntime, openvino


def default_workers() -> int:
    """Data-loading worker processes when ``--num-workers`` is not given: one per core, up to 8."""
    return min(8, os.cpu_count() or 1)


SHOWN = 16  # characters of a run's name that TensorBoard's HPARAMS table shows before "..."


def tensorboard_runs(models: list[str]) -> dict[str, str]:
    """Each compare model's TensorBoard run (a folder of the run directory), distinct in
    its first ``SHOWN`` characters, since the HPARAMS table cuts names there.

    A name whose start is shared keeps its path with the shortest ending that tells it
    apart put first: the three ``timm/tf_efficientnet_lite*`` would all read
    ``timm/tf_efficien...``.

    >>> tensorboard_runs(["squeezenet1_1", "timm/tf_efficientnet_lite0", "timm/tf_efficientnet_lite1"])
    {'squeezenet1_1': 'squeezenet1_1', 'timm/tf_efficientnet_lite0': 'lite0 timm_tf_efficientnet_lite0', 'timm/tf_efficientnet_lite1': 'lite1 timm_tf_efficientnet_lite1'}
    """  # noqa: E501
    slugs = {m: Spec(m, "").slug() for m in models}
    out = {}
    for m, slug in slugs.items():
        if sum(s[:SHOWN] == slug[:SHOWN] for s in slugs.values()) == 1:
            out[m] = slug
            continue
        parts = re.split(r"(?<=[/_.-])", slug)  # "timm/", "tf_", "efficientnet_", "lite0"
        for k in range(len(parts) - 1, -1, -1):
            tail = "".join(parts[k:])
            if sum(s.endswith(tail) for s in slugs.values()) == 1:
                break
        out[m] = f"{tail.replace('/', '_')} {slug.replace('/', '_')}"
    return out


def stamp(now: float | None = None) -> str:
    """A run folder's date and time, ``YYYYmmdd-HHMMSS`` (local time; ``now``: a time.time())."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now))


def run_name(now: float | None = None) -> str:
    """``<stamp>-<pid>``: date, time and process id never collide between runs."""
    return f"{stamp(now)}-{os.getpid()}"


@dataclass(kw_only=True)
class RunConfig:
    """Where and how to run: what ``Trainer`` and the data loader are given."""

    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int | None = None  # None: as the launcher's environment says
    dist_timeout: float = DEFAULT_TIMEOUT
    precision: str = "32-true"
    batch_size: int = 32
    num_workers: int | None = None
    progress: bool = True
    channels_last: bool = True
    compile: bool = False
    strict: bool = False
    lenient: bool = False  # skip labels-file rows naming no file or no class
    max_pixels: int = MAX_PIXELS
    decode: str = "exact"
    threads: int | None = None  # torch intra-op threads; None: torch's default
    runtime: str = "torch"  # RUNTIMES; exported ones take precision from RUNTIME_PRECISIONS

    def workers(self) -> int:
        """Decoding processes: ``num_workers``, else ``default_workers()``."""
        return self.num_workers if self.num_workers is not None else default_workers()


@dataclass
class Spec(RunConfig):
    """A run config plus what one compare child measures, and where it writes.

    It crosses into the child as JSON (``to_json`` / ``from_json``); the child
    writes ``models/<stem>.json``. Only ``model`` and ``run_dir`` may be given by position.
    """

    model: str
    run_dir: str
    data: str | None = None
    labels: str | None = None
    ignore: list[str] = field(default_factory=list)  # files of ``data`` never taken for images
    label_map: str | None = None  # --label-map
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    calibration: int = 100  # photos that calibrate int8 models (--calibration)
    calibration_data: str | None = None  # a folder of them; None: drawn from ``data``
    set_aside: bool = False  # calibration photos left out of ``data`` (``sets_aside``)
    weights_dir: str | None = None
    latency_seconds: float = 2.0
    classes: str | None = None  # the class list of NAME=FILE models
    weights_key: str | None = None
    run: int = 1  # which of the --repeat runs: accuracy is measured in the first only
    tensorboard_run: str | None = None  # its folder in run_dir (tensorboard_runs); None: slug
    reference: str | None = None  # the run's torch fp32 row of the same model, for parity

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spec:
        return cls(**json.loads(text))

    def models_dir(self) -> Path:
        """``run_dir/models``: each child's spec, log and row, and its test run's files."""
        return Path(self.run_dir) / "models"

    def result_path(self) -> Path:
        return self.models_dir() / f"{self.stem()}.json"

    def test_dir(self) -> Path:
        """Where the child's accuracy run writes predictions.csv and per_class.csv."""
        return self.models_dir() / self.slug()

    def slug(self) -> str:
        """``model`` as a file path: ``NAME=runs/ft.ckpt`` -> ``NAME=runs_ft.ckpt``.

        NAME stays as is (``timm/ARCH`` makes a subfolder); the file part is flattened.
        """
        v = variant(self.model)
        name, own, file = v.model.partition("=")
        return name + own + re.sub(r"[^\w.+-]+", "_", file) + v.suffix().replace(":", "-")

    def tensorboard_dir(self) -> Path:
        """The model's TensorBoard run: ``run_dir/<tensorboard_run, else the slug>``."""
        return Path(self.run_dir) / (self.tensorboard_run or self.slug())

    def stem(self) -> str:
        """``models/<stem>.json``, ``.log``, ``.spec.json``: the slug, ``.run<N>`` after run 1."""
        return self.slug() if self.run == 1 else f"{self.slug()}.run{self.run}"


def default(name: str) -> Any:
    """The default of the config field ``name`` (a ``Spec``'s or its ``RunConfig``'s).

    What the command line's options show and take, so that no default is written twice.

    >>> default("batch_size"), default("latency_seconds")
    (32, 2.0)
    """
    found = {f.name: f.default for f in fields(Spec)}
    if found.get(name, MISSING) is MISSING:
        raise KeyError(f"config field {name!r} has no default")
    return found[name]


@dataclass(frozen=True)
class Variant:
    """A model as named on the command line: ``MODEL@RUNTIME[:PRECISION]``.

    ``model`` is a name, a shell pattern or ``NAME=FILE``; ``precision`` None means
    ``--precision``'s for the torch runtimes and fp32 for the exported ones.

    >>> str(variant("timm/tf_efficientnet_lite0@openvino:bf16"))
    'timm/tf_efficientnet_lite0@openvino:bf16'
    >>> variant("resnet50@torch")
    Variant(model='resnet50', runtime='torch', precision=None)
    """

    model: str
    runtime: str = "torch"
    precision: str | None = None

    def suffix(self) -> str:
        """``@RUNTIME[:PRECISION]``; "" for torch at ``--precision``'s (a bare name)."""
        if self.runtime == "torch" and self.precision is None:
            return ""
        return f"@{self.runtime}" + (f":{self.precision}" if self.precision else "")

    def __str__(self) -> str:
        return self.model + self.suffix()

    def named(self, model: str) -> Variant:
        """The same runtime and precision for another model (a pattern's match)."""
        return replace(self, model=model)


def variant(text: str) -> Variant:
    """Read ``MODEL@RUNTIME[:PRECISION]``; a bare name is torch's (eager).

    What follows the last ``@`` is a runtime unless it holds a path's ``/``, ``.`` or
    ``=`` (a weights file named ``runs@2/ft.ckpt`` stays a file). An unknown runtime or
    precision, or int8 in torch, raises a HarnessError naming the choices.
    """
    base, at, tail = text.rpartition("@")
    if not at or any(c in tail for c in "/.=" + os.sep):
        return Variant(text)
    runtime, colon, precision = tail.lower().partition(":")
    if not base or runtime not in RUNTIMES:
        near = get_close_matches(runtime, RUNTIMES, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        raise HarnessError(
            f"{text}: unknown runtime {runtime!r}; {hint}choose from "
            f"{', '.join(RUNTIMES)} (MODEL@RUNTIME[:PRECISION])"
        )
    if colon and precision not in RUNTIME_PRECISIONS:
        raise HarnessError(
            f"{text}: unknown precision {precision!r}; choose from {', '.join(RUNTIME_PRECISIONS)}"
        )
    if precision == "int8" and runtime not in EXPORTED:
        raise HarnessError(
            f"{text}: int8 runs in {' and '.join(EXPORTED)} only (MODEL@onnxruntime:int8)"
        )
    return Variant(base, runtime, precision or None)


C = TypeVar("C", bound=RunConfig)


def for_variant(cfg: C, v: Variant) -> C:
    """``cfg`` as ``v``'s runtime runs: its precision, and for the exported runtimes the
    CPU in NCHW (an ONNX file takes plain NCHW arrays, and runs on the CPU here).
    """
    if v.runtime not in EXPORTED:
        precision = TORCH_PRECISION[v.precision] if v.precision else cfg.precision
        return replace(cfg, runtime=v.runtime, precision=precision)
    if cfg.accelerator in ("gpu", "cuda"):
        raise HarnessError(
            f"{v}: {v.runtime} runs on the CPU in the harness (its CPU "
            "execution); use --accelerator cpu or auto"
        )
    return replace(
        cfg,
        runtime=v.runtime,
        precision=v.precision or "fp32",
        accelerator="cpu",
        channels_last=False,
    )


def sets_aside(models: Iterable[str], calibration_data: str | None) -> bool:
    """Whether a run leaves calibration photos out of its data: when one of its models
    runs in int8 and no ``--calibration-data`` folder is given. Every model of the run
    is then evaluated without them.

    >>> sets_aside(["resnet18", "resnet18@openvino:int8"], None), sets_aside(["resnet18"], None)
    (True, False)
    """
    return not calibration_data and any(variant(m).precision == "int8" for m in models)
