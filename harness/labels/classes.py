"""A label as one exact class of the model: its index, WordNet id or name."""

from __future__ import annotations

from collections.abc import Sequence

from harness.zoo.classlist import WNID
from harness.zoo.suggest import did_you_mean, near


class LabelMap:
    """Turns a label written as an index, a WordNet id or a class name into an index."""

    def __init__(self, categories: Sequence[str], wnids: Sequence[str] = ()) -> None:
        self.n, self.categories = len(categories), categories
        self.by_wnid = {w: i for i, w in enumerate(wnids) if w}
        self.by_name: dict[str, list[int]] = {}
        for i, name in enumerate(categories):
            self.by_name.setdefault(name.lower(), []).append(i)

    def __call__(self, value: str) -> int:
        """The class index of ``value``; raises ValueError saying why it has none."""
        v = value.strip()
        if v.isdigit():
            if int(v) < self.n:
                return int(v)
            raise ValueError(f"{v} (index out of range 0..{self.n - 1})")
        if WNID.match(v):
            if v in self.by_wnid:
                return self.by_wnid[v]
            raise ValueError(f"{v} (unknown WordNet id)")
        hits = self.by_name.get(v.lower(), [])
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise ValueError(f"{v!r} (ambiguous name: classes {hits}; use the index or wnid)")
        hint = did_you_mean(self.suggest(v), quote=True)
        raise ValueError(f"{v!r} (no such class{'; ' + hint if hint else ''})")

    def suggest(self, value: str) -> list[str]:
        """The class names nearest to a label that names none (``canon`` -> ``cannon``)."""
        return near(value, self.categories, n=3)
