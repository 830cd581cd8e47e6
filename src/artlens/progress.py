"""Rich progress bars for long work (feature extraction, epochs, inference).

``with progress_bar(total, "train") as advance: advance(n)``; the bar goes to stderr so that
``--json`` output on stdout stays machine-readable, and it is silent when ``enabled`` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["progress_bar", "stderr_console", "training_steps"]

stderr_console = Console(stderr=True)


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True,
                 postfix: Callable[[], str] | None = None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n=1: None
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=stderr_console, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")

        def advance(n: int = 1) -> None:
            progress.update(task, advance=n, info=postfix() if postfix else "")

        yield advance


StepCallback = Callable[[int, int, dict[str, float]], None]


@contextmanager
def training_steps(total: int, description: str, *, shown: Sequence[str] | None = None
                   ) -> Iterator[tuple[StepCallback, dict[str, float]]]:
    """A bar for a step-based trainer's ``callback(step, total, losses)``: ``(callback, losses)``.

    The first report after a resume jumps the bar to the run's step; ``losses`` holds the last step's
    values (the ``shown`` ones, or all, follow the bar), and stays empty when no step was left to train.
    """
    losses: dict[str, float] = {}

    def postfix() -> str:
        return " ".join(f"{k} {losses[k]:.3g}" for k in (shown or losses) if k in losses)

    with progress_bar(total, description, postfix=postfix) as advance:
        def callback(step: int, _total: int, values: dict[str, float]) -> None:
            if not losses:
                advance(step - 1)
            losses.update(values)
            advance(1)

        yield callback, losses
