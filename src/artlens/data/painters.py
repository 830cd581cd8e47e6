"""Painter-to-style maps: label a folder of painters' works with art styles, one reviewed reason per painter.

Collections sorted by artist (Kaggle's "Best Artworks of All Time", ``artists49`` in the shared
data) become training data for a style classifier when each painter whose work belongs clearly to
one style is mapped to it. The map is a YAML file with a reason per painter, so that a reviewer can
check every decision, and painters left out are listed too (``style: null``) so that nobody has been
forgotten::

    painters:
      claude_monet: {style: Impressionism, reason: "The movement is named after his Impression, Sunrise."}
      pablo_picasso: {style: null, reason: "Cubist only in part."}

>>> from pathlib import Path
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "map.yaml").write_text('painters:\\n  claude_monet: {style: Impressionism, reason: "founder"}\\n')
>>> styles = read_painter_styles(root / "map.yaml", styles=["Baroque", "Impressionism"])
>>> styles["claude_monet"].style
'Impressionism'
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ArtlensError, yaml_error
from .samples import Sample, label_folder_samples, read_utf8

__all__ = ["PainterStyle", "painter_samples", "read_painter_styles"]


@dataclass(frozen=True)
class PainterStyle:
    painter: str
    style: str | None
    """``None``: the painter was reviewed and left out."""
    reason: str


def read_painter_styles(path: str | os.PathLike, *, styles: Iterable[str] | None = None,
                        painters_root: str | os.PathLike | None = None) -> dict[str, PainterStyle]:
    """Read and check a painter-to-style map.

    Every entry needs a non-empty ``reason``; a ``style`` outside ``styles`` (when given) and, with
    ``painters_root``, a painter with no folder there, or a folder there the map does not review,
    is an error naming the file and the painter.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtlensError(f"{path}: painter-to-style map not found")
    try:
        raw = yaml.safe_load(read_utf8(path, "the painter-to-style map"))
    except yaml.YAMLError as err:
        raise yaml_error(path, err) from None
    entries = raw.get("painters") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ArtlensError(f"{path}: expected a mapping 'painters:' of painter -> {{style, reason}}")
    allowed = list(styles) if styles is not None else None
    out: dict[str, PainterStyle] = {}
    for painter, entry in entries.items():
        where = f"{path}: painter {painter!r}"
        if not isinstance(entry, dict) or set(entry) - {"style", "reason"}:
            raise ArtlensError(f"{where}: expected {{style: <style or null>, reason: <text>}}, got {entry!r}")
        style, reason = entry.get("style"), entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ArtlensError(f"{where}: needs a reason (why this style, or why left out)")
        if style is not None and (not isinstance(style, str) or (allowed is not None and style not in allowed)):
            raise ArtlensError(f"{where}: unknown style {style!r}; the styles are: {', '.join(allowed or [])}")
        out[str(painter)] = PainterStyle(str(painter), style, reason.strip())
    if painters_root is not None:
        root = Path(painters_root)
        folders = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
        if not folders:
            raise ArtlensError(f"{root}: no painter folders")
        missing = sorted(set(out) - folders)
        if missing:
            raise ArtlensError(f"{path}: unknown painter {missing[0]!r}: no folder {root / missing[0]}")
        unreviewed = sorted(folders - set(out))
        if unreviewed:
            raise ArtlensError(f"{path}: painter {unreviewed[0]!r} of {root} is not reviewed; "
                               "map it to a style or list it with style: null and a reason")
    return out


def painter_samples(painters_root: str | os.PathLike, styles: dict[str, PainterStyle]) -> list[Sample]:
    """Every image of the mapped painters under ``painters_root/<painter>/``, labelled with the painter's style."""
    root = Path(painters_root)
    samples = []
    for s in label_folder_samples(root):
        mapped = styles.get(s.label)
        if mapped is not None and mapped.style is not None:
            samples.append(Sample(s.path, mapped.style))
    return samples
