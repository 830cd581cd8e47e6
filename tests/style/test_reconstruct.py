"""Single-layer content and style reconstructions (ArtBench study 4.2) as a grid figure."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from PIL import Image

from artlens.errors import ArtlensError
from artlens.style.images import fit_size, to_tensor
from artlens.style.reconstruct import ReconstructConfig, reconstruct, reconstruction_grid


def test_a_shallow_layer_gives_the_picture_back(starry, lite0):
    """From noise, 15 steps on the first layer already bring back the painting's layout."""
    img, loss = reconstruct(starry, lite0, "bn1", kind="content", size=48, steps=15)
    coarse = lambda x: F.avg_pool2d(x, 4)  # noqa: E731  (compare layouts, not pixel noise)
    target = coarse(to_tensor(fit_size(starry, 48)))
    err = float((coarse(to_tensor(img)) - target).abs().mean())
    grey_err = float((target - 0.5).abs().mean())
    assert loss < 0.3
    assert err < grey_err / 1.5, (err, grey_err)


def test_grid_has_one_row_per_model_and_one_column_per_layer(starry, tmp_path, tiny_classifier):
    """Two models side by side (a trained bundle and a fresh backbone of the same architecture)."""
    cfg = ReconstructConfig(models=[str(tiny_classifier), "tiny_cnn"], layers=["0", "1"], kind="style", size=32,
                            steps=3)
    out = reconstruction_grid(starry, cfg, tmp_path / "grid.png")
    assert set(out["losses"]) == {"model", "tiny_cnn"}
    assert set(out["losses"]["model"]) == {"0", "1"}
    with Image.open(tmp_path / "grid.png") as fig:
        assert fig.width > fig.height  # 2 rows x 3 columns


def test_two_runs_bundles_both_called_model_get_a_row_each(starry, tmp_path, tiny_classifier):
    import shutil

    for run in ("vgg_2class", "vgg_10class"):
        shutil.copytree(tiny_classifier, tmp_path / run / "model")
    cfg = ReconstructConfig(models=[str(tmp_path / r / "model") for r in ("vgg_2class", "vgg_10class")],
                            layers=["0"], size=32, steps=2)
    out = reconstruction_grid(starry, cfg, tmp_path / "grid.png")
    assert list(out["losses"]) == ["vgg_2class/model", "vgg_10class/model"]


def test_unknown_kind_or_layer_is_a_clear_error(starry, tmp_path):
    with pytest.raises(ArtlensError, match="reconstruction kind 'texture'"):
        ReconstructConfig(kind="texture")
    cfg = ReconstructConfig(models=["efficientnet_lite0"], layers=["conv4_2"], size=32, steps=1)
    with pytest.raises(ArtlensError, match="no layer 'conv4_2'"):
        reconstruction_grid(starry, cfg, tmp_path / "grid.png")


def test_default_columns_are_the_first_models_style_layers(lite0, vgg_random, tiny_classifier):
    from artlens.style.reconstruct import grid_layers

    assert grid_layers(ReconstructConfig(models=["vgg19"]), [vgg_random]) == [
        "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    assert grid_layers(ReconstructConfig(models=["efficientnet_lite0"]), [lite0]) == [
        "bn1", "blocks.0", "blocks.1", "blocks.2", "blocks.4"]
    # Rows compare one layer across models, so a second model without the first's layers is refused.
    with pytest.raises(ArtlensError, match="no layer 'bn1'"):
        grid_layers(ReconstructConfig(models=["efficientnet_lite0", "vgg19"]), [lite0, vgg_random])


def test_reconstruct_command_defaults_to_the_models_layers(style_refs, tmp_path):
    from typer.testing import CliRunner

    from artlens.cli import app

    out = tmp_path / "grid.png"
    result = CliRunner().invoke(app, ["stylize", "reconstruct", "--image",
                                      str(style_refs / "style" / "jcjohnson__starry_night.jpg"), "--out", str(out),
                                      "--model", "efficientnet_lite0", "--size", "32", "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "efficientnet_lite0: bn1 " in result.output and "blocks.4" in result.output and out.is_file()


def test_device_auto_and_api_images_of_any_mode(tmp_path):
    """The config's default-like "auto" loads; an RGBA painting is composited on white, as the CLI does."""
    import numpy as np

    cfg = ReconstructConfig(models=["efficientnet_lite0"], layers=["bn1"], size=32, steps=1, device="auto")
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # fully transparent: paper, so white
    out = reconstruction_grid(rgba, cfg, tmp_path / "grid.png")
    assert set(out["losses"]["efficientnet_lite0"]) == {"bn1"}
    target = to_tensor(fit_size(rgba, 32))
    assert float(target.mean()) == 1.0 and np.isclose(float(to_tensor(rgba).min()), 1.0)


@pytest.mark.parametrize("name, message", [
    ("grid.txt", "grid.txt: not a figure file name matplotlib can write"),
    ("grid", "grid: not a figure file name matplotlib can write"),
])
def test_a_figure_name_matplotlib_cannot_write_fails_before_any_work(starry, tmp_path, name, message, monkeypatch):
    import artlens.style.reconstruct as rec

    monkeypatch.setattr(rec, "reconstruct", lambda *a, **k: pytest.fail("reconstructed before checking --out"))
    cfg = ReconstructConfig(models=["efficientnet_lite0"], layers=["bn1"], size=32, steps=1)
    with pytest.raises(ArtlensError, match=message):
        reconstruction_grid(starry, cfg, tmp_path / name)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ArtlensError, match="folder.png: is a folder"):
        reconstruction_grid(starry, cfg, tmp_path / "folder.png")


def _layout_agreement(img: Image.Image, original: Image.Image, size: int) -> float:
    """Correlation of the 4x4-pooled images: the layout, not the pixel detail or the overall contrast."""
    a = F.avg_pool2d(to_tensor(img), 4).flatten()
    b = F.avg_pool2d(to_tensor(fit_size(original, size)), 4).flatten()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def _pixel_noise(img: Image.Image) -> float:
    """Mean absolute difference of neighbouring pixels (what total variation penalises)."""
    x = to_tensor(img)
    return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def test_the_default_image_prior_keeps_a_deep_layers_layout_where_bare_noise_does_not(starry, lite0):
    """Gatys et al.'s Figure 1 keeps the layout from deep layers; from pixel noise with no prior the same
    optimisation leaves noise. The defaults (grey start, total variation) must give an image."""
    prior, _ = reconstruct(starry, lite0, "blocks.1", kind="content", size=64, steps=30)
    bare, _ = reconstruct(starry, lite0, "blocks.1", kind="content", size=64, steps=30, init="noise", tv_weight=0.0)
    original = to_tensor(fit_size(starry, 64))
    natural = float((original[..., 1:, :] - original[..., :-1, :]).abs().mean()
                    + (original[..., :, 1:] - original[..., :, :-1]).abs().mean())
    assert _pixel_noise(prior) < 2 * natural < _pixel_noise(bare)
    assert _layout_agreement(prior, starry, 64) > _layout_agreement(bare, starry, 64) + 0.1  # measured: 0.72 vs 0.53


def test_style_columns_match_the_cumulative_layer_sets_of_the_paper():
    from artlens.style.reconstruct import column_layers

    layers = ["conv1_1", "conv2_1", "conv3_1"]
    style = ReconstructConfig(kind="style")
    assert [column_layers(style, layers, c) for c in range(3)] == [
        ["conv1_1"], ["conv1_1", "conv2_1"], ["conv1_1", "conv2_1", "conv3_1"]]
    assert column_layers(ReconstructConfig(kind="style", cumulative=False), layers, 2) == ["conv3_1"]
    assert column_layers(ReconstructConfig(kind="content"), layers, 2) == ["conv3_1"]
    with pytest.raises(ArtlensError, match="reconstruction init 'blur'"):
        ReconstructConfig(init="blur")
    with pytest.raises(ArtlensError, match="--tv-weight"):
        ReconstructConfig(tv_weight=-1)
