"""Relabel nips17-dev with everyday words: docs/studies/nips17-words.csv and its twin.

Each photo's ImageNet class (its wnid in nips17-dev's labels.csv) is looked up in
ImageNet's original ``is_a.txt``; the photo takes the one word of ``WORDS`` whose
synset lies above its class. Photos under none of them are left out (the script
says how many). The words' synsets share no ImageNet-1k class (checked), and each
word is its synset's first word in ``words.txt``, so that the harness reads the
word as that synset (``harness.labels``; a test checks that too).

Writes, for the same photos:

- ``docs/studies/nips17-words.csv``: ``file,label,synset,class``: the word, its
  synset, the photo's ImageNet class (the harness reads ``file`` and ``label``);
- ``docs/studies/nips17-words-classes.csv``: ``file,label``: the ImageNet class
  index, for the fine-grained top-1 on those photos.

Run from the repository root (the data lie in ``../shared``)::

    python scripts/word_labels.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "studies"
# word -> the synset it names: animals, vehicles, places and things. Not "truck": the
# minivan lies under both car and truck (van), and labels must share no class.
WORDS = {
    "dog": "n02084071",
    "bird": "n01503061",
    "fish": "n02512053",
    "snake": "n01726692",
    "insect": "n02159955",
    "car": "n02958343",
    "bus": "n02924116",
    "boat": "n02858304",
    "ship": "n04194289",
    "aircraft": "n02686568",
    "building": "n02913152",
    "bridge": "n02898711",
    "fence": "n03327234",
    "mountain": "n09359803",
    "fruit": "n13134947",
    "vegetable": "n07707451",
    "dish": "n07557434",
    "musical instrument": "n03800933",
    "clothing": "n03051540",
    "furniture": "n03405725",
}


def below(wordnet: Path) -> dict[str, set[str]]:
    """word -> its synset and every synset under it, by ``is_a.txt``."""
    children: dict[str, set[str]] = defaultdict(set)
    for line in (wordnet / "is_a.txt").read_text().splitlines():
        parent, child = line.split()
        children[parent].add(child)
    out = {}
    for word, wnid in WORDS.items():
        seen, todo = {wnid}, [wnid]
        while todo:
            for c in children[todo.pop()] - seen:
                seen.add(c)
                todo.append(c)
        out[word] = seen
    return out


def check(wordnet: Path, under: dict[str, set[str]], imagenet: list[str]) -> None:
    """Each word is its synset's first word; no ImageNet-1k class lies under two words."""
    words = dict(line.split("\t", 1) for line in (wordnet / "words.txt").read_text().splitlines())
    for word, wnid in WORDS.items():
        first = words[wnid].split(",")[0].strip()
        if first != word:
            raise SystemExit(f"{word!r}: the first word of {wnid} is {first!r}")
    for word in WORDS:
        for other in WORDS:
            common = under[word] & under[other] & set(imagenet)
            if word < other and common:
                raise SystemExit(f"{word!r} and {other!r} share classes: {sorted(common)}")


def relabel(shared: Path) -> tuple[list[dict[str, str]], int]:
    """The photos under a word, with that word; and how many photos are under none."""
    wordnet, nips = shared / "data" / "wordnet", shared / "data" / "nips17-dev"
    with open(shared / "data" / "imagenet1k-classes.csv", newline="") as f:
        imagenet = [r["wnid"] for r in csv.DictReader(f)]
    under = below(wordnet)
    check(wordnet, under, imagenet)
    with open(nips / "labels.csv", newline="") as f:
        photos = list(csv.DictReader(f))
    rows = []
    for p in photos:
        word = next((w for w in WORDS if p["wnid"] in under[w]), None)
        if word is not None:
            rows.append({"file": p["file"], "word": word, "label": p["label"], "name": p["name"]})
    return rows, len(photos) - len(rows)


def to_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def files(rows: list[dict[str, str]]) -> dict[str, str]:
    """File name -> text of the two labels files."""
    words = [
        {"file": r["file"], "label": r["word"], "synset": WORDS[r["word"]], "class": r["name"]}
        for r in rows
    ]
    classes = [{"file": r["file"], "label": r["label"]} for r in rows]
    return {"nips17-words.csv": to_csv(words), "nips17-words-classes.csv": to_csv(classes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows, left_out = relabel(args.shared)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files(rows).items():
        (args.out / name).write_text(text)
    counts = Counter(r["word"] for r in rows)
    shown = ", ".join(f"{w} {counts[w]}" for w in WORDS)
    total = len(rows) + left_out
    print(f"{len(rows)} of {total} photos under {len(WORDS)} words ({shown});", file=sys.stderr)
    print(f"{left_out} under none, left out; written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
