"""Labelled image collections: discovery, label remapping, sampling and a reproducible split.

A collection is a list of :class:`Sample` (path, label, split). It comes from

* an image-folder tree: ``root/<label>/**/*.jpg`` (nested folders below a label are fine, e.g.
  Pandora's movement/artist layout), or ``root/{train,val,test}/<label>/...`` where the publisher
  already split it;
* a CSV/TSV manifest with a header containing ``path`` and ``label`` (and optionally ``split``);
  relative paths are resolved against the manifest's folder.

>>> from artlens.data import load_collection
>>> col = load_collection(DataConfig(path="paintings/"))          # doctest: +SKIP
>>> len(col.split("train")), col.classes[:3]                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch.utils.data import Dataset

from ..config import DataConfig
from ..errors import ArtlensError
from .datasets import load_dataset
from .images import SkippedImage, UnreadableImage, load_image
# Re-exported: painters.py and older callers import these from here.
from .samples import SPLITS, Sample, discover, label_folder_samples, labelled_tree_samples, read_manifest, read_utf8

log = logging.getLogger(__name__)

__all__ = [
    "SPLITS",
    "Collection",
    "ImageDataset",
    "Sample",
    "apply_label_map",
    "collate_skipping",
    "discover",
    "label_folder_samples",
    "labelled_tree_samples",
    "drop_cross_split_duplicates",
    "load_collection",
    "limit_per_class",
    "read_manifest",
    "read_utf8",
    "stratified_split",
]

@dataclass
class Collection:
    """Samples with a fixed class order, plus what was dropped on the way (for the report)."""

    samples: list[Sample]
    classes: list[str]
    dropped_classes: dict[str, int] = field(default_factory=dict)
    found_labels: set[str] = field(default_factory=set)
    """Every label as found, before the label map (to tell a mistyped map entry)."""
    skipped: list[SkippedImage] = field(default_factory=list)
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    """Rows of a dataset's own index files that were dropped (missing image, duplicate path, ...)."""
    duplicates: list[dict[str, str]] = field(default_factory=list)
    """Evaluation images removed by :func:`drop_cross_split_duplicates`, with their training twin."""

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {label: n}}`` for reports."""
        table: dict[str, dict[str, int]] = defaultdict(dict)
        for (split, label), n in sorted(Counter((s.split or "all", s.label) for s in self.samples).items()):
            table[split][label] = n
        return dict(table)

    def fingerprint(self) -> str:
        """A hash of (relative path, size, label, split): changes whenever the data a model saw does."""
        root = os.path.commonpath([s.path for s in self.samples]) if self.samples else ""
        h = hashlib.sha256()
        for s in sorted(self.samples, key=lambda s: s.path):
            try:
                size = os.path.getsize(s.path)
            except OSError:
                size = -1
            h.update(f"{os.path.relpath(s.path, root)}\t{size}\t{s.label}\t{s.split}\n".encode())
        return "sha256:" + h.hexdigest()[:16]


def apply_label_map(samples: Sequence[Sample], mapping: dict[str, str | None]) -> list[Sample]:
    """Rename labels; a label mapped to ``None`` or ``""`` is dropped."""
    out = []
    for s in samples:
        label = mapping.get(s.label, s.label)
        if label:
            out.append(replace(s, label=label))
    return out


def limit_per_class(samples: Sequence[Sample], *, max_per_class: int | None, min_per_class: int,
                    seed: int) -> tuple[list[Sample], dict[str, int]]:
    """Drop classes under ``min_per_class``; cap the rest at ``max_per_class`` (random, seeded).

    A pre-split collection is capped per (class, split) pair so the publisher's split survives.
    """
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_label[s.label].append(s)
    kept, dropped = [], {}
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < min_per_class:
            dropped[label] = len(group)
            continue
        if max_per_class is not None:
            by_split: dict[Any, list[Sample]] = defaultdict(list)
            for s in group:
                by_split[s.split].append(s)
            group = []
            for split in sorted(by_split, key=str):
                part = sorted(by_split[split], key=lambda s: s.path)
                random.Random(f"{seed}:{label}:{split}").shuffle(part)
                group += part[:max_per_class]
        kept += group
    return kept, dropped


def stratified_split(samples: Sequence[Sample], *, val_fraction: float, test_fraction: float,
                     seed: int) -> list[Sample]:
    """Assign train/val/test per class, deterministically from ``seed``.

    Samples that already carry a split keep it; a collection with only train/test gets its
    validation set carved out of train. Every class with at least three images gets at least one
    validation and one test image when those fractions are non-zero, and every class keeps at
    least one training image.
    """
    have = {s.split for s in samples}
    if have <= {None}:
        todo, fractions = list(samples), {"val": val_fraction, "test": test_fraction}
        fixed: list[Sample] = []
    elif "val" not in have and val_fraction > 0:
        todo = [s for s in samples if s.split in ("train", None)]
        fixed = [s for s in samples if s.split not in ("train", None)]
        fractions = {"val": val_fraction, "test": 0.0}
    else:
        return [s if s.split else replace(s, split="train") for s in samples]
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for s in todo:
        by_label[s.label].append(s)
    out = list(fixed)
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda s: s.path)
        random.Random(f"{seed}:{label}").shuffle(group)
        n = len(group)
        counts = {}
        for name in ("test", "val"):
            k = round(n * fractions[name])
            if fractions[name] > 0 and n >= 3:
                k = max(k, 1)
            counts[name] = k
        n_test, n_val = counts["test"], counts["val"]
        # A class must keep a training image, or training never sees it: val gives way first,
        # because a missing test image only narrows the report.
        while n > 0 and n_test + n_val >= n:
            if n_val:
                n_val -= 1
            else:
                n_test -= 1
        out += [replace(s, split="test") for s in group[:n_test]]
        out += [replace(s, split="val") for s in group[n_test:n_test + n_val]]
        out += [replace(s, split="train") for s in group[n_test + n_val:]]
    return out


def load_collection(cfg: DataConfig, *, split: bool = True) -> Collection:
    """Discover, remap, filter and split the data described by ``cfg``."""
    if not cfg.path:
        raise ArtlensError("data.path is empty: give a folder of images or a CSV/TSV manifest")
    skipped_rows: list[dict[str, Any]] = []
    if cfg.dataset == "auto":
        found = discover(cfg.path)
    else:
        result = load_dataset(cfg.dataset, cfg.path, **cfg.dataset_options)
        found, skipped_rows = result.samples, result.skipped_rows
    samples = apply_label_map(found, cfg.label_map)
    seen: set[str] = set()
    unique = []
    for s in samples:
        if s.path in seen:
            skipped_rows.append({"row": {"path": s.path, "label": s.label, "split": s.split},
                                 "reason": "duplicate path", "source": str(cfg.path)})
            continue
        seen.add(s.path)
        unique.append(s)
    samples, dropped = limit_per_class(unique, max_per_class=cfg.max_per_class,
                                       min_per_class=cfg.min_per_class, seed=cfg.seed)
    if not samples:
        raise ArtlensError(f"{cfg.path}: no class has at least {cfg.min_per_class} images")
    if split:
        samples = stratified_split(samples, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                                   seed=cfg.seed)
    classes = sorted({s.label for s in samples})
    return Collection(samples=samples, classes=classes, dropped_classes=dropped, skipped_rows=skipped_rows,
                      found_labels={s.label for s in found})


def drop_cross_split_duplicates(collection: Collection, index: str = "auto") -> Collection:
    """Remove val/test images that are near-duplicates of a training image (see :mod:`.dedupe`;
    ``index`` is ``DataConfig.dedupe_index``)."""
    from .dedupe import duplicate_pairs, image_signatures

    train = collection.split("train")
    held = [s for s in collection.samples if s.split in ("val", "test")]
    if not train or not held:
        return collection
    pairs = duplicate_pairs(image_signatures([s.path for s in held]), image_signatures([s.path for s in train]),
                            index=index)
    twins: dict[int, int] = {}
    for i, j, _ in pairs:
        twins.setdefault(i, j)
    drop = {held[i].path for i in twins}
    collection.duplicates = [{"path": held[i].path, "split": held[i].split, "label": held[i].label,
                              "duplicate_of": train[j].path, "duplicate_label": train[j].label}
                             for i, j in sorted(twins.items())]
    collection.samples = [s for s in collection.samples if s.path not in drop]
    return collection


# -- torch dataset -----------------------------------------------------------------------------

class ImageDataset(Dataset):
    """``(image_tensor, class_index, sample_index)``; an unreadable file yields ``None`` instead.

    Use :func:`collate_skipping` as the loader's ``collate_fn`` so those ``None`` items are dropped
    from the batch and reported back rather than crashing a worker. ``draft_size`` lets large JPEGs
    decode at a reduced scale that keeps at least that many pixels a side (pass the model's
    :attr:`~artlens.data.transforms.Preprocessing.decode_size`): scans and photographs of many
    megapixels are then decoded several times faster, for a model that sees a few hundred pixels.
    """

    def __init__(self, samples: Sequence[Sample], classes: Sequence[str], transform: Callable | None, *,
                 draft_size: int | None = None) -> None:
        self.samples = list(samples)
        self.class_to_idx = {c: i for i, c in enumerate(classes)}
        self.transform = transform
        self.draft_size = draft_size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        try:
            img = load_image(sample.path, draft_size=self.draft_size)
        except UnreadableImage as err:
            return None, SkippedImage(err.path, err.reason)
        x = self.transform(img) if self.transform else img
        return x, self.class_to_idx.get(sample.label, -1), index


def collate_skipping(batch):
    """Stack good items; return ``(x, y, index, skipped)`` where ``skipped`` lists bad files."""
    good = [b for b in batch if b[0] is not None]
    skipped = [b[1] for b in batch if b[0] is None]
    if not good:
        return None, None, None, skipped
    x = torch.stack([b[0] for b in good])
    y = torch.tensor([b[1] for b in good], dtype=torch.long)
    idx = torch.tensor([b[2] for b in good], dtype=torch.long)
    return x, y, idx, skipped
