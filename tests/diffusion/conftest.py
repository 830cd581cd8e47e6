"""A tiny class-conditional diffusion model trained once on two visually very different styles of real
paintings (Ukiyo-e: flat colour, outlines, paper; Pointillism: dots of saturated colour) at 32 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_subset

#: Small enough to train in seconds on two CPU cores, big enough to tell the two styles apart.
TINY_UNET = {"base_channels": 16, "channel_mults": [1, 2], "num_res_blocks": 1, "attention_resolutions": [16],
             "dropout": 0.0}


def tiny_train_config(data: Path, out: Path, **overrides):
    from artlens.diffusion import DiffusionTrainConfig, UNetConfig

    raw = {"data": str(data), "out": str(out), "size": 32, "unet": UNetConfig(**TINY_UNET), "timesteps": 1000,
           "steps": 120, "batch_size": 16, "lr": 2e-3, "warmup": 10, "ema_decay": 0.95, "checkpoint_every": 60,
           "sample_every": 120, "samples_per_class": 3, "sample_steps": 8, "val_fraction": 0.15,
           "test_fraction": 0.25, "device": "cpu", **overrides}
    return DiffusionTrainConfig(**raw)


@pytest.fixture(scope="session")
def two_styles(artdata, tmp_path_factory) -> Path:
    """Ukiyo_e and Pointillism, 40 real paintings each, at 32 px."""
    return copy_subset(artdata, tmp_path_factory.mktemp("two_styles") / "styles", ["Pointillism", "Ukiyo_e"], 40,
                       size=32)


@pytest.fixture(scope="session")
def tiny_diffusion(two_styles, tmp_path_factory) -> Path:
    """The bundle of a tiny model trained for 120 steps on ``two_styles``."""
    from artlens.diffusion import train_diffusion

    return train_diffusion(tiny_train_config(two_styles, tmp_path_factory.mktemp("diffusion") / "run"))
