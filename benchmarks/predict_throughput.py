"""Prediction throughput of ``artlens predict`` on a folder vs a plain timm loop on the same images.

Both use the built-in model (EfficientNet-Lite0 + style statistics) at the same batch size; the
plain loop decodes and transforms images in the main thread, as a notebook would.

    python benchmarks/predict_throughput.py [--images 300 --batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import wikiart_subset
from PIL import Image

from artlens import Predictor
from artlens.data import build_transform


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=330)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    predictor = Predictor()
    with tempfile.TemporaryDirectory() as tmp:
        folder = wikiart_subset(Path(tmp) / "imgs", 11, max(1, args.images // 11))
        files = sorted(folder.rglob("*.jpg"))
        predictor([files[0]])  # warm-up
        start = time.perf_counter()
        results, _ = predictor([folder], batch_size=args.batch_size)
        ours = time.perf_counter() - start

        model, tf = predictor.bundle.model.eval(), build_transform(predictor.bundle.preprocessing)
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(files), args.batch_size):
                x = torch.stack([tf(Image.open(p).convert("RGB")) for p in files[i:i + args.batch_size]])
                model(x).softmax(-1)
        plain = time.perf_counter() - start
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{len(files)} images, batch {args.batch_size}, device {device}")
    print(f"artlens predict (folder, worker decoding): {len(results) / ours:.1f} images/s")
    print(f"plain timm loop (main-thread decoding):    {len(files) / plain:.1f} images/s")


if __name__ == "__main__":
    main()
