"""PCA per layer and the grid of PC1/PC2 scatter plots coloured by class (the ArtBench study's Figure 6).

Fitted on the test features, as in the study, so the axes show how a layer spreads images the probes
never trained on; the training images are projected onto the same axes and drawn apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA

__all__ = ["LayerPCA", "plot_pca_grid"]


class LayerPCA(TransformerMixin, BaseEstimator):
    """One scikit-learn PCA per layer; ``fit({layer: X})`` returns self, ``transform`` maps each layer.

    Fitted attributes: ``layers_``, ``pcas_`` and ``explained_variance_ratio_`` (``{layer: array}``).

    >>> import numpy as np
    >>> pca = LayerPCA().fit({"conv1_1": np.random.default_rng(0).normal(size=(20, 5))})
    >>> pca.transform({"conv1_1": np.zeros((3, 5))})["conv1_1"].shape
    (3, 2)
    """

    def __init__(self, n_components: int = 2, standardize: bool = True) -> None:
        self.n_components = n_components
        self.standardize = standardize

    def _prep(self, name: str, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return (X - self.means_[name]) / self.scales_[name] if self.standardize else X

    def fit(self, features: dict[str, np.ndarray], y=None) -> "LayerPCA":
        self.layers_ = list(features)
        self.means_ = {k: np.asarray(v, np.float64).mean(0) for k, v in features.items()}
        # Standardising keeps a few high-variance channels from being the whole picture.
        self.scales_ = {k: np.where((s := np.asarray(v, np.float64).std(0)) > 1e-8, s, 1.0) for k, v in features.items()}
        self.pcas_ = {}
        for name, X in features.items():
            k = max(1, min(self.n_components, X.shape[0], X.shape[1]))
            self.pcas_[name] = PCA(n_components=k, random_state=0).fit(self._prep(name, X))
        self.explained_variance_ratio_ = {k: p.explained_variance_ratio_ for k, p in self.pcas_.items()}
        return self

    def transform(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: self.pcas_[name].transform(self._prep(name, features[name])) for name in self.layers_}


def plot_pca_grid(points: dict[str, np.ndarray], labels: Sequence[str], path: str | os.PathLike, *,
                  explained: dict[str, np.ndarray] | None = None, title: str = "", axis: str = "PC",
                  split: Sequence[str] | None = None) -> Path:
    """One panel per layer: PC1 vs PC2, one colour per class, explained variance in the axis labels.

    The grid is as square as the panels allow (6 layers: 3 x 2, no empty slots in a 5-wide row); the
    legend sits beside it. With ``split`` (``"train"``/``"test"`` per point), test points are filled
    circles and training points small hollow ones, so one sees whether the held-out images fall where
    the training images of their class lie; each class's centroid (over all its points) is a large
    outlined star. A panel without an ``explained`` entry gets bare axis names (``axis`` + 1, 2:
    ``UMAP 1`` for a UMAP map), never a made-up 0 %.
    """
    from matplotlib.lines import Line2D

    from ..viz.figures import _save, plt

    labels = np.asarray(labels)
    split = np.asarray(split) if split is not None else np.full(len(labels), "test")
    classes = sorted(set(labels.tolist()))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    colour = {c: cmap(i % cmap.N) for i, c in enumerate(classes)}
    n = len(points)
    cols = int(np.ceil(np.sqrt(n)))
    rows = (n + cols - 1) // cols
    side = 3.6 if n > 1 else 5.0
    legend_width = 1.9 + 0.06 * max((len(c) for c in classes), default=0)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols + legend_width, side * rows + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.remove()
    both = len(set(split.tolist())) > 1
    few = len(labels) <= 400
    for ax, (name, P) in zip(axes.flat, points.items()):
        P = P if P.shape[1] >= 2 else np.c_[P, np.zeros(len(P))]
        for c in classes:
            m = labels == c
            train, test = m & (split != "test"), m & (split == "test")
            if train.any():
                ax.scatter(P[train, 0], P[train, 1], s=18 if few else 6, facecolors="none", edgecolors=[colour[c]],
                           linewidths=0.9, alpha=0.7)
            if test.any():
                ax.scatter(P[test, 0], P[test, 1], s=30 if few else 8, color=colour[c], edgecolors="white" if few else "none",
                           linewidths=0.4, alpha=0.9)
            centre = P[m, :2].mean(0)
            ax.scatter(*centre, s=260, marker="*", color=colour[c], edgecolors="black", linewidths=1.0, zorder=5)
        ratio = list((explained or {}).get(name, []))
        xlabel, ylabel = (f"{axis}{k} ({ratio[k - 1]:.0%})" if len(ratio) >= k else f"{axis}{k}" for k in (1, 2))
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.2)
    handles = [Line2D([], [], ls="none", marker="o", ms=7, color=colour[c], label=c.replace("_", " ")) for c in classes]
    handles.append(Line2D([], [], ls="none", marker="*", ms=13, color="white", markeredgecolor="black",
                          label="class centroid"))
    if both:
        handles += [Line2D([], [], ls="none", marker="o", ms=6, color="grey", label="test image"),
                    Line2D([], [], ls="none", marker="o", ms=5, markerfacecolor="none", markeredgecolor="grey",
                           label="training image")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False,
               ncol=1 if len(classes) <= 24 else 2)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)
