"""``artlens data profile`` at collection scale: images/s at 3,300 and 30,000 images, and the pair search alone.

The 3,300 images are ``wikiart11``; the 30,000 add edited copies of them (a few pixels cropped off,
brightness moved by a few per cent, re-encoded at another JPEG quality), the kind of near-duplicates a
collection holds, written once under ``--work``. For each size it prints the whole profile's images/s
(headers, hashes, duplicate search, figures) and the near-duplicate search alone: the faiss binary
index artlens uses against the all-pairs numpy comparison it replaced. Then the search alone on
synthetic hashes (real hashes with bits flipped) at 100,000 and 400,000 images, where no image set
is needed, with multi-index hashing (faiss ``IndexBinaryMultiHash``) for comparison.

    python benchmarks/profile_scale.py [--sizes 3300,30000] [--work /tmp/artlens-profile-scale]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ARTDATA
from PIL import Image, ImageEnhance

from artlens import DataConfig
from artlens.data import dedupe, load_collection
from artlens.data.images import iter_image_files
from artlens.data.profile import profile_collection

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def all_pairs(a: dedupe.Signatures, chunk: int = 256) -> int:
    """The search artlens used before: every pair's pHash distance and thumbnail correlation in numpy."""
    n = 0
    for start in range(0, len(a.ok), chunk):
        sl = slice(start, start + chunk)
        pd = _POPCOUNT[np.bitwise_xor(a.phash[sl][:, None, :], a.phash[None, :, :])].sum(2, dtype=np.int32)
        ncc = a.thumb[sl] @ a.thumb.T
        hit = (pd <= 2) | ((pd <= 8) & (ncc >= 0.85)) | ((pd <= 14) & (ncc >= 0.90))
        hit &= a.ok[sl, None] & a.ok[None, :]
        i, j = np.nonzero(hit)
        n += int(((start + i) < j).sum())
    return n


def edited_copy(src: Path, dest: Path, rng: random.Random) -> None:
    with Image.open(src) as img:
        img = img.convert("RGB")
        w, h = img.size
        c = rng.randint(1, 6)
        img = img.crop((c, c, w - c, h - c)).resize((w, h))
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.95, 1.05))
        img.save(dest, quality=rng.randint(70, 92))


def build_set(work: Path, size: int) -> Path:
    """``size`` images: wikiart11, then edited copies of it, in its style folders (made once)."""
    originals = sorted(iter_image_files(ARTDATA / "wikiart11"))
    if size <= len(originals):
        return ARTDATA / "wikiart11"
    root = work / f"wikiart11x{size}"
    done = root / ".complete"
    if done.is_file():
        return root
    rng = random.Random(0)
    for k in range(size):
        src = originals[k % len(originals)]
        dest = root / src.parent.name / (src.name if k < len(originals) else f"{src.stem}-edit{k // len(originals)}.jpg")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if k < len(originals):
            dest.write_bytes(src.read_bytes())
        else:
            edited_copy(src, dest, rng)
    done.write_text("ok")
    return root


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def synthetic_search(base: np.ndarray, n: int, rng: np.random.Generator) -> None:
    import faiss

    reps = -(-n // len(base))
    codes = np.tile(base, (reps, 1))[:n].copy()
    bits = np.unpackbits(codes, axis=1)
    flips = rng.random(bits.shape) < 0.05  # about 3 of 64 bits per copy
    flips[: len(base)] = False
    codes = np.packbits(bits ^ flips, axis=1)
    (_, _, d), flat_s = timed(lambda: dedupe.hamming_neighbours(codes, codes, dedupe.PHASH_LOOSE))
    print(f"  {n:>7,} hashes: faiss binary index {flat_s:7.2f} s ({(len(d) - n) // 2:,} pairs within "
          f"{dedupe.PHASH_LOOSE} bits)", end="", flush=True)
    if n <= 100_000:
        mih = faiss.IndexBinaryMultiHash(64, 4, 16)
        mih.nflip = 3  # 4 tables x 16 bits, 3 flips: exact up to distance 15
        mih.add(codes)
        _, mih_s = timed(lambda: mih.range_search(codes, dedupe.PHASH_LOOSE + 1))
        print(f"; multi-index hashing {mih_s:7.2f} s", end="")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3300,30000")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "artlens-profile-scale"))
    ap.add_argument("--no-all-pairs", action="store_true", help="skip timing the old all-pairs search")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPU core(s); OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    signatures = None
    for size in (int(s) for s in args.sizes.split(",")):
        folder = build_set(Path(args.work), size)
        collection = load_collection(DataConfig(path=str(folder)), split=False)
        n = len(collection.samples)
        with tempfile.TemporaryDirectory() as tmp:
            report, seconds = timed(lambda: profile_collection(collection, Path(tmp) / "p", show_progress=False))
        dup = report["duplicates"]
        print(f"{n:,} images ({folder.name}): whole profile {n / seconds:.0f} images/s ({seconds:.1f} s); "
              f"near-duplicate pairs: {len(dup['within_class'])} within a class, {len(dup['across_classes'])} across")
        signatures = dedupe.image_signatures([s.path for s in collection.samples])
        pairs, search_s = timed(lambda: dedupe.duplicate_pairs(signatures, signatures, same=True))
        line = f"  duplicate search alone: faiss binary index {search_s:.2f} s ({len(pairs):,} pairs)"
        if not args.no_all_pairs:
            old, old_s = timed(lambda: all_pairs(signatures))
            line += f"; all pairs in numpy (before) {old_s:.2f} s ({old:,} pairs), {old_s / search_s:.0f}x slower"
        print(line)
    if signatures is not None:
        print("pair search alone, real hashes repeated with ~5% of bits flipped:")
        rng = np.random.default_rng(0)
        base = signatures.phash[signatures.ok]
        for n in (30_000, 100_000, 400_000):
            synthetic_search(base, n, rng)


if __name__ == "__main__":
    main()
