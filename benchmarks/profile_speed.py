"""Speed of ``artlens data profile``: header reads instead of decodes, reduced decoding for hashes.

Prints images/s for (1) the whole profile (sizes, modes, hashes, duplicate search, figures),
(2) reading sizes from headers vs fully decoding every image, and (3) perceptual hashing with
reduced JPEG decoding vs hashing from full-size decodes. The gains grow with image size, so the
default folder is the Art Institute of Chicago set (up to 512 px); museum scans are far larger.

    python benchmarks/profile_speed.py [--folder ../shared/artdata/aic_periods]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ARTDATA
from PIL import Image

from artlens import DataConfig
from artlens.data import dedupe, load_collection
from artlens.data.profile import profile_collection


def rate(n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", default=str(ARTDATA / "aic_periods"))
    args = ap.parse_args()
    collection = load_collection(DataConfig(path=args.folder), split=False)
    paths = [s.path for s in collection.samples]
    n = len(paths)

    def headers() -> None:
        for p in paths:
            with Image.open(p) as img:
                img.size

    def decodes() -> None:
        for p in paths:
            with Image.open(p) as img:
                img.load()

    def full_size_hashes() -> None:
        original = dedupe.load_image
        dedupe.load_image = lambda path, draft_size=None: original(path)  # no reduced decoding
        try:
            dedupe.image_signatures(paths)
        finally:
            dedupe.load_image = original

    with tempfile.TemporaryDirectory() as tmp:
        whole = rate(n, lambda: profile_collection(collection, Path(tmp) / "p", show_progress=False))
    print(f"{n} images in {args.folder}")
    print(f"whole profile (sizes, modes, hashes, duplicates, figures): {whole:.0f} images/s")
    print(f"sizes from headers: {rate(n, headers):.0f} images/s   vs full decode: {rate(n, decodes):.0f} images/s")
    print(f"hashes, reduced decoding: {rate(n, lambda: dedupe.image_signatures(paths)):.0f} images/s   "
          f"vs full-size decoding: {rate(n, full_size_hashes):.0f} images/s")


if __name__ == "__main__":
    main()
