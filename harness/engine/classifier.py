"""A generic LightningModule around any classifier: exact top-1/top-5, top-k predictions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

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
WORD_COUNTS = ("correct1", "correct5", "among")  # counted per batch where labels are words


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
        label_classes: Sequence[Sequence[int]] | None = None,
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
        # labels that stand for several classes (words): (labels, classes) 0/1 membership
        self.words = label_classes is not None
        member = torch.zeros(len(label_classes or ()), n)
        for k, classes in enumerate(label_classes or ()):
            member[k, list(classes)] = 1.0
        self.member: torch.Tensor
        self.register_buffer("member", member, persistent=False)
        self.test_counts = nn.ModuleDict({k: SumMetric() for k in WORD_COUNTS})
        self.word_probs: list[tuple[int, list[float]]] = []  # (sample, P(label) per word label)
        self.rows: list[tuple[int, int, list[int], list[float]]] = []
        self.label_probs: dict[int, float] = {}
        self.skipped: list[tuple[int, str]] = []
        # for the TensorBoard grid: the run's first GRID images (of all processes)
        self.samples: list[tuple[torch.Tensor, int, int]] = []
        self._shown: list[tuple[int, torch.Tensor, int, int]] = []  # this process's, by index
        self._first_batch: float | None = None
        self.loop_seconds: float | None = None  # first test batch to all processes' end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:  # (B, C, H, W) stored as NHWC
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def _predict(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """Record top-k rows for the batch; return its class ranking and, where labels are
        words, each label's probability (None if nothing was readable).

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
        y = batch["label"]  # (B,), -1 where unlabelled; an index of the word labels for words
        by_label = probs @ self.member.T if self.words else None  # labels' summed probs: (B, L)
        if by_label is not None:
            self.word_probs += zip(batch["index"].tolist(), by_label.tolist(), strict=True)
        given = (by_label if by_label is not None else probs).gather(1, y.clamp(min=0)[:, None])
        for i, label, q in zip(
            batch["index"].tolist(), y.tolist(), given[:, 0].tolist(), strict=True
        ):
            if label >= 0:
                self.label_probs[i] = q
        return order, by_label

    def on_test_epoch_start(self) -> None:
        self.rows, self.skipped, self.samples, self._shown = [], [], [], []
        self.label_probs, self.word_probs = {}, []
        self._first_batch = self.loop_seconds = None

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._first_batch is None:  # the processes are up and the loaders started
            self._first_batch = time.perf_counter()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        found = self._predict(batch)
        if found is None:
            return
        order, by_label = found
        # scores without ties, from the ranking: classes, best first, get n, n-1, ..., 1
        n = order.shape[1]
        ranks = torch.arange(n, 0, -1, dtype=torch.float32, device=order.device)
        scores = torch.empty_like(order, dtype=torch.float32).scatter_(
            1, order, ranks.expand_as(order)
        )
        y = batch["label"]
        known = y >= 0
        if known.any() and by_label is not None:
            self._count_words(order[known], y[known], by_label[known])
        elif known.any():
            self.test_top1.update(scores[known], y[known])
            self.test_top5.update(scores[known], y[known])
        if known.any():
            self.test_labelled.update(known.sum())
        for i, img, label, pred in zip(batch["index"], batch["image"], y, order[:, 0], strict=True):
            if len(self._shown) < GRID:  # each process's first GRID: the run's first lie among them
                self._shown.append((int(i), img.float().cpu(), int(label), int(pred)))

    def _count_words(self, order: torch.Tensor, y: torch.Tensor, by_label: torch.Tensor) -> None:
        """Right at top-1 (top-5) when that class (any of those) lies under the label;
        right among the labels when the label's summed probability is the highest.
        """
        under = self.member[y]  # (B, classes): 1 where the class lies under the image's label
        top5 = under.gather(1, order[:, : min(5, order.shape[1])])
        self._count("correct1").update(top5[:, 0].sum())
        self._count("correct5").update(top5.amax(dim=1).sum())
        self._count("among").update((by_label.argmax(dim=1) == y).sum())

    def _count(self, key: str) -> SumMetric:
        return cast(SumMetric, self.test_counts[key])

    def on_test_epoch_end(self) -> None:
        # compute() syncs the metric states of all processes: every rank calls it
        labelled = int(self.test_labelled.compute())
        if labelled and self.words:  # the same on every rank: all compute (and sync) or none
            counts = {k: float(self._count(k).compute()) for k in WORD_COUNTS}
            self.log("test/top1", counts["correct1"] / labelled)
            self.log("test/top5", counts["correct5"] / labelled)
            if self.member.shape[0] > 1:  # among one label every answer is right: n/a
                self.log("test/top1_among_labels", counts["among"] / labelled)
        elif labelled:
            self.log("test/top1", self.test_top1.compute())
            self.log("test/top5", self.test_top5.compute())
        self.log("test/labelled", float(labelled))
        sums = [self._count(k) for k in WORD_COUNTS]
        for m in (self.test_top1, self.test_top5, self.test_labelled, *sums):
            m.reset()
        self._gather()
        every = (s for part in _every_process(self._shown) for s in part)
        shown = sorted(every, key=lambda s: s[0])[:GRID]
        self.samples = [(img, label, pred) for _, img, label, pred in shown]
        if self._first_batch is not None:
            self.loop_seconds = time.perf_counter() - self._first_batch

    def on_predict_epoch_start(self) -> None:
        self.rows, self.skipped, self.label_probs, self.word_probs = [], [], {}, []

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._predict(batch)

    def on_predict_epoch_end(self) -> None:
        self._gather()

    def _gather(self) -> None:
        """Collect every process's rows and skips, sorted by sample index."""
        parts = _every_process((self.rows, self.skipped, self.label_probs, self.word_probs))
        self.rows = sorted(r for rows, _, _, _ in parts for r in rows)
        self.skipped = sorted(s for _, skipped, _, _ in parts for s in skipped)
        self.label_probs = {i: q for _, _, probs, _ in parts for i, q in probs.items()}
        self.word_probs = sorted(p for _, _, _, words in parts for p in words)


def _every_process(mine: Any) -> list[Any]:
    """``mine`` from every process of a distributed run, in rank order; ``[mine]`` alone."""
    parts = [mine]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, mine)
    return parts


def build_module(
    cfg: RunConfig, loaded: Loaded, topk: int = 5, label_classes: Any = None
) -> ClassifierModule:
    """The LightningModule for ``loaded``, run by the runtime ``cfg`` asks for
    (``label_classes``: each word label's classes, where labels are words).
    """
    rt = runtime(cfg, model_name=loaded.name)
    net = rt.prepare(loaded.model, example_batch(loaded.card.input_size))
    return ClassifierModule(
        net,
        loaded.categories,
        topk,
        channels_last=cfg.channels_last,
        strict=cfg.strict,
        label_classes=label_classes,
    )
