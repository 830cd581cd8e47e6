"""Gatys optimisation on real images with the offline EfficientNet-Lite0 extractor."""

from __future__ import annotations

import pytest

from artlens.errors import ArtlensError
from artlens.style.extractor import load_extractor
from artlens.style.gatys import (PRESETS, GatysConfig, default_preset, level_plan, resolve_preset, run_gatys,
                                 stylize_gatys)


def test_style_loss_falls_by_a_large_factor_on_a_real_painting(photo, starry, lite0):
    cfg = GatysConfig(extractor="efficientnet_lite0", size=64, steps=15)
    result = run_gatys(photo, [starry], cfg, extractor=lite0)
    first, last = result.history[0]["style"], result.history[-1]["style"]
    assert last < first / 10, (first, last)
    assert result.image.size == (64, 48)  # tubingen is 4:3, longer side = size
    assert result.layers["style"] == list(PRESETS.get("lite0").style_layers)
    assert result.peak_memory_mb > 0 and result.memory_kind == "process peak RSS"


def test_multiscale_blend_callback_and_snapshots(photo, starry, scream, lite0, tmp_path):
    seen = []
    cfg = GatysConfig(extractor="efficientnet_lite0", size=64, scales=2, steps=4, refine_steps=2, optimizer="adam",
                      init="noise", style_weights=[3, 1], preserve_color="luminance", tv_weight=1.0,
                      save_every=2, save_dir=str(tmp_path / "steps"))
    result = run_gatys(photo, [starry, scream], cfg, extractor=lite0,
                       callback=lambda step, total, losses: seen.append((step, total, set(losses))))
    assert result.sizes == [(32, 24), (64, 48)]
    assert [s for s, _, _ in seen] == list(range(1, 7)) and seen[0][1] == 6
    assert seen[0][2] == {"content", "style", "tv", "total"}
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["step00002.png", "step00004.png", "step00006.png"]
    assert result.image.size == (64, 48)


def test_levels_below_32_pixels_are_merged_not_run_twice(photo, starry, lite0):
    seen = []
    cfg = GatysConfig(extractor="efficientnet_lite0", size=48, scales=3, steps=2, refine_steps=1, optimizer="adam")
    result = run_gatys(photo, [starry], cfg, extractor=lite0, callback=lambda step, total, _: seen.append((step, total)))
    assert result.sizes == [(32, 24), (48, 36)]  # 12 px and 24 px levels both become 32 px: run once
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_stylize_gatys_returns_a_pil_image(photo, starry, monkeypatch, lite0):
    import artlens.style.gatys as gatys

    monkeypatch.setattr(gatys, "load_extractor", lambda *a, **k: lite0)
    img = stylize_gatys(photo, [starry], GatysConfig(extractor="efficientnet_lite0", size=40, steps=2),
                        callback=lambda *a: None)
    assert img.mode == "RGB" and max(img.size) == 40


def test_vgg19_uses_the_papers_layers(vgg_random):
    vgg = vgg_random
    preset = default_preset(vgg)
    assert preset.content_layers == ("conv4_2",)
    assert preset.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    resnet = load_extractor("resnet50", weights="none")
    assert default_preset(resnet) is PRESETS.get("best-artworks-resnet50")
    resnet.check_layers(PRESETS.get("best-artworks-resnet50").style_layers)


@pytest.mark.parametrize("name", ["torchvision/resnet50", "pandora_vgg_lite"])
def test_a_family_preset_whose_layers_are_missing_falls_back_to_the_stages(name):
    """torchvision's ResNet50 has no timm 'act1', pandora_vgg_lite no 'conv4_2': use their stages."""
    extractor = load_extractor(name, weights="none")
    preset = default_preset(extractor)
    assert preset.style_layers == tuple(extractor.backbone.stages)
    extractor.check_layers([*preset.content_layers, *preset.style_layers])


def test_alexnet_transfers_style_on_its_convolutional_stages(photo, starry):
    """torchvision's AlexNet lists its classifier as a stage; a Gram matrix needs feature maps."""
    alexnet = load_extractor("alexnet", weights="none")
    assert "classifier" in alexnet.backbone.stages
    preset = default_preset(alexnet)
    assert "classifier" not in preset.style_layers and len(preset.style_layers) == 5
    result = run_gatys(photo, [starry], GatysConfig(size=64, steps=1), extractor=alexnet)
    assert max(result.image.size) == 64
    with pytest.raises(ArtlensError, match="layer classifier gives a vector, not a feature map"):
        run_gatys(photo, [starry], GatysConfig(style_layers=["classifier"], size=160, steps=1), extractor=alexnet)


def test_an_image_too_small_for_the_layers_fails_in_one_line(photo, starry):
    vgg16 = load_extractor("vgg16_bn", weights="none")
    with pytest.raises(ArtlensError, match=r"a 32x20 image is too small for its layers .*larger --size"):
        run_gatys(photo, [starry], GatysConfig(size=32, steps=1, style_layers=["features.43"]), extractor=vgg16)


def test_bad_options_fail_with_one_line(photo, starry, lite0):
    with pytest.raises(ArtlensError, match="optimizer 'sgd'"):
        GatysConfig(optimizer="sgd")
    with pytest.raises(ArtlensError, match="--preserve-color"):
        GatysConfig(preserve_color="sepia")
    with pytest.raises(ArtlensError, match="no layer 'blocks.9'"):
        run_gatys(photo, [starry], GatysConfig(style_layers=["blocks.9"], size=32, steps=1), extractor=lite0)
    with pytest.raises(ArtlensError, match="2 weights for 1 style images"):
        run_gatys(photo, [starry], GatysConfig(style_weights=[1, 2], size=32, steps=1), extractor=lite0)


def test_api_images_are_upright_rgb_like_the_clis(photo, starry, lite0, tmp_path):
    """``Image.open`` straight into the API: an EXIF-rotated photo comes out upright, 16-bit grey not white."""
    import numpy as np
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    photo.resize((64, 48)).save(tmp_path / "phone.jpg", exif=exif)
    grey16 = Image.fromarray(np.asarray(photo.convert("L").resize((64, 48)), dtype=np.uint16) * 257)  # 16-bit
    grey16.save(tmp_path / "scan16.png")
    cfg = GatysConfig(extractor="efficientnet_lite0", size=32, steps=1, optimizer="adam", lr=1e-6)
    with Image.open(tmp_path / "phone.jpg") as raw:
        assert run_gatys(raw, [starry], cfg, extractor=lite0).image.size == (24, 32)  # portrait, as shown
    with Image.open(tmp_path / "scan16.png") as raw:
        assert raw.mode.startswith("I")
        out = np.asarray(run_gatys(raw, [starry], cfg, extractor=lite0).image, dtype=np.float32) / 255
    assert 0.2 < out.mean() < 0.8  # the scan's greys, not Pillow's clipped all-white


@pytest.mark.parametrize("size", [1, 15, -8])
def test_sizes_below_16_pixels_are_refused(size):
    with pytest.raises(ArtlensError) as err:
        GatysConfig(size=size)
    assert str(err.value) == f"--size must be 0 (the original size) or at least 16 pixels, got {size}"


def test_a_size_below_32_pixels_is_not_enlarged(photo, starry, lite0):
    result = run_gatys(photo, [starry], GatysConfig(size=24, scales=2, steps=1), extractor=lite0)
    assert result.sizes == [(24, 18)] and result.image.size == (24, 18)


def test_level_plan_counts_merged_levels_once():
    cfg = GatysConfig(size=64, steps=10, scales=3)
    assert level_plan(cfg, (1024, 768)) == [(32, 10), (64, 5)]  # 16 px and 32 px levels are one 32 px level
    assert level_plan(GatysConfig(size=0, steps=4, scales=2, refine_steps=1), (100, 80)) == [(50, 4), (100, 1)]


def test_the_offline_extractor_gets_its_tuned_defaults_and_vgg19_the_papers():
    """EfficientNet-Lite0's preset solves at half size first, weighs style 3e4 and adds a TV prior
    (docs/style.md, scripts/gatys_defaults_figure.py); VGG19 keeps Gatys et al.'s recipe."""
    lite0 = resolve_preset(GatysConfig(extractor="efficientnet_lite0"))
    assert (lite0.scales, lite0.style_weight, lite0.tv_weight) == (2, 3e4, PRESETS.get("lite0").tv_weight)
    assert lite0.tv_weight > 0
    vgg = resolve_preset(GatysConfig(extractor="vgg19"))
    assert (vgg.scales, vgg.style_weight, vgg.tv_weight, vgg.content_layers) == (1, 1e5, 0.0, ("conv4_2",))
    # The plan a progress bar and the server's estimate read follows the preset's scales.
    assert level_plan(GatysConfig(extractor="efficientnet_lite0", size=64, steps=4), (1024, 768)) == [(32, 4), (64, 2)]
    assert level_plan(GatysConfig(extractor="vgg19", size=64, steps=4), (1024, 768)) == [(64, 4)]


def test_an_explicit_option_wins_over_the_preset_even_when_it_is_zero_or_one(photo, starry, lite0):
    tuned = run_gatys(photo, [starry], GatysConfig(extractor="efficientnet_lite0", size=64, steps=2), extractor=lite0)
    assert tuned.sizes == [(32, 24), (64, 48)] and "tv" in tuned.history[-1]  # the preset's 2 scales and TV
    cfg = GatysConfig(extractor="efficientnet_lite0", size=64, steps=2, scales=1, tv_weight=0.0, style_weight=1e4)
    plain = run_gatys(photo, [starry], cfg, extractor=lite0)
    assert plain.sizes == [(64, 48)] and "tv" not in plain.history[-1]
    explicit = resolve_preset(cfg, lite0)
    assert (explicit.scales, explicit.tv_weight, explicit.style_weight) == (1, 0.0, 1e4)
    assert explicit.style_layers == PRESETS.get("lite0").style_layers  # what was not set stays the preset's
    # The same weights, once from the preset and once typed out, give the same style term.
    same = run_gatys(photo, [starry], GatysConfig(extractor="efficientnet_lite0", size=64, steps=2, scales=2,
                                                   style_weight=3e4, tv_weight=PRESETS.get("lite0").tv_weight),
                     extractor=lite0)
    assert same.history[0] == tuned.history[0]
    with pytest.raises(ArtlensError, match="--tv-weight must be >= 0"):
        GatysConfig(tv_weight=-1.0)
