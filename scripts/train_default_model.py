"""Retrain the built-in style classifier and measure it where it matters: on other sources.

1. Build the training manifest (``<out>/manifest.csv``): ``shared/artdata/wikiart11`` split 80/10/10
   (seed 0). With ``--with-painters``, also, for training only, the ``artists49`` painters that
   ``configs/painter_styles.yaml`` maps to one style, minus every one of their images that
   near-duplicates a wikiart11 image (the same painting from two sources must not be seen twice, nor
   leak into the test split). The shipped model is trained without them: they are 128 px thumbnails
   of Impressionist and Baroque painters only, and a model trained with them learnt that a sharp
   painting is not Impressionism or Baroque (docs/default_model.md, "The painters' thumbnails").
2. ``fit`` the recipe ``configs/default_style.yaml`` on it (every layer fine-tuned) once per member
   (``MEMBERS``): EfficientNet-Lite0 at 224 px, Lite1 at 240 px twice (training seeds 0 and 1) and
   Lite2 at 260 px with the ``degrade`` augmentation, into ``<out>/<backbone>[-<augment>][-seed<N>]/``
   (a killed run resumes from its checkpoint; a finished one is reused), and save them as one
   ensemble bundle, ``<out>/ensemble`` (the mean of their probabilities, no test-time flip).
   ``--backbone`` trains one network alone into ``<out>``.
3. Calibrate: fit the temperature on the validation split, store it with the "uncertain" threshold
   in the bundle, draw ``<out>/reliability.png``.
4. Score the model on the WikiArt test split and on each other source that training never saw, one
   by one: Art Institute of Chicago paintings (``aic``), the style-transfer reference paintings
   (``style_refs``), and the loosely labelled painters (``loose``: Matisse as Fauvism, Picasso as
   Cubism) from ``scripts/data/other_sources.tsv``; without ``--with-painters``, also the mapped
   painters' paintings (``painters``: a source left out of training, the leave-one-source-out fold).
5. With ``--ship``, write the model (float16) into ``src/artlens/assets/models/wikiart11-style``, with
   the drift reference that ``artlens monitor`` compares served images with: the shipped networks'
   embeddings of ``drift_images`` training paintings, and the test split's class shares.
   ``--drift-reference-only`` writes that reference into the shipped model as it is, training nothing.

    python scripts/train_default_model.py --ship
    python scripts/train_default_model.py --with-painters --out runs/default-style-painters
    python scripts/train_default_model.py --backbone efficientnet_lite0 --out runs/lite0   # one network
    python scripts/train_default_model.py --backbone efficientnet_lite1 --seed 1 --out runs/lite1-seed1   # drawn again
    python scripts/train_default_model.py --epochs 1 --max-per-class 4 --out /tmp/smoke   # a smoke test
    python scripts/train_default_model.py --drift-reference-only   # the shipped model's drift reference
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from artlens import evaluate, load_config
from artlens.config import AUGMENT_PRESETS
from artlens.data.dataset import Sample, discover, stratified_split
from artlens.data.dedupe import duplicate_pairs, image_signatures
from artlens.data.painters import painter_samples, read_painter_styles
from artlens.evaluate.calibration import calibrate
from artlens.models import load_bundle, save_bundle, save_ensemble
from artlens.models.bundle import DEFAULT_MODEL
from artlens.ops import add_drift_reference

from reuse_or_fit import dropped_paths, reuse_or_fit  # beside this script

ROOT = Path(__file__).resolve().parents[1]
ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", ROOT.parent / "shared" / "artdata"))
PAINTER_MAP = ROOT / "configs" / "painter_styles.yaml"
#: Other-source subsets of scripts/data/other_sources.tsv that no training image comes from.
UNSEEN_SETS = {"aic": "aic", "style_refs": "style_refs", "proxy_loose": "loose"}
#: Where ``--ship`` writes the built-in model.
SHIPPED = ROOT / "src" / "artlens" / "assets" / "models" / DEFAULT_MODEL
#: The built-in model's members, ``BACKBONE[:AUGMENT][@SEED]``: each fine-tuned by the recipe at its own
#: input size, Lite1 a second time with another training seed, Lite2 with the ``degrade`` augmentation
#: instead of the recipe's (why these networks, and why so: docs/default_model.md, "Folded batch norms,
#: and Lite2 as a third network" and "A second training of Lite1").
MEMBERS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite1@1", "efficientnet_lite2:degrade")


def parse_member(spec: str) -> tuple[str, str | None, int | None, str]:
    """``BACKBONE[:AUGMENT][@SEED]`` -> (backbone, augmentation preset, training seed, run folder name).

    >>> parse_member("efficientnet_lite1:degrade@1")
    ('efficientnet_lite1', 'degrade', 1, 'efficientnet_lite1-degrade-seed1')
    >>> parse_member("efficientnet_lite0")
    ('efficientnet_lite0', None, None, 'efficientnet_lite0')
    """
    rest, at, seed = spec.partition("@")
    backbone, _, augment = rest.partition(":")
    if augment and augment not in AUGMENT_PRESETS:
        raise ValueError(f"{spec}: unknown augmentation preset {augment!r}; choose from {', '.join(AUGMENT_PRESETS)}")
    if at and not seed.isdigit():
        raise ValueError(f"{spec}: the training seed after @ must be a whole number, not {seed!r}")
    folder = rest.replace(":", "-") + (f"-seed{seed}" if at else "")
    return backbone, augment or None, int(seed) if at else None, folder


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


def other_source_manifests(tmp: Path, *, painters_held_out: bool, limit: int | None = None) -> dict[str, Path]:
    """One manifest (absolute paths) per source that training never saw (the first ``limit`` of each)."""
    rows = defaultdict(list)
    with (ROOT / "scripts" / "data" / "other_sources.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            name = UNSEEN_SETS.get(r["set"]) or ("painters" if painters_held_out and r["set"] == "proxy_core" else None)
            if name:
                rows[name].append((ARTDATA / r["path"], r["label"]))
    out = {}
    for name, items in rows.items():
        out[name] = _write_manifest(items[:limit] if limit else items, tmp / f"{name}.tsv")
    return out


def other_sources(bundle, out: Path, *, painters_held_out: bool, limit: int | None = None) -> dict:
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, manifest in other_source_manifests(Path(tmp), painters_held_out=painters_held_out,
                                                     limit=limit).items():
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
    ap.add_argument("--with-painters", action="store_true",
                    help="add the artists49 painters of configs/painter_styles.yaml to training (the experiment "
                         "that taught the model a resolution shortcut; not the shipped recipe)")
    ap.add_argument("--holdout-source", choices=["artists49"], default="artists49",
                    help=argparse.SUPPRESS)  # the default since the painters left training; kept for old commands
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (smoke tests)")
    ap.add_argument("--max-per-class", type=int, default=None, help="cap wikiart11 per style (smoke tests)")
    ap.add_argument("--backbone", default=None,
                    help="another backbone for the same recipe, at its own input size (an ensemble member)")
    ap.add_argument("--backbones", nargs="+", default=list(MEMBERS), metavar="BACKBONE[:AUGMENT][@SEED]",
                    help="train the recipe on each backbone, with its own augmentation preset and training seed "
                         "if given (run folders <out>/<backbone>[-<augment>][-seed<SEED>]), and make the model "
                         "the mean of their probabilities, calibrated as one (default: %(default)s)")
    ap.add_argument("--augment", choices=AUGMENT_PRESETS, default=None,
                    help="override the recipe's augmentation preset for the networks this call trains")
    ap.add_argument("--seed", type=int, default=None,
                    help="override the recipe's training seed (the split's seed stays: same validation and test)")
    ap.add_argument("--ensemble-tta", choices=("none", "flip"), default="none",
                    help="test-time augmentation of an ensemble (none: as many forward passes as one flipped network)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ship", action="store_true", help="copy the model into the package as the default")
    ap.add_argument("--drift-reference-only", action="store_true",
                    help="only (re)write the shipped model's drift reference from the recipe's training split")
    args = ap.parse_args()
    if args.drift_reference_only:
        cfg = load_config(args.config)
        with tempfile.TemporaryDirectory() as tmp:
            manifest, _ = build_manifest(Path(tmp), painters=False)
            ship_drift_reference(SHIPPED, manifest, cfg, device=args.device)
        return
    backbones = [args.backbone] if args.backbone else args.backbones
    try:  # every member checked before an hour of training starts
        specs = [parse_member(spec) for spec in backbones]
    except ValueError as e:
        ap.error(str(e))
    cfg = load_config(args.config)
    out = Path(args.out or cfg.out)
    held_out = not args.with_painters
    manifest, info = build_manifest(out, painters=not held_out, max_per_class=args.max_per_class)
    cfg.data.path = str(manifest)
    cfg.out = str(out)
    cfg.device = args.device
    if args.epochs:
        cfg.epochs = args.epochs
    if args.augment:
        cfg.data.augment = args.augment
    if args.seed is not None:
        cfg.seed = args.seed
    runs = []
    for backbone, augment, seed, folder in specs:
        member = copy.deepcopy(cfg)
        member.model.backbone = backbone
        member.data.augment = augment or cfg.data.augment
        if seed is not None:
            member.seed = seed
        member.out = str(out / folder) if len(backbones) > 1 else str(out)
        runs.append(reuse_or_fit(member))
    bundle_path, report = runs[0]
    members = [load_bundle(path) for path, _ in runs] if len(runs) > 1 else []
    if members:
        bundle_path = save_ensemble(members, out / "ensemble", name=DEFAULT_MODEL, extra={"tta": args.ensemble_tta})
    val = [Sample(d["path"], d["label"]) for d in _split_rows(manifest, "val", report)]
    calibration = calibrate(bundle_path, val, device=args.device, plot=out / "reliability.png",
                            source="the validation split of wikiart11 (10 %, seed 0)")
    bundle = load_bundle(bundle_path)
    if members:  # an ensemble was not fitted, so it has no test metrics yet: score it on the same images
        with tempfile.TemporaryDirectory() as tmp:
            test = _write_manifest([(r["path"], r["label"]) for r in _split_rows(manifest, "test", report)],
                                   Path(tmp) / "test.tsv")
            bundle.meta["metrics"] = evaluate(bundle, test, out / "eval-ensemble", split="all")["metrics"]
    summary = {"data": info["counts"], "held_out_test": _summary(bundle.meta["metrics"]),
               "calibration": calibration.to_dict(),
               "other_sources": other_sources(bundle, out, painters_held_out=held_out,
                                              limit=4 * args.max_per_class if args.max_per_class else None)}
    (out / "default_model_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if args.ship:
        dest = SHIPPED
        metrics = {**bundle.meta["metrics"], "other_sources": summary["other_sources"]}
        n_wikiart, n_painters = info["counts"]["wikiart11"]["train"], info["counts"].get("artists49", {}).get("train", 0)
        trained_on = f"{n_wikiart:,} WikiArt paintings, about {n_wikiart // 11} of each of the 11 styles"
        if n_painters:
            trained_on += f", and {n_painters:,} paintings by {len(info['painters'])} painters of one style (Kaggle)"
        if members:
            names = [backbone + (f" with augment {augment}" if augment else "")
                     + (f" (training seed {seed})" if seed is not None else "") for backbone, augment, seed, _ in specs]
            trained_on += (f"; {len(backbones)} networks ({', '.join(names)}), each fine-tuned on them by the "
                           f"same recipe, their probabilities averaged")
        extra = {"trained_on": trained_on,
                 "calibration": calibration.to_dict(),
                 "retrain": "make default-model (python scripts/train_default_model.py --ship)"}
        if members:
            save_ensemble(members, dest, name=DEFAULT_MODEL, metrics=metrics, half=True,
                          extra={**extra, "tta": args.ensemble_tta})
        else:
            save_bundle(bundle.model, dest, classes=bundle.classes, model_cfg=load_config(args.config).model,
                        recipe=bundle.meta["recipe"], metrics=metrics, data_fingerprint=bundle.meta["data_fingerprint"],
                        name=DEFAULT_MODEL, half=True, extra=extra)
        ship_drift_reference(dest, manifest, cfg, device=args.device)
        print(f"shipped: {dest}")


def ship_drift_reference(bundle_path: Path, manifest: Path, cfg, *, device: str) -> None:
    """The drift reference of the model as it ships (its float16 weights, run as the web service runs
    them): ``cfg.drift_images`` training images of ``manifest`` (chosen with the recipe's seed), and the
    class shares of its test split, as ``artlens train`` stores for one network."""
    reference = add_drift_reference(bundle_path, manifest, limit=cfg.drift_images, seed=cfg.seed, device=device)
    print(f"{bundle_path}: drift reference of {reference['n']} training images ({reference['dims']} dimensions)")


def _split_rows(manifest: Path, split: str, report: dict) -> list[dict]:
    """Rows of ``split`` in the manifest, less the images the run skipped or dropped as duplicates."""
    dropped = dropped_paths(report)
    with manifest.open() as f:
        return [r for r in csv.DictReader(f) if r["split"] == split and r["path"] not in dropped]


def _write_manifest(items: list[tuple], path: Path) -> Path:
    """A ``path<TAB>label`` manifest of ``items`` that ``evaluate`` reads."""
    path.write_text("path\tlabel\n" + "".join(f"{p}\t{label}\n" for p, label in items))
    return path


def _summary(metrics: dict) -> dict:
    return {"n": metrics.get("n"), "accuracy": round(metrics["accuracy"], 4), "top3": round(metrics["top3"], 4),
            "macro_f1": round(metrics["macro"]["f1"], 4)}


if __name__ == "__main__":
    main()
