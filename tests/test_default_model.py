"""The built-in style model: ships in the package, needs no data and no network, and is right on
real paintings from sources it never saw."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from artlens import predict
from artlens.models import default_bundle_path, load_bundle

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "artlens" / "assets" / "examples"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
STYLES = ["Abstract_Expressionism", "Baroque", "Cubism", "Fauvism", "Impressionism", "Minimalism",
          "Naive_Art_Primitivism", "Pointillism", "Pop_Art", "Rococo", "Ukiyo_e"]


def test_default_bundle_ships_inside_the_package():
    bundle = load_bundle()
    assert default_bundle_path().is_dir() and bundle.classes == STYLES
    # Four fine-tuned networks, each at its own input size, voting as one (docs/default_model.md): Lite1
    # twice, trained with two seeds. Lite2 learnt with paintings degraded to thumbnails half the time,
    # so that sharpness is not a style.
    assert bundle.meta["kind"] == "ensemble" and bundle.meta["dtype"] == "float16"
    assert [(m["backbone"], m["preprocessing"]["input_size"]) for m in bundle.meta["members"]] == \
        [("efficientnet_lite0", 224), ("efficientnet_lite1", 240), ("efficientnet_lite1", 240), ("efficientnet_lite2", 260)]
    assert [(m["recipe"]["data"]["augment"], m["recipe"]["seed"]) for m in bundle.meta["members"]] == \
        [("flip-rotate", 0), ("flip-rotate", 0), ("flip-rotate", 1), ("degrade", 0)]
    assert bundle.meta["tta"] == "none" and bundle.meta["calibration"]["temperature"] > 0
    assert "other_sources" in bundle.meta["metrics"]
    weights = sum(f.stat().st_size for f in default_bundle_path().iterdir())
    assert weights < 50e6  # the limit for a model inside the package


def test_predict_without_model_uses_the_default_and_prints_json():
    proc = subprocess.run([sys.executable, "-m", "artlens", "predict", str(EXAMPLES), "--json", "--top-k", "3"],
                          capture_output=True, text=True, check=True)
    rows = json.loads(proc.stdout)
    assert len(rows) == 4
    for row in rows:
        probs = [p["prob"] for p in row["predictions"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
        assert {p["label"] for p in row["predictions"]} <= set(STYLES)


def test_default_model_is_right_on_paintings_from_other_sources(artdata):
    """Paintings from the Art Institute of Chicago and Kaggle copies (deduplicated against WikiArt)."""
    table = Path(__file__).resolve().parents[1] / "scripts" / "data" / "other_sources.tsv"
    with table.open() as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["set"] != "proxy_loose"]
    by_label: dict[str, list[dict]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    picked = [r for label in sorted(by_label) for r in by_label[label][::max(1, len(by_label[label]) // 8)][:8]]
    results = predict([artdata / r["path"] for r in picked], top_k=1)
    correct = sum(res["predictions"][0]["label"] == r["label"] for res, r in zip(results, picked))
    assert len(results) == len(picked) >= 40
    assert correct / len(picked) >= 0.6, f"{correct}/{len(picked)}"


def test_the_shipped_model_keeps_a_drift_reference_that_tells_photographs_from_its_test_paintings(artdata):
    """``artlens serve --db`` records each answer's embedding (the four networks' joined) and ``artlens
    monitor`` compares a week of them with the reference that ships in ``artlens.json``: 128 training
    paintings. WikiArt paintings the model never trained on look like it; photographs do not."""
    from artlens.data.dataset import discover, stratified_split
    from artlens.ops import drift_score, embed_images

    bundle = load_bundle()
    reference = bundle.meta["drift_reference"]
    assert (reference["n"], reference["dims"]) == (128, bundle.model.embed_dim) == (128, 4 * 1280)
    assert set(reference["class_shares"]) == set(STYLES) and abs(sum(reference["class_shares"].values()) - 1) < 1e-9
    test_split = [s.path for s in stratified_split(discover(artdata / "wikiart11"), val_fraction=0.1,
                                                    test_fraction=0.1, seed=0) if s.split == "test"]
    paintings = embed_images(bundle.model, bundle.preprocessing, test_split[::10][:30])[0]
    photos = embed_images(bundle.model, bundle.preprocessing, sorted((artdata / "photos_ccby").glob("*.jpg"))[:30])[0]
    same, other = drift_score(reference, paintings), drift_score(reference, photos)
    assert same["decided_by"] == other["decided_by"] == "auc"
    assert not same["drift"] and same["auc"] < 0.7, same
    assert other["drift"] and other["auc"] >= 0.8, other


def test_the_recipe_trains_one_epoch_on_a_tiny_subset_into_a_calibrated_bundle_that_predicts(tmp_path, monkeypatch):
    """``make default-model`` in miniature: the real recipe, script and data, 4 paintings per style."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    script = SCRIPTS / "train_default_model.py"
    out = tmp_path / "run"
    subprocess.run([sys.executable, str(script), "--epochs", "1", "--max-per-class", "4", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    summary = json.loads((out / "default_model_summary.json").read_text())
    assert summary["data"]["wikiart11"]["test"] == 11
    # The mapped painters are a source left out of training, scored as one (the leave-one-source-out fold).
    assert summary["data"]["artists49"]["train"] == 0
    assert {"aic", "style_refs", "loose", "painters"} <= set(summary["other_sources"])
    # One run folder per member, all trained by the same recipe (Lite2 with its own augmentation),
    # and the ensemble made of them.
    members = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite1-seed1", "efficientnet_lite2-degrade")
    assert [(out / m / "model" / "artlens.json").is_file() for m in members] == [True] * 4
    bundle = load_bundle(out / "ensemble")
    assert [m["recipe"]["strategy"]["name"] for m in bundle.meta["members"]] == ["full"] * 4
    assert [(m["recipe"]["data"]["augment"], m["recipe"]["seed"]) for m in bundle.meta["members"]] == \
        [("flip-rotate", 0), ("flip-rotate", 0), ("flip-rotate", 1), ("degrade", 0)]
    assert bundle.classes == STYLES and summary["held_out_test"]["n"] == 11
    assert bundle.meta["calibration"]["temperature"] > 0 and (out / "reliability.png").is_file()
    rows = predict(str(EXAMPLES), model=out / "ensemble", top_k=3)
    assert len(rows) == 4 and all(len(r["predictions"]) >= 3 for r in rows)
    # What --ship adds to the shipped model: the drift reference of its training split, as served.
    from train_default_model import ship_drift_reference

    from artlens import load_config

    ship_drift_reference(out / "ensemble", out / "manifest.csv", load_config(SCRIPTS.parent / "configs" / "default_style.yaml"),
                         device="cpu")
    with (out / "manifest.csv").open() as f:
        n_train = sum(r["split"] == "train" for r in csv.DictReader(f))
    reference = load_bundle(out / "ensemble").meta["drift_reference"]
    assert (reference["n"], reference["dims"]) == (n_train, bundle.model.embed_dim)
    assert reference["class_shares_split"] == "test" and reference["class_shares"] == {s: 1 / 11 for s in STYLES}


def test_a_member_names_its_backbone_augmentation_and_training_seed(monkeypatch):
    """``--backbones efficientnet_lite1@1`` trains the same recipe again with another seed, into its own folder."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from train_default_model import parse_member

    assert parse_member("efficientnet_lite2:degrade") == ("efficientnet_lite2", "degrade", None,
                                                         "efficientnet_lite2-degrade")
    assert parse_member("efficientnet_lite1@1") == ("efficientnet_lite1", None, 1, "efficientnet_lite1-seed1")
    with pytest.raises(ValueError, match="unknown augmentation preset 'blur'"):
        parse_member("efficientnet_lite0:blur")
    with pytest.raises(ValueError, match="seed after @ must be a whole number"):
        parse_member("efficientnet_lite0@one")


def _readme_demo_rows() -> dict[str, list[tuple[str, float]]]:
    """The table ``make demo`` prints, as the README shows it: file -> [(label, prob), ...]."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("$ artlens predict src/artlens/assets/examples --top-k 3\n", 1)[1].split("```", 1)[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 4 and cells[0].endswith(".jpg"):
            rows[cells[0]] = [(c.rsplit(" ", 1)[0], float(c.rsplit(" ", 1)[1])) for c in cells[1:]]
    return rows


def test_the_readme_shows_the_four_examples_as_they_really_come_out():
    shown = _readme_demo_rows()
    assert len(shown) == 4
    for row in predict(str(EXAMPLES), top_k=3):
        name = Path(row["path"]).name
        got = [(p["label"], p["prob"]) for p in row["predictions"]]
        assert [label for label, _ in got] == [label for label, _ in shown[name]], name
        assert all(abs(p - q) <= 0.02 for (_, p), (_, q) in zip(got, shown[name])), name
