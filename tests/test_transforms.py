"""Transforms come from the model's preprocessing; presets only differ in training."""

from __future__ import annotations

import logging

import pytest
import torch
from torchvision.transforms.v2.functional import pil_to_tensor

from artlens.data import AUGMENT_PRESETS, Preprocessing, build_transform, load_image
from artlens.data.transforms import RandomDownscale, RandomJPEG


def first_painting(artdata, folder: str):
    return load_image(sorted((artdata / folder).glob("*.jpg"))[0])


@pytest.mark.parametrize("size", [160, 32])
@pytest.mark.parametrize("preset", AUGMENT_PRESETS)
def test_presets_give_model_sized_normalised_tensors(artdata, preset, size):
    img = first_painting(artdata, "aic_periods/golden_age_1880s")
    pre = Preprocessing(input_size=size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x = build_transform(pre, train=True, augment=preset)(img)
    assert x.shape == (3, size, size) and x.dtype == torch.float32 and -1.01 <= x.min() and x.max() <= 1.01


def test_evaluation_transform_is_deterministic(artdata):
    img = first_painting(artdata, "wikiart11/Fauvism")
    tf = build_transform(Preprocessing())
    assert torch.equal(tf(img), tf(img))


def test_aggressive_warns_that_colour_is_style(caplog):
    with caplog.at_level(logging.WARNING):
        build_transform(Preprocessing(), train=True, augment="aggressive")
    assert "colour" in caplog.text


def _fine_detail(x: torch.Tensor) -> float:
    """Mean absolute difference between neighbouring pixels: what a thumbnail loses."""
    return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def test_random_downscale_keeps_the_size_but_loses_detail(artdata):
    img = first_painting(artdata, "aic_periods/golden_age_1880s").resize((224, 224))
    x = build_transform(Preprocessing(resize="squash"))(img)
    torch.manual_seed(0)
    small = RandomDownscale(0.3, 0.35)(x)
    assert small.shape == x.shape
    assert _fine_detail(small) < 0.8 * _fine_detail(x)
    torch.manual_seed(0)
    assert torch.equal(RandomDownscale(0.3, 0.35)(x), small), "the scale is drawn from torch's seeded generator"
    with pytest.raises(ValueError, match="min_scale"):
        RandomDownscale(0.7, 0.3)


def test_degrade_preset_sometimes_degrades_and_keeps_colour(artdata):
    img = first_painting(artdata, "wikiart11/Fauvism")
    pre = Preprocessing(resize="squash")
    clean = build_transform(pre, train=True, augment="flip-rotate")
    degraded = build_transform(pre, train=True, augment="degrade")
    torch.manual_seed(0)
    clean_detail = [_fine_detail(clean(img)) for _ in range(12)]
    torch.manual_seed(0)
    views = [degraded(img) for _ in range(12)]
    assert min(_fine_detail(v) for v in views) < 0.8 * min(clean_detail), "some views must be blurred"
    base = build_transform(pre)(img)
    for v in views:  # the mean colour survives: no jitter
        assert torch.allclose(v.mean(dim=(1, 2)), base.mean(dim=(1, 2)), atol=0.25)


def test_random_jpeg_re_encodes_at_a_random_quality(artdata):
    img = first_painting(artdata, "aic_periods/golden_age_1880s")
    torch.manual_seed(0)
    out = RandomJPEG(5, 5)(img)
    assert out.size == img.size and out.mode == "RGB"
    diff = pil_to_tensor(out).float() - pil_to_tensor(img).float()
    assert diff.abs().mean() > 1.0, "quality 5 must visibly change the pixels"
    with pytest.raises(ValueError, match="quality"):
        RandomJPEG(90, 30)


def test_every_configurable_preset_has_operations():
    from artlens.data.transforms import _PRESET_OPS

    assert list(_PRESET_OPS) == list(AUGMENT_PRESETS)
