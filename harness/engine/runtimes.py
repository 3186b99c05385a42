"""How a built model is run: the ``Runtime`` interface, and the eager and compiled runtimes.

A runtime takes the built model (in eval mode, weights loaded) and an example
batch, and gives back what is called on each batch: PyTorch itself (eager), or
``torch.compile``'s graph of it (compiled). The LightningModule and compare's
timings both ask :func:`runtime` for it, so that "which runtime?" is decided
once; an exported runtime (ONNX Runtime, OpenVINO) plugs in as one more class
with the same three members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
from torch import nn

from harness.config import RunConfig
from harness.engine.speedups import prepare

Runner = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) images -> (B, classes) logits


class Runtime(Protocol):
    """What runs a model: its name, the precision it runs in, and how it is prepared."""

    @property
    def name(self) -> str:
        """What the runtime is called: ``eager``, ``compiled``."""
        ...

    @property
    def precision(self) -> str:
        """The resolved precision (``speedups.resolve_precision``) the model runs in."""
        ...

    def prepare(self, model: nn.Module, example: torch.Tensor) -> Runner:
        """What to call on each batch, for ``model`` and a batch like ``example``."""
        ...


@dataclass(frozen=True)
class Eager:
    """PyTorch's own eager execution, in channels-last memory format unless told otherwise."""

    precision: str
    channels_last: bool = True
    name: ClassVar[str] = "eager"
    compiled: ClassVar[bool] = False

    def prepare(self, model: nn.Module, example: torch.Tensor) -> Runner:
        # torch.compile traces lazily, at the first batch: the example is not needed yet
        return prepare(model, self.channels_last, compile=self.compiled)


@dataclass(frozen=True)
class Compiled(Eager):
    """``torch.compile`` over the eager model: a slow first batch, faster ones after."""

    name: ClassVar[str] = "compiled"
    compiled: ClassVar[bool] = True


RUNTIMES: dict[str, type[Eager]] = {r.name: r for r in (Eager, Compiled)}


def runtime(cfg: RunConfig, precision: str | None = None) -> Runtime:
    """The runtime ``cfg`` asks for (compiled with ``compile``, else eager).

    ``precision``: the resolved precision, when ``cfg`` still holds the asked-for one.
    """
    kind = RUNTIMES["compiled" if cfg.compile else "eager"]
    return kind(precision or cfg.precision, cfg.channels_last)


def example_batch(image_size: int) -> torch.Tensor:
    """One image of ``image_size`` squared, (1, 3, H, W): what ``prepare`` is shown."""
    return torch.zeros(1, 3, image_size, image_size)
