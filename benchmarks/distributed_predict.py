"""Sharded ``artlens predict --out`` and ``artlens embed --out`` with 1 and 2 processes under torchrun.

Runs the real command line (``python -m torch.distributed.run --standalone --nproc-per-node P -m artlens
predict DIR --out OUT``) over ``--images`` real paintings copied from ``wikiart11``, reads the images/s
each run wrote into its ``summary.json`` (all processes together, model loading excluded) and prints
the scaling efficiency: images/s with P processes / (P x images/s with one). On CPU the cores are
split between the processes (``OMP_NUM_THREADS`` = cores / P); with GPUs each process takes one.

    python benchmarks/distributed_predict.py [--images 512] [--procs 1,2] [--device cpu|cuda] [--what predict,embed]
                                             [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import wikiart_subset

from artlens.models import default_bundle_path
from artlens.models.bundle import read_bundle_meta


def run(what: str, data: Path, out: Path, procs: int, device: str, shard_size: int, workers: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    if device == "cpu":
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // procs))
    args = [str(data), "--out", str(out)] if what == "predict" else ["--data", str(data), "--out", str(out)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs),
           "-m", "artlens", what, *args, "--shard-size", str(shard_size), "--device", device]
    if what == "predict":
        cmd += ["--workers", str(workers)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=512, help="paintings (11 styles, an equal share each)")
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--what", default="predict,embed")
    ap.add_argument("--shard-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1, help="image-decoding workers per process (predict)")
    ap.add_argument("--repeats", type=int, default=5, help="runs of each, alternating; the median is reported")
    args = ap.parse_args()
    procs = [int(p) for p in args.procs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = wikiart_subset(Path(tmp) / "data", 11, -(-args.images // 11))
        n = sum(1 for _ in data.rglob("*.jpg"))
        meta = read_bundle_meta(default_bundle_path())
        nets = [(m["backbone"], m["preprocessing"]["input_size"]) for m in meta.get("members", [meta])]
        print(f"{n} paintings, built-in model ({' + '.join(f'{b} {s} px' for b, s in nets)}), "
              f"device {args.device}, "
              f"{os.cpu_count()} CPU core(s), shards of {args.shard_size}")
        for what in args.what.split(","):
            runs: dict[int, list[float]] = {p: [] for p in procs}
            for _ in range(args.repeats):  # alternate, so a load that comes and goes hits both alike
                for p in procs:
                    out = Path(tmp) / f"{what}-{p}"
                    summary = run(what, data, out, p, args.device, args.shard_size, args.workers)
                    assert summary["n_rows"] == n, summary
                    runs[p].append(summary["images_per_s"])
                    shutil.rmtree(out)
            rates = {p: statistics.median(r) for p, r in runs.items()}
            for p in procs:
                eff = f"; scaling efficiency {rates[p] / (p * rates[procs[0]] / procs[0]):.0%}" if p != procs[0] else ""
                spread = f" (runs: {', '.join(f'{r:.1f}' for r in runs[p])})" if args.repeats > 1 else ""
                print(f"{what:8s} {p} process(es): {rates[p]:7.1f} images/s median{spread}{eff}", flush=True)


if __name__ == "__main__":
    main()
