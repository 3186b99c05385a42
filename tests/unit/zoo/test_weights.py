"""harness.zoo.weights: random init, local state_dict files, refusals, the offline cache error."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import SqueezeNet1_1_Weights, resnet18, squeezenet1_1

from harness.errors import HarnessError
from harness.zoo.weights import load

NAME = "squeezenet1_1"


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """The state_dict of a randomly initialised squeezenet1_1 (seeded)."""
    torch.manual_seed(123)
    return {k: v.clone() for k, v in squeezenet1_1().state_dict().items()}


def same_tensors(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    got = model.state_dict()
    return got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)


def test_none_gives_random_weights() -> None:
    loaded = load(NAME, "none")
    assert loaded.random is True
    assert loaded.name == NAME
    assert not loaded.model.training
    assert loaded.card.weights == SqueezeNet1_1_Weights.IMAGENET1K_V1.name
    assert loaded.categories == SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(loaded.categories) == 1000
    assert "random" in loaded.source


def test_none_is_case_insensitive() -> None:
    assert load(NAME, "None").random is True


def test_unknown_model() -> None:
    with pytest.raises(HarnessError, match="did you mean"):
        load("squeezenet1_2", "none")


@pytest.mark.parametrize("suffix", [".pth", ".pt"])
def test_state_dict_file_loads_back(
    tmp_path: Path, state: dict[str, torch.Tensor], suffix: str
) -> None:
    path = tmp_path / f"mine{suffix}"
    torch.save(state, path)
    loaded = load(NAME, str(path))
    assert loaded.random is False
    assert loaded.source == str(path)
    assert not loaded.model.training
    assert same_tensors(loaded.model, state)
    # and not by accident: a fresh random model differs
    assert not same_tensors(squeezenet1_1(), state)


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_wrapped_state_dict_loads(
    tmp_path: Path, state: dict[str, torch.Tensor], wrapper: str
) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({wrapper: state, "epoch": 3}, path)
    assert same_tensors(load(NAME, str(path)).model, state)


@pytest.mark.parametrize("file_name", [f"{NAME}.pth", f"{NAME}-webnn.pth", f"{NAME}.pt"])
def test_weights_dir_lookup(tmp_path: Path, state: dict[str, torch.Tensor], file_name: str) -> None:
    torch.save(state, tmp_path / file_name)
    (tmp_path / "resnet18.pth").write_bytes(b"not this one")
    loaded = load(NAME, "DEFAULT", str(tmp_path))
    assert loaded.source == str(tmp_path / file_name)
    assert loaded.random is False
    assert same_tensors(loaded.model, state)


def test_weights_dir_from_environment(
    tmp_path: Path, state: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.save(state, tmp_path / f"{NAME}-x.pth")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(tmp_path))
    assert same_tensors(load(NAME).model, state)


def test_weights_dir_with_two_matches(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    for f in (f"{NAME}.pth", f"{NAME}-v2.pth"):
        torch.save(state, tmp_path / f)
    with pytest.raises(HarnessError) as e:
        load(NAME, "DEFAULT", str(tmp_path))
    assert f"{NAME}.pth" in str(e.value) and f"{NAME}-v2.pth" in str(e.value)


def test_weights_dir_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="not a folder"):
        load(NAME, "DEFAULT", str(tmp_path / "absent"))


def test_checkpoint_for_other_class_count(tmp_path: Path) -> None:
    path = tmp_path / "ten.pth"
    torch.save(squeezenet1_1(num_classes=10).state_dict(), path)
    with pytest.raises(HarnessError) as e:
        load(NAME, str(path))
    assert "10 classes" in str(e.value) and "1000" in str(e.value)


def test_checkpoint_of_other_architecture(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(HarnessError) as e:
        load(NAME, str(path))
    msg = str(e.value)
    assert "does not fit" in msg and NAME in msg and "missing keys" in msg


def test_checkpoint_missing_one_key(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if k != "classifier.1.bias"}, path)
    with pytest.raises(HarnessError, match=r"does not fit.*1 missing keys \(classifier.1.bias\)"):
        load(NAME, str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="does not exist"):
        load(NAME, str(tmp_path / "nothing.pth"))


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "text.pth"
    path.write_text("hello\n")
    with pytest.raises(HarnessError, match="not a PyTorch checkpoint"):
        load(NAME, str(path))


def test_tensor_free_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(HarnessError, match="no state_dict"):
        load(NAME, str(path))


class Payload:
    """Unpickling this calls open(marker, 'w'): code running at load time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused(
    tmp_path: Path, state: dict[str, torch.Tensor], writer: str
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    obj = {**state, "evil": Payload(marker)}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=2)
    assert not marker.exists()
    with pytest.raises(HarnessError, match="refusing to load"):
        load(NAME, str(path))
    assert not marker.exists()
    # the control: the same file, unpickled unsafely, does run the payload
    if writer == "torch.save":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as f:
            pickle.load(f)
    assert marker.exists()


@pytest.mark.usefixtures("no_network")
def test_tag_with_empty_cache_names_the_cache_file(capsys: pytest.CaptureFixture[str]) -> None:
    # conftest points TORCH_HOME at an empty folder, and no_network keeps it empty
    url = SqueezeNet1_1_Weights.IMAGENET1K_V1.url
    expected = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    assert not expected.exists()
    with pytest.raises(HarnessError) as e:
        load(NAME, "IMAGENET1K_V1")
    msg = str(e.value)
    assert str(expected) in msg
    assert "--weights none" in msg
    assert "\n" not in msg
    # torch.hub's "Downloading ..." must not reach stdout, where JSON/CSV output goes
    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("no_network")
def test_tag_ignores_weights_dir(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    """Only DEFAULT looks in the weights folder; an explicit tag means torchvision's file."""
    torch.save(state, tmp_path / f"{NAME}.pth")
    with pytest.raises(HarnessError, match="torchvision's cache"):
        load(NAME, "IMAGENET1K_V1", str(tmp_path))
