"""Corrected examples out of the operations database, as a manifest ``artlens train --data`` reads.

Feedback names the right label of an image the server answered; with ``artlens serve
--store-uploads DIR`` the image itself was kept, so the examples people corrected can go straight
into the next training run: ``artlens feedback export --db ops.db --out feedback.csv``, then
``artlens train --data feedback.csv`` (or a manifest that joins them to the original training set).

>>> from artlens.ops import ExportConfig, export_feedback
>>> n = export_feedback(ExportConfig(db="ops.db", out="feedback.csv"))   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtlensError
from .store import Store, default_database, open_store

__all__ = ["ExportConfig", "ExportResult", "export_feedback"]


@dataclass
class ExportConfig:
    """Which feedback becomes training examples, and where the manifest goes."""

    db: str = ""
    """The operations database (a SQLite path or an SQLAlchemy URL), as given to ``artlens serve --db``;
    empty: the default one ``artlens serve`` records into (:func:`~artlens.ops.store.default_database`)."""
    out: str = "feedback.csv"
    """Manifest to write: ``path,label,request_id,model,predicted`` (CSV)."""
    corrections_only: bool = False
    """Only the images whose prediction was wrong; by default confirmed predictions are examples too."""
    model: str = ""
    """Only feedback on this model id (``name@version``); empty = every model."""


@dataclass
class ExportResult:
    manifest: Path
    rows: int
    without_upload: int
    """Feedback whose image was not stored (the server ran without ``--store-uploads``) or is gone."""


def export_feedback(cfg: ExportConfig, *, store: Store | None = None) -> ExportResult:
    """Write the manifest of labelled, stored images; fails (naming why) when there is none."""
    own = store is None
    store = store or open_store(cfg.db or default_database())
    try:
        rows = store.feedback_rows(model_id=cfg.model or None)
    finally:
        if own:
            store.close()
    picked, missing = [], 0
    for r in rows:
        if cfg.corrections_only and r["correct"]:
            continue
        path = r.get("upload_path")
        if not path or not os.path.isfile(path):
            missing += 1
            continue
        picked.append(r)
    if not picked:
        why = (f"{missing} have no stored image: start the server with --store-uploads DIR to keep them"
               if missing else "there is no feedback" + (f" on {cfg.model}" if cfg.model else ""))
        raise ArtlensError(f"{cfg.db}: no examples to export ({len(rows)} feedback; {why})")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "request_id", "model", "predicted"])
        for r in picked:
            writer.writerow([str(Path(r["upload_path"]).resolve()), r["label"], r["request_id"], r["model_id"],
                             r["predicted"]])
    os.replace(tmp, out)
    return ExportResult(manifest=out, rows=len(picked), without_upload=missing)
