"""Turning untrusted upload bytes into an upright RGB image, or a precise HTTP error.

The type is decided by decoding, never by the file name or the client's Content-Type: an HTML page
saved as ``.jpg`` is refused with 415 and a truncated JPEG with 422. Only common raster formats are
tried (Pillow would otherwise also open EPS through Ghostscript). The pixel count is checked from the
header *before* decoding, so a 50 kB PNG that claims 100k x 100k pixels (a decompression bomb) is
refused with 413 without allocating anything. EXIF orientation is applied, so phone photos are upright.
Given the model's ``draft_size``, a large JPEG decodes at a reduced scale, exactly as ``artlens predict``
reads files, so the page and the command line give the same probabilities.

>>> from artlens.serve.uploads import decode_upload
>>> img = decode_upload(open("painting.jpg", "rb").read(), field="file")   # doctest: +SKIP
>>> img.image.mode, img.format                                              # doctest: +SKIP
('RGB', 'JPEG')
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from PIL import Image

from .. import upright  # artlens keeps Pillow's LOAD_TRUNCATED_IMAGES off
from ..data import to_rgb

__all__ = ["ACCEPTED_FORMATS", "MAX_ASPECT", "DecodedImage", "UploadError", "decode_upload"]

#: Formats Pillow may try on an upload (phones' multi-picture MPO files open as JPEG).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


#: Longest side over shortest that an upload may have: a 107-byte 8000 x 1 PNG passes any pixel
#: limit, but a model that resizes its shorter side to 256 px would make a 2-gigapixel image of it.
MAX_ASPECT = 50


class UploadError(Exception):
    """An upload the service refuses: ``status`` is the HTTP code, ``str()`` the one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    """Upright 8-bit RGB."""
    format: str
    width: int
    height: int
    """The picture's size as uploaded (upright), whatever scale it was decoded at."""


def _bomb(field: str, err: Exception, max_pixels: int) -> UploadError:
    """Pillow's own refusal (beyond its limit, before we see the size) in the service's words, with our limit."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    claimed = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "more pixels than Pillow allows"
    return UploadError(413, f"{field}: decompression bomb refused: the image declares {claimed}, "
                            f"over the {max_pixels / 1e6:.0f} megapixel limit")


def decode_upload(data: bytes, *, field: str = "file", max_bytes: int = 10 * 1024 * 1024,
                  max_pixels: int = 40_000_000, draft_size: int | None = None) -> DecodedImage:
    """Decode ``data`` or raise :class:`UploadError` (413 too big, 415 not an image, 422 corrupt).

    ``draft_size``: decode JPEGs at 1/2, 1/4 or 1/8 scale where that keeps at least this many
    pixels a side (see :attr:`artlens.data.transforms.Preprocessing.decode_size`).
    """
    if not data:
        raise UploadError(422, f"{field}: empty upload")
    if len(data) > max_bytes:
        # Only the limit is known: the server stops reading one byte past it.
        raise UploadError(413, f"{field}: larger than the {max_bytes / 2**20:.1f} MB limit")
    try:
        img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as err:
        raise _bomb(field, err, max_pixels) from None
    except Image.UnidentifiedImageError:
        raise UploadError(415, f"{field}: not an image (content is not {', '.join(ACCEPTED_FORMATS)})") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as err:
        raise UploadError(422, f"{field}: corrupt image header ({err})") from None
    width, height = img.size
    if width * height > max_pixels:
        raise UploadError(413, f"{field}: decompression bomb refused: {width}x{height} = {width * height / 1e6:.0f} "
                               f"megapixels exceeds the {max_pixels / 1e6:.0f} megapixel limit")
    if max(width, height) > MAX_ASPECT * min(width, height):  # resizing its short side would blow it up
        raise UploadError(422, f"{field}: {width}x{height} pixels is not a picture a model can read "
                               f"(sides more than {MAX_ASPECT}:1 apart)")
    fmt = img.format or "unknown"
    try:
        if draft_size is not None:
            img.draft("RGB", (draft_size, draft_size))  # a no-op for formats other than JPEG
        img.load()
        decoded = img.size
        img = upright(img)
        rgb = to_rgb(img)
    except Image.DecompressionBombError as err:
        raise _bomb(field, err, max_pixels) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, MemoryError) as err:
        raise UploadError(422, f"{field}: corrupt or truncated {fmt} image ({err})") from None
    if rgb.size != decoded:  # EXIF turned it a quarter: the upright picture is the header's, swapped
        width, height = height, width
    return DecodedImage(image=rgb, format=fmt, width=width, height=height)
