"""Test helper: the synsets under a WordNet id by ImageNet's original is_a.txt, in
../shared (not the package's table), for the tests to check the harness against.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.helpers import SHARED

WORDNET = SHARED / "data" / "wordnet"


def under(wnid: str, is_a: Path = WORDNET / "is_a.txt") -> set[str]:
    """``wnid`` and every synset below it in ``is_a`` (``PARENT CHILD`` lines)."""
    children = defaultdict(set)
    for line in is_a.read_text().splitlines():
        parent, child = line.split()
        children[parent].add(child)
    seen, todo = {wnid}, [wnid]
    while todo:
        for c in children[todo.pop()] - seen:
            seen.add(c)
            todo.append(c)
    return seen
