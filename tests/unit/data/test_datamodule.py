"""harness.data.datamodule: the three folder layouts, labels files, collate, the data module,
and a dataset that never raises.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision.models import ResNet50_Weights, SqueezeNet1_1_Weights

from harness.data.datamodule import (
    UNLABELLED,
    ImageDataset,
    ImageFolderDataModule,
    collate,
    find_samples,
)
from harness.errors import HarnessError
from harness.zoo import registry
from tests.helpers.images import image

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


# a made-up model with five classes; "Crane" twice, as ImageNet has it
CATS = ["tench", "goldfish", "Crane", "great white shark", "crane"]
WNIDS = ["n00000010", "n00000011", "n00000012", "n00000013", "n00000014"]


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "file,label") -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header.split(","))
        w.writerows(rows)
    return path


def small(im: Image.Image) -> torch.Tensor:
    """A transform for tests: 4x4, CHW uint8, so differently sized images stack."""
    return torch.tensor(list(im.resize((4, 4)).getdata()), dtype=torch.uint8).T.reshape(3, 4, 4)


# --- find_samples: class subfolders --------------------------------------------------------


@pytest.mark.parametrize(
    ("folders", "labels"),
    [
        (["n00000013", "n00000010"], [0, 0, 3]),  # by wnid
        (["3", "0"], [0, 0, 3]),  # by index: the model's index, not the folder's rank
        (["Great White Shark", "tench"], [0, 0, 3]),  # by name, any case
    ],
)
def test_class_subfolders(tmp_path: Path, folders: list[str], labels: list[int]) -> None:
    shark, tench = folders
    image(tmp_path / shark / "s1.png")
    image(tmp_path / tench / "t2.png")
    image(tmp_path / tench / "nested" / "t1.png")
    (tmp_path / tench / "notes.txt").write_text("not an image")
    image(tmp_path / tench / ".hidden.png")
    s = find_samples(tmp_path, CATS, WNIDS)
    assert s.layout == "class subfolders"
    assert s.labelled
    got = sorted(zip((p.relative_to(tmp_path).as_posix() for p in s.files), s.labels, strict=True))
    # every file is a candidate, whatever its extension: the decoder decides later
    assert got == sorted(
        [
            (f"{tench}/nested/t1.png", 0),
            (f"{tench}/notes.txt", 0),
            (f"{tench}/t2.png", 0),
            (f"{shark}/s1.png", 3),
        ]
    )
    assert sorted(s.labels) == sorted([*labels, 0])
    assert s.notes == []
    assert s.skipped == [(tmp_path / tench / ".hidden.png", "hidden (name starts with '.')")]


def test_class_subfolders_with_stray_files(tmp_path: Path) -> None:
    image(tmp_path / "1" / "a.png")
    image(tmp_path / "stray.png")
    s = find_samples(tmp_path, CATS, WNIDS)
    assert s.files == [tmp_path / "1" / "a.png"] and s.labels == [1]
    assert s.skipped == [(tmp_path / "stray.png", "outside the class folders")]


def test_class_subfolders_with_one_unknown_folder(tmp_path: Path) -> None:
    image(tmp_path / "1" / "a.png")
    image(tmp_path / "salmon" / "b.png")
    with pytest.raises(HarnessError, match="1 subfolder .*names no class.*'salmon'"):
        find_samples(tmp_path, CATS, WNIDS)


def test_imagenet_wnid_folders(tmp_path: Path) -> None:
    cats = ResNet50_Weights.DEFAULT.meta["categories"]
    image(tmp_path / "n01440764" / "a.JPEG")  # tench, index 0
    image(tmp_path / "n15075141" / "b.JPEG")  # toilet tissue, index 999
    s = find_samples(tmp_path, cats, registry.imagenet_wnids())
    assert s.labels == [0, 999]


# --- find_samples: a labels CSV ------------------------------------------------------------


def test_labels_csv(tmp_path: Path) -> None:
    root = tmp_path / "data"
    image(root / "a.png")
    image(root / "sub" / "b.png")
    image(root / "c.png")
    image(root / "unlisted.png")
    labels = write_csv(
        tmp_path / "labels.csv",
        [("sub/b.png", "n00000013"), ("a.png", "1"), ("c.png", "TENCH")],
    )
    s = find_samples(root, CATS, WNIDS, labels=labels)
    assert s.files == [root / "sub" / "b.png", root / "a.png", root / "c.png"]  # CSV order
    assert s.labels == [3, 1, 0]
    assert s.layout.startswith("labels file")
    assert len(s.notes) == 1 and s.notes[0].endswith(
        "not listed in labels.csv, not evaluated: unlisted.png"
    )


def test_labels_csv_names_the_files_it_leaves_out(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png", "d.png", "sub/e.png", "f.png"):
        image(tmp_path / name)
    csv_path = write_csv(tmp_path / "labels.csv", [("a.png", "0")])
    s = find_samples(tmp_path, CATS, WNIDS, labels=csv_path)
    assert s.files == [tmp_path / "a.png"]
    assert s.notes == [  # labels.csv itself is never an image (the harness passes it over)
        f"5 files in {tmp_path} not listed in labels.csv, not evaluated: "
        "b.png, c.png, d.png and 2 more"
    ]
    write_csv(csv_path, [(n, "0") for n in ("a.png", "b.png", "c.png", "d.png", "f.png")])
    assert find_samples(tmp_path, CATS, WNIDS, labels=csv_path).notes == [
        f"1 file in {tmp_path} not listed in labels.csv, not evaluated: sub/e.png"
    ]


def test_labels_csv_with_bom_and_extra_columns(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("\ufefffile,label,source\na.png,2,x\n", encoding="utf-8")
    # "Crane" is ambiguous by name, but 2 is an index
    assert find_samples(tmp_path, CATS, WNIDS, labels=labels).labels == [2]


def test_labels_csv_missing_columns(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    labels = write_csv(tmp_path / "labels.csv", [("a.png", "1")], header="picture,species")
    with pytest.raises(HarnessError, match="neither a header naming a file column"):
        find_samples(tmp_path, CATS, WNIDS, labels=labels)


def test_labels_csv_absent(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    with pytest.raises(HarnessError, match="labels file .*none.csv' does not exist"):
        find_samples(tmp_path, CATS, WNIDS, labels=tmp_path / "none.csv")


def test_labels_csv_missing_files_lists_ten(tmp_path: Path) -> None:
    image(tmp_path / "real.png")
    missing = [f"gone{i:02d}.png" for i in range(13)]
    rows = [("real.png", "0"), *((m, "0") for m in missing)]
    labels = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(HarnessError) as e:
        find_samples(tmp_path, CATS, WNIDS, labels=labels)
    msg = str(e.value)
    assert msg.startswith("13 files listed")
    assert re.findall(r"gone\d\d\.png", msg) == missing[:10]
    assert msg.endswith("and 3 more")
    assert "real.png" not in msg


def test_labels_csv_few_missing_files_has_no_more(tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "labels.csv", [("x.png", "0"), ("y.png", "1")])
    with pytest.raises(HarnessError) as e:
        find_samples(tmp_path, CATS, WNIDS, labels=labels)
    assert str(e.value).startswith("2 files") and "more" not in str(e.value)
    assert "x.png" in str(e.value) and "y.png" in str(e.value)


def test_labels_csv_unknown_labels(tmp_path: Path) -> None:
    for n in "abcd":
        image(tmp_path / f"{n}.png")
    rows = [("a.png", "salmon"), ("b.png", "1"), ("c.png", "7"), ("d.png", "crane")]
    labels = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(HarnessError) as e:
        find_samples(tmp_path, CATS, WNIDS, labels=labels)
    msg = str(e.value)
    assert msg.startswith("3 unknown labels")
    assert "a.png" in msg and "c.png" in msg and "d.png" in msg and "b.png" not in msg


def test_one_bad_row_is_named_in_the_singular(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    cases = [("a.png", "salmon", "1 unknown label in "), ("x.png", "0", "1 file listed in ")]
    for name, label, start in cases:
        with pytest.raises(HarnessError) as e:
            find_samples(
                tmp_path, CATS, WNIDS, labels=write_csv(tmp_path / "l.csv", [(name, label)])
            )
        assert str(e.value).startswith(start), str(e.value)
    assert " does not exist in " in str(e.value)


# --- find_samples: unlabelled, limits, bad paths ---------------------------------------------


def test_unlabelled_folder(tmp_path: Path) -> None:
    image(tmp_path / "b.png")
    image(tmp_path / "a.png")
    image(tmp_path / "holiday" / "c.png")  # a subfolder that names no class
    s = find_samples(tmp_path, CATS, WNIDS)
    assert s.layout == "unlabelled"
    assert not s.labelled
    assert s.files == [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "holiday" / "c.png"]
    assert s.labels == [UNLABELLED] * 3 == [-1, -1, -1]
    assert s.notes == [
        "no subfolder names a class of the model (1: 'holiday'): evaluated unlabelled; "
        "name class folders by class name, index or wnid, or pass --labels"
    ]
    image(tmp_path / "n0000001" / "d.png")  # a mistyped wnid beside it
    for name in ("x1", "x2", "x3"):
        image(tmp_path / name / "e.png")
    assert "(5: 'holiday', 'n0000001', 'x1', ...)" in find_samples(tmp_path, CATS, WNIDS).notes[0]


def test_flat_folder_has_no_note(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    assert find_samples(tmp_path, CATS, WNIDS).notes == []


def test_limit(tmp_path: Path) -> None:
    for i in range(5):
        image(tmp_path / "1" / f"{i}.png")
    s = find_samples(tmp_path, CATS, WNIDS, limit=2)
    assert s.files == [tmp_path / "1" / "0.png", tmp_path / "1" / "1.png"]
    assert s.labels == [1, 1] and s.notes == []
    for kw, option in (({"limit": 9}, "--limit"), ({"sample": 9}, "--sample")):
        s = find_samples(tmp_path, CATS, WNIDS, **kw)
        assert len(s.files) == 5 and s.notes == [f"{option} 9: there are 5, all taken"]


def test_data_path_errors(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="does not exist"):
        find_samples(tmp_path / "absent", CATS, WNIDS)
    f = image(tmp_path / "a.png")
    with pytest.raises(HarnessError, match="is not a folder"):
        find_samples(f, CATS, WNIDS)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HarnessError, match="no images found"):
        find_samples(empty, CATS, WNIDS)


# --- the dataset, collate and the data module ------------------------------------------------


def test_collate_keeps_unreadable_files(tmp_path: Path) -> None:
    files = [
        image(tmp_path / "a.png", (10, 20, 30), size=5),
        tmp_path / "broken.png",
        image(tmp_path / "c.png", (40, 50, 60), size=9),
    ]
    files[1].write_text("this is not a PNG")
    ds = ImageDataset(files, [3, 1, UNLABELLED], small)
    batch = collate([ds[i] for i in range(3)])
    assert batch["image"].shape == (2, 3, 4, 4)
    assert batch["image"][0, :, 0, 0].tolist() == [10, 20, 30]
    assert batch["image"][1, :, 0, 0].tolist() == [40, 50, 60]
    assert batch["label"].tolist() == [3, -1]
    assert batch["index"].tolist() == [0, 2]
    [(i, reason)] = batch["skipped"]
    assert i == 1
    assert reason and "\n" not in reason


def test_collate_of_only_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_text("nope")
    batch = collate([ImageDataset([bad], [0], small)[0]])
    assert batch["image"].numel() == 0
    assert batch["label"].tolist() == [] and batch["index"].tolist() == []
    assert [i for i, _ in batch["skipped"]] == [0]


def test_test_dataloader_yields_every_sample_once(tmp_path: Path) -> None:
    for i in range(11):
        image(tmp_path / str(i % 3) / f"{i:02d}.png", (i, 2 * i, 3 * i), size=4 + i)
    s = find_samples(tmp_path, CATS, WNIDS)
    dm = ImageFolderDataModule(s, small, batch_size=4, num_workers=0)
    seen: list[int] = []
    labels: list[int] = []
    sizes = []
    for batch in dm.test_dataloader():
        seen += batch["index"].tolist()
        labels += batch["label"].tolist()
        sizes.append(len(batch["index"]))
        assert batch["skipped"] == []
    assert sorted(seen) == list(range(11))
    assert sizes == [4, 4, 3]
    # labels follow the folders the files lie in
    assert labels == [int(s.files[i].parent.name) for i in seen]
    assert sorted(dm.predict_dataloader().dataset.files) == sorted(s.files)


def test_batches_pinned_only_for_a_cuda_device(tmp_path: Path, monkeypatch) -> None:
    """Pinning is for the copy to a GPU: a CPU run pins nothing, even on a GPU machine."""
    from types import SimpleNamespace

    image(tmp_path / "0" / "a.png")
    s = find_samples(tmp_path, CATS, WNIDS)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine
    dm = ImageFolderDataModule(s, small)
    assert dm.pinned()  # no trainer: where the batches go is unknown, CUDA is there
    for device, pinned in (("cpu", False), ("cuda", True)):
        strategy = SimpleNamespace(root_device=torch.device(device))
        dm.trainer = SimpleNamespace(strategy=strategy, world_size=1)  # type: ignore[assignment]
        assert dm.pinned() is pinned and dm.test_dataloader().pin_memory is pinned
    for asked in (False, True):
        assert ImageFolderDataModule(s, small, pin_memory=asked).pinned() is asked


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]
FORMATS = {"CMYK": "TIFF", "I": "TIFF", "F": "TIFF"}  # PNG holds the rest
TRANSFORM = SqueezeNet1_1_Weights.DEFAULT.transforms()


def random_image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    if mode in ("I;16", "I"):
        return Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16)).convert(mode)
    if mode == "F":
        return Image.fromarray(rng.uniform(0, 255, (h, w)).astype(np.float32), "F")
    bands = len(Image.new(mode, (1, 1)).getbands())
    im = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    if mode in ("1", "L", "P"):
        return im.convert("RGB").convert(mode)
    return Image.merge(mode, im.split()[:bands]) if bands <= 4 else im


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    junk=st.binary(max_size=2048),
    mode=st.sampled_from(MODES),
    size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
    seed=st.integers(0, 2**32 - 1),
)
def test_dataset_never_raises(
    tmp_path: Path, junk: bytes, mode: str, size: tuple[int, int], seed: int
) -> None:
    noise = tmp_path / "junk.png"
    noise.write_bytes(junk)
    good = tmp_path / f"good.{FORMATS.get(mode, 'PNG').lower()}"
    random_image(mode, size, seed).save(good)
    ds = ImageDataset([noise, good], [7, 3], TRANSFORM)
    x, y, i, why = ds[0]
    assert (y, i) == (7, 0)
    if x is None:
        assert isinstance(why, str) and why.strip()
    else:
        assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and why == ""
    x, y, i, why = ds[1]  # a valid image of any mode is always evaluated
    assert (y, i, why) == (3, 1, "")
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and torch.isfinite(x).all()


def test_empty_file_is_skipped_as_empty(tmp_path: Path) -> None:
    empty = tmp_path / "zero.png"
    empty.write_bytes(b"")
    image, _, _, reason = ImageDataset([empty], [0], lambda im: im)[0]
    assert image is None and "empty file (0 bytes)" in reason


def test_missing_files_and_unknown_labels_are_named_in_one_line(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    labels = write_csv(tmp_path / "l.csv", [("a.png", "salmon"), ("gone.png", "0")])
    with pytest.raises(HarnessError) as e:
        find_samples(tmp_path, CATS, WNIDS, labels=labels)
    msg = str(e.value)
    assert "\n" not in msg and msg.count("(--lenient skips such rows)") == 1
    assert msg.startswith("1 file listed in ") and ": gone.png; and 1 unknown label in " in msg
    assert "a.png: " in msg.split("; and ")[1]


def test_the_harness_own_output_inside_the_data_is_no_photo(tmp_path: Path) -> None:
    """A run's folder inside the data (its figures are PNGs) is left out, with a note."""
    image(tmp_path / "a.png")
    image(tmp_path / "run" / "accuracy_vs_latency.png")
    (tmp_path / "run" / "results.json").write_text("[]")
    image(tmp_path / "lightning_logs" / "x" / "label_issues.png")
    outputs = [tmp_path / "run", tmp_path / "lightning_logs"]
    s = find_samples(tmp_path, CATS, WNIDS, outputs=outputs)
    assert s.files == [tmp_path / "a.png"] and s.skipped == []
    own = "(the harness's own output) not taken for photos"
    assert [n for n in s.notes if own in n] == [
        f"2 files under {outputs[0]} {own}",
        f"1 file under {outputs[1]} {own}",
    ]
    assert len(find_samples(tmp_path, CATS, WNIDS).files) == 4  # without: all taken
