"""Train the built-in AdaIN decoder and ship it: ``make adain-model`` (CPU or GPU, the same recipe).

1. Build the image lists (``<out>/data/content`` and ``<out>/data/style``, folders of links to the
   files in ``shared/artdata``): content is every CC BY photograph of ``photos_ccby`` plus every
   fourth ``wikiart11`` painting (a decoder must render paintings too, not only photographs); style
   is every painting of ``wikiart11``, ``aic_periods`` and ``style_refs`` and every third
   ``artists49`` painting (those are 128 px thumbnails: all of them would be half the styles, and
   blurred ones).
2. Train a decoder for EfficientNet-Lite0's stride-8 stage (``blocks.2``, ImageNet weights offline)
   with :func:`artlens.style.adain_train.train_decoder` (a killed run resumes with ``--resume``).
3. With ``--ship``, copy the bundle (float16) into ``src/artlens/assets/models/adain-lite0``, where
   ``artlens stylize adain``, ``artlens trajectory`` and the web page find it.

The CPU recipe (the default) is 128 px crops of images resized to 192 px, batch 4: 5 to 6 steps/s
on two cores. ``--gpu`` scales it to the paper's settings (256 px crops of 512 px images, batch 8,
20k steps), minutes on one GPU.

    python scripts/train_adain_model.py --ship                 # the shipped decoder (CPU, about 50 min)
    python scripts/train_adain_model.py --gpu --ship --device cuda
    python scripts/train_adain_model.py --steps 20 --out /tmp/adain-smoke   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from safetensors.torch import load_file

from artlens.data.images import iter_image_files
from artlens.models.bundle import META_FILE, write_bundle_dir
from artlens.style.adain_train import AdainTrainConfig, train_decoder
from artlens.style.decoder import WEIGHTS_FILE

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
SHIPPED = ROOT / "src" / "artlens" / "assets" / "models" / "adain-lite0"

#: (source folder, every n-th file) per role.
CONTENT = [("photos_ccby", 1), ("wikiart11", 4)]
STYLE = [("wikiart11", 1), ("aic_periods", 1), ("style_refs", 1), ("artists49", 3)]

CPU = dict(size=128, load_size=192, batch_size=4, steps=14000, lr=3e-4, lr_decay=1e-4)
GPU = dict(size=256, load_size=512, batch_size=8, steps=20000, lr=1e-4, lr_decay=5e-5)


def link_images(dest: Path, sources: list[tuple[str, int]]) -> int:
    """Fill ``dest`` with links named ``<source>__<relative path>`` to every n-th image of each source."""
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, every in sources:
        root = ARTDATA / name
        for path in iter_image_files(root)[::every]:
            link = dest / "__".join((name, *path.relative_to(root).parts))
            if not link.exists():
                link.symlink_to(path.resolve())
            n += 1
    return n


def ship(bundle: Path, dest: Path) -> Path:
    """Copy the bundle with its weights in float16 (half the size; the decoder runs in float32), swapped in
    whole by :func:`artlens.models.bundle.write_bundle_dir`."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(bundle / WEIGHTS_FILE)).items()}
    meta = json.loads((bundle / META_FILE).read_text())
    meta["name"] = dest.name
    meta["training"]["content"] = ", ".join(f"{n} (every {e})" if e > 1 else n for n, e in CONTENT) + \
        f" from shared/artdata ({meta['training']['content'].rsplit('(', 1)[-1]}"
    meta["training"]["style"] = ", ".join(f"{n} (every {e})" if e > 1 else n for n, e in STYLE) + \
        f" from shared/artdata ({meta['training']['style'].rsplit('(', 1)[-1]}"
    return write_bundle_dir(dest, state, meta, weights_file=WEIGHTS_FILE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/adain-lite0")
    ap.add_argument("--gpu", action="store_true", help="the paper's sizes and steps (for a GPU)")
    ap.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resume", action="store_true", help="continue <out>/checkpoint.pt")
    ap.add_argument("--ship", action="store_true", help="copy the decoder into the package")
    args = ap.parse_args()

    out = Path(args.out)
    n_content = link_images(out / "data" / "content", CONTENT)
    n_style = link_images(out / "data" / "style", STYLE)
    print(f"content: {n_content} images, style: {n_style} images")
    recipe = dict(GPU if args.gpu else CPU)
    if args.steps:
        recipe["steps"] = args.steps
    cfg = AdainTrainConfig(content=str(out / "data" / "content"), style=str(out / "data" / "style"),
                           out=str(out), encoder="efficientnet_lite0", layer="blocks.2", tv_weight=300.0,
                           ema_decay=0.999, checkpoint_every=250, sample_every=500, device=args.device,
                           resume=args.resume, **recipe)
    bundle = train_decoder(cfg, show_progress=True)
    print(f"decoder bundle: {bundle}")
    if args.ship:
        print(f"shipped: {ship(bundle, SHIPPED)}")


if __name__ == "__main__":
    main()
