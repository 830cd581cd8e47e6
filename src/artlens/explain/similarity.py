"""Which classes does a network see as alike? Per-class mean features and their normalised similarity.

The Met study (section 4.2) compared cultures this way: the mean feature vector of each class, the
pairwise L2 distances d(A, B) between means, and the normalised similarity

    s(A, B) = d(A, B)^-1 / sum_{C != A} d(A, C)^-1

(each row sums to 1: the share of A's "closeness" that goes to B; not symmetric), drawn as a
heatmap, a force-directed graph and a chord diagram of the top-quartile similarities.

>>> import numpy as np
>>> sim = ClassSimilarity().fit(np.array([[0.0], [0.2], [5.0]]), ["a", "b", "c"])
>>> sim.classes_.tolist(), round(float(sim.similarity_[0, 1]), 3)
(['a', 'b', 'c'], 0.962)
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import pairwise_distances

from ..data.images import SkippedImage
from ..errors import ArtlensError
from ..outputs import output_dir
from .features import DEFAULT_MAX_BYTES, LayerFeaturesConfig, extract_features
from .source import load_source

__all__ = ["ClassSimilarity", "SimilarityConfig", "normalised_similarity", "run_similarity", "spring_layout"]


def normalised_similarity(distances: np.ndarray) -> np.ndarray:
    """``s[a, b] = d[a, b]^-1 / sum_{c != a} d[a, c]^-1``; the diagonal is 0 (a class with itself is undefined)."""
    d = np.asarray(distances, dtype=np.float64)
    k = len(d)
    inv = np.zeros_like(d)
    off = ~np.eye(k, dtype=bool)
    inv[off] = 1.0 / np.maximum(d[off], 1e-12)  # identical means: as close as numbers allow
    rows = inv.sum(1, keepdims=True)
    return np.divide(inv, rows, out=np.zeros_like(inv), where=rows > 0)


class ClassSimilarity(BaseEstimator):
    """Class means, their L2 distances and normalised similarities (scikit-learn style).

    Fitted attributes: ``classes_``, ``means_`` (K, D), ``counts_``, ``distances_`` (K, K) and
    ``similarity_`` (K, K, rows sum to 1).
    """

    def __init__(self, standardize: bool = False) -> None:
        self.standardize = standardize

    def fit(self, X, y) -> "ClassSimilarity":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if len(X) != len(y):
            raise ArtlensError(f"{len(X)} feature rows but {len(y)} labels")
        if self.standardize:
            X = (X - X.mean(0)) / np.where(X.std(0) > 1e-8, X.std(0), 1.0)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ArtlensError("class similarity needs at least two classes")
        self.means_ = np.stack([X[y == c].mean(0) for c in self.classes_])
        self.counts_ = np.array([(y == c).sum() for c in self.classes_])
        self.distances_ = pairwise_distances(self.means_, metric="euclidean")
        self.similarity_ = normalised_similarity(self.distances_)
        return self

    def top_pairs(self, quantile: float = 0.75) -> list[tuple[str, str, float]]:
        """Unordered class pairs whose symmetrised similarity is in the top ``1 - quantile``."""
        sym = (self.similarity_ + self.similarity_.T) / 2
        iu = np.triu_indices(len(sym), 1)
        cut = np.quantile(sym[iu], quantile)
        pairs = [(str(self.classes_[i]), str(self.classes_[j]), float(sym[i, j])) for i, j in zip(*iu) if sym[i, j] >= cut]
        return sorted(pairs, key=lambda p: -p[2])


def spring_layout(weights: np.ndarray, *, iterations: int = 300, seed: int = 0) -> np.ndarray:
    """Fruchterman-Reingold positions (K, 2) in [-1, 1] for a weighted undirected graph.

    Every pair repels (k^2 / d), edges attract in proportion to their weight (w d^2 / k): similar
    classes end up close. Deterministic for a given ``seed``; written with numpy because networkx
    is not a dependency.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    if w.max() > 0:
        w = w / w.max()
    n = len(w)
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pos = np.c_[np.cos(angle), np.sin(angle)] + rng.normal(scale=0.05, size=(n, 2))
    k = 1.0 / np.sqrt(n)
    temp = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=-1), 1e-4)
        force = (k * k / dist**2 - w * dist / k)[:, :, None] * delta  # repulsion - attraction, along delta
        disp = force.sum(1)
        length = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 1e-9)
        pos += disp / length * np.minimum(length, temp)
        temp *= 0.985
    pos -= pos.mean(0)
    return pos / max(np.abs(pos).max(), 1e-9)


# -- figures -----------------------------------------------------------------------------------

def _pretty(names) -> list[str]:
    return [str(c).replace("_", " ") for c in names]


def plot_similarity_heatmap(sim: ClassSimilarity, path: str | os.PathLike, *, title: str = "") -> Path:
    from ..viz.figures import _save, plt

    k = len(sim.classes_)
    side = max(5.0, 0.45 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side, side * 0.9))
    shown = np.where(np.eye(k, dtype=bool), np.nan, sim.similarity_)
    im = ax.imshow(shown, cmap="viridis")
    ax.set_xticks(range(k), _pretty(sim.classes_), rotation=90, fontsize=8)
    ax.set_yticks(range(k), _pretty(sim.classes_), fontsize=8)
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if i != j:
                    ax.text(j, i, f"{sim.similarity_[i, j]:.2f}", ha="center", va="center", fontsize=6.5, color="white")
    ax.set_xlabel("B")
    ax.set_ylabel("A")
    ax.set_title(title or "normalised similarity s(A, B) (rows sum to 1)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def plot_force_graph(sim: ClassSimilarity, path: str | os.PathLike, *, title: str = "", seed: int = 0) -> Path:
    """Classes as nodes placed by :func:`spring_layout`; edges of the top-quartile pairs, width ~ similarity."""
    from ..viz.figures import _save, plt

    pos = spring_layout(sim.similarity_, seed=seed)
    index = {str(c): i for i, c in enumerate(sim.classes_)}
    fig, ax = plt.subplots(figsize=(7, 6.5))
    pairs = sim.top_pairs(0.75)
    top = max((p[2] for p in pairs), default=1.0)
    for a, b, s in pairs:
        i, j = index[a], index[b]
        ax.plot(*pos[[i, j]].T, color="tab:blue", alpha=0.35 + 0.5 * s / top, lw=1 + 5 * s / top, zorder=1)
    sizes = 300 + 900 * sim.counts_ / max(sim.counts_.max(), 1)
    ax.scatter(pos[:, 0], pos[:, 1], s=sizes, color="tab:orange", edgecolor="black", zorder=2)
    for (x, y), name in zip(pos, _pretty(sim.classes_)):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 22), ha="center", fontsize=8, zorder=3)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.axis("off")
    ax.set_title(title or "force-directed graph (edges: top-quartile similarity)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_chord(sim: ClassSimilarity, path: str | os.PathLike, *, title: str = "", quantile: float = 0.75) -> Path:
    """Chord diagram: one arc per class on a circle, a ribbon per top-quartile pair (width ~ similarity)."""
    from matplotlib.patches import PathPatch, Wedge
    from matplotlib.path import Path as MPath

    from ..viz.figures import _save, plt

    k = len(sim.classes_)
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    gap = 2.0
    span = (360 - gap * k) / k
    starts = np.arange(k) * (span + gap)
    fig, ax = plt.subplots(figsize=(7.5, 7.5))
    for i, name in enumerate(_pretty(sim.classes_)):
        ax.add_patch(Wedge((0, 0), 1.08, starts[i], starts[i] + span, width=0.08, color=cmap(i % cmap.N)))
        mid = np.deg2rad(starts[i] + span / 2)
        ax.text(1.18 * np.cos(mid), 1.18 * np.sin(mid), name, ha="center", va="center", fontsize=8,
                rotation=np.rad2deg(mid) - 90 if np.sin(mid) >= 0 else np.rad2deg(mid) + 90)
    index = {str(c): i for i, c in enumerate(sim.classes_)}
    pairs = sim.top_pairs(quantile)
    top = max((p[2] for p in pairs), default=1.0)
    used = np.zeros(k)
    per_node = np.bincount([index[a] for a, _, _ in pairs] + [index[b] for _, b, _ in pairs], minlength=k)
    for a, b, s in pairs:
        i, j = index[a], index[b]
        ends = []
        for n in (i, j):
            slot = span / max(per_node[n], 1)
            theta0 = starts[n] + used[n] * slot
            used[n] += 1
            width = slot * (0.35 + 0.6 * s / top)
            ends.append((np.deg2rad(theta0 + (slot - width) / 2), np.deg2rad(theta0 + (slot + width) / 2)))
        (a0, a1), (b0, b1) = ends
        pt = lambda t: (np.cos(t), np.sin(t))  # noqa: E731 - a point on the unit circle
        arc = lambda t0, t1: [pt(t) for t in np.linspace(t0, t1, 8)[1:]]  # noqa: E731 - along the circle
        # a0 -> (bend through the centre) -> b1, along b's arc to b0, back through the centre to a1, along a's arc.
        verts = [pt(a0), (0, 0), pt(b1), *arc(b1, b0), (0, 0), pt(a1), *arc(a1, a0), pt(a0)]
        codes = [MPath.MOVETO, MPath.CURVE3, MPath.CURVE3, *[MPath.LINETO] * 7, MPath.CURVE3, MPath.CURVE3,
                 *[MPath.LINETO] * 7, MPath.CLOSEPOLY]
        ax.add_patch(PathPatch(MPath(verts, codes), facecolor=cmap(i % cmap.N), alpha=0.35 + 0.4 * s / top,
                               edgecolor="none"))
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"chord diagram of the top {1 - quantile:.0%} similarities", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _write_matrix(matrix: np.ndarray, classes, path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["class", *classes])
        for c, row in zip(classes, matrix):
            writer.writerow([c, *(f"{v:.6g}" for v in row)])
    return path


# -- the command -------------------------------------------------------------------------------

@dataclass
class SimilarityConfig(LayerFeaturesConfig):
    """Everything ``artlens similarity`` needs; the CLI fills it from flags unchanged."""

    data: str = ""
    """Labelled image folder tree or manifest (at least two classes)."""
    out: str = "artlens-similarity"
    """Folder for the matrices (CSV) and figures."""
    standardize: bool = False
    """Standardise features before averaging (keeps a few large channels from dominating d)."""
    cache_dir: str = ""
    """Feature cache; empty = ``<out>/features``."""


@dataclass
class SimilarityReport:
    similarity: ClassSimilarity
    top_pairs: list[tuple[str, str, float]]
    files: dict[str, Path]
    skipped: list[SkippedImage] = field(default_factory=list)
    """Unreadable images, left out."""


def run_similarity(cfg: SimilarityConfig) -> SimilarityReport:
    """Features of every image, class means, distances, similarities; CSV matrices and three figures."""
    from ..data.dataset import load_collection

    collection = load_collection(cfg.data_config(), split=False)
    if len(collection.classes) < 2:  # known from the folder names: say so before extracting anything
        raise ArtlensError(f"{cfg.data}: class similarity needs at least two classes, found {len(collection.classes)}")
    source = load_source(cfg.model, weights=cfg.weights, input_size=cfg.input_size)
    out = output_dir(cfg.out)
    feats = extract_features(source, collection.samples, [cfg.layer], pooling=cfg.pooling, batch_size=cfg.batch_size,
                             cache_dir=cfg.cache_dir or out / "features", device=cfg.device, max_bytes=DEFAULT_MAX_BYTES)
    sim = ClassSimilarity(standardize=cfg.standardize).fit(feats.features[cfg.layer], feats.labels)
    classes = [str(c) for c in sim.classes_]
    what = f"{source.name}, {cfg.layer}"
    files = {
        "distances": _write_matrix(sim.distances_, classes, out / "distances.csv"),
        "similarity": _write_matrix(sim.similarity_, classes, out / "similarity.csv"),
        "heatmap": plot_similarity_heatmap(sim, out / "similarity.png", title=f"normalised similarity ({what})"),
        "graph": plot_force_graph(sim, out / "graph.png", title=f"class graph ({what}; edges: top quartile)"),
        "chord": plot_chord(sim, out / "chord.png", title=f"top-quartile similarities ({what})"),
    }
    pairs = sim.top_pairs(0.75)
    (out / "similarity.json").write_text(json.dumps({
        "model": source.name, "layer": cfg.layer, "classes": classes, "counts": sim.counts_.tolist(),
        "top_quartile_pairs": [{"a": a, "b": b, "similarity": round(s, 4)} for a, b, s in pairs],
        "skipped": [asdict(s) for s in feats.skipped], "config": asdict(cfg)}, indent=2, default=str))
    files["json"] = out / "similarity.json"
    return SimilarityReport(similarity=sim, top_pairs=pairs, files=files, skipped=feats.skipped)
