"""The counterfactual test: does a trained model's score survive the removal of each suspected shortcut?

Every test image is changed by one intervention at a time (:mod:`.interventions`: one size, one JPEG
quality, grayscale, no EXIF) and re-scored. A model that learnt what it should loses little; a model
that read the file instead of the picture falls towards chance. The drop per intervention is the
number to look at.

>>> rows = counterfactual_test("runs/detector/model", samples, ["resize", "jpeg"])  # doctest: +SKIP
>>> [(r["intervention"], r["drop"]) for r in rows]                                   # doctest: +SKIP
[('original', 0.0), ('resize', 0.013), ('jpeg', 0.04)]
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.dataset import Sample
from ..data.images import SkippedImage, to_rgb, upright
from ..errors import ArtlensError
from ..models.bundle import Bundle, load_bundle
from ..predict import Predictor
from ..progress import progress_bar
from .detector import Detector, score_origins
from .interventions import INTERVENTIONS, Intervention, apply_intervention
from .origin import origin_classes, origin_of

__all__ = ["DEFAULT_INTERVENTIONS", "counterfactual_test"]

#: The interventions the test runs unless told otherwise (``normalise`` combines them).
DEFAULT_INTERVENTIONS = ("resize", "jpeg", "grayscale", "strip-exif")


def _decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return to_rgb(upright(img))


def _target_index(label: str, classes: Sequence[str], origins: dict[str, int] | None) -> int | None:
    if label in classes:
        return list(classes).index(label)
    if origins is not None and origin_of(label) in origins:
        return origins[origin_of(label)]  # type: ignore[index]
    lower = [c.lower() for c in classes]
    return lower.index(label.lower()) if label.lower() in lower else None


def counterfactual_test(model: str | os.PathLike | Bundle | None, samples: Sequence[Sample],
                        interventions: Sequence[str] = DEFAULT_INTERVENTIONS, *, how: Intervention | None = None,
                        device: str = "auto", batch_size: int = 32, show_progress: bool = True,
                        skipped: list[SkippedImage] | None = None) -> list[dict[str, Any]]:
    """Score ``model`` on ``samples`` as they are, then after each intervention.

    A detector (one AI and one human class) is scored at its own threshold by balanced accuracy, AI
    recall and human recall; any other bundle by accuracy and balanced accuracy of its top class.
    Returns one row per condition, ``original`` first, each with ``drop`` (original minus this) of the
    main metric, ``balanced_accuracy``.
    """
    for name in interventions:
        INTERVENTIONS.get(name)  # an unknown name fails before any work
    bundle = model if isinstance(model, Bundle) else load_bundle(model)
    origins = origin_classes(bundle.classes)
    detector = Detector(bundle, device=device) if origins is not None else None
    predictor = detector.predictor if detector is not None else Predictor(bundle, device=device)
    targets = [_target_index(s.label, bundle.classes, origins) for s in samples]
    unknown = sorted({s.label for s, t in zip(samples, targets) if t is None})
    if unknown:
        raise ArtlensError(f"labels unknown to model {bundle.name!r}: {', '.join(unknown[:5])} "
                           f"(model classes: {', '.join(bundle.classes[:8])})")
    raw: list[bytes] = []
    kept: list[int] = []
    for i, s in enumerate(samples):
        try:
            data = Path(s.path).read_bytes()
            _decode(data)
        except (OSError, ValueError, SyntaxError) as err:
            if skipped is not None:
                skipped.append(SkippedImage(s.path, f"unreadable ({err})"))
            continue
        raw.append(data)
        kept.append(i)
    if not kept:
        raise ArtlensError("counterfactual test: none of the images is readable")
    y = np.array([targets[i] for i in kept])
    how = how or Intervention()
    rows: list[dict[str, Any]] = []
    conditions = ["original", *interventions]
    with progress_bar(len(conditions) * len(raw), "counterfactual", enabled=show_progress) as advance:
        for name in conditions:
            probs = []
            for start in range(0, len(raw), batch_size):
                chunk = raw[start:start + batch_size]
                images = [_decode(d if name == "original" else apply_intervention(name, d, how)) for d in chunk]
                probs.append(predictor.probs([predictor.views(img) for img in images]))
                advance(len(chunk))
            p = np.concatenate(probs)
            if detector is not None:
                row = score_origins(p[:, detector.ai_index], y == detector.ai_index, detector.threshold)
                row["accuracy"] = round(float(((p[:, detector.ai_index] >= detector.threshold)
                                               == (y == detector.ai_index)).mean()), 4)
            else:
                pred = p.argmax(1)
                recalls = [float((pred[y == c] == c).mean()) for c in np.unique(y)]
                row = {"n": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
                       "balanced_accuracy": round(float(np.mean(recalls)), 4)}
            rows.append({"intervention": name, **row})
    base = rows[0]["balanced_accuracy"]
    for r in rows:
        r["drop"] = round(base - r["balanced_accuracy"], 4)
    return rows
