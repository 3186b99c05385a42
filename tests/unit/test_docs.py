"""The docs a reader navigates: every relative link resolves, every docs page has a contents list.

Links are checked as GitHub renders them: a relative target is a file of the
checkout (relative to the page), an ``#anchor`` one of the target page's
headings, slugged the way GitHub slugs them. A docs page opens with its title
and a list of links to its own sections, in order, one per ``##``/``###``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = [
    "commands",
    "models",
    "comparing",
    "speed",
    "runtimes",
    "photos",
    "distributed",
    "studies",
    "development",
]
FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^(#{1,6}) +(.+?) *#* *$")
LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)|!\[([^\]]*)\]\(([^)\s]+)\)")


def prose(text: str) -> list[str]:
    """The page's lines with fenced code blocks blanked (their ``#`` and links are not Markdown)."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            lines.append("")
        else:
            lines.append("" if inside else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation out, spaces to -.

    >>> slug("The GPU path: `gpu_check.sh`")
    'the-gpu-path-gpu_checksh'
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    """(level, anchor) of each heading, in order; a repeated anchor gets -1, -2, ... (GitHub)."""
    found: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line in prose(text):
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.append((len(m.group(1)), base if n == 0 else f"{base}-{n}"))
    return found


def links(text: str) -> list[str]:
    """Every link and image target outside code (fenced blocks and inline code spans)."""
    targets = []
    for line in prose(text):
        for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            targets.append(m.group(2) or m.group(4))
    return targets


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file or anchor does not exist, as ``target: why``."""
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md":
            anchors = {a for _, a in headings(file.read_text(encoding="utf-8"))}
            if anchor not in anchors:
                broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


def contents(text: str) -> list[str]:
    """The anchors of the contents list: the first list after the title, of ``#`` links only."""
    lines = prose(text)
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("- [")), None)
    if start is None:
        return []
    anchors = []
    for line in lines[start:]:
        if not line.lstrip().startswith("- ["):
            break
        m = re.match(r"\s*- \[[^\]]*\]\(#([^)]+)\)$", line)
        anchors.append(m.group(1) if m else f"(not an anchor link: {line.strip()})")
    return anchors


def toc_mismatch(text: str) -> list[str]:
    """How the contents list differs from the page's sections (``##`` and ``###``), in order."""
    wanted = [a for level, a in headings(text) if level in (2, 3)]
    listed = contents(text)
    if listed == wanted:
        return []
    return [f"listed {listed}", f"sections {wanted}"]


def all_pages() -> list[Path]:
    docs = sorted((ROOT / "docs").glob("*.md"))
    return [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *docs]


@pytest.mark.parametrize("page", all_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("name", PAGES)
def test_docs_page_has_a_contents_list_of_its_sections(name: str) -> None:
    page = ROOT / "docs" / f"{name}.md"
    assert page.exists(), f"docs/{name}.md is missing"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# "), "a page opens with its title"
    assert contents(text), "no contents list"
    assert toc_mismatch(text) == []


def test_readme_is_short_and_links_every_docs_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    targets = set(links(text))
    assert [p for p in PAGES if f"docs/{p}.md" not in targets] == []


def test_the_checks_catch_a_broken_link_and_a_stale_contents_list(tmp_path: Path) -> None:
    """The checker itself, on a page written by hand: what it must report, and what it must not."""
    (tmp_path / "other.md").write_text("# Other\n\n## Real section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n- [One](#one-two)\n- [Gone](#gone)\n\n## One: `two`\n\n### Three\n\n"
        "[ok](other.md#real-section) [no file](missing.md) [no anchor](other.md#nope)\n"
        "![figure](other.md) [web](https://example.com/x.md) `[code](skipped.md)`\n"
        "```sh\n# not a heading\n[fenced](skipped.md)\n```\n",
        encoding="utf-8",
    )
    assert [b.split(":")[0] for b in broken_links(page)] == ["#gone", "missing.md", "other.md#nope"]
    text = page.read_text(encoding="utf-8")
    assert headings(text) == [(1, "page"), (2, "one-two"), (3, "three")]
    assert toc_mismatch(text) == ["listed ['one-two', 'gone']", "sections ['one-two', 'three']"]
    assert headings("## A\n## A\n") == [(2, "a"), (2, "a-1")]


def tree_sections(text: str) -> dict[str, str]:
    """The layout tree of a page (the fenced block that opens with ``harness/``): each
    folder's (``cli/``) or leaf's (``config.py``) text, by its name."""
    block = re.search(r"```\nharness/[^\n]*\n(.*?)```", text, re.S)
    assert block, "no layout tree"
    sections: dict[str, str] = {}
    name = ""
    for line in block.group(1).splitlines():
        head = re.match(r"  (\S+)\s", line + " ")
        if head:
            name = head.group(1)
        sections[name] = sections.get(name, "") + line + "\n"
    return sections


def missing_from_tree(text: str, package: Path) -> list[str]:
    """The package's folders and modules that the tree does not name where they lie."""
    sections = tree_sections(text)
    missing = []
    for folder in sorted(p for p in package.iterdir() if (p / "__init__.py").is_file()):
        words = set(re.findall(r"[\w.]+", sections.get(f"{folder.name}/", "")))
        missing += [f"{folder.name}/{m.name}" for m in sorted(folder.glob("*.py"))
                    if m.name != "__init__.py" and m.name not in words]  # fmt: skip
        if f"{folder.name}/" not in sections:
            missing.append(f"{folder.name}/")
    leaves = [m.name for m in package.glob("*.py") if not m.name.startswith("__")]
    return missing + sorted(m for m in leaves if m not in sections)


def test_the_layout_tree_names_every_module_where_it_lies() -> None:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    assert missing_from_tree(text, ROOT / "harness") == []


def test_the_readme_tree_names_every_folder_of_the_package() -> None:
    sections = tree_sections((ROOT / "README.md").read_text(encoding="utf-8"))
    package = ROOT / "harness"
    folders = [f"{p.name}/" for p in sorted(package.iterdir()) if (p / "__init__.py").is_file()]
    assert [f for f in folders if f not in sections] == []


def test_the_tree_check_finds_a_module_named_under_another_folder(tmp_path: Path) -> None:
    for path in ("a/__init__.py", "a/one.py", "a/two.py", "b/__init__.py", "b/three.py", "x.py"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text("")
    page = "```\nharness/\n  a/    one.py (the first),\n        three.py\n  b/    b.py\n```\n"
    assert missing_from_tree(page, tmp_path) == ["a/two.py", "b/three.py", "x.py"]
