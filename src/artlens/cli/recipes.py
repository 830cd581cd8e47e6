"""Commands: artlens reproduce / tune / compare (issue 4)."""

from __future__ import annotations

from .app import app  # noqa: F401
