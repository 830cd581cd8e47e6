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

Finding the pairs scales to whole collections: a faiss binary index returns the pairs within the
loosest pHash distance (:func:`hamming_neighbours`) and only those are correlated, instead of the
thumbnails of every pair (at 7,555 real images: 0.22 s instead of 6.8 s, the same 194 pairs).
Up to :data:`IVF_FROM` images that index compares every pair of hashes (exact, and cheap: a few
seconds of one core at 100,000 images); from there on an inverted-file index of k-means cells over the
hashes (faiss ``IndexBinaryIVF``) compares each hash only with those in its :data:`IVF_NPROBE` nearest
cells, sub-quadratic but approximate: it misses a measured fraction of the pairs
(``benchmarks/profile_scale.py``). :data:`PAIR_INDEXES` names the choices (``DataConfig.dedupe_index``,
``--dedupe-index``); :func:`pair_search` says which one a collection gets.

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

from ..config import DEDUPE_INDEXES as PAIR_INDEXES
from ..errors import ArtlensError
from .images import UnreadableImage, load_image

__all__ = ["PAIR_INDEXES", "PairSearch", "Signatures", "confirmed", "duplicate_pairs", "image_signatures",
           "pair_search", "perceptual_hash"]

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


#: Queries per faiss call: bounds the memory of one call's result lists.
QUERY_CHUNK = 4096
#: Candidate pairs whose thumbnails are correlated at once (1M pairs: 2 GB of gathered thumbnails).
PAIR_CHUNK = 1 << 20

# PAIR_INDEXES (``config.DEDUPE_INDEXES``, kept there so that config validation imports no faiss):
# ``exact`` compares every pair of hashes (faiss ``IndexBinaryFlat``), ``ivf`` only hashes in nearby
# k-means cells (faiss ``IndexBinaryIVF``; approximate), ``auto`` the first below IVF_FROM images and
# the second from there on.

#: Images (hashes searched against) from which ``auto`` switches to the IVF index: below it the exact
#: search costs at most ~13 s of one core (3.3e-10 s a pair), a small share of hashing the images
#: (~1 ms each); above it its square growth takes over (53 s at 400,000, ~6 min at a million).
IVF_FROM = 200_000
#: k-means cells per square root of the number of hashes (the IVF's ``nlist``).
IVF_CELLS_PER_SQRT = 2
#: Cells searched per query (``nprobe``): the measured trade-off between speed and the share of the
#: exact search's duplicate pairs found (``benchmarks/profile_scale.py``: 99.99% at 30,000 hashes,
#: 99.88% at 100,000, 99.76% at 400,000; 16 cells lose 1.7% at 100,000, 128 cost 1.7x the time).
IVF_NPROBE = 64
#: Hashes the k-means of the cells trains on, per cell (faiss asks for at least 39).
_IVF_TRAIN_PER_CELL = 40


@dataclass(frozen=True)
class PairSearch:
    """How the candidate pairs of a collection are searched (recorded in the profile report)."""

    index: str
    """``exact`` or ``ivf``."""
    approximate: bool
    """True when pairs within the radius can be missed (``ivf``)."""
    radius: int = PHASH_LOOSE
    """pHash bits within which pairs are candidates."""
    nlist: int | None = None
    """k-means cells of the IVF index."""
    nprobe: int | None = None
    """Cells searched per query."""


def pair_search(n: int, index: str = "auto") -> PairSearch:
    """The search :func:`duplicate_pairs` runs against ``n`` hashes under ``index`` (one of :data:`PAIR_INDEXES`).

    >>> pair_search(3300)
    PairSearch(index='exact', approximate=False, radius=14, nlist=None, nprobe=None)
    >>> pair_search(3300, "ivf")
    PairSearch(index='ivf', approximate=True, radius=14, nlist=115, nprobe=64)
    """
    if index not in PAIR_INDEXES:
        raise ArtlensError(f"dedupe index: {index!r} is not one of {', '.join(PAIR_INDEXES)}")
    if index == "exact" or (index == "auto" and n < IVF_FROM):
        return PairSearch("exact", approximate=False)
    nlist = max(1, min(n, round(IVF_CELLS_PER_SQRT * np.sqrt(n))))
    return PairSearch("ivf", approximate=True, nlist=nlist, nprobe=min(IVF_NPROBE, nlist))


def _binary_index(base: np.ndarray, search: PairSearch | None = None):
    """A faiss binary index over ``base`` (packed 64-bit codes) for ``search`` (default: exact)."""
    import faiss

    base = np.ascontiguousarray(base, dtype=np.uint8)
    bits = base.shape[1] * 8
    if search is None or search.index == "exact":
        index = faiss.IndexBinaryFlat(bits)
    else:
        index = faiss.index_binary_factory(bits, f"BIVF{search.nlist}")  # owns its quantizer
        index.cp.min_points_per_centroid = 1  # tiny collections forced to ivf: no faiss warning
        sample = np.random.default_rng(0).permutation(len(base))[:search.nlist * _IVF_TRAIN_PER_CELL]
        index.train(base[np.sort(sample)])
        index.nprobe = search.nprobe
    index.add(base)
    return index


def _range_chunks(index, queries: np.ndarray, radius: int):
    """``(i, j, distance)`` arrays, one query chunk at a time."""
    for start in range(0, len(queries), QUERY_CHUNK):
        q = np.ascontiguousarray(queries[start:start + QUERY_CHUNK], dtype=np.uint8)
        lims, dist, ids = index.range_search(q, radius + 1)  # faiss keeps distances strictly below the radius
        yield (start + np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64)), ids.astype(np.int64),
               dist.astype(np.int32))


def hamming_neighbours(queries: np.ndarray, base: np.ndarray, radius: int,
                       search: PairSearch | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, distance)`` for every query ``i`` and base code ``j`` (packed 64-bit codes) within ``radius`` bits.

    A faiss binary index answers the range query with SIMD popcounts over packed codes, some 10,000
    times faster than comparing the pairs in numpy: about 0.3 s for all 30,000 x 30,000 pairs on one core.
    Multi-index hashing (faiss ``IndexBinaryMultiHash``, exact here with 4 tables of 16 bits and 3
    bit flips) needs no all-pairs scan but is slower at this radius: 14 of 64 bits is so wide a ball
    that its buckets hold a large share of the collection (22 s at 30,000 and 371 s at 100,000 real
    hashes against 0.8 s and 4.8 s, measured by an earlier ``benchmarks/profile_scale.py``). What
    avoids the square is giving up exactness: with ``search`` an IVF :class:`PairSearch` (see
    :func:`pair_search`) only the codes of the ``nprobe`` cells nearest each query are compared.
    """
    parts = list(_range_chunks(_binary_index(base, search), queries, radius))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def confirmed(a: Signatures, b: Signatures, i: np.ndarray, j: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Which candidate pairs ``(a[i], b[j])`` at pHash distance ``d`` are duplicates (the rule of the
    module docstring), their thumbnails correlated :data:`PAIR_CHUNK` pairs at a time."""
    hit = np.zeros(len(i), bool)
    for s in range(0, len(i), PAIR_CHUNK):
        ci, cj, cd = i[s:s + PAIR_CHUNK], j[s:s + PAIR_CHUNK], d[s:s + PAIR_CHUNK]
        ncc = np.einsum("nd,nd->n", a.thumb[ci], b.thumb[cj])
        hit[s:s + PAIR_CHUNK] = ((cd <= PHASH_EXACT) | ((cd <= PHASH_CLOSE) & (ncc >= NCC_CLOSE))
                                 | ((cd <= PHASH_LOOSE) & (ncc >= NCC_LOOSE)))
    return hit


def duplicate_pairs(a: Signatures, b: Signatures, *, same: bool = False,
                    index: str = "auto") -> list[tuple[int, int, int]]:
    """``(i, j, phash_distance)`` for every image ``i`` of ``a`` that duplicates image ``j`` of ``b``, sorted.

    With ``same=True`` (``a is b``) each unordered pair is reported once and self-pairs are skipped.
    Only pairs within the loosest pHash distance are compared at all (:func:`hamming_neighbours`,
    with the index :func:`pair_search` picks for ``index`` and the size of ``b``); their thumbnails'
    correlation then decides, so the work beyond the index grows with the number of near pairs, not
    with the square of the collection, in chunks of bounded memory. With the approximate IVF index
    and ``same=True`` a pair counts when either image's search finds the other, which finds more
    pairs than one direction alone.
    """
    ia, ib = np.flatnonzero(a.ok), np.flatnonzero(b.ok)
    if not len(ia) or not len(ib):
        return []
    search = pair_search(len(ib), index)
    both_ways = same and search.approximate
    found: list[np.ndarray] = []
    for qi, qj, d in _range_chunks(_binary_index(b.phash[ib], search), a.phash[ia], PHASH_LOOSE):
        i, j = ia[qi], ib[qj]
        if both_ways:
            i, j = np.minimum(i, j), np.maximum(i, j)
        if same:
            keep = i < j
            i, j, d = i[keep], j[keep], d[keep]
        hit = confirmed(a, b, i, j, d)
        found.append(np.stack([i[hit], j[hit], d[hit]], axis=1))
    if not found:
        return []
    pairs = np.concatenate(found)
    if both_ways:  # a pair both of whose images found each other was kept twice
        pairs = np.unique(pairs, axis=0)
    else:
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    return [(int(i), int(j), int(d)) for i, j, d in pairs]
