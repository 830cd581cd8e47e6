"""What the page shows before anyone uploads: example paintings, preset styles, model cards in plain words.

The example paintings (``artlens/assets/examples``) and preset style images (``artlens/assets/styles``)
ship with the package, each folder with a ``SOURCES.md`` table naming title, artist and licence per
file; that table is the catalogue, so a file without a row is not offered. Clients name these images,
never paths: ``GET /v1/examples/{name}`` serves only a name from the listing.

A model card turns a bundle's ``artlens.json`` into sentences a visitor can read ("Recognises 11
painting styles", "right about 7 times in 10") instead of ``v20261122-073716, 66.4% test``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Artwork", "catalogue", "model_card", "readable_class"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Artwork:
    name: str
    """File name, the only thing a client sends back."""
    path: Path
    title: str
    artist: str
    licence: str
    date: str = ""


def assets_dir(folder: str) -> Path:
    return Path(str(resources.files("artlens") / "assets" / folder))


def _table(markdown: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table, keyed by its header (lower case)."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if header is not None and rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
        elif not all(set(c) <= set("-: ") for c in cells):
            rows.append(dict(zip(header, cells)))
    return rows


def catalogue(folder: str, *, default_licence: str = "") -> list[Artwork]:
    """The images of ``assets/<folder>`` that its ``SOURCES.md`` describes, in that table's order."""
    root = assets_dir(folder)
    sources = root / "SOURCES.md"
    if not sources.is_file():
        return []
    licence_note = re.search(r"\b(CC0|MIT|public domain)\b", sources.read_text(encoding="utf-8"), re.I)
    out = []
    for row in _table(sources.read_text(encoding="utf-8")):
        name = row.get("file", "")
        path = root / name
        if not name or "/" in name or not name.lower().endswith(_IMAGE_SUFFIXES) or not path.is_file():
            continue
        licence = row.get("licence") or row.get("license") or default_licence or (licence_note.group(1) if licence_note else "")
        out.append(Artwork(name=name, path=path, title=row.get("title", name), artist=row.get("artist", "unknown"),
                           licence=licence, date=row.get("date", "")))
    return out


def readable_class(label: str) -> str:
    """``Naive_Art_Primitivism`` -> ``Naive Art Primitivism``, ``Ukiyo_e`` -> ``Ukiyo-e``, ``golden_age_1880s`` -> ``Golden age 1880s``."""
    text = re.sub(r"_(?=[a-z]$)", "-", label)
    text = text.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else label


_KINDS = (("style", "painting styles"), ("period", "periods of art history"), ("artist", "artists"),
          ("genre", "genres"), ("culture", "cultures"))


def _kind(name: str, count: int) -> str:
    for key, words in _KINDS:
        if key in name.lower():
            return words
    return "kinds of picture" if count != 1 else "kind of picture"


def _times_in_ten(fraction: float) -> int:
    return max(0, min(10, round(fraction * 10)))


def model_card(*, name: str, classes: list[str], metrics: dict[str, Any], trained_on: str | None,
               description: str | None = None, uncertain_below: float | None = None) -> dict[str, Any]:
    """A bundle in plain words: what it recognises, what it learnt from, how often it is right."""
    readable = [readable_class(c) for c in classes]
    if description:
        summary = description
    elif readable:
        listed = ", ".join(readable[:-1]) + (" and " if len(readable) > 1 else "") + readable[-1]
        summary = f"Recognises {len(readable)} {_kind(name, len(readable))}: {listed}."
    else:
        summary = "A model whose classes are not recorded in its files."
    accuracy = metrics.get("accuracy")
    if isinstance(accuracy, (int, float)):
        n = metrics.get("n")
        tested = f" among {n} paintings it never saw in training" if isinstance(n, int) and n > 0 else \
            " on paintings it never saw in training"
        words = f"Right about {_times_in_ten(accuracy)} times in 10{tested}"
        top3 = metrics.get("top3")
        if isinstance(top3, (int, float)) and len(classes) > 3:
            words += f"; the right answer is among its first three guesses about {_times_in_ten(top3)} times in 10"
        words += "."
    else:
        words = "Not measured: this model was saved without a test score."
    card: dict[str, Any] = {"summary": summary, "classes": readable,
                            "trained_on": trained_on or "Not recorded in the model's files.", "accuracy": words}
    card["uncertain_below"] = uncertain_below
    return card
