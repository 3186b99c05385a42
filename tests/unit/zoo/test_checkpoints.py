"""Checkpoints as training tools save them, and class lists of one's own."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.models import squeezenet1_1

from harness.cli.main import main
from harness.errors import HarnessError
from harness.zoo.classlist import read
from harness.zoo.weights import load

NAME = "squeezenet1_1"


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(7)
    return squeezenet1_1()


@pytest.fixture(scope="module")
def state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def same_tensors(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    got = model.state_dict()
    return got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


class Lit(nn.Module):
    """What a LightningModule's state_dict looks like: the network under ``self.model``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda m: nn.DataParallel(m), id="DataParallel (module.)"),
        pytest.param(lambda m: torch.compile(m), id="torch.compile (_orig_mod.)"),
        pytest.param(lambda m: Lit(torch.compile(m)), id="Lightning + compile"),
        pytest.param(lambda m: nn.DataParallel(Lit(m)), id="DDP + Lightning"),
    ],
)
def test_prefixed_checkpoints_load(tmp_path: Path, net, state, wrap) -> None:
    """state_dicts of the real wrappers (DDP prefixes ``module.`` like DataParallel)."""
    saved = wrap(net).state_dict()
    assert all(k not in state for k in saved)  # every key carries the wrapper's prefix
    path = tmp_path / "w.ckpt"
    torch.save({"state_dict": saved, "epoch": 2, "global_step": 10}, path)
    assert same_tensors(load(NAME, str(path)).model, state)


def test_prefix_shared_by_some_keys_only_names_closest_fit(tmp_path: Path, state) -> None:
    """A LightningModule with a loss that has weights: strict, so refused, saying why."""
    ckpt = {**prefixed("model.", state), "criterion.weight": torch.ones(3)}
    torch.save({"state_dict": ckpt}, tmp_path / "w.ckpt")
    with pytest.raises(HarnessError) as e:
        load(NAME, str(tmp_path / "w.ckpt"))
    assert str(e.value).endswith(
        "does not fit squeezenet1_1: closest fit, with the prefix 'model.' removed: "
        "1 unexpected keys (criterion.weight)"
    )


@pytest.mark.parametrize("key", ["state_dict_ema", "model_ema"])
def test_weights_key_picks_the_entry(tmp_path: Path, state, key) -> None:
    other = {k: torch.zeros_like(v) for k, v in state.items()}
    path = tmp_path / "timm.pth.tar"
    torch.save({"state_dict": other, key: prefixed("module.", state), "epoch": 3}, path)
    assert same_tensors(load(NAME, str(path), weights_key=key).model, state)
    assert same_tensors(load(NAME, str(path)).model, other)  # state_dict by default


def test_weights_key_absent(tmp_path: Path, state) -> None:
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "w.pth")
    with pytest.raises(HarnessError, match=r"has no entry 'ema' \(it has: state_dict, epoch\)"):
        load(NAME, str(tmp_path / "w.pth"), weights_key="ema")


def test_no_state_dict_names_the_candidates(tmp_path: Path, state) -> None:
    torch.save({"weights_ema": state, "epoch": 3}, tmp_path / "w.pth")
    with pytest.raises(HarnessError, match="--weights-key with one of: weights_ema"):
        load(NAME, str(tmp_path / "w.pth"))


def test_plain_objects_beside_the_weights_load(tmp_path: Path, state) -> None:
    """Lightning hyper-parameters with paths, timm's argparse arguments."""
    hp = {"data_dir": Path("/data"), "args": argparse.Namespace(lr=0.1)}
    torch.save({"state_dict": state, "hyper_parameters": hp}, tmp_path / "w.ckpt")
    assert same_tensors(load(NAME, str(tmp_path / "w.ckpt")).model, state)


def test_whole_model_pickle_is_refused_by_name(tmp_path: Path, net) -> None:
    torch.save(net, tmp_path / "whole.pth")
    with pytest.raises(HarnessError) as e:
        load(NAME, str(tmp_path / "whole.pth"))
    assert "pickled whole model (torchvision.models.squeezenet.SqueezeNet)" in str(e.value)
    assert "model.state_dict()" in str(e.value)


def test_head_mismatch_without_classes_is_one_line(tmp_path: Path, capsys) -> None:
    torch.save({"state_dict": prefixed("model.", squeezenet1_1(num_classes=7).state_dict())},
               tmp_path / "ft.ckpt")  # fmt: skip
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")  # inputs are checked before the model
    args = [
        "test",
        "--model",
        NAME,
        "--weights",
        str(tmp_path / "ft.ckpt"),
        "--data",
        str(tmp_path),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"harness: error: {tmp_path / 'ft.ckpt'} is for 7 classes and {NAME} predicts 1000: "
        "pass --classes FILE with the 7 class names, in output order\n"
    )


def test_classes_of_another_size_than_the_head(tmp_path: Path) -> None:
    torch.save(squeezenet1_1(num_classes=7).state_dict(), tmp_path / "ft.pth")
    (tmp_path / "c.txt").write_text("a\nb\nc\n")
    with pytest.raises(HarnessError, match=r"is for 7 classes but .*c.txt lists 3$"):
        load(NAME, str(tmp_path / "ft.pth"), classes=read(tmp_path / "c.txt"))


def test_classes_build_the_head(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("cat\ndog\nbird\n")
    loaded = load(NAME, "none", classes=read(tmp_path / "c.txt"))
    assert loaded.model(torch.zeros(1, 3, 64, 64)).shape == (1, 3)
    assert loaded.categories == ["cat", "dog", "bird"] and loaded.card.wnids == ("", "", "")
    assert loaded.card.dataset == "own classes (c.txt)" and loaded.classes_file == str(
        tmp_path / "c.txt"
    )


@pytest.mark.usefixtures("no_network")
def test_classes_with_torchvision_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("cat\n")
    with pytest.raises(HarnessError, match="--classes is for your own weights"):
        load(NAME, "IMAGENET1K_V1", classes=read(tmp_path / "c.txt"))


def test_same_classes_compares_class_lists(tmp_path: Path) -> None:
    """compare's same-classes line, on rows carrying the label spaces of the two cards."""
    from harness.compare.report import same_classes
    from harness.zoo.registry import card

    (tmp_path / "classes.txt").write_text("goldfish\ntench\n")
    base = card(NAME)
    own = read(tmp_path / "classes.txt").card(base)
    assert own.categories == ("goldfish", "tench") and own.wnids == ("", "")
    assert own.preprocessing == base.preprocessing
    from harness.compare.published import row_figures  # other classes: no published figure

    assert row_figures(base, own, True)["published_top1"] is None
    assert row_figures(base, base, False)["published_top1"] is not None
    rows = [
        {
            "model": m,
            "dataset": c.dataset,
            "classes": len(c.categories),
            "label_space": c.label_space,
        }
        for m, c in ((NAME, base), (f"{NAME}=ft.ckpt", own), (f"{NAME}=ft2.ckpt", own))
    ]
    assert same_classes(rows[1:]).startswith("All 2 measured models predict the same 2 classes")
    assert same_classes(rows) == (
        "WARNING: different label spaces, accuracy not comparable across them: "
        f"{NAME}: ImageNet-1K, 1000 classes; "
        f"{NAME}=ft.ckpt, {NAME}=ft2.ckpt: own classes (classes.txt), 2 classes."
    )


@pytest.mark.parametrize(
    ("models", "extra", "error"),
    [
        (["squeezenet1_1=absent.ckpt"], [], "weights file 'absent.ckpt' (in squeezenet1_1="),
        (["squeezenet1_2=w.pth"], [], "unknown model 'squeezenet1_2'"),
        (["squeezenet1_1"], ["--classes", "c.txt"], "are for models given as NAME=FILE"),
        (["squeezenet1_1=w.pth"], ["--classes", "absent.txt"], "cannot read class list"),
    ],
)
def test_compare_own_weights_errors(tmp_path, monkeypatch, capsys, models, extra, error) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pth").write_bytes(b"")
    args = ["compare", "--models", *models, *extra, "--output", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # refused before any model ran


def test_timm_model_with_own_classes(tmp_path: Path) -> None:
    """The head is built by timm.create_model(num_classes=K); a Lightning-style file loads."""
    import timm

    net = timm.create_model("tf_efficientnet_lite0", num_classes=3)
    saved = prefixed("model.", net.state_dict())
    torch.save({"state_dict": saved, "epoch": 1, "global_step": 5}, tmp_path / "ft.ckpt")
    (tmp_path / "c.csv").write_text("index,name\n0,cat\n1,dog\n2,fox\n")
    name, path = "timm/tf_efficientnet_lite0", str(tmp_path / "ft.ckpt")
    loaded = load(name, path, classes=read(tmp_path / "c.csv"))
    assert same_tensors(loaded.model, net.state_dict()) and loaded.categories == [
        "cat",
        "dog",
        "fox",
    ]
    with pytest.raises(HarnessError, match=f"is for 3 classes and {name} predicts 1000: pass --c"):
        load(name, path)
