"""Training: ``fit(config)`` with strategies, cached features, checkpoints and resume."""

from .loop import RunResult, fit

__all__ = ["RunResult", "fit"]
