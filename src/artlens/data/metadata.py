"""Who painted it and what is it called: short captions for galleries, from a collection's metadata.

A gallery that captions a painting ``16237.jpg`` tells an art historian nothing. Collections often
carry a ``METADATA.tsv`` (or ``.csv``) beside the class folders with a ``file`` column (the path
relative to that folder) and ``artist``/``title`` columns (the Art Institute of Chicago set), or an
``artist_slug`` (WikiArt, whose file names are ``artist-slug_title-year.jpg``). Without metadata
the file name is the caption.

>>> artwork_caption("paintings/Baroque/rembrandt_the-night-watch-1642.jpg")
'Rembrandt: the night watch 1642'
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

__all__ = ["artwork_caption"]

_NAMES = ("METADATA.tsv", "metadata.tsv", "METADATA.csv", "metadata.csv")


@lru_cache(maxsize=64)
def _table(folder: str) -> dict[str, dict[str, str]]:
    for name in _NAMES:
        path = Path(folder) / name
        if path.is_file():
            try:
                with open(path, newline="", encoding="utf-8") as fh:
                    rows = csv.DictReader(fh, delimiter="\t" if name.endswith(".tsv") else ",")
                    return {os.path.normpath(r["file"]): r for r in rows if r.get("file")}
            except (OSError, UnicodeDecodeError, csv.Error, KeyError):
                return {}
    return {}


def _metadata(path: Path, levels: int = 3) -> dict[str, str]:
    for parent in list(path.parents)[:levels]:
        row = _table(str(parent)).get(os.path.normpath(os.path.relpath(path, parent)))
        if row:
            return row
    return {}


def _words(slug: str) -> str:
    return slug.replace("-", " ").replace("_", " ").strip()


def artwork_caption(path: str | os.PathLike, *, width: int = 34) -> str:
    """``artist: title`` from the collection's metadata or a WikiArt-style name, else the file name;
    each part cut to ``width`` characters so a gallery's captions stay on their tile."""
    p = Path(path)
    row = _metadata(p)
    artist, title = (row.get("artist") or "").strip(), (row.get("title") or "").strip()
    slug = row.get("artist_slug") or ""
    if not artist and "_" in p.stem:  # WikiArt: artist-slug_title-year
        head, rest = p.stem.split("_", 1)
        wikiart_like = head.islower() and not rest.startswith("_") and any(c.isalpha() for c in rest)
        if (not slug and wikiart_like) or head == slug:
            slug, title = head, title or rest
    if not artist and slug:
        artist = _words(slug).title()
        title = _words(title)
    if not (artist or title):
        return _cut(p.name, width)
    artist = artist.split(" (")[0]  # "Allegretto Nuzi (Italian, 1346-1373)" -> "Allegretto Nuzi"
    return f"{_cut(artist, width)}: {_cut(title, width)}" if artist and title else _cut(artist or title, width)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
