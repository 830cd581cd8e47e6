"""grid_strength: a number for the checkerboard a generator's upsampling leaves, on real pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from artlens.evaluate import grid_strength


def _photo(artdata, i=0) -> Image.Image:
    return Image.open(sorted((artdata / "photos_ccby").glob("*.jpg"))[i]).convert("RGB")


def _with_grid(image: Image.Image, amplitude: float, period: int) -> Image.Image:
    """``image`` plus the unevenness of a stride-2 transposed convolution: brighter every ``period``-th pixel."""
    x = np.asarray(image, np.float32)
    ys, xs = np.indices(x.shape[:2])
    bump = ((ys % period == 0) & (xs % period == 0)) * amplitude * 255
    return Image.fromarray(np.clip(x + bump[..., None], 0, 255).astype(np.uint8))


def test_photographs_score_near_zero_and_a_faint_grid_does_not(artdata):
    for i in range(3):
        photo = _photo(artdata, i)
        clean = grid_strength(photo)
        assert clean < 0.05, clean
        # a grid of 3 % of the range, barely visible at full size, stands far above the photo's own detail
        assert grid_strength(_with_grid(photo, 0.03, 4)) > 3 * clean
        assert grid_strength(_with_grid(photo, 0.03, 2)) > 3 * clean  # period 4 also catches period 2


def test_a_stronger_grid_scores_higher_and_resizing_blurs_it_away(artdata):
    photo = _photo(artdata)
    scores = [grid_strength(_with_grid(photo, a, 4)) for a in (0.01, 0.03, 0.1)]
    assert scores == sorted(scores) and scores[-1] > 0.3, scores
    gridded = _with_grid(photo, 0.1, 4)
    assert grid_strength(gridded.resize((210, 210), Image.BILINEAR)) < 0.1  # off the pixel lattice, it is gone


def test_too_small_an_image_or_period_is_refused(artdata):
    with pytest.raises(ValueError, match="too small"):
        grid_strength(_photo(artdata).resize((10, 10)))
    with pytest.raises(ValueError, match="period"):
        grid_strength(_photo(artdata), period=1)
