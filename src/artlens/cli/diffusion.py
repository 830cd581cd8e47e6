"""Commands: ``artlens diffusion train|classify`` (issue 33).

Thin wrappers: their flags are the fields of :class:`~artlens.diffusion.DiffusionTrainConfig` and
:class:`~artlens.diffusion.DiffusionClassifyConfig` (via ``cli/_flags.py``); each builds its config, calls
one library function with a progress bar and prints a short summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..diffusion import DiffusionClassifyConfig, DiffusionTrainConfig
from ._flags import config_flags, with_flags
from .app import app, err_console, out_console, styled

diffusion_app = typer.Typer(no_args_is_help=True,
                            help="Class-conditional diffusion models as zero-shot classifiers (Li et al.): train on "
                                 "any dataset, classify with the cost up front.")
app.add_typer(diffusion_app, name="diffusion")


@diffusion_app.command("train")
@with_flags(config_flags(DiffusionTrainConfig, required={"data"}))
def train(*, given: dict[str, Any]) -> None:
    """Train a class-conditional diffusion model (UNet, cosine schedule, EMA) and save it as a bundle."""
    from ..diffusion import train_diffusion
    from ..progress import training_steps

    cfg = DiffusionTrainConfig(**given)
    with training_steps(cfg.steps, "diffusion") as (callback, state):
        bundle = train_diffusion(cfg, callback=callback)
    out_console.print(f"diffusion bundle: {bundle}; sample grids: {Path(cfg.out) / 'samples'}"
                      + (f"; last loss {state['loss']:.4g}" if state else " (no step left to train)"), highlight=False)


@diffusion_app.command("classify")
@with_flags(config_flags(DiffusionClassifyConfig, required={"model"}))
def classify(*, given: dict[str, Any]) -> None:
    """Classify images by per-class denoising error; prints the cost first, resumes a killed run, writes the
    evaluation report (``artlens compare`` reads it)."""
    from ..diffusion import classify_diffusion

    cfg = DiffusionClassifyConfig(**given)
    result = classify_diffusion(cfg, on_cost=lambda cost: err_console.print(cost.line(), highlight=False),
                                show_progress=True)
    m, cal = result.metrics, result.calibration
    calibrated = (f"; temperature {cal['temperature']:.3g}, test ECE {cal['ece_test_before']:.3f} -> "
                  f"{cal['ece_test_after']:.3f}" if cal else "; not calibrated")
    speed = ("all cached" if result.seconds_per_image != result.seconds_per_image
             else f"{result.seconds_per_image:.3g} s per image")
    err_console.print(styled("done", "bold green", f": accuracy {m['accuracy']:.4f} on {m['n']} images, "
                      f"{result.passes_per_image:.0f} denoiser passes and {speed}{calibrated}; report: "
                      f"{result.out / 'eval' / 'report.md'}"), highlight=False)
