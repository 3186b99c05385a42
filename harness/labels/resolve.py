"""Which of a model's classes a user's label means.

In this order, the first that applies:

1. an entry of ``--label-map FILE`` (``label,target`` rows; the target a wnid,
   a word, or classes separated by ``;``);
2. an exact class of the model: index, WordNet id or name, as always. A name is a
   word too: where the word also names other synsets that hold classes of the model
   (torchvision names the machine ``crane``, and the bird is a crane too) the run
   stops as for an ambiguous word (4.); where the class's synset has more of the
   model's classes under it (timm's 22k/12k spaces: ``fox`` is a class there, and so
   are ``red fox`` ...) the name stands for all of them, with a note;
3. a WordNet id of a synset above some classes: those classes;
4. the first word of WordNet synsets (case, ``_``, ``-`` and simple plurals do
   not matter): the classes under the synset it names. Only first words: ``cat`` is
   "cat, true cat", not "big cat, cat" (a note names the synsets it is a later word
   of, where they hold other classes). Where several of the synsets it is first in
   hold classes of the model, the one with the most classes is taken when it has
   at least twice as many as each other one (a note says so); otherwise the run
   stops with one line listing them. A word none of whose synsets holds a class
   leaves its images unlabelled, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.labels.classes import LabelMap
from harness.zoo.classlist import WNID

UNLABELLED = -1
DOMINANT = 2  # a synset wins an ambiguous word with this many times the classes of each other


@dataclass(frozen=True)
class Label:
    """One label of the user's: the model classes it stands for, and why."""

    name: str  # as the user wrote it (the first spelling met)
    classes: tuple[int, ...]
    how: str  # "class", "wnid", "word" or "label-map"
    wnid: str = ""  # the synset it stands for, where one
    words: str = ""  # that synset's words

    def line(self, categories: Sequence[str]) -> str:
        """``fox -> n02118333 fox: 4 classes (red fox, kit fox, Arctic fox, grey fox)``."""
        return mapping_line(self.name, self.record(categories))

    def record(self, categories: Sequence[str]) -> dict[str, Any]:
        """This label in results.json's ``label_map``."""
        return {
            "wnid": self.wnid or None,
            "words": self.words or None,
            "how": self.how,
            "classes": [{"index": c, "name": categories[c]} for c in self.classes],
        }


def mapping_line(name: str, record: dict[str, Any], shown: int = 4) -> str:
    """A label's line in a summary, from its ``label_map`` record (``Label.record``)."""
    classes = [c["name"] for c in record["classes"]]
    more = ", ..." if len(classes) > shown else ""
    what = f"{record['wnid']} {record['words']}" if record["wnid"] else record["how"]
    n = len(classes)
    return f"{name} -> {what}: {n} class{'es' * (n != 1)} ({', '.join(classes[:shown])}{more})"


@dataclass
class Resolver:
    """Turns label values into indices of ``labels`` (``UNLABELLED`` for a word with no
    class), resolving each distinct value once; ``notes`` says what was decided.

    Args:
        categories: the model's class names, in output order.
        wnids: their WordNet ids ("" where none).
        label_map: normal(label) -> target, from ``read_label_map``.
    """

    categories: Sequence[str]
    wnids: Sequence[str] = ()
    label_map: dict[str, str] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty: dict[str, str] = field(default_factory=dict)  # a word with no class -> its synsets
    _seen: dict[str, int] = field(default_factory=dict)
    _under: dict[str, set[str]] | None = None  # class wnid -> it and its ancestors

    def __post_init__(self) -> None:
        self.exact = LabelMap(self.categories, self.wnids)

    def __call__(self, value: str) -> int:
        """The label index of ``value``; ValueError (saying why) when it is no label."""
        v = value.strip()
        if v not in self._seen:
            found = self._resolve(v)
            self._seen[v] = UNLABELLED if found is None else self._add(found)
        return self._seen[v]

    def _add(self, label: Label) -> int:
        for k, old in enumerate(self.labels):
            if old.classes == label.classes:
                return k
        self.labels.append(label)
        return len(self.labels) - 1

    def _resolve(self, v: str) -> Label | None:
        from harness.labels.wordnet import normal

        if normal(v) in self.label_map:
            return self._target(v, self.label_map[normal(v)])
        return self._plain(v)

    def _plain(self, v: str) -> Label | None:
        """A label as an exact class, else as a WordNet id or word."""
        try:
            i = self.exact(v)
        except ValueError as e:
            return self._wordnet(v, e)
        wnid = self.wnids[i] if self.wnids else ""
        if v.isdigit() or WNID.match(v) or not wnid:  # an index or a wnid: the class alone
            return Label(v, (i,), "class", wnid, self.categories[i])
        return self._class_name(v, i, wnid)

    def _class_name(self, v: str, i: int, wnid: str) -> Label:
        """A class's name, which is a word too (rule 2 of the module's docstring).

        The class, unless the word also names other synsets holding classes of the
        model (torchvision's ``crane`` is the machine's name and the bird's word):
        then it stops as an ambiguous word does. Where more of the model's classes lie
        under the class's synset (timm's 22k/12k: ``fox``), all of them, with a note.
        """
        from harness.labels.wordnet import load

        wn = load()
        own = self.under(wnid)
        held = {s: self.under(s) for s in wn.synsets(v) if s != wnid}
        if others := {s: c for s, c in held.items() if c and not set(c) <= set(own)}:
            raise self._ambiguous(v, {wnid: own, **others}, wn.name)
        if len(own) == 1:
            return Label(v, (i,), "class", wnid, self.categories[i])
        more = [self.categories[c] for c in own if c != i]
        shown = ", ".join(more[:3]) + (", ..." if len(more) > 3 else "")
        self.notes.append(
            f"label {v!r}: the class {i} {self.categories[i]} and {len(more)} more of the "
            f"model's classes under its synset {wnid} ({shown}): it stands for all "
            f"{len(own)}, as a word does; the index {i} or the wnid {wnid} means the "
            "class alone"
        )
        return Label(v, own, "word", wnid, wn.name(wnid))

    def _target(self, v: str, target: str) -> Label:
        """A --label-map row's label: the union of its target's parts."""
        classes: set[int] = set()
        one = None
        for part in target.split(";"):
            try:
                p = part.strip()  # a wnid means its whole synset, even where it is a class
                found = (
                    self._wordnet(p, ValueError(f"{p} (unknown WordNet id)"))
                    if WNID.match(p)
                    else self._plain(p)
                )
            except (ValueError, HarnessError) as e:
                raise HarnessError(f"--label-map: {v!r} -> {part.strip()!r}: {e}") from None
            if found is None:
                raise HarnessError(f"--label-map: {v!r} -> {part.strip()!r} names no class")
            classes |= set(found.classes)
            one = found
        if one is not None and ";" not in target and one.wnid:
            return Label(v, one.classes, "label-map", one.wnid, one.words)
        return Label(v, tuple(sorted(classes)), "label-map")

    def under(self, wnid: str) -> tuple[int, ...]:
        """The model's classes that lie under the synset ``wnid`` (itself included)."""
        if self._under is None:
            from harness.labels.wordnet import load

            wn = load()
            self._under = {w: wn.ancestors(w) for w in dict.fromkeys(self.wnids) if w}
        return tuple(i for i, w in enumerate(self.wnids) if w and wnid in self._under[w])

    def _wordnet(self, v: str, unknown: ValueError) -> Label | None:
        from harness.labels.wordnet import load

        wn = load()
        if not any(w in wn.parents for w in self.wnids):  # classes that are no synsets
            raise unknown
        if WNID.match(v):
            synsets: tuple[str, ...] = (v,) if v in wn.words else ()
        else:
            synsets = wn.synsets(v)
        if not synsets:
            raise unknown
        held = {s: self.under(s) for s in synsets}
        held = {s: c for s, c in held.items() if c}
        how = "wnid" if WNID.match(v) else "word"
        if not held:
            self.empty[v] = "; ".join(f"{s} {wn.name(s)}" for s in synsets)
            self.notes.append(
                f"label {v!r} ({self.empty[v]}): no class of the model lies under it: its "
                "images are evaluated unlabelled"
            )
            return None
        best = self._choose(v, held, wn.name)
        if how == "word":
            self._later_word(v, best, wn)
        return Label(v, held[best], how, best, wn.name(best))

    def _choose(self, v: str, held: dict[str, tuple[int, ...]], name: Any) -> str:
        """The synset an ambiguous word stands for (the rule in the module's docstring)."""
        ranked = sorted(held, key=lambda s: -len(held[s]))
        if len(ranked) == 1:
            return ranked[0]
        best, rest = ranked[0], ranked[1:]
        if all(len(held[best]) >= DOMINANT * len(held[s]) for s in rest):
            others = "; ".join(f"{s} {name(s)} ({len(held[s])})" for s in rest)
            self.notes.append(
                f"label {v!r}: took {best} {name(best)} ({len(held[best])} classes), the "
                f"synset with the most; it also names {others}: a wnid or --label-map "
                "chooses another"
            )
            return best
        raise self._ambiguous(v, held, name)

    def _ambiguous(self, v: str, held: dict[str, tuple[int, ...]], name: Any) -> HarnessError:
        """The one line that stops a run on an ambiguous label, listing the candidates."""
        listed = "; ".join(
            f"{s} {name(s)} ({len(held[s])} classes, e.g. {self.categories[held[s][0]]})"
            for s in sorted(held, key=lambda s: -len(held[s]))
        )
        return HarnessError(
            f"label {v!r} is ambiguous: {listed}; name the folder (or label) by one of "
            "these wnids, or map it with --label-map FILE (rows label,wnid)"
        )

    def _later_word(self, v: str, best: str, wn: Any) -> None:
        """A note where ``v`` is also a later word of synsets with other classes (``cat``
        of "big cat, cat"): the first-word rule took ``best``, and says so.
        """
        mine = set(self.under(best))
        other = [s for s in wn.later_synsets(v) if set(self.under(s)) - mine]
        if other:
            named = "; ".join(f"{s} {wn.name(s)} ({len(self.under(s))} classes)" for s in other)
            self.notes.append(
                f"label {v!r}: took {best} {wn.name(best)} ({len(mine)} classes), whose first "
                f"word it is; it is a later word of {named}: a wnid or --label-map chooses that"
            )


def named(
    option: str, values: Sequence[str], categories: Sequence[str], wnids: Sequence[str]
) -> tuple[list[Label], list[str]]:
    """The labels named by a command's option (``--under fox``, ``--labels-of fox,dog``),
    once each, and the resolver's notes; a value that is no label, is ambiguous or has no
    class of the model under it is a HarnessError of one line naming the option.
    """
    r = Resolver(categories, wnids)
    found: list[Label] = []
    for v in values:
        try:
            k = r(v)
        except (ValueError, HarnessError) as e:  # no label, or an ambiguous one
            raise HarnessError(f"{option} {v}: {e}") from None
        if k == UNLABELLED:
            raise HarnessError(f"{option} {v} ({r.empty[v]}): no class of the model lies under it")
        found += [r.labels[k]] if r.labels[k] not in found else []
    return found, r.notes


def check_nested(labels: Sequence[Label]) -> None:
    """Raise a HarnessError where two labels share classes (``animal`` and ``dog``)."""
    for k, a in enumerate(labels):
        for b in labels[k + 1 :]:
            common = set(a.classes) & set(b.classes)
            if not common:
                continue
            inner, outer = (a, b) if len(a.classes) <= len(b.classes) else (b, a)
            how = "lies under" if set(inner.classes) <= set(outer.classes) else "overlaps"
            raise HarnessError(
                f"labels {outer.name!r} and {inner.name!r} share {len(common)} "
                f"class{'es' * (len(common) != 1)} "
                f"({inner.name!r} {how} {outer.name!r}): a photo would be right under "
                "both; give disjoint labels"
            )
