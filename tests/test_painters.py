"""The painter-to-style map that adds Kaggle's artists to the built-in model's training data."""

from __future__ import annotations

from pathlib import Path

import pytest

from artlens.data.painters import painter_samples, read_painter_styles
from artlens.errors import ArtlensError

ROOT = Path(__file__).resolve().parents[1]
STYLES = ["Abstract_Expressionism", "Baroque", "Cubism", "Fauvism", "Impressionism", "Minimalism",
          "Naive_Art_Primitivism", "Pointillism", "Pop_Art", "Rococo", "Ukiyo_e"]


def test_the_shipped_map_reviews_every_painter_with_a_reason(artdata):
    styles = read_painter_styles(ROOT / "configs" / "painter_styles.yaml", styles=STYLES,
                                 painters_root=artdata / "artists49")
    assert len(styles) == 49 and all(s.reason for s in styles.values())
    assert styles["claude_monet"].style == "Impressionism" and styles["pablo_picasso"].style is None
    samples = painter_samples(artdata / "artists49", styles)
    assert {s.label for s in samples} <= set(STYLES)
    assert not any("picasso" in s.path for s in samples) and any("monet" in s.path for s in samples)


def _map(tmp_path, text: str) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    return path


def test_an_unknown_style_names_the_painter_and_the_styles(tmp_path):
    path = _map(tmp_path, 'painters:\n  claude_monet: {style: Impresionism, reason: "typo"}\n')
    with pytest.raises(ArtlensError, match=r"map.yaml: painter 'claude_monet': unknown style 'Impresionism'; "
                                           r"the styles are: Abstract_Expressionism, Baroque"):
        read_painter_styles(path, styles=STYLES)


def test_an_unknown_or_unreviewed_painter_is_an_error(tmp_path, artdata):
    path = _map(tmp_path, 'painters:\n  claude_monnet: {style: Impressionism, reason: "typo"}\n')
    with pytest.raises(ArtlensError, match="unknown painter 'claude_monnet': no folder"):
        read_painter_styles(path, styles=STYLES, painters_root=artdata / "artists49")
    path = _map(tmp_path, 'painters:\n  claude_monet: {style: Impressionism, reason: "founder"}\n')
    with pytest.raises(ArtlensError, match="painter 'alfred_sisley' of .* is not reviewed"):
        read_painter_styles(path, styles=STYLES, painters_root=artdata / "artists49")


def test_every_entry_needs_a_reason_and_the_file_must_be_yaml(tmp_path):
    with pytest.raises(ArtlensError, match="painter 'claude_monet': needs a reason"):
        read_painter_styles(_map(tmp_path, "painters:\n  claude_monet: {style: Impressionism}\n"))
    with pytest.raises(ArtlensError, match="map.yaml: not valid YAML at line"):
        read_painter_styles(_map(tmp_path, "painters:\n  claude_monet: {style: [\n"))
