"""Near matches for a name typed wrong: a model's, a label's ("did you mean ...?").

One place for the rule, so that model names and labels suggest alike.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

WORD = re.compile(r"[\s_\-]+")  # what separates the words of a name: "mountain tent"


def near(word: str, pool: Iterable[str], n: int = 5, cutoff: float = 0.6) -> list[str]:
    """The names of ``pool`` nearest to ``word``, case ignored, nearest first.

    The name that differs in case only comes first; then the names holding
    ``word`` as one of their words (``tent`` -> ``mountain tent``, which spelling
    alone would not find); then those ``difflib`` finds alike to at least ``cutoff``.

    >>> near("canon", ["cannon", "canoe", "mountain tent"])
    ['cannon', 'canoe']
    >>> near("tent", ["cannon", "mountain tent", "tench"])
    ['mountain tent', 'tench']
    """
    by_lower: dict[str, str] = {}
    for name in pool:
        by_lower.setdefault(name.lower(), name)
    w = word.strip().lower()
    holding = [k for k in by_lower if k != w and w in WORD.split(k)] if w else []
    alike = difflib.get_close_matches(w, list(by_lower), n=n, cutoff=cutoff)
    exact = [w] if w in by_lower else []  # only the case differs
    found = [*exact, *sorted(holding, key=len), *(k for k in alike if k not in [w, *holding])]
    return [by_lower[k] for k in found[:n]]


def did_you_mean(names: Iterable[str], quote: bool = False) -> str:
    """``did you mean a, b?`` for suggestions (``'a', 'b'`` with ``quote``), "" for none.

    >>> did_you_mean(["cannon"], quote=True), did_you_mean([])
    ("did you mean 'cannon'?", '')
    """
    shown = [repr(n) if quote else n for n in names]
    return f"did you mean {', '.join(shown)}?" if shown else ""
