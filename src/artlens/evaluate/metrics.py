"""Classification metrics from probabilities, all computed with scikit-learn."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

__all__ = ["classification_metrics"]


def classification_metrics(y_true: Sequence[int], probs: np.ndarray, classes: Sequence[str],
                           ks: Sequence[int] = (3, 5)) -> dict[str, Any]:
    """Accuracy, top-k, balanced accuracy, per-class accuracy/precision/recall/F1 (+ macro and weighted)
    and the confusion matrix.

    >>> m = classification_metrics([0, 1], np.array([[.9, .1], [.3, .7]]), ["a", "b"])
    >>> m["accuracy"], m["per_class"]["b"]["recall"]
    (1.0, 1.0)
    """
    y_true = np.asarray(y_true)
    labels = np.arange(len(classes))
    y_pred = probs.argmax(1) if len(probs) else np.zeros(0, dtype=int)
    out: dict[str, Any] = {"n": int(len(y_true)), "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0}
    for k in ks:
        if k < len(classes) and len(y_true):
            out[f"top{k}"] = float(top_k_accuracy_score(y_true, probs, k=k, labels=labels))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out["per_class"] = {
        c: {"accuracy": float(r[i]), "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
            "support": int(s[i])}
        for i, c in enumerate(classes)
    }
    for avg in ("macro", "weighted"):  # macro: over all of ``classes``, so an absent class counts as 0
        pa, ra, fa, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[avg] = {"precision": float(pa), "recall": float(ra), "f1": float(fa)}
    # The mean recall of the classes the set holds: on a set that lacks some of the model's classes
    # (paintings from another source, say) this is the class-balanced accuracy; macro recall is not.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        out["balanced_accuracy"] = float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else 0.0
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return out
