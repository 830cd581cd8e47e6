"""Frozen strategy: epoch time with cached features vs running the frozen backbone every epoch.

``frozen`` embeds every image once and trains the head on cached tensors; ``partial`` with
``unfreeze=0`` trains the same head but runs the (frozen) backbone in every epoch.

    python benchmarks/frozen_cache.py [--classes 4 --per-class 50 --epochs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import wikiart_subset

from artlens import TrainConfig, fit


def run(data: Path, out: Path, strategy: dict, epochs: int, workers: int) -> tuple[float, list[float]]:
    cfg = TrainConfig.from_dict({
        "data": {"path": str(data), "num_workers": workers, "augment": "none", "test_fraction": 0.0},
        "model": {"backbone": "efficientnet_lite0"}, "strategy": strategy, "epochs": epochs, "out": str(out),
        "optim": {"lr": 1e-3}})
    start = time.perf_counter()
    result = fit(cfg, show_progress=False)
    total = time.perf_counter() - start
    return total, [h["seconds"] for h in result.history]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = wikiart_subset(Path(tmp) / "data", args.classes, args.per_class)
        n = args.classes * args.per_class
        cached_total, cached = run(data, Path(tmp) / "frozen", {"name": "frozen"}, args.epochs, args.workers)
        live_total, live = run(data, Path(tmp) / "live", {"name": "partial", "unfreeze": 0}, args.epochs, args.workers)
    later_cached = statistics.mean(cached[1:]) if len(cached) > 1 else cached[0]
    later_live = statistics.mean(live[1:]) if len(live) > 1 else live[0]
    print(f"images: {n} ({args.classes} WikiArt styles), backbone efficientnet_lite0, {args.epochs} epochs")
    print(f"frozen (cached features): whole run {cached_total:.1f}s, epoch after the first {later_cached:.3f}s")
    print(f"frozen backbone run every epoch: whole run {live_total:.1f}s, epoch after the first {later_live:.3f}s")
    print(f"speed-up per epoch after the first: {later_live / max(later_cached, 1e-9):.0f}x")


if __name__ == "__main__":
    main()
