"""The web service: REST API + one-page app over the public library (``artlens serve``).

>>> from artlens.serve import create_app
>>> app = create_app(models_dir="models/")     # doctest: +SKIP
"""

from .app import create_app
from .config import ServeConfig
from .registry import ModelRegistry

__all__ = ["ModelRegistry", "ServeConfig", "create_app"]
