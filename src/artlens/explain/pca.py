"""PCA per layer and the grid of PC1/PC2 scatter plots coloured by class (the ArtBench study's Figure 6).

Fitted on the test features, as in the study, so the picture shows how well a layer separates
images the probes never trained on.
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
                  explained: dict[str, np.ndarray] | None = None, title: str = "", axis: str = "PC") -> Path:
    """One panel per layer: PC1 vs PC2, one colour per class, explained variance in the axis labels.

    A panel without an ``explained`` entry gets bare axis names (``axis`` + 1, 2: ``UMAP 1`` for a
    UMAP map), never a made-up 0 %.
    """
    from ..viz.figures import _save, plt

    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    n = len(points)
    cols = min(n, 5)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, P) in zip(axes.flat, points.items()):
        ax.axis("on")
        P = P if P.shape[1] >= 2 else np.c_[P, np.zeros(len(P))]
        for i, c in enumerate(classes):
            m = labels == c
            ax.scatter(P[m, 0], P[m, 1], s=10, alpha=0.75, color=cmap(i % cmap.N), label=c.replace("_", " "))
        ratio = list((explained or {}).get(name, []))
        xlabel, ylabel = (f"{axis}{k} ({ratio[k - 1]:.0%})" if len(ratio) >= k else f"{axis}{k}" for k in (1, 2))
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
    handles, names = axes.flat[0].get_legend_handles_labels()
    ncol = max(1, min(len(classes), 6, 2 * cols))  # about two legend entries fit under each panel
    fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    legend_rows = -(-len(classes) // ncol)
    fig.tight_layout(rect=(0, (0.1 + 0.2 * legend_rows) / fig.get_figheight(), 1, 1))
    return _save(fig, path)
