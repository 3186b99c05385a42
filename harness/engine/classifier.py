"""A generic LightningModule around any classifier: exact top-1/top-5, top-k predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import nn
from torchmetrics import SumMetric
from torchmetrics.classification import MulticlassAccuracy

from harness.config import RunConfig
from harness.engine.runtimes import Runner, example_batch, runtime
from harness.errors import UnusableImage

if TYPE_CHECKING:
    from harness.zoo.weights import Loaded

GRID = 16  # sample images shown in TensorBoard


class ClassifierModule(L.LightningModule):
    """Evaluate ``net`` (logits over ``categories``) with micro-averaged accuracy.

    ``net`` is what a runtime prepared (``harness.engine.runtimes``): the model
    itself, or what runs it; an ``nn.Module`` moves with the LightningModule.

    Published ImageNet accuracy is micro: correct images / images. torchmetrics'
    ``MulticlassAccuracy`` defaults to macro (a mean over classes), so micro is
    asked for explicitly. Unlabelled images (label -1) get predictions only.

    After ``Trainer.test`` or ``Trainer.predict``, ``rows`` holds one entry per
    image of *all* processes: ``(sample index, label, top-k indices, top-k probs)``,
    ``label_probs`` the probability given to the label of each labelled image (by
    sample index: what finding likely label errors needs beyond the top-k), and
    ``skipped`` the ``(sample index, reason)`` of unreadable files.
    """

    def __init__(
        self,
        net: Runner | nn.Module,
        categories: Sequence[str],
        topk: int = 5,
        channels_last: bool = False,
        strict: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.channels_last, self.strict = channels_last, strict
        self.categories = list(categories)
        n = len(self.categories)
        self.topk = min(topk, n)
        self.test_top1 = MulticlassAccuracy(num_classes=n, top_k=1, average="micro")
        self.test_top5 = MulticlassAccuracy(num_classes=n, top_k=min(5, n), average="micro")
        self.test_labelled = SumMetric()
        self.rows: list[tuple[int, int, list[int], list[float]]] = []
        self.label_probs: dict[int, float] = {}
        self.skipped: list[tuple[int, str]] = []
        self.samples: list[tuple[torch.Tensor, int, int]] = []  # for the TensorBoard grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:  # (B, C, H, W) stored as NHWC
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def _predict(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """Record top-k rows for the batch; return its class ranking (None if nothing readable).

        Ties (common in bf16 and fp16 logits) are broken towards the lower class
        index by a stable sort, so that the rows and the metrics rank alike.
        """
        if self.strict and batch["skipped"]:
            raise UnusableImage(*batch["skipped"][0])
        self.skipped += batch["skipped"]
        if batch["image"].numel() == 0:
            return None
        probs = self(batch["image"]).float().softmax(dim=-1)
        prob, order = probs.sort(dim=-1, descending=True, stable=True)  # (B, classes)
        for i, y, k, p in zip(batch["index"], batch["label"], order, prob, strict=True):
            self.rows.append((int(i), int(y), k[: self.topk].tolist(), p[: self.topk].tolist()))
        y = batch["label"]  # (B,), -1 where unlabelled
        given = probs.gather(1, y.clamp(min=0)[:, None])[:, 0].tolist()  # (B, 1) -> (B,)
        for i, label, q in zip(batch["index"].tolist(), y.tolist(), given, strict=True):
            if label >= 0:
                self.label_probs[i] = q
        return order

    def on_test_epoch_start(self) -> None:
        self.rows, self.skipped, self.samples, self.label_probs = [], [], [], {}

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        order = self._predict(batch)
        if order is None:
            return
        # scores without ties, from the ranking: classes, best first, get n, n-1, ..., 1
        n = order.shape[1]
        ranks = torch.arange(n, 0, -1, dtype=torch.float32, device=order.device)
        scores = torch.empty_like(order, dtype=torch.float32).scatter_(
            1, order, ranks.expand_as(order)
        )
        y = batch["label"]
        known = y >= 0
        if known.any():
            self.test_top1.update(scores[known], y[known])
            self.test_top5.update(scores[known], y[known])
            self.test_labelled.update(known.sum())
        for img, label, pred in zip(batch["image"], y, order[:, 0], strict=True):
            if len(self.samples) < GRID:
                self.samples.append((img.float().cpu(), int(label), int(pred)))

    def on_test_epoch_end(self) -> None:
        # compute() syncs the metric states of all processes: every rank calls it
        labelled = int(self.test_labelled.compute())
        if labelled:  # the same on every rank, so all of them compute (and sync) or none
            self.log("test/top1", self.test_top1.compute())
            self.log("test/top5", self.test_top5.compute())
        self.log("test/labelled", float(labelled))
        for m in (self.test_top1, self.test_top5, self.test_labelled):
            m.reset()
        self._gather()

    def on_predict_epoch_start(self) -> None:
        self.rows, self.skipped, self.label_probs = [], [], {}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._predict(batch)

    def on_predict_epoch_end(self) -> None:
        self._gather()

    def _gather(self) -> None:
        """Collect every process's rows and skips, sorted by sample index."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            parts: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(parts, (self.rows, self.skipped, self.label_probs))
            self.rows = [r for rows, _, _ in parts for r in rows]
            self.skipped = [s for _, skipped, _ in parts for s in skipped]
            self.label_probs = {i: q for _, _, probs in parts for i, q in probs.items()}
        self.rows.sort()
        self.skipped.sort()


def build_module(cfg: RunConfig, loaded: Loaded, topk: int = 5) -> ClassifierModule:
    """The LightningModule for ``loaded``, run by the runtime ``cfg`` asks for."""
    net = runtime(cfg).prepare(loaded.model, example_batch(loaded.card.input_size))
    return ClassifierModule(
        net, loaded.categories, topk, channels_last=cfg.channels_last, strict=cfg.strict
    )
