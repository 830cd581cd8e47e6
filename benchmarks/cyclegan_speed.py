"""CycleGAN speed: training images/s and inference megapixels/s (whole images and tiled).

Runs on the best device here (CUDA when present, else CPU) and prints it. Speed does not depend on
the weights' values, so the networks are freshly initialised ones of the configured shape (the
paper's: 64 filters, 9 residual blocks, 256 px crops, batch 1), trained on real photos and
Impressionist paintings from ``shared/artdata`` for ``--steps`` steps after one warm-up step.

    python benchmarks/cyclegan_speed.py [--steps 5] [--size 256] [--ngf 64] [--n-blocks 9] [--batch-size 1]
                                        [--sides 512,1024] [--tiled-side 2048] [--tile 512]

A training "image" is one image of each domain (one A->B->A and one B->A->B cycle, both
discriminators). Inference rows: one image of ``side`` x ``side * 3/4`` px through the A->B generator,
whole, then the ``--tiled-side`` image in ``--tile`` px tiles (with its instance-norm statistics pass).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from _common import ARTDATA

from artlens.train.generative import GenerativeTrainer
from artlens.translate import CycleGANConfig, CycleGANTask
from artlens.translate.apply import norm_statistics, run_padded, run_tiled
from artlens.translate.cyclegan import _Domain, domain_files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--n-blocks", type=int, default=9)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--sides", default="512,1024", help="longer sides of the whole-image inference rows")
    ap.add_argument("--tiled-side", type=int, default=2048)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--amp", action="store_true", help="mixed precision (CUDA)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; generator ngf {args.ngf}, {args.n_blocks} blocks")

    photos, paintings = ARTDATA / "photos_ccby", ARTDATA / "wikiart11" / "Impressionism"
    cfg = CycleGANConfig(a=[str(photos)], b=[str(paintings)], size=args.size, load_size=args.size + args.size // 8,
                         ngf=args.ngf, n_blocks=args.n_blocks, batch_size=args.batch_size, steps=args.steps + 1)
    a = _Domain(domain_files(cfg.a, "a")[:64], cfg.size, cfg.load_size, torch.Generator().manual_seed(0))
    b = _Domain(domain_files(cfg.b, "b")[:64], cfg.size, cfg.load_size, torch.Generator().manual_seed(1))
    task = CycleGANTask(cfg, a=a, b=b, device=device)
    for _ in range(8):  # decode the images before timing
        task.next_batch()
    stamps: dict[int, float] = {}

    def clock(_trainer, step: int, _losses) -> None:  # after every step: the first one is the warm-up
        sync(device)
        stamps[step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        GenerativeTrainer(task, out=out, steps=args.steps + 1, checkpoint_every=10**9, amp=args.amp, device=device,
                          callbacks=[clock]).fit()
    seconds = stamps[args.steps + 1] - stamps[1]
    print(f"\ntraining at {args.size} px, batch {args.batch_size}: {args.steps * args.batch_size / seconds:.3f} images/s "
          f"({seconds / args.steps:.2f} s/step)")

    net = task.models["g_ab"].eval()
    print(f"\ninference (A->B generator){'':4}{'px':>12} {'s/image':>9} {'MP/s':>7}")
    with torch.no_grad():
        for side in [int(s) for s in args.sides.split(",")]:
            x = torch.rand(1, 3, side * 3 // 4, side, device=device) * 2 - 1
            run_padded(net, x[..., :64, :64])  # warm-up
            sync(device)
            t0 = time.perf_counter()
            run_padded(net, x)
            sync(device)
            dt = time.perf_counter() - t0
            print(f"  whole image {'':16}{side:>5}x{side * 3 // 4:<6} {dt:>9.2f} {side * side * 0.75 / 1e6 / dt:>7.2f}")
        side = args.tiled_side
        x = torch.rand(1, 3, side * 3 // 4, side, device=device) * 2 - 1
        sync(device)
        t0 = time.perf_counter()
        small = torch.nn.functional.interpolate(x, scale_factor=1024 / side, mode="bilinear", antialias=True)
        run_tiled(net, x, tile=args.tile, overlap=64, stats=norm_statistics(net, small))
        sync(device)
        dt = time.perf_counter() - t0
        print(f"  tiled {args.tile} px, overlap 64 {side:>5}x{side * 3 // 4:<6} {dt:>9.2f} {side * side * 0.75 / 1e6 / dt:>7.2f}")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
