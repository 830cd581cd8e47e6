"""Probe feature extraction: 5 layers in one forward pass vs 5 separate passes (images/s).

Every requested layer is tapped in the same forward pass (``LayerTaps``, stopping after the
deepest one), so probing conv1_1 ... conv5_1 costs one pass per image instead of five. Expect the
one-pass rate to be about 5x that of five full passes; against five passes that each also stop
early (shallow layers are cheap) the gain is smaller: the deep layers dominate the cost.

    python benchmarks/probe_speed.py [--backbone vgg19 --images 64 --size 224 --batch-size 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import wikiart_subset

from artlens.data.dataset import discover
from artlens.explain.features import extract_features
from artlens.explain.source import load_source

LAYERS = {"vgg19": ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"],
          "efficientnet_lite0": ["blocks.1", "blocks.2", "blocks.4", "blocks.6", "embed"]}


def rate(source, samples, layers, batch_size, device) -> float:
    start = time.perf_counter()
    extract_features(source, samples, layers, batch_size=batch_size, device=device, show_progress=False)
    return len(samples) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="vgg19", choices=sorted(LAYERS))
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    weights = "none" if args.backbone == "vgg19" else "auto"  # speed does not depend on the weights' values
    source = load_source(args.backbone, weights=weights, input_size=args.size)
    layers = LAYERS[args.backbone]
    with tempfile.TemporaryDirectory() as tmp:
        per_class = max(1, args.images // 4)
        samples = discover(wikiart_subset(Path(tmp) / "data", 4, per_class))[: args.images]
        rate(source, samples[: args.batch_size], layers[:1], args.batch_size, args.device)  # warm-up
        one = rate(source, samples, layers, args.batch_size, args.device)
        per_layer = [rate(source, samples, [name], args.batch_size, args.device) for name in layers]
    separate = 1 / sum(1 / r for r in per_layer)  # images/s when each layer needs its own pass
    print(f"backbone {args.backbone} at {args.size}px, {len(samples)} images, batch {args.batch_size}, "
          f"device {args.device}, torch threads {torch.get_num_threads()}")
    for name, r in zip(layers, per_layer):
        print(f"  pass up to {name:<10} {r:8.1f} img/s")
    print(f"5 layers, one pass:        {one:8.1f} img/s")
    print(f"5 layers, 5 passes:        {separate:8.1f} img/s")
    print(f"speed-up:                  {one / separate:8.2f}x")
    # Without early stopping (e.g. extracting from a model's full forward), 5 passes cost 5 full passes.
    print(f"vs 5 full forward passes:  {one / (per_layer[-1] / len(layers)):8.2f}x")


if __name__ == "__main__":
    main()
