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


def test_gatys_flags_typed_out_win_over_the_extractors_preset(style_refs, tmp_path):
    """efficientnet_lite0's preset solves at half size first (32 px, then 40 px); --scales 1 --tv-weight 0 win."""
    args = ["stylize", "gatys", "--content", str(style_refs / "content" / "jcjohnson__tubingen.jpg"),
            "--style", str(style_refs / "style" / "jcjohnson__starry_night.jpg"), "--extractor", "efficientnet_lite0",
            "--size", "40", "--steps", "2", "--device", "cpu"]
    tuned = runner.invoke(app, args + ["--out", str(tmp_path / "tuned.png")])
    assert tuned.exit_code == 0, tuned.output
    assert "(32x24 -> 40x30, 3 iterations" in tuned.output
    plain = runner.invoke(app, args + ["--scales", "1", "--tv-weight", "0", "--out", str(tmp_path / "plain.png")])
    assert plain.exit_code == 0, plain.output
    assert "(40x30, 2 iterations" in plain.output


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


def test_unwritable_outputs_fail_in_one_line_before_any_work(style_refs, tmp_path, monkeypatch):
    """A folder named like an image, a format that cannot hold RGB, a figure name matplotlib cannot write."""
    import artlens.style.gatys as gatys
    import artlens.style.reconstruct as rec

    monkeypatch.setattr(gatys, "optimise_image", lambda *a, **k: pytest.fail("optimised before checking --out"))
    monkeypatch.setattr(rec, "reconstruct", lambda *a, **k: pytest.fail("reconstructed before checking --out"))
    photo = str(style_refs / "content" / "jcjohnson__tubingen.jpg")
    (tmp_path / "d.png").mkdir()
    (tmp_path / "recdir").mkdir()
    gatys_args = ["stylize", "gatys", "--content", photo, "--style", photo, "--extractor", "efficientnet_lite0",
                  "--size", "32", "--steps", "1", "--out"]
    rec_args = ["stylize", "reconstruct", "--image", photo, "--model", "efficientnet_lite0", "--size", "32",
                "--steps", "1", "--out"]
    for args, expected in (
            (gatys_args + [str(tmp_path / "d.png")], "d.png: is a folder; give an image file name"),
            (gatys_args + [str(tmp_path / "x.xbm")], "x.xbm: Pillow cannot write an RGB image as XBM"),
            (rec_args + [str(tmp_path / "rec.txt")], "rec.txt: not a figure file name matplotlib can write"),
            (rec_args + [str(tmp_path / "recdir")], "recdir: is a folder"),
            (rec_args + [str(tmp_path / "rec")], "rec: not a figure file name matplotlib can write")):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, ArtlensError), (args, result.output)
        assert expected in str(result.exception) and "\n" not in str(result.exception), str(result.exception)


def test_gatys_progress_total_counts_merged_levels_once(style_refs, tmp_path, monkeypatch):
    """--size 48 --scales 3: the 12 and 24 px levels merge into one 32 px level, so 2 + 1 iterations."""
    import contextlib

    import artlens.progress

    totals = []

    @contextlib.contextmanager
    def recording_bar(total, description, **_kwargs):
        totals.append(total)
        yield lambda n=1: None

    monkeypatch.setattr(artlens.progress, "progress_bar", recording_bar)
    result = runner.invoke(app, ["stylize", "gatys", "--content", str(style_refs / "content" / "jcjohnson__tubingen.jpg"),
                                 "--style", str(style_refs / "style" / "jcjohnson__starry_night.jpg"),
                                 "--extractor", "efficientnet_lite0", "--size", "48", "--scales", "3", "--steps", "2",
                                 "--refine-steps", "1", "--optimizer", "adam", "--out", str(tmp_path / "o.png"),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert totals == [3] and "3 iterations" in result.output


def test_misleading_inputs_get_errors_that_say_what_they_are(style_refs, decoder_bundle, tmp_path):
    photo = str(style_refs / "content" / "jcjohnson__tubingen.jpg")
    cases = [
        (["stylize", "gatys", "--content", photo, "--style", str(style_refs / "style"), "--out", str(tmp_path / "o.png"),
          "--extractor", "efficientnet_lite0"], "style: is a folder, expected one style image file"),
        (["stylize", "gatys", "--content", photo, "--style", photo, "--out", str(tmp_path / "o.png"),
          "--extractor", str(decoder_bundle)],
         "--extractor " + str(decoder_bundle) + ": is an AdaIN decoder bundle, not a classifier bundle"),
        (["stylize", "reconstruct", "--image", photo, "--out", str(tmp_path / "r.png"), "--model", str(decoder_bundle)],
         "--model " + str(decoder_bundle) + ": is an AdaIN decoder bundle"),
        (["stylize", "gatys", "--content", photo, "--style", photo, "--out", str(tmp_path / "o.png"),
          "--extractor", "efficientnet_lite0", "--size", "1"], "--size must be 0 (the original size) or at least 16"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert isinstance(result.exception, ArtlensError), (args, result.output)
        assert expected in str(result.exception), (expected, str(result.exception))


def test_resuming_a_finished_adain_run_says_so(decoder_bundle, small_refs, tmp_path):
    import shutil

    run = shutil.copytree(decoder_bundle.parent, tmp_path / "run")
    before = (run / "decoder" / "artlens.json").read_text()
    result = runner.invoke(app, ["stylize", "adain-train", "--content", str(small_refs / "content"), "--style",
                                 str(small_refs / "style"), "--out", str(run), "--encoder", "efficientnet_lite0",
                                 "--steps", "4", "--size", "32", "--load-size", "40", "--resume", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "no step left to train: the run was already at step 4" in result.output
    assert (run / "decoder" / "artlens.json").read_text() == before
