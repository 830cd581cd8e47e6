"""Gatys with the offline EfficientNet-Lite0 judge: the paper's recipe against the ``lite0`` preset's defaults.

The paper's recipe (one scale, no total variation, style weight 1e4 in artlens' loss scaling) keeps the
photograph's fine detail and sprinkles per-pixel colour speckle over it when EfficientNet-Lite0 is the
judge. The ``lite0`` preset now solves at half size first (2 scales), weighs style 3e4 and adds a TV
prior of 5000. This script shows and measures the difference on the content photos of ``style_refs``:

* ``gatys_defaults.png``: one row per photo; columns content, style, old defaults, new defaults;
* ``gatys_defaults.json``: per run, the seconds and four numbers measured on the result at its size:
  ``style`` (the unweighted style loss of the whole image against the painting: lower = more painted),
  ``style_worst_quarter`` (the same for the worst of the four quarters: a part left photographic
  keeps it high), ``content`` (unweighted content loss) and ``chroma_speckle`` (mean absolute
  difference of neighbouring pixels' Cb and Cr, in 8-bit steps: per-pixel colour noise);
* ``--sweep``: ``gatys_sweep.jpg`` and ``gatys_sweep.json``: each change on its own, TV from 0 to 20000
  and the style weight on either side, on the first two photos at a smaller size (also printed as a table).

    python scripts/gatys_defaults_figure.py [--size 384] [--steps 100] [--sweep [--no-grid]] [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from adain_figures import show_image  # noqa: E402  (scripts/ is on the path when run as a script)
from artlens.style import GatysConfig, load_extractor, open_image, resolve_preset, run_gatys  # noqa: E402
from artlens.style.images import fit_size, to_tensor  # noqa: E402
from artlens.style.losses import content_loss, gram_matrix, style_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
CONTENTS = {
    "Tübingen": "style_refs/content/jcjohnson__tubingen.jpg",
    "Golden Gate": "style_refs/content/jcjohnson__golden_gate.jpg",
    "Chicago": "style_refs/content/naoto0804__chicago.jpg",
}
STYLE = ("Starry Night", "style_refs/style/jcjohnson__starry_night.jpg")
EXTRACTOR = "efficientnet_lite0"
#: What the ``lite0`` preset gave before: the paper's recipe (set explicitly, so it wins over the preset).
OLD = {"scales": 1, "style_weight": 1e4, "tv_weight": 0.0}
#: The sweep, every value explicit: each change alone, then 2 scales + style 3e4 with TV from 0 to 20000,
#: and the style weight on either side.
SWEEP = {
    "old: 1 scale, style 1e4, TV 0": OLD,
    "2 scales only": {**OLD, "scales": 2},
    "style 3e4 only": {**OLD, "style_weight": 3e4},
    "2 scales, style 3e4, TV 0": {"scales": 2, "style_weight": 3e4, "tv_weight": 0.0},
    "2 scales, style 3e4, TV 20": {"scales": 2, "style_weight": 3e4, "tv_weight": 20.0},
    "2 scales, style 3e4, TV 1000": {"scales": 2, "style_weight": 3e4, "tv_weight": 1000.0},
    "2 scales, style 3e4, TV 5000": {"scales": 2, "style_weight": 3e4, "tv_weight": 5000.0},
    "2 scales, style 3e4, TV 20000": {"scales": 2, "style_weight": 3e4, "tv_weight": 20000.0},
    "2 scales, style 1e4, TV 5000": {"scales": 2, "style_weight": 1e4, "tv_weight": 5000.0},
    "2 scales, style 1e5, TV 5000": {"scales": 2, "style_weight": 1e5, "tv_weight": 5000.0},
}


def measure(extractor, image, content, style, size: int) -> dict[str, float]:
    """Unweighted style/content losses with the preset's layers, the worst quarter's style loss, and chroma speckle."""
    preset = resolve_preset(GatysConfig(extractor=EXTRACTOR), extractor)
    with torch.no_grad():
        x, c, s = (to_tensor(fit_size(im, size)) for im in (image, content, style))
        grams = {k: gram_matrix(v) for k, v in extractor(s, list(preset.style_layers)).items()}
        layers = list(dict.fromkeys([*preset.content_layers, *preset.style_layers]))
        feats = extractor(x, layers)
        h, w = x.shape[-2:]
        quarters = [x[..., i * h // 2:(i + 1) * h // 2, j * w // 2:(j + 1) * w // 2] for i in (0, 1) for j in (0, 1)]
        worst = max(float(style_loss(extractor(q, list(preset.style_layers)), grams)) for q in quarters)
        out = {"style": float(style_loss(feats, grams)), "style_worst_quarter": worst,
               "content": float(content_loss(feats, extractor(c, list(preset.content_layers))))}
    return {**{k: round(v, 4) for k, v in out.items()}, "chroma_speckle": chroma_speckle(image, size)}


def chroma_speckle(image, size: int) -> float:
    """Mean absolute difference of neighbouring pixels' Cb and Cr at ``size`` (8-bit steps): per-pixel colour noise."""
    chroma = np.asarray(fit_size(image, size).convert("YCbCr"), np.float32)[..., 1:]
    return round(float((np.abs(np.diff(chroma, axis=0)).mean() + np.abs(np.diff(chroma, axis=1)).mean()) / 2), 3)


def stylise(extractor, content, style, size: int, steps: int, overrides: dict) -> tuple:
    cfg = GatysConfig(extractor=EXTRACTOR, size=size, steps=steps, **overrides)
    result = run_gatys(content, [style], cfg, extractor=extractor)
    preset = resolve_preset(cfg, extractor)
    last = {k: round(v, 3) for k, v in result.history[-1].items() if k not in ("step", "scale")}
    return result, {"scales": preset.scales, "style_weight": preset.style_weight, "tv_weight": preset.tv_weight,
                    "iterations": len(result.history), "seconds": round(result.seconds, 1), "final_terms": last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=384, help="longer side of the grid's results")
    ap.add_argument("--steps", type=int, default=100, help="iterations at the first scale (the grid's)")
    ap.add_argument("--sweep", action="store_true", help="also run the sweep (first two photos)")
    ap.add_argument("--no-grid", action="store_true", help="only the sweep (the before/after grid is not redrawn)")
    ap.add_argument("--sweep-size", type=int, default=256)
    ap.add_argument("--sweep-steps", type=int, default=80)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    extractor = load_extractor(EXTRACTOR)
    style = open_image(ARTDATA / STYLE[1], "style image")
    contents = {k: open_image(ARTDATA / v, "content image") for k, v in CONTENTS.items()}
    report: dict = {"extractor": EXTRACTOR, "style": STYLE[0], "created": time.strftime("%Y-%m-%d"),
                    "grid": {"size": args.size, "steps": args.steps, "rows": [],
                             "painting_speckle": chroma_speckle(style, args.size)}}

    if args.sweep:
        report["sweep"] = {"size": args.sweep_size, "steps": args.sweep_steps, "runs": []}
        report["sweep"]["painting_speckle"] = chroma_speckle(style, args.sweep_size)
        print(f"sweep at {args.sweep_size} px, {args.sweep_steps} iterations at the first scale")
        print(f"{'photo':12s} {'setting':34s} {'s':>6s} {'style':>8s} {'worst q':>8s} {'content':>8s} {'speckle':>8s}")
        sheet = []
        for cname, cimg in list(contents.items())[:2]:
            row = {"photo": cname, "photo_itself": measure(extractor, cimg, cimg, style, args.sweep_size)}
            images = []
            for name, overrides in SWEEP.items():
                result, info = stylise(extractor, cimg, style, args.sweep_size, args.sweep_steps, overrides)
                images.append(result.image)
                m = measure(extractor, result.image, cimg, style, args.sweep_size)
                row[name] = {**info, **m}
                print(f"{cname:12s} {name:34s} {info['seconds']:6.1f} {m['style']:8.4g} {m['style_worst_quarter']:8.4g} "
                      f"{m['content']:8.4g} {m['chroma_speckle']:8.3f}", flush=True)
            p = row["photo_itself"]
            print(f"{cname:12s} {'(the photo itself)':34s} {'':6s} {p['style']:8.4g} {p['style_worst_quarter']:8.4g} "
                  f"{p['content']:8.4g} {p['chroma_speckle']:8.3f}", flush=True)
            report["sweep"]["runs"].append(row)
            sheet.append((cname, images))
        fig, axes = plt.subplots(len(sheet), len(SWEEP), figsize=(2.3 * len(SWEEP), 2.1 * len(sheet)), squeeze=False)
        for i, (cname, images) in enumerate(sheet):
            for j, (name, img) in enumerate(zip(SWEEP, images)):
                m = report["sweep"]["runs"][i][name]
                show_image(axes[i, j], img, (name.replace(", ", "\n", 1) + "\n" if i == 0 else "")
                      + f"style {m['style']:.2g}, speckle {m['chroma_speckle']:.1f}")
                axes[i, j].title.set_fontsize(7)
        fig.suptitle(f"Gatys sweep on EfficientNet-Lite0, {args.sweep_size} px, {args.sweep_steps} iterations at the "
                     f"first scale; speckle of the painting itself {chroma_speckle(style, args.sweep_size):.1f}",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "gatys_sweep.jpg", dpi=80, pil_kwargs={"quality": 88})
        plt.close(fig)

    if args.sweep:
        sweep = {k: v for k, v in report.items() if k != "grid"}
        (out / "gatys_sweep.json").write_text(json.dumps(sweep, indent=1, ensure_ascii=False) + "\n")
        print("wrote", out / "gatys_sweep.jpg", out / "gatys_sweep.json")
        del report["sweep"]
    if args.no_grid:
        return
    pictures = []
    for cname, cimg in contents.items():
        row = {"photo": cname, "photo_itself": measure(extractor, cimg, cimg, style, args.size)}
        images = []
        for name, overrides in (("old", OLD), ("new", {})):
            result, info = stylise(extractor, cimg, style, args.size, args.steps, overrides)
            row[name] = {**info, **measure(extractor, result.image, cimg, style, args.size)}
            images.append(result.image)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        report["grid"]["rows"].append(row)
        pictures.append((cname, cimg, images, row))

    fig, axes = plt.subplots(len(pictures), 4, figsize=(13, 2.9 * len(pictures)), squeeze=False)
    for i, (cname, cimg, (old_img, new_img), row) in enumerate(pictures):
        o, n = row["old"], row["new"]
        first = i == 0
        show_image(axes[i, 0], fit_size(cimg, args.size), f"content: {cname}")
        show_image(axes[i, 1], fit_size(style, args.size), f"style: {STYLE[0]}" if first else "")
        show_image(axes[i, 2], old_img, ("old: 1 scale, style 1e4, TV 0\n" if first else "")
              + f"style {o['style']:.3g}, worst quarter {o['style_worst_quarter']:.3g}, speckle {o['chroma_speckle']:.1f}")
        show_image(axes[i, 3], new_img, ("new: 2 scales, style 3e4, TV 5000\n" if first else "")
              + f"style {n['style']:.3g}, worst quarter {n['style_worst_quarter']:.3g}, speckle {n['chroma_speckle']:.1f}")
    fig.suptitle(f"Gatys on EfficientNet-Lite0 (offline), {args.size} px, {args.steps} L-BFGS iterations at the "
                 "first scale (+ half as many at full size with 2 scales)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "gatys_defaults.png", dpi=90)
    plt.close(fig)
    (out / "gatys_defaults.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print("wrote", out / "gatys_defaults.png", out / "gatys_defaults.json")


if __name__ == "__main__":
    main()
