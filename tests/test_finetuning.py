"""What fine-tuning on a few thousand paintings needs, on the one training engine: a slower rate for
the backbone than for the head, a one-cycle schedule with warm-up, MixUp/CutMix and an exponential
moving average of the weights, all resumable."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from artlens import ModelConfig
from artlens.config import OptimConfig, TrainConfig
from artlens.errors import ArtlensError
from artlens.models import build_classifier
from artlens.train import loop
from artlens.train.loop import fit
from artlens.train.optim import build_optimizer, build_scheduler, param_groups

from .conftest import fit_killed_after, tiny_config

RECIPE = dict(strategy__name="full", optim__scheduler="onecycle", optim__backbone_lr_scale=0.1,
              optim__warmup_fraction=0.3, data__mixup=0.2, data__cutmix=1.0, ema_decay=0.9, epochs=3,
              label_smoothing=0.1)


def test_the_backbone_learns_at_a_fraction_of_the_heads_rate():
    model = build_classifier(ModelConfig(backbone="tiny_cnn", pretrained="none"), 3)
    optimizer = build_optimizer(OptimConfig(lr=0.01, backbone_lr_scale=0.1), param_groups(model, OptimConfig(
        backbone_lr_scale=0.1)))
    head, backbone = optimizer.param_groups
    assert head["lr"] == pytest.approx(0.01) and backbone["lr"] == pytest.approx(0.001)
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.backbone.parameters()}
    # Scale 1 keeps one group, as before the option existed: older checkpoints still resume.
    (only,) = param_groups(model, OptimConfig())
    assert len(only["params"]) == len(list(model.parameters()))


def test_onecycle_warms_up_then_anneals_every_group_per_batch():
    model = build_classifier(ModelConfig(backbone="tiny_cnn", pretrained="none"), 3)
    cfg = OptimConfig(lr=0.01, scheduler="onecycle", backbone_lr_scale=0.1, warmup_fraction=0.25)
    optimizer = build_optimizer(cfg, param_groups(model, cfg))
    scheduler = build_scheduler(cfg, optimizer, epochs=2, steps_per_epoch=10)
    rates = []
    for _ in range(20):
        optimizer.step()
        scheduler.step()
        rates.append([g["lr"] for g in optimizer.param_groups])
    peak = max(range(20), key=lambda i: rates[i][0])
    assert 3 <= peak <= 5  # a quarter of 20 steps
    assert rates[peak][0] == pytest.approx(0.01, rel=0.05) and rates[peak][1] == pytest.approx(0.001, rel=0.05)
    assert rates[-1][0] < 0.01 / 50 and rates[0][0] < 0.01 / 5


def test_impossible_settings_are_refused():
    with pytest.raises(ArtlensError, match="data.mixup: -1.0 must be >= 0"):
        TrainConfig.from_dict({"data": {"path": "x", "mixup": -1}})
    with pytest.raises(ArtlensError, match=r"ema_decay: 1.0 must be in \[0, 1\)"):
        TrainConfig.from_dict({"data": {"path": "x"}, "ema_decay": 1.0})
    with pytest.raises(ArtlensError, match="optim.backbone_lr_scale"):
        TrainConfig.from_dict({"data": {"path": "x"}, "optim": {"backbone_lr_scale": 0}})


def test_the_bundle_keeps_the_moving_average_of_the_weights(tiny_tree, tiny_weights, tmp_path):
    result = fit(tiny_config(tiny_tree, tmp_path / "run", model__pretrained=str(tiny_weights), **RECIPE),
                 show_progress=False)
    ckpt = torch.load(tmp_path / "run" / loop.CHECKPOINT, weights_only=True)
    raw = ckpt["model"]
    averaged = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k.startswith("module.")}
    bundle = load_file(str(result.bundle / "model.safetensors"))
    key = next(k for k in bundle if k.startswith("head") and k.endswith("weight"))
    # The last epoch is the best by construction here only if validation picks it; compare with what was picked.
    best = load_file(str(tmp_path / "run" / loop.BEST))
    assert torch.allclose(bundle[key].float(), best[key].float())
    if result.best_epoch == 3:
        assert torch.allclose(bundle[key].float(), averaged[key].float(), atol=1e-6)
        assert not torch.allclose(averaged[key].float(), raw[key].float(), atol=1e-4)
    lrs = [h["lr"] for h in result.history]
    assert lrs[-1] < lrs[0]  # annealed to about zero by the end


def test_a_killed_run_with_every_option_resumes_to_the_same_weights(tiny_tree, tiny_weights, tmp_path, monkeypatch):
    common = dict(model__pretrained=str(tiny_weights), **RECIPE)
    reference = fit(tiny_config(tiny_tree, tmp_path / "straight", **common), show_progress=False)
    fit_killed_after(tiny_config(tiny_tree, tmp_path / "killed", **common), monkeypatch)
    resumed = fit(tiny_config(tiny_tree, tmp_path / "killed", resume=True, **common), show_progress=False)
    a = load_file(str(reference.bundle / "model.safetensors"))
    b = load_file(str(resumed.bundle / "model.safetensors"))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    assert [round(h["lr"], 9) for h in reference.history] == [round(h["lr"], 9) for h in resumed.history]
