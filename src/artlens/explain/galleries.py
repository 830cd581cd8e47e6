"""``artlens explain``: CAM overlays for images or folders, and per-class galleries of hits and misses.

The AI-ArtBench study looked at Grad-CAMs of correct and wrong predictions side by side: a model
that is right for the wrong reason (a signature, a frame, a museum label) shows it there first.
Given a labelled folder tree, :func:`run_explain` writes, per class, one gallery of correctly and
one of wrongly classified paintings with their maps, plus every overlay and a CSV of predictions.
"""

from __future__ import annotations

import csv
import heapq
import logging
import os
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.dataset import Sample, discover
from ..data.images import SkippedImage, UnreadableImage, iter_image_files, load_image
from ..data.metadata import artwork_caption
from ..errors import ArtlensError
from ..outputs import output_dir
from ..progress import progress_bar
from ..viz.overlays import plot_cam_panel
from .cam import CLASS_AGNOSTIC, CamExplainer, CamResult

log = logging.getLogger(__name__)

PICKS = ("confident", "random")
"""How a gallery chooses its images (``ExplainConfig.pick``)."""

__all__ = ["PICKS", "ExplainConfig", "ExplainReport", "plot_overlay_grid", "run_explain"]


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
    pick: str = "confident"
    """Which images a gallery shows: ``confident`` (the highest probabilities) or ``random`` (seeded)."""
    seed: int = 0
    """Seed of ``pick="random"``."""
    panels: bool = True
    """Also write ``panels/<name>.png``: painting and map side by side under a caption."""
    save_overlays: bool = True
    batch_size: int = 8
    input_size: int | None = None
    tta: str | None = None
    """Test-time augmentation for the predicted class and probabilities; ``None`` = what the bundle asks for."""
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.pick not in PICKS:
            raise ArtlensError(f"--pick: {self.pick!r} is not one of {', '.join(PICKS)}")
        if self.per_class < 1:
            raise ArtlensError(f"--per-class must be >= 1, got {self.per_class}")


@dataclass
class ExplainReport:
    n_explained: int
    correct: int | None
    """Correct predictions (labelled inputs only)."""
    files: dict[str, Path]
    skipped: list[SkippedImage]
    layer: str
    galleries: dict[str, list[str]] = field(default_factory=dict)
    """``{"<class>_correct" | "<class>_wrong": [paths shown, in gallery order]}``."""


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


class _Picks:
    """The images one gallery will show, chosen as they stream by in bounded memory.

    ``confident``: the ``n`` with the highest probability (a min-heap); ``random``: a seeded uniform
    sample of ``n`` (reservoir sampling, Vitter's algorithm R), so a gallery is not the first files of
    the alphabet (painters whose names start with A and B).
    """

    def __init__(self, n: int, pick: str, rng: random.Random) -> None:
        self.n, self.pick, self.rng, self.seen = n, pick, rng, 0
        self.items: list[tuple[float, int, Any]] = []

    def offer(self, score: float, item: Any) -> None:
        self.seen += 1
        entry = (score, self.seen, item)
        if len(self.items) < self.n:
            heapq.heappush(self.items, entry) if self.pick == "confident" else self.items.append(entry)
        elif self.pick == "confident":
            heapq.heappushpop(self.items, entry)
        else:
            k = self.rng.randrange(self.seen)
            if k < self.n:
                self.items[k] = entry

    def chosen(self) -> list[Any]:
        """Most confident first (``confident``), or in the order the files came (``random``)."""
        key = (lambda e: (-e[0], e[1])) if self.pick == "confident" else (lambda e: e[1])
        return [e[2] for e in sorted(self.items, key=key)]


def run_explain(cfg: ExplainConfig, explainer: CamExplainer | None = None) -> ExplainReport:
    """Explain every input image; write overlays, captioned panels, ``predictions.csv`` and (labelled) galleries.

    ``overlays/<name>.png`` is the map over the painting at the painting's own size;
    ``panels/<name>.png`` shows painting and map side by side under a caption (class, probability,
    true label when known, method, layer).
    """
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
    out = output_dir(cfg.out)
    for sub, wanted in (("overlays", cfg.save_overlays), ("panels", cfg.panels)):
        if wanted:
            (out / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(cfg.seed)
    picks: dict[tuple[str, bool], _Picks] = defaultdict(lambda: _Picks(cfg.per_class, cfg.pick, rng))
    skipped: list[SkippedImage] = []
    rows: list[dict[str, Any]] = []
    used: set[str] = set()  # overlay names given so far: two inputs called img.jpg get img.png and img_2.png
    with progress_bar(len(samples), f"explain ({cfg.method})", enabled=len(samples) > 1) as advance:
        for sample, result in explainer.explain_samples(samples, target=cfg.target, batch_size=cfg.batch_size,
                                                        skipped=skipped):
            row = {"path": sample.path, "explained": result.label, "prob": round(result.prob, 4),
                   "predicted": result.predicted}
            if cfg.save_overlays or cfg.panels:
                name = _unique(_overlay_name(sample.path, cfg.inputs), used)
                picture = load_image(sample.path)  # full resolution: the map goes on the painting, not the 224 px input
                overlay = explainer.on_picture(picture, result)
                if cfg.save_overlays:
                    overlay.save(out / "overlays" / name)
                    row["overlay"] = f"overlays/{name}"
                if cfg.panels:
                    caption = f"{artwork_caption(sample.path, width=60)}\n" + explainer.caption(
                        result, true_label=sample.label or None)
                    plot_cam_panel(picture, overlay, out / "panels" / name, caption=caption)
                    row["panel"] = f"panels/{name}"
                del picture, overlay
            if sample.label:
                correct = result.predicted == sample.label
                row.update(label=sample.label, correct=correct)
                # Only what a gallery shows is kept (the small map, not an image): memory stays flat.
                picks[(sample.label, correct)].offer(result.prob, (sample, result.heatmap.astype(np.float16),
                                                                   result.label, result.prob, result.predicted))
            rows.append(row)
            advance(1)
        advance(len(skipped))
    if not rows:
        raise ArtlensError("no readable images: " + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]))
    files = {"predictions": _write_csv(rows, out / "predictions.csv")}
    correct = None
    shown: dict[str, list[str]] = {}
    if cfg.galleries:
        correct = sum(bool(r["correct"]) for r in rows)
        how = "most confident" if cfg.pick == "confident" else f"random, seed {cfg.seed}"
        for label in sorted({s.label for s in samples}):
            for ok, word in ((True, "correct"), (False, "wrong")):
                chosen = picks[(label, ok)].chosen() if (label, ok) in picks else []
                if chosen:
                    shown[f"{label}_{word}"] = [item[0].path for item in chosen]
                    total = picks[(label, ok)].seen
                    files[f"{label}_{word}"] = plot_overlay_grid(
                        [_gallery_tile(explainer, *item) for item in chosen],
                        out / "galleries" / f"{_slug(label)}_{word}.png",
                        title=f"{label}: {len(chosen)} of {total} {word} predictions ({how}); "
                              f"{cfg.method} on {explainer.layer}")
    return ExplainReport(n_explained=len(rows), correct=correct, files=files, skipped=skipped, layer=explainer.layer,
                         galleries=shown)


def _gallery_tile(explainer: CamExplainer, sample: Sample, heatmap: np.ndarray, label: str, prob: float,
                  predicted: str) -> tuple[Image.Image, str]:
    result = CamResult(label=label, prob=prob, class_index=-1, heatmap=heatmap.astype(np.float32),
                       overlay=None, predicted=predicted, path=sample.path)  # type: ignore[arg-type]
    try:
        picture = load_image(sample.path, draft_size=512)
    except UnreadableImage:  # removed or changed since it was explained: a grey tile, not a crash
        picture = Image.new("RGB", (64, 64), "grey")
    picture.thumbnail((512, 512))
    return explainer.on_picture(picture, result), _caption(sample, result)


def _caption(sample: Sample, result: CamResult) -> str:
    shown = f"{result.label} {result.prob:.2f}"
    return f"{artwork_caption(sample.path)}\n{shown}" + ("" if result.predicted == sample.label else f" (true {sample.label})")


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


