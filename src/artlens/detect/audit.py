"""The shortcut audit: can a detector's label be read off the file before any deep model looks at it?

Detectors built on AI-ArtBench claim about 99 %, yet there the Standard Diffusion images are 768 px
and the human ones 256 px: image size alone tells much of the answer. :func:`run_audit` measures
this for any labelled collection. For each metadata feature (:mod:`.metadata`: width, height,
aspect, file size, bytes per pixel, estimated JPEG quality, JPEG tables, format, colour mode, EXIF,
software tag, text chunks) a depth-3 decision tree on that feature alone is scored by
cross-validated balanced accuracy, and so is a random forest on all of them. A feature that
predicts the label far above chance (``flag_margin``, default 0.2 over chance) is flagged: a model
trained on those files can reach that score without looking at the picture.

``normalise`` audits the images as they would be after :mod:`.interventions`' ``normalise`` (one
size, grayscale, one JPEG quality, no metadata): the flags that disappear are shortcuts that
normalising the data removes; those that stay (file size reflects content too) need another fix.

With ``model``, the counterfactual test (:mod:`.counterfactual`) re-scores a trained bundle on the
same images after each intervention.

>>> report = run_audit(AuditConfig(data="ai-artbench/", dataset="ai-artbench", out="audit"))  # doctest: +SKIP
>>> report.flagged                                                                              # doctest: +SKIP
['width', 'height', 'file_size', 'all metadata']
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DataConfig, check_choice
from ..data.dataset import Sample, load_collection
from ..data.images import SkippedImage, UnreadableImage
from ..errors import ArtlensError
from ..outputs import output_dir
from ..progress import progress_bar
from .counterfactual import DEFAULT_INTERVENTIONS, counterfactual_test
from .interventions import INTERVENTIONS, Intervention, apply_intervention
from .metadata import CATEGORICAL, FEATURES, NUMERIC, image_metadata
from .origin import LABEL_MODES, relabel

log = logging.getLogger(__name__)

__all__ = ["AuditConfig", "AuditReport", "feature_scores", "run_audit"]

SPLIT_CHOICES = ("auto", "all", "train", "val", "test")


@dataclass
class AuditConfig:
    """Everything ``artlens audit`` needs; the CLI fills it from flags unchanged."""

    data: str = ""
    """A labelled image folder, a manifest, or the root of a published dataset named by ``dataset``."""
    dataset: str = "auto"
    """``auto`` (folder tree or manifest) or a published layout (``ai-artbench``, ...)."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that dataset adapter, e.g. ``{"label": "generator_style"}`` for ``ai-artbench``."""
    label_mode: str = field(default="origin", metadata={"choices": LABEL_MODES})
    """``origin``: audit ai vs human (labels such as ai_sd15_x, AI_LD_x, human_x are reduced to their
    origin); ``label``: audit the labels as they are."""
    out: str = "artlens-audit"
    """Folder for audit.json/.md, metadata.csv and the figures."""
    normalise: bool = False
    """Audit the images after normalisation (one size, grayscale, one JPEG quality, no metadata), in memory."""
    size: int = 256
    """Side in pixels of the one size of ``normalise`` and the ``resize`` intervention."""
    quality: int = 90
    """JPEG quality of ``normalise`` and the ``jpeg`` intervention."""
    folds: int = 5
    """Cross-validation folds (fewer when a label has fewer images)."""
    flag_margin: float = 0.2
    """A feature is flagged when its balanced accuracy exceeds chance by at least this much."""
    max_per_label: int | None = None
    """Audit at most this many images per label (drawn with seed 0); unset = all."""
    model: str = ""
    """A trained bundle: also run the counterfactual test on it (its score after each intervention)."""
    interventions: list[str] = field(default_factory=lambda: list(DEFAULT_INTERVENTIONS))
    """Interventions of the counterfactual test: resize, jpeg, grayscale, strip-exif, normalise."""
    split: str = field(default="auto", metadata={"choices": SPLIT_CHOICES})
    """Images the audit reads: ``auto`` = the test split when the data has one, else all."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1"""
    batch_size: int = 32
    """Images per forward pass of the counterfactual test."""

    def __post_init__(self) -> None:
        for key, allowed in (("label_mode", LABEL_MODES), ("split", SPLIT_CHOICES)):
            check_choice("audit", key, getattr(self, key), allowed)
        if self.folds < 2:
            raise ArtlensError(f"audit.folds: {self.folds} must be >= 2")
        if not 0.0 < self.flag_margin < 1.0:
            raise ArtlensError(f"audit.flag_margin: {self.flag_margin} must be in (0, 1)")
        if self.size < 16:
            raise ArtlensError(f"audit.size: {self.size} must be >= 16")
        if not 1 <= self.quality <= 100:
            raise ArtlensError(f"audit.quality: {self.quality} must be in 1..100")
        if self.max_per_label is not None and self.max_per_label < 2:
            raise ArtlensError(f"audit.max_per_label: {self.max_per_label} must be >= 2 (or unset)")
        for name in self.interventions:
            if name not in INTERVENTIONS:
                raise ArtlensError(f"audit.interventions: {INTERVENTIONS.unknown_message(name)}")


@dataclass
class AuditReport:
    """What :func:`run_audit` found (``audit.json`` holds the same)."""

    rows: list[dict[str, Any]]
    """One per feature (and ``all metadata``): feature, kind, balanced_accuracy, chance, flagged, values."""
    flagged: list[str]
    labels: dict[str, int]
    """Images per label as audited."""
    normalised: bool
    counterfactual: list[dict[str, Any]] | None = None
    skipped: list[SkippedImage] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "normalised": self.normalised, "flagged": self.flagged, "features": self.rows,
                "counterfactual": self.counterfactual, "files": self.files,
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}


def feature_scores(table: list[dict[str, Any]], labels: list[str], *, folds: int = 5,
                   flag_margin: float = 0.2, seed: int = 0) -> list[dict[str, Any]]:
    """Cross-validated balanced accuracy of each metadata feature alone, and of all together.

    Numbers go to a depth-3 decision tree, categories (one-hot) to the same tree, which then learns
    the majority label of each value; ``all metadata`` is a random forest on every feature.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    y = np.asarray(labels)
    counts = Counter(labels)
    if len(counts) < 2:
        raise ArtlensError(f"the audit needs at least two labels; found only {next(iter(counts))!r}")
    smallest = min(counts.values())
    if smallest < 2:
        rare = [k for k, v in counts.items() if v < 2]
        raise ArtlensError(f"the audit needs at least 2 images per label (cross-validation); {rare[0]!r} has {smallest}")
    cv = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    chance = 1.0 / len(counts)

    def score(columns: list[str], model) -> float:
        numeric = [c for c in columns if c in NUMERIC]
        categorical = [c for c in columns if c in CATEGORICAL]
        x = np.array([[row[c] for c in columns] for row in table], dtype=object)
        parts = []
        if numeric:
            parts.append(("num", "passthrough", [columns.index(c) for c in numeric]))
        if categorical:
            parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), [columns.index(c) for c in categorical]))
        pipe = make_pipeline(ColumnTransformer(parts), model)
        pred = cross_val_predict(pipe, x, y, cv=cv)
        return float(balanced_accuracy_score(y, pred))

    rows = []
    for name in FEATURES:
        values = {str(row[name]) for row in table}
        bal = chance if len(values) == 1 else score([name], DecisionTreeClassifier(max_depth=3, random_state=seed))
        rows.append({"feature": name, "kind": "number" if name in NUMERIC else "category",
                     "balanced_accuracy": round(bal, 4), "chance": round(chance, 4),
                     "flagged": bal >= chance + flag_margin, "values": len(values),
                     "example": sorted(values)[:3]})
    bal = score(list(FEATURES), RandomForestClassifier(n_estimators=100, max_depth=6, random_state=seed))
    rows.append({"feature": "all metadata", "kind": "all", "balanced_accuracy": round(bal, 4),
                 "chance": round(chance, 4), "flagged": bal >= chance + flag_margin, "values": None, "example": []})
    return rows


def _samples(cfg: AuditConfig) -> list[Sample]:
    collection = load_collection(DataConfig(path=cfg.data, dataset=cfg.dataset, dataset_options=cfg.dataset_options),
                                 split=False)
    samples = collection.samples
    split = cfg.split
    if split == "auto":
        split = "test" if any(s.split == "test" for s in samples) else "all"
    if split != "all":
        samples = [s for s in samples if s.split == split]
        if not samples:
            raise ArtlensError(f"{cfg.data}: no images in split {split!r}")
    labels = relabel([s.label for s in samples], cfg.label_mode, where=cfg.data)
    samples = [Sample(s.path, label, s.split) for s, label in zip(samples, labels)]
    if cfg.max_per_label:
        by_label: dict[str, list[Sample]] = defaultdict(list)
        for s in sorted(samples, key=lambda s: s.path):
            by_label[s.label].append(s)
        samples = []
        for label in sorted(by_label):
            group = by_label[label]
            random.Random(f"0:{label}").shuffle(group)
            samples += group[: cfg.max_per_label]
    return samples


def run_audit(cfg: AuditConfig, *, show_progress: bool = True) -> AuditReport:
    """Read every image's metadata, score each feature, flag shortcuts, write the report and figure;
    with ``cfg.model``, run the counterfactual test on that bundle too."""
    if not cfg.data:
        raise ArtlensError("audit: --data is required")
    out = output_dir(cfg.out)
    samples = _samples(cfg)
    how = Intervention(size=cfg.size, quality=cfg.quality)
    table, kept, skipped = [], [], []
    with progress_bar(len(samples), "metadata", enabled=show_progress) as advance:
        for s in samples:
            try:
                if cfg.normalise:
                    row = image_metadata(apply_intervention("normalise", Path(s.path).read_bytes(), how))
                else:
                    row = image_metadata(s.path)
            except UnreadableImage as err:
                skipped.append(SkippedImage(s.path, err.reason))
            except (OSError, ValueError, SyntaxError) as err:
                skipped.append(SkippedImage(s.path, f"unreadable ({err})"))
            else:
                table.append(row)
                kept.append(s)
            advance(1)
    if not table:
        raise ArtlensError(f"{cfg.data}: none of the {len(samples)} images is readable")
    rows = feature_scores(table, [s.label for s in kept], folds=cfg.folds, flag_margin=cfg.flag_margin)
    flagged = [r["feature"] for r in rows if r["flagged"]]
    for name in flagged:
        log.warning("SHORTCUT: %s alone predicts the %s label with balanced accuracy %.2f (chance %.2f)",
                    name, cfg.label_mode, next(r for r in rows if r["feature"] == name)["balanced_accuracy"],
                    rows[0]["chance"])
    files = {"metadata": str(out / "metadata.csv"), "json": str(out / "audit.json"), "md": str(out / "audit.md"),
             "figure": str(out / "shortcut_audit.png")}
    with (out / "metadata.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", *FEATURES])
        w.writeheader()
        for s, row in zip(kept, table):
            w.writerow({"path": s.path, "label": s.label, **row})
    from ..viz.audit_figures import plot_feature_audit, plot_interventions

    state = "after normalisation" if cfg.normalise else "as stored"
    plot_feature_audit(rows, files["figure"], title=f"Can the file alone tell {cfg.label_mode}? "
                                                    f"({len(kept)} images, {state})")
    counterfactual = None
    if cfg.model:
        counterfactual = counterfactual_test(cfg.model, kept, cfg.interventions, how=how, device=cfg.device,
                                             batch_size=cfg.batch_size, show_progress=show_progress, skipped=skipped)
        files["counterfactual"] = str(out / "counterfactual.png")
        plot_interventions(counterfactual, files["counterfactual"], metric="balanced_accuracy",
                           title=f"{Path(cfg.model).name}: score after removing each suspected shortcut")
    labels = dict(sorted(Counter(s.label for s in kept).items()))
    report = AuditReport(rows=rows, flagged=flagged, labels=labels, normalised=cfg.normalise,
                         counterfactual=counterfactual, skipped=skipped, files=files)
    (out / "audit.json").write_text(json.dumps(report.to_dict(), indent=2))
    (out / "audit.md").write_text(_markdown(report, cfg))
    return report


def _markdown(report: AuditReport, cfg: AuditConfig) -> str:
    lines = [f"# Shortcut audit of {cfg.data} ({cfg.label_mode} labels{', normalised' if report.normalised else ''})", ""]
    lines.append("Images per label: " + ", ".join(f"{k} {v}" for k, v in report.labels.items()) + ".")
    lines.append("")
    if report.flagged:
        lines += [f"**WARNING: {len(report.flagged)} shortcut(s) found: {', '.join(report.flagged)}.** A model trained "
                  "on these files can score that well without looking at the pictures; normalise them "
                  "(one size, one format and quality, no metadata) or check the model with the counterfactual test.", ""]
    else:
        lines += ["No metadata feature predicts the label far above chance.", ""]
    lines += ["| feature | balanced accuracy | chance | distinct values | flagged |", "|---|---|---|---|---|"]
    for r in report.rows:
        lines.append(f"| {r['feature']} | {r['balanced_accuracy']:.3f} | {r['chance']:.3f} | {r['values'] or ''} | "
                     f"{'**SHORTCUT**' if r['flagged'] else ''} |")
    if report.counterfactual:
        lines += ["", f"## Counterfactual test of {cfg.model}", "",
                  "| images | balanced accuracy | AI recall | human recall | drop |", "|---|---|---|---|---|"]
        for r in report.counterfactual:
            lines.append(f"| {r['intervention']} | {r['balanced_accuracy']:.3f} | {r.get('ai_recall', '')} | "
                         f"{r.get('human_recall', '')} | {r['drop']:+.3f} |")
    return "\n".join(lines) + "\n"
