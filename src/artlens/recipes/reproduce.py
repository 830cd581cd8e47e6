"""``reproduce(recipe, options)``: run one study experiment and put the study's numbers beside ours.

Everything a normal training run writes (``metrics.csv``, ``curves.png``, ``eval/`` with the
confusion matrix, per-class report and predictions, ``model/``) plus:

* ``study.json`` / ``study.md`` — metric, the study's value, ours, the difference
* ``study.png`` — the same as bars, the study's beside ours
* ``per_class.csv`` — per-class accuracy, precision, recall, F1 and support of the test split

>>> from artlens.recipes import ReproduceOptions, reproduce
>>> result = reproduce("ai-artbench-simple-cnn", ReproduceOptions(data="AI-ArtBench/"))  # doctest: +SKIP
>>> result.rows[0]                                                                      # doctest: +SKIP
{'metric': 'accuracy', 'study': 0.4512, 'ours': 0.47, 'difference': 0.0188}
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import ArtlensError
from ..evaluate.metrics import accuracy_interval, format_interval
from ..models.strategies import STRATEGIES
from ..train.distributed import is_main_process
from .diffusion import diffusion_configs
from .recipe import Recipe, apply_overrides, load_recipe

__all__ = ["ReproduceOptions", "ReproduceResult", "build_config", "ours", "reproduce", "reproduce_diffusion",
           "study_rows"]


@dataclass
class ReproduceOptions:
    """What changes between the study's run and yours: the data root, and knobs for a quick look."""

    data: str = ""
    """Root of the dataset in the layout of the recipe's adapter (``artlens datasets``)."""
    out: str = ""
    """Run folder; default ``runs/<recipe>``."""
    subset: int | None = None
    """At most N images per class (and split): a quick run before the real one."""
    epochs: int | None = None
    """Override the recipe's epochs (two-phase schedules keep their first phase shorter)."""
    image_size: int | None = None
    """Override the network input size in pixels."""
    weights: str | None = None
    """Override ``model.pretrained``: ``auto``, ``hub``, ``none`` or a weights file."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Any other config key, dotted: ``{"optim.lr": 0.01, "data.num_workers": 0}``."""
    resume: bool = False
    device: str | None = None


@dataclass
class ReproduceResult:
    recipe: str
    out: Path
    rows: list[dict[str, Any]]
    test_metrics: dict[str, Any]
    bundle: Path


def build_config(recipe: Recipe, opts: ReproduceOptions) -> TrainConfig:
    """The recipe's config with the options applied, validated (fails before any work)."""
    if not opts.data:
        raise ArtlensError("--data: give the root of the dataset (see the recipe's study.dataset)")
    changes: dict[str, Any] = {"data.path": str(opts.data), "out": opts.out or f"runs/{recipe.name}"}
    if opts.subset is not None:
        if opts.subset < 1:
            raise ArtlensError(f"--subset: {opts.subset} must be >= 1 image per class")
        changes["data.max_per_class"] = opts.subset
    if opts.epochs is not None:
        changes.update(_epochs(recipe.config, opts.epochs))
    if opts.image_size is not None:
        changes["model.input_size"] = opts.image_size
    if opts.weights is not None:
        changes["model.pretrained"] = opts.weights
    if opts.resume:
        changes["resume"] = True
    if opts.device:
        changes["device"] = opts.device
    return recipe.train_config({**changes, **opts.overrides})


def _epochs(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """New total epochs; a two-phase schedule keeps its first phase, shortened to leave room for the second."""
    changes: dict[str, Any] = {"epochs": epochs}
    strategy = config.get("strategy", {})
    name = strategy.get("name")
    if name in STRATEGIES and STRATEGIES.get(name).uses_head_epochs:
        if epochs < 2:
            raise ArtlensError(f"--epochs {epochs}: strategy {name!r} trains in two phases, "
                               "so it needs at least 2 epochs")
        first = strategy.get("head_epochs", 3)
        total = max(int(config.get("epochs", 10)), 1)
        changes["strategy.head_epochs"] = min(max(1, round(first * epochs / total)), epochs - 1)
    return changes


def ours(metric: str, report: dict[str, Any]) -> float | None:
    """Our value of a study metric from a run's ``report.json``."""
    test = report.get("test", {})
    history = report.get("history", [])
    best = next((r for r in history if r["epoch"] == report.get("best_epoch")), history[-1] if history else {})
    values = {
        "accuracy": test.get("accuracy"),
        "top3": test.get("top3"),
        "macro_f1": test.get("macro", {}).get("f1"),
        "macro_precision": test.get("macro", {}).get("precision"),
        "macro_recall": test.get("macro", {}).get("recall"),
        "val_accuracy": best.get("val_acc"),
        "train_accuracy": best.get("train_acc"),
    }
    return values[metric]


#: Study metrics that are a share of the test images, so that ours carries a 95 % (Wilson) interval.
PROPORTIONS = ("accuracy", "top3")


def study_rows(recipe: Recipe, report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric the study reported (then accuracy, top-3, macro-F1 if it did not).

    For accuracy and top-3, ``ours_ci95`` is our value's 95 % interval on our test split and
    ``study_inside`` whether the study's number lies in it: outside, the gap is more than the luck of
    our test set explains (the study's own test set had luck of its own, so inside is not proof of
    agreement either)."""
    metrics = list(recipe.study.reported) + [m for m in ("accuracy", "top3", "macro_f1")
                                             if m not in recipe.study.reported]
    n = report.get("test", {}).get("n")
    rows = []
    for m in metrics:
        study, mine = recipe.study.reported.get(m), ours(m, report)
        interval = [round(x, 6) for x in accuracy_interval(mine, n)] if m in PROPORTIONS and mine is not None and n else None
        rows.append({"metric": m, "study": study, "ours": None if mine is None else round(mine, 4),
                     "difference": None if study is None or mine is None else round(mine - study, 4),
                     "ours_ci95": interval,
                     "study_inside": None if interval is None or study is None else interval[0] <= study <= interval[1]})
    return rows


def reproduce(recipe: str | Path | Recipe, opts: ReproduceOptions, *, show_progress: bool = True) -> ReproduceResult:
    """Train and evaluate one study experiment; write the study-vs-ours table next to the run."""
    from ..train import fit

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if recipe.kind == "diffusion":
        return reproduce_diffusion(recipe, opts, show_progress=show_progress)
    cfg = build_config(recipe, opts)
    run = fit(cfg, show_progress=show_progress)
    report = json.loads((run.out / "report.json").read_text())
    rows = study_rows(recipe, report)
    if is_main_process():  # under torchrun every process gets the result; one writes the study's files
        write_study_files(recipe, cfg, rows, run.out)
    return ReproduceResult(recipe=recipe.name, out=run.out, rows=rows, test_metrics=run.test_metrics,
                           bundle=run.bundle)


def write_study_files(recipe: Recipe, cfg: TrainConfig | None, rows: list[dict[str, Any]], out: Path, *,
                      subset: int | None = None) -> None:
    """``study.json``, ``study.md``, ``study.png`` and ``per_class.csv``; ``subset`` (when ``cfg`` is None: a
    diffusion recipe) says the run was a quick one."""
    subset = cfg.data.max_per_class if cfg is not None else subset
    (out / "study.json").write_text(json.dumps(
        {"recipe": recipe.name, "title": recipe.title, "study": asdict(recipe.study), "rows": rows,
         "max_per_class": subset}, indent=2))
    fmt = lambda v, sign="": "–" if v is None else f"{v:{sign}.4f}"  # noqa: E731
    lines = [f"# {recipe.title or recipe.name}", "",
             f"Study: {recipe.study.name} ({recipe.study.source}).", ""]
    if subset is not None:
        lines += [f"**Quick run on at most {subset} images per class: not comparable to the study.**", ""]
    lines += ["| metric | study | ours | ours, 95 % interval | difference |", "|---|---|---|---|---|"]
    lines += [f"| {r['metric']} | {fmt(r['study'])} | {fmt(r['ours'])} | {_interval_text(r)} | {fmt(r['difference'], '+')} |"
              for r in rows]
    verdicts = [_verdict_text(r) for r in rows if r.get("study_inside") is not None]
    if verdicts:
        lines += ["", *verdicts]
    lines += ["", "Bars: `study.png`. Curves: `curves.png`. Confusion matrix: `eval/confusion_matrix.png`. "
              "Per-class table: `per_class.csv` and `eval/report.md`."]
    if recipe.study.notes:
        lines += ["", f"Notes: {recipe.study.notes.strip()}"]
    (out / "study.md").write_text("\n".join(lines) + "\n")
    plot_study(rows, out / "study.png", title=recipe.title or recipe.name, subset=subset)
    eval_report = out / "eval" / "report.json"
    if eval_report.is_file():
        per_class = json.loads(eval_report.read_text())["metrics"]["per_class"]
        with (out / "per_class.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["class", "accuracy", "precision", "recall", "f1", "support"])
            for c, m in per_class.items():
                w.writerow([c, *(f"{m[k]:.4f}" for k in ("accuracy", "precision", "recall", "f1")), m["support"]])



def _interval_text(row: dict[str, Any]) -> str:
    """``0.652-0.741``, or ``–`` for a metric without an interval."""
    return format_interval(row.get("ours_ci95"), missing="–")


def _verdict_text(row: dict[str, Any]) -> str:
    """One sentence: is the study's number inside our interval?"""
    if row["study_inside"]:
        return (f"The study's {row['metric']} {row['study']:.3f} lies inside our 95 % interval "
                f"({_interval_text(row)}): our test set cannot tell the two apart.")
    side = "above" if row["study"] > row["ours_ci95"][1] else "below"
    return (f"The study's {row['metric']} {row['study']:.3f} lies {side} our 95 % interval ({_interval_text(row)}): "
            "more than the luck of our test set explains.")


def plot_study(rows: list[dict[str, Any]], path: Path, *, title: str, subset: int | None = None) -> None:
    """Grouped bars: the study's number and ours for every metric either has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in rows if r["study"] is not None or r["ours"] is not None]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(rows) + 2), 3.8))
    for offset, key, label in ((-0.2, "study", "study (reported)"), (0.2, "ours", "ours")):
        values = [r[key] if r[key] is not None else 0.0 for r in rows]
        bars = ax.bar(x + offset, values, 0.4, label=label)
        for bar, r in zip(bars, rows):
            text = "n/a" if r[key] is None else f"{r[key]:.3f}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, [r["metric"] for r in rows], rotation=15)
    ax.set_ylim(0, 1.25)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.set_title(title + (f"\n(quick run: {subset} images per class, not comparable)" if subset else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reproduce_diffusion(recipe: Recipe, opts: ReproduceOptions, *, show_progress: bool = True) -> ReproduceResult:
    """Train, classify the test split zero-shot, and write the study-vs-ours files."""
    if not opts.data:
        raise ArtlensError("--data: give the root of the dataset (see the recipe's study.dataset)")
    if opts.epochs is not None or opts.weights is not None:
        raise ArtlensError(f"recipe {recipe.name!r} trains a diffusion model: --epochs and --weights do not apply "
                           "(use --set train.steps=N)")
    changes: dict[str, Any] = dict(opts.overrides)
    if opts.subset is not None:
        if opts.subset < 1:
            raise ArtlensError(f"--subset: {opts.subset} must be >= 1 image per class")
        changes["train.max_per_class"] = opts.subset
    if opts.image_size is not None:
        changes["train.size"] = opts.image_size
    if opts.device:
        changes["train.device"] = changes["classify.device"] = opts.device
    if opts.resume:
        changes["train.resume"] = True
    out = opts.out or f"runs/{recipe.name}"
    train_cfg, classify_cfg = diffusion_configs(apply_overrides(recipe.config, changes), data=str(opts.data), out=out)
    from ..diffusion import classify_diffusion, train_diffusion

    bundle = train_diffusion(train_cfg, show_progress=show_progress)
    result = classify_diffusion(classify_cfg, show_progress=show_progress and is_main_process())
    report = json.loads((result.out / "report.json").read_text())
    rows = study_rows(recipe, report)
    if is_main_process():
        write_study_files(recipe, None, rows, result.out, subset=opts.subset)
    return ReproduceResult(recipe=recipe.name, out=result.out, rows=rows, test_metrics=result.metrics, bundle=bundle)
