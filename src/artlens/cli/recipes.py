"""Commands: artlens reproduce / tune / compare (issue 4): thin wrappers over :mod:`artlens.recipes`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from .. import ArtlensError, ReproduceOptions, is_main_process
from ..evaluate import format_interval
from ._flags import config_flags, with_flags, yaml_value
from .app import app, err_console, out_console

# What reproduce and tune both change in a recipe's run: ReproduceOptions' fields (``--out`` differs in meaning).
RUN_FLAGS = config_flags(ReproduceOptions, only={"data", "subset", "epochs", "image_size", "weights", "device"})
Sets = Annotated[Optional[list[str]], typer.Option("--set", help="Any config key, dotted: --set optim.lr=0.01 (repeatable).")]


def _sets(pairs: list[str] | None) -> dict[str, Any]:
    """``--set optim.lr=0.01 --set model.hidden=[256]`` -> typed dict (values read as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ArtlensError(f"--set: {pair!r} is not key=value (e.g. optim.lr=0.01)")
        out[key.strip()] = yaml_value(value, f"--set {pair}")
    return out


def _run_options(given: dict[str, Any], out: str | None, sets: list[str] | None, resume: bool = False):
    return ReproduceOptions(**given, out=out or "", overrides=_sets(sets), resume=resume)


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


@app.command()
@with_flags(RUN_FLAGS)
def reproduce(
    recipe: Annotated[Optional[str], typer.Argument(help="Recipe name (--list) or a recipe YAML file.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Run folder (default runs/<recipe>).")] = None,
    set_: Sets = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped recipes and exit.")] = False,
    *, given: dict[str, Any],
) -> None:
    """Run one study experiment and print the study's reported numbers beside ours."""
    from .. import list_recipes, load_recipe
    from .. import reproduce as run_reproduce

    if list_:
        table = Table(title="study recipes (configs/studies)")
        for col in ("recipe", "model", "strategy", "study"):
            table.add_column(col, no_wrap=True)
        for name in list_recipes():
            r = load_recipe(name)
            headline = next(iter(r.study.reported.items()), None)  # the study's main number comes first
            model, strategy = ((r.config["model"]["backbone"].removeprefix("torchvision/"),
                                r.config.get("strategy", {}).get("name", "full")) if r.kind == "classifier"
                               else (f"{r.kind} unet", "zero-shot"))
            table.add_row(name, model, strategy,
                          f"{headline[0]} {headline[1]:.3f}" if headline else "–")
        out_console.print(table)
        return
    if recipe is None:
        raise ArtlensError("give a RECIPE name or file (`artlens reproduce --list` shows them)")
    result = run_reproduce(recipe, _run_options(given, out, set_, resume))
    if not is_main_process():  # under torchrun, one table rather than one per process
        return
    table = Table(title=f"study vs ours: {result.recipe}")
    for col in ("metric", "study", "ours", "ours, 95 % interval", "difference"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for row in result.rows:
        diff = "–" if row["difference"] is None else f"{row['difference']:+.4f}"
        table.add_row(row["metric"], _fmt(row["study"]), _fmt(row["ours"]),
                      format_interval(row.get("ours_ci95"), missing="–"), diff)
    out_console.print(table)
    for row in result.rows:
        if row.get("study_inside") is not None:
            out_console.print(f"{row['metric']}: the study's {row['study']:.3f} is "
                              + ("inside our 95 % interval" if row["study_inside"] else "outside our 95 % interval"),
                              highlight=False)
    if given.get("subset"):
        out_console.print(f"quick run: at most {given['subset']} images per class, not comparable to the study")
    out_console.print(f"results: {result.out / 'study.md'}; bundle: {result.bundle}")


@app.command()
@with_flags(RUN_FLAGS)
def tune(
    recipe: Annotated[str, typer.Argument(help="Recipe name or YAML file whose config each trial starts from.")],
    trials: Annotated[int, typer.Option(help="Number of trials (asking for more later continues the search).")] = 10,
    space: Annotated[Optional[Path], typer.Option(help="Search space YAML (key: [choices] or {low, high, log}); default: the recipe's own.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Search folder (default runs/tune-<recipe>).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random search.")] = 0,
    set_: Sets = None,
    *, given: dict[str, Any],
) -> None:
    """Random hyperparameter search: each trial a normal run, a leaderboard, the best bundle kept; resumable."""
    from .. import TuneOptions
    from .. import tune as run_tune
    from ..recipes import load_space, winner_margin

    opts = TuneOptions(trials=trials, space=load_space(space) if space else {}, seed=seed,
                       run=_run_options(given, out, set_))
    result = run_tune(recipe, opts)
    if not is_main_process():
        return
    table = Table(title=f"leaderboard ({len(result.leaderboard)} trials; {len(result.ran)} run now)")
    keys = list(result.leaderboard[0]) if result.leaderboard else []
    for k in keys:
        table.add_column(k)
    for row in result.leaderboard:
        table.add_row(*("–" if row[k] is None else f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k])
                        for k in keys))
    out_console.print(table)
    margin = winner_margin(result.leaderboard)
    if margin:
        out_console.print(margin, highlight=False)
    out_console.print(f"leaderboard: {result.out / 'leaderboard.md'}; best bundle: {result.best}")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run folders (from train, reproduce or tune) "
                                                    "or evaluate --out folders.")],
    out: Annotated[str, typer.Option(help="Folder for compare.csv/.md/.png and per-class differences.")] = "runs/compare",
) -> None:
    """One table and one figure across runs, each pair's paired test, and which classes the first run gets right that each other does not."""
    from .. import compare_runs

    result = compare_runs(runs, out)
    table = Table(title="runs")
    # The columns that fit a terminal; compare.md and compare.csv have every one (parameters, training rate).
    cols = {"run": "run", "backbone": "backbone", "strategy": "strategy", "accuracy": "accuracy",
            "interval": "95 % interval", "top3": "top3", "macro_f1": "macro_f1", "train_seconds": "train s",
            "predict_images_per_s": "predict img/s"}
    for c, label in cols.items():
        table.add_column(label, no_wrap=c not in ("backbone", "strategy"))
    for r in result.rows:
        r = {**r, "interval": None if r["accuracy_low"] is None else format_interval((r["accuracy_low"], r["accuracy_high"]))}
        table.add_row(*(f"{r[c]:.4f}" if c in ("accuracy", "top3", "macro_f1") and r[c] is not None
                        else f"{r[c]:,}" if c == "params" and r[c] else "–" if r[c] is None else str(r[c])
                        for c in cols))
    out_console.print(table)
    for key, diff in result.differences.items():
        a, b = key.split("_vs_", 1)
        out_console.print(result.paired_summary(key), highlight=False)
        wins = [f"{d['class']} (+{d['only_a_right']})" for d in diff if d["only_a_right"] > d["only_b_right"]]
        losses = [f"{d['class']} (+{d['only_b_right']})" for d in diff if d["only_b_right"] > d["only_a_right"]]
        out_console.print(f"{a} gets more right than {b} in: {', '.join(wins) or 'no class'}; "
                          f"{b} better in: {', '.join(losses) or 'no class'}", highlight=False)
    err_console.print(f"report: {Path(out) / 'compare.md'}; figure: {Path(out) / 'compare.png'}")
