"""The AdaIN decoder judged as the issue asks: by eye against the paper's kind of pairs, and by numbers.

Writes into ``--out`` (default ``docs/img``):

* ``adain_grid.png``: content photographs (rows) x styles (columns: Starry Night, The Scream, a
  Hokusai print, a Cubist Picasso) at alpha 1, with the content and style images in the margins;
* ``adain_alpha.png``: one pair at alpha 0, 0.25, 0.5, 0.75 and 1;
* ``adain_vs_gatys.png`` and ``adain_vs_gatys.json``: the same pairs by AdaIN and by Gatys' method, and
  the content and style losses of both measured with one loss network (EfficientNet-Lite0 with the
  ``lite0`` layer preset Gatys optimises, so Gatys is judged by its own objective: AdaIN can only
  lose on it; the question is by how much, for a thousandth of the time).

    python scripts/adain_figures.py [--decoder DIR] [--size 384] [--gatys-steps 150] [--out docs/img]
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
import torch  # noqa: E402

from artlens.style import AdainConfig, AdainStylizer, GatysConfig, load_extractor, open_image, run_adain, run_gatys  # noqa: E402
from artlens.style.gatys import default_preset  # noqa: E402
from artlens.style.images import fit_size, to_tensor  # noqa: E402
from artlens.style.losses import content_loss, gram_matrix, style_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
CONTENTS = {
    "Tübingen": "style_refs/content/jcjohnson__tubingen.jpg",
    "Golden Gate": "style_refs/content/naoto0804__golden_gate.jpg",
    "Sailboat": "style_refs/content/naoto0804__sailboat.jpg",
    "Chicago": "style_refs/content/naoto0804__chicago.jpg",
}
STYLES = {
    "Starry Night (van Gogh)": "style_refs/style/jcjohnson__starry_night.jpg",
    "The Scream (Munch)": "style_refs/style/jcjohnson__the_scream.jpg",
    "The Great Wave, coloured (Hokusai)": "wikiart11/Ukiyo_e/katsushika-hokusai_a-colored-version-of-the-big-wave.jpg",
    "Seated Nude (Picasso, 1909)": "style_refs/style/naoto0804__picasso_seated_nude_hr.jpg",
}


def show_image(ax, img, title: str = "") -> None:
    """``img`` on ``ax`` without ticks or frame, with an optional small title (the figure scripts' panel)."""
    ax.imshow(img)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)


def grid(stylizer: AdainStylizer, contents: dict, styles: dict, size: int, out: Path) -> Path:
    n, m = len(contents), len(styles)
    fig, axes = plt.subplots(n + 1, m + 1, figsize=(2.2 * (m + 1), 2.2 * (n + 1)))
    axes[0, 0].axis("off")
    for j, (name, img) in enumerate(styles.items(), start=1):
        show_image(axes[0, j], fit_size(img, 256, crop=True, longer=False), name)
    for i, (cname, cimg) in enumerate(contents.items(), start=1):
        show_image(axes[i, 0], fit_size(cimg, 256, crop=True, longer=False))
        axes[i, 0].set_ylabel(cname, fontsize=9)
        for j, simg in enumerate(styles.values(), start=1):
            result = stylizer.stylize(cimg, [simg], alpha=1.0, content_size=size, style_size=size)
            show_image(axes[i, j], fit_size(result, 256, crop=True, longer=False))
    fig.suptitle(f"AdaIN, built-in decoder ({stylizer.meta.get('name', '')}): content x style, alpha 1, "
                 f"{size} px", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def alpha_sweep(stylizer: AdainStylizer, content, style, names: tuple[str, str], size: int, out: Path) -> Path:
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    fig, axes = plt.subplots(1, len(alphas) + 2, figsize=(2.4 * (len(alphas) + 2), 2.8))
    show_image(axes[0], fit_size(content, 256, crop=True, longer=False), names[0])
    for ax, a in zip(axes[1:], alphas):
        show_image(ax, fit_size(stylizer.stylize(content, [style], alpha=a, content_size=size, style_size=size), 256,
                           crop=True, longer=False), f"alpha {a}")
    show_image(axes[-1], fit_size(style, 256, crop=True, longer=False), names[1])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def losses(extractor, preset, image, content, style, size: int) -> dict[str, float]:
    """Gatys' content and style losses of ``image`` (weighted as Gatys weighs them), at ``size`` px."""
    layers = list(dict.fromkeys([*preset.content_layers, *preset.style_layers]))
    with torch.no_grad():
        x = to_tensor(fit_size(image, size))
        c = to_tensor(fit_size(content, size))
        s = to_tensor(fit_size(style, size))
        feats = extractor(x, layers)
        c_t = extractor(c, list(preset.content_layers))
        grams = {k: gram_matrix(v) for k, v in extractor(s, list(preset.style_layers)).items()}
        return {"content": float(preset.content_weight * content_loss(feats, c_t)),
                "style": float(preset.style_weight * style_loss(feats, grams))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decoder", default="", help="decoder bundle (default: the built-in one)")
    ap.add_argument("--size", type=int, default=384, help="longer side for the grid and the comparison")
    ap.add_argument("--gatys-steps", type=int, default=150)
    ap.add_argument("--pairs", type=int, default=4, help="pairs in the Gatys comparison (the grid's diagonal)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    stylizer = AdainStylizer.load(args.decoder or None)
    contents = {k: open_image(ARTDATA / v, "content image") for k, v in CONTENTS.items()}
    styles = {k: open_image(ARTDATA / v, "style image") for k, v in STYLES.items()}
    print("wrote", grid(stylizer, contents, styles, args.size, out / "adain_grid.png"))
    print("wrote", alpha_sweep(stylizer, contents["Tübingen"], styles["Starry Night (van Gogh)"],
                               ("Tübingen", "Starry Night"), args.size, out / "adain_alpha.png"))

    extractor = load_extractor("efficientnet_lite0")
    preset = default_preset(extractor)
    rows, pictures = [], []
    for (cname, cimg), (sname, simg) in list(zip(contents.items(), styles.items()))[: args.pairs]:
        cfg = AdainConfig(decoder=args.decoder, content_size=args.size, style_size=args.size)
        adain_run = run_adain(cimg, [simg], cfg, stylizer=stylizer)
        gatys_run = run_gatys(cimg, [simg], GatysConfig(extractor="efficientnet_lite0", size=args.size,
                                                        steps=args.gatys_steps), extractor=extractor)
        row = {"content": cname, "style": sname, "size": args.size,
               "adain": {**losses(extractor, preset, adain_run.image, cimg, simg, args.size),
                         "seconds": round(adain_run.seconds, 3)},
               "gatys": {**losses(extractor, preset, gatys_run.image, cimg, simg, args.size),
                         "seconds": round(gatys_run.seconds, 1), "steps": args.gatys_steps},
               "content_image": {**losses(extractor, preset, cimg, cimg, simg, args.size)}}
        rows.append(row)
        pictures.append((cname, sname, adain_run.image, gatys_run.image))
        print(json.dumps(row))
    fig, axes = plt.subplots(len(pictures), 2, figsize=(6, 3 * len(pictures)))
    for i, (cname, sname, a_img, g_img) in enumerate(pictures):
        show_image(axes[i, 0], a_img, f"AdaIN: {cname} x {sname.split(' (')[0]}")
        show_image(axes[i, 1], g_img, f"Gatys ({args.gatys_steps} L-BFGS steps)")
    fig.tight_layout()
    fig.savefig(out / "adain_vs_gatys.png", dpi=90)
    plt.close(fig)
    meta = stylizer.meta
    (out / "adain_vs_gatys.json").write_text(json.dumps(
        {"decoder": meta.get("name"), "decoder_steps": meta.get("steps"), "loss_network": "efficientnet_lite0",
         "preset": "lite0", "created": time.strftime("%Y-%m-%d"), "pairs": rows}, indent=1) + "\n")
    print("wrote", out / "adain_vs_gatys.png", out / "adain_vs_gatys.json")


if __name__ == "__main__":
    main()
