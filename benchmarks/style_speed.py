"""Style-transfer speed: Gatys seconds per 100 iterations and peak memory at 256 and 512 px, AdaIN ms/image.

Runs on the best device here (CUDA when present, else CPU) and prints it. Speed does not depend on
the weights' values, so ``--weights none`` measures VGG19 without its download; an AdaIN decoder
bundle is optional for the same reason (an untrained decoder of the same shape is timed otherwise).

    python benchmarks/style_speed.py [--extractor efficientnet_lite0] [--weights none] [--iters 20]
                                     [--sizes 256,512] [--decoder runs/adain/decoder]

Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU (reset per size) and the process' peak
RSS on CPU (monotonic: sizes run in increasing order, so each row is the peak up to that size).
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import ARTDATA

from artlens.style.adain import AdainStylizer, build_decoder, default_layer
from artlens.style.extractor import load_extractor
from artlens.style.gatys import GatysConfig, run_gatys
from artlens.style.images import open_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extractor", default="efficientnet_lite0")
    ap.add_argument("--weights", default=None, help="weights file, or 'none' for random weights (same speed)")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--iters", type=int, default=20, help="Gatys iterations timed per size (scaled to 100)")
    ap.add_argument("--optimizer", default="lbfgs")
    ap.add_argument("--decoder", default=None, help="AdaIN decoder bundle (default: untrained decoder, same speed)")
    ap.add_argument("--adain-images", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; extractor {args.extractor} (weights {args.weights or 'default'})")

    content = open_image(ARTDATA / "style_refs" / "content" / "jcjohnson__tubingen.jpg")
    style = open_image(ARTDATA / "style_refs" / "style" / "jcjohnson__starry_night.jpg")
    extractor = load_extractor(args.extractor, weights=args.weights, device=device)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"\nGatys ({args.optimizer}, {args.iters} timed iterations per row)")
    print(f"{'size':>6} {'scales':>6} {'s/100 it':>9} {'peak MB':>9}  memory")
    rows = [(s, 1) for s in sizes] + [(sizes[-1], 2)]
    for size, scales in rows:
        if device.type == "cuda":
            torch.cuda.synchronize()
        cfg = GatysConfig(extractor=args.extractor, size=size, steps=args.iters, refine_steps=args.iters, scales=scales,
                          optimizer=args.optimizer, device=args.device)
        run_gatys(content, [style], GatysConfig(size=64, steps=1, device=args.device), extractor=extractor)  # warm-up
        result = run_gatys(content, [style], cfg, extractor=extractor)
        per100 = result.seconds / len(result.history) * 100
        note = f"  ({args.iters} it at {size // 2} px + {args.iters} at {size} px: {result.seconds:.1f} s)" if scales > 1 else ""
        print(f"{size:>6} {scales:>6} {per100:>9.1f} {result.peak_memory_mb:>9.0f}  {result.memory_kind}{note}")

    if args.decoder:
        stylizer = AdainStylizer.load(args.decoder, device=device, weights=args.weights)
        label = args.decoder
    else:
        layer = default_layer(extractor)
        decoder, spec = build_decoder(extractor, layer)
        stylizer = AdainStylizer(extractor, decoder, layer=layer, meta={"decoder": spec})
        label = f"untrained {spec['kind']} decoder at {layer}"
    print(f"\nAdaIN ({label}), {args.adain_images} images after one warm-up")
    print(f"{'content px':>10} {'ms/image':>9}")
    for size in sizes:
        stylizer.stylize(content, [style], content_size=size, style_size=size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.adain_images):
            stylizer.stylize(content, [style], alpha=0.8, content_size=size, style_size=size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        print(f"{size:>10} {(time.perf_counter() - start) / args.adain_images * 1000:>9.0f}")


if __name__ == "__main__":
    main()
