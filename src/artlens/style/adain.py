"""Huang & Belongie (2017), *Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization*.

A frozen encoder (a backbone up to one layer: VGG19 ``relu4_1`` in the paper) turns content and
style into feature maps; AdaIN gives the content map the style's channel means and stds; a trained
decoder turns the result back into pixels. One forward pass per image, any style, and a strength
``alpha`` that blends the AdaIN features with the content's own (``alpha=0`` gives the content back
through the decoder, ``alpha=1`` the full transfer).

:class:`AdainStylizer` loads a decoder bundle and stylises PIL images (several styles with weights,
colour preservation, content size and crop options as in the reference ``test.py``). The decoders
and their bundles live in :mod:`artlens.style.decoder`, their training in :mod:`artlens.style.adain_train`
(both re-exported here, where they used to live).

With no decoder named, the one shipped inside the package (``adain-lite0``, for EfficientNet-Lite0)
is used, so AdaIN works offline the moment artlens is installed. :func:`stylize_adain` is the one-call
form with an :class:`AdainConfig` (the fields ``artlens stylize adain`` and the server expose).

>>> from artlens.style.adain import AdainConfig, AdainStylizer, stylize_adain
>>> stylizer = AdainStylizer.load()                                        # doctest: +SKIP
>>> img = stylizer.stylize(photo, [starry_night], alpha=0.5)               # doctest: +SKIP
>>> img = stylize_adain(photo, [starry_night], AdainConfig(alpha=0.5))     # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..errors import ArtlensError
from ..inference import default_device
from ..models.bundle import default_decoder_path
# Where these lived before the decoder and its training got their own modules: still importable from here.
from .adain_train import AdainTrainConfig, train_decoder
from .decoder import (DECODER_FORMAT, DECODERS, build_decoder, decoder_stride, default_layer, find_decoders,
                      load_decoder_bundle, save_decoder_bundle, style_layers_for)
from .extractor import Extractor, load_extractor
from .images import (COLOR_MODES, as_rgb, check_side, fit_size, match_color, preserve_color as keep_chroma,
                     round_to_multiple, to_pil, to_tensor)
from .losses import adain, channel_stats

__all__ = ["DECODERS", "DECODER_FORMAT", "AdainConfig", "AdainResult", "AdainStylizer", "AdainTrainConfig",
           "build_decoder", "builtin_decoder", "default_layer", "find_decoders", "load_decoder_bundle", "run_adain",
           "save_decoder_bundle", "style_layers_for", "stylize_adain", "train_decoder"]


def builtin_decoder() -> Path | None:
    """The decoder shipped inside the package, or None if this installation has none."""
    path = default_decoder_path()
    return path if (path / "artlens.json").is_file() else None


@dataclass
class AdainConfig:
    """One AdaIN stylisation: which decoder, how strong, at what size; ``artlens stylize adain``'s flags."""

    decoder: str = ""
    """Decoder bundle folder (from ``stylize adain-train``); empty: the one shipped with artlens."""
    weights: str | None = None
    """Encoder weights file, when the decoder's encoder is VGG19 (its weights are not shipped)."""
    alpha: float = 1.0
    """Style strength in [0, 1]: 0 gives the content back through the decoder, 1 the full transfer."""
    style_weights: list[float] | None = None
    """Interpolation weights of several style images (normalised to sum to 1; default equal)."""
    preserve_color: str = field(default="none", metadata={"choices": COLOR_MODES})
    """``none``, ``luminance`` (keep the content's chroma) or ``histogram`` (recolour the styles first)."""
    content_size: int = 512
    """Shorter side of the content image in pixels (0 keeps its size)."""
    style_size: int = 512
    """Shorter side of the style images in pixels (0 keeps their size)."""
    crop: bool = False
    """Centre-crop square images of those sizes (the reference ``test.py --crop``)."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ArtlensError(f"--alpha must be in [0, 1], got {self.alpha}")
        if self.preserve_color not in COLOR_MODES:
            raise ArtlensError(f"--preserve-color: {self.preserve_color!r} is not one of {', '.join(COLOR_MODES)}")
        check_side(self.content_size, "--content-size")
        check_side(self.style_size, "--style-size")


@dataclass
class AdainResult:
    image: Image.Image
    seconds: float
    """Wall time of the stylisation (encoder, AdaIN and decoder; not the loading of the decoder)."""
    decoder: str
    """The decoder bundle's folder."""


# -- stylising ---------------------------------------------------------------------------------

class AdainStylizer:
    """Encoder + AdaIN + decoder, ready to stylise PIL images."""

    def __init__(self, extractor: Extractor, decoder: nn.Module, *, layer: str, meta: dict | None = None) -> None:
        self.extractor = extractor
        self.decoder = decoder.to(extractor.mean.device).eval()
        self.layer = layer
        self.meta = dict(meta or {})
        self.stride = decoder_stride(self.meta["decoder"]) if "decoder" in self.meta else 8

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
             weights: str | None = None) -> "AdainStylizer":
        """Load a decoder bundle (None or "": the built-in one); its encoder is rebuilt from the name in
        the JSON (``weights`` for VGG19 files). Decoders are stored in float16 and run in float32."""
        if not path:
            path = builtin_decoder()
            if path is None:
                raise ArtlensError(f"this installation has no built-in AdaIN decoder ({default_decoder_path()} is "
                                   "missing): pass --decoder, or train one with 'artlens stylize adain-train'")
        decoder, meta = load_decoder_bundle(path)
        decoder = decoder.float()
        extractor = load_extractor(meta["encoder"], weights=weights or meta.get("encoder_weights"), device=device,
                                   option=None)
        return cls(extractor, decoder, layer=meta["layer"], meta=meta)

    @property
    def device(self) -> torch.device:
        return self.extractor.mean.device

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x, [self.layer])[self.layer]

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        return self.decoder(t)

    @torch.no_grad()
    def transfer(self, content: torch.Tensor, styles: Sequence[torch.Tensor], *, alpha: float = 1.0,
                 weights: Sequence[float] | None = None) -> torch.Tensor:
        """Tensors in ``[0, 1]`` -> stylised tensor (reference ``style_transfer`` with interpolation)."""
        if not 0.0 <= alpha <= 1.0:
            raise ArtlensError(f"--alpha must be in [0, 1], got {alpha}")
        weights = _normalise(weights, len(styles))
        c_feat = self.encode(content)
        target = torch.zeros_like(c_feat)
        for w, s in zip(weights, styles):
            s_mean, s_std = channel_stats(self.encode(s))
            target = target + w * adain(c_feat, s_mean, s_std)
        mixed = alpha * target + (1 - alpha) * c_feat
        out = self.decode(mixed)
        if out.shape[-2:] != content.shape[-2:]:
            out = F.interpolate(out, size=content.shape[-2:], mode="bilinear", align_corners=False)
        return out.clamp(0, 1)

    def stylize(self, content: Image.Image, styles: Sequence[Image.Image], *, alpha: float = 1.0,
                weights: Sequence[float] | None = None, preserve_color: str | bool = "none", content_size: int = 512,
                style_size: int = 512, crop: bool = False) -> Image.Image:
        """Stylise a PIL image; sizes resize the shorter side (0 keeps the original), ``crop`` takes the centre square.

        The result has the content's aspect ratio, and with ``content_size=0`` exactly its size. The
        decoder only returns multiples of its stride (8 or 32 px), so the network runs on the content
        resized to the nearest multiples and the decoded picture is resized back. Resizing, rather
        than padding or cropping, keeps every content pixel and nothing else in the AdaIN statistics
        (padding would add mirrored borders to them); the stretch is under half a stride per side and
        is undone exactly by the resize back. ``preserve_color``: ``histogram`` recolours the styles to
        the content's colour statistics first (the reference's ``--preserve_color``; ``True`` means this),
        ``luminance`` keeps the content's chroma in the result.
        """
        mode = {True: "histogram", False: "none"}.get(preserve_color, preserve_color)  # type: ignore[call-overload]
        if mode not in COLOR_MODES:
            raise ArtlensError(f"--preserve-color: {preserve_color!r} is not one of {', '.join(COLOR_MODES)}")
        if not styles:
            raise ArtlensError("at least one style image is needed")
        check_side(content_size, "--content-size")
        check_side(style_size, "--style-size")
        target = fit_size(as_rgb(content), content_size, longer=False, crop=crop)
        net_size = round_to_multiple(target.size, self.stride)
        c = to_tensor(target.resize(net_size, Image.BICUBIC) if net_size != target.size else target).to(self.device)
        # Styles only give channel statistics: their shape never reaches the decoder.
        s_list = [to_tensor(fit_size(as_rgb(s), style_size, longer=False, crop=crop)).to(self.device) for s in styles]
        if mode == "histogram":
            s_list = [match_color(s, c) for s in s_list]
        result = self.transfer(c, s_list, alpha=alpha, weights=weights)
        if mode == "luminance":
            result = keep_chroma(result, c)
        out = to_pil(result)
        return out.resize(target.size, Image.BICUBIC) if out.size != target.size else out


def run_adain(content: Image.Image, styles: Sequence[Image.Image], cfg: AdainConfig | None = None, *,
              stylizer: AdainStylizer | None = None) -> AdainResult:
    """Stylise ``content`` with the (blended) ``styles`` as ``cfg`` says; pass ``stylizer`` to reuse a loaded one."""
    cfg = cfg or AdainConfig()
    stylizer = stylizer or AdainStylizer.load(cfg.decoder or None, device=default_device(cfg.device),
                                              weights=cfg.weights)
    start = time.perf_counter()
    image = stylizer.stylize(content, styles, alpha=cfg.alpha, weights=cfg.style_weights,
                             preserve_color=cfg.preserve_color, content_size=cfg.content_size,
                             style_size=cfg.style_size, crop=cfg.crop)
    return AdainResult(image=image, seconds=time.perf_counter() - start,
                       decoder=str(cfg.decoder or builtin_decoder() or ""))


def stylize_adain(content: Image.Image, styles: Sequence[Image.Image], cfg: AdainConfig | None = None) -> Image.Image:
    """The stylised image only (see :func:`run_adain`)."""
    return run_adain(content, styles, cfg).image


def _normalise(weights: Sequence[float] | None, n: int) -> list[float]:
    weights = list(weights) if weights else [1.0] * n
    if len(weights) != n:
        raise ArtlensError(f"--style-weights: {len(weights)} weights for {n} style images")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ArtlensError("--style-weights must be non-negative and not all zero")
    return [w / sum(weights) for w in weights]
