"""Artifacts that generated images share and photographs do not, measured as numbers.

:func:`grid_strength` measures the checkerboard a network's strided upsampling leaves (Odena et al.
2016, "Deconvolution and Checkerboard Artifacts"): a transposed convolution whose kernel does not
divide evenly by its stride writes some output pixels with more taps than others, and the generator
paints that unevenness as a faint grid that repeats every 2 or 4 pixels. Such a grid is hard to see
at full size and obvious in a zoom; a number lets a training recipe be judged on it, and a test catch
it coming back.

>>> import numpy as np
>>> from PIL import Image
>>> rng = np.random.default_rng(0)
>>> noise = rng.uniform(0, 1, (256, 256))
>>> grid = np.tile([[0.0, 0.1, 0.0, 0.1], [0.1, 0.3, 0.1, 0.3], [0.0, 0.1, 0.0, 0.1], [0.1, 0.3, 0.1, 0.3]], (64, 64))
>>> round(grid_strength(Image.fromarray((noise * 200).astype("uint8"))), 2)   # no grid: chance alone, 4 / 256
0.02
>>> round(grid_strength(Image.fromarray(((noise * 0.5 + grid) * 200).astype("uint8"))), 2)  # a grid every 2 and 4 px
0.62
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

__all__ = ["grid_strength"]


def grid_strength(image: Image.Image, *, period: int = 4) -> float:
    """The share of ``image``'s fine detail that repeats on a grid of ``period`` pixels, from 0 (none:
    a photograph, about ``period / sqrt(pixels)`` from chance alone) to 1 (all of it).

    The detail is the luminance minus its mean over each ``period`` x ``period`` window: that removes
    smooth content and keeps any pattern of that period whole (one period averages to a constant).
    Averaging the detail over every position with the same offset in the grid (``period``\\ :sup:`2`
    offsets) keeps what repeats and cancels the rest; the result is the root mean square of those
    averages over that of the detail. ``period=4`` also catches a period of 2 (the two transposed
    convolutions of a CycleGAN generator make both).
    """
    if period < 2:
        raise ValueError(f"period must be at least 2, got {period}")
    x = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    h, w = (x.shape[0] // period) * period, (x.shape[1] // period) * period
    if h < 4 * period or w < 4 * period:
        raise ValueError(f"an image of {x.shape[1]}x{x.shape[0]} px is too small to measure a grid of {period} px")
    detail = (x - uniform_filter(x, size=period, mode="reflect"))[:h, :w]
    detail -= detail.mean()
    offsets = detail.reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    spread = float(np.sqrt((detail ** 2).mean()))
    return float(np.sqrt((offsets ** 2).mean()) / spread) if spread > 0 else 0.0
