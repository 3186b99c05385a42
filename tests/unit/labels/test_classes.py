"""harness.labels.classes.LabelMap: a label by index, WordNet id or name."""

from __future__ import annotations

import pytest
from torchvision.models import ResNet50_Weights

from harness.labels.classes import LabelMap
from harness.zoo import registry

# a made-up model with five classes; "Crane" twice, as ImageNet has it
CATS = ["tench", "goldfish", "Crane", "great white shark", "crane"]
WNIDS = ["n00000010", "n00000011", "n00000012", "n00000013", "n00000014"]
# --- LabelMap ------------------------------------------------------------------------------


def test_label_map_by_index_wnid_and_name() -> None:
    m = LabelMap(CATS, WNIDS)
    assert [m("0"), m(" 3 "), m("4")] == [0, 3, 4]
    assert [m("n00000010"), m("n00000013")] == [0, 3]
    assert [m("goldfish"), m("great white shark")] == [1, 3]


def test_label_map_names_are_case_insensitive() -> None:
    m = LabelMap(CATS, WNIDS)
    assert m("GoldFish") == m("GOLDFISH") == 1
    assert m("Great White Shark") == 3


def test_label_map_ambiguous_name() -> None:
    with pytest.raises(ValueError, match=r"ambiguous.*\[2, 4\]"):
        LabelMap(CATS, WNIDS)("crane")


def test_label_map_imagenet_names() -> None:
    # torchvision names crane the bird "crane bird" (134) and the machine "crane" (517), but
    # keeps "Cardigan" (the corgi, 264) and "cardigan" (the sweater, 474): equal in any case
    m = LabelMap(ResNet50_Weights.DEFAULT.meta["categories"], registry.imagenet_wnids())
    assert (m("crane"), m("Crane Bird"), m("n02012849"), m("n03126707")) == (517, 134, 134, 517)
    with pytest.raises(ValueError, match=r"ambiguous.*\[264, 474\]"):
        m("cardigan")
    assert m("264") == 264 and m("tench") == 0 and m("n01440764") == 0


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("5", "out of range 0..4"),
        ("1000", "out of range"),
        ("n99999999", "unknown WordNet id"),
        ("salmon", "no such class"),
        ("", "no such class"),
        ("-1", "no such class"),
    ],
)
def test_label_map_errors(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        LabelMap(CATS, WNIDS)(value)


def test_label_map_without_wnids() -> None:
    with pytest.raises(ValueError, match="unknown WordNet id"):
        LabelMap(CATS)("n00000010")
