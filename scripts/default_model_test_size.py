"""Would the built-in style model do better reading its input larger than it was trained at (FixRes)?

The detector gained from it (scripts/train_detector.py, step 3), so the same check for the style model:
the shipped weights at 224, 256 and 288 px, each scored by calibrated log-loss on the wikiart11
validation split of its run, accuracy on its test split, and accuracy on every source training never
saw (as scripts/train_default_model.py reports them). Needs the run folder of `make default-model`
(``runs/default-style-wikiart``). About 15 minutes on 2 CPU cores. The result is in
docs/default_model.md ("Reading the input larger").

    python scripts/default_model_test_size.py [--run runs/default-style-wikiart] [--sizes 224,256,288]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train_default_model import _split_rows, other_sources
from train_detector import at_size

from artlens import calibrate, evaluate
from artlens.data.dataset import Sample
from artlens.models.bundle import default_bundle_path, load_bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/default-style-wikiart")
    ap.add_argument("--sizes", default="224,256,288")
    ap.add_argument("--out", default="runs/default-style-test-size")
    args = ap.parse_args()
    run, out = Path(args.run), Path(args.out)
    manifest = run / "manifest.csv"
    report = json.loads((run / "report.json").read_text())
    val = [Sample(r["path"], r["label"]) for r in _split_rows(manifest, "val", report)]
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        fit = calibrate(at_size(load_bundle(default_bundle_path()), size), val, device="cpu", write=False,
                        show_progress=False)
        bundle = at_size(load_bundle(default_bundle_path()), size)
        test = evaluate(bundle, manifest, out / f"test_{size}", split="test")["metrics"]["accuracy"]
        others = other_sources(bundle, out / str(size), painters_held_out=True)
        results[size] = {"val_nll_calibrated": round(fit.nll_after, 4), "wikiart_test": round(test, 4),
                         **{name: s["accuracy"] for name, s in others.items()}}
        print(size, results[size], flush=True)
    (out / "test_size.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
