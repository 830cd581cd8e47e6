"""The near-duplicate search's index: exact (every pair of hashes) or IVF (k-means cells, approximate).

The IVF is forced on small real inputs, where ``auto`` would choose the exact search, and must find the
same duplicate pairs: wikiart11's 3,300 paintings (with its label conflicts: the same painting under
two styles) and a small tree with planted copies. The choice is one field, ``DataConfig.dedupe_index``,
whose flag ``--dedupe-index`` reaches ``artlens data profile`` and ``artlens train --dedupe``; the
profile report says which index ran and whether it was approximate.
"""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from artlens import ArtlensError, DataConfig
from artlens.cli import app
from artlens.data import Collection, Sample, load_collection
from artlens.data.dataset import drop_cross_split_duplicates
from artlens.data.dedupe import IVF_FROM, duplicate_pairs, image_signatures, pair_search
from artlens.data.images import iter_image_files
from artlens.data.profile import profile_collection


@pytest.fixture(scope="module")
def planted(artdata, tmp_path_factory):
    """Two styles of real paintings plus an exact copy (same class), a resized re-save (other class)
    and a cropped, re-encoded copy (other split)."""
    root = tmp_path_factory.mktemp("dedupe_index") / "data"
    for style in ("Baroque", "Cubism"):
        for split, files in (("train", slice(0, 8)), ("test", slice(8, 10))):
            (root / split / style).mkdir(parents=True, exist_ok=True)
            for p in sorted((artdata / "wikiart11" / style).glob("*.jpg"))[files]:
                shutil.copy(p, root / split / style / p.name)
    baroque = sorted((root / "train" / "Baroque").glob("*.jpg"))
    shutil.copy(baroque[0], root / "train" / "Baroque" / "exact_copy.jpg")
    with Image.open(baroque[1]) as img:
        img.resize((150, 150)).save(root / "train" / "Cubism" / "resaved.jpg", quality=80)
        img.crop((4, 4, img.width - 4, img.height - 4)).save(root / "test" / "Baroque" / "cropped.jpg", quality=70)
    return root


def test_ivf_finds_the_pairs_the_exact_search_finds_on_wikiart11(artdata):
    sig = image_signatures(sorted(iter_image_files(artdata / "wikiart11")), workers=2)
    ivf = pair_search(len(sig.ok), "ivf")
    assert ivf.approximate and ivf.nprobe < ivf.nlist  # a real partial search, not every cell
    exact = duplicate_pairs(sig, sig, same=True, index="exact")
    assert len(exact) >= 10  # wikiart11's real duplicates (the same painting under two styles, ...)
    assert duplicate_pairs(sig, sig, same=True, index="ivf") == exact
    assert duplicate_pairs(sig, sig, same=True) == exact  # auto: exact at this size


def test_auto_switches_to_ivf_for_large_collections():
    assert pair_search(IVF_FROM - 1).index == "exact"
    big = pair_search(IVF_FROM)
    assert (big.index, big.approximate) == ("ivf", True)
    assert pair_search(IVF_FROM, "exact").index == "exact"
    with pytest.raises(ArtlensError, match="not one of auto, exact, ivf"):
        pair_search(10, "hnsw")


def test_profile_records_the_index_and_finds_the_same_pairs(planted, tmp_path):
    collection = load_collection(DataConfig(path=str(planted)), split=False)
    reports = {index: profile_collection(collection, tmp_path / index, workers=2, show_progress=False,
                                         dedupe_index=index) for index in ("auto", "ivf")}
    auto, ivf = reports["auto"]["duplicate_search"], reports["ivf"]["duplicate_search"]
    assert (auto["index"], auto["approximate"], auto["requested"]) == ("exact", False, "auto")
    assert (ivf["index"], ivf["approximate"], ivf["requested"]) == ("ivf", True, "ivf")
    assert reports["ivf"]["duplicates"] == reports["auto"]["duplicates"]
    names = {frozenset(e[k].rsplit("/", 1)[-1] for k in ("path_a", "path_b"))
             for entries in reports["ivf"]["duplicates"].values() for e in entries}
    assert {n for pair in names for n in pair} >= {"exact_copy.jpg", "resaved.jpg", "cropped.jpg"}
    assert "search ivf (approximate" in (tmp_path / "ivf" / "profile.md").read_text()


def test_the_dedupe_index_flag_reaches_the_profile(planted, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "profile", str(planted), "--out", str(tmp_path / "p"),
                                 "--dedupe-index", "ivf"], catch_exceptions=False)
    assert result.exit_code == 0 and "(ivf search, approximate)" in result.output
    assert json.loads((tmp_path / "p" / "profile.json").read_text())["duplicate_search"]["index"] == "ivf"
    bad = runner.invoke(app, ["data", "profile", str(planted), "--out", str(tmp_path / "q"), "--dedupe-index", "bk"])
    assert isinstance(bad.exception, ArtlensError) and "choose from: auto, exact, ivf" in str(bad.exception)
    trained = runner.invoke(app, ["train", "--help"])
    assert "--dedupe-index" in trained.output


def test_train_dedupe_drops_the_same_images_with_either_index(planted):
    samples = [Sample(str(p), p.parent.name, p.parent.parent.name) for p in sorted(planted.rglob("*.jpg"))]
    dropped = {}
    for index in ("exact", "ivf"):
        col = drop_cross_split_duplicates(Collection(list(samples), ["Baroque", "Cubism"]), index)
        dropped[index] = col.duplicates
    assert dropped["ivf"] == dropped["exact"]
    assert [d["path"].rsplit("/", 1)[-1] for d in dropped["exact"]] == ["cropped.jpg"]
