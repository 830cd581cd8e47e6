"""The step the training scripts share: reuse a finished run, resume a killed one, or fit a new one.

``scripts/train_default_model.py`` and ``scripts/train_detector.py`` both fit one recipe into a run
folder and then measure the bundle. Re-running a script after it finished (to re-measure, or to
``--ship`` what was measured) must not retrain for an hour, and one killed half-way must go on from
its checkpoint rather than from epoch 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from artlens import fit
from artlens.config import TrainConfig


def reuse_or_fit(cfg: TrainConfig) -> tuple[Path, dict]:
    """The bundle of the run in ``cfg.out`` and its ``report.json``, fitting (or resuming) it if unfinished."""
    out = Path(cfg.out)
    if (out / "report.json").is_file() and (out / "model" / "artlens.json").is_file():
        bundle_path = out / "model"
    else:
        cfg.resume = (out / "checkpoint.pt").exists()
        bundle_path = fit(cfg).bundle
    return bundle_path, json.loads((out / "report.json").read_text())


def dropped_paths(report: dict) -> set[str]:
    """Images the run left out (duplicates across splits, unreadable files): never score them."""
    dropped = {d if isinstance(d, str) else d.get("path") for d in report.get("duplicates_dropped", [])}
    return dropped | {s["path"] for s in report.get("skipped", [])}
