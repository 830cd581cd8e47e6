"""Figures of the shortcut audit, the counterfactual test and the cross-generator matrix.

Plain data in, a PNG out (as :mod:`artlens.viz.figures`): nothing here knows about models.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .figures import _save, plt

__all__ = ["plot_feature_audit", "plot_generator_matrix", "plot_interventions"]


def plot_feature_audit(rows: Sequence[dict], path: str | os.PathLike, *, title: str) -> Path:
    """One bar per metadata feature: its cross-validated balanced accuracy, chance marked, shortcuts red."""
    rows = sorted(rows, key=lambda r: r["balanced_accuracy"])
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(rows) + 1.6))
    colours = ["#c0392b" if r["flagged"] else "#7f8c8d" for r in rows]
    ax.barh([r["feature"] for r in rows], [r["balanced_accuracy"] for r in rows], color=colours)
    chance = rows[0]["chance"] if rows else 0.5
    ax.axvline(chance, color="black", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
    for i, r in enumerate(rows):
        ax.text(min(r["balanced_accuracy"] + 0.01, 0.93), i, f"{r['balanced_accuracy']:.2f}" + ("  SHORTCUT" if r["flagged"] else ""),
                va="center", fontsize=8, color=colours[i])
    ax.set_xlim(0, 1)
    ax.set_xlabel("balanced accuracy of a small tree on this feature alone (cross-validated)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_interventions(rows: Sequence[dict], path: str | os.PathLike, *, title: str, metric: str) -> Path:
    """The model's score on the original images and after each intervention."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = [r["intervention"] for r in rows]
    values = [r[metric] for r in rows]
    colours = ["#2c3e50"] + ["#c0392b" if r.get("drop", 0) >= 0.05 else "#95a5a6" for r in rows[1:]]
    ax.bar(names, values, color=colours)
    for i, r in enumerate(rows):
        drop = "" if i == 0 else f"\n({0.0 - r['drop'] + 0.0:+.3f})"
        ax.text(i, r[metric] + 0.01, f"{r[metric]:.3f}{drop}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_generator_matrix(matrix: Sequence[Sequence[float | None]], rows: Sequence[str], columns: Sequence[str],
                          path: str | os.PathLike, *, title: str) -> Path:
    """A heatmap: trained on the row's generators, scored on the column's (balanced accuracy)."""
    m = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    fig, ax = plt.subplots(figsize=(1.4 * len(columns) + 3, 0.8 * len(rows) + 1.8))
    im = ax.imshow(m, cmap="RdYlGn", vmin=0.5, vmax=1.0)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("tested on (AI images of) generator")
    ax.set_ylabel("trained on")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="balanced accuracy")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
