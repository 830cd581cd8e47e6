"""Retrain the built-in style classifier and measure it where it matters: on other sources.

1. ``fit`` the recipe in ``configs/default_style.yaml`` on ``shared/artdata/wikiart11`` (10% test
   split held out, near-duplicates of training images removed from it with ``dedupe``) once per
   backbone in ``--backbones`` (default: EfficientNet-Lite0, the shipped model), into
   ``<out>/<backbone>``;
2. with several backbones, combine them into one ensemble bundle (mean of their probabilities),
   ``<out>/model``, and score it on the same held-out test split;
3. evaluate the model (and each member) on paintings of the same styles from *other* sources,
   listed in ``scripts/data/other_sources.tsv`` (Kaggle "Best Artworks" artists with one clear
   style, Art Institute of Chicago works, style-transfer reference paintings; every image that
   near-duplicates a WikiArt training image was removed when the list was made);
4. with ``--ship``, write the model (float16) into ``src/artlens/assets/models/wikiart11-style``.

A killed run resumes: members already trained are loaded from their run folders, a member half
way through continues from its checkpoint.

    python scripts/train_default_model.py [--ship]
    python scripts/train_default_model.py --backbones efficientnet_lite0 efficientnet_lite1 efficientnet_lite2
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
from artlens.evaluate.report import evaluate_samples
from artlens.models import load_bundle, save_bundle, save_ensemble
from artlens.models.bundle import DEFAULT_MODEL
from artlens.train.loop import prepare_data

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
CLEAR_SETS = ("proxy_core", "aic", "style_refs")
BACKBONES = ("efficientnet_lite0",)  # the shipped model; add efficientnet_lite1/2 for the ensemble tried


def other_source_manifests(tmp: Path) -> dict[str, Path]:
    """Manifests with absolute paths: ``clear`` (single-style artists, AIC, references), ``loose``,
    and each clear subset on its own (``proxy_core``: Kaggle's 128 x 128 thumbnails, 872 of the 954;
    ``aic``: Art Institute of Chicago paintings up to 512 px; ``style_refs``), because one subset
    dominates the clear figure."""
    rows = defaultdict(list)
    with (ROOT / "scripts" / "data" / "other_sources.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            item = (ARTDATA / r["path"], r["label"])
            rows["clear" if r["set"] in CLEAR_SETS else "loose"].append(item)
            if r["set"] in CLEAR_SETS:
                rows[r["set"]].append(item)
    out = {}
    for name, items in rows.items():
        path = tmp / f"{name}.tsv"
        path.write_text("path\tlabel\n" + "".join(f"{p}\t{label}\n" for p, label in items))
        out[name] = path
    return out


def _summary(metrics: dict) -> dict:
    return {"n": metrics.get("n"), "accuracy": round(metrics["accuracy"], 4), "top3": round(metrics["top3"], 4),
            "macro_f1": round(metrics["macro"]["f1"], 4)}


def other_sources(bundle, out: Path) -> dict:
    """The bundle's accuracy on the clear and loose other-source sets and on each clear subset."""
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, manifest in other_source_manifests(Path(tmp)).items():
            report = evaluate(bundle, manifest, out / f"other_sources_{name}", split="all")
            m = report["metrics"]
            scores[name] = {"n": report["n_evaluated"], "accuracy": round(m["accuracy"], 4),
                            "top3": round(m.get("top3", float("nan")), 4),
                            "balanced_accuracy": round(m["balanced_accuracy"], 4)}
    return scores


def train_member(config: str, out: Path, backbone: str):
    """``fit`` the recipe with ``backbone`` into ``out/<backbone>``; a finished run is loaded, a killed one resumes."""
    cfg = load_config(config)
    cfg.data.path = str(ARTDATA / "wikiart11")
    cfg.model.backbone = backbone
    cfg.out = str(out / backbone)
    if (Path(cfg.out) / "report.json").is_file() and (Path(cfg.out) / "model" / "artlens.json").is_file():
        return load_bundle(Path(cfg.out) / "model"), cfg
    cfg.resume = (Path(cfg.out) / "checkpoint.pt").exists()
    return load_bundle(fit(cfg).bundle), cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "default_style.yaml"))
    ap.add_argument("--out", default=None, help="run folder (default: the recipe's out)")
    ap.add_argument("--backbones", nargs="+", default=list(BACKBONES),
                    help="one model per backbone; several are combined into an ensemble (mean probability)")
    ap.add_argument("--ship", action="store_true", help="copy the model into the package as the default")
    args = ap.parse_args()
    out = Path(args.out or load_config(args.config).out)
    members, per_member = [], {}
    for backbone in args.backbones:
        bundle, cfg = train_member(args.config, out, backbone)
        members.append(bundle)
        per_member[backbone] = {"held_out_test": _summary(bundle.meta["metrics"]),
                                "other_sources": other_sources(bundle, Path(cfg.out))}
    if len(members) == 1:
        bundle, held_out = members[0], members[0].meta["metrics"]
        summary = per_member[args.backbones[0]]
    else:
        bundle = load_bundle(save_ensemble(members, out / "model", name=DEFAULT_MODEL))
        collection, _ = prepare_data(cfg, show_progress=False)  # the members' own split (same data settings)
        report = evaluate_samples(bundle.model, bundle.preprocessing, bundle.classes, collection.split("test"),
                                  out / "eval", title="ensemble on the held-out test split")
        held_out = {"split": "test", "n": report["n_evaluated"],
                    **{k: report["metrics"][k] for k in ("accuracy", "top3", "top5", "macro", "weighted")}}
        summary = {"held_out_test": _summary(held_out), "other_sources": other_sources(bundle, out),
                   "members": per_member}
    (out / "default_model_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if args.ship:
        dest = ROOT / "src" / "artlens" / "assets" / "models" / DEFAULT_MODEL
        metrics = {**held_out, "other_sources": summary["other_sources"]}
        extra = {"trained_on": "shared/artdata/wikiart11 (11 WikiArt styles x 300, 80% train split, seed 0)",
                 "retrain": "python scripts/train_default_model.py --ship"}
        if len(members) == 1:
            save_bundle(bundle.model, dest, classes=bundle.classes, model_cfg=cfg.model, recipe=bundle.meta["recipe"],
                        metrics=metrics, data_fingerprint=bundle.meta["data_fingerprint"], name=DEFAULT_MODEL,
                        half=True, extra=extra)
        else:
            save_ensemble(members, dest, name=DEFAULT_MODEL, half=True, metrics=metrics, extra=extra)
        print(f"shipped: {dest}")


if __name__ == "__main__":
    main()
