"""harness.labels: a label as a WordNet id or word, --label-map, the ambiguity rule,
nested labels, and the package's WordNet table checked against ImageNet's originals.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights

from harness.data.datamodule import find_samples
from harness.errors import HarnessError
from harness.labels import wordnet
from harness.labels.label_map import read_label_map
from harness.labels.resolve import UNLABELLED, Resolver
from harness.zoo import registry
from tests.helpers.wordnet_is_a import WORDNET, under

CATS = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]
FOXES = ("red fox", "kit fox", "Arctic fox", "grey fox")


def imagenet() -> Resolver:
    return Resolver(CATS, registry.imagenet_wnids())


def names(r: Resolver, value: str) -> list[str]:
    return [CATS[c] for c in r.labels[r(value)].classes]


@pytest.mark.parametrize("value", ["fox", "Fox", "FOXES", "foxes", " fox ", "n02118333"])
def test_words_wnids_case_and_plurals(value: str) -> None:
    assert names(imagenet(), value) == list(FOXES)


@pytest.mark.parametrize(
    ("value", "wnid", "n"),
    [
        ("dogs", "n02084071", 118),
        ("domestic_cat", "n02121808", 5),
        ("Domestic-Cat", "n02121808", 5),
        ("domestic cats", "n02121808", 5),
        ("bird", "n01503061", 59),
        ("sports_cars", "n04285008", 1),  # a class of its own, in the plural
    ],
)
def test_word_classes(value: str, wnid: str, n: int) -> None:
    r = imagenet()
    label = r.labels[r(value)]
    assert (label.wnid, len(label.classes), label.how) == (wnid, n, "word")


@pytest.mark.skipif(not WORDNET.is_dir(), reason="../shared/data/wordnet is absent")
@pytest.mark.parametrize("wnid", ["n02118333", "n02084071", "n02121808", "n01503061"])
def test_classes_under_a_synset_match_the_original_is_a(wnid: str) -> None:
    r, wnids = imagenet(), registry.imagenet_wnids()
    below = under(wnid)
    expected = tuple(i for i, w in enumerate(wnids) if w in below)
    assert r.labels[r(wnid)].classes == expected


def test_exact_classes_come_first() -> None:
    r = imagenet()
    for value in ("red fox", "277", "n02119022"):
        assert names(r, value) == ["red fox"] and r.labels[r(value)].how == "class"


def test_ambiguous_word_stops_listing_the_candidates() -> None:
    with pytest.raises(HarnessError) as e:
        imagenet()("cranes")
    msg = str(e.value)
    assert "ambiguous" in msg and "\n" not in msg
    assert "n02012849 crane (1 classes, e.g. crane bird)" in msg
    assert "n03126707 crane (1 classes, e.g. crane)" in msg
    assert "--label-map" in msg


def test_a_word_names_the_synsets_it_comes_first_in() -> None:
    """The documented rule for cat: "cat, true cat" (7 classes), not "big cat, cat" (6),
    whose later word it is; a note says so (never a silent choice).
    """
    r = imagenet()
    cat = r.labels[r("cat")]
    assert (cat.wnid, len(cat.classes)) == ("n02121620", 7)
    assert r.notes == [
        "label 'cat': took n02121620 cat, true cat (7 classes), whose first word it is; it "
        "is a later word of n02127808 big cat, cat (6 classes): a wnid or --label-map "
        "chooses that"
    ]
    assert len(r.labels[r("n02127808")].classes) == 6  # the big cats, by their wnid
    with pytest.raises(ValueError, match="no such class"):
        r("sub")  # "submarine, pigboat, sub, U-boat": not its first word


@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_crane_stops_whatever_the_libraries_class_names(library: str) -> None:
    """torchvision names class 517 (the machine) "crane" and 134 "crane bird"; timm names
    both "crane": either way the word crane is the bird and the machine, and stops.
    """
    cats = list(CATS)
    if library == "timm":
        from timm.data import ImageNetInfo

        info = ImageNetInfo("imagenet-1k")
        cats = [info.index_to_description(i).split(",")[0] for i in range(1000)]
    assert (cats[134], cats[517]) == (
        "crane bird" if library == "torchvision" else "crane",
        "crane",
    )
    r = Resolver(cats, registry.imagenet_wnids())
    for value in ("crane", "Cranes"):
        with pytest.raises(HarnessError) as e:
            r(value)
        assert str(e.value).startswith(f"label {value!r} is ambiguous: ")
        assert "n02012849 crane (1 classes" in str(e.value) and "n03126707 crane (1 " in str(
            e.value
        )
    assert r.labels[r("n03126707")].classes == (517,) and r.labels[r("134")].classes == (134,)


def test_a_class_name_that_is_an_ambiguous_word_stops() -> None:
    """torchvision's "amphibian" is the vehicle; the word is also the 8 amphibians' synset."""
    with pytest.raises(HarnessError, match=r"'amphibian' is ambiguous: n01627424 amphibian \(8"):
        imagenet()("amphibian")


def test_dominant_synset_is_taken_with_a_note() -> None:
    r = imagenet()
    car = r.labels[r("car")]
    assert (car.wnid, len(car.classes)) == ("n02958343", 10)
    assert len(r.notes) == 1 and "n02959942 car, railcar" in r.notes[0] and "(2)" in r.notes[0]


def test_word_without_a_class_is_unlabelled_with_a_note() -> None:
    r = imagenet()
    assert r("giraffe") == UNLABELLED
    assert r.notes == [
        "label 'giraffe' (n02439033 giraffe, camelopard, Giraffa camelopardalis): no class "
        "of the model lies under it: its images are evaluated unlabelled"
    ]


def test_not_a_word_is_still_unknown() -> None:
    with pytest.raises(ValueError, match="no such class"):
        imagenet()("holiday snaps")


def test_label_map(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("label,target\ncat,n02121620\nmy_pets,domestic cat;dog\nreds,red fox;3\n")
    r = Resolver(CATS, registry.imagenet_wnids(), read_label_map(str(path)))
    cat = r.labels[r("Cat")]
    assert (cat.wnid, len(cat.classes), cat.how) == ("n02121620", 7, "label-map")
    pets = r.labels[r("my pets")]
    assert len(pets.classes) == 5 + 118 and pets.how == "label-map"
    assert names(r, "reds") == ["tiger shark", "red fox"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("pets,cranes\n", "'pets' -> 'cranes': .*ambiguous"),
        ("pets,qwerty thing\n", "'pets' -> 'qwerty thing':.*no such class"),
        ("pets,giraffe\n", "'pets' -> 'giraffe' names no class"),
    ],
)
def test_label_map_bad_targets(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "map.csv"
    path.write_text(text)
    with pytest.raises(HarnessError, match=why):
        Resolver(CATS, registry.imagenet_wnids(), read_label_map(str(path)))("pets")


def test_label_map_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("a,dog\nA,cat\n")
    with pytest.raises(HarnessError, match=r"'A' is mapped twice \(lines 1 and 2\)"):
        read_label_map(str(path))
    path.write_text("a\n")
    with pytest.raises(HarnessError, match="line 1: expected label,target"):
        read_label_map(str(path))


def image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (9, 99, 199)).save(path)


def test_folders_of_words(tmp_path: Path) -> None:
    for name in ("foxes/a.png", "dog/b.png", "dog/c.png", "red fox/d.png", "giraffe/e.png"):
        image(tmp_path / name)
    with pytest.raises(HarnessError, match="labels 'foxes' and 'red fox' share 1 class "):
        find_samples(tmp_path, CATS, registry.imagenet_wnids())
    (tmp_path / "red fox" / "d.png").rename(tmp_path / "dog" / "d.png")
    (tmp_path / "red fox").rmdir()
    s = find_samples(tmp_path, CATS, registry.imagenet_wnids())
    assert s.label_set is not None
    got = {
        f.name: s.label_set[y].name if y >= 0 else None
        for f, y in zip(s.files, s.labels, strict=True)
    }
    assert got == {"a.png": "foxes", "b.png": "dog", "c.png": "dog", "d.png": "dog", "e.png": None}
    assert any("'giraffe'" in n for n in s.notes)


def test_nested_labels_name_both(tmp_path: Path) -> None:
    image(tmp_path / "animal" / "a.png")
    image(tmp_path / "dog" / "b.png")
    with pytest.raises(HarnessError, match=r"'animal' and 'dog'.*'dog' lies under 'animal'"):
        find_samples(tmp_path, CATS, registry.imagenet_wnids())


def test_labels_file_of_words_and_classes(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    image(tmp_path / "b.png")
    (tmp_path / "labels.csv").write_text("file,label\na.png,Arctic fox\nb.png,dogs\n")
    s = find_samples(tmp_path, CATS, registry.imagenet_wnids(), labels=tmp_path / "labels.csv")
    assert s.label_set is not None
    assert [s.label_set[y].name for y in s.labels] == ["Arctic fox", "dogs"]
    assert s.label_set[s.labels[0]].classes == (279,)


def test_class_labels_stay_class_indices(tmp_path: Path) -> None:
    image(tmp_path / "n02119022" / "a.png")
    image(tmp_path / "kit fox" / "b.png")
    s = find_samples(tmp_path, CATS, registry.imagenet_wnids())
    assert s.label_set is None and sorted(s.labels) == [277, 278]


@pytest.mark.skipif(not WORDNET.is_dir(), reason="../shared/data/wordnet is absent")
def test_imagenet22k_classes_under_a_word(tmp_path: Path) -> None:
    """timm's 22k label space (no model built): a word means the synset and all below it
    (by the original is_a.txt), even where the word is a class's name there ("fox"); the
    class alone is its index or wnid.
    """
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-22k")
    wnids = list(info.label_names())
    cats = [info.index_to_description(i).split(",")[0] for i in range(len(wnids))]
    below = under("n02118333")
    fox = tuple(i for i, w in enumerate(wnids) if w in below)
    assert len(fox) > 5 and cats.index("fox") in fox
    r = Resolver(cats, wnids)
    foxes = r.labels[r("foxes")]  # not a class name: the word, so the synset and below
    assert foxes.classes == fox and foxes.wnid == "n02118333"
    assert r.labels[r("fox")].classes == fox and len(r.notes) == 1  # a class's name: the word
    assert "the class alone" in r.notes[0]
    for alone in ("n02118333", str(cats.index("fox"))):
        assert r.labels[r(alone)].classes == (cats.index("fox"),)
    path = tmp_path / "map.csv"
    path.write_text("fox,n02118333\nthe fox,n02118333;1\n")
    mapped = Resolver(cats, wnids, read_label_map(str(path)))
    assert mapped.labels[mapped("fox")].classes == fox
    assert 1 not in fox and mapped.labels[mapped("the fox")].classes == (1, *fox)


def test_no_imagenet1k_class_lies_under_another() -> None:
    """What lets a 1k model's class names be read without the WordNet table."""
    wn, wnids = wordnet.load(), registry.imagenet_wnids()
    assert all(wn.ancestors(w) & set(wnids) == {w} for w in wnids)


def test_classes_under_a_word(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import main

    args = ["classes", "--model", "squeezenet1_1", "--weights", "none", "--format", "csv"]
    assert main([*args, "--under", "Foxes"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1:] == [
        "277,n02119022,red fox",
        "278,n02119789,kit fox",
        "279,n02120079,Arctic fox",
        "280,n02120505,grey fox",
    ]
    assert "Foxes -> n02118333 fox: 4 classes" in err
    assert main([*args, "--under", "giraffe"]) == 2
    assert capsys.readouterr().err == (
        "harness: error: --under giraffe (n02439033 giraffe, camelopard, Giraffa "
        "camelopardalis): no class of the model lies under it\n"
    )


def test_class_labels_never_read_the_wordnet_table(tmp_path: Path) -> None:
    """No start-up cost where every label is a class's index or wnid (ImageNet's layout):
    the table is read on first need; a name is a word, so it reads the table.
    """
    image(tmp_path / "n02119022" / "a.png")
    image(tmp_path / "278" / "b.png")
    wordnet.load.cache_clear()
    find_samples(tmp_path, CATS, registry.imagenet_wnids())
    assert wordnet.load.cache_info().misses == 0
    find_samples(tmp_path, CATS, registry.imagenet_wnids(), label_map=None)
    image(tmp_path / "kit fox" / "c.png")
    s = find_samples(tmp_path, CATS, registry.imagenet_wnids())
    assert s.label_set is None and sorted(s.labels) == [277, 278, 278]  # kit fox is 278
    assert wordnet.load.cache_info().misses == 1
    image(tmp_path / "foxes" / "c.png")
    with pytest.raises(HarnessError, match="share 1 class "):
        find_samples(tmp_path, CATS, registry.imagenet_wnids())
    assert wordnet.load.cache_info().misses == 1
