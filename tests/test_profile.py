"""Profiling a small real tree seeded with every problem the profile must catch.

The tree uses a ``train/``/``test/`` layout (splits from folders) with real WikiArt paintings and:
a label conflict (one painting under two styles), a leak (a resized re-save of a training image in
test), an exact copy within a class, a truncated JPEG, a text file named ``.jpg``, a greyscale PNG
and a non-square image. Each check names the exact pairs, so a missed or a spurious pair fails.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from artlens.config import DataConfig
from artlens.data.dataset import load_collection
from artlens.data.profile import profile_collection, write_split_manifest

STYLES = ("Baroque", "Cubism", "Impressionism")


@pytest.fixture(scope="module")
def seeded(artdata: Path, tmp_path_factory) -> dict[str, Path]:
    """Build the tree once; returns the root and the paths of the planted files."""
    root = tmp_path_factory.mktemp("profile") / "data"
    sources = {s: sorted((artdata / "wikiart11" / s).glob("*.jpg"))[:6] for s in STYLES}
    for style, files in sources.items():
        for split, chunk in (("train", files[:3]), ("test", files[3:4])):
            (root / split / style).mkdir(parents=True, exist_ok=True)
            for f in chunk:
                shutil.copy(f, root / split / style / f.name)
    p: dict[str, Path] = {"root": root}
    # label conflict: a Baroque painting also filed under Cubism (same split)
    p["conflict_src"] = root / "train" / "Baroque" / sources["Baroque"][0].name
    p["conflict"] = root / "train" / "Cubism" / "conflict_copy.jpg"
    shutil.copy(p["conflict_src"], p["conflict"])
    # leak: a resized re-save of a training image in the test split
    p["leak_src"] = root / "train" / "Impressionism" / sources["Impressionism"][0].name
    p["leak"] = root / "test" / "Impressionism" / "leak_resized.jpg"
    with Image.open(p["leak_src"]) as img:
        img.resize((160, 160)).save(p["leak"], quality=85)
    # exact copy within a class
    p["exact_src"] = root / "train" / "Cubism" / sources["Cubism"][1].name
    p["exact"] = root / "train" / "Cubism" / "exact_copy.jpg"
    shutil.copy(p["exact_src"], p["exact"])
    # truncated JPEG (header fine, pixels cut) and a text file posing as a JPEG
    data = sources["Baroque"][4].read_bytes()
    p["truncated"] = root / "train" / "Baroque" / "truncated.jpg"
    p["truncated"].write_bytes(data[: len(data) // 3])
    p["text"] = root / "train" / "Cubism" / "notes.jpg"
    p["text"].write_text("this is not an image\n")
    # greyscale PNG and a non-square crop, from paintings used nowhere else
    p["grey"] = root / "train" / "Impressionism" / "grey.png"
    with Image.open(sources["Impressionism"][4]) as img:
        img.convert("L").save(p["grey"])
    p["wide"] = root / "test" / "Baroque" / "wide.jpg"
    with Image.open(sources["Baroque"][5]) as img:
        img.crop((0, 0, 224, 100)).save(p["wide"], quality=92)
    return p


@pytest.fixture(scope="module")
def report(seeded, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("profile_out")
    collection = load_collection(DataConfig(path=str(seeded["root"])), split=False)
    return profile_collection(collection, out, workers=2, show_progress=False), out


def _pairs(entries: list[dict]) -> set[frozenset[str]]:
    return {frozenset((e["path_a"], e["path_b"])) for e in entries}


def test_counts(report):
    rep, _ = report
    assert rep["counts"]["per_split"] == {
        "train": {"Baroque": 4, "Cubism": 6, "Impressionism": 4},
        "test": {"Baroque": 2, "Cubism": 1, "Impressionism": 2},
    }
    assert rep["counts"]["per_class"] == {"Baroque": 6, "Cubism": 7, "Impressionism": 6}
    assert rep["n_samples"] == 19 and rep["n_readable"] == 17


def test_duplicates_sorted_by_kind(report, seeded):
    dup = report[0]["duplicates"]
    s = {k: str(v) for k, v in seeded.items()}
    assert _pairs(dup["within_class"]) == {frozenset((s["exact_src"], s["exact"]))}
    assert _pairs(dup["across_classes"]) == {frozenset((s["conflict_src"], s["conflict"]))}
    assert _pairs(dup["across_splits"]) == {frozenset((s["leak_src"], s["leak"]))}
    leak = dup["across_splits"][0]
    assert (leak["path_a"], leak["split_a"], leak["split_b"]) == (s["leak_src"], "train", "test")
    conflict = dup["across_classes"][0]
    assert {conflict["label_a"], conflict["label_b"]} == {"Baroque", "Cubism"}
    assert all(isinstance(e["phash_distance"], int) and e["phash_distance"] <= 14
               for entries in dup.values() for e in entries)


def test_unreadable_files_have_reasons(report, seeded):
    bad = {u["path"]: u["reason"] for u in report[0]["unreadable"]}
    assert set(bad) == {str(seeded["truncated"]), str(seeded["text"])}
    assert "truncated" in bad[str(seeded["truncated"])]
    assert "not an image" in bad[str(seeded["text"])]


def test_modes_formats_and_sizes(report):
    rep, _ = report
    assert rep["modes"] == {"RGB": 16, "L": 1}
    assert rep["formats"] == {"JPEG": 16, "PNG": 1}
    sizes = rep["sizes"]
    assert sizes["width"]["min"] == 160 and sizes["width"]["max"] == 224  # the resized leak
    assert sizes["height"]["min"] == 100  # the non-square crop
    assert sizes["aspect"]["max"] == pytest.approx(2.24)
    assert sizes["aspect"]["min"] == pytest.approx(1.0)


def test_files_written(report):
    rep, out = report
    for name in ("profile.json", "profile.md", "class_counts.png", "sizes.png", "duplicates_within_class.png",
                 "duplicates_across_classes.png", "duplicates_across_splits.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "profile.json").read_text()) == rep
    md = (out / "profile.md").read_text()
    assert "## Near-duplicates across splits (1)" in md and "leak_resized.jpg" in md
    assert rep["skipped_rows"] == []


def test_split_manifest_round_trip(seeded, tmp_path):
    cfg = DataConfig(path=str(seeded["root"]))
    collection = load_collection(cfg)  # carves val out of train: the split worth sharing
    assert {s.split for s in collection.samples} == {"train", "val", "test"}
    manifest = write_split_manifest(collection, seeded["root"].parent / "split.tsv")
    assert manifest.read_text().splitlines()[0] == "path\tlabel\tsplit"
    assert not manifest.read_text().splitlines()[1].startswith("/")  # relative: shareable with the data
    again = load_collection(DataConfig(path=str(manifest)))
    assert sorted(again.samples, key=lambda s: s.path) == sorted(collection.samples, key=lambda s: s.path)
    elsewhere = write_split_manifest(collection, tmp_path / "elsewhere.tsv")  # not below: absolute paths
    assert elsewhere.read_text().splitlines()[1].startswith("/")
    assert load_collection(DataConfig(path=str(elsewhere))).samples == again.samples
