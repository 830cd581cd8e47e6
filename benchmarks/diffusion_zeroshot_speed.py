"""Zero-shot diffusion classification: the study's estimator against ours, same model, same images.

The naive estimator is the study's (Li et al. as the ArtBench study ran it): each class on its own, a
fresh uniform ``t`` and fresh noise per sample, one sample per forward pass. Ours shares the (t, noise)
pairs across classes, stratifies ``t``, scores all classes in the running in one batched pass, and
drops the worse half of the classes after each stage. Both see the first ``--per-class`` test images of
each class of the bundle's own held-out split. Printed: accuracy, seconds and denoiser passes per image,
and the speed-up at that accuracy.

On a GPU, ``--gpu-classes 10`` also times a 10-class model of the ArtBench recipe's shape (speed does
not depend on the weights' values, so an untrained one is timed) with that recipe's sample plan: the
seconds per 32 px image to set against the study's 3 minutes.

    python benchmarks/diffusion_zeroshot_speed.py --model runs/diffusion/model [--per-class 10]
        [--naive-samples 256] [--samples 16,64] [--device cpu] [--gpu-classes 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from artlens.diffusion import (ClassUNet, GaussianDiffusion, UNetConfig, estimate_errors, load_diffusion_bundle,
                               load_images, naive_class_errors, split_collection, to_model_range)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(args: argparse.Namespace, device: torch.device) -> None:
    model = load_diffusion_bundle(args.model, device=device)
    classes = model.classes
    collection = split_collection(model.meta["data"])
    picked = []
    for c in classes:
        picked += sorted((s for s in collection.samples if s.split == "test" and s.label == c),
                         key=lambda s: s.path)[: args.per_class]
    images, kept, _ = load_images(picked, model.size)
    labels = [classes.index(picked[i].label) for i in kept]
    ours_samples = [int(v) for v in args.samples.split(",")]
    rows = {}
    for name in ("naive", "ours"):
        right, seconds, passes = 0, 0.0, 0
        for k, (img, y) in enumerate(zip(images, labels)):
            x0 = to_model_range(img).to(device)
            gen = torch.Generator().manual_seed(k)
            _sync(device)
            start = time.perf_counter()
            if name == "naive":
                errors = naive_class_errors(model.denoiser, model.diffusion, x0, len(classes), args.naive_samples,
                                            generator=gen).mean(0).numpy()
                used = args.naive_samples * len(classes)
            else:
                score = estimate_errors(model.denoiser, model.diffusion, x0, len(classes), samples=ours_samples,
                                        generator=gen, batch_size=args.batch_size)
                errors, used = score.errors, score.passes
            _sync(device)
            seconds += time.perf_counter() - start
            passes += used
            right += int(np.argmin(errors) == y)
        n = len(labels)
        rows[name] = {"accuracy": right / n, "s_per_image": seconds / n, "passes_per_image": passes / n}
    print(f"model {args.model}: {len(classes)} classes, {model.size} px, T = {model.diffusion.timesteps}; "
          f"{len(labels)} test images; device {device}")
    print(f"{'estimator':<44} {'accuracy':>8} {'s/image':>9} {'passes/image':>13}")
    labels_ = {"naive": f"naive ({args.naive_samples} fresh samples/class, batch 1)",
               "ours": f"ours (shared pairs {args.samples}, batched, elimination)"}
    for name, r in rows.items():
        print(f"{labels_[name]:<44} {r['accuracy']:>8.3f} {r['s_per_image']:>9.4f} {r['passes_per_image']:>13.0f}")
    speedup = rows["naive"]["s_per_image"] / rows["ours"]["s_per_image"]
    verdict = "at equal or better accuracy" if rows["ours"]["accuracy"] >= rows["naive"]["accuracy"] else \
        f"but {rows['naive']['accuracy'] - rows['ours']['accuracy']:.3f} less accurate"
    print(f"speed-up: {speedup:.1f}x {verdict}")


def gpu_ten_classes(args: argparse.Namespace, device: torch.device) -> None:
    """Seconds per 32 px image for a 10-class model of the ArtBench-10 recipe's shape and sample plan."""
    from artlens.recipes import load_recipe

    recipe = load_recipe("artbench-10class-diffusion")
    train, classify = recipe.config["train"], recipe.config["classify"]
    torch.manual_seed(0)
    net = ClassUNet(UNetConfig(**train["unet"]), num_classes=args.gpu_classes, image_size=32).to(device).eval()
    diffusion = GaussianDiffusion(timesteps=train["timesteps"], schedule=train["schedule"]).to(device)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if args.compile:
        net = torch.compile(net, dynamic=True)
    x = torch.rand(args.gpu_images, 3, 32, 32, device=device) * 2 - 1
    for warm in range(2):
        estimate_errors(net, diffusion, x[warm], args.gpu_classes, samples=classify["samples"],
                        generator=torch.Generator().manual_seed(warm), batch_size=classify["batch_size"], dtype=dtype)
    _sync(device)
    start = time.perf_counter()
    passes = 0
    for i in range(args.gpu_images):
        passes += estimate_errors(net, diffusion, x[i], args.gpu_classes, samples=classify["samples"],
                                  generator=torch.Generator().manual_seed(i), batch_size=classify["batch_size"],
                                  dtype=dtype).passes
    _sync(device)
    per = (time.perf_counter() - start) / args.gpu_images
    params = sum(p.numel() for p in net.parameters()) / 1e6
    print(f"{torch.cuda.get_device_name(device)}: {args.gpu_classes}-class {params:.1f} M-parameter UNet, 32 px, "
          f"samples {classify['samples']}, {dtype}, compiled {bool(args.compile)}: {per:.3f} s per image, "
          f"{passes / args.gpu_images:.0f} passes per image (the study: ~180 s per image)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a diffusion bundle (artlens diffusion train); skip to time only the GPU model")
    ap.add_argument("--per-class", type=int, default=10, help="test images per class")
    ap.add_argument("--naive-samples", type=int, default=256, help="fresh samples per class of the naive estimator")
    ap.add_argument("--samples", default="16,64", help="our cumulative samples per stage")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--gpu-classes", type=int, default=10, help="classes of the GPU timing model (0: skip)")
    ap.add_argument("--gpu-images", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="torch.compile the GPU timing model")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.model:
        compare(args, device)
    if device.type == "cuda" and args.gpu_classes:
        gpu_ten_classes(args, device)


if __name__ == "__main__":
    main()
