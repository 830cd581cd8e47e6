"""Predict labels for image files with a bundle (the built-in style model by default).

>>> from artlens import predict
>>> predict(["starry_night.jpg"], top_k=3)                     # doctest: +SKIP
[{'path': 'starry_night.jpg', 'predictions': [{'label': 'Impressionism', 'prob': 0.61}, ...]}]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .config import PRECISIONS, check_choice
from .data.dataset import Sample
from .data.images import SkippedImage, iter_image_files
from .distributed import init_distributed
from .errors import ArtlensError
from .inference import batch_probs, bundle_tta, default_device, inference_model, predict_probs, view_transform
from .models.bundle import Bundle, load_bundle
from .sharded import ShardedRun, ShardOptions, collection_samples, run_sharded

__all__ = ["PredictCollectionConfig", "Predictor", "expand_inputs", "predict", "predict_collection", "top_k",
           "uncertain_threshold"]


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
    test-time augmentation the bundle asks for in its ``artlens.json``. Predictions run the network with
    its batch norms folded into the convolutions and, in float32 on a CPU, its activations fused into
    them (:func:`artlens.inference.inference_model`: the same probabilities, faster); ``fold=False``
    runs it as saved. ``precision`` is the number type the network computes in (``auto``: float16 on
    a GPU, float32 on a CPU; ``bf16`` runs the built-in model about 1.6 x as fast on a CPU with AMX,
    at some accuracy: see :func:`artlens.inference.autocast_dtype`).

    Files and folders go through ``predictor(paths)``; images already in memory (a web service's
    uploads) through :meth:`views` and :meth:`probs`, the same views and the same batch path, and
    :meth:`rank` turns a row of probabilities into the answer ``predictor(paths)`` gives.
    """

    def __init__(self, model: str | os.PathLike | Bundle | None = None, *, device: str | torch.device = "auto",
                 tta: str | None = None, fold: bool = True, precision: str = "auto") -> None:
        check_choice("predict", "precision", precision, PRECISIONS)
        self.bundle = model if isinstance(model, Bundle) else load_bundle(model)
        self.device = device
        self.tta = bundle_tta(self.bundle, tta)
        self.fold = fold
        self.precision = precision

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes

    def __call__(self, inputs: str | os.PathLike | Sequence[str | os.PathLike], *, top_k: int = 3, batch_size: int | None = None,
                 num_workers: int | None = None, show_progress: bool = False) -> tuple[list[dict[str, Any]], list[SkippedImage]]:
        """Return ``(results, skipped)``; each result is ``{"path", "predictions": [{"label", "prob"}], "uncertain"}``,
        ``uncertain`` true when a calibrated bundle's top-1 probability is below its threshold. ``batch_size``
        defaults to :func:`artlens.inference.inference_batch_size` of the device (16 on a CPU, 32 on a GPU)."""
        if top_k < 1:
            raise ArtlensError(f"top_k must be at least 1, got {top_k}")
        paths = expand_inputs(inputs)
        top_k = min(top_k, len(self.classes))
        samples = [Sample(str(p), "") for p in paths]
        res = predict_probs(self.model, samples, self.bundle.preprocessing, classes=self.classes,
                            batch_size=batch_size, num_workers=num_workers, device=self._device,
                            tta=self.tta, show_progress=show_progress, precision=self.precision)
        return [{"path": str(paths[i]), **self.rank(p, top_k)} for i, p in zip(res.indices, res.probs)], res.skipped

    @cached_property
    def transform(self) -> Any:
        """PIL image -> its input views ``(views, 3, H, W)``: more than one with ``crops`` TTA."""
        return view_transform(self.bundle.preprocessing, self.tta)

    def views(self, image: Image.Image) -> torch.Tensor:
        """One upright RGB image as the model's input views, ready for :meth:`probs`."""
        return self.transform(image)

    @cached_property
    def _device(self) -> torch.device:
        device = default_device(self.device) if isinstance(self.device, str) else self.device
        self.bundle.model.eval().to(device)
        return device

    @cached_property
    def model(self) -> nn.Module:
        """The bundle's network as predictions run it, on the device (:func:`artlens.inference.inference_model`:
        the same outputs, faster). The bundle's own ``model`` stays as it was for tools that need its
        layers (Grad-CAM, probes)."""
        return inference_model(self.bundle.model, input_size=self.bundle.preprocessing.input_size,
                               device=self._device, precision=self.precision, fold=self.fold)

    def probs(self, views: Sequence[torch.Tensor]) -> np.ndarray:
        """Class probabilities ``(images, classes)`` of images given as their :meth:`views`, run as one
        batch and averaged over each image's views (:func:`artlens.inference.batch_probs`, as files are)."""
        p = batch_probs(self.model, torch.cat(list(views)), self._device, tta=self.tta,
                        counts=[len(v) for v in views], precision=self.precision)
        return p.cpu().numpy()

    def rank(self, probs: np.ndarray, k: int = 3, *, runners_up: int = 3) -> dict[str, Any]:
        """:func:`top_k` of one image's probabilities with this bundle's classes and threshold."""
        return top_k(probs, self.classes, k, uncertain_below=self.uncertain_below, runners_up=runners_up)

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
    calibration = meta.get("calibration")
    value = calibration.get("uncertain_below") if isinstance(calibration, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def top_k(probs: Sequence[float] | np.ndarray, classes: Sequence[str], k: int = 3, *,
          uncertain_below: float | None = None, runners_up: int = 3) -> dict[str, Any]:
    """One image's answer: ``{"predictions": [{"label", "prob"}], "uncertain"}``, the ``k`` most probable
    classes first (probabilities rounded to 4 places). ``uncertain`` is true when the top probability is
    below ``uncertain_below`` (a calibrated bundle's :func:`uncertain_threshold`); an uncertain answer then
    lists at least ``runners_up`` labels, the guesses a person needs to judge it.

    >>> top_k([0.1, 0.6, 0.3], ["Baroque", "Cubism", "Fauvism"], 1)
    {'predictions': [{'label': 'Cubism', 'prob': 0.6}], 'uncertain': False}
    >>> [p["label"] for p in top_k([0.1, 0.4, 0.5], ["Baroque", "Cubism", "Fauvism"], 1, uncertain_below=0.6)["predictions"]]
    ['Fauvism', 'Cubism', 'Baroque']
    """
    if k < 1:
        raise ArtlensError(f"top_k must be at least 1, got {k}")
    p = np.asarray(probs)
    uncertain = uncertain_below is not None and float(p.max()) < uncertain_below
    order = p.argsort()[::-1][: min(max(k, runners_up) if uncertain else k, len(classes))]
    return {"predictions": [{"label": classes[j], "prob": round(float(p[j]), 4)} for j in order],
            "uncertain": uncertain}


def predict(inputs: str | os.PathLike | Sequence[str | os.PathLike], *, model: str | os.PathLike | Bundle | None = None,
            top_k: int = 3, device: str = "auto", tta: str | None = None,
            precision: str = "auto") -> list[dict[str, Any]]:
    """Top-k predictions for files and folders; unreadable files are left out (see :class:`Predictor`)."""
    return Predictor(model, device=device, tta=tta, precision=precision)(inputs, top_k=top_k)[0]


PREDICTIONS_FILE = "predictions.parquet"


@dataclass
class PredictCollectionConfig(ShardOptions):
    """``artlens predict --out DIR``: label a whole collection into Parquet shards (see :mod:`artlens.sharded`)."""

    data: str = ""
    """Image folder (loose images or one sub-folder per label), manifest, or a ``dataset`` root."""
    out: str = "artlens-predictions"
    """Output folder or object-storage URL (s3://, gs://, any fsspec protocol): shards/, predictions.parquet."""
    model: str | None = None
    """Model bundle folder (default: the built-in style model)."""
    top_k: int = 3
    """Labels (and their probabilities) per image; every class's probability is in the ``probs`` column too."""
    tta: str | None = None
    """Test-time augmentation: none | flip | crops (default: what the bundle asks for)."""
    batch_size: int | None = None
    """Images per forward pass (default: 16 on a CPU, 32 on a GPU)."""
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})
    """Number type the network computes in (``auto``: float16 on a GPU, float32 on a CPU; ``bf16``: about
    1.6 x as fast on a CPU with AMX, and some answers change)."""
    num_workers: int | None = None
    """Processes decoding images for each process (default: up to 4)."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1 (under torchrun each process takes its own GPU)."""
    dataset: str = "auto"
    """``auto`` (folder tree or manifest) or a published layout from ``artlens datasets``."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that dataset adapter, e.g. ``{"label": "origin"}``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.top_k < 1:
            raise ArtlensError(f"top_k must be at least 1, got {self.top_k}")
        check_choice("predict", "precision", self.precision, PRECISIONS)
        if not self.data:
            raise ArtlensError("predict --out: give the collection (a folder, a manifest or a dataset root)")


def predict_collection(cfg: PredictCollectionConfig, *, show_progress: bool = True) -> ShardedRun:
    """Label every image of a collection into Parquet shards, resumably, alone or under torchrun.

    One row per readable image: ``path, label, split`` (as the collection gives them), ``top_labels``
    and ``top_probs`` (the ``top_k`` answer), ``probs`` (every class, in the order of the ``classes``
    schema metadata), ``uncertain``, ``sha256`` and ``bytes``. Unreadable images go to each shard's
    skipped log. Run it again on the same ``out`` after an interruption: finished shards are kept.

    >>> run = predict_collection(PredictCollectionConfig(data="met/", out="s3://bucket/met-labels"))  # doctest: +SKIP
    """
    import pyarrow as pa

    ctx, device = init_distributed(cfg.device)
    samples = collection_samples(cfg.data, dataset=cfg.dataset, dataset_options=cfg.dataset_options)
    predictor = Predictor(cfg.model, device=device, tta=cfg.tta, precision=cfg.precision)
    model = predictor.model  # folded now, with the loading: not inside the first shard's (timed) work
    classes = predictor.classes
    k = min(cfg.top_k, len(classes))
    metadata = {"model": predictor.bundle.name, "model_path": str(cfg.model or ""), "tta": predictor.tta,
                "top_k": str(k), "classes": json.dumps(classes)}
    if cfg.precision != "auto":  # recorded when asked for: a run started before the option resumes as it was
        metadata["precision"] = cfg.precision

    def process(part: list[Sample], advance) -> tuple[dict[str, Any], list[SkippedImage]]:
        res = predict_probs(model, part, predictor.bundle.preprocessing, classes=classes,
                            batch_size=cfg.batch_size, num_workers=cfg.num_workers, device=predictor._device,
                            tta=predictor.tta, show_progress=False, on_batch=advance, precision=cfg.precision)
        answers = [predictor.rank(p, k) for p in res.probs]
        kept = [part[i] for i in res.indices]
        return {
            "path": pa.array([s.path for s in kept], pa.string()),
            "label": pa.array([s.label for s in kept], pa.string()),
            "split": pa.array([s.split for s in kept], pa.string()),
            "top_labels": pa.array([[p["label"] for p in a["predictions"]] for a in answers], pa.list_(pa.string())),
            "top_probs": pa.array([[p["prob"] for p in a["predictions"]] for a in answers], pa.list_(pa.float32())),
            "probs": pa.FixedSizeListArray.from_arrays(pa.array(res.probs.astype(np.float32).reshape(-1)),
                                                       len(classes)),
            "uncertain": pa.array([a["uncertain"] for a in answers], pa.bool_()),
        }, res.skipped

    return run_sharded(samples, cfg.out, process, kind="predict", options=cfg, merged_name=PREDICTIONS_FILE,
                       metadata=metadata, ctx=ctx, show_progress=show_progress)
