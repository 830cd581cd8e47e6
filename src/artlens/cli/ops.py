"""Commands: artlens monitor, artlens feedback export, artlens models list / promote / rollback (issue 36).

They read and write the operations database that ``artlens serve --db`` records into; with a shared
database (``postgresql://...``) they work from any machine, and a running server follows a promotion
or rollback within a few seconds, without a restart.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..ops import ALIASES, ExportConfig, MonitorConfig, default_database, export_feedback, open_store, run_monitor
from ._flags import config_flags, with_flags
from .app import app, err_console, out_console, styled

DbOption = Annotated[str, typer.Option("--db", help="Operations database: a SQLite file or an SQLAlchemy URL "
                                                    "(postgresql://user@host/db), as given to artlens serve --db "
                                                    "(default: the file artlens serve records into).")]
AliasOption = Annotated[str, typer.Option(help=f"Alias to move: {' | '.join(ALIASES)}.")]


@app.command()
@with_flags(config_flags(MonitorConfig))
def monitor(*, given: dict[str, Any]) -> None:
    """Accuracy and confusion from feedback per model and week, predicted classes, input drift, A/B arms
    and shadow models: report.md, report.json and a PNG per figure; flagged weeks are listed."""
    report = run_monitor(MonitorConfig(**given))
    table = Table(title="models")
    for col in ("model", "predictions", "feedback", "accuracy", "reference", "drift reference"):
        table.add_column(col)
    for model_id, info in report.models.items():
        acc = "n/a" if info["accuracy"] is None else f"{info['accuracy']:.3f}"
        ref = "n/a" if info["reference_accuracy"] is None else f"{info['reference_accuracy']:.3f}"
        table.add_row(model_id, str(info["predictions"]), str(info["feedback"]), acc, ref,
                      "yes" if info["drift_reference"] else "no (bundle has none)")
    out_console.print(table)
    for name, res in report.ab.items():
        arms = ", ".join(f"{a} {v['accuracy']:.3f} (n={v['n']})" for a, v in res["arms"].items() if v["n"])
        verdict = "significant" if res["significant"] else "not significant"
        p = "n/a" if res["p_value"] is None else f"{res['p_value']:.3g}"
        out_console.print(f"A/B {name}: {arms}; p = {p}, {verdict}")
    for flag in report.flags:
        err_console.print(styled("flagged", "bold yellow", f" {flag}"))
    out_console.print(f"report: {report.out / 'report.md'}")


feedback_app = typer.Typer(no_args_is_help=True, help="Feedback collected by artlens serve --db: export it for retraining.")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
@with_flags(config_flags(ExportConfig))
def feedback_export(*, given: dict[str, Any]) -> None:
    """Write the labelled images kept with --store-uploads as a manifest (path,label,...) that
    `artlens train --data` reads."""
    result = export_feedback(ExportConfig(**given))
    note = f"; {result.without_upload} feedback without a stored image left out" if result.without_upload else ""
    out_console.print(f"wrote {result.manifest}: {result.rows} examples{note}")


models_app = typer.Typer(help="Backbones (artlens models [--all]) and the served model versions and their "
                              "aliases: list, promote, rollback.")
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Also list every timm and torchvision name.")] = False,
) -> None:
    """List backbones and whether pretrained weights are available offline (or: list, promote, rollback)."""
    if ctx.invoked_subcommand is not None:
        return
    from .. import list_backbones

    table = Table(title="backbones (any timm or torchvision name also works)")
    for col in ("name", "source", "pretrained weights"):
        table.add_column(col)
    for info in list_backbones(include_all=all_):
        table.add_row(info.name, info.source, info.weights)
    out_console.print(table)


def _served(models_dir: str | None) -> dict[str, dict[str, Any]]:
    """Bundles a server started with ``--models models_dir`` offers, by ``name@version``."""
    from ..serve import ModelRegistry

    return {e.id: {"name": e.name, "version": e.version, "created": e.created,
                   "accuracy": e.metrics.get("accuracy")} for e in ModelRegistry(models_dir).entries()}


@models_app.command("list")
def models_list(
    db: DbOption = "",
    models_dir: Annotated[Optional[str], typer.Option("--models", help="Folder of bundles, as artlens serve --models.")] = None,
) -> None:
    """Every served version with its aliases, and the alias history."""
    store = open_store(db or default_database())
    try:
        aliases, history = store.aliases(), store.alias_log()
    finally:
        store.close()
    table = Table(title="model versions")
    for col in ("model", "aliases", "created", "test accuracy"):
        table.add_column(col)
    for model_id, e in _served(models_dir).items():
        names = [a for a, v in aliases.get(e["name"], {}).items() if v == e["version"]]
        acc = "n/a" if e["accuracy"] is None else f"{e['accuracy']:.3f}"
        table.add_row(model_id, ", ".join(names) or "-", e["created"], acc)
    out_console.print(table)
    for h in history[-10:]:
        out_console.print(f"{h['created']:%Y-%m-%d %H:%M} {h['action']} {h['name']}@{h['alias']}: "
                          f"{h['previous'] or '-'} -> {h['version']}")


@models_app.command("promote")
def models_promote(
    model: Annotated[str, typer.Argument(help="NAME@VERSION to serve.")],
    db: DbOption = "",
    alias: AliasOption = "production",
    models_dir: Annotated[Optional[str], typer.Option("--models", help="Check that the version is installed in this folder of bundles.")] = None,
) -> None:
    """Point an alias (production by default) at a version; servers on this database follow it."""
    from .. import ArtlensError

    name, sep, version = model.partition("@")
    if not sep or not name or not version:
        raise ArtlensError(f"{model!r}: give NAME@VERSION (see artlens models list)")
    if models_dir is not None and model not in _served(models_dir):
        raise ArtlensError(f"{model} is not in --models {models_dir}; installed: {', '.join(_served(models_dir))}")
    store = open_store(db or default_database())
    try:
        before = store.set_alias(name, alias, version)
    finally:
        store.close()
    out_console.print(f"{name}@{alias}: {before or '-'} -> {version}")


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    db: DbOption = "",
    alias: AliasOption = "production",
) -> None:
    """Point an alias back at the version it had before the last promotion."""
    store = open_store(db or default_database())
    try:
        before, after = store.rollback(name, alias)
    finally:
        store.close()
    out_console.print(f"{name}@{alias}: {before} -> {after} (rolled back)")


@models_app.command("reference")
def models_reference(
    bundle: Annotated[str, typer.Argument(help="Model bundle folder (a copy, for the built-in model).")],
    data: Annotated[str, typer.Option(help="Folder of the images the model was trained on (class subfolders give class "
                                           "shares too), or a manifest: with a split column, its train rows are "
                                           "embedded and its test rows give the class shares.")],
    limit: Annotated[int, typer.Option(min=2, help="Images embedded at most (a seeded random choice).")] = 256,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:1")] = "auto",
) -> None:
    """Store a drift reference in a bundle trained before artlens kept one (artlens train does it itself)."""
    from ..ops import add_drift_reference

    ref = add_drift_reference(bundle, data, limit=limit, device=device)
    out_console.print(f"{bundle}: drift reference of {ref['n']} images ({ref['dims']} dimensions) stored")
