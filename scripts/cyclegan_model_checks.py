"""Compare CycleGAN bundles on images none of them trained on: the numbers that decide which one ships.

For each bundle (the built-in one when none is given), on the 10 content photos of
``shared/artdata/style_refs`` (A, at ``--size`` px on the longer side) and on the first 10 Art Institute
paintings of the 1870s and 1880s (B; the decade of Impressionism, CC0, never in training):

* ``grid a2b`` / ``grid b2a``: :func:`artlens.evaluate.grid_strength` of the translations (median and
  largest), the checkerboard a generator's upsampling leaves; the inputs' own as the floor;
* ``p(Impressionism)``: the mean probability the built-in style classifier gives the A -> B
  translations (the photos alone are the baseline);
* ``cycle L1``: the mean absolute difference, in ``[0, 1]`` pixels, between each photo and its round trip
  A -> B -> A (what cycle consistency asks to be small);
* seconds per photo for A -> B.

It writes ``<out>/checks.png``: a 128 px crop of each bundle's translation of the first photo, enlarged 4
times with nearest-neighbour pixels, where a grid shows.

    python scripts/cyclegan_model_checks.py runs/photo2impressionism/model --out cyclegan-checks
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from artlens import Predictor, open_image
from artlens.evaluate import grid_strength
from artlens.style.images import fit_size
from artlens.translate import Translator, builtin_translator

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
TARGET = "Impressionism"


def _l1(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two images of one size (a translation keeps its input's), in [0, 1]."""
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean() / 255.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="*", help="image-translation bundles (default: the built-in one)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", default="cyclegan-checks")
    args = ap.parse_args()
    bundles = [Path(b) for b in args.bundles] or [builtin_translator()]
    photos = [fit_size(open_image(p), args.size) for p in sorted((ARTDATA / "style_refs" / "content").glob("*.jpg"))]
    paintings = [fit_size(open_image(p), args.size) for decade in ("golden_age_1870s", "golden_age_1880s")
                 for p in sorted((ARTDATA / "aic_periods" / decade).glob("*.jpg"))[:5]]
    if len(photos) < 10 or len(paintings) < 10:
        sys.exit(f"{ARTDATA}: expected 10 content photos and 10 paintings of the 1870s-1880s")
    judge = Predictor(device="cpu")
    target = judge.classes.index(TARGET)

    def p_target(images: list[Image.Image]) -> float:
        return float(np.mean([judge.probs([judge.views(im)])[0][target] for im in images]))

    def grid(images: list[Image.Image]) -> str:
        g = [grid_strength(im) for im in images]
        return f"{statistics.median(g):.3f} ({max(g):.3f})"

    print(f"{len(photos)} photos, {len(paintings)} paintings at {args.size} px; CPU, {torch.get_num_threads()} threads")
    print(f"{'':<34} {'grid a2b':>15} {'grid b2a':>15} {'p(' + TARGET + ')':>18} {'cycle L1':>9} {'s/photo':>8}")
    print(f"{'the inputs themselves':<34} {grid(photos):>15} {grid(paintings):>15} {p_target(photos):>18.3f}")
    crops = []
    for bundle in bundles:
        painter = Translator.load(bundle, device="cpu")
        painter.translate(photos[0].resize((128, 96)), direction="a2b")  # warm-up
        t0 = time.perf_counter()
        a2b = [painter.translate(im, direction="a2b") for im in photos]
        seconds = (time.perf_counter() - t0) / len(photos)
        back = [painter.translate(im, direction="b2a") for im in a2b]
        b2a = [painter.translate(im, direction="b2a") for im in paintings]
        cycle = float(np.mean([_l1(p, r) for p, r in zip(photos, back)]))
        name = f"{painter.meta.get('name')} {painter.meta.get('version')}"[:34]
        print(f"{name:<34} {grid(a2b):>15} {grid(b2a):>15} {p_target(a2b):>18.3f} {cycle:>9.3f} {seconds:>8.2f}")
        w, h = a2b[0].size
        crops.append(a2b[0].crop((w // 2 - 64, h // 4, w // 2 + 64, h // 4 + 128)).resize((512, 512), Image.NEAREST))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sheet = Image.new("RGB", (520 * len(crops) - 8, 512), "white")
    for i, crop in enumerate(crops):
        sheet.paste(crop, (520 * i, 0))
    sheet.save(out / "checks.png")
    print(f"wrote {out / 'checks.png'} (left to right: {', '.join(str(b) for b in bundles)})")


if __name__ == "__main__":
    main()
