"""The ``artlens`` command line: thin Typer commands that build a config and call one library function."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console, ConsoleDimensions
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from .. import ArtlensError, DataConfig, PredictCollectionConfig, TrainConfig, read_recipe, recipe_config
from ._flags import DeviceOption, check_device, config_flags, merge, with_flags, yaml_value

__all__ = ["app", "check_device", "print_sharded", "err_console", "main", "out_console", "styled", "yaml_value"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Study artworks with deep learning: train, evaluate, predict and explain.")
#: Width of output written to a file or another program: wide enough that no table cell is cut short.
PIPED_WIDTH = 10_000


class _Console(Console):
    """A terminal's own width on a terminal; when the stream is a file or a pipe, every line whole.

    Rich sizes output by whichever standard stream is a terminal, else 80 columns, so ``artlens predict
    folder/ > out.txt`` cut file names to an ellipsis. ``COLUMNS`` set by hand still wins.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal or self._width is not None or "COLUMNS" in self._environ:
            return size
        return ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


# Soft wrap: a line that names a file stays one line (copyable, greppable) whatever the terminal width;
# tables still fit the width.
# markup=False: paths, class names and messages are printed as they are. With rich markup on, a folder
# called "old[/copy]" crashed the error line and "e.g. [ukiyo_e, surrealism]" vanished from a table;
# colour comes from :func:`styled` instead.
out_console = _Console(soft_wrap=True, markup=False)
err_console = _Console(stderr=True, soft_wrap=True, markup=False)


def styled(word: str, style: str, rest: str) -> Text:
    """``word`` in ``style``, then ``rest`` exactly as given (never read as markup)."""
    return Text.assemble((word, style), rest)


def _setup_logging(verbose: bool) -> None:
    """Rich's log lines on a terminal; plain ``LEVEL    message`` lines into a file or a pipe, where
    Rich would pad every line with spaces to the (unlimited) piped width."""
    if err_console.is_terminal:
        handler: logging.Handler = RichHandler(console=err_console, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-8s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    for noisy in ("PIL", "matplotlib", "urllib3", "httpx", "huggingface_hub", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    _setup_logging(verbose)


#: ``--model`` and ``--batch-size`` of the commands that run a trained bundle over images.
ModelOption = Annotated[Optional[str], typer.Option(help="Model bundle folder (default: built-in style model).")]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="Images per forward pass.")]
InferenceBatchOption = Annotated[Optional[int], typer.Option(
    "--batch-size", min=1, help="Images per forward pass (default: 16 on a CPU, 32 on a GPU).")]
#: The images a command reads, and the collection ``data profile`` / ``data split`` read.
ImagesArgument = Annotated[list[str], typer.Argument(help="Image files and/or folders.")]
DataPathArgument = Annotated[str, typer.Argument(help="Dataset root, image folder or manifest.")]
TTAOption = Annotated[Optional[str], typer.Option(
    help="Test-time augmentation: none | flip (with the mirror image) | crops (the whole image and 5 crops "
         "of 0.8 of each side, for images whose shorter side is at least the model's input size, e.g. 224 px). "
         "Default: what the model's artlens.json asks for.")]
PrecisionOption = Annotated[str, typer.Option(
    help="Number type of the network: auto (float16 on a GPU, float32 on a CPU) | fp32 | bf16 (about 1.6 x as "
         "fast on a CPU with AMX, some answers change: check with evaluate) | fp16.")]


def data_flags(*extra: str):
    """Where a command's images come from: ``--dataset`` and ``--dataset-option``, and ``extra`` fields of
    :class:`~artlens.DataConfig`; the command gets them as ``given`` for ``DataConfig(path=..., **given)``."""
    return config_flags(DataConfig, only={"dataset", "dataset_options", *extra})


#: ``artlens train`` flags whose name is not their field's: the data is the command's subject, and the
#: split seed, strategy and optimizer would otherwise share a name with another section's field.
TRAIN_FLAG_NAMES = {"data.path": "data", "data.seed": "split_seed", "strategy.name": "strategy", "optim.name": "optimizer"}


@app.command()
@with_flags(config_flags(TrainConfig, rename=TRAIN_FLAG_NAMES))
def train(
    config: Annotated[Optional[Path], typer.Option(help="YAML recipe; flags given here override it.")] = None,
    *, given: dict[str, Any],
) -> None:
    """Fine-tune (or train from scratch) a classifier on a folder or manifest of images."""
    raw = read_recipe(config) if config else {}
    if config:
        recipe_config(raw, config)  # the recipe alone must be valid: its errors name its file
    cfg = TrainConfig.from_dict(merge(raw, given))
    if not cfg.data.path:
        raise ArtlensError("--data is required (or data.path in the --config recipe)")
    from .. import is_main_process
    from ..evaluate import format_interval
    from ..train import fit  # looked up at call time: tests and notebooks may swap it

    result = fit(cfg)
    m = result.test_metrics
    scores = "no held-out images to evaluate" if m["split"] is None else (
        f"{m['split']} accuracy {m['accuracy']:.4f}"
        + (f" (95 % {format_interval(m['ci95']['accuracy'])})" if "ci95" in m else "")
        + (f", top-3 {m['top3']:.4f}" if "top3" in m else "")
        + f", macro-F1 {m['macro']['f1']:.4f}")
    if is_main_process():  # under torchrun, one summary rather than one per process
        err_console.print(styled("done", "bold green", f": {scores}; bundle: {result.bundle}; skipped images: {len(result.skipped)}"))


@app.command()
@with_flags(data_flags("label_map"))
def evaluate(
    model: ModelOption = None,
    data: Annotated[str, typer.Option(help="Labelled image folder or manifest.")] = ...,
    out: Annotated[str, typer.Option(help="Folder for report.json/.md and figures.")] = "artlens-eval",
    split: Annotated[str, typer.Option(help="auto | all | train | val | test")] = "auto",
    batch_size: InferenceBatchOption = None,
    device: DeviceOption = "auto",
    tta: TTAOption = None,
    precision: PrecisionOption = "auto",
    *, given: dict[str, Any],
) -> None:
    """Accuracy, top-k, per-class precision/recall/F1, confusion matrix and worst mistakes."""
    from .. import evaluate as run_evaluate

    report = run_evaluate(model, DataConfig(path=data, **given), out, split=split, batch_size=batch_size,
                          device=device, tta=tta, precision=precision)
    from .. import is_main_process
    from ..evaluate import format_interval

    if not is_main_process():  # under torchrun every process scored its share; rank 0 reports
        return
    m = report["metrics"]
    table = Table(title=report["title"])
    for col in ("images", "accuracy", "95 % interval", "top-3", "top-5", "macro F1", "weighted F1", "skipped"):
        table.add_column(col)
    topk = [f"{m[k]:.4f}" if k in m else "n/a" for k in ("top3", "top5")]  # top-k needs more than k classes
    table.add_row(str(report["n_evaluated"]), f"{m['accuracy']:.4f}", format_interval(m["ci95"]["accuracy"]), *topk,
                  f"{m['macro']['f1']:.4f}", f"{m['weighted']['f1']:.4f}", str(len(report["skipped"])))
    out_console.print(table)
    out_console.print(f"report: {Path(out) / 'report.md'}")


#: ``artlens predict`` flags that only a whole-collection run (``--out``) reads.
COLLECTION_FLAGS = {"shard_size", "merge", "dataset", "dataset_options", "num_workers"}


@app.command()
@with_flags(config_flags(PredictCollectionConfig, only=COLLECTION_FLAGS))
def predict(
    images: Annotated[list[str], typer.Argument(help="Image files and/or folders; with --out, one collection "
                                                     "(a folder, a manifest or a --dataset root).")],
    model: ModelOption = None,
    top_k: Annotated[int, typer.Option(min=1, help="How many labels per image (more than 3 are listed down a column).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    batch_size: InferenceBatchOption = None,
    device: DeviceOption = "auto",
    tta: TTAOption = None,
    precision: PrecisionOption = "auto",
    out: Annotated[Optional[str], typer.Option(
        help="Label a whole collection into this folder (or s3://, gs://, any fsspec URL) as Parquet shards and "
             "one merged predictions.parquet; resumable (run again to finish), shared by the processes of torchrun.")] = None,
    *, given: dict[str, Any],
) -> None:
    """Predict labels for images (the built-in WikiArt style model unless --model is given)."""
    from .. import Predictor, expand_inputs, is_main_process

    if out is not None:
        if len(images) != 1:
            raise ArtlensError("predict --out: give one collection (a folder, a manifest or a --dataset root)")
        from .. import predict_collection

        run = predict_collection(PredictCollectionConfig(data=images[0], out=out, model=model, top_k=top_k,
                                                         batch_size=batch_size, device=device, tta=tta,
                                                         precision=precision, **given))
        if is_main_process():
            print_sharded(run, "predictions")
        return
    if given:
        raise ArtlensError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: only with --out (a whole collection)")

    paths = expand_inputs(images)  # fail on a wrong path before loading a model
    predictor = Predictor(model, device=device, tta=tta, precision=precision)
    results, skipped = predictor(paths, top_k=top_k, batch_size=batch_size, show_progress=not as_json and len(paths) > 64)
    for s in skipped:
        err_console.print(styled("skipped", "yellow", f" {s.path}: {s.reason}"))
    if not results:  # a script must not mistake "nothing could be read" for an empty answer
        raise ArtlensError(f"none of the {len(paths)} file(s) is a readable image")
    if as_json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    out_console.print(_prediction_table(results, title=f"model: {predictor.bundle.name}"))


def print_sharded(run: Any, what: str) -> None:
    """One summary of a whole-collection run (``ShardedRun``): rows, skipped, speed, where."""
    for s in run.skipped[:20]:
        err_console.print(styled("skipped", "yellow", f" {s.path}: {s.reason}"))
    if len(run.skipped) > 20:
        err_console.print(styled("skipped", "yellow", f" ... and {len(run.skipped) - 20} more: {run.out}/skipped.tsv"))
    resumed = f" ({run.shards_resumed} shard(s) kept from an earlier run)" if run.shards_resumed else ""
    procs = f" over {run.world_size} processes" if run.world_size > 1 else ""
    where = run.merged or f"{run.out}/shards/"
    out_console.print(f"{run.n_rows} {what} of {run.n_images} images, {run.n_skipped} unreadable, in {run.n_shards} "
                      f"shard(s){resumed}; {run.images_per_s} images/s{procs}; wrote {where}")


def _image_cell(result: dict) -> str:
    """The file name, and a second line ``uncertain`` when a calibrated model's top-1 is below its threshold."""
    name = Path(result["path"]).name
    return f"{name}\nuncertain" if result.get("uncertain") else name


def _prediction_table(results: list[dict], *, title: str, max_columns: int = 3) -> Table:
    """One column per rank up to ``max_columns`` ranks; beyond that the ranks go down one column,
    because eleven label columns do not fit a terminal and rich would cut every label short."""
    table = Table(title=title)
    table.add_column("image")
    k = max(len(r["predictions"]) for r in results)
    cells = [[f"{p['label']} {p['prob']:.2f}" for p in r["predictions"]] for r in results]
    if k <= max_columns:
        for rank in range(k):
            table.add_column(f"#{rank + 1}")
        for r, row in zip(results, cells):
            table.add_row(_image_cell(r), *row)
    else:
        table.add_column(f"top {k}")
        for r, row in zip(results, cells):
            table.add_row(_image_cell(r), "\n".join(f"#{i + 1} {c}" for i, c in enumerate(row)), end_section=True)
    return table


@app.command()
def ensemble(
    bundles: Annotated[list[str], typer.Argument(help="Two or more model bundle folders with the same classes.")],
    out: Annotated[str, typer.Option(help="Folder for the ensemble bundle.")],
    name: Annotated[str, typer.Option(help="Model name (default: the folder's name).")] = "",
    half: Annotated[bool, typer.Option("--half", help="Store the weights as float16 (half the size).")] = False,
) -> None:
    """Combine bundles into one that predicts their mean probability (use it like any --model)."""
    from .. import load_bundle, save_ensemble

    if len(bundles) < 2:
        raise ArtlensError("ensemble: give at least two bundles")
    path = save_ensemble([load_bundle(b) for b in bundles], out, name=name, half=half)
    out_console.print(f"wrote {path} ({len(bundles)} members)")


data_app = typer.Typer(no_args_is_help=True, help="Inspect and split datasets: profile, split.")
app.add_typer(data_app, name="data")


@data_app.command("profile")
@with_flags(data_flags("dedupe_index"))
def data_profile(
    path: DataPathArgument,
    out: Annotated[str, typer.Option(help="Folder for profile.json/.md and figures.")] = "artlens-profile",
    workers: Annotated[Optional[int], typer.Option(help="Threads for reading headers and hashing.")] = None,
    *, given: dict[str, Any],
) -> None:
    """Counts, image sizes and modes, unreadable files, and near-duplicates (label conflicts, split leaks)."""
    from ..data import load_collection, profile_collection

    cfg = DataConfig(path=path, **given)
    collection = load_collection(cfg, split=False)
    report = profile_collection(collection, out, workers=workers, dedupe_index=cfg.dedupe_index)
    dup = report["duplicates"]
    out_console.print(f"{len(collection.samples)} images, {len(collection.classes)} classes; "
                      f"unreadable: {len(report['unreadable'])}; near-duplicates: {len(dup['within_class'])} within "
                      f"a class, {len(dup['across_classes'])} across classes, {len(dup['across_splits'])} across "
                      f"splits ({report['duplicate_search']['index']} search"
                      f"{', approximate' if report['duplicate_search']['approximate'] else ''}); "
                      f"report: {Path(out) / 'profile.md'}")


@data_app.command("split")
@with_flags(data_flags("val_fraction", "test_fraction", "seed"))
def data_split(
    path: DataPathArgument,
    out: Annotated[str, typer.Option(help="Manifest to write (TSV: path, label, split).")] = "split.tsv",
    *, given: dict[str, Any],
) -> None:
    """Write a reproducible, shareable train/val/test manifest (the publisher's split is kept)."""
    from ..data import load_collection, write_split_manifest

    collection = load_collection(DataConfig(path=path, **given))
    write_split_manifest(collection, out)
    counts = {k: sum(v.values()) for k, v in collection.counts().items()}
    out_console.print(f"wrote {out}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))


@app.command()
def datasets() -> None:
    """List the published dataset layouts artlens reads as they are shipped (--dataset NAME)."""
    from ..data import describe_datasets

    table = Table(title="datasets (artlens train --data ROOT --dataset NAME [--dataset-option KEY=VALUE])",
                  show_lines=True)
    for col in ("name", "what", "expected layout", "options"):
        table.add_column(col, overflow="fold")
    for d in describe_datasets():
        options = "\n".join(f"{k}: {v}" for k, v in d["options"].items()) or "-"
        table.add_row(d["name"], d["description"], d["layout"], options)
    out_console.print(table)


def main() -> None:
    """Entry point: one-line errors instead of tracebacks for user mistakes."""
    try:
        app()
    except ArtlensError as err:
        err_console.print(styled("error:", "bold red", f" {err}"), highlight=False)
        raise SystemExit(2) from None
    except OSError as err:  # a full disk, a read-only or missing folder: the file and the reason suffice
        where = f"{err.filename}: " if err.filename else ""
        err_console.print(styled("error:", "bold red", f" {where}{err.strerror or err}"), highlight=False)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print("interrupted; resume a training run with --resume")
        raise SystemExit(130) from None
