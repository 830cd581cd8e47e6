"""What a file says about an image besides its pixels: size, format, JPEG tables, EXIF, text chunks.

A detector can learn these instead of "AI-ness": AI-ArtBench's Standard Diffusion images are 768 px
where its human and Latent Diffusion images are 256 px, generators save PNGs with their prompt in a
text chunk, cameras write EXIF and a software tag. :func:`image_metadata` reads every such cue from
the file header (the pixels are never decoded), so the shortcut audit can ask how well each one
alone predicts the label.

>>> row = image_metadata("painting.jpg")                              # doctest: +SKIP
>>> row["width"], row["format"], row["jpeg_quality"]                  # doctest: +SKIP
(384, 'JPEG', 75)
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

from ..data.images import UnreadableImage

__all__ = ["CATEGORICAL", "FEATURES", "NUMERIC", "estimate_jpeg_quality", "image_metadata", "metadata_of"]

#: Metadata features read as numbers (a threshold on one can split the labels).
NUMERIC = ("width", "height", "aspect", "file_size", "bytes_per_pixel", "jpeg_quality")
#: Metadata features read as categories (each value can stand for a label).
CATEGORICAL = ("format", "mode", "jpeg_tables", "exif", "software", "text_chunks")
FEATURES = NUMERIC + CATEGORICAL

# The IJG (libjpeg) luminance table at quality 50, from which every quality's table is scaled.
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17,
             22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78,
             87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


def _ijg_table(quality: int) -> list[int]:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, int((v * scale + 50) // 100))) for v in _IJG_LUMA]


_IJG_BY_QUALITY = {q: _ijg_table(q) for q in range(1, 101)}


def estimate_jpeg_quality(luma_table: list[int] | tuple[int, ...]) -> int:
    """The libjpeg quality (1-100) whose luminance table is nearest ``luma_table`` (in natural order, as
    Pillow gives it). Encoders other than libjpeg use their own tables, for which this is the nearest
    equivalent, not their setting.

    >>> estimate_jpeg_quality(_ijg_table(75))
    75
    """
    natural = [int(v) for v in luma_table]
    return min(_IJG_BY_QUALITY, key=lambda q: (sum(abs(a - b) for a, b in zip(natural, _IJG_BY_QUALITY[q])), -q))


def metadata_of(img: Image.Image, file_size: int) -> dict[str, Any]:
    """The features of an opened (not necessarily decoded) image whose file has ``file_size`` bytes."""
    width, height = img.size
    tables = getattr(img, "quantization", None) or {}
    exif = img.getexif()
    software = str(exif.get(0x0131, "")).strip() or str(img.info.get("Software", "") or img.info.get("software", ""))
    text = sorted(k for k, v in img.info.items() if isinstance(v, str) and k.lower() not in ("software",))
    return {
        "width": width, "height": height, "aspect": round(width / height, 4) if height else 0.0,
        "file_size": int(file_size), "bytes_per_pixel": round(file_size / max(1, width * height), 4),
        "jpeg_quality": estimate_jpeg_quality(tables[0]) if 0 in tables else -1,
        "format": img.format or "?", "mode": img.mode,
        "jpeg_tables": hashlib.sha1(repr(sorted((k, list(v)) for k, v in tables.items())).encode()).hexdigest()[:10]
        if tables else "none",
        "exif": "yes" if len(exif) else "no", "software": software[:40] or "none",
        "text_chunks": ",".join(text) or "none",
    }


def image_metadata(source: str | os.PathLike | bytes) -> dict[str, Any]:
    """:func:`metadata_of` a file (or its bytes), or :class:`~artlens.data.images.UnreadableImage`."""
    data = source if isinstance(source, bytes) else None
    name = "<bytes>" if data is not None else str(source)
    try:
        size = len(data) if data is not None else Path(name).stat().st_size
        with Image.open(io.BytesIO(data) if data is not None else name) as img:
            return metadata_of(img, size)
    except (OSError, ValueError, SyntaxError) as err:
        raise UnreadableImage(name, f"cannot read its header ({err})") from None
