"""Commands: artlens stylize ... / trajectory (issue 6)."""

from __future__ import annotations

from .app import app  # noqa: F401
