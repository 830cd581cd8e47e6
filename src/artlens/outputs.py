"""Output folders, made and checked before the work that fills them.

A run that cannot write its results should say so in one line before it trains, not with a
``PermissionError`` traceback after an epoch: :func:`output_dir` creates the folder and proves it
writable with a throw-away file. A bundle replaces its folder whole, so :func:`replaceable_folder`
refuses, before any work, a folder holding anything a bundle would not: a user's notes are never
deleted to make room for a model.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Collection
from pathlib import Path

from .errors import ArtlensError

__all__ = ["output_dir", "replaceable_folder", "sibling_name"]


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


def replaceable_folder(path: str | os.PathLike, *, keep: Collection[str], what: str = "") -> Path:
    """``path`` if replacing it with a new folder loses nothing: it is missing, empty, or holds only the
    ``keep`` files (an earlier bundle's). Anything else is an :class:`ArtlensError` naming it (after
    ``what``, e.g. ``"--out"``, when given)."""
    path = Path(path)
    named = f"{what} {path}" if what else str(path)
    if not path.exists() and not path.is_symlink():
        return path
    if not path.is_dir() or path.is_symlink():
        raise ArtlensError(f"{named}: is a file, not a folder")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise ArtlensError(f"{named}: is the working folder or contains it; give a new folder")
    other = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if p.name not in keep)
    if other:
        listed = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        raise ArtlensError(f"{named}: holds files that are not part of a bundle ({listed}) and would be "
                           "deleted; move them or give a new folder")
    return path


def sibling_name(path: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``path``, to write there and then rename over it.

    Created with ``os.mkdir`` or ``open(..., "xb")`` it gets the user's umask, where ``tempfile``
    makes 0700 folders and 0600 files: a bundle copied to a shared models folder, or served by
    another user, must stay readable.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
