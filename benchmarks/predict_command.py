"""The whole ``artlens predict`` command, start to finish, with the built-in model, CPU.

``benchmarks/default_model_predict.py`` measures the model once it is loaded: the rate a long run
keeps. A person who types ``artlens predict painting.jpg`` also waits for Python to import torch,
torchvision and timm, and for the model to be loaded, its batch norms folded and its convolutions
prepared for oneDNN. This script times the command as a user runs it, in a fresh process each time:
on one painting (the wait before the first answer) and on ``--images`` paintings (the rate of the
whole command, the start included). Same warm-up on both sides (one untimed run of each, so the
files are in the page cache), then ``--repeats`` rounds that run each side once in turn; the median
and the spread are reported, with the thread count.

    python benchmarks/predict_command.py [--images 330 --repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import wikiart_subset


def run(folder: Path) -> float:
    """Seconds ``artlens predict FOLDER --json`` takes, in a fresh process, output discarded."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "artlens", "predict", str(folder), "--json", "--device", "cpu"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=330)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, fresh process per run")
    with tempfile.TemporaryDirectory() as tmp:
        many = wikiart_subset(Path(tmp) / "paintings", 11, max(1, args.images // 11))
        one = Path(tmp) / "one"
        one.mkdir()
        shutil.copy(next(many.rglob("*.jpg")), one)
        n = len(list(many.rglob("*.jpg")))
        sides = {"1 painting": one, f"{n} paintings": many}
        for folder in sides.values():
            run(folder)
        seconds: dict[str, list[float]] = {label: [] for label in sides}
        for _ in range(args.repeats):
            for label, folder in sides.items():
                seconds[label].append(run(folder))
    for label, times in seconds.items():
        print(f"{label:14s} x {args.repeats}: median {statistics.median(times):5.1f} s "
              f"(min {min(times):.1f}, max {max(times):.1f})")
    whole = seconds[f"{n} paintings"]
    rates = [n / s for s in whole]
    print(f"whole command on {n} paintings: median {statistics.median(rates):.1f} images/s "
          f"(min {min(rates):.1f}, max {max(rates):.1f}), the start included; once started, "
          f"{(n - 1) / (statistics.median(whole) - statistics.median(seconds['1 painting'])):.1f} images/s")


if __name__ == "__main__":
    main()
