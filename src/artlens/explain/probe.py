"""Linear probes per layer: how much of the label can a logistic regression read off each depth?

The ArtBench study (section 4.1) probed VGG19 at conv1_1 ... conv5_1 and found style readable
from the very first layer (0.82) rising to 0.97 at conv5_1: style lives in low-level statistics
as much as in objects. :func:`run_probe` reproduces that on any data and backbone: one forward pass
per image for all layers (:mod:`.features`), a stratified train/test split, a standardised
scikit-learn ``LogisticRegression`` per layer, then a table (CSV, Markdown, JSON), a
layer-vs-accuracy plot and, per layer, a PCA of the test features (:mod:`.pca`).

>>> from artlens.explain.probe import ProbeConfig, run_probe
>>> report = run_probe(ProbeConfig(model="vgg19", weights="vgg19.safetensors", data="paintings/",
...                                layers=["conv1_1", "conv3_1", "conv5_1"], out="runs/probe"))  # doctest: +SKIP
>>> report.rows[0]["test_accuracy"]                                                            # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..data.images import SkippedImage
from ..errors import ArtlensError
from ..evaluate.metrics import accuracy_interval
from ..outputs import output_dir
from .features import DEFAULT_MAX_BYTES, FeaturesConfig, check_extraction_options, extract_features
from .source import load_source

__all__ = ["LayerProbes", "ProbeConfig", "ProbeReport", "accuracy_interval", "run_probe"]


class LayerProbes(BaseEstimator):
    """One standardised logistic-regression probe per layer (a scikit-learn style estimator).

    ``fit(features, y)`` takes ``{layer: (n, d) array}`` and the labels; fitted attributes are
    ``layers_``, ``classes_`` and ``probes_`` (``{layer: Pipeline}``).

    >>> import numpy as np
    >>> X = {"a": np.r_[np.zeros((5, 2)), np.ones((5, 2))]}
    >>> LayerProbes().fit(X, [0] * 5 + [1] * 5).score(X, [0] * 5 + [1] * 5)
    {'a': 1.0}
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.C = C
        self.max_iter = max_iter

    def _template(self):
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))

    def fit(self, features: dict[str, np.ndarray], y) -> "LayerProbes":
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ArtlensError("a probe needs at least two classes in the training split")
        self.layers_ = list(features)
        self.probes_ = {name: clone(self._template()).fit(features[name], y) for name in self.layers_}
        return self

    def predict(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_is_fitted(self, "probes_")
        missing = [name for name in self.layers_ if name not in features]
        if missing:
            raise ArtlensError(f"features lack the fitted layer(s) {', '.join(missing)}")
        return {name: self.probes_[name].predict(features[name]) for name in self.layers_}

    def score(self, features: dict[str, np.ndarray], y) -> dict[str, float]:
        """Accuracy per layer."""
        y = np.asarray(y)
        return {name: float((pred == y).mean()) for name, pred in self.predict(features).items()}


@dataclass
class ProbeConfig(FeaturesConfig):
    """Everything ``artlens probe`` needs; the CLI fills it from flags unchanged."""

    data: str = ""
    """Labelled image folder tree or manifest (a train/test split in the data is kept)."""
    layers: list[str] = field(default_factory=list)
    """Layer names (``artlens layers MODEL``), module paths or ``embed``, e.g. conv1_1,conv2_1,conv3_1."""
    out: str = "artlens-probe"
    """Folder for probe.csv/.md/.json and figures."""
    test_fraction: float = 0.3
    """Held-out share per class (a split in the data is kept)."""
    seed: int = 0
    """Seed of the stratified split."""
    C: float = 1.0
    """Inverse L2 regularisation strength of the logistic regressions."""
    max_iter: int = 2000
    """Iterations of each logistic regression's solver."""
    num_workers: int = 0
    """DataLoader worker processes."""
    cache_dir: str = ""
    """Feature cache; empty = ``<out>/features``. Point several probes at one folder to share it."""
    pca: bool = True
    """Also fit a PCA per layer on the test features and draw the PC1/PC2 grid."""
    max_gb: float = DEFAULT_MAX_BYTES / 1024**3
    """Refuse to extract more pooled features than this (a 512-channel Gram matrix is 131k floats/image)."""

    def __post_init__(self) -> None:
        """Refuse bad settings here, before any image is read: scikit-learn would reject a ``C`` of 0
        only after every feature has been extracted, with a long traceback."""
        check_extraction_options(pooling=self.pooling, batch_size=self.batch_size, num_workers=self.num_workers,
                                 input_size=self.input_size)
        self.layers = list(dict.fromkeys(self.layers))  # a layer named twice is probed once
        if not self.layers:
            raise ArtlensError("--layers: give at least one layer (see `artlens layers MODEL`)")
        if not 0.0 < self.test_fraction < 1.0:
            raise ArtlensError(f"--test-fraction: {self.test_fraction} must be between 0 and 1")
        if not self.C > 0:  # also refuses NaN
            raise ArtlensError(f"--C must be > 0, got {self.C:g}")
        if self.max_iter < 1:
            raise ArtlensError(f"max_iter must be >= 1, got {self.max_iter}")
        if self.max_per_class is not None and self.max_per_class < 2:
            raise ArtlensError(f"--max-per-class must be >= 2 (one image to train, one to test), "
                               f"got {self.max_per_class}")
        if not self.max_gb > 0:
            raise ArtlensError(f"--max-gb must be > 0, got {self.max_gb:g}")


@dataclass
class ProbeReport:
    rows: list[dict[str, Any]]
    """One per layer: layer, dim, train_accuracy, test_accuracy, its 95 % Wilson interval (test_ci_low,
    test_ci_high) and, with PCA, the explained variance of PC1 and PC2."""
    n_train: int
    n_test: int
    classes: list[str]
    files: dict[str, Path]
    cached_layers: list[str]
    skipped: list[SkippedImage] = field(default_factory=list)
    """Unreadable images, left out."""
    dropped_classes: dict[str, int] = field(default_factory=dict)
    """Classes with fewer than 2 images (one for training, one for testing), left out: ``{class: count}``."""


def _split(cfg: ProbeConfig):
    """The data's own split when it has one, else a stratified split (artlens' splitter, seeded)."""
    from ..data.dataset import load_collection

    return load_collection(cfg.data_config(val_fraction=0.0, test_fraction=cfg.test_fraction, seed=cfg.seed,
                                           min_per_class=2))


def run_probe(cfg: ProbeConfig) -> ProbeReport:
    """Extract (or reuse) features, fit probes and PCA, write table + figures to ``cfg.out``."""
    collection = _split(cfg)
    if len(collection.classes) < 2:
        raise ArtlensError(f"{cfg.data}: probing needs at least two classes, found {len(collection.classes)}")
    source = load_source(cfg.model, weights=cfg.weights, input_size=cfg.input_size)
    out = output_dir(cfg.out)
    feats = extract_features(source, collection.samples, cfg.layers, pooling=cfg.pooling, batch_size=cfg.batch_size,
                             num_workers=cfg.num_workers, cache_dir=cfg.cache_dir or out / "features",
                             device=cfg.device, max_bytes=int(cfg.max_gb * 1024**3))
    splits = np.array([s.split or "train" for s in feats.samples])
    train, test = np.isin(splits, ["train", "val"]), splits == "test"
    if not test.any() or not train.any():
        raise ArtlensError(f"{cfg.data}: the split left no {'test' if not test.any() else 'training'} images; "
                           "use more images per class or another --test-fraction")
    y = feats.labels
    probes = LayerProbes(C=cfg.C, max_iter=cfg.max_iter).fit({k: v[train] for k, v in feats.features.items()}, y[train])
    train_acc = probes.score({k: v[train] for k, v in feats.features.items()}, y[train])
    test_acc = probes.score({k: v[test] for k, v in feats.features.items()}, y[test])
    n_test = int(test.sum())
    rows = []
    for name in cfg.layers:
        low, high = accuracy_interval(test_acc[name], n_test)
        rows.append({"layer": name, "dim": int(feats.features[name].shape[1]), "train_accuracy": round(train_acc[name], 4),
                     "test_accuracy": round(test_acc[name], 4), "test_ci_low": round(low, 4), "test_ci_high": round(high, 4)})
    files = {}
    if cfg.pca:
        from .pca import LayerPCA, plot_pca_grid

        pca = LayerPCA(n_components=2).fit({k: v[test] for k, v in feats.features.items()})
        for row in rows:
            ratio = pca.explained_variance_ratio_[row["layer"]]
            row["pc1_var"], row["pc2_var"] = (round(float(r), 4) for r in (list(ratio) + [0.0])[:2])
        shown = train | test
        files["pca"] = plot_pca_grid(pca.transform({k: v[shown] for k, v in feats.features.items()}), y[shown],
                                     out / "pca.png", explained=pca.explained_variance_ratio_,
                                     split=np.where(test[shown], "test", "train"),
                                     title=f"{source.name}: PCA per layer ({cfg.pooling}; axes fitted on the "
                                           f"{int(test.sum())} test images)")
    else:
        _remove_stale_pca(out)
    classes = sorted(set(y.tolist()))
    files.update(_write_table(rows, out, meta={
        "model": source.name, "data": cfg.data, "pooling": cfg.pooling, "n_train": int(train.sum()),
        "n_test": int(test.sum()), "classes": classes, "chance": round(1 / len(classes), 4),
        "skipped": [asdict(s) for s in feats.skipped], "dropped_classes": collection.dropped_classes,
        "config": asdict(cfg)}))
    files["plot"] = plot_probe_accuracy(rows, out / "probe_accuracy.png", chance=1 / len(classes),
                                        title=f"{source.name} linear probes ({cfg.pooling}, {int(test.sum())} test images)")
    return ProbeReport(rows=rows, n_train=int(train.sum()), n_test=int(test.sum()), classes=classes, files=files,
                       cached_layers=feats.cached_layers, skipped=feats.skipped,
                       dropped_classes=collection.dropped_classes)


PCA_FILES = ("pca.png",)
"""What ``pca=True`` writes besides the table columns; a run without PCA removes them."""


def _remove_stale_pca(out: Path) -> None:
    """Delete a PCA grid an earlier run left in ``out``: beside this run's table it would show other
    layers (or other data) as if they were this run's."""
    for name in PCA_FILES:
        (out / name).unlink(missing_ok=True)


def _write_table(rows: list[dict[str, Any]], out: Path, *, meta: dict[str, Any]) -> dict[str, Path]:
    cols = list(rows[0])
    with open(out / "probe.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# Linear probes: {meta['model']} on {meta['data']}", "",
             f"{meta['n_train']} train / {meta['n_test']} test images, {len(meta['classes'])} classes "
             f"(chance {meta['chance']}), pooling {meta['pooling']}.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    (out / "probe.md").write_text("\n".join(lines) + "\n")
    (out / "probe.json").write_text(json.dumps({**meta, "layers": rows}, indent=2, default=str))
    return {"csv": out / "probe.csv", "md": out / "probe.md", "json": out / "probe.json"}


def plot_probe_accuracy(rows: list[dict[str, Any]], path: Path, *, chance: float, title: str = "") -> Path:
    """Train and test accuracy per layer, shallow to deep, with the chance level and (when the rows carry
    them) the test accuracies' 95 % Wilson intervals as error bars."""
    from ..viz.figures import _save, plt

    names = [r["layer"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(names) + 2), 3.8))
    test = np.array([r["test_accuracy"] for r in rows])
    if all("test_ci_low" in r for r in rows):
        err = np.array([test - [r["test_ci_low"] for r in rows], [r["test_ci_high"] for r in rows] - test])
        ax.errorbar(range(len(names)), test, yerr=err, fmt="-o", capsize=4, label="test (95% Wilson interval)")
    else:
        ax.plot(names, test, "-o", label="test")
    ax.plot(names, [r["train_accuracy"] for r in rows], "--s", alpha=0.6, label="train")
    ax.axhline(chance, color="grey", ls=":", label="chance")
    for i, r in enumerate(rows):
        ax.annotate(f"{r['test_accuracy']:.2f}", (i, r["test_accuracy"]), textcoords="offset points",
                    xytext=(8, -3), ha="left", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("layer")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
