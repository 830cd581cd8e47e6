"""Heatmaps drawn over paintings: the map on the picture at its own resolution, and a captioned panel.

A CAM is computed at the model's input (224 px, a centre crop or a squashed square). Stretching that
small RGB overlay back over the painting blurs the painting, and jet at full strength tints it blue,
so on a blue painting (Starry Night) the cold areas cannot be told from the paint. Here the *map*,
not the overlay, is mapped back to the painting's own pixels: a squashed square is stretched to the
picture's proportions, a centre crop is placed where it was cut from (the rest of the picture stays
uncoloured: the model never saw it). The colour is a perceptual colormap (``inferno``) whose opacity
follows the map, over a desaturated copy of the painting, so a cold area shows the paint itself,
dimmed, and a hot area is unmistakable whatever the painting's own colours.

>>> import numpy as np
>>> from PIL import Image
>>> picture = Image.new("RGB", (300, 200), "navy")
>>> heat_on_picture(picture, np.zeros((224, 224), np.float32), resize="squash").size
(300, 200)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["cam_box", "heat_on_picture", "plot_cam_panel"]

CMAP = "inferno"
"""Perceptually uniform, dark-to-bright: the hottest area is the brightest, also in greyscale print."""


def cam_box(size: tuple[int, int], *, resize: str, input_size: int, crop_pct: float = 0.875) -> tuple[int, int, int, int]:
    """The part of a picture (``size``: width, height) the model saw, as ``(left, top, right, bottom)``.

    ``squash``: the whole picture. ``crop``: the centre square that timm's evaluation transform keeps
    (shorter side resized to ``input_size / crop_pct``, then a centre crop of ``input_size``).
    """
    width, height = size
    if resize == "squash":
        return 0, 0, width, height
    side = min(width, height) * input_size / math.floor(input_size / crop_pct)
    left, top = (width - side) / 2, (height - side) / 2
    return round(left), round(top), round(left + side), round(top + side)


def heat_on_picture(picture: Image.Image, heatmap: np.ndarray, *, resize: str = "squash", input_size: int | None = None,
                    crop_pct: float = 0.875, alpha: float = 0.7, max_side: int | None = 4096,
                    cmap: str = CMAP) -> Image.Image:
    """``heatmap`` (``(h, w)`` in [0, 1], at the model's input) over ``picture`` at the picture's own size.

    The opacity of the colour is ``alpha * heat``: where the map is 0 the (desaturated) painting shows
    through unchanged. ``max_side`` bounds the longest side (a 40-megapixel scan would otherwise make a
    120 MB overlay); ``None`` keeps any size.
    """
    from matplotlib import colormaps

    picture = picture.convert("RGB")
    if max_side is not None and max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.LANCZOS)
    heatmap = np.nan_to_num(np.asarray(heatmap, dtype=np.float32)).clip(0, 1)
    box = cam_box(picture.size, resize=resize, input_size=input_size or heatmap.shape[0], crop_pct=crop_pct)
    left, top, right, bottom = box
    full = np.zeros((picture.height, picture.width), np.float32)
    # Bilinear upsampling of the float map: smooth at any scale, with no 8-bit banding.
    patch = Image.fromarray(heatmap).resize((max(1, right - left), max(1, bottom - top)), Image.BILINEAR)
    x0, y0 = max(0, left), max(0, top)
    p = np.asarray(patch)[y0 - top:y0 - top + picture.height - y0, x0 - left:x0 - left + picture.width - x0]
    full[y0:y0 + p.shape[0], x0:x0 + p.shape[1]] = p
    rgb = np.asarray(picture, dtype=np.float32) / 255.0
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    base = 0.85 * (0.3 * rgb + 0.7 * grey[..., None])  # the paint, quieter: the map's colours stand out
    colour = colormaps[cmap](full)[..., :3].astype(np.float32)
    a = (alpha * full)[..., None]
    out = (1 - a) * base + a * colour
    if resize != "squash":  # outside the crop the model saw nothing: show that part greyed and darker
        seen = np.zeros(full.shape, bool)
        seen[y0:y0 + p.shape[0], x0:x0 + p.shape[1]] = True
        out[~seen] = 0.5 * grey[~seen, None]
    return Image.fromarray((out.clip(0, 1) * 255).round().astype(np.uint8))


def plot_cam_panel(picture: Image.Image, overlay: Image.Image, path: str | os.PathLike, *, caption: str,
                   cmap: str = CMAP, max_side: int = 900) -> Path:
    """The painting and its map side by side, a caption above and the map's colour scale beside.

    ``caption`` is the whole story of the map: the class explained, its probability, the true label
    when known, the method and the layer (what a figure in a paper says under the image).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from .figures import _save, plt

    def shrink(img: Image.Image) -> Image.Image:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.LANCZOS)
        return img

    aspect = picture.height / picture.width
    width = 10.0
    fig, axes = plt.subplots(1, 2, figsize=(width, width / 2 * aspect + 0.9), layout="constrained")
    for ax, img, name in zip(axes, (shrink(picture), shrink(overlay)), ("painting", "map")):
        ax.imshow(img)
        ax.set_axis_off()
        ax.set_title(name, fontsize=8, color="0.35")
    fig.colorbar(ScalarMappable(Normalize(0, 1), colormaps[cmap]), ax=axes[1], fraction=0.046, pad=0.02,
                 label="relevance (0 = none, 1 = the map's maximum)")
    fig.suptitle(caption, fontsize=10)
    return _save(fig, path)
