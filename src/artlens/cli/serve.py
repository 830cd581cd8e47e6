"""Commands: artlens serve (issue 7)."""

from __future__ import annotations

from .app import app  # noqa: F401
