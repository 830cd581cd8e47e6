"""The AdaIN decoder shipped inside the package: found with no option, offline, and it transfers style."""

from __future__ import annotations

import json

import numpy as np
import torch
from typer.testing import CliRunner

from artlens.cli import app
from artlens.models.bundle import default_decoder_path, read_bundle_meta
from artlens.style import AdainConfig, AdainStylizer, builtin_decoder, run_adain
from artlens.style.images import fit_size, to_tensor
from artlens.style.losses import moment_loss

runner = CliRunner()


def test_the_package_ships_a_small_decoder_that_says_what_it_was_trained_on():
    path = builtin_decoder()
    assert path == default_decoder_path() and path is not None
    meta = read_bundle_meta(path, format="artlens-adain-decoder/1")
    assert meta["encoder"] == "efficientnet_lite0" and meta["layer"] == "blocks.2"
    assert "photos_ccby" in meta["training"]["content"] and "wikiart11" in meta["training"]["style"]
    assert meta["steps"] >= 1000
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 20 * 2**20


def test_style_grows_with_alpha_and_alpha_0_gives_the_photo_back(photo, starry):
    stylizer = AdainStylizer.load()  # no path: the built-in decoder
    style_layers = stylizer.meta["style_layers"]
    content = to_tensor(fit_size(photo, 256, longer=False))
    style = to_tensor(fit_size(starry, 256, longer=False))
    with torch.no_grad():
        target = stylizer.extractor(style, style_layers)
        style_losses, outputs = [], []
        for alpha in (0.0, 0.5, 1.0):
            out = stylizer.stylize(photo, [starry], alpha=alpha, content_size=256, style_size=256)
            assert out.size == (fit_size(photo, 256, longer=False).size)
            x = to_tensor(out)
            outputs.append(x)
            feats = stylizer.extractor(x, style_layers)
            style_losses.append(float(moment_loss([feats[k] for k in style_layers], [target[k] for k in style_layers])))
    assert style_losses[0] > style_losses[1] > style_losses[2], style_losses
    # alpha 0 is the decoder's reconstruction of the photo: close to it, and closer than the full transfer
    to_photo = [float((x - content).abs().mean()) for x in outputs]
    assert to_photo[0] < 0.12 and to_photo[0] < to_photo[2], to_photo


def test_run_adain_reports_the_time_and_the_decoder(photo, scream):
    result = run_adain(photo, [scream], AdainConfig(alpha=0.8, content_size=128, style_size=128))
    assert result.decoder == str(builtin_decoder()) and result.seconds > 0
    assert min(result.image.size) == 128
    assert np.asarray(result.image).std() > 10  # a picture, not a flat field


def test_the_command_needs_no_decoder_option(style_refs, tmp_path):
    out = tmp_path / "starry_tubingen.png"
    result = runner.invoke(app, ["stylize", "adain", "--content", str(style_refs / "content" / "jcjohnson__tubingen.jpg"),
                                 "--style", str(style_refs / "style" / "jcjohnson__starry_night.jpg"),
                                 "--content-size", "96", "--style-size", "96", "--alpha", "0.7",
                                 "--preserve-color", "luminance", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "decoder adain-lite0" in result.output and "alpha 0.7" in result.output
    assert json.loads((builtin_decoder() / "artlens.json").read_text())["name"] == "adain-lite0"
