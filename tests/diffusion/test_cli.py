"""``artlens diffusion train|classify`` from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from artlens.cli import app

runner = CliRunner()


def test_train_then_classify_from_the_command_line_prints_the_cost_first(two_styles, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["diffusion", "train", "--data", str(two_styles), "--size", "16", "--out", str(out),
                                 "--steps", "2", "--batch-size", "4", "--base-channels", "8", "--channel-mults", "1",
                                 "--num-res-blocks", "1", "--attention-resolutions", "", "--timesteps", "50",
                                 "--sample-every", "2", "--samples-per-class", "2", "--sample-steps", "2",
                                 "--ema-decay", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "diffusion bundle:" in result.output and (out / "samples" / "step000002.png").is_file()
    meta = json.loads((out / "model" / "artlens.json").read_text())
    assert meta["unet"]["attention_resolutions"] == [] and meta["image_size"] == 16

    result = runner.invoke(app, ["diffusion", "classify", "--model", str(out / "model"), "--out", str(tmp_path / "zs"),
                                 "--samples", "2,4", "--keep", "2", "--limit", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    cost_at, done_at = result.output.index("cost: 8 denoiser passes per image"), result.output.index("done: accuracy")
    assert cost_at < done_at and "on 2 images" in result.output
    assert (tmp_path / "zs" / "eval" / "report.md").is_file()


def test_a_bad_model_folder_is_one_line(tmp_path):
    result = runner.invoke(app, ["diffusion", "classify", "--model", str(tmp_path), "--out", str(tmp_path / "zs")])
    assert result.exit_code != 0 and "not a diffusion model bundle" in str(result.exception)  # main() prints it
