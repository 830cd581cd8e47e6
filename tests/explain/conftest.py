"""Fixtures for the explain tests: a frozen tiny bundle over real paintings, and the frozen built-in model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from artlens.config import ModelConfig
from artlens.models import build_classifier, load_bundle
from artlens.models.bundle import save_bundle


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """What the ``frozen`` strategy leaves behind: no backbone parameter wants a gradient."""
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    return model


@pytest.fixture(scope="session")
def tiny_bundle(tiny_tree, tmp_path_factory) -> Path:
    """An (untrained, seeded) tiny_cnn classifier over the 3 styles of ``tiny_tree``, saved as a bundle."""
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    model = build_classifier(cfg, num_classes=3)
    classes = sorted(p.name for p in tiny_tree.iterdir())
    return save_bundle(model, tmp_path_factory.mktemp("bundles") / "tiny", classes=classes, model_cfg=cfg)


@pytest.fixture(scope="session")
def frozen_builtin():
    """The built-in efficientnet_lite0 style model with every parameter frozen (the known grad-cam failure)."""
    bundle = load_bundle()
    for p in bundle.model.parameters():
        p.requires_grad_(False)
    return bundle
