"""Commands: ``artlens stylize gatys|reconstruct|adain-train|adain`` and ``artlens trajectory`` (issue 6).

Thin wrappers: parse flags, build the config dataclass of :mod:`artlens.style`, call one library
function with a progress bar, print a short summary. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import ArtlensError, default_device
from ..style import open_image
from ._flags import DeviceOption, csv_strs
from .app import app, out_console

stylize_app = typer.Typer(no_args_is_help=True, help="Neural style transfer: Gatys, layer reconstructions, AdaIN.")
app.add_typer(stylize_app, name="stylize")


def _csv_floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ArtlensError(f"{option}: expected comma-separated numbers, got {text!r}") from None


def _strs(text: str | None) -> list[str] | None:
    return None if text is None else csv_strs(text)


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


def _loss_postfix(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in losses.items())


Extractor = Annotated[str, typer.Option(help="Feature extractor: vgg19 (default, needs its weights), efficientnet_lite0 "
                                              "(offline), any backbone name, or a trained bundle folder.")]
Weights = Annotated[Optional[str], typer.Option(help="Extractor weights file (e.g. vgg19-dcbb9e9d.pth), or 'none'.")]
#: The VGG19 weights of a decoder's encoder (adain, trajectory).
EncoderWeights = Annotated[Optional[str], typer.Option(help="Encoder weights file when the decoder's encoder is VGG19.")]
Device = DeviceOption


@stylize_app.command()
def gatys(
    content: Annotated[Path, typer.Option(help="Content image.")],
    style: Annotated[list[Path], typer.Option(help="Style image (repeat to blend several).")],
    out: Annotated[Path, typer.Option(help="Output PNG/JPEG.")],
    style_weights: Annotated[Optional[str], typer.Option(help="Blend weights of the style images, e.g. 0.7,0.3.")] = None,
    extractor: Extractor = "vgg19",
    weights: Weights = None,
    preset: Annotated[Optional[str], typer.Option(help="Layer preset: gatys | best-artworks-vgg19 | best-artworks-resnet50 | lite0 (default: from the extractor).")] = None,
    content_layers: Annotated[Optional[str], typer.Option(help="Content layers, e.g. conv4_2.")] = None,
    style_layers: Annotated[Optional[str], typer.Option(help="Style layers, e.g. conv1_1,conv2_1,conv3_1,conv4_1,conv5_1.")] = None,
    style_layer_weights: Annotated[Optional[str], typer.Option(help="One weight per style layer.")] = None,
    content_weight: Annotated[Optional[float], typer.Option(help="Content loss weight (default: the preset's).")] = None,
    style_weight: Annotated[Optional[float], typer.Option(help="Style loss weight (default: the preset's).")] = None,
    tv_weight: Annotated[float, typer.Option(help="Total-variation weight (smoothness).")] = 0.0,
    optimizer: Annotated[str, typer.Option(help="lbfgs | adam")] = "lbfgs",
    lr: Annotated[Optional[float], typer.Option(help="Step size (default 1.0 for lbfgs, 0.02 for adam).")] = None,
    steps: Annotated[int, typer.Option(help="Iterations at the first scale.")] = 300,
    refine_steps: Annotated[Optional[int], typer.Option(help="Iterations at each finer scale (default steps/2).")] = None,
    scales: Annotated[int, typer.Option(help="Coarse-to-fine levels (each halves the size) for high resolution.")] = 1,
    size: Annotated[int, typer.Option(help="Longer side of the result in pixels (0 = content's size).")] = 512,
    style_scale: Annotated[float, typer.Option(help="Style image size relative to the result.")] = 1.0,
    init: Annotated[str, typer.Option(help="content | style | noise")] = "content",
    preserve_color: Annotated[str, typer.Option(help="none | luminance | histogram")] = "none",
    save_every: Annotated[int, typer.Option(help="Write an intermediate image every K iterations (0 = never).")] = 0,
    device: Device = "auto",
    seed: int = 0,
) -> None:
    """Gatys et al. style transfer: optimise the pixels of the content image towards the style."""
    _image_out(out)
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..style import GatysConfig, level_plan, load_extractor, run_gatys

    cfg = GatysConfig(extractor=extractor, weights=weights, preset=preset, content_layers=_strs(content_layers),
                      style_layers=_strs(style_layers),
                      style_layer_weights=_csv_floats(style_layer_weights, "--style-layer-weights"),
                      content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                      optimizer=optimizer, lr=lr, steps=steps, refine_steps=refine_steps, scales=scales, size=size,
                      style_scale=style_scale, style_weights=_csv_floats(style_weights, "--style-weights"), init=init,
                      preserve_color=preserve_color, device=_device(device), seed=seed, save_every=save_every,
                      save_dir=str(out.with_suffix("")) + "_steps" if save_every else None)
    content_img = open_image(content, "content image")
    style_imgs = [open_image(p, "style image") for p in style]
    judge = load_extractor(cfg.extractor, weights=cfg.weights, device=cfg.device)  # fails before the bar starts
    state: dict[str, float] = {}
    total = sum(n for _, n in level_plan(cfg, content_img.size))  # merged coarse levels run once
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
def reconstruct(
    image: Annotated[Path, typer.Option(help="Image to reconstruct.")],
    out: Annotated[Path, typer.Option(help="Grid figure PNG.")],
    model: Annotated[Optional[list[str]], typer.Option(help="Extractor per row: backbone name or bundle folder (repeatable).")] = None,
    layers: Annotated[Optional[str], typer.Option(
        help="Layers, one column each (default: the first model's style layers, conv1_1..conv5_1 on VGG).")] = None,
    kind: Annotated[str, typer.Option(help="content (feature maps) | style (Gram matrices)")] = "content",
    size: Annotated[int, typer.Option(help="Longer side of the reconstructions.")] = 128,
    steps: Annotated[int, typer.Option(help="Iterations per reconstruction.")] = 200,
    optimizer: Annotated[str, typer.Option(help="lbfgs | adam")] = "lbfgs",
    tv_weight: Annotated[float, typer.Option(help="Total-variation regulariser against pixel noise.")] = 0.0,
    weights: Weights = None,
    device: Device = "auto",
) -> None:
    """Reconstruct an image's content or style from single layers of one or more models (a grid PNG)."""
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..style import ReconstructConfig, figure_out, grid_layers, load_extractors, reconstruction_grid

    figure_out(out)  # a name matplotlib cannot write fails now, not after the reconstructions
    cfg = ReconstructConfig(models=model or ["vgg19"], layers=_strs(layers) or [], kind=kind, size=size,
                            steps=steps, optimizer=optimizer, tv_weight=tv_weight, weights=weights,
                            device=_device(device))
    picture = open_image(image, "image")
    extractors = load_extractors(cfg)  # a missing model or layer fails before the bar starts
    columns = grid_layers(cfg, extractors)
    state: dict[str, float] = {}
    with progress_bar(len(cfg.models) * len(columns) * steps, f"reconstruct {kind}",
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
def adain_train(
    content: Annotated[str, typer.Option(help="Folder of content images (searched recursively).")],
    style: Annotated[str, typer.Option(help="Folder of style images (searched recursively).")],
    out: Annotated[str, typer.Option(help="Run folder (checkpoint, samples/, log.csv, decoder/ bundle).")] = "runs/adain",
    encoder: Extractor = "vgg19",
    weights: Weights = None,
    layer: Annotated[Optional[str], typer.Option(help="Encoder layer (default relu4_1 for VGG, blocks.2 for lite0).")] = None,
    steps: Annotated[int, typer.Option(help="Training iterations (the paper: 160000).")] = 160000,
    batch_size: int = 8,
    size: Annotated[int, typer.Option(help="Random crop side.")] = 256,
    load_size: Annotated[int, typer.Option(help="Shorter side images are resized to before cropping.")] = 512,
    lr: float = 1e-4,
    style_weight: Annotated[float, typer.Option(help="Style loss weight (the paper: 10).")] = 10.0,
    content_weight: float = 1.0,
    checkpoint_every: int = 500,
    sample_every: Annotated[int, typer.Option(help="Write a sample grid every N steps.")] = 500,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from <out>/checkpoint.pt.")] = False,
    device: Device = "auto",
    seed: int = 0,
) -> None:
    """Train an AdaIN decoder (Huang & Belongie) and save it as a decoder bundle."""
    from .. import AdainTrainConfig, train_decoder
    from ..progress import progress_bar  # looked up at call time: tests swap it

    cfg = AdainTrainConfig(content=content, style=style, out=out, encoder=encoder, weights=weights, layer=layer,
                           steps=steps, batch_size=batch_size, size=size, load_size=load_size, lr=lr,
                           style_weight=style_weight, content_weight=content_weight,
                           checkpoint_every=checkpoint_every, sample_every=sample_every, resume=resume,
                           device=_device(device), seed=seed)
    state: dict[str, float] = {}
    with progress_bar(steps, "adain-train", postfix=lambda: _loss_postfix(state)) as advance:
        def callback(step: int, _total: int, losses: dict[str, float]) -> None:
            if not state:  # first report after a resume: jump the bar to where the run is
                advance(step - 1)
            state.update(losses)
            advance(1)

        bundle = train_decoder(cfg, callback=callback)
    if not state:  # resumed at its last step: no step was left to train (train_decoder has said so)
        out_console.print(f"decoder bundle: {bundle} (no step left to train: the run was already at step {steps})",
                          highlight=False)
        return
    out_console.print(f"decoder bundle: {bundle}; samples: {Path(out) / 'samples'}; "
                      f"last losses: {_loss_postfix(state)}", highlight=False)


@stylize_app.command()
def adain(
    decoder: Annotated[Path, typer.Option(help="Decoder bundle folder (from adain-train).")],
    content: Annotated[Path, typer.Option(help="Content image.")],
    style: Annotated[list[Path], typer.Option(help="Style image (repeat to interpolate several).")],
    out: Annotated[Path, typer.Option(help="Output image.")],
    alpha: Annotated[float, typer.Option(help="Style strength in [0, 1].")] = 1.0,
    style_weights: Annotated[Optional[str], typer.Option(help="Interpolation weights of the styles.")] = None,
    preserve_color: Annotated[bool, typer.Option("--preserve-color", help="Keep the content's colours.")] = False,
    content_size: Annotated[int, typer.Option(help="Shorter side of the content (0 = original).")] = 512,
    style_size: Annotated[int, typer.Option(help="Shorter side of the styles (0 = original).")] = 512,
    crop: Annotated[bool, typer.Option("--crop", help="Centre-crop square images of those sizes.")] = False,
    weights: EncoderWeights = None,
    device: Device = "auto",
) -> None:
    """AdaIN arbitrary style transfer with a trained decoder."""
    _image_out(out)
    from .. import AdainStylizer

    stylizer = AdainStylizer.load(decoder, device=_device(device), weights=weights)
    img = stylizer.stylize(open_image(content, "content image"), [open_image(p, "style image") for p in style],
                           alpha=alpha, weights=_csv_floats(style_weights, "--style-weights"),
                           preserve_color=preserve_color, content_size=content_size, style_size=style_size, crop=crop)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    out_console.print(f"wrote {out} ({img.width}x{img.height}, alpha {alpha}, encoder {stylizer.meta['encoder']} "
                      f"{stylizer.layer})", highlight=False)


@app.command()
def trajectory(
    decoder: Annotated[str, typer.Option(help="AdaIN decoder bundle.")],
    pairs: Annotated[str, typer.Option(help="CSV/TSV of content,style image paths.")],
    reference: Annotated[str, typer.Option(help="Class-folder tree on which each layer's PCA is fitted.")],
    classifier: Annotated[str, typer.Option(help="Classifier bundle whose layers are studied (default: built-in model).")] = "",
    out: Annotated[str, typer.Option(help="Output folder.")] = "runs/trajectory",
    alphas: Annotated[str, typer.Option(help="Style strengths.")] = "0,0.25,0.5,0.75,1",
    layers: Annotated[Optional[str], typer.Option(help="Classifier layers (default: its stages).")] = None,
    classes: Annotated[Optional[str], typer.Option(help="Reference classes to use (default: all sub-folders).")] = None,
    per_class: Annotated[int, typer.Option(help="Reference images per class.")] = 100,
    content_size: int = 256,
    weights: EncoderWeights = None,
    device: Device = "auto",
) -> None:
    """Trace AdaIN results at several alphas through a classifier's per-layer PCA spaces (one panel per layer)."""
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..style import TrajectoryConfig, read_pairs, run_trajectory

    cfg = TrajectoryConfig(classifier=classifier, decoder=decoder, pairs=pairs, reference=reference, out=out,
                           alphas=_csv_floats(alphas, "--alphas") or [], layers=_strs(layers),
                           classes=_strs(classes), per_class=per_class, content_size=content_size,
                           decoder_weights=weights, device=_device(device))
    total = len(read_pairs(pairs)) * len(cfg.alphas)
    with progress_bar(total, "stylise") as advance:
        result = run_trajectory(cfg, callback=lambda _done, _total: advance(1))
    for layer, d in result.data["layers"].items():
        out_console.print(f"{layer}: mean path length {d['path_length']:.3g} "
                          f"(PC1+PC2 explain {sum(d['explained_variance']):.0%})", highlight=False)
    out_console.print(f"wrote {result.figure} and {len(result.strips)} strip(s) in {Path(out) / 'strips'}",
                      highlight=False)


__all__ = ["stylize_app"]
