"""Build harness/labels/data/wordnet.tsv.gz from ImageNet's WordNet files.

The table holds what the harness needs of WordNet's noun hierarchy: every
synset of the label spaces it supports (ImageNet-1k, and the ImageNet-22k/12k
synsets of timm's models, whose lists timm ships in ``timm/data/_info/``) and
all their ancestors, each with its parents and its words. One line a synset::

    WNID<TAB>PARENT PARENT ...<TAB>word, word, ...

Run from the repository root (the WordNet files lie in ``../shared``)::

    python scripts/build_wordnet.py [--wordnet ../shared/data/wordnet]
"""

from __future__ import annotations

import argparse
import gzip
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "harness" / "labels" / "data" / "wordnet.tsv.gz"
SPACES = ("imagenet_synsets.txt", "imagenet12k_synsets.txt", "imagenet22k_synsets.txt")
NOTICE = (
    "# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.\n"
    '# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO\n'
    "# REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. (Derived from ImageNet's\n"
    "# wordnet.is_a.txt and words.txt; see harness/labels/data/WORDNET-LICENSE.)\n"
)


def label_spaces() -> set[str]:
    """The wnids of every label space timm ships a synset list for."""
    info = files("timm.data") / "_info"
    return {w for name in SPACES for w in (info / name).read_text().split()}


def closure(seeds: set[str], parents: dict[str, list[str]]) -> set[str]:
    """``seeds`` and all their ancestors."""
    seen, todo = set(seeds), list(seeds)
    while todo:
        for p in parents.get(todo.pop(), ()):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def build(wordnet: Path) -> str:
    """The table's text: the notice, then one sorted line per synset kept."""
    parents: dict[str, list[str]] = defaultdict(list)
    for line in (wordnet / "is_a.txt").read_text().splitlines():
        parent, child = line.split()
        parents[child].append(parent)
    words = dict(line.split("\t", 1) for line in (wordnet / "words.txt").read_text().splitlines())
    keep = closure(label_spaces(), parents)
    rows = [
        f"{w}\t{' '.join(sorted(parents.get(w, [])))}\t{words.get(w, '').strip()}"
        for w in sorted(keep)
    ]
    return NOTICE + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wordnet", type=Path, default=Path("../shared/data/wordnet"))
    args = ap.parse_args()
    text = build(args.wordnet)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same input gives the same bytes, so a rebuild shows no spurious diff
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.encode("utf-8"))
    print(f"{OUT}: {text.count(chr(10)) - 4} synsets, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
