"""Applying a CycleGAN generator at an image's own resolution, tiled when it is too large for memory.

Users of the reference implementation mostly ask for full-resolution output: its ``test.py`` resizes
every image to 256 px. The generator is fully convolutional, so here an image runs at its own size:
it is reflection-padded to a multiple of :data:`~artlens.translate.networks.GENERATOR_MULTIPLE` and the
output cropped back, so the result has exactly the input's size (odd sizes too).

An image with a side beyond ``tile`` pixels runs tile by tile instead (a 4000 px photo needs gigabytes
of activations at once, a 512 px tile a few hundred megabytes). Two things keep the tiles from showing:

* **one set of instance-norm statistics for the whole image.** Instance norm normalises each feature
  map by its own mean and variance; per tile, a sky tile and a forest tile would be normalised
  differently and the seams would show as steps of brightness. :func:`norm_statistics` records every
  norm layer's mean and variance on the whole image (on a copy downscaled to ``stats_size`` pixels when
  it is larger), and :func:`fixed_norm` makes every tile use them.
* **overlapping tiles with feathered seams**: neighbouring tiles overlap by ``overlap`` pixels and are
  blended with linear ramps that sum to one, so no tile's border (where its padding differs from the
  real neighbourhood) shows.

Away from tile borders a tiled run matches the untiled one closely (``tests/translate``).

>>> from artlens.translate import Translator
>>> painter = Translator.load("runs/cyclegan/model")                                # doctest: +SKIP
>>> painter.translate(open_image("photo_4000px.jpg"), direction="a2b", tile=512)     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..data.images import UnreadableImage, load_image
from ..errors import ArtlensError
from ..inference import default_device
from ..models.bundle import default_translator_path
from ..predict import expand_inputs
from ..style.images import as_rgb, fit_size, to_pil, to_tensor
from .bundle import DIRECTIONS, builtin_translator, load_translator
from .networks import GENERATOR_MULTIPLE, to_signed, to_unit

__all__ = ["TranslateConfig", "TranslateResult", "Translator", "fixed_norm", "norm_statistics", "run_padded",
           "run_tiled", "translate_images"]

Stats = dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    # At least two multiples: the residual blocks reflect-pad the quarter-resolution map by one pixel,
    # which needs two pixels there.
    ph, pw = max(-h % multiple, 2 * multiple - h), max(-w % multiple, 2 * multiple - w)
    if ph or pw:
        # Reflection needs the pad below the side; a 1-3 px side falls back to repeating the edge.
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


def run_padded(net: nn.Module, x: torch.Tensor, multiple: int = GENERATOR_MULTIPLE) -> torch.Tensor:
    """``net(x)`` for any ``H x W``: reflection-padded to ``multiple`` on the bottom and right, cropped back."""
    padded, h, w = _pad_to_multiple(x, multiple)
    return net(padded)[..., :h, :w]


def _norms(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.modules.instancenorm._InstanceNorm)]


@torch.no_grad()
def norm_statistics(net: nn.Module, x: torch.Tensor, multiple: int = GENERATOR_MULTIPLE) -> Stats:
    """Each instance-norm layer's per-channel mean and (biased) variance when ``net`` runs on ``x``."""
    stats: Stats = {}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        t = inputs[0].float()
        stats[module] = (t.mean(dim=(-2, -1), keepdim=True), t.var(dim=(-2, -1), unbiased=False, keepdim=True))

    hooks = [m.register_forward_pre_hook(record) for m in _norms(net)]
    try:
        run_padded(net, x, multiple)
    finally:
        for h in hooks:
            h.remove()
    return stats


@contextmanager
def fixed_norm(net: nn.Module, stats: Stats) -> Iterator[None]:
    """Within the block, every instance-norm layer of ``net`` normalises with ``stats`` instead of its input's own."""

    def replace(module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> torch.Tensor:
        mean, var = stats[module]
        out = (inputs[0].float() - mean) / torch.sqrt(var + module.eps)
        if module.affine:
            out = out * module.weight[None, :, None, None] + module.bias[None, :, None, None]
        return out.to(inputs[0].dtype)

    hooks = [m.register_forward_hook(replace) for m in _norms(net)]
    try:
        yield
    finally:
        for h in hooks:
            h.remove()


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile starts spread evenly from 0 to ``length - tile``, at most ``stride`` apart."""
    if length <= tile:
        return [0]
    n = -(-(length - tile) // stride) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _ramp(size: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """1 inside; a linear ramp over ``overlap`` pixels at a side shared with a neighbour tile (the
    accumulated weights are divided out, so tiles overlapping by more than ``overlap`` blend too)."""
    w = torch.ones(size)
    if overlap > 0:
        up = (torch.arange(min(overlap, size)) + 0.5) / overlap
        if not first:
            w[:len(up)] = up
        if not last:
            w[size - len(up):] = torch.minimum(w[size - len(up):], up.flip(0))
    return w


@torch.no_grad()
def run_tiled(net: nn.Module, x: torch.Tensor, *, tile: int, overlap: int, stats: Stats | None = None,
              multiple: int = GENERATOR_MULTIPLE, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """``net(x)`` computed tile by tile (``tile`` px squares overlapping by ``overlap`` px, feathered),
    every tile normalised with ``stats`` (default: :func:`norm_statistics` of the whole ``x``).

    Only one tile's activations exist at a time; the output is accumulated on ``x``'s device.
    """
    if tile < 16 or not 0 <= overlap < tile // 2 + 1:
        raise ArtlensError(f"--tile must be at least 16 and --overlap in [0, tile/2], got {tile} and {overlap}")
    n, _, h, w = x.shape
    stats = stats if stats is not None else norm_statistics(net, x, multiple)
    ys, xs = _starts(h, tile, tile - overlap), _starts(w, tile, tile - overlap)
    out = torch.zeros(n, 3, h, w, device=x.device)
    total_weight = torch.zeros(h, w, device=x.device)
    total, done = len(ys) * len(xs), 0
    with fixed_norm(net, stats):
        for i, y0 in enumerate(ys):
            th = min(tile, h)
            wy = _ramp(th, overlap, i == 0, i == len(ys) - 1)
            for j, x0 in enumerate(xs):
                tw = min(tile, w)
                wx = _ramp(tw, overlap, j == 0, j == len(xs) - 1)
                weight = (wy[:, None] * wx[None, :]).to(x.device)
                part = run_padded(net, x[..., y0:y0 + th, x0:x0 + tw], multiple).float()
                out[..., y0:y0 + th, x0:x0 + tw] += part * weight
                total_weight[y0:y0 + th, x0:x0 + tw] += weight
                done += 1
                if progress is not None:
                    progress(done, total)
    return out / total_weight


class Translator:
    """Both generators of an image-translation bundle, ready to translate PIL images in either direction.

    >>> painter = Translator.load("runs/cyclegan/model", device="cpu")                   # doctest: +SKIP
    >>> painting = painter.translate(photo, direction="a2b")        # same size as photo  # doctest: +SKIP
    """

    def __init__(self, generators: dict[str, nn.Module], meta: dict[str, Any], device: torch.device) -> None:
        self.generators, self.meta, self.device = generators, meta, device

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, device: str = "cpu") -> Translator:
        """The bundle at ``path`` (None: the photo -> Impressionism model shipped with artlens)."""
        dev = default_device(device)
        generators, meta = load_translator(_bundle_or_builtin(path), device=dev)
        return cls(generators, meta, dev)

    @property
    def domains(self) -> dict[str, str]:
        """What the bundle says domains ``a`` and ``b`` were (folders and image counts)."""
        return dict(self.meta.get("domains") or {})

    def translate(self, image: Image.Image, *, direction: str = "a2b", size: int = 0, tile: int = 512,
                  overlap: int = 64, stats_size: int = 1024,
                  progress: Callable[[int, int], None] | None = None) -> Image.Image:
        """``image`` translated by the ``direction`` generator, at its own size (or the longer side ``size``).

        Images with a side beyond ``tile`` (0: never) run tiled, normalised with instance-norm statistics
        of the whole image (of a copy whose longer side is ``stats_size`` when it is larger).
        """
        if direction not in DIRECTIONS:
            raise ArtlensError(f"--direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
        img = fit_size(as_rgb(image), size) if size else as_rgb(image)
        x = to_signed(to_tensor(img).to(self.device))
        net = self.generators[direction]
        with torch.no_grad():
            h, w = x.shape[-2:]
            if not tile or max(h, w) <= tile:
                y = run_padded(net, x)
            else:
                small = x
                if stats_size and max(h, w) > stats_size:
                    scale = stats_size / max(h, w)
                    small = F.interpolate(x, size=(max(4, round(h * scale)), max(4, round(w * scale))),
                                          mode="bilinear", align_corners=False, antialias=True)
                y = run_tiled(net, x, tile=tile, overlap=overlap, stats=norm_statistics(net, small),
                              progress=progress)
        return to_pil(to_unit(y.float()))


def _bundle_or_builtin(path: str | os.PathLike | None) -> str | os.PathLike:
    if path:
        return path
    builtin = builtin_translator()
    if builtin is None:
        raise ArtlensError(f"this installation has no built-in CycleGAN ({default_translator_path()} is missing): "
                           "pass --model, an image-translation bundle folder")
    return builtin


@dataclass
class TranslateConfig:
    """``artlens cyclegan apply``: which bundle, which direction, and how large images are cut."""

    model: str = ""
    """Image-translation bundle folder (``<run>/model`` of ``artlens cyclegan train``); empty: the one shipped
    with artlens (photo to Impressionist painting)."""
    direction: str = field(default="a2b", metadata={"choices": DIRECTIONS})
    """``a2b`` (domain A to B, e.g. photo to painting) or ``b2a``."""
    out: str = "translated"
    """Folder for the results (PNG, named after each input)."""
    size: int = 0
    """Longer side to resize each image to first (0: its own size)."""
    tile: int = 512
    """Images with a side beyond this run in tiles of this side (0: never tile)."""
    overlap: int = 64
    """Pixels neighbouring tiles share; the seams are blended across them."""
    stats_size: int = 1024
    """Longer side of the copy a tiled image's instance-norm statistics are taken from (its own size if smaller)."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ArtlensError(f"--direction {self.direction!r}: choose one of {', '.join(DIRECTIONS)}")
        if self.tile and (self.tile < 16 or not 0 <= self.overlap <= self.tile // 2):
            raise ArtlensError(f"--tile must be 0 or at least 16, and --overlap in [0, tile/2]; got {self.tile}, "
                               f"{self.overlap}")
        if self.size < 0 or self.stats_size < 0:
            raise ArtlensError(f"--size and --stats-size must be >= 0, got {self.size}, {self.stats_size}")


@dataclass
class TranslateResult:
    """What :func:`translate_images` wrote (input -> output) and what it could not read."""

    written: list[tuple[Path, Path]]
    skipped: list[tuple[Path, str]]
    seconds: float


def translate_images(inputs: Sequence[str | os.PathLike], cfg: TranslateConfig, *,
                     callback: Callable[[int, int], None] | None = None) -> TranslateResult:
    """Translate image files and folders (recursively) into ``cfg.out`` as PNGs of the inputs' own sizes.

    An unreadable file is skipped and reported, never the end of the run. ``callback(done, total)``
    follows every image.
    """
    import time

    model = _bundle_or_builtin(cfg.model)  # before any work: a missing model fails first
    files = expand_inputs(inputs)
    if not files:
        raise ArtlensError("no input images given")
    translator = Translator.load(model, device=cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped, t0 = [], [], time.perf_counter()
    names: set[str] = set()
    for i, path in enumerate(files):
        try:
            image = load_image(path)
        except UnreadableImage as err:
            skipped.append((path, err.reason))
        else:
            result = translator.translate(image, direction=cfg.direction, size=cfg.size, tile=cfg.tile,
                                          overlap=cfg.overlap, stats_size=cfg.stats_size)
            name = f"{path.stem}_{cfg.direction}.png"
            k = 1
            while name in names:  # the same stem in two input folders
                k += 1
                name = f"{path.stem}_{cfg.direction}_{k}.png"
            names.add(name)
            result.save(out / name)
            written.append((path, out / name))
        if callback is not None:
            callback(i + 1, len(files))
    return TranslateResult(written, skipped, round(time.perf_counter() - t0, 2))
