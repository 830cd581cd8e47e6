"""Fixtures for the style-transfer tests: real photos and paintings, the offline Lite0 extractor,
a tiny AdaIN decoder trained for a few steps, and a tiny classifier bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def style_refs(artdata) -> Path:
    return artdata / "style_refs"


@pytest.fixture(scope="session")
def photo(style_refs) -> Image.Image:
    from artlens.style.images import open_image

    return open_image(style_refs / "content" / "jcjohnson__tubingen.jpg")


@pytest.fixture(scope="session")
def starry(style_refs) -> Image.Image:
    from artlens.style.images import open_image

    return open_image(style_refs / "style" / "jcjohnson__starry_night.jpg")


@pytest.fixture(scope="session")
def scream(style_refs) -> Image.Image:
    from artlens.style.images import open_image

    return open_image(style_refs / "style" / "jcjohnson__the_scream.jpg")


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 with its real ImageNet weights (offline package)."""
    from artlens.style.extractor import load_extractor

    return load_extractor("efficientnet_lite0")


@pytest.fixture(scope="session")
def vgg_random():
    """VGG19 with random weights: the architecture and layer names without the download."""
    from artlens.style.extractor import load_extractor

    return load_extractor("vgg19", weights="none")


@pytest.fixture(scope="session")
def small_refs(style_refs, tmp_path_factory) -> Path:
    """4 photos and 4 paintings at 64 px: enough for a decoder to take a few steps."""
    root = tmp_path_factory.mktemp("adain_data")
    for kind, n in (("content", 4), ("style", 4)):
        (root / kind).mkdir()
        for p in sorted((style_refs / kind).glob("*.jpg"))[:n]:
            with Image.open(p) as img:
                img.convert("RGB").resize((64, 64)).save(root / kind / p.name)
    return root


def adain_config(data: Path, out: Path, **overrides):
    from artlens.style.adain import AdainTrainConfig

    raw = dict(content=str(data / "content"), style=str(data / "style"), out=str(out), encoder="efficientnet_lite0",
               steps=4, batch_size=2, size=32, load_size=40, checkpoint_every=2, sample_every=4)
    return AdainTrainConfig(**{**raw, **overrides})


@pytest.fixture(scope="session")
def decoder_bundle(small_refs, tmp_path_factory) -> Path:
    from artlens.style.adain import train_decoder

    return train_decoder(adain_config(small_refs, tmp_path_factory.mktemp("adain") / "run"))


@pytest.fixture(scope="session")
def two_styles(artdata, tmp_path_factory) -> Path:
    """Reference set of the trajectory study: two WikiArt styles, 6 real paintings each."""
    from tests.conftest import copy_subset

    return copy_subset(artdata, tmp_path_factory.mktemp("traj") / "ref", ["Pop_Art", "Ukiyo_e"], 6, size=64)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """A random-weight tiny_cnn classifier bundle (the trajectory maths does not need a trained one)."""
    import torch

    from artlens.config import ModelConfig
    from artlens.models import build_classifier, save_bundle

    torch.manual_seed(0)
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    model = build_classifier(cfg, 2)
    return save_bundle(model, tmp_path_factory.mktemp("clf") / "model", classes=["Pop_Art", "Ukiyo_e"], model_cfg=cfg)


def copy_to(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest
