"""Batched inference over image files: the single path used by predict, evaluate and training reports.

Images are decoded in DataLoader workers, bad files are skipped and listed, and optional
test-time augmentation (horizontal flip) averages probabilities over mirrored views.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .data.dataset import ImageDataset, Sample, collate_skipping
from .data.images import SkippedImage
from .data.transforms import Preprocessing, build_transform
from .progress import progress_bar

__all__ = ["InferenceResult", "default_device", "predict_probs"]


def default_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class InferenceResult:
    probs: np.ndarray
    """``(n_ok, n_classes)`` probabilities, rows aligned with ``indices``."""
    indices: np.ndarray
    """Positions (in the input list) of the images that decoded."""
    skipped: list[SkippedImage] = field(default_factory=list)


@torch.inference_mode()
def batch_probs(model: nn.Module, x: torch.Tensor, device: torch.device, *, tta: bool = False) -> torch.Tensor:
    """Softmax of one preprocessed batch; ``tta`` averages it with the horizontally flipped batch.

    The one place a batch meets the model, shared by ``artlens predict`` and the web service so the
    two can never disagree (mixed precision on GPU, channels-last memory, flip averaging). It runs
    in inference mode itself, so neither caller needs to.
    """
    x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
    with torch.autocast(device.type, enabled=device.type == "cuda"):
        p = model(x).float().softmax(-1)
        if tta:
            p = (p + model(torch.flip(x, dims=[3])).float().softmax(-1)) / 2
    return p


def predict_probs(model: nn.Module, samples: Sequence[Sample], pre: Preprocessing, *, classes: Sequence[str] = (),
                  batch_size: int = 32, num_workers: int | None = None, device: str | torch.device = "auto",
                  tta: bool = False, show_progress: bool = True, description: str = "predict") -> InferenceResult:
    """Softmax probabilities for every readable image in ``samples``."""
    device = default_device(device) if isinstance(device, str) else device
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1) if len(samples) > 2 * batch_size else 0
    dataset = ImageDataset(samples, classes, build_transform(pre))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_skipping, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    model.eval().to(device)
    probs, indices, skipped = [], [], []
    with progress_bar(len(samples), description, enabled=show_progress) as advance:
        for x, _, idx, bad in loader:
            skipped += bad
            if x is not None:
                probs.append(batch_probs(model, x, device, tta=tta).cpu())
                indices.append(idx)
            advance(len(bad) + (0 if x is None else len(x)))
    n_classes = getattr(model, "num_classes", 0)
    return InferenceResult(
        probs=torch.cat(probs).numpy() if probs else np.zeros((0, n_classes), dtype=np.float32),
        indices=torch.cat(indices).numpy() if indices else np.zeros(0, dtype=np.int64),
        skipped=skipped,
    )
