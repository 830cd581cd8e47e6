"""``artlens stylize adain`` with the built-in decoder on a 512 px photograph: seconds per image.

Two numbers, because a user feels both: the stylisation itself (:func:`artlens.run_adain` with a loaded
decoder: encoder, AdaIN, decoder, resizing; what the web page's Style tab waits for), and the whole
command in a fresh process (Python start, ``import torch``, loading the decoder and encoder, reading
and writing the images). One warm-up each, then ``--repeats`` timed runs: median, min and max.

    python benchmarks/adain_speed.py [--repeats 7] [--size 512] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ARTDATA

from artlens.style import AdainConfig, AdainStylizer, open_image, run_adain

CONTENT = ARTDATA / "style_refs" / "content" / "jcjohnson__tubingen.jpg"
STYLE = ARTDATA / "style_refs" / "style" / "jcjohnson__starry_night.jpg"


def _summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=512, help="shorter side of content and style")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"CPU, {threads} torch threads; torch {torch.__version__}; content {CONTENT.name}, style {STYLE.name}")

    stylizer = AdainStylizer.load()
    content, style = open_image(CONTENT), open_image(STYLE)
    cfg = AdainConfig(content_size=args.size, style_size=args.size)
    run_adain(content, [style], cfg, stylizer=stylizer)  # warm-up
    runs = [run_adain(content, [style], cfg, stylizer=stylizer) for _ in range(args.repeats)]
    w, h = runs[0].image.size
    print(f"stylisation, decoder loaded ({w}x{h}): {_summary([r.seconds for r in runs])}")

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "artlens", "stylize", "adain", "--content", str(CONTENT), "--style", str(STYLE),
               "--content-size", str(args.size), "--style-size", str(args.size), "--device", "cpu",
               "--out", str(Path(tmp) / "out.jpg")]
        env_threads = {"OMP_NUM_THREADS": str(threads)}
        import os

        env = {**os.environ, **env_threads}
        subprocess.run(cmd, check=True, capture_output=True, env=env)  # warm-up (file cache)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - start)
    print(f"the whole command, fresh process: {_summary(times)}")


if __name__ == "__main__":
    main()
