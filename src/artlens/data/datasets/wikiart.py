"""WikiArt: one folder per style, or the ArtGAN CSV split files (style, artist, genre) beside them."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...errors import ArtlensError
from ..samples import Sample, existing_file, labelled_tree_samples, read_utf8, subdirs, utf8_lines
from ._base import AdapterResult, DatasetAdapter, choice, skip

__all__ = ["ADAPTER", "WIKIART_TASKS", "artist_slug", "load_wikiart"]

WIKIART_TASKS = ("style", "artist", "genre")
_WIKIART_CSV = re.compile(r"^(style|artist|genre)_(train|val)\.csv$", re.IGNORECASE)


def _dedupe(samples: list[Sample], sources: list[str], rows: list[Any]) -> tuple[list[Sample], list[dict]]:
    """Drop repeated paths (first occurrence wins), reporting each repeat."""
    seen: set[str] = set()
    kept, skipped = [], []
    for s, src, row in zip(samples, sources, rows):
        if s.path in seen:
            skipped.append(skip(row, "duplicate path", src))
        else:
            seen.add(s.path)
            kept.append(s)
    return kept, skipped


def artist_slug(filename: str) -> str:
    """WikiArt file names are ``<artist-slug>_<title>.jpg``: return the slug."""
    return Path(filename).stem.split("_", 1)[0]


def _wikiart_csv_dir(root: Path) -> Path | None:
    for d in (root, root / "wikiart_csv"):
        if d.is_dir() and any(_WIKIART_CSV.match(p.name) for p in d.iterdir()):
            return d
    return None


def _read_class_names(path: Path) -> dict[int, str]:
    """``<int> <Name>`` per line -> ``{int: Name}``."""
    names = {}
    for i, line in enumerate(read_utf8(path, "the class file").splitlines(), start=1):
        if not line.strip():
            continue
        idx, _, name = line.strip().partition(" ")
        if not idx.isdigit() or not name.strip():
            raise ArtlensError(f"{path}:{i}: expected '<int> <Name>', found {line.strip()!r}")
        names[int(idx)] = name.strip()
    return names


def _image_base(csv_dir: Path, root: Path, first_rel: str | None) -> Path:
    """Where the CSV's relative paths start: next to the CSVs, or a sibling ``wikiart/`` folder."""
    candidates = [csv_dir, root / "wikiart", csv_dir.parent / "wikiart", root]
    if first_rel:
        for c in candidates:
            if (c / first_rel).exists():
                return c
        top = Path(first_rel).parts[0]
        for c in candidates:
            if (c / top).is_dir():
                return c
    return csv_dir


def _read_wikiart_split(path: Path, names: dict[int, str], base_of: Callable[[str], Path],
                        split: str) -> tuple[list[Sample], list[str], list[Any], list[dict]]:
    samples, sources, rows, skipped = [], [], [], []
    reader = csv.reader(utf8_lines(path))
    first = 1
    for row in reader:
        row_line, first = first, reader.line_num + 1  # a quoted field may span several lines
        if not row or not any(c.strip() for c in row):
            continue
        src = f"{path.name}:{row_line}"
        if len(row) < 2 or not row[-1].strip().lstrip("-").isdigit():
            skipped.append(skip(row, "malformed row (expected 'Relative/Path.jpg,<int>')", src))
            continue
        rel, idx = _wikiart_rel(row), int(row[-1])
        if idx not in names:
            skipped.append(skip(row, f"unknown label {idx} (not in the class file)", src))
            continue
        p = existing_file(base_of(rel), rel)
        if p is None:
            skipped.append(skip(row, "missing file", src))
            continue
        samples.append(Sample(str(p), names[idx], split))
        sources.append(src)
        rows.append(row)
    return samples, sources, rows, skipped


def _wikiart_rel(row: list[str]) -> str:
    """The path of a split row: every field but the label, with the empty one of ArtGAN's
    ``path,,index`` files dropped (a comma inside a file name is kept)."""
    fields = row[:-1]
    while fields and not fields[-1].strip():
        fields = fields[:-1]
    return ",".join(fields).strip()


def _first_rel(path: Path) -> str | None:
    for row in csv.reader(utf8_lines(path)):
        if len(row) >= 2 and row[-1].strip().lstrip("-").isdigit() and _wikiart_rel(row):
            return _wikiart_rel(row)
    return None


def _load_wikiart_csv(root: Path, csv_dir: Path, task: str) -> AdapterResult:
    files = {m.group(2).lower(): p for p in csv_dir.iterdir()
             if (m := _WIKIART_CSV.match(p.name)) and m.group(1).lower() == task}
    class_file = csv_dir / f"{task}_class.txt"
    if not files:
        raise ADAPTER.wrong_root(root, f"no {task}_train.csv / {task}_val.csv in {csv_dir.name}/")
    if not class_file.is_file():
        raise ArtlensError(f"{class_file}: class-name file missing; WikiArt CSVs need {task}_class.txt "
                           f"('<int> <Name>' per line) next to {task}_train.csv")
    names = _read_class_names(class_file)
    first = next((r for p in files.values() if (r := _first_rel(p))), None)
    base = _image_base(csv_dir, root, first)
    samples, sources, rows, skipped = [], [], [], []
    for split in ("train", "val"):
        if split in files:
            s, src, r, sk = _read_wikiart_split(files[split], names, lambda _rel: base, split)
            samples += s
            sources += src
            rows += r
            skipped += sk
    samples, dups = _dedupe(samples, sources, rows)
    if not samples:
        raise ArtlensError(f"{csv_dir}: none of the {len(skipped)} rows of {task}_*.csv points at an image "
                           f"under {base}; expected the WikiArt style folders there")
    return AdapterResult(samples, skipped + dups)


def load_wikiart(root: Path, *, label: str | None = None, task: str | None = None) -> AdapterResult:
    """WikiArt from style folders (``label``) or from the ArtGAN CSV split files (``task``)."""
    csv_dir = _wikiart_csv_dir(root)
    if csv_dir is not None:
        if label is not None:
            raise ArtlensError(f"{root}: option label applies to the style-folder layout; this WikiArt copy has "
                               f"CSV split files, choose the labels with task=style|artist|genre")
        return _load_wikiart_csv(root, csv_dir, choice("wikiart", "task", task or "style", WIKIART_TASKS))
    if task is not None:
        raise ArtlensError(f"{root}: option task needs the WikiArt CSV split files (style_train.csv, ...), "
                           f"not found here; for style folders use label=style|artist")
    label = choice("wikiart", "label", label or "style", ("style", "artist"))
    root = root / "wikiart" if (root / "wikiart").is_dir() else root  # the release's top folder
    if not subdirs(root):
        raise ADAPTER.wrong_root(root, "no style folders")
    samples = labelled_tree_samples(root)
    if not samples:
        raise ADAPTER.wrong_root(root, "no images in the style folders")
    if label == "artist":
        samples = [replace(s, label=artist_slug(s.path)) for s in samples]
    return AdapterResult(samples)


ADAPTER = DatasetAdapter("wikiart",
                         "WikiArt: one folder per style, or the ArtGAN CSV splits (style/artist/genre)",
                         "<root>/<Style>/<artist-slug>_<title>.jpg, or {style,artist,genre}_{train,val}.csv + "
                         "*_class.txt next to (or in wikiart_csv/ beside) the style folders",
                         load_wikiart,
                         {"label": "style (folder name, default) or artist (file-name slug); folder layout only",
                          "task": "style, artist or genre: which CSV/class files to read; CSV layout only"})
