"""Image loading that never crashes a run.

Real art collections contain truncated downloads, HTML pages saved as ``.jpg``, CMYK scans, 16-bit
PNGs and rotated phone photos. :func:`load_image` turns every readable file into an upright RGB image
and every unreadable one into an :class:`UnreadableImage` error whose message says why, so callers
can skip and count instead of dying. Pillow's decompression-bomb limit is deliberately kept.

>>> from artlens.data.images import load_image
>>> img = load_image("painting.jpg")            # doctest: +SKIP
>>> img.mode                                     # doctest: +SKIP
'RGB'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

__all__ = [
    "IMAGE_EXTENSIONS",
    "SkippedImage",
    "UnreadableImage",
    "check_image",
    "displayed_size",
    "is_image_file",
    "iter_image_files",
    "load_image",
    "scan_images",
    "to_rgb",
    "upright",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jfif"})

# Never silently accept half a JPEG: a truncated file must be reported, not padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class UnreadableImage(Exception):
    """A file that cannot be used as an image; ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class SkippedImage:
    """One file left out of a run, with the reason, as listed in run reports."""

    path: str
    reason: str


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_system_name(name: str) -> bool:
    """Hidden files and folders, and the ``__MACOSX`` resource forks a zip made on a Mac carries:
    never images, never classes."""
    return name.startswith(".") or name == "__MACOSX"


def iter_image_files(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursively, sorted, hidden files and ``__MACOSX`` ignored)."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_system_name(d))
        for name in sorted(filenames):
            if not is_system_name(name) and is_image_file(name):
                found.append(Path(dirpath) / name)
    return found


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB without the classic pitfalls.

    Transparent images are composited on white (a transparent background is paper, not black);
    16- and 32-bit greyscale is rescaled from its real range instead of being clipped to 255.
    """
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


_ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height on display


_ORIENTATION_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                          6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(0x0112)
    except Exception:  # a broken EXIF block should not hide an otherwise readable image
        return None


def displayed_size(img: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of an opened image as it is shown upright (EXIF rotation applied), from its header."""
    width, height = img.size
    return (height, width) if _orientation(img) in _ROTATED_ORIENTATIONS else (width, height)


def upright(img: Image.Image) -> Image.Image:
    """``img`` turned as its EXIF orientation says, like :func:`PIL.ImageOps.exif_transpose`.

    Pillow also rewrites the EXIF block of the copy it returns, and a damaged block (one wrong tag
    type is enough) makes that rewrite raise ``struct.error`` or ``TypeError``. The pixels are fine, so
    the orientation is then applied on its own, as an image viewer would, instead of losing the picture.
    """
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        method = _ORIENTATION_TRANSPOSE.get(_orientation(img))
        if method is None:
            return img
        turned = img.transpose(method)
        # The copy keeps the block that says "turn me": drop it (as exif_transpose drops the tag), so
        # that the upright picture is never turned a second time.
        for key in ("exif", "xmp", "XML:com.adobe.xmp"):
            turned.info.pop(key, None)
        return turned


def load_image(path: str | os.PathLike, *, draft_size: int | None = None) -> Image.Image:
    """Open ``path`` as an upright RGB image, or raise :class:`UnreadableImage`.

    ``draft_size`` lets JPEG decoders skip work by decoding at a reduced scale (1/2 .. 1/8) that is
    still at least that many pixels on each side: the cheap path for scans and thumbnails.
    """
    try:
        with Image.open(path) as img:
            if draft_size is not None:  # JPEG and MPO (phone photos) only: a no-op for other formats
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            return to_rgb(upright(img))
    except Image.DecompressionBombError as err:
        raise UnreadableImage(path, f"decompression bomb refused ({err})") from None
    except FileNotFoundError:
        raise UnreadableImage(path, "broken symbolic link" if Path(path).is_symlink() else "file not found") from None
    except Image.UnidentifiedImageError:
        raise UnreadableImage(path, "not an image (Pillow cannot identify the format)") from None
    except OSError as err:
        raise UnreadableImage(path, f"corrupt or truncated image ({err})") from None
    except (ValueError, SyntaxError, IndexError, EOFError) as err:  # malformed headers raise these too
        raise UnreadableImage(path, f"corrupt image ({type(err).__name__}: {err})") from None


def check_image(path: str | os.PathLike) -> str | None:
    """Return ``None`` if ``path`` decodes, else the reason it does not (fast: reduced decoding)."""
    try:
        load_image(path, draft_size=64)
    except UnreadableImage as err:
        return err.reason
    return None


def scan_images(paths: Sequence[str | os.PathLike], *, workers: int | None = None) -> list[SkippedImage]:
    """Decode every file once (in threads, at reduced size) and list the ones that fail.

    Done once before training so that bad files are counted up front and listed in the report,
    rather than surfacing as a crash in epoch 7.
    """
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(check_image, paths, chunksize=16))
    return [SkippedImage(str(p), r) for p, r in zip(paths, reasons) if r is not None]
