"""Style trajectories: AdaIN at several alphas, traced through a classifier's per-layer PCA."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artlens.errors import ArtlensError
from artlens.style import AdainConfig
from artlens.style.trajectory import TrajectoryConfig, read_pairs, run_trajectory


@pytest.fixture()
def pairs_file(style_refs, tmp_path):
    path = tmp_path / "pairs.csv"
    content, style = style_refs / "content", style_refs / "style"
    path.write_text(f"content,style\n{content / 'naoto0804__sailboat.jpg'},{style / 'jcjohnson__the_scream.jpg'}\n"
                    f"{content / 'jcjohnson__tubingen.jpg'},{style / 'naoto0804__mondrian.jpg'}\n")
    return path


def test_paths_one_panel_per_layer(pairs_file, tiny_classifier, decoder_bundle, two_styles, tmp_path):
    cfg = TrajectoryConfig(classifier=str(tiny_classifier), pairs=str(pairs_file), reference=str(two_styles),
                           adain=AdainConfig(decoder=str(decoder_bundle), content_size=48, style_size=48),
                           out=str(tmp_path / "traj"), alphas=[0, 0.5, 1], layers=["1", "2"])
    calls = []
    result = run_trajectory(cfg, callback=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (6, 6)
    assert result.figure.is_file() and len(result.strips) == 2
    data = json.loads((tmp_path / "traj" / "trajectories.json").read_text())
    assert list(data["layers"]) == ["1", "2"]
    for layer in data["layers"].values():
        paths = np.asarray(layer["paths"])
        assert paths.shape == (2, 3, 2)  # pairs x alphas x PCA(2)
        assert not np.allclose(paths[:, 0], paths[:, -1])  # alpha moves the point
        assert set(layer["reference"]) == {"Pop_Art", "Ukiyo_e"} and len(layer["reference"]["Pop_Art"]) == 6
        assert 0 < sum(layer["explained_variance"]) <= 1


def test_pairs_file_errors(tmp_path, style_refs):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("a.jpg\tb.jpg\n")
    with pytest.raises(ArtlensError, match=r"pairs.tsv:1: image .*a.jpg not found"):
        read_pairs(bad)
    bad.write_text("only_one_column.jpg\n")
    with pytest.raises(ArtlensError, match="expected 'content,style'"):
        read_pairs(bad)
    with pytest.raises(ArtlensError, match="--alphas"):
        TrajectoryConfig(classifier="c", pairs="p", reference="r", alphas=[0, 2])
    with pytest.raises(ArtlensError, match="--reference is required"):
        TrajectoryConfig(classifier="c", pairs="p")
    with pytest.raises(ArtlensError, match="--content-size must be 0 .* or at least 16 pixels, got -1"):
        TrajectoryConfig(classifier="c", pairs="p", reference="r", adain={"content_size": -1})


def test_a_strip_shows_a_portrait_style_painting_whole(style_refs, tmp_path):
    from PIL import Image

    from artlens.style.trajectory import _strip

    scream = Image.open(style_refs / "style" / "jcjohnson__the_scream.jpg").convert("RGB")  # 1200 x 1528
    results = [Image.new("RGB", (80, 64), "grey")] * 2
    strip = Image.open(_strip(scream, scream, results, [0.0, 1.0], tmp_path / "strip.png"))
    style_tile = round(1200 * 64 / 1528)  # the whole painting at the strip's height
    assert strip.size == (80 + 80 + 80 + style_tile + 3 * 4, 64)


def test_a_pairs_file_saved_by_excel_with_a_bom_is_read(style_refs, tmp_path):
    content, style = style_refs / "content" / "jcjohnson__tubingen.jpg", style_refs / "style" / "naoto0804__mondrian.jpg"
    path = tmp_path / "pairs_bom.csv"
    path.write_text(f"content,style\n{content},{style}\n", encoding="utf-8-sig")
    assert read_pairs(path) == [(content, style)]
    path.write_text(f"{content},{style}\n", encoding="utf-8-sig")  # no header: the BOM sits on a path
    assert read_pairs(path) == [(content, style)]


def test_a_decoder_bundle_given_as_the_classifier_is_named_as_such(decoder_bundle, pairs_file, two_styles, tmp_path):
    cfg = TrajectoryConfig(classifier=str(decoder_bundle), adain=AdainConfig(decoder=str(decoder_bundle)),
                           pairs=str(pairs_file), reference=str(two_styles), out=str(tmp_path / "traj"), device="auto")
    with pytest.raises(ArtlensError, match="--classifier .*: is an AdaIN decoder bundle, not a classifier bundle"):
        run_trajectory(cfg)
