"""The forward pass of a model with and without its batch norms folded into the convolutions, CPU,
and folded with its convolutions made oneDNN calls with their activations fused in.

``artlens.inference.inference_model`` (``artlens.models.fold_batchnorm``, then on a CPU in float32
``artlens.models.fuse_for_cpu``) is what ``Predictor`` and ``evaluate`` run. This measures the
network alone (no decoding, no resizing): one batch of ``--batch-size`` random images at the
model's input size, channels-last as ``artlens.inference.batch_probs`` feeds it, in inference
mode. Every model gets the same warm-up (2 passes), then the ``--repeats`` timed passes alternate
between them, so a busy moment of the shared CPU falls on both sides; the median and the spread
(min-max) are reported, with the thread count.

    python benchmarks/fold_batchnorm.py [--model BUNDLE] [--repeats 9 --batch-size 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from artlens.inference import inference_batch_size
from artlens.models import fold_batchnorm, fuse_for_cpu, load_bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a bundle folder (default: the built-in model)")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--batch-size", type=int, default=inference_batch_size("cpu"), help="default: %(default)s, predict's on a CPU")
    args = ap.parse_args()
    bundle = load_bundle(args.model)
    size = bundle.preprocessing.input_size
    plain = bundle.model.eval().float().to(memory_format=torch.channels_last)
    folded = fold_batchnorm(plain, input_size=size).to(memory_format=torch.channels_last)
    fused = fuse_for_cpu(folded, input_size=size, batch_size=args.batch_size)
    models = {"batch norms as trained": plain, "batch norms folded": folded, "folded, oneDNN fused": fused}
    x = torch.randn(args.batch_size, 3, size, size).contiguous(memory_format=torch.channels_last)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, model {bundle.name} "
          f"({bundle.meta.get('backbone', '')}), batch {args.batch_size} x {size} px")
    rates: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        print(f"largest difference of the outputs: folded {(plain(x) - folded(x)).abs().max().item():.2e}, "
              f"fused {(plain(x) - fused(x)).abs().max().item():.2e}"
              + ("" if fused is not folded else " (fusion not used: fuse_for_cpu handed back the folded model)"))
        for model in models.values():
            model(x), model(x)
        for _ in range(args.repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                rates[name].append(args.batch_size / (time.perf_counter() - start))
    for name, r in rates.items():
        print(f"{name:24s} median {statistics.median(r):6.1f} images/s (min {min(r):.1f}, max {max(r):.1f}, "
              f"{args.repeats} repeats)")


if __name__ == "__main__":
    main()
