"""AdaIN: decoder bundles, stylising with alpha and several styles, resumable training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from artlens.errors import ArtlensError
from artlens.style.adain import (
    DECODER_FORMAT,
    AdainStylizer,
    build_decoder,
    find_decoders,
    load_decoder_bundle,
    train_decoder,
)
from artlens.style.images import to_tensor

from .conftest import adain_config


def test_decoder_bundle_round_trip(decoder_bundle, photo, starry):
    meta = json.loads((decoder_bundle / "artlens.json").read_text())
    assert meta["format"] == DECODER_FORMAT
    assert meta["encoder"] == "efficientnet_lite0" and meta["layer"] == "blocks.2"
    assert meta["steps"] == 4 and "4 images" in meta["training"]["style"]
    decoder, _ = load_decoder_bundle(decoder_bundle)
    saved = load_file(str(decoder_bundle / "decoder.safetensors"))
    for k, v in decoder.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    stylizer = AdainStylizer.load(decoder_bundle)
    img = stylizer.stylize(photo, [starry], alpha=0.5, content_size=64, style_size=64)
    assert img.mode == "RGB" and img.size == (85, 64)  # shorter side = content_size, tubingen's 4:3 kept
    again = AdainStylizer.load(decoder_bundle).stylize(photo, [starry], alpha=0.5, content_size=64, style_size=64)
    assert np.array_equal(np.asarray(img), np.asarray(again))


def test_alpha_moves_the_features_from_content_to_style(decoder_bundle, photo, starry, scream):
    stylizer = AdainStylizer.load(decoder_bundle)
    c = to_tensor(photo.resize((64, 48)))
    s = to_tensor(starry.resize((64, 48)))
    outs = [stylizer.transfer(c, [s], alpha=a) for a in (0.0, 0.5, 1.0)]
    assert not torch.equal(outs[0], outs[2])
    # Linear in alpha before the decoder: the half-way image lies between the two ends.
    assert (outs[1] - outs[0]).abs().mean() < (outs[2] - outs[0]).abs().mean()
    s2 = to_tensor(scream.resize((64, 48)))
    only_first = stylizer.transfer(c, [s, s2], weights=[1, 0])
    torch.testing.assert_close(only_first, outs[2])
    assert not torch.equal(stylizer.transfer(c, [s, s2], weights=[1, 1]), outs[2])
    with pytest.raises(ArtlensError, match="--alpha"):
        stylizer.transfer(c, [s], alpha=1.5)
    with pytest.raises(ArtlensError, match="2 weights for 1 style"):
        stylizer.transfer(c, [s], weights=[1, 2])
    recoloured = stylizer.stylize(photo, [starry], preserve_color=True, content_size=48, style_size=48, crop=True)
    assert recoloured.size == (48, 48)


@pytest.mark.parametrize("sizes, message", [
    ({"content_size": -64}, "--content-size must be 0 (the original size) or at least 16 pixels, got -64"),
    ({"content_size": 4}, "--content-size must be 0 (the original size) or at least 16 pixels, got 4"),
    ({"style_size": -1}, "--style-size must be 0 (the original size) or at least 16 pixels, got -1"),
])
def test_sizes_below_16_pixels_are_refused(decoder_bundle, photo, starry, sizes, message):
    stylizer = AdainStylizer.load(decoder_bundle)
    with pytest.raises(ArtlensError) as err:
        stylizer.stylize(photo, [starry], **{"content_size": 64, "style_size": 64, **sizes})
    assert str(err.value) == message


def test_resumed_training_reaches_the_same_decoder(small_refs, tmp_path, decoder_bundle):
    """Killed after 2 of 4 steps and resumed == the uninterrupted 4-step run of the fixture."""
    straight = decoder_bundle
    train_decoder(adain_config(small_refs, tmp_path / "killed", steps=2))
    resumed = train_decoder(adain_config(small_refs, tmp_path / "killed", resume=True))
    a = load_file(str(straight / "decoder.safetensors"))
    b = load_file(str(resumed / "decoder.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert (tmp_path / "killed" / "log.csv").read_text().count("\n") == 5  # header + 4 steps, none repeated
    assert sorted(p.name for p in (tmp_path / "killed" / "samples").iterdir()) == ["step000002.png", "step000004.png"]
    with pytest.raises(ArtlensError, match="pass --resume"):
        train_decoder(adain_config(small_refs, tmp_path / "killed"))


def test_find_decoders_lists_only_decoder_bundles(decoder_bundle, tiny_classifier, tmp_path):
    import shutil

    shutil.copytree(decoder_bundle, tmp_path / "models" / "starry")
    shutil.copytree(tiny_classifier, tmp_path / "models" / "classifier")
    assert find_decoders(tmp_path / "models") == [tmp_path / "models" / "starry"]
    assert find_decoders(tmp_path / "missing") == []
    with pytest.raises(ArtlensError, match="not an AdaIN decoder"):
        AdainStylizer.load(tiny_classifier)


def test_vgg_decoder_mirrors_the_encoder_up_to_relu4_1(vgg_random):
    """The reference decoder: 9 convolutions 512->256 ... 64->3 with 3 upsamplings."""
    vgg = vgg_random
    decoder, spec = build_decoder(vgg, "relu4_1")
    convs = [m for m in decoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 3)]
    assert spec["ops"].count("up") == 3
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32)
        assert decoder(vgg(x, ["relu4_1"])["relu4_1"]).shape == x.shape


def test_training_input_errors(tmp_path, small_refs):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtlensError, match="no image files"):
        train_decoder(adain_config(small_refs, tmp_path / "run", style=str(tmp_path / "empty")))
    with pytest.raises(ArtlensError, match="--content .*not a folder"):
        train_decoder(adain_config(small_refs, tmp_path / "run", content=str(tmp_path / "nope")))
    with pytest.raises(ArtlensError, match="--load-size"):
        adain_config(small_refs, tmp_path / "run", size=64, load_size=32)


def test_unreadable_training_images_are_skipped(small_refs, tmp_path):
    from artlens.train.crops import RandomCrops

    bad = tmp_path / "page.jpg"
    bad.write_text("<html>not an image</html>")
    good = sorted((small_refs / "style").iterdir())[0]
    sampler = RandomCrops([bad, good], 32, 40, torch.Generator().manual_seed(0))
    assert sampler.batch(3).shape == (3, 3, 32, 32)
    assert sampler.bad == {bad} and sampler.files == [bad, good]  # kept, so draws stay the same on resume
    with pytest.raises(ArtlensError, match="no readable images left"):
        RandomCrops([bad], 32, 40, torch.Generator().manual_seed(0)).batch(1)


def test_a_run_killed_between_checkpoints_resumes_exactly_with_an_unreadable_image(small_refs, tmp_path):
    """Killed at step 3 (last checkpoint: step 2) with a broken file among the photos: the resumed
    run draws the same crops as the uninterrupted one, and its log has each step once."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_refs, data)
    (data / "content" / "zz_broken.jpg").write_bytes(b"not a jpeg")  # sorted last: not in the sample grid
    straight = train_decoder(adain_config(data, tmp_path / "straight", steps=6))

    def kill(step, _total, _losses):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_decoder(adain_config(data, tmp_path / "killed", steps=6), callback=kill)
    resumed = train_decoder(adain_config(data, tmp_path / "killed", steps=6, resume=True))
    a = load_file(str(straight / "decoder.safetensors"))
    b = load_file(str(resumed / "decoder.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    steps = [line.split(",")[0] for line in (tmp_path / "killed" / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize("content_size, expected", [(64, (122, 64)), (0, (190, 100))])
def test_the_result_keeps_the_contents_aspect_ratio_and_original_size(decoder_bundle, photo, starry,
                                                                      content_size, expected):
    """A 760x400 picture (not a multiple of the stride 8 once scaled) comes out 19:10, and at size 0 as it came in."""
    wide = photo.crop((0, 0, 760, 400)).resize((190, 100))
    stylizer = AdainStylizer.load(decoder_bundle)
    assert stylizer.stylize(wide, [starry], content_size=content_size, style_size=32).size == expected


def test_a_stride_32_decoder_keeps_a_4_3_photo_4_3(small_refs, tmp_path, photo, starry):
    bundle = train_decoder(adain_config(small_refs, tmp_path / "run", layer="blocks.6", size=64, load_size=64,
                                        steps=1, batch_size=1))
    stylizer = AdainStylizer.load(bundle)
    assert stylizer.stride == 32
    assert stylizer.stylize(photo, [starry], content_size=48, style_size=32).size == (64, 48)


def test_api_images_are_turned_upright_and_converted_like_the_cli(decoder_bundle, photo, starry, tmp_path):
    """``Image.open`` of a phone photo (EXIF orientation 6) is stylised upright, not sideways."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    photo.resize((64, 48)).save(tmp_path / "phone.jpg", exif=exif)
    stylizer = AdainStylizer.load(decoder_bundle)
    with Image.open(tmp_path / "phone.jpg") as raw:
        assert raw.size == (64, 48)
        assert stylizer.stylize(raw, [starry], content_size=48, style_size=32).size == (48, 64)


def test_device_auto_is_accepted_and_bad_devices_are_one_line(decoder_bundle):
    assert AdainStylizer.load(decoder_bundle, device="auto").device.type in ("cpu", "cuda")
    with pytest.raises(ArtlensError, match="--device gpu0: not a device"):
        AdainStylizer.load(decoder_bundle, device="gpu0")


def test_resuming_a_finished_run_changes_nothing(decoder_bundle, small_refs, tmp_path, caplog):
    """Same --steps: the bundle keeps its losses and timings; fewer --steps than the checkpoint: refused."""
    import shutil

    run = shutil.copytree(decoder_bundle.parent, tmp_path / "run")
    before = (run / "decoder" / "artlens.json").read_text()
    assert train_decoder(adain_config(small_refs, run, resume=True)) == run / "decoder"
    assert (run / "decoder" / "artlens.json").read_text() == before
    assert json.loads(before)["losses"]
    assert "already at step 4" in caplog.text
    with pytest.raises(ArtlensError, match=r"checkpoint.pt: the run is already at step 4, beyond --steps 2; "
                                           r"pass --steps 4 or more"):
        train_decoder(adain_config(small_refs, run, steps=2, resume=True))
    assert (run / "decoder" / "artlens.json").read_text() == before


def test_with_an_ema_the_bundle_holds_the_averaged_decoder(small_refs, tmp_path):
    """``--ema-decay``: the engine averages the decoder's weights; the bundle (and the grids) hold the average."""
    bundle = train_decoder(adain_config(small_refs, tmp_path / "run", steps=2, ema_decay=0.5))
    saved = load_file(str(bundle / "decoder.safetensors"))
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    raw, ema = state["models"]["decoder"], state["ema"]["decoder"]
    assert all(torch.equal(saved[k], ema[f"module.{k}"]) for k in saved)
    assert any(not torch.equal(saved[k], raw[k]) for k in saved)
    assert json.loads((bundle / "artlens.json").read_text())["training"]["ema_decay"] == 0.5
