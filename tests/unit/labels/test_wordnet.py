"""harness.labels.wordnet: the package's WordNet table against ImageNet's originals, singulars."""

from __future__ import annotations

import gzip
from importlib.resources import files

import pytest

from harness.labels import wordnet
from harness.zoo import registry
from tests.helpers.wordnet_is_a import WORDNET


@pytest.mark.skipif(not WORDNET.is_dir(), reason="../shared/data/wordnet is absent")
def test_package_table_holds_the_originals_words_and_parents() -> None:
    wn = wordnet.load()
    originals = dict(ln.split("\t", 1) for ln in (WORDNET / "words.txt").read_text().splitlines())
    for w in ("n02118333", "n02084071", "n02121620", "n02127808", "n03126707"):
        assert ", ".join(wn.words[w]) == originals[w].strip()
    is_a = (WORDNET / "is_a.txt").read_text().split()
    pairs = set(zip(is_a[::2], is_a[1::2], strict=True))
    assert all((p, c) in pairs for c, ps in wn.parents.items() for p in ps)
    assert set(registry.imagenet_wnids()) <= wn.parents.keys()


def test_package_table_carries_the_wordnet_notice() -> None:
    data = files("harness.labels") / "data"
    with gzip.open(data / wordnet.TABLE, "rt") as f:
        head = f.readline()
    assert head.startswith("# WordNet 3.0 Copyright 2006 by Princeton University")
    assert "WordNet 3.0 Copyright 2006" in (data / "WORDNET-LICENSE").read_text()


def test_singulars() -> None:
    assert wordnet.singulars("wolves")[0] == "wolf"
    assert wordnet.singulars("glasses")[0] == "glass"
