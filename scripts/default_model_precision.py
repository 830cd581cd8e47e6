"""What running the built-in style model in bf16 costs: the same paintings, float32 against bf16.

bf16 about doubles ``artlens predict``'s speed on a CPU with AMX (``benchmarks/default_model_predict.py``),
but it rounds the activations to 8 bits of mantissa, so some answers move. This scores the shipped
model both ways on every set scripts/train_default_model.py reports (the wikiart11 test split and each
source training never saw) and counts the paintings whose top-1 label changes. Needs only
../shared/artdata; about 4 minutes on 2 CPU cores. The result is in docs/default_model.md ("Speed:
bf16, and what else was tried").

    python scripts/default_model_precision.py [--precision bf16] [--json runs/default-style-precision.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import numpy as np
from train_default_model import build_manifest, other_source_manifests

from artlens import Predictor
from artlens.config import PRECISIONS
from artlens.data.dataset import Sample
from artlens.inference import predict_probs


def scored_sets(tmp: Path) -> dict[str, list[tuple[str, str]]]:
    """``{set: [(path, label)]}``: the test split of the recipe's manifest, then every unseen source."""
    manifest, _ = build_manifest(tmp / "manifest", painters=False)
    with manifest.open() as f:
        sets = {"wikiart test": [(r["path"], r["label"]) for r in csv.DictReader(f) if r["split"] == "test"]}
    for name, path in other_source_manifests(tmp, painters_held_out=True).items():
        with path.open() as f:
            sets[name] = [(r["path"], r["label"]) for r in csv.DictReader(f, delimiter="\t")]
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", choices=[p for p in PRECISIONS if p not in ("auto", "fp32")], default="bf16")
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args()
    exact = Predictor(device="cpu", precision="fp32")
    fast = Predictor(exact.bundle, device="cpu", precision=args.precision)
    classes = exact.classes
    rows = []
    print(f"{'set':14s} {'n':>4s}  fp32 top-1/top-3  {args.precision} top-1/top-3  top-1 changed  max |dp|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in scored_sets(Path(tmp)).items():
            samples = [Sample(path, label) for path, label in items]
            y = np.array([classes.index(label) for _, label in items])
            runs = [predict_probs(p.model, samples, p.bundle.preprocessing, classes=classes, device="cpu",
                                  tta=p.tta, precision=p.precision, show_progress=False) for p in (exact, fast)]
            a, b = runs
            assert (a.indices == b.indices).all()
            truth = y[a.indices]
            top1 = [float((r.probs.argmax(1) == truth).mean()) for r in runs]
            top3 = [float((np.argsort(-r.probs, 1)[:, :3] == truth[:, None]).any(1).mean()) for r in runs]
            row = {"set": name, "n": len(truth), "fp32": {"top1": round(top1[0], 4), "top3": round(top3[0], 4)},
                   args.precision: {"top1": round(top1[1], 4), "top3": round(top3[1], 4)},
                   "top1_changed": int((a.probs.argmax(1) != b.probs.argmax(1)).sum()),
                   "max_abs_prob_diff": round(float(np.abs(a.probs - b.probs).max()), 4)}
            rows.append(row)
            print(f"{name:14s} {len(truth):4d}  {top1[0]:.3f} / {top3[0]:.3f}     {top1[1]:.3f} / {top3[1]:.3f}"
                  f"      {row['top1_changed']:4d}         {row['max_abs_prob_diff']:.3f}", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
