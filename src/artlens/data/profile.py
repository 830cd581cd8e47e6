"""Profile a labelled collection before training on it: counts, sizes, modes, bad files, duplicates.

Art datasets hide problems that only show up as a suspicious accuracy later: the same painting under
two styles (a label conflict), in train and in test (a leak), unreadable or truncated files, tiny or
extreme-aspect scans. :func:`profile_collection` finds them in one cheap pass and writes
``profile.json`` (machine-readable), ``profile.md`` (tables for people) and PNG figures into a folder.

It is cheap on purpose: sizes, modes and formats come from the image *header* (Pillow reads them
without decoding pixels), and the only decode is the reduced-size one that
:func:`~artlens.data.dedupe.image_signatures` does for the perceptual hashes anyway; that decode
also reveals truncated files whose header still looks fine.

:func:`write_split_manifest` writes the collection (after splitting) as a ``path\\tlabel\\tsplit`` TSV,
so a split can be shared and re-read with ``load_collection(DataConfig(path=...))``.

Usage (``artlens data profile`` does the same)::

    from artlens.data.profile import profile_collection
    report = profile_collection(load_collection(DataConfig(path="paintings/")), "profile/")
    report["duplicates"]["across_splits"]
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..outputs import output_dir
from .dataset import Collection, Sample
from .dedupe import Signatures, duplicate_pairs, image_signatures, pair_search
from .images import check_image, displayed_size

__all__ = ["DUPLICATE_KINDS", "profile_collection", "write_split_manifest"]

DUPLICATE_KINDS = ("within_class", "across_classes", "across_splits")
"""``within_class``: same label and split (wasted samples); ``across_classes``: different labels
(a label conflict); ``across_splits``: different splits (a leak). A pair that is both a label
conflict and a leak is listed in both of those lists."""

PAIRS_PER_FIGURE = 12
#: Figure pages per kind of duplicate (the closest pairs first). A whole collection can hold 100,000
#: pairs (30,000 images with edited copies: 120,838), one PNG per 12 of them took hours; every pair
#: stays listed in ``profile.json``.
MAX_FIGURE_PAGES = 5
#: Rows per kind of duplicate in ``profile.md``, for the same reason.
MAX_TABLE_ROWS = 500
_SIGNATURE_CHUNK = 256


@dataclass(frozen=True)
class _Header:
    """What the header pass learns about one file: its displayed size, mode and format, or why not."""

    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    error: str | None = None


def _read_header(path: str) -> _Header:
    """Size/mode/format without decoding pixels; the size is as displayed (EXIF rotation applied)."""
    try:
        with Image.open(path) as img:
            return _Header(*displayed_size(img), img.mode, img.format or "")
    except Exception as err:  # noqa: BLE001 - every failure is a reason to report, not to crash on
        return _Header(error=check_image(path) or f"header unreadable ({type(err).__name__}: {err})")


def _read_headers(paths: Sequence[str], workers: int, show_progress: bool) -> list[_Header]:
    """Header pass in threads (I/O bound: a few KB per file)."""
    from ..progress import progress_bar

    headers: list[_Header] = []
    with progress_bar(len(paths), "headers", enabled=show_progress) as advance, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for header in pool.map(_read_header, paths, chunksize=32):
            headers.append(header)
            advance(1)
    return headers


def _signatures(paths: Sequence[str], workers: int, show_progress: bool) -> Signatures:
    """:func:`image_signatures` in chunks, so that a long run shows progress."""
    from ..progress import progress_bar

    parts: list[Signatures] = []
    with progress_bar(len(paths), "hashes", enabled=show_progress) as advance:
        for start in range(0, len(paths), _SIGNATURE_CHUNK):
            chunk = paths[start:start + _SIGNATURE_CHUNK]
            parts.append(image_signatures(chunk, workers=workers))
            advance(len(chunk))
    if not parts:
        return image_signatures([], workers=workers)
    return Signatures(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("phash", "thumb", "ok")))


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    """min/max/mean/median/std, or None when there is nothing to describe."""
    if not values:
        return None
    return {"min": min(values), "max": max(values), "mean": round(statistics.fmean(values), 4),
            "median": statistics.median(values), "std": round(statistics.pstdev(values), 4)}


def _unreadable(samples: Sequence[Sample], headers: Sequence[_Header], ok: np.ndarray) -> list[dict[str, str]]:
    """Files whose header fails, plus header-readable files that do not decode (truncated)."""
    out = []
    for s, h, good in zip(samples, headers, ok):
        if h.error is not None:
            reason = h.error
        elif not good:
            reason = check_image(s.path) or "could not be decoded for hashing"
        else:
            continue
        out.append({"path": s.path, "label": s.label, "split": s.split or "", "reason": reason})
    return out


def _pair_kinds(a: Sample, b: Sample) -> list[str]:
    """Which of :data:`DUPLICATE_KINDS` a duplicate pair belongs to."""
    kinds = []
    if a.label != b.label:
        kinds.append("across_classes")
    if (a.split or "") != (b.split or ""):
        kinds.append("across_splits")
    return kinds or ["within_class"]


def _duplicates(samples: Sequence[Sample], sig: Signatures, index: str) -> dict[str, list[dict[str, Any]]]:
    """Near-duplicate pairs of the collection against itself, sorted into the three kinds."""
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in DUPLICATE_KINDS}
    for i, j, dist in duplicate_pairs(sig, sig, same=True, index=index):
        a, b = samples[i], samples[j]
        if b.split == "train" and a.split != "train":  # the training image is side A of a leak
            a, b = b, a
        entry = {"path_a": a.path, "label_a": a.label, "split_a": a.split or "",
                 "path_b": b.path, "label_b": b.label, "split_b": b.split or "", "phash_distance": dist}
        for kind in _pair_kinds(a, b):
            found[kind].append(entry)
    for entries in found.values():
        entries.sort(key=lambda e: (e["phash_distance"], e["path_a"], e["path_b"]))
    return found


def _build_profile(collection: Collection, headers: Sequence[_Header], sig: Signatures,
                   dedupe_index: str = "auto") -> dict[str, Any]:
    """The JSON-ready report (see :func:`profile_collection`)."""
    samples = collection.samples
    search = pair_search(int(sig.ok.sum()), dedupe_index)
    start = time.perf_counter()
    duplicates = _duplicates(samples, sig, dedupe_index)
    search_s = round(time.perf_counter() - start, 3)
    unreadable = _unreadable(samples, headers, sig.ok)
    bad = {u["path"] for u in unreadable}
    good = [h for s, h in zip(samples, headers) if s.path not in bad]
    per_class = Counter(s.label for s in samples)
    return {
        "n_samples": len(samples),
        "n_readable": len(good),
        "classes": list(collection.classes),
        "counts": {"per_split": collection.counts(), "per_class": dict(sorted(per_class.items()))},
        "sizes": {"width": _stats([h.width for h in good]), "height": _stats([h.height for h in good]),
                  "aspect": _stats([round(h.width / h.height, 4) for h in good if h.height])},
        "modes": dict(Counter(h.mode for h in good).most_common()),
        "formats": dict(Counter(h.format for h in good).most_common()),
        "unreadable": unreadable,
        "duplicates": duplicates,
        "duplicate_search": {**asdict(search), "requested": dedupe_index, "seconds": search_s},
        "skipped_rows": list(collection.skipped_rows),
    }


# -- figures -----------------------------------------------------------------------------------

def _plot_class_counts(counts: dict[str, dict[str, int]], classes: Sequence[str], path: Path) -> Path:
    """Grouped bars: one group per class, one bar per split (reads well up to ~40 classes)."""
    from ..viz.figures import _save, plt

    splits = _split_order(counts)
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(splits))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(classes) * max(1, len(splits)) + 2), 4.2))
    for k, split in enumerate(splits):
        ax.bar(x + (k - (len(splits) - 1) / 2) * width, [counts[split].get(c, 0) for c in classes],
               width, label=split)
    ax.set_xticks(x, classes, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("images")
    ax.set_title("Images per class and split")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def _plot_sizes(headers: Sequence[_Header], path: Path) -> Path:
    """Histograms of width, height and aspect ratio, plus a width-vs-height scatter.

    A quantity every image shares (a resized set: all 224 px wide) is said in words in its panel
    ("all 38 images: 224 px") instead of a single bar on a made-up axis.
    """
    from ..viz.figures import _save, plt

    good = [h for h in headers if h.error is None and h.height]
    w = np.array([h.width for h in good], float)
    h = np.array([h.height for h in good], float)
    n = len(good)
    if n and np.ptp(w) == 0 and np.ptp(h) == 0:  # one size for all: a sentence, not four degenerate plots
        fig, ax = plt.subplots(figsize=(6.5, 1.0))
        ax.axis("off")
        ax.text(0.5, 0.5, f"Image sizes: all {n} readable images are {int(w[0])}×{int(h[0])} px (aspect ratio {w[0] / h[0]:.3g})",
                ha="center", va="center", fontsize=11, transform=ax.transAxes)
        return _save(fig, path)
    fig, axes = plt.subplots(2, 2, figsize=(9, 7))

    def say(ax, text: str, title: str) -> None:
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)

    for ax, values, title, unit in ((axes[0, 0], w, "width (px)", " px"), (axes[0, 1], h, "height (px)", " px"),
                                    (axes[1, 0], w / h if len(h) else h, "aspect ratio (w/h)", "")):
        if not len(values):
            say(ax, "no readable images", title)
        elif np.ptp(values) == 0:
            say(ax, f"all {n} images: {values[0]:.4g}{unit}", title)
        else:
            ax.hist(values, bins=min(40, max(5, len(values) // 3)))
            ax.set_ylabel("images")
            ax.set_title(title)
    axes[1, 1].scatter(w, h, s=6, alpha=0.5)
    axes[1, 1].set_xlabel("width (px)")
    axes[1, 1].set_ylabel("height (px)")
    axes[1, 1].set_title("width vs height")
    fig.tight_layout()
    return _save(fig, path)


def _pair_captions(e: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str], str]:
    """Each side names its file, label and split; the pair's title says how close and whether labels agree."""
    def side(s: str) -> tuple[str, str]:
        name = Path(e["path_" + s]).name
        name = name if len(name) <= 36 else name[:35] + "…"
        return e["path_" + s], f"{s.upper()}: {name}\n{e['label_' + s]} / {e['split_' + s] or 'no split'}"

    same = e["label_a"] == e["label_b"]
    verdict = f"both {e['label_a']}" if same else f"labels differ: {e['label_a']} ≠ {e['label_b']}"
    return side("a"), side("b"), f"pHash distance {e['phash_distance']}; {verdict}"


def _plot_duplicates(kind: str, entries: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """Side-by-side pairs, :data:`PAIRS_PER_FIGURE` per PNG: ``duplicates_<kind>.png``, ``..._2.png``."""
    from ..viz.figures import plot_pairs

    paths = []
    shown = entries[:PAIRS_PER_FIGURE * MAX_FIGURE_PAGES]  # the closest pairs; profile.json keeps them all
    for page, start in enumerate(range(0, len(shown), PAIRS_PER_FIGURE), start=1):
        pairs = [_pair_captions(e) for e in shown[start:start + PAIRS_PER_FIGURE]]
        name = f"duplicates_{kind}.png" if page == 1 else f"duplicates_{kind}_{page}.png"
        paths.append(plot_pairs(pairs, out / name, title=f"near-duplicates {kind.replace('_', ' ')}"))
    return paths


# -- markdown ----------------------------------------------------------------------------------

def _split_order(counts: dict[str, dict[str, int]]) -> list[str]:
    """train, val, test (then anything else, e.g. ``all``), rather than alphabetical."""
    rank = {"train": 0, "val": 1, "test": 2}
    return sorted(counts, key=lambda s: (rank.get(s, 3), s))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table (pipes in cells escaped); "None." for no rows, which reads better than a bare header."""
    if not rows:
        return ["None."]

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]


def _markdown(report: dict[str, Any]) -> str:
    """``profile.md``: the same content as ``profile.json``, as tables."""
    counts = report["counts"]["per_split"]
    splits = _split_order(counts)
    lines = ["# Data profile", "",
             f"{report['n_samples']} images, {report['n_readable']} readable, {len(report['classes'])} classes.", "",
             "## Images per class and split", ""]
    lines += _table(["class", *splits, "total"],
                    [[c, *(counts[s].get(c, 0) for s in splits), report["counts"]["per_class"].get(c, 0)]
                     for c in report["classes"]])
    lines += ["", "## Image sizes", ""]
    lines += _table(["", "min", "median", "mean", "max", "std"],
                    [[k, *(v[f] for f in ("min", "median", "mean", "max", "std"))]
                     for k, v in report["sizes"].items() if v])
    lines += ["", "## Modes and formats", ""]
    lines += _table(["mode", "images"], list(report["modes"].items()))
    lines += [""] + _table(["format", "images"], list(report["formats"].items()))
    lines += ["", f"## Unreadable files ({len(report['unreadable'])})", ""]
    lines += _table(["path", "label", "split", "reason"],
                    [[u["path"], u["label"], u["split"], u["reason"]] for u in report["unreadable"]])
    search = report["duplicate_search"]
    how = (f"approximate: an IVF index of {search['nlist']} k-means cells, {search['nprobe']} searched per "
           "image, can miss pairs" if search["approximate"] else "exact: every pair of hashes compared")
    lines += ["", f"Near-duplicates: pHash within {search['radius']} bits, confirmed by thumbnails; search "
              f"{search['index']} ({how}; `--dedupe-index {search['requested']}`), {search['seconds']} s."]
    for kind in DUPLICATE_KINDS:
        entries = report["duplicates"][kind]
        lines += ["", f"## Near-duplicates {kind.replace('_', ' ')} ({len(entries)})", ""]
        lines += _table(["path A", "label A", "split A", "path B", "label B", "split B", "pHash distance"],
                        [[e["path_a"], e["label_a"], e["split_a"], e["path_b"], e["label_b"], e["split_b"],
                          e["phash_distance"]] for e in entries[:MAX_TABLE_ROWS]])
        if len(entries) > MAX_TABLE_ROWS:
            lines += ["", f"The {MAX_TABLE_ROWS} closest of {len(entries)} pairs; profile.json lists them all."]
    rows = report["skipped_rows"]
    lines += ["", f"## Skipped index rows ({len(rows)})", ""]
    keys = sorted({k for r in rows for k in r})
    lines += _table(keys, [[r.get(k, "") for k in keys] for r in rows])
    return "\n".join(lines) + "\n"


# -- public API --------------------------------------------------------------------------------

def profile_collection(collection: Collection, out: str | os.PathLike, *, workers: int | None = None,
                       show_progress: bool = True, dedupe_index: str = "auto") -> dict[str, Any]:
    """Profile ``collection`` into the folder ``out`` and return the report written to ``profile.json``.

    Keys: ``n_samples``, ``n_readable``, ``classes``, ``counts`` (``per_split`` as
    :meth:`Collection.counts`, ``per_class``), ``sizes`` (``width``/``height``/``aspect`` stats over
    readable images, as displayed after EXIF rotation), ``modes``, ``formats``, ``unreadable``
    (path, label, split, reason), ``duplicates`` (one list per :data:`DUPLICATE_KINDS`, each entry
    with ``path_a/label_a/split_a``, ``path_b/label_b/split_b`` and ``phash_distance``; for a leak the
    training image is side A), ``duplicate_search`` (how the pairs were searched: ``index`` ``exact`` or
    ``ivf``, ``approximate``, ``radius``, ``nlist``/``nprobe`` of the IVF, the ``requested``
    ``dedupe_index`` of :data:`~artlens.data.dedupe.PAIR_INDEXES` and the search's ``seconds``) and
    ``skipped_rows``. Also writes ``profile.md``, ``class_counts.png``,
    ``sizes.png`` and ``duplicates_<kind>.png`` for each kind that has pairs (its closest
    ``PAIRS_PER_FIGURE * MAX_FIGURE_PAGES`` pairs).
    """
    out = output_dir(out)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    paths = [s.path for s in collection.samples]
    headers = _read_headers(paths, workers, show_progress)
    report = _build_profile(collection, headers, _signatures(paths, workers, show_progress), dedupe_index)
    (out / "profile.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "profile.md").write_text(_markdown(report), encoding="utf-8")
    _plot_class_counts(report["counts"]["per_split"], report["classes"], out / "class_counts.png")
    _plot_sizes(headers, out / "sizes.png")
    for kind, entries in report["duplicates"].items():
        if entries:
            _plot_duplicates(kind, entries, out)
    return report


def write_split_manifest(collection: Collection, path: str | os.PathLike) -> Path:
    """Write ``path\\tlabel\\tsplit`` rows so the split is reproducible and shareable.

    Paths under the manifest's folder are written relative to it (the folder can move as a whole);
    others stay absolute. ``load_collection(DataConfig(path=manifest))`` gives the same samples back,
    since samples that carry a split keep it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "label", "split"])
        for s in collection.samples:
            writer.writerow([_manifest_path(s.path, base), s.label, s.split or ""])
    return path


def _manifest_path(sample_path: str, base: Path) -> str:
    """Relative to ``base`` when the file lies below it, else absolute (re-read paths then match)."""
    p = Path(sample_path)
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        return str(p.absolute())
