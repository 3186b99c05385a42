"""WordNet's noun hierarchy, as far as the supported label spaces need it.

The package's table (``data/wordnet.tsv.gz``, built by ``scripts/build_wordnet.py``
from ImageNet's WordNet files) holds every synset of ImageNet-1k and of timm's
ImageNet-22k/12k label spaces and all their ancestors, with their parents and
words. It is read on first use only: runs whose labels are classes never load it.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

TABLE = "wordnet.tsv.gz"


def normal(word: str) -> str:
    """A word as looked up: lower case, ``_`` and ``-`` as spaces, spaces collapsed.

    >>> normal("Sports_Car"), normal(" dog-iron ")
    ('sports car', 'dog iron')
    """
    return " ".join(re.sub(r"[_\-]", " ", word).lower().split())


def singulars(word: str) -> list[str]:
    """What a simple English plural may be the plural of, likeliest first (last word only).

    >>> singulars("foxes"), singulars("berries"), singulars("sports cars")
    (['fox', 'foxe'], ['berry', 'berri', 'berrie'], ['sports car'])
    """
    head, _, last = word.rpartition(" ")
    out = [
        last[: -len(suffix)] + repl
        for suffix, repl in (("ies", "y"), ("ves", "f"), ("es", ""), ("s", ""))
        if last.endswith(suffix) and len(last) > len(suffix) + 1
    ]
    return [f"{head} {s}".strip() for s in dict.fromkeys(out)]


@dataclass(frozen=True)
class WordNet:
    """Parents and words of each synset kept, and the synsets of each (normal) word."""

    parents: dict[str, tuple[str, ...]]
    words: dict[str, tuple[str, ...]]
    by_word: dict[str, tuple[str, ...]]

    def ancestors(self, wnid: str) -> set[str]:
        """``wnid`` and every synset above it (a synset may have two parents)."""
        seen, todo = {wnid}, [wnid]
        while todo:
            for p in self.parents.get(todo.pop(), ()):
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return seen

    def synsets(self, word: str) -> tuple[str, ...]:
        """The synsets whose first (most usual) word is ``word`` (after ``normal``), else
        those of its singular (``foxes`` -> ``fox``); empty when neither is one.

        Only first words: a folder called ``sub`` is not taken for a submarine
        (``submarine, pigboat, sub, U-boat``), nor ``cat`` for a big cat (``big cat, cat``).
        """
        key = normal(word)
        for w in (key, *singulars(key)):
            first = tuple(s for s in self.by_word.get(w, ()) if normal(self.words[s][0]) == w)
            if first:
                return first
        return ()

    def later_synsets(self, word: str) -> tuple[str, ...]:
        """The synsets of which ``word`` (or its singular) is a word, but not the first:
        ``cat`` -> "big cat, cat", among others.
        """
        key = normal(word)
        return tuple(
            s
            for w in dict.fromkeys((key, *singulars(key)))
            for s in self.by_word.get(w, ())
            if normal(self.words[s][0]) != w
        )

    def name(self, wnid: str) -> str:
        """The synset's words, ``fox`` or ``cat, true cat``."""
        return ", ".join(self.words.get(wnid, ())) or wnid


def parse(lines: Iterable[str]) -> WordNet:
    """A WordNet from the table's lines (``#`` lines are the notice)."""
    parents: dict[str, tuple[str, ...]] = {}
    words: dict[str, tuple[str, ...]] = {}
    by_word: dict[str, list[str]] = {}
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        wnid, up, names = line.rstrip("\n").split("\t")
        parents[wnid] = tuple(up.split())
        words[wnid] = tuple(w.strip() for w in names.split(",") if w.strip())
        for w in words[wnid]:
            by_word.setdefault(normal(w), []).append(wnid)
    return WordNet(parents, words, {k: tuple(v) for k, v in by_word.items()})


@functools.cache
def load() -> WordNet:
    """The package's WordNet table, read once per process."""
    with (files("harness.labels") / "data" / TABLE).open("rb") as raw:
        return parse(gzip.decompress(raw.read()).decode("utf-8").splitlines())
