"""Evaluation: metrics (scikit-learn), JSON/Markdown reports, confusion matrix and mistake galleries; the
grid a generator's upsampling leaves (:func:`grid_strength`)."""

from .artifacts import grid_strength
from .metrics import accuracy_interval, classification_metrics, format_interval, mcnemar_p_value, proportion_interval
from .report import evaluate, evaluate_samples, markdown_report

__all__ = ["accuracy_interval", "classification_metrics", "evaluate", "evaluate_samples", "format_interval", "grid_strength",
           "markdown_report", "mcnemar_p_value", "proportion_interval"]
