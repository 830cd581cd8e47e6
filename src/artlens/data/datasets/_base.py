"""What every dataset adapter is and shares: its description, its result, the checks of its options and
the one-line error for a folder that is not its layout. The registry is in :mod:`artlens.data.datasets`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ArtlensError
from ..images import is_system_name
from ..samples import Sample

__all__ = ["AdapterResult", "DatasetAdapter", "choice", "int_option", "skip"]

@dataclass
class AdapterResult:
    """What an adapter found: usable samples and the index rows it had to drop (with reasons)."""

    samples: list[Sample]
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    """``{"row": <the row as read>, "reason": <why>, "source": "<file>:<line>"}`` per dropped row."""


@dataclass(frozen=True)
class DatasetAdapter:
    """One published dataset layout; ``load(root, **options)`` reads it."""

    name: str
    description: str
    layout: str
    load: Callable[..., AdapterResult]
    options: Mapping[str, str] = field(default_factory=dict)
    """Allowed option names -> one-line help (shown in errors and by ``artlens datasets``)."""

    def wrong_root(self, root: Path, problem: str | None = None) -> ArtlensError:
        """A one-line error: what was expected at ``root`` and what is there."""
        detail = f" ({problem})" if problem else ""
        return ArtlensError(f"{root}: not laid out as the {self.name} dataset{detail}; expected {self.layout}; "
                            f"found {_entries(root)}")


def _entries(root: Path, limit: int = 8) -> str:
    """The top-level entries of ``root`` for an error message (folders end in ``/``)."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not is_system_name(p.name))
    if not names:
        return "an empty folder"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def choice(dataset: str, option: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ArtlensError(f"dataset {dataset!r}: option {option}={value!r} is not one of: {', '.join(allowed)}")
    return value


def int_option(dataset: str, option: str, value: Any, minimum: int) -> int:
    """An integer option of at least ``minimum`` (bools and non-integers are an error)."""
    number = None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None or number < minimum:
        raise ArtlensError(f"dataset {dataset!r}: option {option} must be an integer >= {minimum}, got {value!r}")
    return number


def skip(row: Any, reason: str, source: str) -> dict[str, Any]:
    """One entry of :attr:`AdapterResult.skipped_rows`."""
    return {"row": row, "reason": reason, "source": source}
