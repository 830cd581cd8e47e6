"""Gatys et al. (2016), *Image Style Transfer Using Convolutional Neural Networks*: optimise the pixels.

Start from the content photo (or the style, or noise) and change its pixels until its feature maps
at the content layers match the photo's and its Gram matrices at the style layers match the
painting's. Any backbone works as the judge: VGG19 (the paper), the ResNet50 layer set of the Best
Artworks study, EfficientNet-Lite0 (real weights offline) or a fine-tuned artlens bundle.

High resolutions are solved coarse-to-fine (``scales``): solve at a quarter or half size, upsample,
refine. The big image then needs only a few iterations, and the peak memory of each run is reported.

Each extractor family has a preset (:data:`PRESETS`): its layers and the defaults tuned for it (loss
balance, total-variation weight, number of scales). VGG19's are the paper's. The offline
EfficientNet-Lite0 needs its own: with the paper's recipe (one scale, no TV) it keeps the photo's fine
detail and adds per-pixel colour speckle; solving at half size first repaints the whole scene, and a
strong TV prior takes most of the speckle away (``docs/style.md``, ``scripts/gatys_defaults_figure.py``).
An option set explicitly always wins over the preset (:func:`resolve_preset`).

>>> from PIL import Image
>>> from artlens.style.gatys import GatysConfig, stylize_gatys
>>> cfg = GatysConfig(extractor="efficientnet_lite0", steps=50, size=256)
>>> img = stylize_gatys(Image.open("photo.jpg"), [Image.open("starry.jpg")], cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from PIL import Image

from .._registry import Registry
from ..config import register_names
from ..errors import ArtlensError
from ..inference import default_device
from .extractor import DEFAULT_EXTRACTOR, Extractor, load_extractor
from .images import (COLOR_MODES, as_rgb, check_side, fit_size, match_color, preserve_color, resize_like, to_pil,
                     to_tensor)
from .losses import content_loss, gram_matrix, style_loss, tv_loss

__all__ = ["INITS", "OPTIMIZERS", "PRESETS", "GatysConfig", "GatysResult", "LayerPreset", "default_preset",
           "level_plan", "peak_memory_mb", "resolve_preset", "run_gatys", "stylize_gatys"]

Callback = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class LayerPreset:
    """Which layers judge content and style, how much each term weighs and how many coarse-to-fine
    scales a run takes, for one extractor family (the :class:`GatysConfig` fields left at None)."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    content_weight: float = 1.0
    style_weight: float = 1e5
    source: str = ""
    tv_weight: float = 0.0
    """Total-variation weight: 0 in the paper; a prior against per-pixel speckle where a network needs one."""
    scales: int = 1
    """Coarse-to-fine levels: 2 solves the layout at half size first, so strokes span the whole scene."""


#: Named layer sets (``--preset``); the default is picked from the extractor (:func:`default_preset`).
PRESETS: Registry[LayerPreset] = Registry("layer preset")
PRESETS.add("gatys", LayerPreset(("conv4_2",), ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
                                 source="Gatys et al. 2016 (VGG19)"))
# The Best Artworks study (seed 003) used Keras names; these are the same tensors in PyTorch. Its
# random-searched weights (style 0.036, content 0.036, lr 2.0 with Adam) assume Keras' loss scaling,
# so only their ratio (about 1) carries over; the weights below are in artlens' scaling.
PRESETS.add("best-artworks-vgg19", LayerPreset(("conv3_4",), ("conv1_1", "conv2_2", "conv3_3", "conv4_4", "conv5_2"),
                                               source="Best Artworks study, VGG19 (block3_conv4; block1_conv1 ...)"))
PRESETS.add("best-artworks-resnet50", LayerPreset(("layer2",), ("act1", "layer1", "layer2", "layer3", "layer4"),
                                                  style_weight=1e4,
                                                  source="Best Artworks study, ResNet50 (conv3_block4_out; conv1_relu ...)"))
# EfficientNet-Lite0 (the offline judge). Style weight 1e4 at one scale without TV kept the photo's
# detail and sprinkled per-pixel colour speckle. The sweep of scripts/gatys_defaults_figure.py on
# style_refs (docs/style.md, "Defaults for the offline extractor"): solving at half size first (2
# scales) repaints the whole scene with strokes the size of the painting's; style 3e4 repaints a little
# more; TV only acts from about 1000 on (TV is a mean over pixels, so its gradient per pixel is tiny):
# 5000 brings the colour speckle most of the way to the painting's own for a small rise in style loss,
# 20000 all the way but blurs the strokes.
PRESETS.add("lite0", LayerPreset(("blocks.2",), ("bn1", "blocks.0", "blocks.1", "blocks.2", "blocks.4"),
                                 style_weight=3e4, tv_weight=5000.0, scales=2,
                                 source="artlens, tuned for efficientnet_lite0 (scripts/gatys_defaults_figure.py)"))

#: Extractor name fragment -> its family's preset (the first match wins).
_FAMILIES = (("vgg", "gatys"), ("resnet50", "best-artworks-resnet50"), ("efficientnet_lite0", "lite0"))


def default_preset(extractor: Extractor) -> LayerPreset:
    """The preset matching the extractor's architecture; otherwise its stages (content = middle one).

    A name alone does not decide: torchvision's ResNet50 has no ``act1`` and ``pandora_vgg_lite``
    no ``conv4_2``, so a family's preset is used only where all its layers exist.
    """
    name = extractor.name.lower()
    for family, preset_name in _FAMILIES:
        if family in name:
            preset = PRESETS.get(preset_name)
            try:
                extractor.check_layers([*preset.content_layers, *preset.style_layers])
            except ArtlensError:
                continue
            return preset
    stages = tuple(extractor.map_stages())
    if not stages:
        raise ArtlensError(f"extractor {extractor.name!r} has no named stages: pass --content-layers and --style-layers")
    return LayerPreset((stages[len(stages) // 2],), stages, source=f"stages of {extractor.name}")


def _lbfgs(params: list[torch.Tensor], lr: float | None) -> torch.optim.Optimizer:
    # One iteration per step() so that callbacks, progress and snapshots see every iteration.
    return torch.optim.LBFGS(params, lr=lr or 1.0, max_iter=1, history_size=50)


def _adam(params: list[torch.Tensor], lr: float | None) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr or 0.02)


#: ``--optimizer``: L-BFGS (the paper's, converges in a few hundred steps) or Adam (cheaper steps).
OPTIMIZERS: Registry[Callable[[list[torch.Tensor], float | None], torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.add("lbfgs", _lbfgs)
OPTIMIZERS.add("adam", _adam)


def _init_content(content: torch.Tensor, styles: list[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
    return content.clone()


def _init_style(content: torch.Tensor, styles: list[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
    return resize_like(styles[0], content).clone()


def _init_noise(content: torch.Tensor, styles: list[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
    return torch.rand(content.shape, generator=gen).to(content.device)


#: ``--init``: where the pixels start.
INITS: Registry[Callable[[torch.Tensor, list[torch.Tensor], torch.Generator], torch.Tensor]] = Registry("init")
INITS.add("content", _init_content)
INITS.add("style", _init_style)
INITS.add("noise", _init_noise)


@dataclass
class GatysConfig:
    """Everything one Gatys run needs; the CLI builds this unchanged from its flags."""

    extractor: str = DEFAULT_EXTRACTOR
    """Backbone name (``vgg19``, ``efficientnet_lite0``, ``resnet50``, any timm/torchvision name) or bundle dir."""
    weights: str | None = None
    """Extractor weights: a local file, ``none`` (random: tests only), or None for the default source."""
    preset: str | None = None
    """Layer preset (:data:`PRESETS`); None picks one from the extractor."""
    content_layers: list[str] | None = None
    """Content layers, e.g. ``conv4_2`` (default: the preset's)."""
    style_layers: list[str] | None = None
    """Style layers, e.g. ``conv1_1,conv2_1,conv3_1,conv4_1,conv5_1`` (default: the preset's)."""
    style_layer_weights: list[float] | None = None
    """One weight per style layer (default: equal)."""
    content_weight: float | None = None
    """Content loss weight (default: the preset's)."""
    style_weight: float | None = None
    """Style loss weight (default: the preset's)."""
    tv_weight: float | None = None
    """Total-variation weight (smoothness; default: the preset's, 0 for VGG19, 5000 for efficientnet_lite0)."""
    optimizer: str = "lbfgs"
    lr: float | None = None
    """Step size; None = 1.0 for L-BFGS, 0.02 for Adam (pixels are in [0, 1])."""
    steps: int = 300
    """Iterations at the first (coarsest) scale."""
    refine_steps: int | None = None
    """Iterations at each finer scale (default: steps // 2)."""
    scales: int | None = None
    """Coarse-to-fine levels: 3 at size 1024 solves at 256, then 512, then 1024 (default: the preset's,
    1 for VGG19, 2 for efficientnet_lite0)."""
    size: int = 512
    """Longer side of the result in pixels (0 keeps the content's size)."""
    style_scale: float = 1.0
    """Style images are resized to ``style_scale`` x the content's longer side (bigger = larger strokes)."""
    style_weights: list[float] | None = None
    """Blend of several style images (normalised to sum to 1; default equal)."""
    init: str = "content"
    """Starting pixels: the content image, the (first) style image, or noise."""
    preserve_color: str = field(default="none", metadata={"choices": COLOR_MODES})
    """``none``, ``luminance`` (keep the content's chroma) or ``histogram`` (recolour the styles first)."""
    device: str = "cpu"
    seed: int = 0
    """Seed of the random generator (the noise start)."""
    save_every: int = 0
    """Write an intermediate PNG every K iterations into ``save_dir`` (0 = never)."""
    save_dir: str | None = None

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.optimizer)
        INITS.get(self.init)
        if self.preset is not None:
            PRESETS.get(self.preset)
        if self.preserve_color not in COLOR_MODES:
            raise ArtlensError(f"--preserve-color: {self.preserve_color!r} is not one of {', '.join(COLOR_MODES)}")
        for name in ("steps", "scales"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ArtlensError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.tv_weight is not None and self.tv_weight < 0:
            raise ArtlensError(f"--tv-weight must be >= 0, got {self.tv_weight:g}")
        check_side(self.size, "--size")
        if self.style_scale <= 0:
            raise ArtlensError(f"--style-scale must be > 0, got {self.style_scale}")
        if self.save_every and not self.save_dir:
            raise ArtlensError("--save-every needs a folder for the intermediate images (--save-dir)")


register_names(GatysConfig, "optimizer", OPTIMIZERS.names)
register_names(GatysConfig, "init", INITS.names)
register_names(GatysConfig, "preset", PRESETS.names)


@dataclass
class GatysResult:
    image: Image.Image
    history: list[dict[str, float]] = field(default_factory=list)
    """Loss terms at every iteration (all scales, in order)."""
    sizes: list[tuple[int, int]] = field(default_factory=list)
    """(width, height) solved at each scale."""
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    memory_kind: str = ""
    layers: dict[str, list[str]] = field(default_factory=dict)


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """Peak memory so far: allocated CUDA memory on a GPU, else the process' peak resident set (RSS)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS"


def resolve_preset(cfg: GatysConfig, extractor: Extractor | None = None) -> LayerPreset:
    """What a run of ``cfg`` uses: ``--preset`` or the extractor's family preset, with every option
    ``cfg`` sets explicitly (layers, weights, TV, scales) laid over it: an explicit option always wins.

    Without the loaded ``extractor`` the family is read from the name in ``cfg.extractor`` (what the
    server's cost estimate and a progress bar know before loading it); a bundle folder's family is
    then unknown, and the plain defaults (1 scale, no TV) stand in for it.

    >>> resolve_preset(GatysConfig(extractor="efficientnet_lite0")).scales
    2
    >>> resolve_preset(GatysConfig(extractor="efficientnet_lite0", scales=1, tv_weight=0.0)).tv_weight
    0.0
    """
    if cfg.preset:
        base = PRESETS.get(cfg.preset)
    elif extractor is not None:
        base = default_preset(extractor)
    else:
        name = cfg.extractor.lower()
        base = next((PRESETS.get(p) for family, p in _FAMILIES if family in name), LayerPreset((), ()))

    def pick(value, default):
        return default if value is None else value

    return replace(base, content_layers=tuple(cfg.content_layers or base.content_layers),
                   style_layers=tuple(cfg.style_layers or base.style_layers),
                   content_weight=pick(cfg.content_weight, base.content_weight),
                   style_weight=pick(cfg.style_weight, base.style_weight),
                   tv_weight=pick(cfg.tv_weight, base.tv_weight), scales=pick(cfg.scales, base.scales))


def _resolve_layers(cfg: GatysConfig, extractor: Extractor) -> tuple[LayerPreset, dict[str, float]]:
    preset = resolve_preset(cfg, extractor)
    weights = cfg.style_layer_weights or [1.0] * len(preset.style_layers)
    if len(weights) != len(preset.style_layers):
        raise ArtlensError(f"--style-layer-weights: {len(weights)} weights for {len(preset.style_layers)} style layers")
    extractor.check_layers([*preset.content_layers, *preset.style_layers])
    return preset, dict(zip(preset.style_layers, weights))


def _blend(styles: Sequence[Image.Image], weights: Sequence[float] | None) -> list[float]:
    weights = list(weights) if weights else [1.0] * len(styles)
    if len(weights) != len(styles):
        raise ArtlensError(f"--style-weights: {len(weights)} weights for {len(styles)} style images")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ArtlensError("--style-weights must be non-negative and not all zero")
    return [w / sum(weights) for w in weights]


def _scale_sizes(size: int, scales: int) -> list[int]:
    """Coarse-to-fine sides, each half the next, none below 32 px (levels that would be are merged).

    The last level is always ``size`` itself, also below 32 px: the floor merges coarse levels, it
    never enlarges the result.
    """
    return list(dict.fromkeys(max(min(32, size), size // 2 ** (scales - 1 - i)) for i in range(scales)))


def level_plan(cfg: GatysConfig, content_size: tuple[int, int], *,
               extractor: Extractor | None = None) -> list[tuple[int, int]]:
    """``(longer side, iterations)`` of each coarse-to-fine level that actually runs.

    Levels merged by the 32 px floor run once, so the total number of iterations (a progress bar's)
    is the sum over this list, not ``steps + (scales - 1) * refine_steps``. The number of scales is
    the one :func:`resolve_preset` gives: ``--scales``, else the preset's (pass the loaded ``extractor``
    where there is one, so that a bundle folder gets its family's).
    """
    sizes = _scale_sizes(cfg.size or max(content_size), resolve_preset(cfg, extractor).scales)
    refine = cfg.refine_steps if cfg.refine_steps is not None else max(1, cfg.steps // 2)
    return [(side, cfg.steps if i == 0 else refine) for i, side in enumerate(sizes)]


def optimise_image(x0: torch.Tensor, loss_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]], *,
                   optimizer: str, lr: float | None, steps: int, on_step: Callable[[int, torch.Tensor, dict], None]
                   ) -> torch.Tensor:
    """Minimise ``loss_fn(x)["total"]`` over the pixels ``x`` (kept in [0, 1]); shared with reconstructions."""
    x = x0.detach().clone().requires_grad_(True)
    opt = OPTIMIZERS.get(optimizer)([x], lr)
    last: dict[str, float] = {}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(x)
        terms["total"].backward()
        last.clear()
        last.update({k: float(v.detach()) for k, v in terms.items()})
        return terms["total"]

    for step in range(steps):
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        if not math.isfinite(last.get("total", 0.0)):
            raise ArtlensError("style transfer diverged (loss is not finite): lower --lr or the loss weights")
        on_step(step, x, dict(last))
    return x.detach()


def run_gatys(content: Image.Image, styles: Sequence[Image.Image], cfg: GatysConfig, *,
              callback: Callback | None = None, extractor: Extractor | None = None) -> GatysResult:
    """Stylise ``content`` with the blended ``styles``; returns the image, loss history and peak memory."""
    if not styles:
        raise ArtlensError("at least one style image is needed")
    device = default_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    extractor = extractor or load_extractor(cfg.extractor, weights=cfg.weights, device=device)
    preset, layer_weights = _resolve_layers(cfg, extractor)
    blend = _blend(styles, cfg.style_weights)
    content, styles = as_rgb(content), [as_rgb(s) for s in styles]  # Image.open(...) works as the CLI's images do
    gen = torch.Generator().manual_seed(cfg.seed)
    plan = level_plan(cfg, content.size, extractor=extractor)
    sizes, steps = [side for side, _ in plan], [n for _, n in plan]
    total_steps, done = sum(steps), 0
    result = GatysResult(image=content, layers={"content": list(preset.content_layers), "style": list(preset.style_layers)})
    save_dir = Path(cfg.save_dir) if cfg.save_dir else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    x: torch.Tensor | None = None
    for level, (side, n_steps) in enumerate(zip(sizes, steps)):
        c = to_tensor(fit_size(content, side)).to(device)
        style_imgs = [to_tensor(fit_size(s, max(16, round(side * cfg.style_scale)))).to(device) for s in styles]
        if cfg.preserve_color == "histogram":
            style_imgs = [match_color(s, c) for s in style_imgs]
        with torch.no_grad():
            content_targets = extractor(c, preset.content_layers)
            grams: dict[str, torch.Tensor] = {}
            for w, s in zip(blend, style_imgs):
                feats = extractor(s, preset.style_layers)
                for name in preset.style_layers:
                    grams[name] = grams.get(name, 0) + w * gram_matrix(feats[name])
        x0 = INITS.get(cfg.init)(c, style_imgs, gen) if x is None else resize_like(x, c)
        layers = list(dict.fromkeys([*preset.content_layers, *preset.style_layers]))

        def loss_fn(img: torch.Tensor) -> dict[str, torch.Tensor]:
            feats = extractor(img, layers)
            terms = {"content": preset.content_weight * content_loss(feats, content_targets),
                     "style": preset.style_weight * style_loss(feats, grams, layer_weights)}
            if preset.tv_weight:
                terms["tv"] = preset.tv_weight * tv_loss(img)
            terms["total"] = sum(terms.values())
            return terms

        def on_step(step: int, img: torch.Tensor, losses: dict[str, float], offset: int = done) -> None:
            global_step = offset + step + 1
            result.history.append({"step": global_step, "scale": level, **losses})
            if callback:
                callback(global_step, total_steps, losses)
            if save_dir and cfg.save_every and global_step % cfg.save_every == 0:
                to_pil(img).save(save_dir / f"step{global_step:05d}.png")

        x = optimise_image(x0, loss_fn, optimizer=cfg.optimizer, lr=cfg.lr, steps=n_steps, on_step=on_step)
        result.sizes.append((c.shape[-1], c.shape[-2]))
        done += n_steps
    assert x is not None
    if cfg.preserve_color == "luminance":
        x = preserve_color(x, to_tensor(fit_size(content, sizes[-1])).to(device))
    result.image = to_pil(x)
    result.seconds = time.perf_counter() - start
    result.peak_memory_mb, result.memory_kind = peak_memory_mb(device)
    return result


def stylize_gatys(content: Image.Image, styles: Sequence[Image.Image], cfg: GatysConfig | None = None, *,
                  callback: Callback | None = None) -> Image.Image:
    """The stylised image only (see :func:`run_gatys` for the loss history and memory)."""
    return run_gatys(content, styles, cfg or GatysConfig(), callback=callback).image
