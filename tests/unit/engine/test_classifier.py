"""harness.engine.classifier.ClassifierModule: micro top-1/top-5, top-k rows, against loops."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.classification import MulticlassAccuracy
from torchvision import transforms as T

from harness.data.datamodule import ImageFolderDataModule, Samples, collate
from harness.engine.classifier import ClassifierModule

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*(does not have many workers|LeafSpec|predict returned None).*",
    "ignore:.*was called before the ``update`` method",  # all unlabelled: nothing to count
)


C = 10
CATS = [f"class{c}" for c in range(C)]


class Lookup(nn.Module):
    """A 'classifier' whose logits for sample i are row i of a fixed table."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 1) holding sample indices
        return self.table[x[:, 0].long()]


class IndexDataset(Dataset):
    """Items shaped like harness.data.datamodule.ImageDataset's: (image, label, index, reason)."""

    def __init__(self, labels: list[int]) -> None:
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, str]:
        return torch.tensor([float(i)]), self.labels[i], i, ""


def trainer() -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )


def run_test(table: torch.Tensor, labels: list[int], batch_size: int = 8):
    module = ClassifierModule(Lookup(table), CATS[: table.shape[1]])
    loader = DataLoader(IndexDataset(labels), batch_size=batch_size, collate_fn=collate)
    t = trainer()
    t.test(module, dataloaders=loader, verbose=False)
    return module, {k: float(v) for k, v in t.callback_metrics.items()}


def ranking(row: list[float]) -> list[int]:
    """Class indices from the highest logit down."""
    return sorted(range(len(row)), key=lambda c: -row[c])


def reference(table: torch.Tensor, labels: list[int]) -> tuple[int, int, int]:
    """(top-1 correct, top-5 correct, labelled) counted one image at a time."""
    correct1 = correct5 = labelled = 0
    for i, y in enumerate(labels):
        if y < 0:
            continue
        labelled += 1
        order = ranking(table[i].tolist())
        correct1 += y == order[0]
        correct5 += y in order[:5]
    return correct1, correct5, labelled


def macro_top1(table: torch.Tensor, labels: list[int]) -> float:
    """Mean over the classes present of each class's own top-1 accuracy."""
    hits: dict[int, list[bool]] = {}
    for i, y in enumerate(labels):
        if y >= 0:
            hits.setdefault(y, []).append(ranking(table[i].tolist())[0] == y)
    return sum(sum(h) / len(h) for h in hits.values()) / len(hits)


def seeded_case(n: int, seed: int) -> tuple[torch.Tensor, list[int]]:
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(n, C, generator=g)
    labels = torch.randint(0, C, (n,), generator=g).tolist()
    # make about a third of the images right, so top-1 is far from both 0 and 1
    for i in range(0, n, 3):
        labels[i] = int(table[i].argmax())
    for i in range(1, n, 7):
        labels[i] = -1
    return table, labels


@pytest.mark.parametrize(("n", "seed", "batch_size"), [(37, 0, 8), (50, 1, 7), (5, 2, 16)])
def test_top1_top5_equal_plain_loop(n: int, seed: int, batch_size: int) -> None:
    table, labels = seeded_case(n, seed)
    correct1, correct5, labelled = reference(table, labels)
    if n > 5:  # a case where every count matters
        assert 0 < correct1 < correct5 <= labelled < n
    module, metrics = run_test(table, labels, batch_size)
    assert metrics["test/top1"] == pytest.approx(correct1 / labelled, abs=1e-6)
    assert metrics["test/top5"] == pytest.approx(correct5 / labelled, abs=1e-6)
    assert metrics["test/labelled"] == labelled


def test_micro_not_macro_on_imbalanced_classes() -> None:
    g = torch.Generator().manual_seed(3)
    labels = [0] * 20 + [1, 1, 2, 2, 3, 3]
    table = torch.randn(len(labels), C, generator=g)
    for i, y in enumerate(labels):
        if y == 0:  # the big class: always right
            table[i, y] = table[i].max() + 1
        else:  # the small ones: never even in the top five
            table[i, y] = table[i].min() - 1
    correct1, correct5, labelled = reference(table, labels)
    assert (correct1, correct5, labelled) == (20, 20, 26)  # by hand
    micro, macro = correct1 / labelled, macro_top1(table, labels)
    assert macro == pytest.approx(0.25)  # (1 + 0 + 0 + 0) / 4
    assert abs(micro - macro) > 0.5
    _, metrics = run_test(table, labels)
    assert metrics["test/top1"] == pytest.approx(micro, abs=1e-6)
    assert metrics["test/top5"] == pytest.approx(micro, abs=1e-6)
    # the trap the module avoids: torchmetrics' default average is macro (over all classes)
    default = MulticlassAccuracy(num_classes=C)(table, torch.tensor(labels))
    assert abs(float(default) - micro) > 0.5


def test_unlabelled_images_are_left_out_of_the_denominator() -> None:
    g = torch.Generator().manual_seed(4)
    table = torch.randn(8, C, generator=g)
    labels = [-1] * 8
    labels[2] = int(table[2].argmax())  # right
    labels[5] = ranking(table[5].tolist())[3]  # top-5 only
    labels[6] = ranking(table[6].tolist())[9]  # wrong
    module, metrics = run_test(table, labels, batch_size=3)
    assert metrics["test/labelled"] == 3
    assert metrics["test/top1"] == pytest.approx(1 / 3)
    assert metrics["test/top5"] == pytest.approx(2 / 3)
    assert [r[0] for r in module.rows] == list(range(8))  # unlabelled ones still predicted


def test_all_unlabelled_logs_no_accuracy() -> None:
    table = torch.randn(6, C)
    module, metrics = run_test(table, [-1] * 6, batch_size=4)
    assert "test/top1" not in metrics and "test/top5" not in metrics
    assert metrics["test/labelled"] == 0
    assert len(module.rows) == 6


def test_rows_hold_every_sample_once_with_topk() -> None:
    table, labels = seeded_case(23, 5)
    module, _ = run_test(table, labels, batch_size=4)
    assert [r[0] for r in module.rows] == list(range(23))
    for i, y, idx, prob in module.rows:
        assert y == labels[i]
        row = table[i].tolist()
        assert idx == ranking(row)[:5]
        z = sum(math.exp(v) for v in row)
        assert prob == pytest.approx([math.exp(row[c]) / z for c in idx], rel=1e-5)
    assert module.skipped == []


def test_fewer_classes_than_five() -> None:
    g = torch.Generator().manual_seed(6)
    table = torch.randn(9, 3, generator=g)
    labels = [i % 3 for i in range(9)]
    correct1, _, _ = reference(table, labels)
    module, metrics = run_test(table, labels)
    assert metrics["test/top1"] == pytest.approx(correct1 / 9)
    assert metrics["test/top5"] == pytest.approx(1.0)  # every class is in the top three
    assert all(len(r[2]) == 3 for r in module.rows)


def test_predict_rows_topk() -> None:
    table, _ = seeded_case(11, 7)
    module = ClassifierModule(Lookup(table), CATS, topk=3)
    loader = DataLoader(IndexDataset([-1] * 11), batch_size=4, collate_fn=collate)
    trainer().predict(module, dataloaders=loader, return_predictions=False)
    assert [r[0] for r in module.rows] == list(range(11))
    for i, _, idx, prob in module.rows:
        assert idx == ranking(table[i].tolist())[:3]
        assert prob == sorted(prob, reverse=True)


# --- through the data module, with real (tiny) image files -----------------------------------


class MeanColour(nn.Module):
    """A seeded linear layer over each image's mean colour."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, C)
        with torch.no_grad():
            g = torch.Generator().manual_seed(8)
            self.fc.weight.copy_(torch.randn(C, 3, generator=g) * 5)
            self.fc.bias.copy_(torch.randn(C, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, C)
        return self.fc(x.mean(dim=(2, 3)))


def test_through_the_data_module(tmp_path: Path) -> None:
    tf = T.Compose([T.Resize((8, 8)), T.ToTensor()])
    files, colours = [], []
    for i in range(13):
        colour = ((37 * i) % 256, (91 * i + 20) % 256, (53 * i + 100) % 256)
        files.append(tmp_path / f"{i:02d}.png")
        Image.new("RGB", (10 + i, 12), colour).save(files[-1])
        colours.append(colour)
    files[4].write_text("not an image")
    net = MeanColour().eval()
    # the reference: each file opened with PIL alone and run through the net by itself
    logits = {}
    with torch.no_grad():
        for i, f in enumerate(files):
            if i != 4:
                logits[i] = net(tf(Image.open(f).convert("RGB")).unsqueeze(0))[0].tolist()
    labels = [ranking(logits[i])[i % 7] if i in logits else 0 for i in range(13)]
    labels[9] = labels[11] = -1
    known = [i for i in logits if labels[i] >= 0]
    correct1 = sum(labels[i] == ranking(logits[i])[0] for i in known)
    correct5 = sum(labels[i] in ranking(logits[i])[:5] for i in known)
    assert (len(known), correct1, correct5) == (10, 2, 7)  # by construction: rank i % 7

    samples = Samples(tmp_path, files, labels, "test")
    dm = ImageFolderDataModule(samples, tf, batch_size=4, num_workers=0)
    module = ClassifierModule(net, CATS)
    t = trainer()
    t.test(module, datamodule=dm, verbose=False)
    assert float(t.callback_metrics["test/top1"]) == pytest.approx(correct1 / 10)
    assert float(t.callback_metrics["test/top5"]) == pytest.approx(correct5 / 10)
    assert float(t.callback_metrics["test/labelled"]) == 10
    assert [r[0] for r in module.rows] == sorted(logits)
    assert [i for i, _ in module.skipped] == [4]
    for i, y, idx, _ in module.rows:
        assert y == labels[i] and idx == ranking(logits[i])[:5]


def test_tied_logits_rank_alike_in_rows_and_metrics() -> None:
    """bf16 logits tie often: ties go to the lower class index, in rows and metrics alike."""
    g = torch.Generator().manual_seed(3)
    table = torch.randint(0, 3, (60, C), generator=g).float()  # values 0..2: ties everywhere
    labels = torch.randint(0, C, (60,), generator=g).tolist()
    module, metrics = run_test(table, labels)
    correct1, correct5, n = reference(table, labels)
    assert metrics["test/top1"] == pytest.approx(correct1 / n)
    assert metrics["test/top5"] == pytest.approx(correct5 / n)
    for i, _, idx, _ in module.rows:
        assert idx == ranking(table[i].tolist())[:5]
