"""``artlens embed``: one feature vector per image of a whole collection, as Parquet, for other tools.

Rows are ``path, label, split, embedding`` (a fixed-size list of float32), readable by pandas,
polars, DuckDB or Arrow. The vectors are what the model's head sees (``embed``) or any pooled
layer. An optional 2-D map (PCA; UMAP when ``umap-learn`` is installed) shows the collection at a
glance, coloured by label.

>>> from artlens.explain.embed import EmbedConfig, run_embed
>>> run_embed(EmbedConfig(data="paintings/", out="paintings.parquet", map="map.png"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.dataset import Sample
from ..data.images import SkippedImage, is_system_name, iter_image_files
from ..errors import ArtlensError
from .features import DEFAULT_MAX_BYTES, LayerFeaturesConfig, extract_features
from .source import load_source

__all__ = ["MAP_METHODS", "EmbedConfig", "EmbedReport", "check_map_method", "project_2d", "run_embed"]

log = logging.getLogger(__name__)

MAP_METHODS = ("auto", "pca", "umap")
"""``--map-method`` values: auto (UMAP if installed, else PCA), pca, umap."""


@dataclass
class EmbedConfig(LayerFeaturesConfig):
    """Everything ``artlens embed`` needs; the CLI fills it from flags unchanged."""

    data: str = ""
    """A labelled folder tree or manifest; a folder of loose images works too (empty labels)."""
    out: str = "embeddings.parquet"
    """Parquet file to write."""
    map: str | None = None
    """Also write a 2-D map PNG to this path."""
    map_method: str = "auto"
    """auto (UMAP if installed, else PCA) | pca | umap."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.map_method not in MAP_METHODS:  # wrong with or without --map; umap-learn is checked by run_embed
            check_map_method(self.map_method)


@dataclass
class EmbedReport:
    path: Path
    rows: int
    dim: int
    skipped: list[SkippedImage]
    map: Path | None = None


def _samples(cfg: EmbedConfig) -> list[Sample]:
    from ..data.dataset import load_collection

    path = Path(cfg.data)
    if path.is_dir() and cfg.dataset == "auto" and not any(d.is_dir() and not is_system_name(d.name)
                                                            for d in path.iterdir()):
        found = iter_image_files(path)  # loose images, no labels
        if not found:
            raise ArtlensError(f"{path}: folder contains no image files")
        return [Sample(str(p), "") for p in found]
    return load_collection(cfg.data_config(), split=False).samples


def _has_umap() -> bool:
    return importlib.util.find_spec("umap") is not None


def check_map_method(method: str) -> None:
    """Refuse a map method that cannot draw: an unknown name, or ``umap`` without umap-learn.

    :func:`run_embed` calls it before embedding anything; the map is drawn last, so a refusal there
    would come after the whole collection had been embedded and the Parquet file written.
    """
    if method not in MAP_METHODS:
        raise ArtlensError(f"--map-method: {method!r} is not one of {', '.join(MAP_METHODS)}")
    if method == "umap" and not _has_umap():
        raise ArtlensError("--map-method umap needs the umap-learn package (pip install umap-learn); use pca")


def project_2d(X: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str, np.ndarray | None]:
    """``(n, 2)`` coordinates, the method used and, for PCA, the two components' explained variance ratio."""
    check_map_method(method)
    if len(X) < 2:
        raise ArtlensError(f"a 2-D map needs at least 2 images, got {len(X)}")
    if method in ("umap", "auto") and _has_umap() and len(X) > 15:
        import umap

        return umap.UMAP(random_state=seed).fit_transform(X), "umap", None
    from .pca import LayerPCA

    pca = LayerPCA(n_components=2).fit({"x": X})
    return pca.transform({"x": X})["x"], "pca", pca.explained_variance_ratio_["x"]


def plot_map(points: np.ndarray, labels, path: str | os.PathLike, *, title: str, method: str,
             explained: np.ndarray | None = None) -> Path:
    from .pca import plot_pca_grid

    return plot_pca_grid({title: points}, [lab or "(no label)" for lab in labels], path,
                         explained=None if explained is None else {title: explained},
                         axis="PC" if method == "pca" else f"{method.upper()} ")


def run_embed(cfg: EmbedConfig) -> EmbedReport:
    """Embed every readable image and write the Parquet file (and the map)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not cfg.out.endswith(".parquet"):
        raise ArtlensError(f"--out {cfg.out}: the embeddings file must end in .parquet")
    if cfg.map:
        check_map_method(cfg.map_method)
    samples = _samples(cfg)
    source = load_source(cfg.model, weights=cfg.weights, input_size=cfg.input_size)
    feats = extract_features(source, samples, [cfg.layer], pooling=cfg.pooling, batch_size=cfg.batch_size,
                             device=cfg.device, max_bytes=DEFAULT_MAX_BYTES)
    X = feats.features[cfg.layer].astype(np.float32)
    dim = X.shape[1]
    table = pa.table({
        "path": pa.array([s.path for s in feats.samples], type=pa.string()),
        "label": pa.array([s.label for s in feats.samples], type=pa.string()),
        "split": pa.array([s.split for s in feats.samples], type=pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), dim),
    })
    table = table.replace_schema_metadata({"artlens.model": source.name, "artlens.layer": cfg.layer,
                                           "artlens.pooling": cfg.pooling})
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    map_path = None
    if cfg.map and len(X) < 2:  # the embeddings are written; a map of one point says nothing
        log.warning("--map %s: not drawn, a 2-D map needs at least 2 images and %d was embedded", cfg.map, len(X))
    elif cfg.map:
        points, how, explained = project_2d(X, cfg.map_method)
        map_path = plot_map(points, [s.label for s in feats.samples], cfg.map,
                            title=f"{source.name} {cfg.layer} ({how}, {len(X)} images)", method=how,
                            explained=explained)
    return EmbedReport(path=out, rows=len(X), dim=dim, skipped=feats.skipped, map=map_path)
