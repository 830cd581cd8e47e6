"""CAM throughput: images/s explained in batches vs one image at a time.

Grad-CAM needs a forward and a backward pass per batch; batching amortises the per-call work
(hooks, autograd bookkeeping, kernel launches), which matters most on a GPU.

    python benchmarks/cam_speed.py [--images 64 --batch-size 16 --method gradcam --size 224]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import wikiart_subset

from artlens.data.dataset import discover
from artlens.explain.cam import CamExplainer
from artlens.models import load_bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--method", default="gradcam")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default=None, help="bundle folder (default: the built-in model, frozen)")
    args = ap.parse_args()
    bundle = load_bundle(args.model)
    for p in bundle.model.parameters():  # the frozen case CAMs must handle
        p.requires_grad_(False)
    explainer = CamExplainer(bundle, method=args.method, device=args.device, input_size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        samples = discover(wikiart_subset(Path(tmp) / "data", 4, max(1, args.images // 4)))[: args.images]
        list(explainer.explain_samples(samples[: args.batch_size], batch_size=args.batch_size))  # warm-up
        rates = {}
        for bs in (1, args.batch_size):
            start = time.perf_counter()
            n = sum(1 for _ in explainer.explain_samples(samples, batch_size=bs))
            if explainer.device.type == "cuda":
                torch.cuda.synchronize()
            rates[bs] = n / (time.perf_counter() - start)
    print(f"{args.method} on {bundle.name} (frozen) at {args.size}px, layer {explainer.layer}, {len(samples)} images, "
          f"device {explainer.device}, torch threads {torch.get_num_threads()}")
    print(f"one at a time:     {rates[1]:8.1f} img/s")
    print(f"batches of {args.batch_size:<3}     {rates[args.batch_size]:8.1f} img/s")
    print(f"speed-up:          {rates[args.batch_size] / rates[1]:8.2f}x")


if __name__ == "__main__":
    main()
