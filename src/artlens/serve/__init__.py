"""The web service: REST API + one-page app over the public library (``artlens serve``).

>>> from artlens.serve import create_app
>>> app = create_app(models_dir="models/")     # doctest: +SKIP

:class:`ServeConfig` is imported at once (the ``artlens serve`` flags are its fields); the app and its
registry, which pull in FastAPI, SQLAlchemy and the models, only when first used, so that every other
command of the CLI starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServeConfig

if TYPE_CHECKING:
    from .app import create_app
    from .registry import ModelRegistry

__all__ = ["ModelRegistry", "ServeConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ModelRegistry":
        from .registry import ModelRegistry

        return ModelRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
