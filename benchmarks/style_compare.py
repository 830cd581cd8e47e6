"""CycleGAN, AdaIN and Gatys side by side on the same photos: seconds per image, the share of results
the built-in WikiArt style classifier calls Impressionism (the Best Artworks study's "Good / Best /
Worst", as a number) and the median grid an upsampling layer left (:func:`artlens.evaluate.grid_strength`;
a photo: about 0.01).

    python benchmarks/style_compare.py [--cyclegan runs/photo2impressionism/model] [--decoder DECODER]
        [--photos 4] [--size 512] [--gatys-steps 100] [--style PAINTING] [--out style-compare]

Each photo (the first ``--photos`` of ``shared/artdata/style_refs/content``) is resized to ``--size`` px
on its longer side and translated by the CycleGAN bundle (A->B; default: the built-in one), stylised by AdaIN (``--decoder``, default
the built-in decoder) and by Gatys (EfficientNet-Lite0, L-BFGS, ``--gatys-steps`` iterations) with
``--style`` (default: Monet's *Cliff Walk at Pourville*, shipped with artlens). The untouched photo is
the baseline row. Times exclude loading the models and follow one warm-up image. Writes each result
and ``compare.png`` (one row per photo: photo, CycleGAN, AdaIN unless untrained, Gatys) into ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import resources
from pathlib import Path

import torch
from _common import ARTDATA

from artlens import AdainStylizer, GatysConfig, Predictor, open_image, stylize_gatys
from artlens.evaluate import grid_strength
from artlens.style import builtin_decoder
from artlens.style.images import fit_size
from artlens.translate import Translator, builtin_translator

TARGET = "Impressionism"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cyclegan", default=None,
                    help="image-translation bundle (photo = domain A; default: the built-in photo2impressionism)")
    ap.add_argument("--decoder", default=None,
                    help="AdaIN decoder bundle (default: the built-in one; without one, an untrained decoder of the "
                         "same shape: its time is right, its pictures and labels mean nothing)")
    ap.add_argument("--style", default=None, help="style painting for AdaIN and Gatys")
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--gatys-steps", type=int, default=100)
    ap.add_argument("--out", default="style-compare")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = args.device
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    style_path = args.style or resources.files("artlens") / "assets" / "styles" / "monet_cliff_walk_pourville.jpg"
    style = open_image(style_path)
    files = sorted((ARTDATA / "style_refs" / "content").glob("*.jpg"))[:args.photos]
    photos = {p.stem: fit_size(open_image(p), args.size) for p in files}

    painter = Translator.load(args.cyclegan or builtin_translator(), device=device)
    methods = {"photo (no method)": lambda img: img,
               "CycleGAN": lambda img: painter.translate(img, direction="a2b")}
    builtin = builtin_decoder()
    decoder = args.decoder or builtin or _untrained_decoder(out / "untrained-decoder")
    adain = AdainStylizer.load(decoder, device=device)
    adain_name = "AdaIN" if args.decoder else "AdaIN (built-in)" if builtin else "AdaIN (untrained)"
    methods[adain_name] = lambda img: adain.stylize(img, [style], alpha=1.0, content_size=min(img.size),
                                                    style_size=512)
    gatys_cfg = GatysConfig(extractor="efficientnet_lite0", size=args.size, steps=args.gatys_steps, device=device)
    methods["Gatys"] = lambda img: stylize_gatys(img, [style], gatys_cfg)

    judge = Predictor(device=device)
    target = judge.classes.index(TARGET)
    print(f"device: {name}; {len(photos)} photos at {args.size} px; style {Path(str(style_path)).name}; "
          f"judge: built-in {judge.bundle.name}")
    print(f"\n{'method':<18} {'s/image':>8} {'called ' + TARGET:>22} {'mean p(' + TARGET + ')':>22} {'grid':>6}  "
          "top-1 labels")
    grid: dict[str, list[Path]] = {stem: [] for stem in photos}
    for method, run in methods.items():
        run(next(iter(photos.values())).resize((128, 96)))  # warm-up
        seconds, labels, probs, grids = 0.0, [], [], []
        for stem, img in photos.items():
            t0 = time.perf_counter()
            result = run(img)
            seconds += time.perf_counter() - t0
            path = out / f"{stem}_{method.split()[0].lower()}.png"
            result.save(path)
            grid[stem].append(path)
            p = judge.probs([judge.views(result)])[0]
            labels.append(judge.classes[int(p.argmax())])
            probs.append(float(p[target]))
            grids.append(grid_strength(result))
        share = sum(lab == TARGET for lab in labels)
        print(f"{method:<18} {seconds / len(photos) if method != 'photo (no method)' else 0:>8.2f} "
              f"{f'{share}/{len(labels)}':>22} {sum(probs) / len(probs):>22.2f} {statistics.median(grids):>6.3f}  "
              f"{', '.join(labels)}")
    shown = [i for i, m in enumerate(methods) if not m.endswith("(untrained)")]  # an untrained decoder paints mud
    _figure({k: [v[i] for i in shown] for k, v in grid.items()}, [list(methods)[i] for i in shown], out / "compare.png")
    print(f"\nwrote {out / 'compare.png'}")


def _untrained_decoder(path: Path) -> Path:
    """An EfficientNet-Lite0 decoder bundle straight from its initialisation: AdaIN at its true cost."""
    from artlens.style.decoder import build_decoder, save_decoder_bundle
    from artlens.style.extractor import load_extractor

    if (path / "artlens.json").is_file():
        return path
    extractor = load_extractor("efficientnet_lite0")
    decoder, spec = build_decoder(extractor, "blocks.2")
    return save_decoder_bundle(decoder, path, {"encoder": "efficientnet_lite0", "layer": "blocks.2", "decoder": spec,
                                               "steps": 0})


def _figure(grid: dict[str, list[Path]], columns: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(len(grid), len(columns), figsize=(3.2 * len(columns), 2.5 * len(grid)), squeeze=False)
    for r, paths in enumerate(grid.values()):
        for c, p in enumerate(paths):
            axes[r][c].imshow(Image.open(p))
            axes[r][c].axis("off")
            if r == 0:
                axes[r][c].set_title(columns[c].split(" (")[0], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
