"""Samples and where they come from: folder trees, CSV/TSV manifests, and the label and split helpers that the
published dataset layouts (:mod:`artlens.data.datasets`) share with them.

>>> Sample("paintings/Baroque/a.jpg", "Baroque").split is None
True
"""

from __future__ import annotations

import csv
import logging
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtlensError
from .images import is_image_file, is_system_name, iter_image_files

log = logging.getLogger(__name__)

__all__ = ["SPLITS", "Sample", "discover", "existing_file", "label_folder_samples", "labelled_tree_samples", "norm_name",
           "read_manifest", "read_utf8", "subdirs", "utf8_lines"]

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "test": "test", "testing": "test"}


@dataclass(frozen=True)
class Sample:
    path: str
    label: str
    split: str | None = None


# -- discovery ---------------------------------------------------------------------------------

def discover(path: str | os.PathLike) -> list[Sample]:
    """Samples from a folder tree or a manifest file (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ArtlensError(f"{path}: data path does not exist")
    if path.is_file():
        if is_image_file(path):
            raise ArtlensError(f"{path}: is an image; labelled data is a folder with one sub-folder per label, "
                               "or a CSV/TSV manifest of path,label[,split]")
        return read_manifest(path)
    if not subdirs(path):
        raise ArtlensError(f"{path}: expected one sub-folder per label (or a CSV/TSV manifest), found no folders")
    loose = [p for p in path.iterdir() if p.is_file() and is_image_file(p) and not is_system_name(p.name)]
    if loose:
        log.warning("%d image(s) directly in %s are in no label folder and are left out (e.g. %s)",
                    len(loose), path, sorted(loose)[0].name)
    return labelled_tree_samples(path)


def labelled_tree_samples(root: Path) -> list[Sample]:
    """``root/<label>/**``, or ``root/{train,val,test}/<label>/**`` when every top folder is a split
    name: then the split is kept, and ``train``/``test`` never become two classes."""
    folders = subdirs(root)
    if folders and all(d.name.lower() in _SPLIT_ALIASES for d in folders):
        samples = []
        for d in folders:
            samples += label_folder_samples(d, _SPLIT_ALIASES[d.name.lower()])
        return samples
    return label_folder_samples(root)


def label_folder_samples(root: Path, split: str | None = None) -> list[Sample]:
    """``root/<label>/**`` -> samples labelled by the top-level folder; an empty label folder is an error
    (a class with no images is a broken download or a typo, not something to train around silently)."""
    samples, empty = [], []
    for label_dir in subdirs(root):
        found = [Sample(str(p), label_dir.name, split) for p in iter_image_files(label_dir)]
        samples += found
        if not found:
            empty.append(label_dir.name)
    if not samples:
        raise ArtlensError(f"{root}: no image files found in its label folders")
    if empty:
        raise ArtlensError(f"{root}: class folder(s) without images: {', '.join(empty)}; add images or remove them")
    return samples


def subdirs(root: Path) -> list[Path]:
    """The folders in ``root``, sorted, without hidden ones and ``__MACOSX``."""
    return sorted(d for d in root.iterdir() if d.is_dir() and not is_system_name(d.name))


def read_utf8(path: Path, what: str = "the file") -> str:
    """The text of ``path`` (a BOM dropped), or a one-line error: spreadsheets save CSVs as cp1252."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ArtlensError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); "
                           f"save {what} as UTF-8") from None


def read_manifest(path: str | os.PathLike) -> list[Sample]:
    """Read ``path,label[,split]`` rows (CSV or TSV, header required)."""
    path = Path(path)
    lines = read_utf8(path, "the manifest").splitlines()
    if not lines:
        raise ArtlensError(f"{path}: manifest is empty (expected a header: path,label[,split])")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in lines[0] else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    rows = list(reader)
    if not rows:
        raise ArtlensError(f"{path}: manifest has no rows")
    header = reader.fieldnames or []
    columns = {c.strip().lower(): c for c in header}
    if "path" not in columns or "label" not in columns:
        raise ArtlensError(f"{path}: manifest needs 'path' and 'label' columns, found: {', '.join(header)}")
    base = path.parent
    samples = []
    for i, row in enumerate(rows, start=2):
        if None in row:  # DictReader keeps the surplus fields of a row under the key None
            raise ArtlensError(f"{path}:{i}: {len(header) + len(row[None])} fields, but the header has {len(header)}")
        raw_path, label = (row[columns["path"]] or "").strip(), (row[columns["label"]] or "").strip()
        if not raw_path or not label:
            raise ArtlensError(f"{path}:{i}: row without a {'path' if not raw_path else 'label'}")
        raw_split = (row.get(columns["split"]) or "").strip().lower() if "split" in columns else ""
        if raw_split and raw_split not in _SPLIT_ALIASES:
            raise ArtlensError(f"{path}:{i}: unknown split {raw_split!r}; use train, val or test")
        p = Path(raw_path)
        samples.append(Sample(str(p if p.is_absolute() else base / p), label, _SPLIT_ALIASES.get(raw_split)))
    return samples


def utf8_lines(path: Path) -> Iterator[str]:
    """The lines of a CSV, decoded as they are read (MetObjects.csv is 300 MB), or a one-line error
    for one a spreadsheet saved in its own code page."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            yield from fh
        except UnicodeDecodeError as err:
            raise ArtlensError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from None


# -- names as indexes and file systems spell them ----------------------------------------------

_MOJIBAKE_CODECS = ("cp437", "cp866", "cp850", "cp1252", "latin-1")
"""Code pages zip tools wrongly decode UTF-8 names with (``Du╠Иrer`` is NFD ``Dürer`` read as cp866)."""


def norm_name(name: str) -> str:
    """Compare names across Unicode forms and the classic cp437 mojibake of zip extraction.

    >>> norm_name("Du\u0308rer") == norm_name("Dürer") == norm_name("DÜRER")
    True
    """
    for codec in _MOJIBAKE_CODECS:
        try:
            name = name.encode(codec).decode("utf-8")
            break
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return unicodedata.normalize("NFC", name).casefold()


def existing_file(base: Path, rel: str) -> Path | None:
    """``base / rel``, also when the index and the file system spell its accents in different
    Unicode forms (a zip extracted on macOS writes NFD names)."""
    for form in (None, "NFC", "NFD"):
        p = base / (unicodedata.normalize(form, rel) if form else rel)
        if p.is_file():
            return p
    return None
