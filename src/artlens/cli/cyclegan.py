"""Commands: ``artlens cyclegan train`` and ``artlens cyclegan apply`` (issue 32).

Thin wrappers: their flags are the fields of :class:`artlens.translate.CycleGANConfig` and
:class:`artlens.translate.TranslateConfig` (via ``cli/_flags.py``); each builds its config, calls one
library function with a progress bar and prints a short summary.
"""

from __future__ import annotations

from typing import Any

import typer

from .. import default_device, expand_inputs
from ..translate import CycleGANConfig, TranslateConfig
from ._flags import config_flags, with_flags
from .app import ImagesArgument, app, err_console, out_console, styled

cyclegan_app = typer.Typer(no_args_is_help=True,
                           help="Unpaired image-to-image translation (CycleGAN): train on two folders, apply at full size.")
app.add_typer(cyclegan_app, name="cyclegan")

#: ``--device auto`` on the command line (the configs say ``cpu``), resolved when the command runs.
CLI_DEFAULTS = {"device": "auto"}


#: The losses the bar and the summary show (of the many the run logs).
LOSSES_SHOWN = ("g", "d", "cycle_a", "cycle_b")


def _postfix(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {losses[k]:.3g}" for k in LOSSES_SHOWN if k in losses)


@cyclegan_app.command("train")
@with_flags(config_flags(CycleGANConfig, required={"a", "b"}, defaults=CLI_DEFAULTS))
def train(*, given: dict[str, Any]) -> None:
    """Train a CycleGAN between two unpaired image sets; writes checkpoints, log, loss curves, sample grids and a bundle."""
    from ..progress import training_steps
    from ..translate import train_cyclegan

    cfg = CycleGANConfig(**{**given, "device": str(default_device(given["device"]))})
    with training_steps(cfg.steps, "cyclegan", shown=LOSSES_SHOWN) as (callback, state):
        result = train_cyclegan(cfg, callback=callback)
    if not state:
        out_console.print(f"bundle: {result.bundle} (no step left to train: the run was already at step {cfg.steps})",
                          highlight=False)
        return
    out_console.print(f"bundle: {result.bundle}; samples: {result.samples}; loss curves: {result.curves}; "
                      f"last losses: {_postfix(state)}", highlight=False)


@cyclegan_app.command("apply")
@with_flags(config_flags(TranslateConfig, defaults=CLI_DEFAULTS))
def apply(
    images: ImagesArgument,
    *, given: dict[str, Any],
) -> None:
    """Translate images with a CycleGAN bundle at their own size (tiled with blended seams when large)."""
    from ..progress import progress_bar  # looked up at call time: tests swap it
    from ..translate import translate_images

    cfg = TranslateConfig(**{**given, "device": str(default_device(given["device"]))})
    files = expand_inputs(images)  # a wrong path fails before the model loads
    with progress_bar(len(files), f"cyclegan {cfg.direction}") as advance:
        def callback(done: int, total: int) -> None:
            advance(1)

        result = translate_images(files, cfg, callback=callback)
    for path, reason in result.skipped:
        err_console.print(styled("skipped", "yellow", f" {path}: {reason}"))
    out_console.print(f"wrote {len(result.written)} image(s) to {cfg.out} ({result.seconds:.1f}s)", highlight=False)


__all__ = ["cyclegan_app"]
