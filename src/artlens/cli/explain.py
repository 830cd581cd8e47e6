"""Commands: artlens explain / layers / probe / pca / similarity / embed (issue 5)."""

from __future__ import annotations

from .app import app  # noqa: F401
