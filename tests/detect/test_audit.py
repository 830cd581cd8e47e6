"""The shortcut audit: a size or format that gives the label away is flagged, and normalising removes it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from artlens import ArtlensError
from artlens.detect import AuditConfig, apply_intervention, estimate_jpeg_quality, image_metadata, run_audit

PAINTINGS = "wikiart11/Impressionism"


@pytest.fixture(scope="module")
def confounded_tree(artdata, tmp_path_factory) -> Path:
    """Real paintings, assigned alternately to ai/ and human/: every AI file is a 256 px PNG, every
    human file a 320 x 240 JPEG. Nothing but the file tells the two apart."""
    root = tmp_path_factory.mktemp("confounded")
    paintings = sorted((artdata / PAINTINGS).glob("*.jpg"))[:32]
    for i, path in enumerate(paintings):
        with Image.open(path) as img:
            img = img.convert("RGB")
            if i % 2 == 0:
                (root / "ai_sd_x").mkdir(exist_ok=True)
                img.resize((256, 256)).save(root / "ai_sd_x" / f"{path.stem}.png")
            else:
                (root / "human_x").mkdir(exist_ok=True)
                img.resize((320, 240)).save(root / "human_x" / f"{path.stem}.jpg", quality=95)
    return root


def test_a_size_that_gives_the_label_away_is_flagged(confounded_tree, tmp_path):
    report = run_audit(AuditConfig(data=str(confounded_tree), label_mode="origin", out=str(tmp_path)),
                       show_progress=False)
    assert report.labels == {"ai": 16, "human": 16}
    assert {"width", "height", "aspect", "format"} <= set(report.flagged)
    width = next(r for r in report.rows if r["feature"] == "width")
    assert width["balanced_accuracy"] == 1.0 and width["chance"] == 0.5
    assert (tmp_path / "shortcut_audit.png").stat().st_size > 0
    assert "WARNING" in (tmp_path / "audit.md").read_text()
    saved = json.loads((tmp_path / "audit.json").read_text())
    assert saved["flagged"] == report.flagged


def test_after_normalisation_the_flag_disappears(confounded_tree, tmp_path):
    report = run_audit(AuditConfig(data=str(confounded_tree), label_mode="origin", out=str(tmp_path), normalise=True),
                       show_progress=False)
    assert report.normalised
    assert not {"width", "height", "aspect", "format", "jpeg_quality", "mode", "exif"} & set(report.flagged)
    width = next(r for r in report.rows if r["feature"] == "width")
    assert width["values"] == 1  # one size for every image: nothing left to read


def test_labels_that_name_no_origin_are_refused_in_one_line(confounded_tree, tmp_path):
    tree = tmp_path / "styles"
    for label in ("Baroque", "human_x"):
        (tree / label).mkdir(parents=True)
        for src in sorted((confounded_tree / "human_x").iterdir())[:2]:
            (tree / label / src.name).write_bytes(src.read_bytes())
    with pytest.raises(ArtlensError, match=r"styles: labels that name no origin: Baroque \(an origin label is ai"):
        run_audit(AuditConfig(data=str(tree), out=str(tmp_path / "out")), show_progress=False)
    report = run_audit(AuditConfig(data=str(tree), label_mode="label", out=str(tmp_path / "out"), folds=2),
                       show_progress=False)  # the labels as they are: allowed
    assert report.labels == {"Baroque": 2, "human_x": 2}


def test_metadata_reads_jpeg_quality_exif_and_software(tmp_path):
    img = Image.new("RGB", (64, 48), (120, 80, 40))
    exif = Image.Exif()
    exif[0x0131] = "Stable Diffusion web UI"
    img.save(tmp_path / "a.jpg", quality=75, exif=exif)
    row = image_metadata(tmp_path / "a.jpg")
    assert (row["width"], row["height"], row["format"]) == (64, 48, "JPEG")
    assert row["jpeg_quality"] == 75 and row["exif"] == "yes" and row["software"] == "Stable Diffusion web UI"
    stripped = image_metadata(apply_intervention("strip-exif", (tmp_path / "a.jpg").read_bytes()))
    assert stripped["exif"] == "no" and stripped["software"] == "none"
    with Image.open(io.BytesIO(apply_intervention("jpeg", (tmp_path / "a.jpg").read_bytes()))) as again:
        assert estimate_jpeg_quality(again.quantization[0]) == 90
