"""Command-line interface (Typer); imports only the public library API."""

from .app import app, main

__all__ = ["app", "main"]
