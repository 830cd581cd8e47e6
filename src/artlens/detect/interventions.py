"""Ways of removing a suspected shortcut from an image while keeping what it shows.

Each intervention takes the raw bytes of a file and returns new bytes; the counterfactual test
re-scores a model on the changed images, and the shortcut audit reads the metadata of normalised
ones. If a model's accuracy falls when every image has the same size, the same JPEG quality or
no EXIF, it was reading the size, the quality or the EXIF.

* ``resize``: every image squashed to one size (``size`` x ``size``), saved losslessly (PNG);
* ``jpeg``: re-encoded as JPEG at one quality (``quality``);
* ``grayscale``: converted to grayscale, saved losslessly;
* ``strip-exif``: the same pixels, as stored, without EXIF or any other metadata (an image that relied
  on its EXIF orientation is then shown as stored);
* ``normalise``: all of them: one size, grayscale, one JPEG quality, no metadata (what the audit's
  ``--normalise`` reads).

>>> sorted(INTERVENTIONS.names())
['grayscale', 'jpeg', 'normalise', 'resize', 'strip-exif']
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from .._registry import Registry
from ..data.images import to_rgb, upright

__all__ = ["INTERVENTIONS", "Intervention", "apply_intervention"]


@dataclass(frozen=True)
class Intervention:
    """The one setting every intervention may read: the size of ``resize``, the quality of ``jpeg``."""

    size: int = 256
    quality: int = 90


INTERVENTIONS: Registry[Callable[[bytes, Intervention], bytes]] = Registry("intervention")


def _open(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)  # no exif= or pnginfo=: nothing but pixels is written
    return buffer.getvalue()


@INTERVENTIONS.register("resize")
def _resize(data: bytes, how: Intervention) -> bytes:
    img = to_rgb(upright(_open(data)))
    return _save(img.resize((how.size, how.size), Image.BICUBIC), "PNG")


@INTERVENTIONS.register("jpeg")
def _jpeg(data: bytes, how: Intervention) -> bytes:
    return _save(to_rgb(upright(_open(data))), "JPEG", quality=how.quality)


@INTERVENTIONS.register("grayscale")
def _grayscale(data: bytes, how: Intervention) -> bytes:
    return _save(to_rgb(upright(_open(data))).convert("L"), "PNG")


@INTERVENTIONS.register("strip-exif")
def _strip_exif(data: bytes, how: Intervention) -> bytes:
    img = _open(data)
    return _save(img if img.mode in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA") else to_rgb(img), "PNG")


@INTERVENTIONS.register("normalise")
def _normalise(data: bytes, how: Intervention) -> bytes:
    img = to_rgb(upright(_open(data))).convert("L").resize((how.size, how.size), Image.BICUBIC)
    return _save(img, "JPEG", quality=how.quality)


def apply_intervention(name: str, data: bytes, how: Intervention | None = None) -> bytes:
    """The bytes of the image ``data`` after intervention ``name``."""
    return INTERVENTIONS.get(name)(data, how or Intervention())
