"""Kaggle's "Best Artworks of All Time": ``artists.csv`` and one folder per artist (or the flat resized copy)."""

from __future__ import annotations

import csv
import unicodedata
from collections import defaultdict
from pathlib import Path

from ...errors import ArtlensError
from ..images import iter_image_files
from ..samples import Sample, norm_name, subdirs, utf8_lines
from ._base import AdapterResult, DatasetAdapter, int_option, skip

__all__ = ["ADAPTER", "load_best_artworks"]

def _first_dir(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c.is_dir()), None)


def _read_artists(path: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(utf8_lines(path)))
    if not rows or "name" not in rows[0] or "paintings" not in rows[0]:
        raise ArtlensError(f"{path}: expected columns id,name,...,paintings; found "
                           f"{', '.join(rows[0]) if rows else 'no rows'}")
    return rows


def _paintings(row: dict[str, str]) -> int:
    try:
        return int(float(row.get("paintings") or 0))
    except ValueError:
        return 0


def _resized_groups(folder: Path) -> dict[str, list[Path]]:
    """Flat ``<Artist_Name>_N.jpg`` files grouped by normalised artist folder name."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in iter_image_files(folder):
        groups[norm_name(p.stem.rsplit("_", 1)[0])].append(p)
    return groups


def _folder_groups(folder: Path) -> tuple[dict[str, list[Path]], list[dict]]:
    """Artist folders by normalised name, and the folders left out because they spell the same artist
    again: Kaggle's download holds Dürer twice, once with a zip-mangled name; both would put the same
    paintings on both sides of a split."""
    by_name: dict[str, list[Path]] = defaultdict(list)
    for d in subdirs(folder):
        by_name[norm_name(d.name)].append(d)
    groups, skipped = {}, []
    for name, dirs in by_name.items():
        # The correctly spelled folder first (its name unchanged by _norm's mojibake repair), then the fuller.
        dirs.sort(key=lambda d: (norm_name(d.name) != unicodedata.normalize("NFC", d.name).casefold(),
                                 -len(iter_image_files(d)), d.name))
        groups[name] = iter_image_files(dirs[0])
        skipped += [skip({"folder": d.name}, f"same artist as {dirs[0].name}/; kept that one", folder.name)
                    for d in dirs[1:]]
    return groups, skipped


def load_best_artworks(root: Path, *, resized: bool = False, min_paintings: int = 0) -> AdapterResult:
    """Best Artworks: artists from ``artists.csv``, images from the per-artist or resized folders."""
    min_paintings = int_option("best-artworks", "min_paintings", min_paintings, 0)
    csv_path = root / "artists.csv"
    folder = (_first_dir(root / "resized" / "resized", root / "resized") if resized
              else _first_dir(root / "images" / "images", root / "images"))
    if not csv_path.is_file() or folder is None:
        missing = "artists.csv" if not csv_path.is_file() else ("resized/resized/" if resized else "images/images/")
        raise ADAPTER.wrong_root(root, f"no {missing}")
    groups, skipped = (_resized_groups(folder), []) if resized else _folder_groups(folder)
    samples = []
    for i, row in enumerate(_read_artists(csv_path), start=2):
        name = (row.get("name") or "").strip()
        if _paintings(row) < min_paintings:
            continue
        files = groups.get(norm_name(name.replace(" ", "_")))
        if not files:
            skipped.append(skip({k: row.get(k) for k in ("id", "name", "paintings")},
                                f"no images for artist {name!r} in {folder.name}/", f"{csv_path.name}:{i}"))
            continue
        samples += [Sample(str(p), name) for p in files]
    if not samples:
        raise ArtlensError(f"{root}: no artist in artists.csv with at least {min_paintings} paintings has images "
                           f"in {folder}")
    return AdapterResult(samples, skipped)


ADAPTER = DatasetAdapter("best-artworks",
                         "Kaggle 'Best Artworks of All Time' (50 artists, labelled by artist)",
                         "<root>/artists.csv + <root>/images/images/<Artist_Name>/<Artist_Name>_N.jpg "
                         "(or resized/resized/<Artist_Name>_N.jpg)",
                         load_best_artworks,
                         {"resized": "true: read the flat resized/resized/ folder instead of images/images/",
                          "min_paintings": "keep artists whose artists.csv 'paintings' count is at least this (default 0)"})
