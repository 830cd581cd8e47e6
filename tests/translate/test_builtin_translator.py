"""The CycleGAN shipped inside the package: found with no option, offline, it paints photos at their own size."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from artlens.cli import app
from artlens.models.bundle import default_translator_path
from artlens.style.images import to_tensor
from artlens.translate import Translator, builtin_translator, read_translator_meta

runner = CliRunner()


def _photos(artdata, n=4, size=(128, 96)) -> list[Image.Image]:
    return [Image.open(p).convert("RGB").resize(size) for p in sorted((artdata / "photos_ccby").glob("*.jpg"))[:n]]


def test_the_package_ships_a_small_photo_to_impressionism_model_that_says_what_it_learnt_from():
    path = builtin_translator()
    assert path == default_translator_path() and path is not None
    meta = read_translator_meta(path)
    assert "photos_ccby" in meta["domains"]["a"] and "Impressionism" in meta["domains"]["b"]
    assert meta["steps"] >= 1000 and meta["generator"]["kind"] == "resnet"
    assert sum(f.stat().st_size for f in path.iterdir()) < 12 * 2**20


def test_the_built_in_model_keeps_the_photo_and_can_take_its_painting_back(artdata):
    painter = Translator.load()  # no path: the built-in model
    photos = _photos(artdata)
    to_painting, back = [], []
    for photo in photos:
        painting = painter.translate(photo, direction="a2b")
        assert painting.size == photo.size
        x, y = to_tensor(photo), to_tensor(painting)
        to_painting.append(float((y - x).abs().mean()))
        back.append(float((to_tensor(painter.translate(painting, direction="b2a")) - x).abs().mean()))
        assert np.asarray(painting).std() > 10  # a picture, not a flat field
    # it repaints (the painting differs from the photo) and the cycle closes: B->A undoes most of A->B
    assert min(to_painting) > 0.02, to_painting
    assert np.mean(back) < min(0.12, np.mean(to_painting)), (back, to_painting)  # untrained: about 0.26


def test_cyclegan_apply_needs_no_model_option(artdata, tmp_path):
    photo = sorted((artdata / "photos_ccby").glob("*.jpg"))[0]
    odd = tmp_path / "odd.jpg"
    Image.open(photo).convert("RGB").resize((101, 77)).save(odd)
    result = runner.invoke(app, ["cyclegan", "apply", str(odd), "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "odd_a2b.png").size == (101, 77)
    assert "wrote 1 image(s)" in result.output
