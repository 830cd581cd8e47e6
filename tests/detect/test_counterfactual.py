"""The counterfactual test and the cross-generator matrix, on real images from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from artlens import ArtlensError
from artlens.data.dataset import Sample
from artlens.detect import CrossGeneratorConfig, counterfactual_test, run_cross_generator

CEZANNE = "cezanne_ai_vs_human"


def test_removing_what_the_detector_never_reads_changes_nothing(artdata):
    """The built-in detector sees grayscale images squashed to one size, and the Cezanne images carry
    no EXIF: converting them to grayscale or stripping their metadata must leave every score as it was,
    while re-encoding them (new pixels) may move it."""
    root = artdata / CEZANNE
    samples = [Sample(str(p), "ai_sd15") for p in sorted((root / "ai_sd15_cezanne_guidance8").glob("valid__*"))[:4]]
    samples += [Sample(str(p), "human_original") for p in sorted((root / "human_cezanne_original").glob("valid__*"))[:4]]
    rows = counterfactual_test(_detector(), samples, ["grayscale", "strip-exif", "jpeg"],
                               show_progress=False)
    assert [r["intervention"] for r in rows] == ["original", "grayscale", "strip-exif", "jpeg"]
    by = {r["intervention"]: r for r in rows}
    assert by["grayscale"]["drop"] == 0.0 and by["strip-exif"]["drop"] == 0.0
    assert by["original"]["n_ai"] == 4 and by["original"]["n_human"] == 4
    for r in rows:
        assert 0.0 <= r["balanced_accuracy"] <= 1.0


def _detector() -> Path:
    from artlens.detect import default_detector_path

    return default_detector_path()


def test_labels_the_model_does_not_know_are_refused(artdata):
    path = next((artdata / CEZANNE / "human_cezanne_original").glob("valid__*"))
    with pytest.raises(ArtlensError, match="labels unknown to model"):
        counterfactual_test(_detector(), [Sample(str(path), "Baroque")], ["jpeg"], show_progress=False)


@pytest.fixture(scope="module")
def three_generators(artdata, tmp_path_factory) -> Path:
    """A manifest of 6 images of each Cezanne source folder: two SD 1.5 settings, SD 2, and the humans."""
    root = artdata / CEZANNE
    rows = ["path,label"]
    for folder in ("ai_sd15_cezanne_guidance8", "ai_sd15_cezanne_guidance0-1", "ai_sd2_textual_inversion_cezanne",
                   "human_cezanne_original", "human_wikiart_impressionist_landscape"):
        rows += [f"{p},{folder}" for p in sorted((root / folder).glob("*.jpg"))[:6]]
    path = tmp_path_factory.mktemp("xgen") / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cross_generator_matrix_by_generator_and_by_label(three_generators, tmp_path):
    common = dict(data=str(three_generators), model="tiny_cnn", weights="none", input_size=32, grayscale=True,
                  test_fraction=0.5, device="cpu")
    report = run_cross_generator(CrossGeneratorConfig(**common, out=str(tmp_path / "gen")), show_progress=False)
    assert report.generators == ["sd15", "sd2"]
    assert report.rows == ["sd15", "sd2", "all"]  # with two generators, "all but sd2" is the sd15 row
    assert [len(r) for r in report.balanced_accuracy] == [2, 2, 2]
    assert report.counts["sd15"] == {"train": 6, "test": 6} and report.counts["human"] == {"train": 6, "test": 6}
    assert set(report.unseen) == {"sd15", "sd2"}
    assert report.unseen["sd2"] == report.balanced_accuracy[0][1]  # trained on sd15, scored on sd2
    assert Path(report.files["figure"]).stat().st_size > 0
    by_label = run_cross_generator(CrossGeneratorConfig(**common, group="label", out=str(tmp_path / "label")),
                                   show_progress=False)
    assert len(by_label.generators) == 3
    assert by_label.rows[3:] == [f"all but {g}" for g in by_label.generators] + ["all"]
    for row in by_label.balanced_accuracy:
        assert all(0.0 <= v <= 1.0 for v in row)


def test_one_generator_is_not_enough(artdata, tmp_path):
    root = artdata / CEZANNE
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "".join(
        f"{p},{p.parent.name}\n" for d in ("ai_sd2_textual_inversion_cezanne", "human_cezanne_original")
        for p in sorted((root / d).glob("*.jpg"))[:3]))
    with pytest.raises(ArtlensError, match="at least two generators; found sd2"):
        run_cross_generator(CrossGeneratorConfig(data=str(manifest), model="tiny_cnn", weights="none",
                                                 out=str(tmp_path / "o"), device="cpu"), show_progress=False)
