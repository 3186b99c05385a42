"""harness.compare.child: why a compare row's accuracy is n/a."""

from __future__ import annotations

from pathlib import Path

from harness.data.datamodule import (
    find_samples,
)
from tests.helpers.images import image

# a made-up model with five classes; "Crane" twice, as ImageNet has it
CATS = ["tench", "goldfish", "Crane", "great white shark", "crane"]
WNIDS = ["n00000010", "n00000011", "n00000012", "n00000013", "n00000014"]


def test_compare_row_says_why_accuracy_is_na(tmp_path: Path) -> None:
    """A model whose classes no folder names (beside fine-tuned ones that are) says so."""
    from harness.compare.child import _why_unlabelled

    image(tmp_path / "flat" / "a.png")
    image(tmp_path / "pets" / "fox" / "a.png")
    pets = find_samples(tmp_path / "pets", CATS, WNIDS)
    assert _why_unlabelled(pets) == pets.notes[0]
    assert pets.notes[0].startswith("no subfolder names a class of the model (1: 'fox')")
    assert _why_unlabelled(find_samples(tmp_path / "flat", CATS, WNIDS)) == "no labels"
    assert _why_unlabelled(None) == "no data"
