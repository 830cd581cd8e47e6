"""``artlens explain``: CAM overlays for images or folders, and per-class galleries of hits and misses.

The AI-ArtBench study looked at Grad-CAMs of correct and wrong predictions side by side: a model
that is right for the wrong reason (a signature, a frame, a museum label) shows it there first.
Given a labelled folder tree, :func:`run_explain` writes, per class, one gallery of correctly and
one of wrongly classified paintings with their maps, plus every overlay and a CSV of predictions.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..data.dataset import Sample, discover
from ..data.images import SkippedImage, displayed_size, iter_image_files
from ..errors import ArtlensError
from ..progress import progress_bar
from .cam import CLASS_AGNOSTIC, CamExplainer, CamResult, in_picture_shape

log = logging.getLogger(__name__)

__all__ = ["ExplainConfig", "ExplainReport", "plot_overlay_grid", "run_explain"]


@dataclass
class ExplainConfig:
    """Everything ``artlens explain`` needs; the CLI fills it from flags unchanged."""

    inputs: list[str] = field(default_factory=list)
    """Image files and/or folders."""
    out: str = "artlens-explain"
    model: str | None = None
    """Bundle folder; ``None`` = the built-in style model."""
    method: str = "gradcam"
    layer: str | None = None
    """Target layer (name, alias or module path); ``None`` = chosen per backbone."""
    target: str | None = None
    """Class to explain for every image; ``None`` = each image's predicted class."""
    galleries: bool = False
    """Treat the (single) input folder as labelled (one sub-folder per class) and draw galleries."""
    per_class: int = 8
    """Images per gallery."""
    save_overlays: bool = True
    batch_size: int = 8
    input_size: int | None = None
    tta: str | None = None
    """Test-time augmentation for the predicted class and probabilities; ``None`` = what the bundle asks for."""
    device: str = "auto"


@dataclass
class ExplainReport:
    n_explained: int
    correct: int | None
    """Correct predictions (labelled inputs only)."""
    files: dict[str, Path]
    skipped: list[SkippedImage]
    layer: str


def _samples(cfg: ExplainConfig) -> list[Sample]:
    if cfg.galleries:
        if len(cfg.inputs) != 1 or not Path(cfg.inputs[0]).is_dir():
            raise ArtlensError("--galleries needs one labelled folder (one sub-folder per class) as input")
        return discover(cfg.inputs[0])
    samples = []
    for raw in cfg.inputs:
        p = Path(raw)
        if p.is_dir():
            found = iter_image_files(p)
            if not found:
                raise ArtlensError(f"{p}: folder contains no image files")
            samples += [Sample(str(f), "") for f in found]
        elif p.is_file():
            samples.append(Sample(str(p), ""))
        else:
            raise ArtlensError(f"{p}: no such file or folder")
    if not samples:
        raise ArtlensError("no images given")
    return samples


def _overlay_name(path: str, roots: list[str]) -> str:
    base = next((os.path.relpath(path, r) for r in roots if Path(r).is_dir() and Path(path).is_relative_to(r)),
                Path(path).name)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(Path(base).with_suffix(""))) + ".png"


def _unique(name: str, used: set[str]) -> str:
    stem, suffix, k = Path(name).stem, Path(name).suffix, 2
    while name in used:
        name, k = f"{stem}_{k}{suffix}", k + 1
    used.add(name)
    return name


def run_explain(cfg: ExplainConfig, explainer: CamExplainer | None = None) -> ExplainReport:
    """Explain every input image; write overlays, ``predictions.csv`` and (labelled) galleries."""
    samples = _samples(cfg)
    explainer = explainer or CamExplainer(cfg.model, method=cfg.method, layer=cfg.layer, device=cfg.device,
                                          input_size=cfg.input_size, tta=cfg.tta)
    explainer.class_index(cfg.target)  # unknown class names fail before any work
    unknown = sorted({s.label for s in samples if s.label} - set(explainer.classes))
    if unknown:
        log.warning("folder(s) %s are not classes of the model (%s): their images can only count as wrong",
                    ", ".join(unknown), ", ".join(explainer.classes))
    if cfg.target is not None and cfg.method in CLASS_AGNOSTIC:
        log.warning("%s gives the same map whatever the class: --target changes only the probability reported",
                    cfg.method)
    out = Path(cfg.out)
    if cfg.save_overlays:
        (out / "overlays").mkdir(parents=True, exist_ok=True)
    picks: dict[tuple[str, bool], list[tuple[Image.Image, str]]] = defaultdict(list)
    skipped: list[SkippedImage] = []
    rows: list[dict[str, Any]] = []
    used: set[str] = set()  # overlay names given so far: two inputs called img.jpg get img.png and img_2.png
    with progress_bar(len(samples), f"explain ({cfg.method})", enabled=len(samples) > 1) as advance:
        for sample, result in explainer.explain_samples(samples, target=cfg.target, batch_size=cfg.batch_size,
                                                        skipped=skipped):
            row = {"path": sample.path, "explained": result.label, "prob": round(result.prob, 4),
                   "predicted": result.predicted}
            if explainer.preprocessing.resize == "squash":
                with Image.open(sample.path) as img:  # the header only: the size it is shown at
                    result.overlay = in_picture_shape(result.overlay, displayed_size(img))
            if cfg.save_overlays:
                name = _unique(_overlay_name(sample.path, cfg.inputs), used)
                result.overlay.save(out / "overlays" / name)
                row["overlay"] = f"overlays/{name}"
            if sample.label:
                correct = result.predicted == sample.label
                row.update(label=sample.label, correct=correct)
                bucket = picks[(sample.label, correct)]
                if len(bucket) < cfg.per_class:  # keep only what a gallery shows: memory stays flat
                    bucket.append((result.overlay, _caption(sample, result)))
            rows.append(row)
            advance(1)
        advance(len(skipped))
    if not rows:
        raise ArtlensError("no readable images: " + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]))
    files = {"predictions": _write_csv(rows, out / "predictions.csv")}
    correct = None
    if cfg.galleries:
        correct = sum(bool(r["correct"]) for r in rows)
        for label in sorted({s.label for s in samples}):
            for ok, word in ((True, "correct"), (False, "wrong")):
                items = picks.get((label, ok), [])
                if items:
                    files[f"{label}_{word}"] = plot_overlay_grid(
                        items, out / "galleries" / f"{_slug(label)}_{word}.png",
                        title=f"{label}: {word} predictions ({cfg.method} on {explainer.layer})")
    return ExplainReport(n_explained=len(rows), correct=correct, files=files, skipped=skipped, layer=explainer.layer)


def _caption(sample: Sample, result: CamResult) -> str:
    shown = f"{result.label} {result.prob:.2f}"
    return f"{Path(sample.path).name[:28]}\n{shown}" + ("" if result.predicted == sample.label else f" (true {sample.label})")


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_overlay_grid(items: list[tuple[Image.Image, str]], path: str | os.PathLike, *, columns: int = 4,
                      title: str = "") -> Path:
    """A grid of overlays, each ``(image, caption)``."""
    from ..viz.figures import _save, plt

    n = max(1, len(items))
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.7 * cols, 3.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (img, caption) in zip(axes.flat, items):
        ax.imshow(img)
        ax.set_title(caption, fontsize=7.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


