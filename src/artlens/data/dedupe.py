"""Near-duplicate detection for artworks with perceptual hashes.

Art datasets are full of the same painting twice: under two styles, in train and in test, as a
re-photographed or re-cropped copy. One small decode per image gives two signals:

* a 64-bit DCT perceptual hash (pHash, 8x8 low frequencies of a 32x32 grey image): re-encodes,
  mild colour shifts;
* normalised cross-correlation (NCC) of 16x16 zero-mean grey thumbnails: confirms borderline pHash
  matches, which otherwise also fire on different paintings with similar layouts (two round portraits).

Two images are duplicates when ``pHash <= 2``, or ``pHash <= 8 and NCC >= 0.85``, or
``pHash <= 14 and NCC >= 0.90``. Thresholds come from inspecting borderline pairs between WikiArt and
Kaggle copies of the same works and inside WikiArt itself: a hash alone fires on flat, low-texture
works (monochromes, minimalist objects have near-identical dHashes) and on portraits with the same
layout, so everything but a near-exact pHash match needs the thumbnails to agree too.

>>> from artlens.data.dedupe import image_signatures, duplicate_pairs
>>> sig = image_signatures(["a.jpg", "b.jpg"])                 # doctest: +SKIP
>>> duplicate_pairs(sig, sig)                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.fft import dctn

from .images import UnreadableImage, load_image

__all__ = ["Signatures", "duplicate_pairs", "image_signatures", "perceptual_hash"]

PHASH_EXACT = 2
PHASH_CLOSE, NCC_CLOSE = 8, 0.85
PHASH_LOOSE, NCC_LOOSE = 14, 0.90


@dataclass
class Signatures:
    """Per-image hashes; ``ok[i]`` is False for files that could not be decoded."""

    phash: np.ndarray  # (n, 8) uint8, packed bits
    thumb: np.ndarray  # (n, 256) float32, zero-mean unit-norm
    ok: np.ndarray  # (n,) bool


def _phash_bits(grey: Image.Image) -> np.ndarray:
    """The 64-bit pHash of a greyscale image as 8 packed bytes."""
    g32 = np.asarray(grey.resize((32, 32), Image.LANCZOS), np.float32)
    low = dctn(g32, norm="ortho")[:8, :8].ravel()
    return np.packbits(low > np.median(low[1:]))


def perceptual_hash(img: Image.Image) -> str:
    """The image's 64-bit pHash as 16 hex digits: the same painting re-encoded or resized keeps (nearly)
    the same hash, so logs can find repeats without keeping the image.

    >>> flat = perceptual_hash(Image.new("RGB", (64, 48), "white"))
    >>> flat, perceptual_hash(Image.new("RGB", (640, 480), "white")) == flat
    ('8000000000000000', True)
    """
    return _phash_bits(img.convert("L")).tobytes().hex()


def _signature(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        img = load_image(path, draft_size=64).convert("L")
    except UnreadableImage:
        return None
    p = _phash_bits(img)
    t = np.asarray(img.resize((16, 16), Image.BOX), np.float32).ravel()
    t = t - t.mean()
    return p, t / (np.linalg.norm(t) + 1e-6)


def image_signatures(paths: Sequence[str | os.PathLike], *, workers: int | None = None) -> Signatures:
    """Hash every image once (threads, reduced JPEG decoding)."""
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sigs = list(pool.map(_signature, paths, chunksize=32))
    n = len(sigs)
    out = Signatures(np.zeros((n, 8), np.uint8), np.zeros((n, 256), np.float32),
                     np.array([s is not None for s in sigs], bool))
    for i, s in enumerate(sigs):
        if s is not None:
            out.phash[i], out.thumb[i] = s
    return out


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _POPCOUNT[np.bitwise_xor(a[:, None, :], b[None, :, :])].sum(2, dtype=np.int32)


def duplicate_pairs(a: Signatures, b: Signatures, *, same: bool = False,
                    chunk: int = 256) -> list[tuple[int, int, int]]:
    """``(i, j, phash_distance)`` for every image ``i`` of ``a`` that duplicates image ``j`` of ``b``.

    With ``same=True`` (``a is b``) each unordered pair is reported once and self-pairs are skipped.
    """
    pairs = []
    for start in range(0, len(a.ok), chunk):
        sl = slice(start, start + chunk)
        pd = _hamming(a.phash[sl], b.phash)
        ncc = a.thumb[sl] @ b.thumb.T
        hit = (pd <= PHASH_EXACT) | ((pd <= PHASH_CLOSE) & (ncc >= NCC_CLOSE)) | ((pd <= PHASH_LOOSE) & (ncc >= NCC_LOOSE))
        hit &= a.ok[sl, None] & b.ok[None, :]
        for i, j in zip(*np.nonzero(hit)):
            gi = start + int(i)
            if same and gi >= j:
                continue
            pairs.append((gi, int(j), int(pd[i, j])))
    return pairs
