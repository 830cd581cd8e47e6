"""Evaluation: metrics (scikit-learn), JSON/Markdown reports, confusion matrix and mistake galleries."""

from .metrics import classification_metrics
from .report import evaluate, evaluate_samples, markdown_report

__all__ = ["classification_metrics", "evaluate", "evaluate_samples", "markdown_report"]
