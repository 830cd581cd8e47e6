"""Published dataset layouts: read public art datasets exactly as their publishers ship them.

Each family module (:mod:`.artbench`, :mod:`.wikiart`, :mod:`.pandora`, :mod:`.best_artworks`,
:mod:`.ai_artbench`, :mod:`.met`) knows one published layout (folder names, index CSVs, class-name
files), turns it into :class:`~artlens.data.samples.Sample` objects so users never rename or reshuffle
downloads, and declares itself as one :class:`DatasetAdapter`; this module registers them in
:data:`DATASETS`. Index rows that cannot be used (missing image, duplicate path, unknown class) are not
fatal: they are listed in :attr:`AdapterResult.skipped_rows` with the reason, for the run report.

>>> from artlens.data.datasets import DATASETS, load_dataset
>>> DATASETS.names()
['artbench10', 'wikiart', 'pandora18k', 'best-artworks', 'ai-artbench', 'met']
>>> res = load_dataset("wikiart", "wikiart/", label="artist")     # doctest: +SKIP
>>> len(res.samples), len(res.skipped_rows)                       # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..._registry import Registry
from ...config import DataConfig, register_names
from ...errors import ArtlensError
from . import ai_artbench, artbench, best_artworks, met, pandora, wikiart
from ._base import AdapterResult, DatasetAdapter

__all__ = ["DATASETS", "AdapterResult", "DatasetAdapter", "describe_datasets", "load_dataset"]

DATASETS: Registry[DatasetAdapter] = Registry("dataset")
for _family in (artbench, wikiart, pandora, best_artworks, ai_artbench, met):
    DATASETS.add(_family.ADAPTER.name, _family.ADAPTER)
register_names(DataConfig, "dataset", lambda: ["auto", *DATASETS.names()])


def load_dataset(name: str, root: str | os.PathLike, **options: Any) -> AdapterResult:
    """Read the dataset ``name`` from ``root`` (validates option names and the root first)."""
    adapter = DATASETS.get(name)
    unknown = sorted(set(options) - set(adapter.options))
    if unknown:
        allowed = ", ".join(adapter.options) or "none"
        raise ArtlensError(f"dataset {name!r}: unknown option(s) {', '.join(unknown)}; allowed: {allowed}")
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise ArtlensError(f"{root}: {what}; the {name} dataset is a folder laid out as {adapter.layout}")
    return adapter.load(root, **options)


def describe_datasets() -> list[dict[str, Any]]:
    """One ``{name, description, layout, options}`` dict per adapter, for ``artlens datasets``."""
    return [{"name": a.name, "description": a.description, "layout": a.layout, "options": dict(a.options)}
            for a in (DATASETS.get(n) for n in DATASETS.names())]
