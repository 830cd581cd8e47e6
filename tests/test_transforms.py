"""Transforms come from the model's preprocessing; presets only differ in training."""

from __future__ import annotations

import logging

import pytest
import torch

from artlens.data import AUGMENT_PRESETS, Preprocessing, build_transform, load_image


@pytest.mark.parametrize("preset", AUGMENT_PRESETS)
def test_presets_give_model_sized_normalised_tensors(artdata, preset):
    img = load_image(sorted((artdata / "aic_periods" / "golden_age_1880s").glob("*.jpg"))[0])
    pre = Preprocessing(input_size=160, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x = build_transform(pre, train=True, augment=preset)(img)
    assert x.shape == (3, 160, 160) and x.dtype == torch.float32 and -1.01 <= x.min() and x.max() <= 1.01


def test_evaluation_transform_is_deterministic(artdata):
    img = load_image(sorted((artdata / "wikiart11" / "Fauvism").glob("*.jpg"))[0])
    tf = build_transform(Preprocessing())
    assert torch.equal(tf(img), tf(img))


def test_aggressive_warns_that_colour_is_style(caplog):
    with caplog.at_level(logging.WARNING):
        build_transform(Preprocessing(), train=True, augment="aggressive")
    assert "colour" in caplog.text
