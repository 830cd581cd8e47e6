"""Calibrated probabilities and the "uncertain" answer: fitted on held-out paintings, stored in the
bundle, applied wherever the bundle is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from artlens import ModelConfig, predict
from artlens.data.dataset import Sample
from artlens.errors import ArtlensError
from artlens.evaluate.calibration import calibrate, expected_calibration_error, fit_temperature, tempered_probs
from artlens.models import build_classifier, load_bundle, save_bundle


def test_the_fitted_temperature_undoes_a_known_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, size=(4000, 1, 5))
    labels = np.array([rng.choice(5, p=np.exp(z[0]) / np.exp(z[0]).sum()) for z in true_logits])
    overconfident = true_logits * 3.0  # a model that is 3x too sure of itself
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(tempered_probs(overconfident, 1.0), labels)
    after = expected_calibration_error(tempered_probs(overconfident, t), labels)
    assert after < 0.03 < before


def test_ragged_views_are_averaged_per_image():
    logits = [np.array([[2.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 2.0]])]
    probs = tempered_probs(logits, 1.0)
    assert probs[1] == pytest.approx([0.5, 0.5]) and probs[0][0] > 0.8


@pytest.fixture()
def tiny_bundle(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    return save_bundle(build_classifier(cfg, 3), tmp_path / "tiny", classes=["Baroque", "Pop_Art", "Ukiyo_e"],
                       model_cfg=cfg, name="tiny")


def test_calibrate_stores_the_temperature_and_every_loader_applies_it(tiny_bundle, tiny_tree, tmp_path):
    samples = [Sample(str(p), p.parent.name) for p in sorted(tiny_tree.rglob("*.jpg"))]
    plain = predict(str(tiny_tree), model=tiny_bundle, top_k=3)
    result = calibrate(tiny_bundle, samples, uncertain_below=0.9, plot=tmp_path / "reliability.png",
                       show_progress=False)
    meta = json.loads((tiny_bundle / "artlens.json").read_text())
    assert meta["calibration"]["temperature"] == result.temperature and result.n == len(samples)
    assert (tmp_path / "reliability.png").stat().st_size > 10_000
    assert load_bundle(tiny_bundle).model.temperature.item() == pytest.approx(result.temperature)
    tempered = predict(str(tiny_tree), model=tiny_bundle, top_k=3)
    # Same ranking, other probabilities (unless the fit found T = 1).
    assert [r["predictions"][0]["label"] for r in plain] == [r["predictions"][0]["label"] for r in tempered]
    if abs(result.temperature - 1) > 0.05:
        assert [r["predictions"][0]["prob"] for r in plain] != [r["predictions"][0]["prob"] for r in tempered]
    # An untrained network is never 90 % sure: every answer is uncertain and comes with its top 3.
    assert all(r["uncertain"] for r in tempered)


def test_uncertain_answers_come_with_the_top_three_on_the_command_line(tiny_bundle, tiny_tree):
    meta_path = tiny_bundle / "artlens.json"
    meta = json.loads(meta_path.read_text())
    meta["calibration"] = {"temperature": 1.0, "uncertain_below": 0.99}
    meta_path.write_text(json.dumps(meta))
    painting = next(tiny_tree.rglob("*.jpg"))
    proc = subprocess.run([sys.executable, "-m", "artlens", "predict", str(painting), "--model", str(tiny_bundle),
                           "--top-k", "1", "--json"], capture_output=True, text=True, check=True)
    (row,) = json.loads(proc.stdout)
    assert row["uncertain"] is True and len(row["predictions"]) == 3
    table = subprocess.run([sys.executable, "-m", "artlens", "predict", str(painting), "--model", str(tiny_bundle),
                            "--top-k", "1"], capture_output=True, text=True, check=True).stdout
    assert "uncertain" in table and "#3" in table


def test_a_bad_temperature_in_a_bundle_is_one_line(tiny_bundle):
    meta_path = tiny_bundle / "artlens.json"
    meta = json.loads(meta_path.read_text())
    meta["calibration"] = {"temperature": -2}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtlensError, match="calibration.temperature must be a positive number, got -2"):
        load_bundle(tiny_bundle)


def test_labels_the_model_does_not_know_are_refused(tiny_bundle, tiny_tree):
    with pytest.raises(ArtlensError, match="labels the model does not know: Rococo"):
        calibrate(tiny_bundle, [Sample(str(next(tiny_tree.rglob("*.jpg"))), "Rococo")], show_progress=False)
