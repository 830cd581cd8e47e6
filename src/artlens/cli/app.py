"""The ``artlens`` command line: thin Typer commands that build a config and call one library function."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from ..config import (AUGMENT_PRESETS, CLASS_WEIGHTS, HEAD_NORMS, MONITORS, OPTIMIZERS, RESIZE_MODES, SCHEDULERS, TTA_MODES,
                      TrainConfig, read_recipe, recipe_config)
from ..errors import ArtlensError, yaml_error
from ..models import HEADS, STRATEGIES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Study artworks with deep learning: train, evaluate, predict and explain.")
# Soft wrap: a line that names a file stays one line (copyable, greppable) whatever the terminal width;
# tables still fit the width.
# markup=False: paths, class names and messages are printed as they are. With rich markup on, a folder
# called "old[/copy]" crashed the error line and "e.g. [ukiyo_e, surrealism]" vanished from a table;
# colour comes from :func:`styled` instead.
out_console = Console(soft_wrap=True, markup=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False)


def styled(word: str, style: str, rest: str) -> Text:
    """``word`` in ``style``, then ``rest`` exactly as given (never read as markup)."""
    return Text.assemble((word, style), rest)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)], force=True)
    for noisy in ("PIL", "matplotlib", "urllib3", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def yaml_value(text: str, what: str) -> Any:
    """A flag's value read as a YAML scalar or list (``0.01``, ``[256, 128]``, ``true``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise yaml_error(what, err) from None


def check_device(value: str | None) -> str | None:
    """Every ``--device``: a typo or a GPU this machine lacks is one line before any model loads or
    port opens (``auto`` and ``None``, the recipe's own, pass through)."""
    if value is not None:
        from ..inference import default_device

        default_device(value)
    return value


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    _setup_logging(verbose)


# Shared by every command that reads data: one declaration, the same help everywhere.
DatasetName = Annotated[str, typer.Option(help="Published layout of the data (`artlens datasets`); auto = folder/manifest.")]
DatasetOptions = Annotated[Optional[list[str]], typer.Option(help="Adapter option key=value (repeatable).")]
TTAOption = Annotated[Optional[str], typer.Option(
    help="Test-time augmentation: none | flip (with the mirror image) | crops (the whole image and 5 crops "
         "of 0.8 of each side, for images whose shorter side is at least the model's input size, e.g. 224 px). "
         "Default: what the model's artlens.json asks for.")]


def _csv_ints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ArtlensError(f"expected comma-separated integers, got {text!r}") from None


def _csv_strs(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _label_map(text: str | None) -> dict[str, str | None] | None:
    """``--label-map FILE.yaml`` or ``--label-map 'old=new,drop='``."""
    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise ArtlensError(f"{path}: label map file not found")
        try:
            mapping = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise yaml_error(path, err) from None
        if not isinstance(mapping, dict):
            raise ArtlensError(f"{path}: label map must be a mapping of old label to new label")
        return {str(k): (None if v in (None, "") else str(v)) for k, v in mapping.items()}
    mapping = {}
    for pair in text.split(","):
        if "=" not in pair:
            raise ArtlensError(f"--label-map: {pair!r} is not old=new")
        old, new = pair.split("=", 1)
        mapping[old.strip()] = new.strip() or None
    return mapping


def _options(pairs: list[str] | None) -> dict[str, Any] | None:
    """``--dataset-option label=origin --dataset-option per_class=500`` -> typed dict (YAML scalars)."""
    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ArtlensError(f"--dataset-option: {pair!r} is not key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml_value(value, f"--dataset-option {pair}")
    return out


def _override(raw: dict[str, Any], section: str | None, **values: Any) -> None:
    if section:
        raw[section] = target = raw.get(section) or {}  # an empty section in YAML reads as None
    else:
        target = raw
    for key, value in values.items():
        if value is not None:
            target[key] = value


@app.command()
def train(
    data: Annotated[Optional[str], typer.Option(help="Image folder (one sub-folder per label) or CSV/TSV manifest.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Published layout of --data (`artlens datasets`); default: auto.")] = None,
    dataset_option: DatasetOptions = None,
    backbone: Annotated[Optional[str], typer.Option(help="Backbone name (`artlens models`).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help=" | ".join(STRATEGIES.names()))] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Total epochs (all phases).")] = None,
    out: Annotated[Optional[str], typer.Option(help="Run folder: checkpoints, reports, model bundle.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML recipe; flags given here override it.")] = None,
    weights: Annotated[Optional[str], typer.Option(help="Pretrained weights: auto | hub | none | PATH.")] = None,
    head: Annotated[Optional[str], typer.Option(help=" | ".join(HEADS.names()))] = None,
    hidden: Annotated[Optional[str], typer.Option(help="Hidden sizes of mlp/dense/dense_bn heads, e.g. 512,128.")] = None,
    dropout: Annotated[Optional[float], typer.Option()] = None,
    head_norm: Annotated[Optional[str], typer.Option(help=" | ".join(HEAD_NORMS))] = None,
    style_layers: Annotated[Optional[str], typer.Option(help="Layers whose channel mean/std join the features, e.g. blocks.2,blocks.4.")] = None,
    resize: Annotated[Optional[str], typer.Option(help=" | ".join(RESIZE_MODES) + ": how images are framed to the input size.")] = None,
    input_size: Annotated[Optional[int], typer.Option(help="Square input side in pixels (0 = the backbone's own).")] = None,
    power_norm: Annotated[Optional[bool], typer.Option("--power-norm/--no-power-norm", help="Signed sqrt of the features.")] = None,
    tta: Annotated[Optional[str], typer.Option(help=" | ".join(TTA_MODES) + ": test-time augmentation the bundle asks for.")] = None,
    unfreeze: Annotated[Optional[int], typer.Option(help="partial: number of last stages to train.")] = None,
    unfreeze_layers: Annotated[Optional[str], typer.Option(help="partial: module names to train, e.g. layer3,layer4.")] = None,
    freeze_layers: Annotated[Optional[str], typer.Option(help="partial: module names to keep fixed, e.g. conv1,bn1,layer1,layer2.")] = None,
    top_layers: Annotated[Optional[int], typer.Option(help="partial / full-then-partial: train the last N layers with parameters.")] = None,
    head_epochs: Annotated[Optional[int], typer.Option(help="two-phase, head-then-partial: head-only epochs; full-then-partial: whole-network epochs.")] = None,
    lr_factor: Annotated[Optional[float], typer.Option(help="two-phase, full-then-partial, head-then-partial: lr multiplier of phase 2.")] = None,
    cache_views: Annotated[Optional[int], typer.Option(help="frozen: augmented views per image to cache.")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help=" | ".join(OPTIMIZERS))] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    weight_decay: Annotated[Optional[float], typer.Option()] = None,
    momentum: Annotated[Optional[float], typer.Option()] = None,
    scheduler: Annotated[Optional[str], typer.Option(help=" | ".join(SCHEDULERS))] = None,
    step_size: Annotated[Optional[int], typer.Option()] = None,
    gamma: Annotated[Optional[float], typer.Option()] = None,
    patience: Annotated[Optional[int], typer.Option(help="Early stopping patience in epochs (0 = off).")] = None,
    monitor: Annotated[Optional[str], typer.Option(help=" | ".join(MONITORS))] = None,
    class_weights: Annotated[Optional[str], typer.Option(help=" | ".join(CLASS_WEIGHTS))] = None,
    label_smoothing: Annotated[Optional[float], typer.Option()] = None,
    backbone_lr_scale: Annotated[Optional[float], typer.Option(help="Backbone learning rate as a fraction of --lr (the head's), e.g. 0.1.")] = None,
    warmup_fraction: Annotated[Optional[float], typer.Option(help="onecycle: share of the steps spent warming up.")] = None,
    ema_decay: Annotated[Optional[float], typer.Option(help="Moving average of the weights, e.g. 0.998 (0 = off); the bundle keeps the average.")] = None,
    mixup: Annotated[Optional[float], typer.Option(help="MixUp alpha for image batches (0 = off).")] = None,
    cutmix: Annotated[Optional[float], typer.Option(help="CutMix alpha for image batches (0 = off).")] = None,
    augment: Annotated[Optional[str], typer.Option(help=" | ".join(AUGMENT_PRESETS))] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes.")] = None,
    val_fraction: Annotated[Optional[float], typer.Option()] = None,
    test_fraction: Annotated[Optional[float], typer.Option()] = None,
    split_seed: Annotated[Optional[int], typer.Option(help="Seed of the train/val/test split.")] = None,
    max_per_class: Annotated[Optional[int], typer.Option()] = None,
    min_per_class: Annotated[Optional[int], typer.Option()] = None,
    label_map: Annotated[Optional[str], typer.Option(help="YAML file or 'old=new,drop=' pairs.")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Drop val/test images that duplicate a training image.")] = False,
    amp: Annotated[Optional[str], typer.Option(help="auto | on | off")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:1", callback=check_device)] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
) -> None:
    """Fine-tune (or train from scratch) a classifier on a folder or manifest of images."""
    raw = read_recipe(config) if config else {}
    if config:
        recipe_config(raw, config)  # the recipe alone must be valid: its errors name its file
    _override(raw, "data", path=data, dataset=dataset, dataset_options=_options(dataset_option), augment=augment, batch_size=batch_size, num_workers=workers,
              mixup=mixup, cutmix=cutmix,
              val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed,
              max_per_class=max_per_class, min_per_class=min_per_class, label_map=_label_map(label_map),
              dedupe=dedupe or None)
    _override(raw, "model", backbone=backbone, pretrained=weights, head=head, hidden=_csv_ints(hidden),
              dropout=dropout, head_norm=head_norm, style_layers=_csv_strs(style_layers),
              power_norm=power_norm, resize=resize, input_size=input_size, tta=tta)
    _override(raw, "strategy", name=strategy, unfreeze=unfreeze, unfreeze_layers=_csv_strs(unfreeze_layers),
              freeze_layers=_csv_strs(freeze_layers), top_layers=top_layers, head_epochs=head_epochs, lr_factor=lr_factor, cache_views=cache_views)
    _override(raw, "optim", name=optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum,
              scheduler=scheduler, step_size=step_size, gamma=gamma, backbone_lr_scale=backbone_lr_scale,
              warmup_fraction=warmup_fraction)
    _override(raw, None, epochs=epochs, out=out, patience=patience, monitor=monitor, class_weights=class_weights,
              label_smoothing=label_smoothing, ema_decay=ema_decay, amp=amp, device=device, seed=seed, resume=resume or None)
    cfg = TrainConfig.from_dict(raw)
    if not cfg.data.path:
        raise ArtlensError("--data is required (or data.path in the --config recipe)")
    from ..train import fit
    from ..train.distributed import is_main_process

    result = fit(cfg)
    m = result.test_metrics
    scores = "no held-out images to evaluate" if m["split"] is None else (
        f"{m['split']} accuracy {m['accuracy']:.4f}" + (f", top-3 {m['top3']:.4f}" if "top3" in m else "")
        + f", macro-F1 {m['macro']['f1']:.4f}")
    if is_main_process():  # under torchrun, one summary rather than one per process
        err_console.print(styled("done", "bold green", f": {scores}; bundle: {result.bundle}; skipped images: {len(result.skipped)}"))


@app.command()
def evaluate(
    model: Annotated[Optional[str], typer.Option(help="Model bundle folder (default: built-in style model).")] = None,
    data: Annotated[str, typer.Option(help="Labelled image folder or manifest.")] = ...,
    out: Annotated[str, typer.Option(help="Folder for report.json/.md and figures.")] = "artlens-eval",
    dataset: DatasetName = "auto",
    dataset_option: DatasetOptions = None,
    split: Annotated[str, typer.Option(help="auto | all | train | val | test")] = "auto",
    label_map: Annotated[Optional[str], typer.Option(
        help="YAML file or 'old=new,drop=' pairs, applied to the data's labels (e.g. the map the model was trained with).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:1", callback=check_device)] = "auto",
    tta: TTAOption = None,
) -> None:
    """Accuracy, top-k, per-class precision/recall/F1, confusion matrix and worst mistakes."""
    from ..evaluate import evaluate as run_evaluate

    data_cfg = _data_config(data, dataset, dataset_option, label_map=_label_map(label_map) or {})
    report = run_evaluate(model, data_cfg, out, split=split, batch_size=batch_size, device=device, tta=tta)
    m = report["metrics"]
    table = Table(title=report["title"])
    for col in ("images", "accuracy", "top-3", "top-5", "macro F1", "weighted F1", "skipped"):
        table.add_column(col)
    topk = [f"{m[k]:.4f}" if k in m else "n/a" for k in ("top3", "top5")]  # top-k needs more than k classes
    table.add_row(str(report["n_evaluated"]), f"{m['accuracy']:.4f}", *topk, f"{m['macro']['f1']:.4f}",
                  f"{m['weighted']['f1']:.4f}", str(len(report["skipped"])))
    out_console.print(table)
    out_console.print(f"report: {Path(out) / 'report.md'}")


@app.command()
def predict(
    images: Annotated[list[str], typer.Argument(help="Image files and/or folders.")],
    model: Annotated[Optional[str], typer.Option(help="Model bundle folder (default: built-in style model).")] = None,
    top_k: Annotated[int, typer.Option(min=1, help="How many labels per image (more than 3 are listed down a column).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:1", callback=check_device)] = "auto",
    tta: TTAOption = None,
) -> None:
    """Predict labels for images (the built-in WikiArt style model unless --model is given)."""
    from ..predict import Predictor, expand_inputs

    paths = expand_inputs(images)  # fail on a wrong path before loading a model
    predictor = Predictor(model, device=device, tta=tta)
    results, skipped = predictor(paths, top_k=top_k, batch_size=batch_size, show_progress=not as_json and len(paths) > 64)
    for s in skipped:
        err_console.print(styled("skipped", "yellow", f" {s.path}: {s.reason}"))
    if not results:  # a script must not mistake "nothing could be read" for an empty answer
        raise ArtlensError(f"none of the {len(paths)} file(s) is a readable image")
    if as_json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    out_console.print(_prediction_table(results, title=f"model: {predictor.bundle.name}"))


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
    from ..models import load_bundle, save_ensemble

    if len(bundles) < 2:
        raise ArtlensError("ensemble: give at least two bundles")
    path = save_ensemble([load_bundle(b) for b in bundles], out, name=name, half=half)
    out_console.print(f"wrote {path} ({len(bundles)} members)")


@app.command()
def models(
    all_: Annotated[bool, typer.Option("--all", help="Also list every timm and torchvision name.")] = False,
) -> None:
    """List backbones and whether pretrained weights are available offline."""
    from ..models import list_backbones

    table = Table(title="backbones (any timm or torchvision name also works)")
    for col in ("name", "source", "pretrained weights"):
        table.add_column(col)
    for info in list_backbones(include_all=all_):
        table.add_row(info.name, info.source, info.weights)
    out_console.print(table)


data_app = typer.Typer(no_args_is_help=True, help="Inspect and split datasets: profile, split.")
app.add_typer(data_app, name="data")


def _data_config(path: str, dataset: str, dataset_option: list[str] | None, **split: Any):
    from ..config import DataConfig

    return DataConfig(path=path, dataset=dataset, dataset_options=_options(dataset_option) or {}, **split)


@data_app.command("profile")
def data_profile(
    path: Annotated[str, typer.Argument(help="Dataset root, image folder or manifest.")],
    out: Annotated[str, typer.Option(help="Folder for profile.json/.md and figures.")] = "artlens-profile",
    dataset: DatasetName = "auto",
    dataset_option: DatasetOptions = None,
    workers: Annotated[Optional[int], typer.Option(help="Threads for reading headers and hashing.")] = None,
) -> None:
    """Counts, image sizes and modes, unreadable files, and near-duplicates (label conflicts, split leaks)."""
    from ..data.dataset import load_collection
    from ..data.profile import profile_collection

    collection = load_collection(_data_config(path, dataset, dataset_option), split=False)
    report = profile_collection(collection, out, workers=workers)
    dup = report["duplicates"]
    out_console.print(f"{len(collection.samples)} images, {len(collection.classes)} classes; "
                      f"unreadable: {len(report['unreadable'])}; near-duplicates: {len(dup['within_class'])} within "
                      f"a class, {len(dup['across_classes'])} across classes, {len(dup['across_splits'])} across "
                      f"splits; report: {Path(out) / 'profile.md'}")


@data_app.command("split")
def data_split(
    path: Annotated[str, typer.Argument(help="Dataset root, image folder or manifest.")],
    out: Annotated[str, typer.Option(help="Manifest to write (TSV: path, label, split).")] = "split.tsv",
    dataset: DatasetName = "auto",
    dataset_option: DatasetOptions = None,
    val_fraction: Annotated[float, typer.Option()] = 0.1,
    test_fraction: Annotated[float, typer.Option()] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = 0,
) -> None:
    """Write a reproducible, shareable train/val/test manifest (the publisher's split is kept)."""
    from ..data.dataset import load_collection
    from ..data.profile import write_split_manifest

    cfg = _data_config(path, dataset, dataset_option, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    collection = load_collection(cfg)
    write_split_manifest(collection, out)
    counts = {k: sum(v.values()) for k, v in collection.counts().items()}
    out_console.print(f"wrote {out}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))


@app.command()
def datasets() -> None:
    """List the published dataset layouts artlens reads as they are shipped (--dataset NAME)."""
    from ..data.adapters import describe_datasets

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
