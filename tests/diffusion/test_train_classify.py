"""Training a diffusion model on real paintings and classifying with it, as a user would."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from artlens import compare_runs, read_bundle_meta
from artlens.diffusion import DiffusionClassifyConfig, classify_diffusion, load_diffusion_bundle, train_diffusion
from artlens.errors import ArtlensError
from artlens.models.bundle import DIFFUSION_FORMAT

from .conftest import tiny_train_config


def quick(model, out, **overrides) -> DiffusionClassifyConfig:
    return DiffusionClassifyConfig(**{"model": str(model), "out": str(out), "samples": [16, 48], "device": "cpu",
                                      **overrides})


def test_training_writes_a_diffusion_bundle_a_log_and_per_class_sample_grids(tiny_diffusion):
    meta = read_bundle_meta(tiny_diffusion, format=DIFFUSION_FORMAT)
    assert meta["task"] == "diffusion" and meta["classes"] == ["Pointillism", "Ukiyo_e"]
    assert meta["diffusion"] == {"timesteps": 1000, "schedule": "cosine", "prediction": "eps"}
    assert meta["steps"] == 120 and meta["counts"]["train"] == {"Pointillism": 24, "Ukiyo_e": 24}
    run = tiny_diffusion.parent
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr" and len(rows) == 121
    first, last = (sum(float(r.split(",")[1]) for r in part) / 10 for part in (rows[1:11], rows[-10:]))
    assert last < 0.6 * first  # it learned to denoise
    with Image.open(run / "samples" / "step000120.png") as grid:  # 2 rows (classes) x 3 samples of 32 px
        assert grid.size == (3 * 34 + 2, 2 * 34 + 2)
    with pytest.raises(ArtlensError, match="diffusion model bundle, not a classifier"):
        read_bundle_meta(tiny_diffusion)
    model = load_diffusion_bundle(tiny_diffusion)
    assert model.classes == meta["classes"] and model.size == 32


def test_zero_shot_classification_beats_chance_clearly_and_writes_the_usual_report(tiny_diffusion, tmp_path):
    costs = []
    result = classify_diffusion(quick(tiny_diffusion, tmp_path / "zs"), on_cost=costs.append)
    m = result.metrics
    assert m["n"] == 20  # the held-out test split the model never saw: 10 per style
    assert m["accuracy"] >= 0.75, m["confusion_matrix"]  # chance: 0.5; P(>= 15 of 20 by luck) = 2 %
    cost = costs[0]
    assert cost.passes_per_image == 48 * 2 and cost.naive_passes_per_image == 96 and cost.images == 12 + 20
    assert cost.seconds_per_image > 0 and "denoiser passes per image" in cost.line()
    for name in ("report.json", "cost.json", "reliability.png", "eval/report.md", "eval/confusion_matrix.png",
                 "eval/predictions.csv"):
        assert (tmp_path / "zs" / name).is_file(), name
    cal = result.calibration
    assert cal["fitted_on"] == "val" and cal["n_fit"] == 12 and cal["temperature"] > 0
    report = json.loads((tmp_path / "zs" / "report.json").read_text())
    assert report["test"]["accuracy"] == m["accuracy"] and 0 <= report["calibration"]["ece_test_after"] <= 1


def test_compare_puts_the_diffusion_model_beside_another_run(tiny_diffusion, tmp_path):
    a = classify_diffusion(quick(tiny_diffusion, tmp_path / "zs-a", calibrate_on="none", samples=[8], limit=3)).out
    b = classify_diffusion(quick(tiny_diffusion, tmp_path / "zs-b", calibrate_on="none", samples=[4], limit=3)).out
    result = compare_runs([a, b], tmp_path / "compare")
    assert [r["backbone"] for r in result.rows] == ["diffusion-unet-32px"] * 2
    assert not result.warnings  # the same test images
    assert (tmp_path / "compare" / "compare.png").is_file()


def test_a_killed_classify_run_resumes_without_recomputing_finished_images(tiny_diffusion, tmp_path, monkeypatch):
    from artlens.diffusion import classify as module

    real, scored, killed = module.estimate_errors, [], []

    def counting(*args, **kwargs):
        if len(scored) == 5 and not killed:
            killed.append(True)
            raise KeyboardInterrupt("killed")
        scored.append(args[2].sum().item())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "estimate_errors", counting)
    cfg = quick(tiny_diffusion, tmp_path / "zs", samples=[8], limit=3)  # 3 + 3 validation, 3 + 3 test images
    with pytest.raises(KeyboardInterrupt):
        classify_diffusion(cfg)
    assert len((tmp_path / "zs" / "scores.jsonl").read_text().splitlines()) == 5
    costs = []
    resumed = classify_diffusion(cfg, on_cost=costs.append)
    assert costs[0].cached == 5 and costs[0].images == 12 - 5
    assert len(scored) == 5 + 7  # every image scored exactly once
    fresh = classify_diffusion(quick(tiny_diffusion, tmp_path / "fresh", samples=[8], limit=3))
    assert resumed.metrics == fresh.metrics  # each image's pairs come from its own seed: order does not matter
    with pytest.raises(ArtlensError, match="other samples"):
        classify_diffusion(quick(tiny_diffusion, tmp_path / "zs", samples=[4], limit=3))


def test_training_resumes_to_the_uninterrupted_weights(two_styles, tmp_path, monkeypatch):
    from artlens.train import generative

    def cfg(out, **kw):
        return tiny_train_config(two_styles, out, steps=4, checkpoint_every=2, sample_every=4, **kw)

    straight = load_diffusion_bundle(train_diffusion(cfg(tmp_path / "straight"))).denoiser.state_dict()
    real_save = generative.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(generative, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_diffusion(cfg(tmp_path / "killed"))
    monkeypatch.setattr(generative, "save_checkpoint", real_save)
    with pytest.raises(ArtlensError, match="--resume"):
        train_diffusion(cfg(tmp_path / "killed"))
    resumed = load_diffusion_bundle(train_diffusion(cfg(tmp_path / "killed", resume=True))).denoiser.state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_bad_inputs_are_one_line_errors(two_styles, tmp_path):
    with pytest.raises(ArtlensError, match="Cubism not in the data"):
        train_diffusion(tiny_train_config(two_styles, tmp_path / "r", classes=["Cubism"]))
    with pytest.raises(ArtlensError, match="--samples must be increasing"):
        DiffusionClassifyConfig(model="m", samples=[64, 32])
    with pytest.raises(ArtlensError, match="not a diffusion model bundle"):
        classify_diffusion(DiffusionClassifyConfig(model=str(two_styles), out=str(tmp_path / "x")))
