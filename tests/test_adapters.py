"""Dataset adapters read tiny copies of each published layout, built from real WikiArt images."""

from __future__ import annotations

import shutil
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from artlens.data.datasets import DATASETS, AdapterResult, DatasetAdapter, describe_datasets, load_dataset
from artlens.errors import ArtlensError


@pytest.fixture(scope="module")
def jpgs(artdata) -> list[Path]:
    """A pool of real jpgs (read-only source; tests copy them)."""
    pool = []
    for style in ("Baroque", "Impressionism", "Cubism", "Pop_Art"):
        pool += sorted((artdata / "wikiart11" / style).glob("*.jpg"))[:6]
    return pool


def put(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    return dest


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ArtlensError) as err:
        fn(*args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def labels(res: AdapterResult) -> Counter:
    return Counter((s.split, s.label) for s in res.samples)


# -- registry / options ------------------------------------------------------------------------

def test_registry_lists_every_adapter_with_description_and_layout():
    assert DATASETS.names() == ["artbench10", "wikiart", "pandora18k", "best-artworks", "ai-artbench", "met"]
    for name in DATASETS.names():
        a = DATASETS.get(name)
        assert isinstance(a, DatasetAdapter) and a.name == name
        assert a.description and "\n" not in a.description and a.layout
    table = {d["name"]: d for d in describe_datasets()}
    assert list(table) == DATASETS.names()
    assert set(table["ai-artbench"]["options"]) == {"label", "per_class", "seed"}


def test_unknown_dataset_and_option_and_missing_root(tmp_path):
    msg = one_line_error(load_dataset, "wikiartt", tmp_path)
    assert "wikiart" in msg
    msg = one_line_error(load_dataset, "wikiart", tmp_path, lable="artist")
    assert "lable" in msg and "label" in msg and "task" in msg
    msg = one_line_error(load_dataset, "pandora18k", tmp_path, label="x")
    assert "label" in msg and "none" in msg
    msg = one_line_error(load_dataset, "artbench10", tmp_path / "nope")
    assert "does not exist" in msg and "train" in msg


# -- ArtBench-10 -------------------------------------------------------------------------------

@pytest.fixture
def artbench(tmp_path, jpgs) -> Path:
    base = tmp_path / "artbench-10-imagefolder-split"
    k = 0
    for split, n in (("train", 2), ("test", 1)):
        for style in ("ukiyo_e", "surrealism", "baroque"):
            for i in range(n):
                put(jpgs[k % len(jpgs)], base / split / style / f"{style}-{split}-{i}.jpg")
                k += 1
    return tmp_path


def test_artbench10_parent_or_folder_and_classes(artbench):
    for root in (artbench, artbench / "artbench-10-imagefolder-split"):
        res = load_dataset("artbench10", root)
        assert labels(res) == {(sp, st): n for sp, n in (("train", 2), ("test", 1))
                               for st in ("ukiyo_e", "surrealism", "baroque")}
        assert res.skipped_rows == []
    res = load_dataset("artbench10", artbench, classes=["ukiyo_e", "surrealism"])
    assert {s.label for s in res.samples} == {"ukiyo_e", "surrealism"}
    msg = one_line_error(load_dataset, "artbench10", artbench, classes=["ukiyoe"])
    assert "ukiyoe" in msg and "ukiyo_e" in msg


def test_artbench10_wrong_root_lists_what_is_there(tmp_path, jpgs):
    put(jpgs[0], tmp_path / "Baroque" / "a.jpg")
    (tmp_path / "notes.txt").write_text("x")
    msg = one_line_error(load_dataset, "artbench10", tmp_path)
    assert "train" in msg and "Baroque/" in msg and "notes.txt" in msg


# -- WikiArt -----------------------------------------------------------------------------------

WIKI_STYLES = ("Baroque", "Impressionism")


@pytest.fixture
def wikiart(tmp_path, artdata) -> Path:
    root = tmp_path / "wikiart"
    for style in WIKI_STYLES:
        for p in sorted((artdata / "wikiart11" / style).glob("*.jpg"))[:3]:
            put(p, root / style / p.name)
    return root


def test_wikiart_folders_style_and_artist(wikiart):
    res = load_dataset("wikiart", wikiart)
    assert labels(res) == {(None, "Baroque"): 3, (None, "Impressionism"): 3}
    res = load_dataset("wikiart", wikiart, label="artist")
    for s in res.samples:
        assert s.label == Path(s.path).name.split("_")[0] and "_" not in s.label
    assert "adriaen-brouwer" in {s.label for s in res.samples}
    msg = one_line_error(load_dataset, "wikiart", wikiart, label="genre")
    assert "genre" in msg and "artist" in msg
    msg = one_line_error(load_dataset, "wikiart", wikiart, task="style")
    assert "style_train.csv" in msg
    parent = load_dataset("wikiart", wikiart.parent)  # the parent of the release's wikiart/ folder works too
    assert labels(parent) == {(None, "Baroque"): 3, (None, "Impressionism"): 3}


def _write_wikiart_csvs(csv_dir: Path, images_root: Path) -> list[str]:
    files = sorted(str(p.relative_to(images_root)) for p in images_root.rglob("*.jpg"))
    csv_dir.mkdir(parents=True, exist_ok=True)
    (csv_dir / "style_class.txt").write_text("0 Baroque\n1 Impressionism\n2 Cubism\n")
    (csv_dir / "genre_class.txt").write_text("0 portrait\n1 landscape\n")
    style = lambda f: 0 if f.startswith("Baroque") else 1  # noqa: E731
    train = [f"{f},{style(f)}" for f in files[:4]] + ["Baroque/missing-painting.jpg,0", f"{files[0]},0",
                                                       f"{files[1]},7"]
    (csv_dir / "style_train.csv").write_text("\n".join(train) + "\n")
    (csv_dir / "style_val.csv").write_text("\n".join(f"{f},{style(f)}" for f in files[4:]) + "\n")
    (csv_dir / "genre_train.csv").write_text("\n".join(f"{f},{i % 2}" for i, f in enumerate(files)) + "\n")
    return files


@pytest.mark.parametrize("beside", [False, True], ids=["csv-in-root", "wikiart_csv-folder"])
def test_wikiart_csv_splits_tasks_and_skipped_rows(wikiart, beside):
    if beside:  # ArtGAN release: <root>/wikiart/<Style>/..., <root>/wikiart_csv/*.csv
        root = wikiart.parent
        files = _write_wikiart_csvs(root / "wikiart_csv", wikiart)
    else:
        root = wikiart
        files = _write_wikiart_csvs(wikiart, wikiart)
    res = load_dataset("wikiart", root)
    assert Counter(s.split for s in res.samples) == {"train": 4, "val": 2}
    assert all(Path(s.path).is_file() for s in res.samples)
    by_path = {Path(s.path).relative_to(wikiart).as_posix(): s.label for s in res.samples}
    assert by_path == {f: f.split("/")[0] for f in files}
    reasons = sorted(r["reason"].split(" ")[0] for r in res.skipped_rows)
    assert reasons == ["duplicate", "missing", "unknown"]
    assert all("style_train.csv:" in r["source"] for r in res.skipped_rows)

    genre = load_dataset("wikiart", root, task="genre")
    assert {s.label for s in genre.samples} == {"portrait", "landscape"}
    assert {s.split for s in genre.samples} == {"train"}
    msg = one_line_error(load_dataset, "wikiart", root, task="artist")
    assert "artist_train.csv" in msg
    msg = one_line_error(load_dataset, "wikiart", root, label="artist")
    assert "task" in msg


def test_wikiart_missing_class_file_is_one_line(wikiart):
    _write_wikiart_csvs(wikiart, wikiart)
    (wikiart / "style_class.txt").unlink()
    msg = one_line_error(load_dataset, "wikiart", wikiart)
    assert "style_class.txt" in msg


def test_wikiart_artgan_rows_unicode_forms_and_encodings(wikiart):
    """ArtGAN's own files write ``path,,index`` under a header; macOS unzips accents as NFD."""
    painting = next((wikiart / "Baroque").glob("*.jpg"))
    shutil.copy(painting, wikiart / "Baroque" / unicodedata.normalize("NFD", "ecce-homo-\u00e9.jpg"))
    rows = ["(Path to image),, (Groundtruth class)", f"Baroque/{painting.name},,0",
            unicodedata.normalize("NFC", "Baroque/ecce-homo-\u00e9.jpg") + ",,0"]
    (wikiart / "style_train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (wikiart / "style_class.txt").write_text("0 Baroque\n1 Impressionism\n")
    res = load_dataset("wikiart", wikiart)
    assert labels(res) == {("train", "Baroque"): 2}
    assert [r["reason"].split(" (")[0] for r in res.skipped_rows] == ["malformed row"]  # the header only
    (wikiart / "style_class.txt").write_bytes("0 Barock\n1 Impressionismus f\u00fcr alle\n".encode("cp1252"))
    msg = one_line_error(load_dataset, "wikiart", wikiart)
    assert msg.startswith(f"{wikiart / 'style_class.txt'}: not UTF-8 text") and "save the class file as UTF-8" in msg


def test_wikiart_wrong_root(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    msg = one_line_error(load_dataset, "wikiart", tmp_path)
    assert "readme.md" in msg and "expected" in msg


# -- Pandora 18k -------------------------------------------------------------------------------

def test_pandora_nested_artists_label_is_movement(tmp_path, jpgs):
    put(jpgs[0], tmp_path / "Baroque" / "Rubens" / "a.jpg")
    put(jpgs[1], tmp_path / "Baroque" / "Caravaggio" / "b.jpg")
    put(jpgs[2], tmp_path / "Baroque" / "c.jpg")
    put(jpgs[8], tmp_path / "Impressionism" / "Monet" / "d.jpg")
    res = load_dataset("pandora18k", tmp_path)
    assert labels(res) == {(None, "Baroque"): 3, (None, "Impressionism"): 1}
    (tmp_path / "empty").mkdir()
    msg = one_line_error(load_dataset, "pandora18k", tmp_path / "empty")
    assert "movement" in msg and "empty folder" in msg


def test_pandora_and_wikiart_copies_split_by_hand_keep_their_split(tmp_path, jpgs):
    """train/ and test/ folders above the movements are a split, never two classes."""
    for split, files in (("train", jpgs[0:2] + jpgs[8:10]), ("test", [jpgs[2], jpgs[10]])):
        for f in files:
            put(f, tmp_path / split / ("Baroque" if f in jpgs[:6] else "Impressionism") / "artist" / f.name)
    for name in ("pandora18k", "wikiart"):
        res = load_dataset(name, tmp_path)
        assert labels(res) == {("train", "Baroque"): 2, ("train", "Impressionism"): 2,
                               ("test", "Baroque"): 1, ("test", "Impressionism"): 1}


def test_pandora_root_one_level_too_high_or_zipped_on_a_mac(tmp_path, jpgs):
    """The unzipped top folder alone would label every painting 'Pandora18k' and score 100 %."""
    put(jpgs[0], tmp_path / "Pandora18k" / "Baroque" / "Rubens" / "a.jpg")
    put(jpgs[8], tmp_path / "Pandora18k" / "Impressionism" / "Monet" / "d.jpg")
    msg = one_line_error(load_dataset, "pandora18k", tmp_path)
    assert f"one movement folder only (Pandora18k/); if the movements are inside it, pass {tmp_path / 'Pandora18k'}" in msg
    (tmp_path / "Pandora18k" / "__MACOSX" / "Baroque").mkdir(parents=True)
    (tmp_path / "Pandora18k" / "__MACOSX" / "Baroque" / "._a.jpg").write_bytes(b"\x00\x05\x16\x07")
    res = load_dataset("pandora18k", tmp_path / "Pandora18k")
    assert labels(res) == {(None, "Baroque"): 1, (None, "Impressionism"): 1}


# -- Best Artworks of All Time -----------------------------------------------------------------

@pytest.fixture
def best(tmp_path, jpgs) -> Path:
    artists = [("0", "Vincent van Gogh", "877"), ("1", "Albrecht Dürer", "328"), ("2", "Frida Kahlo", "120"),
               ("3", "Paul Klee", "188")]
    lines = ["id,name,years,genre,nationality,bio,wikipedia,paintings"]
    lines += [f'{i},{n},1800 - 1900,"Post-Impressionism,Other",Dutch,"A bio, with commas",http://x,{c}'
              for i, n, c in artists]
    (tmp_path / "artists.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    folders = {"Vincent van Gogh": "Vincent_van_Gogh",
               "Albrecht Dürer": "Albrecht_Du╠Иrer",  # the known quirk of the real download
               "Frida Kahlo": unicodedata.normalize("NFD", "Frida_Kahlo")}
    k = 0
    for name, folder in folders.items():
        for n in range(1, 3):
            put(jpgs[k], tmp_path / "images" / "images" / folder / f"{folder}_{n}.jpg")
            put(jpgs[k], tmp_path / "resized" / "resized" / f"{folder}_{n}.jpg")
            k += 1
    return tmp_path


def test_best_artworks_folders_quirk_and_min_paintings(best):
    res = load_dataset("best-artworks", best)
    assert labels(res) == {(None, "Vincent van Gogh"): 2, (None, "Albrecht Dürer"): 2, (None, "Frida Kahlo"): 2}
    assert [r["row"]["name"] for r in res.skipped_rows] == ["Paul Klee"]
    assert "no images" in res.skipped_rows[0]["reason"]
    res = load_dataset("best-artworks", best, min_paintings=200)
    assert {s.label for s in res.samples} == {"Vincent van Gogh", "Albrecht Dürer"}
    assert res.skipped_rows == []


def test_best_artworks_same_artist_twice_and_a_spreadsheet_csv(best, jpgs):
    """Kaggle's download holds Dürer twice (one name zip-mangled): one folder is kept, the other reported."""
    for n in range(1, 4):
        put(jpgs[10 + n], best / "images" / "images" / "Albrecht_D\u00fcrer" / f"Albrecht_D\u00fcrer_{n}.jpg")
    res = load_dataset("best-artworks", best)
    assert {Path(s.path).parent.name for s in res.samples if s.label == "Albrecht D\u00fcrer"} == {"Albrecht_D\u00fcrer"}
    assert labels(res)[(None, "Albrecht D\u00fcrer")] == 3
    assert [r["reason"] for r in res.skipped_rows if "folder" in r["row"]] == [
        "same artist as Albrecht_D\u00fcrer/; kept that one"]
    (best / "artists.csv").write_bytes((best / "artists.csv").read_text(encoding="utf-8").encode("cp1252"))
    msg = one_line_error(load_dataset, "best-artworks", best)
    assert msg.startswith(f"{best / 'artists.csv'}: not UTF-8 text") and "save it as UTF-8" in msg


def test_best_artworks_resized(best):
    res = load_dataset("best-artworks", best, resized=True, min_paintings=200)
    assert labels(res) == {(None, "Vincent van Gogh"): 2, (None, "Albrecht Dürer"): 2}
    assert all("resized" in s.path for s in res.samples)


def test_best_artworks_wrong_root(best):
    shutil.rmtree(best / "resized")
    msg = one_line_error(load_dataset, "best-artworks", best, resized=True)
    assert "resized" in msg and "artists.csv" in msg
    msg = one_line_error(load_dataset, "best-artworks", best / "images")
    assert "artists.csv" in msg and "images/" in msg


# -- AI-ArtBench -------------------------------------------------------------------------------

@pytest.fixture
def ai_artbench(tmp_path, jpgs) -> Path:
    k = 0
    for split, n in (("train", 3), ("test", 1)):
        for folder in ("AI_LD_baroque", "AI_SD_baroque", "baroque", "AI_LD_ukiyo_e", "AI_SD_ukiyo_e", "ukiyo_e"):
            for i in range(n):
                put(jpgs[k % len(jpgs)], tmp_path / split / folder / f"{i}.jpg")
                k += 1
    return tmp_path


def test_ai_artbench_label_modes(ai_artbench):
    def counts(label):
        return labels(load_dataset("ai-artbench", ai_artbench, label=label))

    assert counts("style") == {("train", "baroque"): 9, ("train", "ukiyo_e"): 9,
                               ("test", "baroque"): 3, ("test", "ukiyo_e"): 3}
    assert counts("origin") == {("train", "AI"): 12, ("train", "human"): 6, ("test", "AI"): 4, ("test", "human"): 2}
    assert counts("origin_style")[("train", "AI_ukiyo_e")] == 6
    assert counts("origin_style")[("train", "human_ukiyo_e")] == 3
    gen = counts("generator_style")
    assert {lab for _, lab in gen} == {"AI_LD_baroque", "AI_SD_baroque", "human_baroque",
                                       "AI_LD_ukiyo_e", "AI_SD_ukiyo_e", "human_ukiyo_e"}
    msg = one_line_error(load_dataset, "ai-artbench", ai_artbench, label="generator")
    assert "generator_style" in msg


def test_ai_artbench_per_class_balances_label_and_origin(ai_artbench):
    res = load_dataset("ai-artbench", ai_artbench, label="style", per_class=2, seed=1)
    c = Counter((s.split, s.label, "AI" if "/AI_" in s.path else "human") for s in res.samples)
    assert all(n == 2 for (split, _, _), n in c.items() if split == "train")
    assert len(c) == 8  # test split: 2 AI images (LD+SD) and 1 human image per style, all under the cap
    assert all(n == (2 if origin == "AI" else 1) for (split, _, origin), n in c.items() if split == "test")
    again = load_dataset("ai-artbench", ai_artbench, label="style", per_class=2, seed=1)
    assert [s.path for s in again.samples] == [s.path for s in res.samples]
    picks = {seed: {s.path for s in load_dataset("ai-artbench", ai_artbench, label="origin", per_class=1,
                                                 seed=seed).samples} for seed in range(4)}
    assert len({frozenset(v) for v in picks.values()}) > 1  # the seed matters
    other = {s.path for s in load_dataset("ai-artbench", ai_artbench, label="style", per_class=1, seed=5).samples}
    assert other <= {s.path for s in load_dataset("ai-artbench", ai_artbench, label="style").samples}
    for bad in (0, "two", True, 1.5):
        assert "per_class" in one_line_error(load_dataset, "ai-artbench", ai_artbench, per_class=bad)
    assert len(load_dataset("ai-artbench", ai_artbench, per_class="1").samples) == 8  # 4 origin_style x 2 splits


def test_ai_artbench_wrong_root(tmp_path, jpgs):
    put(jpgs[0], tmp_path / "baroque" / "a.jpg")
    msg = one_line_error(load_dataset, "ai-artbench", tmp_path)
    assert "train" in msg and "baroque/" in msg


# -- The Met -----------------------------------------------------------------------------------

@pytest.fixture
def met(tmp_path, jpgs) -> Path:
    """MetObjects.csv as the Met writes it: Asian and American works carry a Culture, European
    paintings only the painter's nationality (pipe-separated when several)."""
    rows = [("1", "Paintings", "British", "", ""), ("2", "Paintings", "", "England", ""),
            ("3", "Paintings", "French", "", ""), ("4", "Prints", "British", "", ""), ("5", "Paintings", "Japan", "", ""),
            ("6", "Paintings", "", "", ""), ("7", "Paintings", "French", "France", ""),
            ("8", "Paintings", "", "", "Flemish|Dutch"), ("9", "Paintings", "", "", "Dutch"),
            ("10", "Paintings", '"India (Basohli, Jammu)"', "", "")]
    lines = ["Object Number,Is Highlight,Is Public Domain,Object ID,Department,Classification,Culture,Country,"
             "Artist Nationality"]
    lines += [f"X.{oid},False,True,{oid},European Paintings,{cls},{cul},{cty},{nat}" for oid, cls, cul, cty, nat in rows]
    (tmp_path / "MetObjects.csv").write_text("\n".join(lines) + "\n")
    for i, oid in enumerate(("1", "2", "3", "4", "5", "6", "8", "9", "10")):
        put(jpgs[i], tmp_path / "images" / f"{oid}.jpg")
    return tmp_path


def test_met_paintings_by_culture_and_skipped(met):
    res = load_dataset("met", met)
    assert labels(res) == {(None, "British"): 1, (None, "England"): 1, (None, "French"): 1, (None, "Japan"): 1,
                           (None, "Flemish"): 1, (None, "Dutch"): 1, (None, "India (Basohli, Jammu)"): 1}
    reasons = {r["row"]["Object ID"]: r["reason"] for r in res.skipped_rows}
    assert reasons == {"6": "no Culture, Country or Artist Nationality", "7": "missing image"}


def test_met_skipped_rows_name_the_line_a_row_starts_on(met):
    """MetObjects.csv has quoted fields that span lines: the report points at the line in the file."""
    csv_path = met / "MetObjects.csv"
    csv_path.write_text(csv_path.read_text().replace("X.1,False,True,1,European Paintings",
                                                     'X.1,False,True,1,"European\r\nPaintings"'))
    sources = {r["row"]["Object ID"]: r["source"] for r in load_dataset("met", met).skipped_rows}
    assert sources == {"6": "MetObjects.csv:8", "7": "MetObjects.csv:9"}


def test_met_groups_and_min_count(met):
    (met / "groups.yaml").write_text("British: [England, United Kingdom, British]\nFrench: [French, France]\n")
    res = load_dataset("met", met, groups=met / "groups.yaml")
    assert labels(res) == {(None, "British"): 2, (None, "French"): 1}
    assert any("not in any group" in r["reason"] for r in res.skipped_rows)
    res = load_dataset("met", met, groups=str(met / "groups.yaml"), min_count=2)
    assert labels(res) == {(None, "British"): 2}
    assert any(r["reason"] == "group 'French' has 1 < min_count 2 images" for r in res.skipped_rows)
    shipped = load_dataset("met", met, groups="default")  # England + British merged, Japan -> Japanese
    assert labels(shipped) == {(None, "British"): 2, (None, "French"): 1, (None, "Japanese"): 1,
                               (None, "Flemish"): 1, (None, "Dutch"): 1, (None, "Indian"): 1}  # the study's 11 groups
    msg = one_line_error(load_dataset, "met", met, groups=met / "nope.yaml")
    assert "nope.yaml" in msg
    msg = one_line_error(load_dataset, "met", met / "images")
    assert "MetObjects.csv" in msg


def _write_batches(folder: Path, jpgs: list[Path]) -> None:
    """A miniature ArtBench-10 python release: CIFAR-style pickled batches of 32x32 images."""
    import pickle

    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    arrays = [np.asarray(Image.open(p).convert("RGB").resize((32, 32))).transpose(2, 0, 1).reshape(-1) for p in jpgs]
    styles = ["art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "realism",
              "renaissance", "romanticism", "surrealism", "ukiyo_e"]
    with (folder / "meta").open("wb") as f:
        pickle.dump({"styles": styles}, f)
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        picked = [arrays[(k + j) % len(arrays)] for j in range(2)]
        with (folder / name).open("wb") as f:
            pickle.dump({"data": np.stack(picked), "labels": [1, 9], "filenames": ["a", "b"]}, f)


def test_artbench10_python_release_is_unpickled_safely_and_cached_as_pngs(tmp_path, jpgs):
    import numpy as np

    from artlens.data.datasets.artbench import _read_batch

    batches = tmp_path / "artbench-10-python" / "artbench-10-batches-py"
    _write_batches(batches, jpgs[:4])
    res = load_dataset("artbench10", tmp_path, cache_dir=str(tmp_path / "cache"))
    assert len(res.samples) == 12 and {s.split for s in res.samples} == {"train", "test"}
    assert {s.label for s in res.samples} == {"baroque", "ukiyo_e"}
    from PIL import Image

    assert Image.open(res.samples[0].path).size == (32, 32)
    again = load_dataset("artbench10", batches, cache_dir=str(tmp_path / "cache"))
    assert [s.path for s in again.samples] == [s.path for s in res.samples]
    # Another copy of the release with other pixels shares the default cache folder, never its PNGs.
    other = tmp_path / "other" / "artbench-10-batches-py"
    _write_batches(other, jpgs[4:8])
    theirs = load_dataset("artbench10", other, cache_dir=str(tmp_path / "cache")).samples
    first = _read_batch(other / "data_batch_1")["data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert (np.asarray(Image.open(theirs[0].path)) == first).all()
    assert not list((tmp_path / "cache").rglob(".*.tmp"))


def test_artbench10_python_release_refuses_code_in_a_pickle(tmp_path, jpgs):
    import os
    import pickle

    batches = tmp_path / "artbench-10-batches-py"
    _write_batches(batches, jpgs[:2])

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (batches / "meta").write_bytes(pickle.dumps({"styles": Evil()}))
    msg = one_line_error(load_dataset, "artbench10", batches, cache_dir=str(tmp_path / "c"))
    assert "not a safe ArtBench/CIFAR batch (refused to load posix.system)" in msg
