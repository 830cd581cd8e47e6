"""Prediction throughput of ``artlens predict`` on a folder vs a plain timm loop on the same images.

Both use the built-in model (as it ships, without test-time augmentation) at the same batch size; the
plain loop decodes and transforms images in the main thread, as a notebook would. Twice: on WikiArt's
224 px paintings, then on 12-megapixel photographs (4000 x 3000 JPEGs made by enlarging real museum
paintings: decoding costs what the pixel count costs, whatever the picture), where artlens decodes
at the reduced scale the model needs (``Preprocessing.decode_size``) and the plain loop decodes all.

    python benchmarks/predict_throughput.py [--images 330 --photos 48 --batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import ARTDATA, wikiart_subset
from PIL import Image

from artlens import Predictor
from artlens.data import build_transform


def photographs(dest: Path, count: int) -> Path:
    """``count`` 4000 x 3000 JPEGs, each a real Art Institute painting enlarged."""
    dest.mkdir(parents=True)
    paintings = sorted((ARTDATA / "aic_periods").rglob("*.jpg"))[:count]
    for p in paintings:
        with Image.open(p) as img:
            img.convert("RGB").resize((4000, 3000), Image.BICUBIC).save(dest / p.name, quality=90)
    return dest


def compare(predictor: Predictor, folder: Path, batch_size: int) -> tuple[int, float, float]:
    """Images, then images/s of ``artlens predict`` on the folder and of a plain timm loop."""
    files = sorted(folder.rglob("*.jpg"))
    predictor([files[0]])  # warm-up
    start = time.perf_counter()
    results, _ = predictor([folder], batch_size=batch_size)
    ours = time.perf_counter() - start

    model, tf = predictor.bundle.model.eval(), build_transform(predictor.bundle.preprocessing)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(files), batch_size):
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in files[i:i + batch_size]])
            model(x).softmax(-1)
    plain = time.perf_counter() - start
    return len(files), len(results) / ours, len(files) / plain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=330)
    ap.add_argument("--photos", type=int, default=48, help="12-megapixel photographs (0: skip)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    # One view on both sides, whatever test-time augmentation a model asks for: the plain loop does none
    # (benchmarks/default_model_predict.py measures the built-in model as it ships).
    predictor = Predictor(tta="none")
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    with tempfile.TemporaryDirectory() as tmp:
        n, ours, plain = compare(predictor, wikiart_subset(Path(tmp) / "imgs", 11, max(1, args.images // 11)),
                                 args.batch_size)
        print(f"{n} images, batch {args.batch_size}, device {device}")
        print(f"artlens predict (folder, worker decoding): {ours:.1f} images/s")
        print(f"plain timm loop (main-thread decoding):    {plain:.1f} images/s")
        if args.photos:
            n, ours, plain = compare(predictor, photographs(Path(tmp) / "photos", args.photos), args.batch_size)
            print(f"{n} photographs of 4000 x 3000 px")
            print(f"artlens predict (reduced JPEG decoding):   {ours:.1f} images/s")
            print(f"plain timm loop (full decoding):           {plain:.1f} images/s")


if __name__ == "__main__":
    main()
