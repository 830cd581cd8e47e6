"""The built-in Human-or-AI detector: a verdict, a probability and a threshold chosen for balanced accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from artlens import ArtlensError
from artlens.cli import app
from artlens.detect import Detector, choose_threshold, default_detector_path, origin_classes, score_origins
from artlens import read_bundle_meta
from artlens.models import default_bundle_path

CEZANNE = "cezanne_ai_vs_human"


def _valid(artdata: Path, prefix: str, per_folder: int) -> list[Path]:
    """The first ``per_folder`` images of the upstream validation split of each source folder whose name
    starts with ``prefix`` (ai_: two Stable Diffusion 1.5 settings; human_: originals, replicas, landscapes)."""
    return [p for d in sorted((artdata / CEZANNE).glob(prefix + "*"))
            for p in sorted(d.glob("valid__*.jpg"))[:per_folder]]


def test_the_threshold_is_chosen_for_balanced_accuracy():
    # three AI images at 0.6-0.9 and humans at 0.1-0.45: any cut in (0.45, 0.6) separates them; 0.5 is nearest
    choice = choose_threshold([0.9, 0.7, 0.6, 0.45, 0.3, 0.1], [True, True, True, False, False, False])
    assert choice.threshold == 0.5 and choice.balanced_accuracy == 1.0
    # AI images scored low by an under-confident model: the cut moves down to catch them
    choice = choose_threshold([0.4, 0.35, 0.3, 0.2, 0.1, 0.05], [True, True, True, False, False, False])
    assert choice.threshold == 0.25 and (choice.ai_recall, choice.human_recall) == (1.0, 1.0)
    with pytest.raises(ArtlensError, match="both origins"):
        choose_threshold([0.9, 0.8], [True, True])


def test_the_shipped_detector_records_its_threshold_input_and_limits():
    meta = read_bundle_meta(default_detector_path())
    assert origin_classes(meta["classes"]) == {"ai": 0, "human": 1}
    assert meta["preprocessing"]["grayscale"] is True and meta["preprocessing"]["resize"] == "squash"
    # trained at 224 px, used at the size chosen on validation images: the bundle reads at the size it says
    size = meta["preprocessing"]["input_size"]
    assert meta["recipe"]["model"]["input_size"] == 224 and 224 <= size <= 384
    assert f"squashed to {size} x {size} px" in meta["detector"]["input"] and meta["model"]["input_size"] == size
    assert 0.0 < meta["detector"]["threshold"] < 1.0
    assert "grayscale" in meta["detector"]["trained_on"] and "colour" in meta["detector"]["not_valid_for"]
    assert meta["dtype"] == "float16"
    assert (default_detector_path() / "model.safetensors").stat().st_size < 10_000_000


def test_the_builtin_detector_beats_chance_clearly_on_real_validation_images(artdata):
    ai, human = _valid(artdata, "ai_", 6), _valid(artdata, "human_", 4)
    detector = Detector()
    found, skipped = detector([str(p) for p in ai + human])
    assert not skipped and len(found) == 24
    p = {d.path: d.p_ai for d in found}
    scores = score_origins([p[str(x)] for x in ai + human], [True] * 12 + [False] * 12, detector.threshold)
    assert scores["balanced_accuracy"] >= 0.75, scores
    assert {d.verdict for d in found} == {"ai", "human"}


def test_a_bundle_without_an_origin_label_is_not_a_detector():
    with pytest.raises(ArtlensError, match="not a detector: its classes are Abstract_Expressionism"):
        Detector(default_bundle_path())


def test_detect_json_has_the_documented_fields(artdata, tmp_path):
    images = [str(p) for p in _valid(artdata, "ai_sd15_cezanne_guidance8", 1) + _valid(artdata, "human_cezanne", 1)]
    result = CliRunner().invoke(app, ["detect", *images, "--json", "--explain", str(tmp_path / "cams")])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert [a["path"] for a in answers] == images
    for a in answers:
        assert set(a) == {"path", "verdict", "p_ai", "cam"}
        assert a["verdict"] in ("ai", "human") and 0.0 <= a["p_ai"] <= 1.0
        assert Path(a["cam"]).parent == tmp_path / "cams" and Path(a["cam"]).stat().st_size > 0
    for path, a in zip(images, answers):  # the map on the picture at the picture's own size, not the 224 px input
        with Image.open(path) as picture, Image.open(a["cam"]) as cam:
            assert cam.size == picture.size
    table = CliRunner().invoke(app, ["detect", images[0], "--threshold", "0"])
    assert table.exit_code == 0 and " AI " in table.stdout and "grayscale" in table.output


def test_colour_is_never_a_cue_the_detector_sees_a_colour_image_in_grayscale(artdata):
    detector = Detector()
    with Image.open(artdata / "aic_periods/golden_age_1880s/61616.jpg") as img:
        colour = img.convert("RGB")
    gray = colour.convert("L").convert("RGB")
    p_colour, p_gray = detector.p_ai_of([colour, gray])
    assert abs(p_colour - p_gray) < 0.01


def test_the_recipe_and_its_split_keep_the_held_out_images_out_of_training(tmp_path, monkeypatch):
    import csv
    import importlib.util

    from artlens import load_config

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "configs" / "detector.yaml")
    assert (cfg.model.grayscale, cfg.model.resize, cfg.model.input_size, cfg.strategy.name) == (True, "squash", 224, "full")
    monkeypatch.syspath_prepend(str(root / "scripts"))  # as when run as a script: its helpers sit beside it
    spec = importlib.util.spec_from_file_location("train_detector", root / "scripts" / "train_detector.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    training, info = script.build_manifest(tmp_path, max_per_folder=20)
    with training.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert not [r for r in rows if "TISD3" in r["path"]]  # the unseen SD2 batch never reaches fit
    assert all("/valid__" in r["path"] for r in rows if r["split"] == "test")  # test = the upstream validation split
    assert not [r for r in rows if r["split"] != "test" and "/valid__" in r["path"]]
    assert info["counts"]["held_out"] == {"ai": 20}


def test_the_shipped_detector_keeps_a_drift_reference_that_tells_photographs_from_its_test_images(artdata):
    """``artlens monitor`` compares the detector's served images with the reference in its
    ``artlens.json`` (128 training images, grayscale, at the size it runs them): images of the upstream
    validation split look like them; photographs do not."""
    import random

    from artlens.models import load_bundle
    from artlens.ops import drift_score, embed_images

    bundle = load_bundle(default_detector_path())
    reference = bundle.meta["drift_reference"]
    assert (reference["n"], reference["dims"]) == (128, bundle.model.embed_dim)
    assert reference["class_shares"] == {"ai": 0.4, "human": 0.6} and reference["class_shares_split"] == "test"
    valid = random.Random(0).sample(sorted((artdata / CEZANNE).glob("*/valid__*.jpg")), 30)
    same = drift_score(reference, embed_images(bundle.model, bundle.preprocessing, valid)[0])
    photos = sorted((artdata / "photos_ccby").glob("*.jpg"))[:30]
    other = drift_score(reference, embed_images(bundle.model, bundle.preprocessing, photos)[0])
    assert not same["drift"] and same["auc"] < 0.8, same
    assert other["drift"] and other["auc"] >= 0.9, other


def test_refreshing_a_shipped_detector_writes_its_drift_reference_and_the_accuracy_of_its_verdicts(tmp_path, monkeypatch):
    """``python scripts/train_detector.py --refresh-shipped`` on a copy of the built-in detector, with a
    small manifest: what ``artlens monitor`` reads of a detector, made from the weights as they ship."""
    import csv
    import importlib.util
    import shutil

    from artlens import load_config

    root = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(root / "scripts"))
    spec = importlib.util.spec_from_file_location("train_detector", root / "scripts" / "train_detector.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    copy = shutil.copytree(default_detector_path(), tmp_path / "detector")
    manifest, _ = script.build_manifest(tmp_path / "run", max_per_folder=3)
    cfg = load_config(root / "configs" / "detector.yaml")
    cfg.drift_images = 8
    script.refresh_shipped(copy, manifest, cfg, device="cpu")
    with manifest.open() as f:
        test = [r for r in csv.DictReader(f) if r["split"] == "test"]
    meta = read_bundle_meta(copy)
    assert meta["drift_reference"]["n"] == 8 and meta["drift_reference"]["class_shares_split"] == "test"
    info = meta["detector"]
    assert info["accuracy_n"] == len(test) == 15  # 3 upstream validation images of each of the 5 folders
    detections, _ = Detector(copy, device="cpu")([r["path"] for r in test])
    truth = {r["path"]: r["label"] for r in test}
    assert info["accuracy"] == round(sum(d.verdict == truth[d.path] for d in detections) / len(test), 4)
    assert info["threshold"] == read_bundle_meta(default_detector_path())["detector"]["threshold"]  # the rest kept
