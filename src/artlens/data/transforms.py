"""Transforms built from the backbone's own data config, plus named augmentation presets.

The mean, std, input size, interpolation and crop fraction always come from the model (timm's
``pretrained_cfg`` or torchvision's weights meta), never retyped, and they are stored in every
bundle, so a loaded model rebuilds exactly the preprocessing it was trained with.

Presets (``--augment``):

``none``
    the evaluation transform (resize + centre crop).
``flip``
    random horizontal flip. Mirroring keeps brushwork, palette and composition statistics.
``flip-rotate``
    flip plus a small rotation (±10°) and a mild random-resized crop.
``aggressive``
    flip, rotation, stronger random-resized crop **and colour jitter**. Colour is part of style
    (Fauvism vs Impressionism, Ukiyo-e palettes): jitter can erase the very cue being learned.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T

from ..config import AUGMENT_PRESETS
from ..errors import ArtlensError

__all__ = ["AUGMENT_PRESETS", "Preprocessing", "build_transform"]

log = logging.getLogger(__name__)

_INTERP = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
           "nearest": InterpolationMode.NEAREST}


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects at its input; serialised into bundles."""

    input_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    resize: str = "crop"
    """``crop``: shorter side to ``input_size / crop_pct``, centre crop (timm's evaluation transform);
    ``squash``: the whole picture resized to a square, keeping every edge of the composition."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(input_size=int(d["input_size"]), mean=tuple(d["mean"]), std=tuple(d["std"]),
                   interpolation=d.get("interpolation", "bicubic"), crop_pct=float(d.get("crop_pct", 0.875)),
                   resize=d.get("resize", "crop"))


def build_transform(pre: Preprocessing, *, train: bool = False, augment: str = "none"):
    """A PIL -> normalised tensor transform; ``augment`` applies only when ``train``."""
    if augment not in AUGMENT_PRESETS:
        raise ArtlensError(f"unknown augmentation preset {augment!r}; choose from: {', '.join(AUGMENT_PRESETS)}")
    size = pre.input_size
    interp = _INTERP.get(pre.interpolation, InterpolationMode.BICUBIC)
    if pre.resize == "squash":
        base = [T.Resize((size, size), interpolation=interp, antialias=True)]
    else:
        base = [T.Resize(math.floor(size / pre.crop_pct), interpolation=interp, antialias=True), T.CenterCrop(size)]
    finish = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(pre.mean, pre.std)]
    if not train or augment == "none":
        return T.Compose([*base, *finish])
    if augment == "flip":
        ops = [*base, T.RandomHorizontalFlip()]
    elif augment == "flip-rotate":
        ops = [T.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.8, 1.25), interpolation=interp, antialias=True),
               T.RandomHorizontalFlip(), T.RandomRotation(10, interpolation=InterpolationMode.BILINEAR)]
    else:  # aggressive
        log.warning("augment 'aggressive' adds colour jitter: colour is part of an artwork's style, "
                    "so this can hurt style and movement classification")
        ops = [T.RandomResizedCrop(size, scale=(0.35, 1.0), interpolation=interp, antialias=True),
               T.RandomHorizontalFlip(), T.RandomRotation(15, interpolation=InterpolationMode.BILINEAR),
               T.ColorJitter(0.3, 0.3, 0.3, 0.05)]
    return T.Compose([*ops, *finish])
