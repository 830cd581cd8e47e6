"""Prediction throughput of ``artlens predict`` on a folder vs a plain timm loop on the same images.

Both run the same network (the built-in model as ``artlens predict`` runs it: batch norms folded,
without test-time augmentation) at the same batch size (predict's default on the device), so what
differs is the data pipeline: the plain loop decodes and transforms images in the main thread, as a
notebook would. Twice: on WikiArt's 224 px paintings, then on 12-megapixel photographs (4000 x 3000
JPEGs made by enlarging real museum paintings: decoding costs what the pixel count costs, whatever
the picture), where artlens decodes at the reduced scale the model needs
(``Preprocessing.decode_size``) and the plain loop decodes all. Each side gets one warm-up pass, then
``--repeats`` timed passes, the two sides alternating so that a busy moment of the shared CPU falls
on both; the median and the spread (min-max) are printed.

    python benchmarks/predict_throughput.py [--images 330 --photos 48 --repeats 5 --batch-size 16 --workers 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import ARTDATA, spread, wikiart_subset
from PIL import Image

from artlens import Predictor
from artlens.data import build_transform
from artlens.inference import inference_batch_size


def photographs(dest: Path, count: int) -> Path:
    """``count`` 4000 x 3000 JPEGs, each a real Art Institute painting enlarged."""
    dest.mkdir(parents=True)
    paintings = sorted((ARTDATA / "aic_periods").rglob("*.jpg"))[:count]
    for p in paintings:
        with Image.open(p) as img:
            img.convert("RGB").resize((4000, 3000), Image.BICUBIC).save(dest / p.name, quality=90)
    return dest


def compare(predictor: Predictor, folder: Path, batch_size: int, repeats: int,
            workers: int | None = None) -> tuple[int, list[float], list[float]]:
    """Images, then the images/s of each timed pass of ``artlens predict`` on the folder and of a plain loop."""
    files = sorted(folder.rglob("*.jpg"))
    model, tf = predictor.model, build_transform(predictor.bundle.preprocessing)
    device = next(model.parameters()).device

    def ours() -> float:
        start = time.perf_counter()
        results, _ = predictor([folder], batch_size=batch_size, num_workers=workers)
        return len(results) / (time.perf_counter() - start)

    def plain() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(files), batch_size):
                x = torch.stack([tf(Image.open(p).convert("RGB")) for p in files[i:i + batch_size]])
                model(x.to(device)).softmax(-1)
        return len(files) / (time.perf_counter() - start)

    ours(), plain()  # the same warm-up on both sides
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        rates[0].append(ours())
        rates[1].append(plain())
    return len(files), *rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=330)
    ap.add_argument("--photos", type=int, default=48, help="12-megapixel photographs (0: skip)")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes per side (after one warm-up)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: predict's on the device")
    ap.add_argument("--workers", type=int, default=None, help="artlens predict's decoding processes (default: predict's)")
    args = ap.parse_args()
    # One view on both sides, whatever test-time augmentation a model asks for: the plain loop does none
    # (benchmarks/default_model_predict.py measures the built-in model as it ships).
    predictor = Predictor(tta="none")
    batch = args.batch_size or inference_batch_size(next(predictor.model.parameters()).device)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    with tempfile.TemporaryDirectory() as tmp:
        n, ours, plain = compare(predictor, wikiart_subset(Path(tmp) / "imgs", 11, max(1, args.images // 11)),
                                 batch, args.repeats, args.workers)
        workers = "" if args.workers is None else f", decoding workers {args.workers}"
        print(f"{n} images x {args.repeats}, batch {batch}{workers}, device {device}, torch {torch.__version__}")
        decoding = "main-thread decoding" if args.workers == 0 else "worker decoding"
        print(f"artlens predict (folder, {decoding}): {spread(ours)}")
        print(f"plain timm loop (main-thread decoding):    {spread(plain)}")
        if args.photos:
            n, ours, plain = compare(predictor, photographs(Path(tmp) / "photos", args.photos), batch, args.repeats,
                                     args.workers)
            print(f"{n} photographs of 4000 x 3000 px x {args.repeats}")
            print(f"artlens predict (reduced JPEG decoding):   {spread(ours)}")
            print(f"plain timm loop (full decoding):           {spread(plain)}")


if __name__ == "__main__":
    main()
