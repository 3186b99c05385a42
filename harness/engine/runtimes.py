"""How a built model is run: the ``Runtime`` interface, and the runtime a config asks for.

A runtime takes the built model (in eval mode, weights loaded) and an example
batch, and gives back what is called on each batch: PyTorch itself (``torch``,
eager), ``torch.compile``'s graph of it (``compile``), or a session of its exported
ONNX file (``onnxruntime``, ``openvino``: ``harness.engine.exported``). The
LightningModule and compare's timings both ask :func:`runtime` for it, so that
"which runtime?" is decided once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

import torch
from torch import nn

from harness.config import EXPORTED, RunConfig
from harness.engine.exported import Exported, OnnxRuntime, OpenVino
from harness.engine.speedups import prepare

if TYPE_CHECKING:
    from harness.data.calibration import Batches

Runner = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) images -> (B, classes) logits


class Runtime(Protocol):
    """What runs a model: its name, the precision it runs in, and how it is prepared."""

    @property
    def name(self) -> str:
        """What the runtime is called (``config.RUNTIMES``): ``torch``, ``onnxruntime``..."""
        ...

    @property
    def precision(self) -> str:
        """The resolved precision: ``speedups.resolve_precision``'s, or fp32, bf16, int8."""
        ...

    def check(self) -> None:
        """Raise a HarnessError, before any model loads, when this runtime cannot run here."""
        ...

    def prepare(self, model: nn.Module, example: torch.Tensor) -> Runner:
        """What to call on each batch, for ``model`` and a batch like ``example``."""
        ...


@dataclass(frozen=True)
class Eager:
    """PyTorch's own eager execution, in channels-last memory format unless told otherwise."""

    precision: str
    channels_last: bool = True
    name: ClassVar[str] = "torch"
    compiled: ClassVar[bool] = False

    def check(self) -> None:
        """PyTorch is always there."""

    def prepare(self, model: nn.Module, example: torch.Tensor) -> Runner:
        # torch.compile traces lazily, at the first batch: the example is not needed yet
        return prepare(model, self.channels_last, compile=self.compiled)


@dataclass(frozen=True)
class Compiled(Eager):
    """``torch.compile`` over the eager model: a slow first batch, faster ones after."""

    name: ClassVar[str] = "compile"
    compiled: ClassVar[bool] = True


RUNTIMES: dict[str, type[Eager] | type[Exported]] = {
    r.name: r for r in (Eager, Compiled, OnnxRuntime, OpenVino)
}


def runtime(
    cfg: RunConfig,
    precision: str | None = None,
    model_name: str = "model",
    calibration: Batches | None = None,
) -> Runtime:
    """The runtime ``cfg`` asks for: ``cfg.runtime``, ``compile`` for torch with ``--compile``.

    ``precision``: the resolved precision, when ``cfg`` still holds the asked-for one;
    ``model_name`` names an exported runtime's cached file; ``calibration``: the photos
    an int8 one is quantized on (its session, once prepared, is found again without).
    """
    name = "compile" if cfg.runtime == "torch" and cfg.compile else cfg.runtime
    kind = RUNTIMES[name]
    if issubclass(kind, Exported):
        return kind(precision or cfg.precision, cfg.threads, model_name, calibration)
    return kind(precision or cfg.precision, cfg.channels_last)


def trainer_precision(cfg: RunConfig) -> str:
    """Lightning's precision for ``cfg``: an exported runtime's session sets its own."""
    return "32-true" if cfg.runtime in EXPORTED else cfg.precision


def example_batch(image_size: int) -> torch.Tensor:
    """One image of ``image_size`` squared, (1, 3, H, W): what ``prepare`` is shown."""
    return torch.zeros(1, 3, image_size, image_size)
