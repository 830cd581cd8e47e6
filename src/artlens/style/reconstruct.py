"""What one layer remembers: reconstruct an image's content or style from a single layer (ArtBench 4.2).

Gatys et al. visualise a layer by starting from noise and optimising the pixels until the layer's
feature maps (content) or their Gram matrices (style) match those of the image. Shallow layers give
the picture back almost exactly; deeper ones keep the layout but lose pixels (content) or produce
ever larger texture patches (style). Running the same image through two fine-tuned classifiers side
by side shows what fine-tuning changed in each layer.

>>> from artlens.style.reconstruct import ReconstructConfig, reconstruction_grid
>>> cfg = ReconstructConfig(models=["runs/vgg_2class/model", "runs/vgg_10class/model"],
...                         layers=["conv1_1", "conv2_1", "conv3_1"], kind="content")
>>> reconstruction_grid("surreal.jpg", cfg, "recon.png")          # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from .._registry import Registry
from ..config import register_names
from ..errors import ArtlensError
from .extractor import DEFAULT_EXTRACTOR, Extractor, load_extractor
from .gatys import OPTIMIZERS, default_preset, optimise_image
from .images import as_rgb, fit_size, open_image, to_pil, to_tensor
from .losses import gram_matrix, tv_loss

__all__ = ["RECON_INITS", "TARGETS", "ReconstructConfig", "column_layers", "figure_out", "grid_layers", "load_extractors", "reconstruct",
           "reconstruction_grid"]


def _relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Divided by the target's energy so one step size suits every layer and every model.
    return F.mse_loss(a, b) / (b.pow(2).mean() + 1e-8)


#: What to match (``--kind``): the feature maps themselves or their Gram matrices.
TARGETS: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("reconstruction kind")
TARGETS.add("content", lambda fmap: fmap)
TARGETS.add("style", gram_matrix)


def _init_noise(shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=gen)


def _init_grey(shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    # Mid-grey with a faint trace of noise (a perfectly flat start has no gradient to break symmetry).
    return 0.5 + 0.02 * (torch.rand(shape, generator=gen) - 0.5)


def _init_smooth(shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    # Noise with no pixel-scale frequencies: uniform noise at 1/8 of the size, upsampled bilinearly.
    small = torch.rand((*shape[:-2], max(2, shape[-2] // 8), max(2, shape[-1] // 8)), generator=gen)
    return 0.5 + 0.5 * (F.interpolate(small, size=shape[-2:], mode="bilinear", align_corners=False) - 0.5)


#: Where the pixels start (``--init``).
RECON_INITS: Registry[Callable[[torch.Size, torch.Generator], torch.Tensor]] = Registry("reconstruction init")
RECON_INITS.add("grey", _init_grey)
RECON_INITS.add("smooth", _init_smooth)
RECON_INITS.add("noise", _init_noise)


@dataclass
class ReconstructConfig:
    models: list[str] = field(default_factory=lambda: [DEFAULT_EXTRACTOR])
    """Extractors to compare, one row each: backbone names or trained bundle directories."""
    layers: list[str] = field(default_factory=list)
    """One column each; empty: the first model's Gatys style layers (``conv1_1`` ... ``conv5_1`` on VGG)."""
    kind: str = "content"
    """``content`` (feature maps) or ``style`` (Gram matrices)."""
    size: int = 128
    """Longer side of the reconstructions."""
    steps: int = 200
    """Iterations per reconstruction."""
    optimizer: str = "lbfgs"
    lr: float | None = None
    """Step size; None = 1.0 for L-BFGS, 0.02 for Adam."""
    tv_weight: float = 0.5
    """Total-variation prior (Mahendran & Vedaldi), weighed against the match loss, which is relative (1 at
    the start): 0.5 keeps deep layers from filling the image with pixel noise while the first layer still
    comes back sharp. 0 = none (the bare optimisation; noise from ``blocks.1`` on)."""
    init: str = "grey"
    """Where the pixels start: ``grey`` (mid-grey, a faint trace of noise: an image prior), ``smooth``
    (low-frequency noise) or ``noise`` (uniform pixel noise, what the optimisation cannot undo in deep layers)."""
    cumulative: bool = True
    """Style only: column k matches the Gram matrices of layers 1..k together (Gatys et al. 2016, Fig. 1),
    not layer k alone, whose statistics say little about colour or fine texture."""
    weights: str | None = None
    """Weights for backbone-name extractors (file, ``none``, or None for the default source)."""
    device: str = "cpu"
    seed: int = 0
    """Seed of the noise each reconstruction starts from."""

    def __post_init__(self) -> None:
        TARGETS.get(self.kind)
        RECON_INITS.get(self.init)
        if self.tv_weight < 0:
            raise ArtlensError(f"--tv-weight must be >= 0, got {self.tv_weight:g}")
        OPTIMIZERS.get(self.optimizer)
        if not self.models:
            raise ArtlensError("reconstruction needs at least one model")
        if self.steps < 1 or self.size < 16:
            raise ArtlensError("--steps must be >= 1 and --size >= 16")


register_names(ReconstructConfig, "kind", TARGETS.names)
register_names(ReconstructConfig, "optimizer", OPTIMIZERS.names)
register_names(ReconstructConfig, "init", RECON_INITS.names)


def reconstruct(image: Image.Image, extractor: Extractor, layer: str | Sequence[str], *, kind: str = "content", size: int = 128,
                steps: int = 200, optimizer: str = "lbfgs", lr: float | None = None, seed: int = 0,
                tv_weight: float = 0.5, callback: Callable[[int, int, dict[str, float]], None] | None = None,
                init: str = "grey") -> tuple[Image.Image, float]:
    """Pixels whose ``layer`` matches ``image``'s content or style; returns (image, final loss).

    ``layer`` may be several layers, matched together with equal weight (the mean of their relative
    losses): Gatys et al.'s style reconstructions use the sets conv1_1, conv1_1..conv2_1, ... ``init``
    (:data:`RECON_INITS`) is where the pixels start; ``tv_weight`` a total-variation prior.
    """
    target_of = TARGETS.get(kind)
    layers = [layer] if isinstance(layer, str) else list(layer)
    device = extractor.mean.device
    x = to_tensor(fit_size(as_rgb(image), size)).to(device)
    with torch.no_grad():
        feats = extractor(x, layers)
        targets = {name: target_of(feats[name]) for name in layers}
    gen = torch.Generator().manual_seed(seed)
    noise = RECON_INITS.get(init)(x.shape, gen).to(device)
    final = {"loss": float("nan")}

    def loss_fn(img: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = extractor(img, layers)
        terms = {"match": sum(_relative(target_of(feats[n]), targets[n]) for n in layers) / len(layers)}
        if tv_weight:
            terms["tv"] = tv_weight * tv_loss(img)
        terms["total"] = sum(terms.values())
        return terms

    def on_step(step: int, _img: torch.Tensor, losses: dict[str, float]) -> None:
        final["loss"] = losses["match"]
        if callback:
            callback(step + 1, steps, losses)

    out = optimise_image(noise, loss_fn, optimizer=optimizer, lr=lr, steps=steps, on_step=on_step)
    return to_pil(out), final["loss"]


def _labels(specs: list[str]) -> list[str]:
    """Row names: a bundle by its folder's name, or ``parent/name`` where two would read alike
    (training runs all save their bundle as ``model``); a backbone by its own name."""
    def short(spec: str, parts: int) -> str:
        return "/".join(Path(spec).parts[-parts:]) if os.sep in spec or Path(spec).is_dir() else spec

    names = [short(s, 1) for s in specs]
    return [short(s, 2) if names.count(n) > 1 else n for s, n in zip(specs, names)]


def grid_layers(cfg: ReconstructConfig, extractors: list[Extractor]) -> list[str]:
    """The grid's columns: ``cfg.layers``, or the first model's style layers, checked on every model
    (the rows compare one layer across models, so each must have it)."""
    layers = list(cfg.layers) or list(default_preset(extractors[0]).style_layers)
    for ext in extractors:
        ext.check_layers(layers)
    return layers


def column_layers(cfg: ReconstructConfig, layers: list[str], column: int) -> list[str]:
    """The layers one grid column matches: its own, or for a cumulative style grid all up to it."""
    return layers[: column + 1] if cfg.kind == "style" and cfg.cumulative else [layers[column]]


def load_extractors(cfg: ReconstructConfig) -> list[Extractor]:
    """The grid's rows, one extractor per ``cfg.models`` entry."""
    return [load_extractor(spec, weights=cfg.weights, device=cfg.device, option="--model") for spec in cfg.models]


def figure_out(out: str | os.PathLike) -> Path:
    """``out`` if matplotlib can write the grid under that name; checked before minutes of optimisation.

    Matplotlib picks the format from the suffix and, without one, silently writes ``<out>.png``: a
    name it cannot use is refused here instead of after the work (or reported under the wrong name).
    """
    from matplotlib.backend_bases import FigureCanvasBase

    out = Path(out)
    if out.is_dir():
        raise ArtlensError(f"--out {out}: is a folder; give a figure file name such as {out / 'grid.png'}")
    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix.lower().lstrip(".") not in formats:
        raise ArtlensError(f"--out {out}: not a figure file name matplotlib can write; end it in .png, .jpg, "
                           f".pdf or .svg")
    return out


def reconstruction_grid(image: str | os.PathLike | Image.Image, cfg: ReconstructConfig, out: str | os.PathLike, *,
                        callback: Callable[[int, int, dict[str, float]], None] | None = None,
                        extractors: list[Extractor] | None = None) -> dict:
    """One row per model, one column per layer (plus the original); writes ``out`` (PNG), returns the losses.

    ``extractors``: the rows already loaded by :func:`load_extractors` (the CLI loads them first so
    that a missing model fails before its progress bar starts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = figure_out(out)
    img = as_rgb(image) if isinstance(image, Image.Image) else open_image(image)
    extractors = extractors or load_extractors(cfg)
    layers = grid_layers(cfg, extractors)
    total = len(extractors) * len(layers) * cfg.steps
    cells: list[list[tuple[Image.Image, float]]] = []
    for r, ext in enumerate(extractors):
        row = []
        for c, layer in enumerate(layers):
            offset = (r * len(layers) + c) * cfg.steps

            def cb(step: int, _n: int, losses: dict[str, float], offset: int = offset) -> None:
                if callback:
                    callback(offset + step, total, losses)

            row.append(reconstruct(img, ext, column_layers(cfg, layers, c), kind=cfg.kind, size=cfg.size,
                                   steps=cfg.steps, optimizer=cfg.optimizer, lr=cfg.lr, seed=cfg.seed,
                                   tv_weight=cfg.tv_weight, init=cfg.init, callback=cb))
        cells.append(row)
    n_rows, n_cols = len(extractors), len(layers) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 2.3 * n_rows), squeeze=False)
    original = fit_size(img, cfg.size)
    labels = _labels(list(cfg.models))
    for r in range(len(cfg.models)):
        axes[r][0].imshow(original)
        axes[r][0].set_title("original", fontsize=9)
        axes[r][0].set_ylabel(labels[r], fontsize=9)
        for c, layer in enumerate(layers):
            rec, loss = cells[r][c]
            axes[r][c + 1].imshow(rec)
            span = column_layers(cfg, layers, c)
            name = layer if len(span) == 1 else f"{span[0]}…{layer}"
            axes[r][c + 1].set_title(f"{cfg.kind} {name}\nloss {loss:.3g}", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    prior = f"start {cfg.init}, TV {cfg.tv_weight:g}, {cfg.steps} {cfg.optimizer} steps, {cfg.size} px"
    fig.suptitle(f"{cfg.kind} reconstructions ({prior})", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"figure": str(out), "losses": {labels[r]: {l: cells[r][c][1] for c, l in enumerate(layers)}
                                           for r in range(len(cfg.models))}}
