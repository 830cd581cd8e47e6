"""Output folders, made and checked before the work that fills them.

A run that cannot write its results should say so in one line before it trains, not with a
``PermissionError`` traceback after an epoch: :func:`output_dir` creates the folder and proves it
writable with a throw-away file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ArtlensError

__all__ = ["output_dir"]


def output_dir(path: str | os.PathLike, *, what: str = "--out") -> Path:
    """``path`` as a created, writable folder, or an :class:`ArtlensError` naming it and the reason."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ArtlensError(f"{what} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ArtlensError(f"{what} {path}: cannot write there ({err.strerror or err})") from None
    return path
