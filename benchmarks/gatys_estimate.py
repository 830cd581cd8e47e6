"""How long a Gatys job really takes against what the web service tells the user up front.

The service shows a Gatys job's estimated run time before it starts (``artlens.serve.features.gatys_estimate_s``:
``setup + sum over the preset's coarse-to-fine levels of steps x (per_step + pixels x per_step_pixel)``).
This times ``stylize_gatys`` as a job runs it (extractor loading included) on a real photograph and
style image over a grid of sizes and step counts, per extractor family, and prints each median (and
spread) beside the estimate, then the constants a non-negative least-squares fit of the medians
gives: the numbers ``GATYS_CPU_COST`` in ``artlens/serve/features.py`` holds. Speed does not depend
on the weights' values, so VGG19 runs with random weights (``weights="none"``, no download).

    python benchmarks/gatys_estimate.py [--repeats 5] [--extractors efficientnet_lite0,vgg19]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import ARTDATA
from scipy.optimize import nnls

from artlens import GatysConfig, open_image, stylize_gatys
from artlens.serve.features import gatys_estimate_s, gatys_work

#: (size, steps) timed per extractor: VGG19 is about 10 x slower a step, so fewer steps.
GRIDS = {"efficientnet_lite0": [(256, 20), (256, 60), (384, 20), (384, 60), (512, 20), (512, 60)],
         "vgg19": [(256, 10), (384, 10), (512, 6)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--extractors", default=",".join(GRIDS))
    args = ap.parse_args()
    content = open_image(ARTDATA / "style_refs" / "content" / "jcjohnson__tubingen.jpg")  # a photograph, 4:3
    style = open_image(sorted((ARTDATA / "style_refs" / "style").glob("*.jpg"))[0])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu; content {content.size}, "
          f"{args.repeats} runs each (extractor loading included, as in a job)")
    for extractor in args.extractors.split(","):
        rows, times = [], []
        for size, steps in GRIDS[extractor]:
            cfg = GatysConfig(extractor=extractor, weights="none" if extractor == "vgg19" else None, steps=steps,
                              size=size, device="cpu")
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                stylize_gatys(content, [style], cfg)
                runs.append(time.perf_counter() - start)
            median = statistics.median(runs)
            rows.append(gatys_work(cfg, content.size))
            times.append(median)
            print(f"{extractor:20s} {size:4d} px {steps:3d} steps  median {median:6.1f} s (min {min(runs):.1f}, "
                  f"max {max(runs):.1f})  estimate {gatys_estimate_s(cfg, content.size):6.1f} s", flush=True)
        x = np.column_stack([np.ones(len(rows)), np.array(rows)])
        (setup, per_step, per_pixel), _ = nnls(x, np.array(times))
        fitted = x @ np.array([setup, per_step, per_pixel])
        worst = max(abs(f - t) / t for f, t in zip(fitted, times))
        print(f"{extractor}: setup {setup:.2f} s, per step {per_step:.4f} s, per step and pixel {per_pixel:.3e} s "
              f"(fit within {worst:.0%} of every median)")


if __name__ == "__main__":
    main()
