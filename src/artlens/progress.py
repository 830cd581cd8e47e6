"""Rich progress bars for long work (feature extraction, epochs, inference).

``with progress_bar(total, "train") as advance: advance(n)``; the bar goes to stderr so that
``--json`` output on stdout stays machine-readable, and it is silent when ``enabled`` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["progress_bar", "stderr_console"]

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
