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
from collections.abc import Callable
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

__all__ = ["TARGETS", "ReconstructConfig", "figure_out", "grid_layers", "load_extractors", "reconstruct",
           "reconstruction_grid"]


def _relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Divided by the target's energy so one step size suits every layer and every model.
    return F.mse_loss(a, b) / (b.pow(2).mean() + 1e-8)


#: What to match (``--kind``): the feature maps themselves or their Gram matrices.
TARGETS: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("reconstruction kind")
TARGETS.add("content", lambda fmap: fmap)
TARGETS.add("style", gram_matrix)


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
    tv_weight: float = 0.0
    """Total-variation regulariser (Mahendran & Vedaldi): suppresses pixel noise in deep-layer images."""
    weights: str | None = None
    """Weights for backbone-name extractors (file, ``none``, or None for the default source)."""
    device: str = "cpu"
    seed: int = 0
    """Seed of the noise each reconstruction starts from."""

    def __post_init__(self) -> None:
        TARGETS.get(self.kind)
        OPTIMIZERS.get(self.optimizer)
        if not self.models:
            raise ArtlensError("reconstruction needs at least one model")
        if self.steps < 1 or self.size < 16:
            raise ArtlensError("--steps must be >= 1 and --size >= 16")


register_names(ReconstructConfig, "kind", TARGETS.names)
register_names(ReconstructConfig, "optimizer", OPTIMIZERS.names)


def reconstruct(image: Image.Image, extractor: Extractor, layer: str, *, kind: str = "content", size: int = 128,
                steps: int = 200, optimizer: str = "lbfgs", lr: float | None = None, seed: int = 0,
                tv_weight: float = 0.0, callback: Callable[[int, int, dict[str, float]], None] | None = None
                ) -> tuple[Image.Image, float]:
    """Pixels, from noise, whose ``layer`` matches ``image``'s content or style; returns (image, final loss)."""
    target_of = TARGETS.get(kind)
    device = extractor.mean.device
    x = to_tensor(fit_size(as_rgb(image), size)).to(device)
    with torch.no_grad():
        target = target_of(extractor(x, [layer])[layer])
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(x.shape, generator=gen).to(device)
    final = {"loss": float("nan")}

    def loss_fn(img: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {"match": _relative(target_of(extractor(img, [layer])[layer]), target)}
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

            row.append(reconstruct(img, ext, layer, kind=cfg.kind, size=cfg.size, steps=cfg.steps,
                                   optimizer=cfg.optimizer, lr=cfg.lr, seed=cfg.seed,
                                   tv_weight=cfg.tv_weight, callback=cb))
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
            axes[r][c + 1].set_title(f"{cfg.kind} {layer}\nloss {loss:.3g}", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"figure": str(out), "losses": {labels[r]: {l: cells[r][c][1] for c, l in enumerate(layers)}
                                           for r in range(len(cfg.models))}}
