"""Pandora 18k: one folder per art movement, optionally artist folders below."""

from __future__ import annotations

from pathlib import Path

from ..samples import labelled_tree_samples, subdirs
from ._base import AdapterResult, DatasetAdapter

__all__ = ["ADAPTER", "load_pandora18k"]

def load_pandora18k(root: Path) -> AdapterResult:
    """Pandora 18k: the label is the top-level movement folder, whatever is nested below it. A copy
    split by hand into ``train/``, ``val/``, ``test/`` keeps its split, as any labelled folder does."""
    movements = subdirs(root)
    if not movements:
        raise ADAPTER.wrong_root(root, "no movement folders")
    if len(movements) == 1:  # the unzipped top folder: every image would get its name, and score 100 %
        raise ADAPTER.wrong_root(root, f"one movement folder only ({movements[0].name}/); "
                                       f"if the movements are inside it, pass {movements[0]}")
    samples = labelled_tree_samples(root)
    if not samples:
        raise ADAPTER.wrong_root(root, "no images in the movement folders")
    return AdapterResult(samples)


ADAPTER = DatasetAdapter("pandora18k",
                         "Pandora 18k: one folder per art movement, optionally artist folders below",
                         "<root>/<movement>/[<artist>/]*.jpg",
                         load_pandora18k)
