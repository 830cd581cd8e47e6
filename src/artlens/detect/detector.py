"""Human or AI? A two-class origin bundle read as a detector: the probability of AI and a verdict.

Any bundle whose classes are one AI and one human class (``ai``/``human``, or AI-ArtBench's
``AI``/``human`` with ``label: origin``) is a detector. The verdict is ``p_ai >= threshold``; the
threshold is the one :func:`choose_threshold` picked on validation images for balanced accuracy
and stored under ``detector`` in the bundle's ``artlens.json`` (0.5 when a bundle has none). A
detector is only as good as what it was trained on, so the bundle also says what that was and what
it is not valid for, and every report repeats it.

>>> from artlens.detect import DetectConfig, detect
>>> report = detect(DetectConfig(inputs=["painting.jpg"]))           # the built-in detector  # doctest: +SKIP
>>> report.detections[0].to_dict()                                    # doctest: +SKIP
{'path': 'painting.jpg', 'verdict': 'ai', 'p_ai': 0.93}
>>> choose_threshold([0.9, 0.8, 0.7, 0.3], [True, True, False, False]).threshold
0.75
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.images import SkippedImage, load_image
from ..errors import ArtlensError
from ..models.bundle import META_FILE, Bundle, load_bundle, read_bundle_meta
from ..outputs import output_dir
from ..predict import Predictor, expand_inputs
from .origin import origin_classes

__all__ = ["DEFAULT_DETECTOR", "DetectConfig", "DetectReport", "Detection", "Detector", "ThresholdChoice",
           "choose_threshold", "default_detector_path", "detect", "score_origins", "write_detector_meta"]

#: The detector shipped inside the package (``src/artlens/assets/models/``).
DEFAULT_DETECTOR = "cezanne-ai-detector"


def default_detector_path() -> Path:
    """The built-in Human-or-AI detector (``scripts/train_detector.py --ship`` makes it)."""
    return Path(str(resources.files("artlens") / "assets" / "models" / DEFAULT_DETECTOR))


@dataclass
class ThresholdChoice:
    """The probability of AI from which a detector says "ai", and how it scored where it was chosen."""

    threshold: float
    balanced_accuracy: float
    ai_recall: float
    human_recall: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_threshold(p_ai: Sequence[float] | np.ndarray, is_ai: Sequence[bool] | np.ndarray) -> ThresholdChoice:
    """The threshold on ``p_ai`` with the best balanced accuracy on labelled (validation) images.

    Candidates are the midpoints between consecutive distinct scores, so the threshold falls in a
    gap rather than on an image; ties go to the one nearest 0.5 (the least surprising). Balanced
    accuracy, the mean of AI and human recall, weighs both errors alike whatever the class sizes:
    calling a Cezanne AI is as bad as missing a generated image.
    """
    p = np.asarray(p_ai, dtype=np.float64)
    y = np.asarray(is_ai, dtype=bool)
    if len(p) != len(y) or len(p) == 0:
        raise ArtlensError(f"choose_threshold needs as many labels as scores (got {len(p)} and {len(y)})")
    if y.all() or (~y).all():
        raise ArtlensError("choose_threshold needs validation images of both origins (AI and human)")
    values = np.unique(p)
    candidates = np.concatenate([[0.5], (values[:-1] + values[1:]) / 2, [values[0] - 1e-6, values[-1] + 1e-6]])
    best: tuple[float, float, float, float] | None = None
    for t in candidates:
        ai_recall = float((p[y] >= t).mean())
        human_recall = float((p[~y] < t).mean())
        bal = (ai_recall + human_recall) / 2
        key = (round(bal, 9), -abs(t - 0.5))
        if best is None or key > (round(best[0], 9), -abs(best[1] - 0.5)):
            best = (bal, float(t), ai_recall, human_recall)
    assert best is not None
    bal, t, ai_recall, human_recall = best
    return ThresholdChoice(threshold=round(min(max(t, 0.0), 1.0), 4), balanced_accuracy=round(bal, 4),
                           ai_recall=round(ai_recall, 4), human_recall=round(human_recall, 4), n=int(len(p)))


def score_origins(p_ai: Sequence[float] | np.ndarray, is_ai: Sequence[bool] | np.ndarray,
                  threshold: float) -> dict[str, Any]:
    """Balanced accuracy, AI recall and human recall of ``p_ai >= threshold`` (a recall is ``None`` when
    no image of that origin is there: a batch of generated images alone has no human recall).

    >>> score_origins([0.9, 0.6, 0.3, 0.1], [True, False, False, False], 0.5)
    {'n': 4, 'n_ai': 1, 'n_human': 3, 'ai_recall': 1.0, 'human_recall': 0.6667, 'balanced_accuracy': 0.8333}
    """
    p = np.asarray(p_ai, dtype=np.float64)
    y = np.asarray(is_ai, dtype=bool)
    ai = float((p[y] >= threshold).mean()) if y.any() else None
    human = float((p[~y] < threshold).mean()) if (~y).any() else None
    both = [r for r in (ai, human) if r is not None]
    return {"n": int(len(p)), "n_ai": int(y.sum()), "n_human": int((~y).sum()),
            "ai_recall": None if ai is None else round(ai, 4), "human_recall": None if human is None else round(human, 4),
            "balanced_accuracy": round(sum(both) / len(both), 4) if both else None}


def write_detector_meta(bundle: str | os.PathLike, info: dict[str, Any]) -> dict[str, Any]:
    """Store ``info`` (threshold, what it was trained on, what it is not valid for) under ``detector``
    in a bundle's ``artlens.json``, replacing the file atomically; returns the new metadata."""
    path = Path(bundle)
    meta = read_bundle_meta(path)
    if origin_classes(meta.get("classes") or []) is None:
        raise ArtlensError(f"{path}: classes {meta.get('classes')} are not one AI and one human class")
    meta["detector"] = {**(meta.get("detector") or {}), **info}
    tmp = path / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path / META_FILE)
    return meta


@dataclass
class Detection:
    """One image's answer."""

    path: str
    verdict: str
    """``ai`` or ``human``."""
    p_ai: float
    """Probability that the image is AI-generated (calibrated when the bundle was)."""
    cam: str = ""
    """The CAM written for it (``--explain``), else empty."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "verdict": self.verdict, "p_ai": self.p_ai}
        if self.cam:
            d["cam"] = self.cam
        return d


class Detector:
    """A detector bundle, loaded once: :meth:`__call__` for files, :meth:`judge` for probabilities the
    web service computed through :attr:`predictor`'s batch path (the same views, the same numbers)."""

    def __init__(self, model: str | os.PathLike | Bundle | None = None, *, device: str = "auto",
                 threshold: float | None = None) -> None:
        bundle = model if isinstance(model, Bundle) else load_bundle(model if model is not None
                                                                     else default_detector_path())
        found = origin_classes(bundle.classes)
        if found is None:
            raise ArtlensError(f"{bundle.path or bundle.name}: not a detector: its classes are "
                               f"{', '.join(bundle.classes[:6])}; a detector is trained with an origin label "
                               "(one ai and one human class)")
        self.bundle = bundle
        self.ai_index = found["ai"]
        self.info: dict[str, Any] = dict(bundle.meta.get("detector") or {})
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ArtlensError(f"threshold: {threshold} must be in [0, 1]")
        self.threshold = float(threshold if threshold is not None else self.info.get("threshold", 0.5))
        self.predictor = Predictor(bundle, device=device)

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def notes(self) -> list[str]:
        """What the bundle says about its input and its limits, for every report to repeat."""
        notes = []
        if self.bundle.preprocessing.grayscale:
            notes.append("works on grayscale: every image is converted to grayscale first")
        for key in ("trained_on", "not_valid_for"):
            if self.info.get(key):
                notes.append(f"{key.replace('_', ' ')}: {self.info[key]}")
        return notes

    def judge(self, probs: np.ndarray) -> dict[str, Any]:
        """One image's class probabilities -> ``{"verdict", "p_ai"}``."""
        p_ai = round(float(probs[self.ai_index]), 4)
        return {"verdict": "ai" if p_ai >= self.threshold else "human", "p_ai": p_ai}

    def p_ai_of(self, images: Sequence[Image.Image]) -> np.ndarray:
        """The probability of AI of images in memory (upright RGB), as one batch."""
        if not images:
            return np.zeros(0)
        return self.predictor.probs([self.predictor.views(img) for img in images])[:, self.ai_index]

    def __call__(self, inputs: str | os.PathLike | Sequence[str | os.PathLike], *, batch_size: int = 32,
                 show_progress: bool = False) -> tuple[list[Detection], list[SkippedImage]]:
        """Detections for files and folders (unreadable files are listed in the second value)."""
        ranked, skipped = self.predictor(inputs, top_k=2, batch_size=batch_size, show_progress=show_progress)
        out = []
        for r in ranked:
            probs = np.zeros(len(self.bundle.classes))
            for pred in r["predictions"]:
                probs[self.bundle.classes.index(pred["label"])] = pred["prob"]
            out.append(Detection(path=r["path"], **self.judge(probs)))
        return out, skipped


@dataclass
class DetectConfig:
    """Which images to judge, with which detector."""

    inputs: list[str] = field(default_factory=list)
    """Image files or folders (searched recursively)."""
    model: str = ""
    """A bundle trained with an origin label (one ai and one human class); empty = the built-in detector."""
    threshold: float | None = None
    """Probability of AI from which the verdict is ``ai``; unset = the one stored in the bundle."""
    explain: str = ""
    """Folder to write one CAM per image into (``<name>.cam.png``: where the model sees AI); empty = none."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1"""
    batch_size: int = 32
    """Images per forward pass."""

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ArtlensError(f"threshold: {self.threshold} must be in [0, 1]")
        if self.batch_size < 1:
            raise ArtlensError(f"batch_size: {self.batch_size} must be >= 1")


@dataclass
class DetectReport:
    """What :func:`detect` found, and which detector said so."""

    detections: list[Detection]
    skipped: list[SkippedImage]
    model: str
    threshold: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "threshold": self.threshold, "notes": self.notes,
                "detections": [d.to_dict() for d in self.detections],
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}


def detect(cfg: DetectConfig, *, show_progress: bool = False) -> DetectReport:
    """Judge every image in ``cfg.inputs``: a verdict (``ai``/``human``) and the probability of AI.

    With ``cfg.explain``, a Grad-CAM of the AI class is written per image: bright where the model
    sees evidence of generation (``artlens.explain.CamExplainer`` does the work).
    """
    if not cfg.inputs:
        raise ArtlensError("detect: give at least one image or folder")
    paths = expand_inputs(cfg.inputs)  # a missing path fails before the model loads
    cam_dir = output_dir(cfg.explain, what="--explain") if cfg.explain else None
    detector = Detector(cfg.model or None, device=cfg.device, threshold=cfg.threshold)
    detections, skipped = detector([str(p) for p in paths], batch_size=cfg.batch_size, show_progress=show_progress)
    if cam_dir is not None:
        _write_cams(detector, detections, cam_dir, cfg.device)
    return DetectReport(detections=detections, skipped=skipped, model=detector.bundle.path or detector.name,
                        threshold=detector.threshold, notes=detector.notes)


def _write_cams(detector: Detector, detections: list[Detection], folder: Path, device: str) -> None:
    from ..explain.cam import CamExplainer  # imported here: detect alone needs no grad-cam

    explainer = CamExplainer(detector.bundle, method="gradcam", device=device)
    used: set[str] = set()
    for d in detections:
        image = load_image(d.path)
        result = explainer.explain(image, target=detector.ai_index)
        name = Path(d.path).stem
        while name in used:  # two folders' painting.jpg must not overwrite each other
            name += "_"
        used.add(name)
        target = folder / f"{name}.cam.png"
        # drawn on the picture at its own size (at most 1024 px), as artlens explain and /v1/explain draw
        explainer.on_picture(image, result, max_side=1024).save(target)
        d.cam = str(target)
