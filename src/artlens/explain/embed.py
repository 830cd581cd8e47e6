"""``artlens embed``: one feature vector per image of a whole collection, as Parquet, for other tools.

Rows are ``path, label, split, embedding`` (a fixed-size list of float32), readable by pandas,
polars, DuckDB or Arrow. ``out`` ending in ``.parquet`` writes that one file from one process; a
folder (or an object-storage URL) runs in shards, resumably and under torchrun if launched so
(:mod:`artlens.sharded`), each row then also carrying the image's ``sha256`` and ``bytes``, and the
folder is what ``artlens search --index`` searches. The vectors are what the model's head sees (``embed``) or any pooled
layer. An optional 2-D map (PCA; UMAP when ``umap-learn`` is installed) shows the collection at a
glance, coloured by label.

>>> from artlens.explain.embed import EmbedConfig, run_embed
>>> run_embed(EmbedConfig(data="paintings/", out="paintings.parquet", map="map.png"))  # doctest: +SKIP
>>> run_embed(EmbedConfig(data="met/", out="met-embeddings", shard_size=5000))          # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.dataset import Sample
from ..data.images import SkippedImage
from ..distributed import init_distributed
from ..errors import ArtlensError
from ..sharded import ShardedRun, ShardOptions, collection_samples, open_output, read_rows, run_sharded
from .features import DEFAULT_MAX_BYTES, LayerFeaturesConfig, extract_features, layer_shapes, pooled_width
from .source import load_source

__all__ = ["EMBEDDINGS_FILE", "MAP_METHODS", "EmbedConfig", "EmbedReport", "check_map_method", "project_2d",
           "read_embeddings", "run_embed"]

#: The merged file of a sharded embedding run, inside its folder.
EMBEDDINGS_FILE = "embeddings.parquet"

log = logging.getLogger(__name__)

MAP_METHODS = ("auto", "pca", "umap")
"""``--map-method`` values: auto (UMAP if installed, else PCA), pca, umap."""


@dataclass
class EmbedConfig(LayerFeaturesConfig, ShardOptions):
    """Everything ``artlens embed`` needs; the CLI fills it from flags unchanged."""

    data: str = ""
    """A labelled folder tree or manifest; a folder of loose images works too (empty labels)."""
    out: str = "embeddings.parquet"
    """Parquet file to write; or a folder / object-storage URL for a sharded, resumable run (torchrun too)."""
    map: str | None = None
    """Also write a 2-D map PNG to this path."""
    map_method: str = "auto"
    """auto (UMAP if installed, else PCA) | pca | umap."""

    def __post_init__(self) -> None:
        super().__post_init__()
        ShardOptions.__post_init__(self)
        if self.map_method not in MAP_METHODS:  # wrong with or without --map; umap-learn is checked by run_embed
            check_map_method(self.map_method)


@dataclass
class EmbedReport:
    path: Path
    rows: int
    dim: int
    skipped: list[SkippedImage]
    map: Path | None = None
    run: ShardedRun | None = None
    """The sharded run's counts and speed, when ``out`` was a folder."""


def _samples(cfg: EmbedConfig) -> list[Sample]:
    return collection_samples(cfg.data, dataset=cfg.dataset, dataset_options=cfg.dataset_options,
                              max_per_class=cfg.max_per_class)


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
    sharded = Path(cfg.out).suffix == "" or "://" in cfg.out
    if not sharded and not cfg.out.endswith(".parquet"):
        raise ArtlensError(f"--out {cfg.out}: the embeddings file must end in .parquet (or give a folder for a "
                           "sharded run)")
    if cfg.map:
        check_map_method(cfg.map_method)
    if sharded:
        return _run_embed_sharded(cfg)
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    table = table.replace_schema_metadata({f"artlens.{k}": v for k, v in _metadata(cfg, source.name).items()})
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    map_path = _draw_map(cfg, X, [s.label for s in feats.samples], source.name)
    return EmbedReport(path=out, rows=len(X), dim=dim, skipped=feats.skipped, map=map_path)


def _metadata(cfg: EmbedConfig, name: str) -> dict[str, str]:
    """What ``artlens search`` needs to embed a query the same way, stored in the Parquet schema."""
    return {"model": name, "model_ref": str(cfg.model or ""), "weights": cfg.weights, "layer": cfg.layer,
            "pooling": cfg.pooling, "input_size": str(cfg.input_size or "")}


def _draw_map(cfg: EmbedConfig, X: np.ndarray, labels: list[str], name: str) -> Path | None:
    if cfg.map and len(X) < 2:  # the embeddings are written; a map of one point says nothing
        log.warning("--map %s: not drawn, a 2-D map needs at least 2 images and %d was embedded", cfg.map, len(X))
    elif cfg.map:
        points, how, explained = project_2d(X, cfg.map_method)
        return plot_map(points, labels, cfg.map, title=f"{name} {cfg.layer} ({how}, {len(X)} images)", method=how,
                        explained=explained)
    return None


def _run_embed_sharded(cfg: EmbedConfig) -> EmbedReport:
    """``out`` is a folder or URL: shards, resumable, shared by the processes of a torchrun job."""
    import pyarrow as pa

    ctx, device = init_distributed(cfg.device)
    samples = _samples(cfg)
    source = load_source(cfg.model, weights=cfg.weights, input_size=cfg.input_size)
    shape = layer_shapes(source, [cfg.layer])[cfg.layer]
    dim = shape[0] if len(shape) == 1 else pooled_width(shape[0], cfg.pooling)  # a shard of broken files has no rows

    def process(part: list[Sample], advance) -> tuple[dict, list[SkippedImage]]:
        feats = extract_features(source, part, [cfg.layer], pooling=cfg.pooling, batch_size=cfg.batch_size,
                                 device=device, max_bytes=DEFAULT_MAX_BYTES, show_progress=False,
                                 on_batch=advance, allow_empty=True)
        X = feats.features[cfg.layer].astype(np.float32)
        width = X.shape[1] if len(X) else dim
        return {
            "path": pa.array([s.path for s in feats.samples], type=pa.string()),
            "label": pa.array([s.label for s in feats.samples], type=pa.string()),
            "split": pa.array([s.split for s in feats.samples], type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1), pa.float32()), width),
        }, feats.skipped

    run = run_sharded(samples, cfg.out, process, kind="embed", options=cfg, merged_name=EMBEDDINGS_FILE,
                      metadata=_metadata(cfg, source.name), ctx=ctx, show_progress=ctx.is_main)
    dims = 0
    map_path = None
    if ctx.is_main and (cfg.map or run.n_rows):
        table = read_embeddings(cfg.out)
        dims = table.schema.field("embedding").type.list_size
        if cfg.map:
            X = np.asarray(table.column("embedding").combine_chunks().flatten(), np.float32).reshape(len(table), -1)
            map_path = _draw_map(cfg, X, table.column("label").to_pylist(), source.name)
    out = run.merged or cfg.out
    return EmbedReport(path=Path(out) if "://" not in str(out) else out, rows=run.n_rows, dim=dims,
                       skipped=run.skipped, map=map_path, run=run)


def read_embeddings(index: str | os.PathLike):
    """The embeddings of ``artlens embed`` as one pyarrow table: a ``.parquet`` file, or a sharded run's
    folder (its merged file, else its shards)."""
    open_output(index)  # a URL pyarrow and fsspec cannot open fails here, named
    return read_rows(index, EMBEDDINGS_FILE)
