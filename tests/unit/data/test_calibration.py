"""The photos that calibrate int8: drawn with the seed, set aside, recorded, preprocessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights

from harness.data.calibration import Calibration
from harness.data.datamodule import Samples, find_samples
from harness.data.images import load_rgb
from harness.data.selection import draw_calibration
from harness.errors import HarnessError
from harness.zoo import registry

CATEGORIES = ("cat", "dog", "fox")


def photos(folder: Path, n: int, labelled: bool = True) -> Path:
    """``n`` small PNGs in ``folder`` and, if ``labelled``, a labels.csv naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        Image.new("RGB", (30 + i, 20 + 2 * i), (9 * i % 255, 90, 200)).save(folder / f"p{i:02}.png")
        rows.append(f"p{i:02}.png,{CATEGORIES[i % 3]}")
    if labelled:
        (folder / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    return folder


def listed(folder: Path, **kw: Any) -> Samples:
    return find_samples(folder, CATEGORIES, labels=folder / "labels.csv", **kw)


def test_calibration_photos_are_left_out_of_the_evaluation(tmp_path: Path) -> None:
    data = photos(tmp_path / "d", 20)
    every = listed(data)
    s = listed(data, calibration=6, seed=3)
    assert len(s.calibration) == 6 and len(s.files) == 14
    assert set(s.calibration).isdisjoint(s.files)
    assert set(s.calibration) | set(s.files) == set(every.files)
    # the labels stay with their files
    label_of = dict(zip(every.files, every.labels, strict=True))
    assert all(label_of[f] == y for f, y in zip(s.files, s.labels, strict=True))
    record = s.chosen["calibration"]
    assert record["count"] == 6 and record["excluded_from_evaluation"] is True
    assert record["files"] == [f.name for f in s.calibration]
    assert record["seed"] == 3 and record["source"] == "the data"
    assert s.chosen["selection"] == "6 set aside to calibrate int8, then all 14"


def test_limit_and_sample_choose_among_the_photos_left(tmp_path: Path) -> None:
    data = photos(tmp_path / "d", 20)
    s = listed(data, calibration=5, limit=10)
    assert len(s.files) == 10 and set(s.calibration).isdisjoint(s.files)
    left = [f for f in listed(data).files if f not in s.calibration]
    assert s.files == left[:10]
    s = listed(data, calibration=5, sample=20)
    assert len(s.files) == 15 and any("--sample 20: there are 15" in n for n in s.notes)


def test_the_split_is_the_same_with_the_same_seed_and_differs_with_another(tmp_path: Path) -> None:
    data = photos(tmp_path / "d", 30)
    drawn = [listed(data, calibration=8, seed=seed).calibration for seed in (0, 0, 1)]
    assert drawn[0] == drawn[1] and drawn[0] != drawn[2]


def test_every_model_of_a_compare_is_evaluated_on_the_same_photos(tmp_path: Path) -> None:
    # two libraries, two class lists: the labels resolve to each one's own indices,
    # and the photos set aside are the same
    data = photos(tmp_path / "d", 12, labelled=False)
    names = ["goldfish", "tench", "great white shark"]
    (data / "labels.csv").write_text("".join(f"p{i:02}.png,{names[i % 3]}\n" for i in range(12)))
    runs = []
    for model in ("squeezenet1_1", "timm/tf_efficientnet_lite0"):
        card = registry.card(model)
        runs.append(
            find_samples(data, card.categories, card.wnids, data / "labels.csv", calibration=4)
        )
    assert runs[0].files == runs[1].files and runs[0].calibration == runs[1].calibration
    assert len(runs[0].files) == 8


def test_set_aside_photos_make_a_calibration(tmp_path: Path) -> None:
    s = listed(photos(tmp_path / "d", 10), calibration=4)
    c = Calibration.of(s)
    assert c.files == s.calibration and c.record == s.chosen["calibration"]
    with pytest.raises(HarnessError, match="no photos were set aside"):
        Calibration.of(listed(tmp_path / "d"))


def test_the_draw_does_not_depend_on_the_listing_order() -> None:
    names = [f"photo{i}.jpg" for i in range(50)]
    shuffled = names[::-1]
    a = {names[i] for i in draw_calibration(names, 10, seed=7)}
    b = {shuffled[i] for i in draw_calibration(shuffled, 10, seed=7)}
    assert a == b and len(a) == 10
    assert draw_calibration(names, 10, seed=7) == sorted(draw_calibration(names, 10, seed=7))


@pytest.mark.parametrize("n", [20, 21, 100])
def test_more_calibration_photos_than_the_data_leaves_is_one_line(tmp_path: Path, n: int) -> None:
    data = photos(tmp_path / "d", 20)
    with pytest.raises(HarnessError) as e:
        listed(data, calibration=n)
    assert str(e.value) == (
        f"--calibration {n}: the data holds 20 photos and those that calibrate int8 are "
        "left out of the evaluation: pass --calibration 19 or fewer, or --calibration-data DIR"
    )
    assert len(listed(data, calibration=19).files) == 1


def test_a_calibration_folder_sets_nothing_aside(tmp_path: Path) -> None:
    folder = photos(tmp_path / "cal", 7, labelled=False)
    (folder / "notes.txt").write_text("not a photo")
    c = Calibration.from_folder(str(folder), 7, seed=0)
    assert sorted(c.files) == sorted(folder.glob("*.png"))
    assert c.record["source"] == str(folder) and c.record["excluded_from_evaluation"] is False
    assert len(Calibration.from_folder(str(folder), 3).files) == 3
    with pytest.raises(HarnessError, match=r"holds 7 photos: pass --calibration 7 or fewer$"):
        Calibration.from_folder(str(folder), 8)
    with pytest.raises(HarnessError, match="does not exist"):
        Calibration.from_folder(str(tmp_path / "none"), 8)


def test_batches_are_the_photos_as_the_model_gets_them(tmp_path: Path) -> None:
    folder = photos(tmp_path / "cal", 7, labelled=False)
    (folder / "p03.png").write_bytes(b"not a png")
    c = Calibration.from_folder(str(folder), 7)
    transform = SqueezeNet1_1_Weights.DEFAULT.transforms()
    got = list(c.batches(transform, batch_size=4))
    readable = [f for f in c.files if f.name != "p03.png"]
    assert [b.shape[1:] for b in got] == [(3, 224, 224)] * len(got)
    assert all(b.dtype == np.float32 for b in got)
    # the same pixels as the transform applied to each readable photo, one by one
    expected = torch.stack([transform(load_rgb(f)) for f in readable]).numpy()
    np.testing.assert_allclose(np.concatenate(got), expected, atol=1e-5)
    assert [name for name, _ in c.unreadable] == ["p03.png"]
    assert c.record["unreadable"][0].startswith("p03.png: ")
