"""Training: ``fit(config)`` for classifiers (strategies, cached features, checkpoints, resume) and
:class:`GenerativeTrainer`, the step-based engine that trains generative models (AdaIN decoders)."""

from .generative import GenerativeRun, GenerativeTask, GenerativeTrainer
from .loop import RunResult, fit

__all__ = ["GenerativeRun", "GenerativeTask", "GenerativeTrainer", "RunResult", "fit"]
