"""Retrain the built-in style classifier and measure it where it matters: on other sources.

1. ``fit`` the recipe in ``configs/default_style.yaml`` on ``shared/artdata/wikiart11`` (10% test
   split held out, near-duplicates of training images removed from it with ``dedupe``);
2. evaluate the result on paintings of the same styles from *other* sources, listed in
   ``scripts/data/other_sources.tsv`` (Kaggle "Best Artworks" artists with one clear style, Art
   Institute of Chicago works, style-transfer reference paintings; every image that near-duplicates
   a WikiArt training image was removed when the list was made);
3. with ``--ship``, write the bundle (float16) into ``src/artlens/assets/models/wikiart11-style``.

    python scripts/train_default_model.py [--ship]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from artlens import evaluate, fit, load_config
from artlens.models import load_bundle, save_bundle
from artlens.models.bundle import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
CLEAR_SETS = ("proxy_core", "aic", "style_refs")


def other_source_manifests(tmp: Path) -> dict[str, Path]:
    """Manifests with absolute paths: ``clear`` (single-style artists, AIC, references) and ``loose``."""
    rows = defaultdict(list)
    with (ROOT / "scripts" / "data" / "other_sources.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows["clear" if r["set"] in CLEAR_SETS else "loose"].append((ARTDATA / r["path"], r["label"]))
    out = {}
    for name, items in rows.items():
        path = tmp / f"{name}.tsv"
        path.write_text("path\tlabel\n" + "".join(f"{p}\t{label}\n" for p, label in items))
        out[name] = path
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "default_style.yaml"))
    ap.add_argument("--out", default=None, help="run folder (default: the recipe's out)")
    ap.add_argument("--ship", action="store_true", help="copy the model into the package as the default")
    args = ap.parse_args()
    cfg = load_config(args.config)
    cfg.data.path = str(ARTDATA / "wikiart11")
    if args.out:
        cfg.out = args.out
    cfg.resume = (Path(cfg.out) / "checkpoint.pt").exists()
    result = fit(cfg)
    held_out = result.test_metrics
    bundle = load_bundle(result.bundle)
    other = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, manifest in other_source_manifests(Path(tmp)).items():
            report = evaluate(bundle, manifest, Path(cfg.out) / f"other_sources_{name}", split="all")
            m = report["metrics"]
            other[name] = {"n": report["n_evaluated"], "accuracy": round(m["accuracy"], 4),
                           "top3": round(m.get("top3", float("nan")), 4),
                           "balanced_accuracy": round(m["macro"]["recall"], 4)}
    summary = {"held_out_test": {"n": held_out.get("n", None), "accuracy": round(held_out["accuracy"], 4),
                                 "top3": round(held_out["top3"], 4), "macro_f1": round(held_out["macro"]["f1"], 4)},
               "other_sources": other}
    (Path(cfg.out) / "default_model_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if args.ship:
        dest = ROOT / "src" / "artlens" / "assets" / "models" / DEFAULT_MODEL
        meta = bundle.meta
        save_bundle(bundle.model, dest, classes=bundle.classes, model_cfg=cfg.model, recipe=meta["recipe"],
                    metrics={**meta["metrics"], "other_sources": other}, data_fingerprint=meta["data_fingerprint"],
                    name=DEFAULT_MODEL, half=True,
                    extra={"trained_on": "shared/artdata/wikiart11 (11 WikiArt styles x 300, 80% train split)",
                           "retrain": "python scripts/train_default_model.py --ship"})
        print(f"shipped: {dest}")


if __name__ == "__main__":
    main()
