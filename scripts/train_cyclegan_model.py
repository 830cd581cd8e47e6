"""Train the built-in photo -> Impressionism CycleGAN and ship it: ``make cyclegan-model`` (CPU or GPU).

1. Domain A is every CC BY photograph of ``shared/artdata/photos_ccby`` (1,000, 299 px); domain B every
   Impressionist painting of ``wikiart11`` (300, 224 px) and every Monet of ``artists49`` (73, 128 px).
2. Train with :func:`artlens.translate.train_cyclegan` (the paper's losses, pool, Adam and linear decay;
   a killed run resumes with ``--resume``).
3. With ``--ship``, copy the bundle (float16) into ``src/artlens/assets/models/photo2impressionism``,
   where ``artlens cyclegan apply`` (no ``--model``) and the web page's Style tab find it.

The CPU recipe (the default, the shipped model) is the paper's at a size two CPU cores can train in
about an hour: 128 px crops of images whose shorter side is 143 px (so a crop keeps most of the scene,
as the paper's 256 of 286), generators of width 32 with 6 residual blocks (the paper's 128 px
setting, at half its width), 6,000 steps of batch 1 (6 passes over the photos), the learning rate
constant for 3,000 steps then falling linearly to 0, an EMA of the generators (decay 0.999).
``--upsample resize`` trains the generators with resize + convolution instead of the paper's transposed
convolutions: most of the photo -> painting grid goes, not enough of the other direction's for the rule
it was tried under (docs/style.md, "Resize instead of transposed convolutions").
``--gpu`` is the paper's own size (256 px crops of 286 px images, width 64, 9 blocks, 100 k steps).

    python scripts/train_cyclegan_model.py --ship                 # the shipped model (CPU, about an hour)
    python scripts/train_cyclegan_model.py --gpu --ship --device cuda
    python scripts/train_cyclegan_model.py --steps 20 --out /tmp/cyclegan-smoke   # a smoke test
    python scripts/train_cyclegan_model.py --upsample resize --out runs/cg-resize  # the tried candidate
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from safetensors.torch import load_file

from artlens.models.bundle import DEFAULT_TRANSLATOR, META_FILE, WEIGHTS_FILE, write_bundle_dir
from artlens.translate import CycleGANConfig, train_cyclegan
from artlens.translate.networks import UPSAMPLING

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
SHIPPED = ROOT / "src" / "artlens" / "assets" / "models" / DEFAULT_TRANSLATOR

DOMAIN_A = ["photos_ccby"]
DOMAIN_B = ["wikiart11/Impressionism", "artists49/claude_monet"]

CPU = dict(size=128, load_size=143, ngf=32, n_blocks=6, steps=6000, checkpoint_every=500, sample_every=1000)
GPU = dict(size=256, load_size=286, ngf=64, n_blocks=9, steps=100000, checkpoint_every=2000, sample_every=2000)


def ship(bundle: Path, dest: Path) -> Path:
    """Copy the bundle with its weights in float16 (half the size; the generators run in float32), swapped
    in whole by :func:`artlens.models.bundle.write_bundle_dir`."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(bundle / WEIGHTS_FILE)).items()}
    meta = json.loads((bundle / META_FILE).read_text())
    meta["name"] = dest.name
    for side, sources in (("a", DOMAIN_A), ("b", DOMAIN_B)):  # no paths of the machine it was trained on
        count = meta["domains"][side].rsplit("(", 1)[-1]
        meta["domains"][side] = f"shared/artdata: {', '.join(sources)} ({count}"
        meta["training"][side] = [f"shared/artdata/{s}" for s in sources]
    meta["description"] = ("Photo (A) to Impressionist painting (B), trained on two CPU cores: a small model "
                           "(see docs/style.md, 'The built-in model')")
    return write_bundle_dir(dest, state, meta, weights_file=WEIGHTS_FILE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/photo2impressionism")
    ap.add_argument("--gpu", action="store_true", help="the paper's sizes and steps (for a GPU)")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    ap.add_argument("--upsample", default="transpose", choices=UPSAMPLING,
                    help="the generators' upsampling (the shipped model: transpose, the paper's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resume", action="store_true", help="continue <out>/checkpoint.pt")
    ap.add_argument("--ship", action="store_true", help="copy the model into the package")
    args = ap.parse_args()

    recipe = dict(GPU if args.gpu else CPU, upsample=args.upsample)
    if args.steps:
        recipe["steps"] = args.steps
    cfg = CycleGANConfig(a=[str(ARTDATA / s) for s in DOMAIN_A], b=[str(ARTDATA / s) for s in DOMAIN_B],
                         out=args.out, ema_decay=0.999, device=args.device, resume=args.resume, **recipe)
    result = train_cyclegan(cfg, show_progress=True)
    print(f"bundle: {result.bundle}; samples: {result.samples}; loss curves: {result.curves}")
    if args.ship:
        print(f"shipped: {ship(result.bundle, SHIPPED)}")


if __name__ == "__main__":
    main()
