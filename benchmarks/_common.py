"""Helpers shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", Path(__file__).resolve().parents[2] / "shared" / "artdata"))


def wikiart_subset(dest: Path, classes: int, per_class: int) -> Path:
    """Copy ``per_class`` real paintings of the first ``classes`` WikiArt styles into ``dest``."""
    styles = sorted(p for p in (ARTDATA / "wikiart11").iterdir() if p.is_dir())[:classes]
    for style in styles:
        (dest / style.name).mkdir(parents=True, exist_ok=True)
        for p in sorted(style.glob("*.jpg"))[:per_class]:
            shutil.copy(p, dest / style.name / p.name)
    return dest


def spread(rates: list[float]) -> str:
    """The median of timed passes and their spread, as every benchmark reports it."""
    return f"median {statistics.median(rates):6.1f} images/s (min {min(rates):.1f}, max {max(rates):.1f})"
