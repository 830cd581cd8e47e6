"""Retrain the built-in style classifier and measure it where it matters: on other sources.

1. Build the training manifest (``<out>/manifest.csv``): ``shared/artdata/wikiart11`` split 80/10/10
   (seed 0), plus, for training only, the ``artists49`` painters that ``configs/painter_styles.yaml``
   maps to one style, minus every one of their images that near-duplicates a wikiart11 image (the
   same painting from two sources must not be seen twice, nor leak into the test split).
2. ``fit`` the recipe ``configs/default_style.yaml`` on it (every layer of EfficientNet-Lite0
   fine-tuned) into ``<out>/`` (a killed run resumes from its checkpoint; a finished one is reused).
3. Calibrate: fit the temperature on the validation split, store it with the "uncertain" threshold
   in the bundle, draw ``<out>/reliability.png``.
4. Score the model on the WikiArt test split and on each other source that training never saw, one
   by one: Art Institute of Chicago paintings (``aic``), the style-transfer reference paintings
   (``style_refs``), and the loosely labelled painters (``loose``: Matisse as Fauvism, Picasso as
   Cubism) from ``scripts/data/other_sources.tsv``. ``--holdout-source artists49`` trains without the
   painters instead (a leave-one-source-out fold) and also scores the model on them (``painters``).
5. With ``--ship``, write the model (float16) into ``src/artlens/assets/models/wikiart11-style``.

    python scripts/train_default_model.py --ship
    python scripts/train_default_model.py --holdout-source artists49 --out runs/default-style-loso
    python scripts/train_default_model.py --epochs 1 --max-per-class 4 --out /tmp/smoke   # a smoke test
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
from artlens.data.dataset import Sample, discover, stratified_split
from artlens.data.dedupe import duplicate_pairs, image_signatures
from artlens.data.painters import painter_samples, read_painter_styles
from artlens.evaluate.calibration import calibrate
from artlens.models import load_bundle, save_bundle
from artlens.models.bundle import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
PAINTER_MAP = ROOT / "configs" / "painter_styles.yaml"
#: Other-source subsets of scripts/data/other_sources.tsv that no training image comes from.
UNSEEN_SETS = {"aic": "aic", "style_refs": "style_refs", "proxy_loose": "loose"}


def build_manifest(out: Path, *, painters: bool, max_per_class: int | None = None) -> tuple[Path, dict]:
    """wikiart11 (split as ``artlens train`` splits it) plus the mapped painters (training only)."""
    wikiart = discover(ARTDATA / "wikiart11")
    if max_per_class:
        by_label = defaultdict(list)
        for s in wikiart:
            by_label[s.label].append(s)
        wikiart = [s for group in by_label.values() for s in sorted(group, key=lambda s: s.path)[:max_per_class]]
    cfg = load_config(ROOT / "configs" / "default_style.yaml")
    rows = stratified_split(wikiart, val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction,
                            seed=cfg.data.seed)
    styles = sorted({s.label for s in rows})
    mapping = read_painter_styles(PAINTER_MAP, styles=styles, painters_root=ARTDATA / "artists49")
    extra, dropped = [], []
    if painters:
        candidates = painter_samples(ARTDATA / "artists49", mapping)
        if max_per_class:
            candidates = candidates[: max_per_class * 2]
        sig_w = image_signatures([s.path for s in rows])
        sig_p = image_signatures([s.path for s in candidates])
        dup = {i for i, _j, _d in duplicate_pairs(sig_p, sig_w)}
        dropped = [candidates[i].path for i in sorted(dup)]
        extra = [Sample(s.path, s.label, "train") for i, s in enumerate(candidates) if i not in dup]
    path = out / "manifest.csv"
    out.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "source"])
        for s in rows:
            w.writerow([s.path, s.label, s.split, "wikiart11"])
        for s in extra:
            w.writerow([s.path, s.label, s.split, "artists49"])
    counts = defaultdict(lambda: defaultdict(int))
    for s in rows:
        counts["wikiart11"][s.split] += 1
    counts["artists49"]["train"] = len(extra)
    info = {"counts": {k: dict(v) for k, v in counts.items()}, "painters_dropped_as_duplicates": dropped,
            "painters": {p: m.style for p, m in mapping.items() if m.style}}
    (out / "manifest.json").write_text(json.dumps(info, indent=2))
    return path, info


def other_source_manifests(tmp: Path, *, painters_held_out: bool) -> dict[str, Path]:
    """One manifest (absolute paths) per source that training never saw."""
    rows = defaultdict(list)
    with (ROOT / "scripts" / "data" / "other_sources.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            name = UNSEEN_SETS.get(r["set"]) or ("painters" if painters_held_out and r["set"] == "proxy_core" else None)
            if name:
                rows[name].append((ARTDATA / r["path"], r["label"]))
    out = {}
    for name, items in rows.items():
        path = tmp / f"{name}.tsv"
        path.write_text("path\tlabel\n" + "".join(f"{p}\t{label}\n" for p, label in items))
        out[name] = path
    return out


def other_sources(bundle, out: Path, *, painters_held_out: bool) -> dict:
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, manifest in other_source_manifests(Path(tmp), painters_held_out=painters_held_out).items():
            report = evaluate(bundle, manifest, out / f"other_sources_{name}", split="all")
            m = report["metrics"]
            scores[name] = {"n": report["n_evaluated"], "accuracy": round(m["accuracy"], 4),
                            "top3": round(m.get("top3", float("nan")), 4),
                            "balanced_accuracy": round(m["balanced_accuracy"], 4)}
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "default_style.yaml"))
    ap.add_argument("--out", default=None, help="run folder (default: the recipe's out)")
    ap.add_argument("--holdout-source", choices=["none", "artists49"], default="none",
                    help="leave a source out of training and score the model on it")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (smoke tests)")
    ap.add_argument("--max-per-class", type=int, default=None, help="cap wikiart11 per style (smoke tests)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ship", action="store_true", help="copy the model into the package as the default")
    args = ap.parse_args()
    cfg = load_config(args.config)
    out = Path(args.out or cfg.out)
    held_out = args.holdout_source == "artists49"
    manifest, info = build_manifest(out, painters=not held_out, max_per_class=args.max_per_class)
    cfg.data.path = str(manifest)
    cfg.out = str(out)
    cfg.device = args.device
    if args.epochs:
        cfg.epochs = args.epochs
    if (out / "report.json").is_file() and (out / "model" / "artlens.json").is_file():
        bundle_path = out / "model"
    else:
        cfg.resume = (out / "checkpoint.pt").exists()
        bundle_path = fit(cfg).bundle
    report = json.loads((out / "report.json").read_text())
    val = [Sample(d["path"], d["label"]) for d in _split_rows(manifest, "val", report)]
    calibration = calibrate(bundle_path, val, device=args.device, plot=out / "reliability.png",
                            source="the validation split of wikiart11 (10 %, seed 0)")
    bundle = load_bundle(bundle_path)
    summary = {"data": info["counts"], "held_out_test": _summary(bundle.meta["metrics"]),
               "calibration": calibration.to_dict(),
               "other_sources": other_sources(bundle, out, painters_held_out=held_out)}
    (out / "default_model_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if args.ship:
        dest = ROOT / "src" / "artlens" / "assets" / "models" / DEFAULT_MODEL
        metrics = {**bundle.meta["metrics"], "other_sources": summary["other_sources"]}
        extra = {"trained_on": "11 WikiArt styles (shared/artdata/wikiart11, 80 % train split, seed 0) plus "
                               f"{info['counts']['artists49'].get('train', 0)} paintings by {len(info['painters'])} "
                               "painters of one style (Kaggle Best Artworks, configs/painter_styles.yaml)",
                 "calibration": calibration.to_dict(),
                 "retrain": "make default-model (python scripts/train_default_model.py --ship)"}
        save_bundle(bundle.model, dest, classes=bundle.classes, model_cfg=load_config(args.config).model,
                    recipe=bundle.meta["recipe"], metrics=metrics, data_fingerprint=bundle.meta["data_fingerprint"],
                    name=DEFAULT_MODEL, half=True, extra=extra)
        print(f"shipped: {dest}")


def _split_rows(manifest: Path, split: str, report: dict) -> list[dict]:
    """Rows of ``split`` in the manifest, less the images the run skipped or dropped as duplicates."""
    dropped = {d if isinstance(d, str) else d.get("path") for d in report.get("duplicates_dropped", [])}
    dropped |= {s["path"] for s in report.get("skipped", [])}
    with manifest.open() as f:
        return [r for r in csv.DictReader(f) if r["split"] == split and r["path"] not in dropped]


def _summary(metrics: dict) -> dict:
    return {"n": metrics.get("n"), "accuracy": round(metrics["accuracy"], 4), "top3": round(metrics["top3"], 4),
            "macro_f1": round(metrics["macro"]["f1"], 4)}


if __name__ == "__main__":
    main()
