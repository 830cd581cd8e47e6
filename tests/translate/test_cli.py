"""``artlens cyclegan train`` and ``artlens cyclegan apply``: real runs at toy size, and one-line errors."""

from __future__ import annotations

from PIL import Image
from typer.testing import CliRunner

from artlens.cli import app

runner = CliRunner()


def test_train_then_resume_then_apply(domains, tmp_path):
    photos, paintings = domains
    run = tmp_path / "photo2impressionism"
    common = ["cyclegan", "train", "--a", str(photos), "--b", str(paintings), "--out", str(run), "--size", "32",
              "--load-size", "36", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--checkpoint-every", "1",
              "--device", "cpu"]
    result = runner.invoke(app, [*common, "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "bundle:" in result.output and (run / "model" / "model.safetensors").is_file()
    assert (run / "losses.png").is_file() and (run / "samples" / "step000002.png").is_file()  # epoch = 6 images
    again = runner.invoke(app, [*common, "--steps", "2"])
    assert again.exit_code != 0 and "pass --resume" in str(again.exception)  # main() prints it as one line
    resumed = runner.invoke(app, [*common, "--steps", "3", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (run / "log.csv").read_text().count("\n") == 4  # header + 3 steps

    photo = sorted(photos.glob("*.jpg"))[0]
    out = tmp_path / "painted"
    applied = runner.invoke(app, ["cyclegan", "apply", str(photo), "--model", str(run / "model"), "--out", str(out),
                                  "--tile", "128", "--overlap", "16", "--device", "cpu"])
    assert applied.exit_code == 0, applied.output
    with Image.open(photo) as a, Image.open(out / f"{photo.stem}_a2b.png") as b:
        assert a.size == b.size  # 299 px photo, three tiles a side


def test_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["cyclegan", "apply", str(tmp_path / "nope.jpg"), "--model", str(tmp_path)])
    assert "nope.jpg: no such file or folder" in str(result.exception)
    result = runner.invoke(app, ["cyclegan", "train", "--a", str(tmp_path / "missing"), "--b", str(tmp_path)])
    assert "--a" in str(result.exception) and "no such folder or manifest" in str(result.exception)
