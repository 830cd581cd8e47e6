"""Pictures in and out of style transfer: PIL <-> ``[0, 1]`` tensors, sizing, and colour preservation.

Style transfer works on un-normalised RGB in ``[0, 1]``; each extractor normalises with its own
mean/std on the way in (see :mod:`artlens.style.extractor`), so images never carry a model's
statistics around.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.images import UnreadableImage, load_image, to_rgb, upright
from ..errors import ArtlensError

__all__ = ["COLOR_MODES", "MIN_SIDE", "as_rgb", "check_side", "fit_size", "match_color", "open_image",
           "preserve_color", "round_to_multiple", "to_pil", "to_tensor"]

COLOR_MODES = ("none", "luminance", "histogram")


def open_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """Load an upright RGB image or fail with one line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ArtlensError(f"{path}: is a folder, expected one {what} file")
    if not path.is_file():
        raise ArtlensError(f"{path}: {what} not found")
    try:
        return load_image(path)
    except UnreadableImage as err:
        raise ArtlensError(f"{what} {err}") from None


def as_rgb(img: Image.Image) -> Image.Image:
    """The upright 8-bit RGB picture a viewer shows for ``img``, however it was opened.

    Library callers pass ``Image.open(...)`` straight in: without this an EXIF-rotated phone photo is
    stylised sideways, 16-bit greyscale clips to white and transparency turns black. It is what the
    CLI's :func:`open_image` gives, so the API and the commands see the same pixels.
    """
    return to_rgb(upright(img))


def fit_size(img: Image.Image, size: int | None, *, longer: bool = True, crop: bool = False) -> Image.Image:
    """Resize so the longer (or shorter) side is ``size`` (aspect ratio kept); optionally centre-crop a square.

    ``size`` 0/None keeps the original resolution (the AdaIN reference's ``--content_size 0``).
    """
    img = to_rgb(img)
    w, h = img.size
    if size:
        scale = size / (max(w, h) if longer else min(w, h))
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        img = img.resize((w, h), Image.BICUBIC)
    if crop and size:
        side = min(w, h, size)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    return img


def round_to_multiple(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """``(w, h)`` rounded to the nearest multiples of ``multiple`` (at least one multiple each).

    A decoder that upsamples by ``multiple`` only returns sizes that are multiples of it; rounding to
    the nearest one (not down) keeps the stretch the network sees, undone afterwards, smallest.
    """
    return tuple(max(multiple, round(side / multiple) * multiple) for side in size)  # type: ignore[return-value]


#: The smallest side a size option may ask for: below it every network's deeper layers are 1x1 or empty.
MIN_SIDE = 16


def check_side(size: int, option: str) -> None:
    """A size option is 0 (keep the original) or at least :data:`MIN_SIDE` pixels: say so in one line."""
    if size != 0 and size < MIN_SIDE:
        raise ArtlensError(f"{option} must be 0 (the original size) or at least {MIN_SIDE} pixels, got {size}")


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image (any mode: 16-bit and transparent ones via :func:`to_rgb`) -> ``(1, 3, H, W)`` float in ``[0, 1]``."""
    arr = np.asarray(to_rgb(img), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(x: torch.Tensor) -> Image.Image:
    """``(1, 3, H, W)`` or ``(3, H, W)`` in ``[0, 1]`` -> PIL RGB."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    arr = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def resize_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)


def match_color(source: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Give ``source`` the colour mean and covariance of ``target`` (linear colour transfer).

    This is the "colour histogram matching" variant of Gatys et al., *Preserving colour in neural
    artistic style transfer* (2016), and the ``--preserve_color`` of the AdaIN reference: the style
    image is recoloured with the content's palette before transfer, so only strokes and texture move.
    """
    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x[0].reshape(3, -1).double()
        mean = flat.mean(1, keepdim=True)
        cov = torch.cov(flat) + eps * torch.eye(3, dtype=flat.dtype)
        return mean, cov

    s_mean, s_cov = stats(source)
    t_mean, t_cov = stats(target)
    transform = torch.linalg.cholesky(t_cov) @ torch.linalg.inv(torch.linalg.cholesky(s_cov))
    flat = source[0].reshape(3, -1).double()
    out = transform @ (flat - s_mean) + t_mean
    return out.reshape_as(source[0]).unsqueeze(0).to(source.dtype).clamp(0, 1)


def _ycbcr(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, (b - y) * 0.564 + 0.5, (r - y) * 0.713 + 0.5], 1)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    y, cb, cr = x[:, 0], x[:, 1] - 0.5, x[:, 2] - 0.5
    r = y + 1.403 * cr
    b = y + 1.773 * cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.stack([r, g, b], 1).clamp(0, 1)


def preserve_color(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer: the result's luminance with the content's chroma (YCbCr)."""
    res, con = _ycbcr(result), _ycbcr(resize_like(content, result))
    return _rgb(torch.cat([res[:, :1], con[:, 1:]], 1))
