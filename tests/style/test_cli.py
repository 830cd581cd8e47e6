"""``artlens stylize ...`` and ``artlens trajectory``: real runs at tiny sizes, and one-line errors."""

from __future__ import annotations

import sys

import pytest

from PIL import Image
from typer.testing import CliRunner

from artlens.cli import app
from artlens.errors import ArtlensError

runner = CliRunner()


def test_gatys_command_writes_the_image_and_reports_memory(style_refs, tmp_path):
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["stylize", "gatys", "--content", str(style_refs / "content" / "jcjohnson__tubingen.jpg"),
                                 "--style", str(style_refs / "style" / "jcjohnson__starry_night.jpg"),
                                 "--extractor", "efficientnet_lite0", "--size", "40", "--steps", "3",
                                 "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "peak memory" in result.output and "40x30" in result.output
    with Image.open(out) as img:
        assert img.size == (40, 30)


def test_adain_command_uses_a_decoder_bundle(decoder_bundle, style_refs, tmp_path):
    out = tmp_path / "adain.jpg"
    result = runner.invoke(app, ["stylize", "adain", "--decoder", str(decoder_bundle),
                                 "--content", str(style_refs / "content" / "naoto0804__sailboat.jpg"),
                                 "--style", str(style_refs / "style" / "jcjohnson__the_scream.jpg"),
                                 "--style", str(style_refs / "style" / "naoto0804__mondrian.jpg"),
                                 "--style-weights", "0.7,0.3", "--alpha", "0.5", "--content-size", "48",
                                 "--style-size", "48", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "alpha 0.5" in result.output and out.is_file()


def test_vgg19_without_weights_names_the_file_and_the_offline_alternative(style_refs, tmp_path):
    result = runner.invoke(app, ["stylize", "gatys", "--content", str(style_refs / "content" / "jcjohnson__tubingen.jpg"),
                                 "--style", str(style_refs / "style" / "jcjohnson__starry_night.jpg"),
                                 "--out", str(tmp_path / "x.png")])
    assert isinstance(result.exception, ArtlensError)
    message = str(result.exception)
    assert "vgg19-dcbb9e9d.pth" in message and "checkpoints" in message
    assert "choose --extractor efficientnet_lite0" in message
    # Each command names its own flag for the offline alternative.
    photo = str(style_refs / "content" / "jcjohnson__tubingen.jpg")
    for args, flag in ((["stylize", "reconstruct", "--image", photo, "--out", str(tmp_path / "r.png")], "--model"),
                       (["stylize", "adain-train", "--content", str(style_refs / "content"), "--style",
                         str(style_refs / "style"), "--out", str(tmp_path / "run")], "--encoder")):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, ArtlensError), result.output
        assert f"choose {flag} efficientnet_lite0" in str(result.exception)
    # A trained decoder's encoder cannot be swapped, so its error offers no alternative.
    from artlens.style.extractor import load_extractor

    with pytest.raises(ArtlensError) as err:
        load_extractor("vgg19", option=None)
    assert "vgg19-dcbb9e9d.pth" in str(err.value) and "choose" not in str(err.value)


def test_errors_are_one_line_with_exit_code_2(tmp_path, monkeypatch, capsys):
    from artlens.cli import main

    monkeypatch.setattr(sys, "argv", ["artlens", "stylize", "adain", "--decoder", str(tmp_path),
                                      "--content", "c.jpg", "--style", "s.jpg", "--out", str(tmp_path / "o.png")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not an AdaIN decoder bundle" in lines[0]


def test_bad_option_values_are_artlens_errors(style_refs, tmp_path):
    content = str(style_refs / "content" / "jcjohnson__tubingen.jpg")
    cases = [
        (["stylize", "gatys", "--content", content, "--style", content, "--out", "o.png", "--init", "zeros"], "init 'zeros'"),
        (["stylize", "gatys", "--content", content, "--style", content, "--out", "o.png", "--style-weights", "a,b"],
         "--style-weights"),
        (["stylize", "gatys", "--content", str(tmp_path / "missing.jpg"), "--style", content, "--out", "o.png",
          "--extractor", "efficientnet_lite0"], "missing.jpg: content image not found"),
        (["stylize", "gatys", "--content", content, "--style", content, "--out", str(tmp_path / "result"),
          "--extractor", "efficientnet_lite0"], "result: not an image file name; end it in .png or .jpg"),
        (["stylize", "adain", "--decoder", str(tmp_path), "--content", content, "--style", content,
          "--out", str(tmp_path / "result.txt")], "result.txt: not an image file name"),
        (["stylize", "adain-train", "--content", str(tmp_path), "--style", str(tmp_path), "--encoder",
          "efficientnet_lite0", "--out", str(tmp_path / "run")], "no image files found"),
        (["trajectory", "--classifier", "c", "--decoder", "d", "--pairs", str(tmp_path / "p.csv"), "--reference", "r",
          "--out", str(tmp_path / "t")], "p.csv: file not found"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert isinstance(result.exception, ArtlensError), (args, result.output)
        assert expected in str(result.exception), (expected, str(result.exception))
