"""``artlens search``: the artworks of an embedded collection most similar to an image.

``artlens embed`` writes one vector per image (a folder of shards or one Parquet file, its schema
recording the model, layer and pooling). Search embeds the query image the same way and asks a faiss
index (``IndexFlatIP`` over L2-normalised vectors: exact cosine similarity, no approximation to tune)
for the ``k`` nearest. The answer is ``neighbours.csv`` and a contact sheet PNG: the query, then its
neighbours with their similarity and label.

>>> from artlens.explain.search import SearchConfig, run_search
>>> result = run_search(SearchConfig(index="met-embeddings", image="query.jpg", k=8))  # doctest: +SKIP
>>> result.neighbours[0]["path"], result.sheet                                           # doctest: +SKIP
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Sample
from ..errors import ArtlensError
from ..outputs import output_dir
from ..viz.figures import plot_gallery
from .embed import read_embeddings
from .features import extract_features
from .source import load_source

__all__ = ["EmbeddingIndex", "SearchConfig", "SearchResult", "run_search"]


@dataclass
class SearchConfig:
    """Everything ``artlens search`` needs; the CLI fills it from flags unchanged."""

    index: str = ""
    """An ``artlens embed`` output: its folder (or URL) of a sharded run, or its .parquet file."""
    image: str = ""
    """The query image."""
    k: int = 8
    """How many similar artworks to return."""
    out: str = "artlens-search"
    """Folder for neighbours.csv and contact_sheet.png."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1 (to embed the query)."""

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ArtlensError(f"k: {self.k} must be at least 1")
        if not self.index:
            raise ArtlensError("search: --index is required (the folder or .parquet file of `artlens embed`)")


@dataclass
class SearchResult:
    query: str
    neighbours: list[dict[str, Any]]
    """``{"rank", "path", "label", "similarity"}``, most similar first (cosine similarity, 1 = same direction)."""
    sheet: Path
    csv: Path


class EmbeddingIndex:
    """An embedded collection in a faiss index, with the rows' paths and labels and how they were embedded.

    >>> index = EmbeddingIndex.load("met-embeddings")          # doctest: +SKIP
    >>> scores, rows = index.search(vectors, k=5)              # doctest: +SKIP
    """

    def __init__(self, vectors: np.ndarray, paths: list[str], labels: list[str], meta: dict[str, str]) -> None:
        import faiss

        if len(vectors) == 0:
            raise ArtlensError("the embeddings hold no rows: nothing to search")
        self.paths, self.labels, self.meta = paths, labels, meta
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        faiss.normalize_L2(x)
        self.index = faiss.IndexFlatIP(x.shape[1])
        self.index.add(x)

    @classmethod
    def load(cls, index: str) -> EmbeddingIndex:
        table = read_embeddings(index)
        if "embedding" not in table.column_names:
            raise ArtlensError(f"{index}: not an `artlens embed` output (no embedding column)")
        meta = {k.decode().removeprefix("artlens."): v.decode() for k, v in (table.schema.metadata or {}).items()
                if k.startswith(b"artlens.")}
        column = table.column("embedding").combine_chunks()
        vectors = np.asarray(column.flatten(), np.float32).reshape(len(table), -1)
        return cls(vectors, table.column("path").to_pylist(), table.column("label").to_pylist(), meta)

    @property
    def dim(self) -> int:
        return self.index.d

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(similarities, row numbers)``, each ``(queries, k)``, most similar first."""
        import faiss

        q = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        faiss.normalize_L2(q)
        return self.index.search(q, min(k, self.index.ntotal))


def run_search(cfg: SearchConfig) -> SearchResult:
    """The ``k`` artworks of ``cfg.index`` most similar to ``cfg.image``, with a contact sheet."""
    if not Path(cfg.image).is_file():
        raise ArtlensError(f"{cfg.image}: no such image file")
    out = output_dir(cfg.out)
    index = EmbeddingIndex.load(cfg.index)
    meta = index.meta
    if "layer" not in meta:
        raise ArtlensError(f"{cfg.index}: its schema does not say which model and layer made it; embed it again")
    input_size = int(meta["input_size"]) if meta.get("input_size") else None
    source = load_source(meta.get("model_ref") or None, weights=meta.get("weights", "auto"), input_size=input_size)
    feats = extract_features(source, [Sample(str(cfg.image), "")], [meta["layer"]],
                             pooling=meta.get("pooling", "gap"), device=cfg.device, show_progress=False)
    query = feats.features[meta["layer"]]
    if query.shape[1] != index.dim:
        raise ArtlensError(f"{cfg.index}: vectors of dimension {index.dim}, but {source.name} {meta['layer']} "
                           f"gives {query.shape[1]}")
    scores, rows = index.search(query, cfg.k)
    neighbours = [{"rank": r + 1, "path": index.paths[j], "label": index.labels[j] or "",
                   "similarity": round(float(s), 4)} for r, (s, j) in enumerate(zip(scores[0], rows[0])) if j >= 0]
    csv_path = out / "neighbours.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["rank", "path", "label", "similarity"])
        w.writeheader()
        w.writerows(neighbours)
    items = [(str(cfg.image), f"query\n{Path(cfg.image).name}")] + [
        (n["path"], f"#{n['rank']} {n['similarity']:.3f}\n{n['label'] or Path(n['path']).name}") for n in neighbours]
    sheet = plot_gallery(items, out / "contact_sheet.png", columns=min(6, len(items)),
                         title=f"{len(neighbours)} most similar in {Path(str(cfg.index)).name} ({source.name})")
    return SearchResult(query=str(cfg.image), neighbours=neighbours, sheet=sheet, csv=csv_path)
