"""Fixtures of the CycleGAN tests: tiny folders of real photos and Impressionist paintings, a tiny config,
and a bundle of two untrained generators."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from artlens.translate import CycleGANConfig


@pytest.fixture(scope="session")
def domains(artdata, tmp_path_factory) -> tuple[Path, Path]:
    """6 photos (domain A) and 6 Impressionist paintings (domain B), copied as they are."""
    root = tmp_path_factory.mktemp("cyclegan_data")
    for name, source in (("photos", artdata / "photos_ccby"), ("paintings", artdata / "wikiart11" / "Impressionism")):
        (root / name).mkdir()
        for p in sorted(source.glob("*.jpg"))[:6]:
            shutil.copy(p, root / name / p.name)
    return root / "photos", root / "paintings"


def tiny_config(domains, out, **overrides) -> CycleGANConfig:
    """The paper's recipe at toy scale: 32 px crops, 8-filter generators with two residual blocks."""
    a, b = domains
    return CycleGANConfig(**{"a": [str(a)], "b": [str(b)], "out": str(out), "steps": 4, "size": 32, "load_size": 40,
                             "ngf": 8, "ndf": 8, "n_blocks": 2, "checkpoint_every": 2, "sample_every": 2,
                             **overrides})


@pytest.fixture(scope="session")
def translator_bundle(domains, tmp_path_factory) -> Path:
    """A bundle of two generators after two training steps (their weights barely moved from the init)."""
    from artlens.translate import train_cyclegan

    torch.manual_seed(0)
    return train_cyclegan(tiny_config(domains, tmp_path_factory.mktemp("cyclegan_run") / "run", steps=2)).bundle


@pytest.fixture(scope="session")
def resize_translator_bundle(domains, tmp_path_factory) -> Path:
    """As ``translator_bundle``, with ``upsample="resize"`` (nearest doubling and a convolution)."""
    from artlens.translate import train_cyclegan

    torch.manual_seed(0)
    return train_cyclegan(tiny_config(domains, tmp_path_factory.mktemp("cyclegan_resize") / "run", steps=2,
                                      upsample="resize")).bundle
