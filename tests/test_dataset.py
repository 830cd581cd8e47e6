"""Collections from folders and manifests, and a deterministic stratified split."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from artlens import ArtlensError, DataConfig
from artlens.data import Sample, discover, load_collection, stratified_split


def test_folder_tree_gives_one_label_per_subfolder(tiny_tree):
    col = load_collection(DataConfig(path=str(tiny_tree)))
    assert col.classes == ["Baroque", "Pop_Art", "Ukiyo_e"]
    assert len(col.samples) == 30


def test_split_is_stratified_disjoint_and_reproducible(tiny_tree):
    cfg = DataConfig(path=str(tiny_tree), val_fraction=0.2, test_fraction=0.2, seed=3)
    a, b = load_collection(cfg), load_collection(cfg)
    assert [(s.path, s.split) for s in a.samples] == [(s.path, s.split) for s in b.samples]
    for split in ("train", "val", "test"):
        per_class = Counter(s.label for s in a.split(split))
        assert set(per_class) == set(a.classes)
        assert len(set(per_class.values())) == 1  # 10 per class -> same count in every class
    other = load_collection(DataConfig(path=str(tiny_tree), val_fraction=0.2, test_fraction=0.2, seed=4))
    assert {s.path for s in other.split("test")} != {s.path for s in a.split("test")}


def test_every_class_keeps_a_training_image_however_small():
    samples = [Sample("a1.jpg", "a"), Sample("a2.jpg", "a"), Sample("b1.jpg", "b")]
    samples += [Sample(f"c{i}.jpg", "c") for i in range(10)]
    split = stratified_split(samples, val_fraction=0.3, test_fraction=0.3, seed=0)
    counts = Counter((s.label, s.split) for s in split)
    assert counts[("a", "train")] == 1 and counts[("a", "test")] == 1  # val gives way first
    assert counts[("b", "train")] == 1
    assert (counts[("c", "train")], counts[("c", "val")], counts[("c", "test")]) == (4, 3, 3)


def test_publisher_split_folders_are_kept(tiny_tree, tmp_path):
    for split in ("train", "test"):
        shutil.copytree(tiny_tree, tmp_path / split)
    col = load_collection(DataConfig(path=str(tmp_path), val_fraction=0.2))
    assert len(col.split("test")) == 30
    assert len(col.split("val")) == 6 and len(col.split("train")) == 24


def test_manifest_with_split_column_and_relative_paths(tiny_tree, tmp_path):
    files = sorted(tiny_tree.rglob("*.jpg"))
    rows = ["path\tlabel\tsplit"] + [f"{p}\t{p.parent.name}\t{'test' if i % 5 == 0 else 'train'}"
                                     for i, p in enumerate(files)]
    (tmp_path / "m.tsv").write_text("\n".join(rows))
    samples = discover(tmp_path / "m.tsv")
    assert len(samples) == 30 and {s.split for s in samples} == {"train", "test"}
    shutil.copytree(tiny_tree, tmp_path / "imgs")
    (tmp_path / "rel.csv").write_text("path,label\n" + "\n".join(
        f"imgs/{p.parent.name}/{p.name},{p.parent.name}" for p in files))
    assert discover(tmp_path / "rel.csv")[0].path.startswith(str(tmp_path / "imgs"))


def test_cap_min_count_and_label_map(tiny_tree):
    cfg = DataConfig(path=str(tiny_tree), max_per_class=4, min_per_class=2,
                     label_map={"Pop_Art": "Modern", "Ukiyo_e": None})
    col = load_collection(cfg)
    assert col.classes == ["Baroque", "Modern"]
    assert Counter(s.label for s in col.samples) == {"Baroque": 4, "Modern": 4}
    with pytest.raises(ArtlensError, match="no class has at least 11 images"):
        load_collection(DataConfig(path=str(tiny_tree), min_per_class=11))


def test_classes_under_min_count_are_dropped_and_reported(tiny_tree, tmp_path):
    shutil.copytree(tiny_tree, tmp_path / "d")
    for p in list((tmp_path / "d" / "Ukiyo_e").glob("*.jpg"))[:8]:
        p.unlink()
    col = load_collection(DataConfig(path=str(tmp_path / "d"), min_per_class=5))
    assert col.classes == ["Baroque", "Pop_Art"] and col.dropped_classes == {"Ukiyo_e": 2}


def test_fingerprint_changes_with_the_data(tiny_tree, tmp_path):
    shutil.copytree(tiny_tree, tmp_path / "d")
    before = load_collection(DataConfig(path=str(tmp_path / "d"))).fingerprint()
    next((tmp_path / "d" / "Baroque").glob("*.jpg")).unlink()
    assert load_collection(DataConfig(path=str(tmp_path / "d"))).fingerprint() != before


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "does not exist"),
    (lambda p: (p.mkdir(), p)[1], "found no folders"),
    (lambda p: (p.parent.mkdir(exist_ok=True), p.write_text("file,y\na.jpg,x\n"), p)[2], "needs 'path' and 'label'"),
    (lambda p: (p.parent.mkdir(exist_ok=True), p.write_bytes(b"\xff\xd8\xff\xe0 a JPEG"), p)[2],
     r"painting.jpg: is an image; labelled data is a folder with one sub-folder per label, or a CSV/TSV manifest"),
])
def test_bad_data_paths_fail_with_one_line(tmp_path, make, message):
    name = "m.csv" if "path" in message else "painting.jpg" if "image" in message else None
    target = make(tmp_path / "data" / name) if name else make(tmp_path / "data")
    with pytest.raises(ArtlensError, match=message) as err:
        load_collection(DataConfig(path=str(target)))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content, message", [
    (b"", "manifest is empty"),
    (b"path,label\nBaroque/a.jpg,Baroque\nCubism/b.jpg\n", "m.csv:3: row without a label"),
    (b"path,label\nBaroque/a.jpg, \n", "m.csv:2: row without a label"),
    (b"path,label\nBaroque/a.jpg,Baroque,extra\n", "m.csv:2: 3 fields, but the header has 2"),
    ("path,label\nBaroque/café.jpg,Baroque\n".encode("latin-1"), "m.csv: not UTF-8 text .*save the manifest as UTF-8"),
])
def test_manifest_mistakes_are_one_line_errors_naming_the_line(tmp_path, content, message):
    (tmp_path / "m.csv").write_bytes(content)
    with pytest.raises(ArtlensError, match=message) as err:
        load_collection(DataConfig(path=str(tmp_path / "m.csv")))
    assert "\n" not in str(err.value)


def test_cross_split_duplicates_are_dropped_with_their_twin(artdata, tmp_path):
    from PIL import Image

    from artlens.data import Collection, Sample
    from artlens.data.dataset import drop_cross_split_duplicates

    paintings = sorted((artdata / "wikiart11" / "Rococo").glob("*.jpg"))[:3]
    copy = tmp_path / "recropped_copy.jpg"  # a re-encoded, resized, slightly cropped copy of the first
    with Image.open(paintings[0]) as img:
        img.crop((3, 3, 221, 221)).resize((150, 150)).save(copy, quality=70)
    samples = [Sample(str(paintings[0]), "Rococo", "train"), Sample(str(paintings[1]), "Rococo", "train"),
               Sample(str(copy), "Baroque", "test"), Sample(str(paintings[2]), "Rococo", "test")]
    col = drop_cross_split_duplicates(Collection(samples, ["Baroque", "Rococo"]))
    assert [s.path for s in col.split("test")] == [str(paintings[2])]
    assert col.duplicates == [{"path": str(copy), "split": "test", "label": "Baroque",
                               "duplicate_of": str(paintings[0]), "duplicate_label": "Rococo"}]


def test_an_empty_class_folder_is_a_clear_error(tiny_tree, tmp_path):
    shutil.copytree(tiny_tree, tmp_path / "d")
    (tmp_path / "d" / "Rococo").mkdir()
    with pytest.raises(ArtlensError, match=r"class folder\(s\) without images: Rococo"):
        load_collection(DataConfig(path=str(tmp_path / "d")))


def test_duplicate_manifest_rows_are_dropped_and_reported(tiny_tree, tmp_path):
    files = sorted(tiny_tree.rglob("*.jpg"))
    rows = [f"{p},{p.parent.name}" for p in files] + [f"{files[0]},{files[0].parent.name}"]
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows))
    col = load_collection(DataConfig(path=str(tmp_path / "m.csv")))
    assert len(col.samples) == 30
    assert [r["reason"] for r in col.skipped_rows] == ["duplicate path"]


def test_large_jpegs_decode_at_a_reduced_scale_that_keeps_what_the_model_sees(artdata, tmp_path):
    """A 12-megapixel photograph is decoded at 1/4 (still >= 448 px a side); smaller images are untouched."""
    from PIL import Image

    from artlens.data import Sample
    from artlens.data.dataset import ImageDataset

    photo, phone = tmp_path / "photo.jpg", tmp_path / "phone.mpo"  # MPO: a phone's multi-picture JPEG
    with Image.open(artdata / "aic_periods" / "golden_age_1880s" / "61616.jpg") as img:
        big = img.convert("RGB").resize((4000, 3000), Image.BICUBIC)
    big.save(photo, quality=92)
    big.save(phone, format="MPO", save_all=True, append_images=[big.resize((400, 300))])
    painting = sorted((artdata / "wikiart11" / "Baroque").glob("*.jpg"))[0]  # 224 x 224
    samples = [Sample(str(photo), ""), Sample(str(phone), ""), Sample(str(painting), "")]

    def decoded_size(img):
        return img.size

    reduced = ImageDataset(samples, [], decoded_size, draft_size=448)
    assert [reduced[i][0] for i in range(3)] == [(1000, 750), (1000, 750), (224, 224)]
    full = ImageDataset(samples, [], decoded_size)
    assert [full[i][0] for i in range(3)] == [(4000, 3000), (4000, 3000), (224, 224)]
