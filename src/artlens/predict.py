"""Predict labels for image files with a bundle (the built-in style model by default).

>>> from artlens import predict
>>> predict(["starry_night.jpg"], top_k=3)                     # doctest: +SKIP
[{'path': 'starry_night.jpg', 'predictions': [{'label': 'Impressionism', 'prob': 0.61}, ...]}]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .data.dataset import Sample
from .data.images import SkippedImage, iter_image_files
from .errors import ArtlensError
from .inference import bundle_tta, predict_probs
from .models.bundle import Bundle, load_bundle

__all__ = ["Predictor", "expand_inputs", "predict", "uncertain_threshold"]


def expand_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded recursively to their image files.

    A path that is not there is an error, but a broken symbolic link is kept: like a truncated file it
    is skipped and listed when read, so one dead link in a folder never stops the rest.
    """
    if isinstance(inputs, (str, os.PathLike)):  # one path, not a sequence of one-letter paths
        inputs = [inputs]
    paths: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = iter_image_files(p)
            if not found:
                raise ArtlensError(f"{p}: folder contains no image files")
            paths += found
        elif p.is_file() or p.is_symlink():
            paths.append(p)
        elif "://" in str(raw):
            raise ArtlensError(f"{raw}: artlens reads local files only (no network); download the image first")
        else:
            raise ArtlensError(f"{p}: no such file or folder")
    return paths


class Predictor:
    """A loaded bundle ready to label images; load once, call many times.

    ``tta`` (``none``, ``flip``, ``crops``: see :data:`artlens.inference.TTA`) overrides the
    test-time augmentation the bundle asks for in its ``artlens.json``.
    """

    def __init__(self, model: str | os.PathLike | Bundle | None = None, *, device: str = "auto",
                 tta: str | None = None) -> None:
        self.bundle = model if isinstance(model, Bundle) else load_bundle(model)
        self.device = device
        self.tta = bundle_tta(self.bundle, tta)

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes

    def __call__(self, inputs: str | os.PathLike | Sequence[str | os.PathLike], *, top_k: int = 3, batch_size: int = 32,
                 num_workers: int | None = None, show_progress: bool = False) -> tuple[list[dict[str, Any]], list[SkippedImage]]:
        """Return ``(results, skipped)``; each result is ``{"path", "predictions": [{"label", "prob"}], "uncertain"}``,
        ``uncertain`` true when a calibrated bundle's top-1 probability is below its threshold."""
        if top_k < 1:
            raise ArtlensError(f"top_k must be at least 1, got {top_k}")
        paths = expand_inputs(inputs)
        top_k = min(top_k, len(self.classes))
        samples = [Sample(str(p), "") for p in paths]
        res = predict_probs(self.bundle.model, samples, self.bundle.preprocessing, classes=self.classes,
                            batch_size=batch_size, num_workers=num_workers, device=self.device,
                            tta=self.tta, show_progress=show_progress)
        results = []
        for i, p in zip(res.indices, res.probs):
            uncertain = self.is_uncertain(float(p.max()))
            # An uncertain answer comes with the runners-up: at least the top 3.
            order = p.argsort()[::-1][: max(top_k, min(3, len(self.classes))) if uncertain else top_k]
            results.append({"path": str(paths[i]),
                            "predictions": [{"label": self.classes[j], "prob": round(float(p[j]), 4)} for j in order],
                            "uncertain": uncertain})
        return results, res.skipped

    @property
    def uncertain_below(self) -> float | None:
        """The calibrated top-1 probability below which this bundle calls a prediction uncertain
        (``calibration.uncertain_below`` in its ``artlens.json``; ``None`` when it was not calibrated)."""
        return uncertain_threshold(self.bundle.meta)

    def is_uncertain(self, top1: float) -> bool:
        threshold = self.uncertain_below
        return threshold is not None and top1 < threshold


def uncertain_threshold(meta: dict[str, Any]) -> float | None:
    """``calibration.uncertain_below`` of a bundle's metadata, or ``None``."""
    value = (meta.get("calibration") or {}).get("uncertain_below")
    return float(value) if isinstance(value, (int, float)) else None


def predict(inputs: str | os.PathLike | Sequence[str | os.PathLike], *, model: str | os.PathLike | Bundle | None = None,
            top_k: int = 3, device: str = "auto", tta: str | None = None) -> list[dict[str, Any]]:
    """Top-k predictions for files and folders; unreadable files are left out (see :class:`Predictor`)."""
    return Predictor(model, device=device, tta=tta)(inputs, top_k=top_k)[0]
