"""The Met Open Access: ``MetObjects.csv`` and the painting images named by their Object ID."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

from ...errors import ArtlensError, yaml_error
from ..images import iter_image_files
from ..samples import Sample, norm_name, read_utf8, utf8_lines
from ._base import AdapterResult, DatasetAdapter, int_option, skip

__all__ = ["ADAPTER", "load_met"]

_MET_REPORT_COLUMNS = ("Object ID", "Classification", "Culture", "Country", "Artist Nationality",
                       "Is Public Domain")
"""The MetObjects.csv columns kept in a skipped-row report (the full row has ~50)."""


def _read_groups(path: str | os.PathLike) -> dict[str, str]:
    """YAML ``group: [culture or country, ...]`` -> ``{normalised name: group}``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(read_utf8(path, "the groups file"))
    except OSError as err:
        raise ArtlensError(f"{path}: cannot read groups file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise yaml_error(path, err) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ArtlensError(f"{path}: expected a mapping 'Group: [culture or country, ...]'")
    return {norm_name(str(name)): str(group) for group, names in data.items() for name in names}


def _met_label(row: dict[str, str], groups: dict[str, str] | None) -> tuple[str | None, str]:
    """Culture, else Country, else the first Artist Nationality, mapped through ``groups``;
    ``(None, reason)`` when unusable.

    The Met fills Culture for Asian and American works but leaves it (and Country) empty for
    European paintings, whose origin is the painter's nationality ("French", "Flemish|Dutch").
    A qualified value matches its group by its head: "India (Basohli, Jammu)" as "India".
    """
    raw = [(row.get(k) or "").strip() for k in ("Culture", "Country")]
    raw.append((row.get("Artist Nationality") or "").split("|")[0].strip())
    raw = [r for r in raw if r]
    if not raw:
        return None, "no Culture, Country or Artist Nationality"
    if groups is None:
        return raw[0], ""
    for r in raw:
        for name in dict.fromkeys((r, r.split(" (")[0], r.split(",")[0])):
            if norm_name(name.strip()) in groups:
                return groups[norm_name(name.strip())], ""
    return None, f"culture/country/nationality {' / '.join(raw)!r} not in any group"


def load_met(root: Path, *, groups: str | os.PathLike | None = None, min_count: int = 0) -> AdapterResult:
    """The Met: public paintings (Classification == Paintings) with a local ``<Object ID>`` image."""
    min_count = int_option("met", "min_count", min_count, 0)
    csv_path = root / "MetObjects.csv"
    if not csv_path.is_file():
        raise ADAPTER.wrong_root(root, "no MetObjects.csv")
    if groups == "default":
        groups = Path(__file__).resolve().parents[2] / "assets" / "met_culture_groups.yaml"
    mapping = _read_groups(groups) if groups is not None else None
    images = {p.stem: p for p in iter_image_files(root)}
    samples, skipped = [], []
    reader = csv.DictReader(utf8_lines(csv_path))
    if "Object ID" not in (reader.fieldnames or []) or "Classification" not in (reader.fieldnames or []):
        raise ArtlensError(f"{csv_path}: expected columns 'Object ID', 'Classification', 'Culture', 'Country'")
    first = reader.line_num + 1  # the line a row starts on: a quoted field may span several lines
    for row in reader:
        row_line, first = first, reader.line_num + 1
        if (row.get("Classification") or "").strip() != "Paintings":
            continue
        src = f"{csv_path.name}:{row_line}"
        brief = {k: row.get(k) for k in _MET_REPORT_COLUMNS}
        oid = (row.get("Object ID") or "").strip()
        if oid not in images:
            skipped.append(skip(brief, "missing image", src))
            continue
        label, reason = _met_label(row, mapping)
        if label is None:
            skipped.append(skip(brief, reason, src))
            continue
        samples.append(Sample(str(images[oid]), label))
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[s.label] += 1
    for label in sorted(lab for lab, n in counts.items() if n < min_count):
        skipped.append(skip({"label": label, "images": counts[label]},
                            f"group {label!r} has {counts[label]} < min_count {min_count} images", csv_path.name))
    samples = [s for s in samples if counts[s.label] >= min_count]
    if not samples:
        raise ArtlensError(f"{root}: no painting in MetObjects.csv has a local <Object ID> image "
                           f"and a label with at least {min_count} images")
    return AdapterResult(samples, skipped)


ADAPTER = DatasetAdapter("met",
                         "The Met Open Access paintings, labelled by culture (or country / custom groups)",
                         "<root>/MetObjects.csv + image files named <Object ID>.jpg anywhere under <root>",
                         load_met,
                         {"groups": "YAML file mapping group -> list of culture/country strings ('default': the shipped "
                                    "assets/met_culture_groups.yaml, which merges England + United Kingdom, India + Gujarat, ...)",
                          "min_count": "drop labels with fewer images than this (default 0)"})
