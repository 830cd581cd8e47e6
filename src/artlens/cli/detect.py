"""Commands: artlens detect / audit / cross-generator (issue 35: Human or AI?, audited for shortcuts).

Each builds its config from flags derived from the config's fields and calls one function of
:mod:`artlens.detect`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import ArtlensError
from ..detect import AuditConfig, CrossGeneratorConfig, DetectConfig, detect, run_audit, run_cross_generator
from ._flags import config_flags, with_flags
from .app import ImagesArgument, app, err_console, out_console, styled

__all__ = ["audit", "cross_generator", "detect_command"]


@app.command("detect")
@with_flags(config_flags(DetectConfig, skip={"inputs"}))
def detect_command(
    images: ImagesArgument,
    as_json: Annotated[bool, typer.Option("--json", help='Print [{"path", "verdict", "p_ai"}, ...] instead of a table.')] = False,
    *, given: dict[str, Any],
) -> None:
    """Human or AI? A verdict and the probability of AI per image (the built-in detector unless --model)."""
    report = detect(DetectConfig(inputs=images, **given), show_progress=not as_json and len(images) > 64)
    for s in report.skipped:
        err_console.print(styled("skipped", "yellow", f" {s.path}: {s.reason}"))
    if not report.detections:
        raise ArtlensError(f"none of the {len(images)} input(s) holds a readable image")
    if as_json:
        sys.stdout.write(json.dumps([d.to_dict() for d in report.detections], indent=2) + "\n")
        return
    table = Table(title=f"Human or AI? model: {Path(report.model).name}, AI from p_ai >= {report.threshold:.2f}")
    for col in ("image", "verdict", "p(AI)", *(["CAM"] if any(d.cam for d in report.detections) else [])):
        table.add_column(col)
    for d in report.detections:
        table.add_row(d.path, "AI" if d.verdict == "ai" else "human", f"{d.p_ai:.2f}", *([d.cam] if d.cam else []))
    out_console.print(table)
    for note in report.notes:
        err_console.print(styled("note", "cyan", f": {note}"))


@app.command()
@with_flags(config_flags(AuditConfig, required={"data"}))
def audit(*, given: dict[str, Any]) -> None:
    """Shortcut audit: can size, format, JPEG tables or EXIF alone tell the label? (--model: counterfactual test)."""
    cfg = AuditConfig(**given)
    report = run_audit(cfg)
    for s in report.skipped:
        err_console.print(styled("skipped", "yellow", f" {s.path}: {s.reason}"))
    table = Table(title=f"metadata alone vs the {cfg.label_mode} label "
                        f"({', '.join(f'{k} {v}' for k, v in report.labels.items())}"
                        f"{'; normalised' if report.normalised else ''})")
    for col in ("feature", "balanced accuracy", "chance", "values", ""):
        table.add_column(col)
    for r in report.rows:
        table.add_row(r["feature"], f"{r['balanced_accuracy']:.3f}", f"{r['chance']:.2f}", str(r["values"] or ""),
                      "SHORTCUT" if r["flagged"] else "", style="bold red" if r["flagged"] else None)
    out_console.print(table)
    if report.flagged:
        err_console.print(styled("WARNING", "bold red", f": shortcut(s) found: {', '.join(report.flagged)}; a model "
                                                        "trained on these files can score that well without looking at the pictures"))
    if report.counterfactual:
        cf = Table(title=f"counterfactual test of {cfg.model}")
        for col in ("images", "balanced accuracy", "drop"):
            cf.add_column(col)
        for r in report.counterfactual:
            cf.add_row(r["intervention"], f"{r['balanced_accuracy']:.3f}", f"{r['drop']:+.3f}")
        out_console.print(cf)
    out_console.print(f"report: {report.files['md']}; figure: {report.files['figure']}")


@app.command("cross-generator")
@with_flags(config_flags(CrossGeneratorConfig, required={"data"}))
def cross_generator(*, given: dict[str, Any]) -> None:
    """Train on some generators, score on each (an unseen one included): a matrix of balanced accuracies."""
    report = run_cross_generator(CrossGeneratorConfig(**given))
    table = Table(title="Human or AI across generators: balanced accuracy (rows: trained on; columns: scored on)")
    for col in ("trained on", *report.generators, "human recall"):
        table.add_column(col)
    for name, row, h in zip(report.rows, report.balanced_accuracy, report.human_recall):
        table.add_row(name, *(f"{v:.3f}" for v in row), f"{h:.3f}")
    out_console.print(table)
    out_console.print("unseen generator: " + ", ".join(f"{k} {v:.3f}" for k, v in report.unseen.items())
                      + f"; report: {report.files['md']}")
