"""Batched inference over image files: the single path used by predict, evaluate and training reports.

Images are decoded in DataLoader workers, bad files are skipped and listed, and optional
test-time augmentation averages probabilities over several views of each image (see :data:`TTA`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from .config import PRECISIONS, TTA_MODES
from .data.dataset import ImageDataset, Sample
from .data.images import SkippedImage
from .data.transforms import Preprocessing, build_transform
from .distributed import DistContext, gather_objects, shard_indices
from .errors import ArtlensError
from .models.folding import fold_batchnorm, fuse_for_cpu
from .progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["CROP_FRACTION", "TTA", "InferenceResult", "autocast_dtype", "batch_probs", "collate_views", "crop_min_side",
           "crop_views", "bundle_tta", "default_device", "inference_model", "predict_probs", "tta_mode",
           "view_transform"]

#: Test-time augmentation modes (``config.TTA_MODES``): the views each image is predicted from, whose
#: probabilities are averaged.
TTA = {
    "none": "the image alone",
    "flip": "the image and its mirror image",
    "crops": "the whole image and its four corner and centre crops (0.8 of each side), where its shorter "
             "side is at least the model's input size; smaller images alone",
}
#: Side of each ``crops`` view, as a fraction of the image's width and height: crops of 0.64 of the
#: area lie inside the training augmentation's random resized crops (area 0.6 to 1).
CROP_FRACTION = 0.8


def tta_mode(value: Any) -> str:
    """A TTA mode from a bundle's ``meta["tta"]`` or a user's choice (``True``/``False``: flip/none, as older bundles store it)."""
    if value is None or value is False:
        return "none"
    if value is True:
        return "flip"
    if value not in TTA:
        raise ArtlensError(f"unknown test-time augmentation {value!r}; choose from: {', '.join(TTA_MODES)}")
    return str(value)


def bundle_tta(bundle: Any, override: Any = None) -> str:
    """The TTA mode to run ``bundle`` with: the user's ``override`` if given, else what its ``artlens.json`` asks for."""
    return tta_mode(bundle.meta.get("tta") if override is None else override)


def crop_min_side(pre: Preprocessing) -> int:
    """Shorter side from which ``crops`` takes crops: the model's input size.

    A 0.8 crop of an image at least the input size is upsampled at most 1.25 x, less than the
    built-in model's training crops of its 224 px paintings were (up to about 1.4 x along a side);
    a crop of a smaller image is upsampled more, and on Kaggle's 128 px thumbnails (2.2 x) crops
    lower the built-in model's accuracy (75.8 % -> 75.1 %) where on 224 px and larger paintings
    they raise it (``scripts/crop_tta.py``).
    """
    return pre.input_size


def view_transform(pre: Preprocessing, tta: str = "none") -> Callable[[Image.Image], torch.Tensor]:
    """A PIL -> ``(views, 3, H, W)`` transform. Crops are cut from the decoded image before resizing, as
    the training crops are, so that a large painting's crops keep its detail; ``flip`` is applied to
    the batch in :func:`batch_probs` instead (one view here)."""
    whole = build_transform(pre)
    if tta_mode(tta) != "crops":
        return lambda img: whole(img).unsqueeze(0)
    min_side = crop_min_side(pre)

    def views(img: Image.Image) -> torch.Tensor:
        return whole(img).unsqueeze(0) if min(img.size) < min_side else torch.stack(crop_views(img, whole))

    return views


def crop_views(img: Image.Image, whole: Callable[[Image.Image], torch.Tensor]) -> list[torch.Tensor]:
    """The ``crops`` views of any image, ungated: the whole image, then its four corner crops and centre
    crop (``CROP_FRACTION`` of each side), each through ``whole``."""
    w, h = img.size
    crops = TF.five_crop(img, [max(1, round(CROP_FRACTION * h)), max(1, round(CROP_FRACTION * w))])
    return [whole(img)] + [whole(c) for c in crops]


def collate_views(batch):
    """``data.dataset.collate_skipping`` for ``(views, 3, H, W)`` items: ``(x, counts, y, index, skipped)``, ``x``
    holding every good item's views one after the other and ``counts`` how many each has."""
    good = [b for b in batch if b[0] is not None]
    skipped = [b[1] for b in batch if b[0] is None]
    if not good:
        return None, None, None, None, skipped
    return (torch.cat([b[0] for b in good]), [b[0].shape[0] for b in good],
            torch.tensor([b[1] for b in good], dtype=torch.long), torch.tensor([b[2] for b in good], dtype=torch.long),
            skipped)


def inference_batch_size(device: torch.device | str) -> int:
    """Images per forward pass when the caller names none: 32 on a GPU, 16 on a CPU.

    On a CPU a mobile network runs faster per image in small batches, whose activations stay in
    the cache: on 2 cores the built-in model (three EfficientNet-Lite networks) labelled about 33
    paintings/s in batches of 16 and 19 in batches of 32 (``benchmarks/default_model_predict.py
    --batch-size``); batches of 4 spent more on the data loader than they saved.
    """
    device = default_device(device) if isinstance(device, str) else device
    return 16 if device.type == "cpu" else 32


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The number type a classifier's convolutions and matrix products run in (``None``: float32).

    ``auto`` is float16 on a GPU (as artlens has always run there) and float32 elsewhere: bf16 on a
    CPU with AMX runs the built-in model about 1.6 x as fast, but it is not free (top-1 changed on 19
    of 872 unseen painters' paintings and 2 of 77 Art Institute paintings, 1.1 and 2.6 points lost;
    none of 330 WikiArt test paintings), so it is asked for, never chosen silently (``--precision bf16``;
    docs/default_model.md, "Speed: bf16, and what else was tried"). fp16 on a CPU runs, but no faster
    than float32 without AMX-FP16.
    """
    if precision not in PRECISIONS:
        raise ArtlensError(f"unknown precision {precision!r}; choose from: {', '.join(PRECISIONS)}")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.float16
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if device.type == "cpu" and dtype is torch.bfloat16 and not _cpu_has_bf16():
        _warn_slow_bf16()
    return dtype


def inference_model(model: nn.Module, *, input_size: int, device: str | torch.device = "auto",
                    precision: str = "auto", fold: bool = True) -> nn.Module:
    """``model`` as predict, evaluate and the web service run it on ``device``: the same outputs, faster.

    Its batch norms folded into the convolutions (:func:`artlens.models.fold_batchnorm`), and where it
    will run in float32 on a CPU, its convolutions made oneDNN calls with their activations fused in
    (:func:`artlens.models.fuse_for_cpu`). Each step checks its copy against ``model`` on a random
    batch and is skipped if they differ; ``fold=False`` runs ``model`` as saved. ``model`` itself is
    left as it is for the tools that need its layers (Grad-CAM, probes, style taps).
    """
    device = default_device(device) if isinstance(device, str) else device
    model.eval().to(device)
    if not fold:
        return model
    model = fold_batchnorm(model, input_size=input_size)
    if device.type == "cpu" and autocast_dtype(precision, device) is None:
        model = fuse_for_cpu(model, input_size=input_size, batch_size=inference_batch_size(device))
    return model


@functools.cache
def _warn_slow_bf16() -> None:
    log.warning("precision bf16: this CPU has no native bf16 (AVX512-BF16 or AMX); it runs slower than fp32")


@functools.cache
def _cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); ``True`` when torch cannot tell."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [c for c in checks if c is not None]
    return not checks or any(c() for c in checks)


def default_device(name: str = "auto") -> torch.device:
    """``auto`` is the GPU when there is one, else the CPU. Any other name is checked here, so that a
    typo or a GPU this machine lacks is one line before work starts, not torch's traceback after it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ArtlensError(f"--device {name}: not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ArtlensError(f"--device {name}: no CUDA GPU is available here; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ArtlensError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), "
                               f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ArtlensError(f"--device {name}: Apple's MPS is not available here; use cpu or auto")
    elif device.type not in ("cpu", "mps"):
        raise ArtlensError(f"--device {name}: artlens runs on cpu, cuda or mps")
    return device


@dataclass
class InferenceResult:
    probs: np.ndarray
    """``(n_ok, n_classes)`` probabilities, rows aligned with ``indices``."""
    indices: np.ndarray
    """Positions (in the input list) of the images that decoded."""
    skipped: list[SkippedImage] = field(default_factory=list)


@torch.inference_mode()
def batch_probs(model: nn.Module, x: torch.Tensor, device: torch.device, *, tta: str | bool = "none",
                counts: Sequence[int] | None = None, precision: str = "auto") -> torch.Tensor:
    """Softmax of one preprocessed batch, averaged over each image's views.

    ``x`` holds the views of every image one after the other, ``counts`` how many each image has
    (one each when ``None``); ``tta="flip"`` adds the mirrored batch. The one place a batch meets
    the model, shared by ``artlens predict`` and the web service so the two can never disagree
    (``precision``: see :func:`autocast_dtype`; channels-last memory, view averaging). It runs in
    inference mode itself, so neither caller needs to.
    """
    x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
    dtype = autocast_dtype(precision, device)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        p = model(x).float().softmax(-1)
        if tta_mode(tta) == "flip":
            p = (p + model(torch.flip(x, dims=[3])).float().softmax(-1)) / 2
    if counts is not None and len(counts) != len(p):
        p = torch.stack([v.mean(0) for v in p.split(list(counts))])
    return p


def predict_probs(model: nn.Module, samples: Sequence[Sample], pre: Preprocessing, *, classes: Sequence[str] = (),
                  batch_size: int | None = None, num_workers: int | None = None, device: str | torch.device = "auto",
                  tta: str | bool = "none", show_progress: bool = True, description: str = "predict",
                  ctx: DistContext | None = None, on_batch: Callable[[int], None] | None = None,
                  precision: str = "auto") -> InferenceResult:
    """Softmax probabilities for every readable image in ``samples``, averaged over its ``tta`` views,
    the network run in ``precision`` (:func:`autocast_dtype`).

    Under torchrun (``ctx`` with more than one process) each process scores its own images
    (:func:`artlens.distributed.shard_indices`: every image once, none repeated to even out the
    shards) and every process gets the whole result back in input order, as one process computes it.
    ``on_batch(n)`` is told of every ``n`` images done (a caller's own progress count).
    ``batch_size`` defaults to :func:`inference_batch_size` of the device.
    """
    if ctx is not None and ctx.enabled:
        return _predict_probs_sharded(model, samples, pre, classes=classes, batch_size=batch_size,
                                      num_workers=num_workers, device=device, tta=tta, show_progress=show_progress,
                                      description=description, ctx=ctx, precision=precision)
    device = default_device(device) if isinstance(device, str) else device
    autocast_dtype(precision, device)  # a wrong name fails before the data loader starts
    batch_size = batch_size or inference_batch_size(device)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1) if len(samples) > 2 * batch_size else 0
    tta = tta_mode(tta)
    dataset = ImageDataset(samples, classes, view_transform(pre, tta), draft_size=pre.decode_size)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_views, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    model.eval().to(device)
    probs, indices, skipped = [], [], []
    with progress_bar(len(samples), description, enabled=show_progress) as advance:
        for x, counts, _, idx, bad in loader:
            skipped += bad
            if x is not None:
                probs.append(batch_probs(model, x, device, tta=tta, counts=counts, precision=precision).cpu())
                indices.append(idx)
            advance(len(bad) + (0 if x is None else len(idx)))
            if on_batch is not None:
                on_batch(len(bad) + (0 if x is None else len(idx)))
    n_classes = getattr(model, "num_classes", 0)
    return InferenceResult(
        probs=torch.cat(probs).numpy() if probs else np.zeros((0, n_classes), dtype=np.float32),
        indices=torch.cat(indices).numpy() if indices else np.zeros(0, dtype=np.int64),
        skipped=skipped,
    )


def _predict_probs_sharded(model: nn.Module, samples: Sequence[Sample], pre: Preprocessing, *, ctx: DistContext,
                           **kwargs: Any) -> InferenceResult:
    """:func:`predict_probs` of this process' shard, gathered from every process into input order."""
    mine = shard_indices(len(samples), ctx)
    part = predict_probs(model, [samples[i] for i in mine], pre, **kwargs)
    positions = np.asarray(mine, dtype=np.int64)
    parts = gather_objects(ctx, (positions[part.indices], part.probs, part.skipped))
    indices = np.concatenate([p[0] for p in parts])
    probs = np.concatenate([p[1] for p in parts])
    order = np.argsort(indices, kind="stable")
    first = {}
    for i, s in enumerate(samples):
        first.setdefault(str(s.path), i)
    skipped = sorted((s for p in parts for s in p[2]), key=lambda s: first.get(str(s.path), len(samples)))
    return InferenceResult(probs=probs[order], indices=indices[order], skipped=skipped)
