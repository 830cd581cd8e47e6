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

__all__ = ["ClassSimilarity", "Layout", "SimilarityConfig", "classical_mds", "kruskal_stress", "normalised_similarity",
           "run_similarity", "similarity_layout", "spring_layout"]


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


@dataclass
class Layout:
    """Node positions and how faithfully their distances on the page follow the input distances."""

    positions: np.ndarray
    """(K, 2), centred, scaled into [-1, 1]."""
    stress: float
    """Kruskal's stress-1: sqrt(sum (d - d_page)^2 / sum d^2) after the best scaling; 0 is exact."""

    @property
    def quality(self) -> str:
        """Kruskal's (1964) verbal scale for stress-1."""
        for cut, word in ((0.025, "excellent"), (0.05, "good"), (0.1, "fair"), (0.2, "poor")):
            if self.stress <= cut:
                return word
        return "bad: read the heatmap"


def kruskal_stress(distances: np.ndarray, positions: np.ndarray) -> float:
    """Stress-1 of a layout, with the page distances scaled by least squares to the input ones."""
    d = np.asarray(distances, dtype=np.float64)
    iu = np.triu_indices(len(d), 1)
    target = d[iu]
    page = pairwise_distances(positions)[iu]
    if not target.any():
        return 0.0
    scale = float(page @ target) / max(float(page @ page), 1e-24)
    return float(np.sqrt(((target - scale * page) ** 2).sum() / (target**2).sum()))


def classical_mds(distances: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Torgerson's classical MDS: the top eigenvectors of the double-centred squared distances."""
    d = np.asarray(distances, dtype=np.float64)
    n = len(d)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ (d**2) @ j
    values, vectors = np.linalg.eigh(b)
    top = np.argsort(values)[::-1][:n_components]
    coords = vectors[:, top] * np.sqrt(np.maximum(values[top], 0))
    if coords.shape[1] < n_components:
        coords = np.c_[coords, np.zeros((n, n_components - coords.shape[1]))]
    return coords


def similarity_layout(distances: np.ndarray, *, seed: int = 0) -> Layout:
    """Positions whose distances follow ``distances`` (the L2 distances between class means).

    Classical MDS gives the start, scikit-learn's SMACOF (metric MDS) refines it; the result keeps the
    most similar pair closest on the page, which a spring layout with repulsion does not promise, and
    says with its stress how much a 2-D picture had to bend the distances. Deterministic for ``seed``.
    """
    from sklearn.manifold import smacof

    d = np.asarray(distances, dtype=np.float64)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    n = len(d)
    if n <= 2:
        pos = np.zeros((n, 2))
        pos[:, 0] = [-1.0, 1.0][:n]
        return Layout(positions=pos, stress=0.0)
    start = classical_mds(d)
    best = start
    if n > 3:
        refined, _ = smacof(d, metric=True, n_components=2, init=start, n_init=1, max_iter=1000, eps=1e-9,
                            random_state=seed, normalized_stress=False)
        if kruskal_stress(d, refined) < kruskal_stress(d, start):
            best = refined
    best = best - best.mean(0)
    best = best / max(np.abs(best).max(), 1e-12)
    return Layout(positions=best, stress=kruskal_stress(d, best))


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


def class_colours(k: int) -> list:
    """One distinct colour per class, the same in the graph and the chord diagram."""
    from ..viz.figures import plt

    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


def _pair_range(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    return lo, (hi if hi > lo else lo + 1e-12)


def plot_force_graph(sim: ClassSimilarity, path: str | os.PathLike, *, title: str = "", seed: int = 0) -> Path:
    """Classes as nodes placed by :func:`similarity_layout`: the page distance between two classes follows
    the distance between their mean features (its stress is printed under the title). Edges: every pair
    up to 8 classes, else the top quartile; width and colour span the real range of the symmetrised
    similarity, each edge labelled with its value. Node colours match the chord diagram; area ~ class size.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from ..viz.figures import _save, plt

    layout = similarity_layout(sim.distances_, seed=seed)
    pos = layout.positions
    k = len(sim.classes_)
    sym = (sim.similarity_ + sim.similarity_.T) / 2
    iu = np.triu_indices(k, 1)
    pairs = [(i, j, sym[i, j]) for i, j in zip(*iu)]
    if k > 8:
        cut = np.quantile(sym[iu], 0.75)
        pairs = [p for p in pairs if p[2] >= cut]
    lo, hi = _pair_range(np.array([p[2] for p in pairs]))
    cmap, norm = colormaps["Blues"], Normalize(lo - 0.35 * (hi - lo), hi)  # the weakest edge still visible
    fig, ax = plt.subplots(figsize=(7.5, 7))
    for i, j, v in sorted(pairs, key=lambda p: p[2]):  # strongest drawn last, on top
        t = (v - lo) / (hi - lo)
        ax.plot(*pos[[i, j]].T, color=cmap(norm(v)), lw=0.8 + 9 * t, solid_capstyle="round", zorder=1)
        (x, y) = pos[[i, j]].mean(0)
        ax.text(x, y, f"{v:.2f}", fontsize=7.5, ha="center", va="center", zorder=3,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    sizes = 250 + 900 * sim.counts_ / max(sim.counts_.max(), 1)
    ax.scatter(pos[:, 0], pos[:, 1], s=sizes, color=class_colours(k), edgecolor="black", zorder=2)
    for (x, y), name in zip(pos, _pretty(sim.classes_)):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 20), ha="center", fontsize=9, zorder=4,
                    fontweight="bold")
    pad = 0.25
    ax.set_xlim(pos[:, 0].min() - pad, pos[:, 0].max() + pad)
    ax.set_ylim(pos[:, 1].min() - pad, pos[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, fraction=0.035, pad=0.02, shrink=0.6,
                 label="symmetrised similarity (s(A,B) + s(B,A)) / 2")
    ax.set_title((title or "class similarity graph") + f"\nlayout: metric MDS of the class-mean distances, "
                 f"stress {layout.stress:.3f} ({layout.quality})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_chord(sim: ClassSimilarity, path: str | os.PathLike, *, title: str = "", quantile: float = 0.75) -> Path:
    """Chord diagram: one arc per class on a circle, a ribbon per top-quartile pair.

    Classes go round the circle in the order of :func:`similarity_layout`, so alike classes are neighbours.
    Ribbon widths span the real range of the shown similarities (the weakest a quarter of its slot,
    the strongest the whole slot); each ribbon has its own colour, the mix of its two classes', and
    the legend gives its value.
    """
    from matplotlib.patches import Patch, PathPatch, Wedge
    from matplotlib.path import Path as MPath

    from ..viz.figures import _save, plt

    k = len(sim.classes_)
    colours = class_colours(k)
    gap = 2.0
    span = (360 - gap * k) / k
    # Classes around the circle in the order of the similarity layout's angles: alike classes sit side by
    # side and their ribbons are short instead of crossing the whole circle.
    pos = similarity_layout(sim.distances_).positions
    rank = np.empty(k, int)
    rank[np.argsort(np.arctan2(pos[:, 1], pos[:, 0]))] = np.arange(k)
    starts = rank * (span + gap)
    fig, ax = plt.subplots(figsize=(7.5, 7.5 + 0.2 * min(len(sim.top_pairs(quantile)), 20)), layout="constrained")
    for i, name in enumerate(_pretty(sim.classes_)):
        ax.add_patch(Wedge((0, 0), 1.08, starts[i], starts[i] + span, width=0.08, color=colours[i]))
        mid = np.deg2rad(starts[i] + span / 2)
        ax.text(1.18 * np.cos(mid), 1.18 * np.sin(mid), name, ha="center", va="center", fontsize=9,
                rotation=np.rad2deg(mid) - 90 if np.sin(mid) >= 0 else np.rad2deg(mid) + 90)
    index = {str(c): i for i, c in enumerate(sim.classes_)}
    pairs = sim.top_pairs(quantile)
    lo, hi = _pair_range(np.array([p[2] for p in pairs])) if pairs else (0.0, 1.0)
    used = np.zeros(k)
    per_node = np.bincount([index[a] for a, _, _ in pairs] + [index[b] for _, b, _ in pairs], minlength=k)
    handles = []
    for a, b, s in pairs:
        i, j = index[a], index[b]
        t = (s - lo) / (hi - lo)
        ends = []
        for n in (i, j):
            slot = span / max(per_node[n], 1)
            theta0 = starts[n] + used[n] * slot
            used[n] += 1
            width = slot * (0.25 + 0.7 * t)
            ends.append((np.deg2rad(theta0 + (slot - width) / 2), np.deg2rad(theta0 + (slot + width) / 2)))
        (a0, a1), (b0, b1) = ends
        pt = lambda t: (np.cos(t), np.sin(t))  # noqa: E731 - a point on the unit circle
        arc = lambda t0, t1: [pt(t) for t in np.linspace(t0, t1, 8)[1:]]  # noqa: E731 - along the circle
        # a0 -> (bend through the centre) -> b1, along b's arc to b0, back through the centre to a1, along a's arc.
        verts = [pt(a0), (0, 0), pt(b1), *arc(b1, b0), (0, 0), pt(a1), *arc(a1, a0), pt(a0)]
        codes = [MPath.MOVETO, MPath.CURVE3, MPath.CURVE3, *[MPath.LINETO] * 7, MPath.CURVE3, MPath.CURVE3,
                 *[MPath.LINETO] * 7, MPath.CLOSEPOLY]
        colour = tuple((np.array(colours[i][:3]) + np.array(colours[j][:3])) / 2)
        ax.add_patch(PathPatch(MPath(verts, codes), facecolor=colour, alpha=0.45 + 0.4 * t, edgecolor="white", lw=0.6))
        handles.append(Patch(facecolor=colour, alpha=0.45 + 0.4 * t, label=f"{a} – {b}: {s:.2f}".replace("_", " ")))
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    if handles:
        fig.legend(handles=handles[:20], loc="outside lower center", ncol=2, fontsize=8, frameon=False,
                   title="symmetrised similarity of the pairs shown" + (" (20 strongest)" if len(handles) > 20 else ""),
                   title_fontsize=8)
    ax.set_title(title or f"chord diagram of the top {1 - quantile:.0%} similarities", fontsize=10)
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
        "graph": plot_force_graph(sim, out / "graph.png", title=f"class graph ({what})"),
        "chord": plot_chord(sim, out / "chord.png", title=f"top-quartile similarities ({what})"),
    }
    pairs = sim.top_pairs(0.75)
    (out / "similarity.json").write_text(json.dumps({
        "model": source.name, "layer": cfg.layer, "classes": classes, "counts": sim.counts_.tolist(),
        "graph_layout_stress": round(similarity_layout(sim.distances_).stress, 4),
        "top_quartile_pairs": [{"a": a, "b": b, "similarity": round(s, 4)} for a, b, s in pairs],
        "skipped": [asdict(s) for s in feats.skipped], "config": asdict(cfg)}, indent=2, default=str))
    files["json"] = out / "similarity.json"
    return SimilarityReport(similarity=sim, top_pairs=pairs, files=files, skipped=feats.skipped)
