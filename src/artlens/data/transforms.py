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
``degrade``
    ``flip-rotate`` plus, each with probability 1/2, a round trip through a low resolution (30-70 %
    of the side) and JPEG recompression (quality 30-90). Images from other
    collections arrive as thumbnails or re-encoded web copies; this teaches the model cues that
    survive that, without touching colour.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T

from ..config import AUGMENT_PRESETS
from ..errors import ArtlensError

__all__ = ["AUGMENT_PRESETS", "Preprocessing", "RandomDownscale", "RandomJPEG", "build_transform"]

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
    grayscale: bool = False
    """Convert to grayscale (three equal channels) first: the model was trained on grayscale images."""

    @property
    def decode_size(self) -> int:
        """The side a JPEG needs at least, decoded, for this input: twice ``input_size``.

        JPEG decoders can scale by 1/2, 1/4 or 1/8 while decoding (Pillow's ``draft``), at a fraction
        of the cost of a full decode: a 12-megapixel photograph decodes about 6x faster at 1/4. The
        margin of 2 keeps every view a model takes (centre crop, random-resized crops down to 35 % of
        the area, the 0.8 crops of test-time augmentation) from being upsampled, so predictions move
        by less than 0.02 in probability, and images under twice this size decode exactly as before.
        """
        return 2 * self.input_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(input_size=int(d["input_size"]), mean=tuple(d["mean"]), std=tuple(d["std"]),
                   interpolation=d.get("interpolation", "bicubic"), crop_pct=float(d.get("crop_pct", 0.875)),
                   resize=d.get("resize", "crop"), grayscale=bool(d.get("grayscale", False)))


class RandomDownscale(torch.nn.Module):
    """Resize to a random fraction of the side and back: the detail a thumbnail has lost.

    Fractions, not pixels, so the same preset works at 224 px and at the 32 px of small-input
    recipes. The fraction is drawn from torch's generator, so seeded (and resumed) runs draw the same.
    """

    def __init__(self, min_scale: float, max_scale: float, interpolation=InterpolationMode.BICUBIC):
        super().__init__()
        if not 0 < min_scale <= max_scale <= 1:
            raise ValueError(f"RandomDownscale needs 0 < min_scale <= max_scale <= 1, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.interpolation = min_scale, max_scale, interpolation

    def forward(self, img):
        height, width = T.functional.get_size(img)
        scale = self.min_scale + (self.max_scale - self.min_scale) * float(torch.rand(()))
        small = [max(1, round(height * scale)), max(1, round(width * scale))]
        small_img = T.functional.resize(img, small, interpolation=self.interpolation, antialias=True)
        return T.functional.resize(small_img, [height, width], interpolation=self.interpolation, antialias=True)


class RandomJPEG(torch.nn.Module):
    """Re-encode a PIL image as JPEG at a random quality: the blocks and ringing of web copies.

    Pillow does the encoding; torchvision's ``v2.JPEG`` would do the same through ``torchvision.io``,
    whose encoders are deprecated since torchvision 0.29.
    """

    def __init__(self, min_quality: int, max_quality: int):
        super().__init__()
        if not 1 <= min_quality <= max_quality <= 100:
            raise ValueError(f"RandomJPEG needs 1 <= min_quality <= max_quality <= 100, got {min_quality}, {max_quality}")
        self.min_quality, self.max_quality = min_quality, max_quality

    def forward(self, img: Image.Image) -> Image.Image:
        quality = int(torch.randint(self.min_quality, self.max_quality + 1, ()).item())
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return decoded.convert("RGB")


def _flip(base: list, size: int, interp) -> list:
    return [*base, T.RandomHorizontalFlip()]


def _flip_rotate(base: list, size: int, interp) -> list:
    return [T.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.8, 1.25), interpolation=interp, antialias=True),
            T.RandomHorizontalFlip(), T.RandomRotation(10, interpolation=InterpolationMode.BILINEAR)]


def _degrade(base: list, size: int, interp) -> list:
    return [*_flip_rotate(base, size, interp),
            T.RandomApply([RandomDownscale(0.3, 0.7, interp)], p=0.5),
            T.RandomApply([RandomJPEG(30, 90)], p=0.5)]


def _aggressive(base: list, size: int, interp) -> list:
    log.warning("augment 'aggressive' adds colour jitter: colour is part of an artwork's style, "
                "so this can hurt style and movement classification")
    return [T.RandomResizedCrop(size, scale=(0.35, 1.0), interpolation=interp, antialias=True),
            T.RandomHorizontalFlip(), T.RandomRotation(15, interpolation=InterpolationMode.BILINEAR),
            T.ColorJitter(0.3, 0.3, 0.3, 0.05)]


#: Training-time operations of each preset, given the evaluation resize (``base``), the input size
#: and the interpolation. ``none`` is the evaluation transform itself. The names are listed in
#: ``config.AUGMENT_PRESETS`` too, so that config validation need not import torch.
_PRESET_OPS = {"none": lambda base, size, interp: list(base), "flip": _flip, "flip-rotate": _flip_rotate,
               "aggressive": _aggressive, "degrade": _degrade}


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
    ops = _PRESET_OPS[augment](base, size, interp) if train else base
    gray = [T.Grayscale(num_output_channels=3)] if pre.grayscale else []
    return T.Compose([*gray, *ops, *finish])
