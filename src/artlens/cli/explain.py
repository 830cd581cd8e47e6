"""Commands: artlens explain / layers / probe / similarity / embed (issue 5).

Thin on purpose: each command parses its flags into the library's config dataclass, calls one
function of :mod:`artlens.explain`, and prints a short summary. Heavy imports happen inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from .. import EmbedConfig, ProbeConfig, SearchConfig, SimilarityConfig
from ._flags import DeviceOption, config_flags, with_flags
from .app import ImagesArgument, ModelOption, TTAOption, app, err_console, out_console, print_sharded, styled

InputSize = Annotated[Optional[int], typer.Option(help="Override the model's input size in pixels (smaller = faster).")]


@app.command()
def explain(
    inputs: ImagesArgument,
    model: ModelOption = None,
    method: Annotated[str, typer.Option(help="CAM method (`featuremap` = channel-summed activations): "
                                             "gradcam, gradcam++, scorecam, eigencam, ...")] = "gradcam",
    layer: Annotated[Optional[str], typer.Option(help="Target layer (default: last conv block; `fine`: the deepest "
                                                      "layer twice as fine, e.g. 14x14; see `artlens layers`).")] = None,
    target: Annotated[Optional[str], typer.Option(help="Class to explain (default: the predicted class).")] = None,
    out: Annotated[str, typer.Option(help="Folder for overlays, predictions.csv and galleries.")] = "artlens-explain",
    galleries: Annotated[bool, typer.Option("--galleries", help="Input is a labelled folder: per-class galleries of correct and wrong predictions.")] = False,
    per_class: Annotated[int, typer.Option(min=1, help="Images per gallery.")] = 8,
    pick: Annotated[str, typer.Option(help="Which images a gallery shows: confident (highest probability) or random (seeded).")] = "confident",
    seed: Annotated[int, typer.Option(help="Seed of --pick random.")] = 0,
    no_overlays: Annotated[bool, typer.Option("--no-overlays", help="Do not save one overlay PNG per image.")] = False,
    no_panels: Annotated[bool, typer.Option("--no-panels", help="Do not save one captioned painting|map panel per image.")] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    input_size: InputSize = None,
    tta: TTAOption = None,
    device: DeviceOption = "auto",
) -> None:
    """Class activation maps (grad-cam) and feature-map overlays for images or whole folders."""
    from ..explain import CAM_METHODS, ExplainConfig, run_explain

    CAM_METHODS.get(method)  # an unknown method fails before the model loads
    cfg = ExplainConfig(inputs=inputs, out=out, model=model, method=method, layer=layer, target=target,
                        galleries=galleries, per_class=per_class, pick=pick, seed=seed,
                        save_overlays=not no_overlays, panels=not no_panels,
                        batch_size=batch_size, input_size=input_size, tta=tta, device=device)
    report = run_explain(cfg)
    _print_skipped(report.skipped)
    acc = "" if report.correct is None else f"; {report.correct}/{report.n_explained} predicted correctly"
    out_console.print(f"explained {report.n_explained} image(s) with {method} on layer {report.layer}{acc}; "
                      f"results: {Path(out) / 'predictions.csv'}")


@app.command()
def layers(
    model: Annotated[str, typer.Argument(help="Backbone name or bundle folder.")],
    shapes: Annotated[bool, typer.Option("--shapes/--no-shapes", help="Run one blank image to show output shapes.")] = True,
    input_size: InputSize = None,
) -> None:
    """List a network's named layers (paper aliases such as conv4_1, then stages) for --layers/--layer."""
    from ..explain import EMBED, layer_shapes, load_source
    from ..models import layer_names, resolve_layer

    source = load_source(model, weights="none", input_size=input_size)
    names = layer_names(source.backbone) + [EMBED]
    found = layer_shapes(source, names) if shapes else {}
    table = Table(title=f"{source.name}: layers (any module path also works)")
    for col in ("name", "module", *(["output shape"] if shapes else [])):
        table.add_column(col)
    for name in names:
        module = "(pooled features a head sees)" if name == EMBED else resolve_layer(source.backbone, name)
        table.add_row(name, module, *([" x ".join(map(str, found[name]))] if shapes else []))
    out_console.print(table)
    if shapes:
        from ..explain import default_target_layer

        out_console.print(f"default CAM layer (artlens explain): {default_target_layer(source.backbone)}")


@app.command()
@with_flags(config_flags(ProbeConfig, required={"data", "layers"}))
def probe(*, given: dict[str, Any]) -> None:
    """Linear probes per layer (one forward pass per image for all layers) and PCA of each layer."""
    from .. import run_probe

    cfg = ProbeConfig(**given)
    report = run_probe(cfg)
    _print_skipped(report.skipped)
    for name, n in report.dropped_classes.items():
        err_console.print(styled("left out", "yellow", f" class {name}: {n} image(s), a probe needs 2 (one to train, one to test)"))
    table = Table(title=f"linear probes: {report.n_train} train / {report.n_test} test images, "
                        f"{len(report.classes)} classes")
    cols = list(report.rows[0])
    for col in cols:
        table.add_column(col)
    for row in report.rows:
        table.add_row(*(str(row[col]) for col in cols))
    out_console.print(table)
    if report.cached_layers:
        out_console.print(f"features reused from the cache for: {', '.join(report.cached_layers)}")
    out_console.print(f"table: {report.files['md']}; plot: {report.files['plot']}")


@app.command()
@with_flags(config_flags(SimilarityConfig, required={"data"}))
def similarity(*, given: dict[str, Any]) -> None:
    """Class similarity from per-class mean features: heatmap, force-directed graph, chord diagram."""
    from .. import run_similarity

    cfg = SimilarityConfig(**given)
    report = run_similarity(cfg)
    _print_skipped(report.skipped)
    pairs = ", ".join(f"{a}~{b} {s:.2f}" for a, b, s in report.top_pairs[:5])
    out_console.print(f"{len(report.similarity.classes_)} classes; most similar pairs: {pairs}")
    out_console.print(f"matrices: {report.files['similarity']}; figures: {', '.join(str(report.files[k]) for k in ('heatmap', 'graph', 'chord'))}")


@app.command()
@with_flags(config_flags(EmbedConfig, required={"data"}))
def embed(*, given: dict[str, Any]) -> None:
    """Embeddings of a whole collection as Parquet (path, label, split, embedding) for other tools."""
    from .. import run_embed

    cfg = EmbedConfig(**given)
    report = run_embed(cfg)
    if report.run is not None:  # a folder: a sharded, resumable run (torchrun too)
        from .. import is_main_process

        if is_main_process():
            print_sharded(report.run, f"embeddings (dimension {report.dim})")
            if report.map:
                out_console.print(f"map: {report.map}")
        return
    _print_skipped(report.skipped)
    extra = f"; map: {report.map}" if report.map else ""
    out_console.print(f"wrote {report.rows} embeddings of dimension {report.dim} to {report.path}{extra}")


@app.command()
@with_flags(config_flags(SearchConfig, skip={"image"}, required={"index"}))
def search(
    image: Annotated[str, typer.Argument(help="The query image.")],
    *, given: dict[str, Any],
) -> None:
    """The k artworks of an embedded collection (artlens embed --out DIR) most similar to an image, with a contact sheet."""
    from .. import run_search

    result = run_search(SearchConfig(image=image, **given))
    table = Table(title=f"most similar to {Path(image).name}")
    for col in ("#", "similarity", "label", "path"):
        table.add_column(col)
    for n in result.neighbours:
        table.add_row(str(n["rank"]), f"{n['similarity']:.4f}", n["label"], n["path"])
    out_console.print(table)
    out_console.print(f"contact sheet: {result.sheet}; table: {result.csv}")


def _print_skipped(skipped) -> None:
    for s in skipped:
        err_console.print(styled("skipped", "yellow", f" {s.path}: {s.reason}"))


__all__ = ["embed", "explain", "layers", "probe", "search", "similarity"]
