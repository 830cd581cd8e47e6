"""Commands: ``artlens stylize gatys|reconstruct|adain-train|adain`` and ``artlens trajectory``.

Thin wrappers: their flags are the fields of the config dataclasses of :mod:`artlens.style` (via
``cli/_flags.py``); each builds its config, calls one library function with a progress bar and prints
a short summary. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import ArtlensError, default_device
from ..style import AdainConfig, AdainTrainConfig, GatysConfig, ReconstructConfig, TrajectoryConfig, open_image
from ._flags import DeviceOption, config_flags, csv_floats, with_flags
from .app import app, out_console

stylize_app = typer.Typer(no_args_is_help=True, help="Neural style transfer: Gatys, layer reconstructions, AdaIN.")
app.add_typer(stylize_app, name="stylize")


def _image_out(out: Path) -> Path:
    """``out`` if Pillow can write an RGB image under that name; checked before minutes of optimisation.

    A known suffix is not enough: some formats Pillow reads cannot hold RGB (``.xbm`` is 1-bit), and
    an existing folder called ``result.png`` fails only when the result is saved. A 1x1 image is
    encoded in memory to ask the format itself.
    """
    import io

    from PIL import Image

    if out.is_dir():
        raise ArtlensError(f"--out {out}: is a folder; give an image file name such as {out / 'result.png'}")
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None:
        raise ArtlensError(f"--out {out}: not an image file name; end it in .png or .jpg")
    try:
        Image.new("RGB", (1, 1)).save(io.BytesIO(), format=fmt)
    except (OSError, KeyError, ValueError):
        raise ArtlensError(f"--out {out}: Pillow cannot write an RGB image as {fmt}; end it in .png or .jpg") from None
    return out


def _device(device: str) -> str:
    return str(default_device(device))


def _resolved(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with ``--device auto`` (the commands' default; the configs' is ``cpu``) resolved."""
    return {**given, "device": _device(given["device"])}


def _loss_postfix(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in losses.items())


#: What differs from the configs' defaults: ``vgg19`` as typed (a resumed AdaIN run compares the name it
#: recorded) and ``--device auto``, resolved when the command runs.
CLI_DEFAULTS = {"extractor": "vgg19", "encoder": "vgg19", "device": "auto"}
ContentImage = Annotated[Path, typer.Option("--content", help="Content image.")]
ImageOut = Annotated[Path, typer.Option("--out", help="Output image (.png, .jpg).")]


@stylize_app.command()
@with_flags(config_flags(GatysConfig, skip={"save_dir"}, defaults=CLI_DEFAULTS))
def gatys(
    content: ContentImage,
    style: Annotated[list[Path], typer.Option(help="Style image (repeat to blend several).")],
    out: ImageOut,
    *, given: dict[str, Any],
) -> None:
    """Gatys et al. style transfer: optimise the pixels of the content image towards the style."""
    _image_out(out)
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..style import level_plan, load_extractor, run_gatys

    cfg = GatysConfig(**_resolved(given), save_dir=str(out.with_suffix("")) + "_steps" if given.get("save_every") else None)
    content_img = open_image(content, "content image")
    style_imgs = [open_image(p, "style image") for p in style]
    judge = load_extractor(cfg.extractor, weights=cfg.weights, device=cfg.device)  # fails before the bar starts
    state: dict[str, float] = {}
    total = sum(n for _, n in level_plan(cfg, content_img.size, extractor=judge))  # merged levels run once
    with progress_bar(total, "gatys", postfix=lambda: _loss_postfix(state)) as advance:
        def callback(step: int, _total: int, losses: dict[str, float]) -> None:
            state.clear()
            state.update(losses)
            advance(1)

        result = run_gatys(content_img, style_imgs, cfg, callback=callback, extractor=judge)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(out)
    first, last = result.history[0], result.history[-1]
    sizes = " -> ".join(f"{w}x{h}" for w, h in result.sizes)
    out_console.print(f"wrote {out} ({sizes}, {len(result.history)} iterations, {result.seconds:.1f}s); "
                      f"style loss {first['style']:.4g} -> {last['style']:.4g}, content loss {last['content']:.4g}; "
                      f"peak memory {result.peak_memory_mb:.0f} MB ({result.memory_kind})", highlight=False)


@stylize_app.command()
@with_flags(config_flags(ReconstructConfig, skip={"models"}, defaults=CLI_DEFAULTS))
def reconstruct(
    image: Annotated[Path, typer.Option(help="Image to reconstruct.")],
    out: Annotated[Path, typer.Option(help="Grid figure PNG.")],
    model: Annotated[Optional[list[str]], typer.Option(help="Extractor per row: backbone name or bundle folder (repeatable).")] = None,
    *, given: dict[str, Any],
) -> None:
    """Reconstruct an image's content or style from single layers of one or more models (a grid PNG)."""
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..style import figure_out, grid_layers, load_extractors, reconstruction_grid

    figure_out(out)  # a name matplotlib cannot write fails now, not after the reconstructions
    cfg = ReconstructConfig(**_resolved(given), models=model or [CLI_DEFAULTS["extractor"]])
    picture = open_image(image, "image")
    extractors = load_extractors(cfg)  # a missing model or layer fails before the bar starts
    columns = grid_layers(cfg, extractors)
    state: dict[str, float] = {}
    with progress_bar(len(cfg.models) * len(columns) * cfg.steps, f"reconstruct {cfg.kind}",
                      postfix=lambda: _loss_postfix(state)) as advance:
        def callback(_step: int, _total: int, losses: dict[str, float]) -> None:
            state.update(losses)
            advance(1)

        summary = reconstruction_grid(picture, cfg, out, callback=callback, extractors=extractors)
    for name, per_layer in summary["losses"].items():
        out_console.print(f"{name}: " + ", ".join(f"{layer} {loss:.3g}" for layer, loss in per_layer.items()),
                          highlight=False)
    out_console.print(f"wrote {summary['figure']}", highlight=False)


@stylize_app.command("adain-train")
@with_flags(config_flags(AdainTrainConfig, required={"content", "style"}, defaults=CLI_DEFAULTS))
def adain_train(*, given: dict[str, Any]) -> None:
    """Train an AdaIN decoder (Huang & Belongie) and save it as a decoder bundle."""
    from .. import train_decoder
    from ..progress import training_steps

    cfg = AdainTrainConfig(**_resolved(given))
    with training_steps(cfg.steps, "adain-train") as (callback, state):
        bundle = train_decoder(cfg, callback=callback)
    if not state:  # resumed at its last step: no step was left to train (train_decoder has said so)
        out_console.print(f"decoder bundle: {bundle} (no step left to train: the run was already at step {cfg.steps})",
                          highlight=False)
        return
    out_console.print(f"decoder bundle: {bundle}; samples: {Path(cfg.out) / 'samples'}; "
                      f"last losses: {_loss_postfix(state)}", highlight=False)


@stylize_app.command()
@with_flags(config_flags(AdainConfig, defaults=CLI_DEFAULTS))
def adain(
    content: ContentImage,
    style: Annotated[list[Path], typer.Option(help="Style image (repeat to interpolate several).")],
    out: ImageOut,
    *, given: dict[str, Any],
) -> None:
    """AdaIN arbitrary style transfer in one pass (the built-in decoder unless --decoder is given)."""
    _image_out(out)
    from ..style import AdainStylizer, run_adain

    cfg = AdainConfig(**_resolved(given))
    stylizer = AdainStylizer.load(cfg.decoder or None, device=cfg.device, weights=cfg.weights)
    result = run_adain(open_image(content, "content image"), [open_image(p, "style image") for p in style], cfg,
                       stylizer=stylizer)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(out)
    out_console.print(f"wrote {out} ({result.image.width}x{result.image.height}, alpha {cfg.alpha}, "
                      f"{result.seconds:.2f}s; decoder {stylizer.meta.get('name', cfg.decoder)}, encoder "
                      f"{stylizer.meta['encoder']} {stylizer.layer})", highlight=False)


#: The trajectory's own sizes for its stylisations (the classifier sees 224 px).
_TRAJECTORY_ADAIN = TrajectoryConfig.__dataclass_fields__["adain"].default_factory()  # type: ignore[misc]


@app.command()
@with_flags(config_flags(TrajectoryConfig, skip={"adain.alpha", "adain.style_weights", "adain.device"},
                         required={"pairs", "reference"},
                         defaults={**CLI_DEFAULTS, "adain.content_size": _TRAJECTORY_ADAIN.content_size,
                                   "adain.style_size": _TRAJECTORY_ADAIN.style_size}))
def trajectory(*, given: dict[str, Any]) -> None:
    """Trace AdaIN results at several alphas through a classifier's per-layer PCA spaces (one panel per layer)."""
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..style import read_pairs, run_trajectory

    cfg = TrajectoryConfig(**_resolved(given))
    total = len(read_pairs(cfg.pairs)) * len(cfg.alphas)
    with progress_bar(total, "stylise") as advance:
        result = run_trajectory(cfg, callback=lambda _done, _total: advance(1))
    for layer, d in result.data["layers"].items():
        out_console.print(f"{layer}: mean path length {d['path_length']:.3g} "
                          f"(PC1+PC2 explain {sum(d['explained_variance']):.0%})", highlight=False)
    out_console.print(f"wrote {result.figure} and {len(result.strips)} strip(s) in {Path(cfg.out) / 'strips'}",
                      highlight=False)


__all__ = ["stylize_app"]
