"""Command-line interface (Typer); imports only the public library API.

``app.py`` holds the root app and the spine's commands (train, evaluate, predict, data);
each other module adds the commands of one feature to the same app when imported here.
"""

from . import cyclegan, detect, diffusion, explain, ops, recipes, serve, style  # noqa: F401  (register their commands on ``app``)
from .app import app, main

__all__ = ["app", "main"]
