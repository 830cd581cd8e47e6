"""Score several style models on the sets the built-in model is judged on, and test each pair on the
same paintings: are their differences more than luck?

The rounds in docs/default_model.md ruled on differences of one to three points on sets of 77 to 872
paintings, against each set's standard error. Two models labelling the *same* paintings share most of
their luck (the hard paintings are hard for both), so a paired test sees more than two separate
intervals do: McNemar's exact test counts only the paintings one model gets right and the other wrong
(``artlens compare``, :func:`artlens.evaluate.mcnemar_p_value`).

Sets: the WikiArt test split of the recipe (330 paintings, before the 3 that near-duplicate a training
image are dropped, as ``scripts/default_model_precision.py`` scores it), and every source training
never saw: the 13 mapped painters' thumbnails, the Art Institute paintings, the loosely labelled
painters (``scripts/data/other_sources.tsv``; the 5 style-transfer references are too few to test).

    python scripts/compare_style_models.py shipped=src/artlens/assets/models/wikiart11-style \\
        three=/tmp/three-networks lite0=/tmp/lite0 --out runs/style-paired

The first model is compared with each other one; ``<out>/<set>/compare/compare.md`` holds the tables,
``<out>/paired.json`` and the printed table every number.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from train_default_model import _write_manifest, build_manifest, other_source_manifests  # beside this script

from artlens import evaluate
from artlens.recipes import compare_runs

SETS = ("wikiart_test", "painters", "aic", "loose")


def set_manifests(tmp: Path) -> dict[str, Path]:
    """``{set: manifest}`` of the four sets, absolute paths."""
    manifest, _ = build_manifest(tmp / "recipe", painters=False)
    with manifest.open() as f:
        test = [(r["path"], r["label"]) for r in csv.DictReader(f) if r["split"] == "test"]
    others = other_source_manifests(tmp, painters_held_out=True)
    return {"wikiart_test": _write_manifest(test, tmp / "wikiart_test.tsv"),
            **{name: others[name] for name in SETS[1:]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="NAME=BUNDLE", help="two or more; the first is compared with each other")
    ap.add_argument("--out", default="runs/style-paired")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    try:
        models = dict(spec.split("=", 1) for spec in args.models)
    except ValueError:
        ap.error("give each model as NAME=BUNDLE")
    if len(models) < 2:
        ap.error("give at least two models")
    out = Path(args.out)
    summary: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, manifest in set_manifests(Path(tmp)).items():
            folders = []
            for model, bundle in models.items():
                folder = out / name / model
                if not (folder / "report.json").is_file():  # a finished evaluation is reused
                    evaluate(bundle, manifest, folder, split="all", device=args.device)
                folders.append(folder)
            result = compare_runs(folders, out / name / "compare")
            summary[name] = {"models": {r["run"]: {"n": r["test_images"], "accuracy": r["accuracy"],
                                                   "ci95": [r["accuracy_low"], r["accuracy_high"]]}
                                        for r in result.rows},
                             "paired": result.tests}
    (out / "paired.json").write_text(json.dumps(summary, indent=2))
    first = next(iter(models))
    print(f"{'set':13s} {'model':10s} {'n':>4s} {'top-1':>7s} {'95 % interval':>14s}  vs {first}")
    for name, s in summary.items():
        for model, m in s["models"].items():
            t = s["paired"].get(f"{first}_vs_{model}")
            vs = "" if t is None else (f"only {first} right {t['only_a_right']:3d}, only {model} {t['only_b_right']:3d}, "
                                       f"McNemar p = {t['p_value']:.3g}")
            print(f"{name:13s} {model:10s} {m['n']:4d} {m['accuracy']:7.3f} {m['ci95'][0]:6.3f}-{m['ci95'][1]:.3f}  {vs}")


if __name__ == "__main__":
    main()
