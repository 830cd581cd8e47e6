"""Dataset adapters: read public art datasets exactly as their publishers ship them.

Each adapter knows one published layout (folder names, index CSVs, class-name files) and turns it
into :class:`~artlens.data.dataset.Sample` objects, so users never rename or reshuffle downloads.
Index rows that cannot be used (missing image, duplicate path, unknown class) are not fatal: they
are listed in :attr:`AdapterResult.skipped_rows` with the reason, for the run report.

>>> from artlens.data.adapters import DATASETS, load_dataset
>>> DATASETS.names()                                              # doctest: +SKIP
['artbench10', 'wikiart', 'pandora18k', 'best-artworks', 'ai-artbench', 'met']
>>> res = load_dataset("wikiart", "wikiart/", label="artist")     # doctest: +SKIP
>>> len(res.samples), len(res.skipped_rows)                       # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._registry import Registry
from ..config import DataConfig, register_names
from ..errors import ArtlensError, yaml_error
from .samples import Sample, label_folder_samples, labelled_tree_samples, read_utf8
from .images import is_system_name, iter_image_files

__all__ = ["DATASETS", "AdapterResult", "DatasetAdapter", "describe_datasets", "load_dataset"]


@dataclass
class AdapterResult:
    """What an adapter found: usable samples and the index rows it had to drop (with reasons)."""

    samples: list[Sample]
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    """``{"row": <the row as read>, "reason": <why>, "source": "<file>:<line>"}`` per dropped row."""


@dataclass(frozen=True)
class DatasetAdapter:
    """One published dataset layout; ``load(root, **options)`` reads it."""

    name: str
    description: str
    layout: str
    load: Callable[..., AdapterResult]
    options: Mapping[str, str] = field(default_factory=dict)
    """Allowed option names -> one-line help (shown in errors and by ``artlens datasets``)."""


DATASETS: Registry[DatasetAdapter] = Registry("dataset")
register_names(DataConfig, "dataset", lambda: ["auto", *DATASETS.names()])


def load_dataset(name: str, root: str | os.PathLike, **options: Any) -> AdapterResult:
    """Read the dataset ``name`` from ``root`` (validates option names and the root first)."""
    adapter = DATASETS.get(name)
    unknown = sorted(set(options) - set(adapter.options))
    if unknown:
        allowed = ", ".join(adapter.options) or "none"
        raise ArtlensError(f"dataset {name!r}: unknown option(s) {', '.join(unknown)}; allowed: {allowed}")
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise ArtlensError(f"{root}: {what}; the {name} dataset is a folder laid out as {adapter.layout}")
    return adapter.load(root, **options)


def describe_datasets() -> list[dict[str, Any]]:
    """One ``{name, description, layout, options}`` dict per adapter, for ``artlens datasets``."""
    return [{"name": a.name, "description": a.description, "layout": a.layout, "options": dict(a.options)}
            for a in (DATASETS.get(n) for n in DATASETS.names())]


def _adapter(name: str, description: str, layout: str, options: Mapping[str, str] | None = None):
    """Decorator registering a loader function as a :class:`DatasetAdapter`."""

    def deco(fn: Callable[..., AdapterResult]) -> Callable[..., AdapterResult]:
        DATASETS.add(name, DatasetAdapter(name, description, layout, fn, dict(options or {})))
        return fn

    return deco


# -- shared helpers ----------------------------------------------------------------------------

def _entries(root: Path, limit: int = 8) -> str:
    """The top-level entries of ``root`` for an error message (folders end in ``/``)."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not is_system_name(p.name))
    if not names:
        return "an empty folder"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _wrong_root(root: Path, name: str, problem: str | None = None) -> ArtlensError:
    """A one-line error: what was expected at ``root`` and what is there."""
    layout = DATASETS.get(name).layout
    detail = f" ({problem})" if problem else ""
    return ArtlensError(f"{root}: not laid out as the {name} dataset{detail}; expected {layout}; found {_entries(root)}")


def _subdirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not is_system_name(d.name))


def _choice(dataset: str, option: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ArtlensError(f"dataset {dataset!r}: option {option}={value!r} is not one of: {', '.join(allowed)}")
    return value


def _int_option(dataset: str, option: str, value: Any, minimum: int) -> int:
    """An integer option of at least ``minimum`` (bools and non-integers are an error)."""
    number = None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    if number is None or number < minimum:
        raise ArtlensError(f"dataset {dataset!r}: option {option} must be an integer >= {minimum}, got {value!r}")
    return number


def _as_list(dataset: str, option: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise ArtlensError(f"dataset {dataset!r}: option {option} must be a list of names, got {value!r}")


def _keep_classes(dataset: str, samples: list[Sample], classes: Any) -> list[Sample]:
    """Keep only the labels in ``classes`` (all when ``None``); unknown names are an error."""
    if classes is None:
        return samples
    wanted = _as_list(dataset, "classes", classes)
    present = sorted({s.label for s in samples})
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ArtlensError(f"dataset {dataset!r}: option classes names {', '.join(missing)} not in the data; "
                           f"available: {', '.join(present)}")
    return [s for s in samples if s.label in set(wanted)]


_MOJIBAKE_CODECS = ("cp437", "cp866", "cp850", "cp1252", "latin-1")
"""Code pages zip tools wrongly decode UTF-8 names with (``Du╠Иrer`` is NFD ``Dürer`` read as cp866)."""


def _norm(name: str) -> str:
    """Compare names across Unicode forms and the classic cp437 mojibake of zip extraction."""
    for codec in _MOJIBAKE_CODECS:
        try:
            name = name.encode(codec).decode("utf-8")
            break
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return unicodedata.normalize("NFC", name).casefold()


def _skip(row: Any, reason: str, source: str) -> dict[str, Any]:
    return {"row": row, "reason": reason, "source": source}


def _utf8_lines(path: Path) -> Iterator[str]:
    """The lines of a CSV, decoded as they are read (MetObjects.csv is 300 MB), or a one-line error
    for one a spreadsheet saved in its own code page."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            yield from fh
        except UnicodeDecodeError as err:
            raise ArtlensError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from None


def _existing(base: Path, rel: str) -> Path | None:
    """``base / rel``, also when the index and the file system spell its accents in different
    Unicode forms (a zip extracted on macOS writes NFD names)."""
    for form in (None, "NFC", "NFD"):
        p = base / (unicodedata.normalize(form, rel) if form else rel)
        if p.is_file():
            return p
    return None


def _dedupe(samples: list[Sample], sources: list[str], rows: list[Any]) -> tuple[list[Sample], list[dict]]:
    """Drop repeated paths (first occurrence wins), reporting each repeat."""
    seen: set[str] = set()
    kept, skipped = [], []
    for s, src, row in zip(samples, sources, rows):
        if s.path in seen:
            skipped.append(_skip(row, "duplicate path", src))
        else:
            seen.add(s.path)
            kept.append(s)
    return kept, skipped


# -- ArtBench-10 -------------------------------------------------------------------------------

ARTBENCH_STYLES = ("art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "realism",
                   "renaissance", "romanticism", "surrealism", "ukiyo_e")


@_adapter("artbench10", "ArtBench-10: ImageFolder release (256 px) or CIFAR-style python release (32 px)",
          "artbench-10-imagefolder-split/{train,test}/<style>/*.jpg, or "
          "artbench-10-python/artbench-10-batches-py/{data_batch_1..5,test_batch,meta} (the folder or a parent)",
          {"classes": "list of styles to keep, e.g. [ukiyo_e, surrealism]",
           "cache_dir": "python release: where its 32 px images are written as PNGs once "
                        "(default ~/.cache/artlens/artbench10-32px)"})
def load_artbench10(root: Path, *, classes: Sequence[str] | str | None = None,
                    cache_dir: str | None = None) -> AdapterResult:
    """ArtBench-10: splits from ``train/`` and ``test/`` (or the python batches), labels = styles."""
    batches = _artbench_batches_dir(root)
    if batches is not None:
        samples = _artbench_python_samples(batches, Path(cache_dir) if cache_dir else
                                           Path.home() / ".cache" / "artlens" / "artbench10-32px")
        return AdapterResult(_keep_classes("artbench10", samples, classes))
    base = root / "artbench-10-imagefolder-split" if (root / "artbench-10-imagefolder-split").is_dir() else root
    splits = [s for s in ("train", "test") if (base / s).is_dir()]
    if not splits:
        raise _wrong_root(root, "artbench10", "no train/ or test/ folder")
    samples = [s for split in splits for s in label_folder_samples(base / split, split)]
    if not samples:
        raise _wrong_root(root, "artbench10", "no images in train/<style>/ or test/<style>/")
    return AdapterResult(_keep_classes("artbench10", samples, classes))


_ARTBENCH_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _artbench_batches_dir(root: Path) -> Path | None:
    for candidate in (root, root / "artbench-10-batches-py", root / "artbench-10-python" / "artbench-10-batches-py"):
        if (candidate / "meta").is_file() and (candidate / "test_batch").is_file():
            return candidate
    return None


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-style batches (dicts, lists, numpy arrays) and refuses anything else.

    The python release of ArtBench-10 is a set of pickles; a plain ``pickle.load`` would run any
    code a tampered file names, so only the handful of constructors numpy arrays need are allowed.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path, data: bytes | None = None) -> dict[str, Any]:
    try:
        with (io.BytesIO(data) if data is not None else path.open("rb")) as f:
            raw = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as err:
        raise ArtlensError(f"{path}: not a safe ArtBench/CIFAR batch ({err})") from None
    if not isinstance(raw, dict):
        raise ArtlensError(f"{path}: expected a dict batch, found {type(raw).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _artbench_python_samples(batches: Path, cache: Path) -> list[Sample]:
    """Write each 32x32 image once as ``cache/<split>/<style>/<batch>-<digest>_<i>.png`` and list them.

    The digest (of the batch file's bytes) ties each PNG to the batch it came from: the default cache
    is shared by every copy of the release on the machine, and a name made of split, style and index
    alone handed one copy's pixels to another. PNGs are written under a temporary name and renamed,
    so an interrupted first run leaves no half-written file to be reused.
    """
    import numpy as np
    from PIL import Image

    styles = [s.decode() if isinstance(s, bytes) else str(s) for s in _read_batch(batches / "meta")["styles"]]
    samples: list[Sample] = []
    for name in _ARTBENCH_BATCHES:
        path = batches / name
        if not path.is_file():
            raise ArtlensError(f"{batches}: missing {name} of the ArtBench-10 python release")
        split = "test" if name == "test_batch" else "train"
        data = path.read_bytes()
        batch = _read_batch(path, data)
        digest = hashlib.sha256(data).hexdigest()[:12]
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        for i, (img, label) in enumerate(zip(images, batch["labels"])):
            out = cache / split / styles[label] / f"{name}-{digest}_{i:05d}.png"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
                Image.fromarray(img).save(tmp, format="PNG")
                os.replace(tmp, out)
            samples.append(Sample(str(out), styles[label], split))
    return samples


# -- WikiArt -----------------------------------------------------------------------------------

WIKIART_TASKS = ("style", "artist", "genre")
_WIKIART_CSV = re.compile(r"^(style|artist|genre)_(train|val)\.csv$", re.IGNORECASE)


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
    reader = csv.reader(_utf8_lines(path))
    first = 1
    for row in reader:
        row_line, first = first, reader.line_num + 1  # a quoted field may span several lines
        if not row or not any(c.strip() for c in row):
            continue
        src = f"{path.name}:{row_line}"
        if len(row) < 2 or not row[-1].strip().lstrip("-").isdigit():
            skipped.append(_skip(row, "malformed row (expected 'Relative/Path.jpg,<int>')", src))
            continue
        rel, idx = _wikiart_rel(row), int(row[-1])
        if idx not in names:
            skipped.append(_skip(row, f"unknown label {idx} (not in the class file)", src))
            continue
        p = _existing(base_of(rel), rel)
        if p is None:
            skipped.append(_skip(row, "missing file", src))
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
    for row in csv.reader(_utf8_lines(path)):
        if len(row) >= 2 and row[-1].strip().lstrip("-").isdigit() and _wikiart_rel(row):
            return _wikiart_rel(row)
    return None


def _load_wikiart_csv(root: Path, csv_dir: Path, task: str) -> AdapterResult:
    files = {m.group(2).lower(): p for p in csv_dir.iterdir()
             if (m := _WIKIART_CSV.match(p.name)) and m.group(1).lower() == task}
    class_file = csv_dir / f"{task}_class.txt"
    if not files:
        raise _wrong_root(root, "wikiart", f"no {task}_train.csv / {task}_val.csv in {csv_dir.name}/")
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


@_adapter("wikiart", "WikiArt: one folder per style, or the ArtGAN CSV splits (style/artist/genre)",
          "<root>/<Style>/<artist-slug>_<title>.jpg, or {style,artist,genre}_{train,val}.csv + "
          "*_class.txt next to (or in wikiart_csv/ beside) the style folders",
          {"label": "style (folder name, default) or artist (file-name slug); folder layout only",
           "task": "style, artist or genre: which CSV/class files to read; CSV layout only"})
def load_wikiart(root: Path, *, label: str | None = None, task: str | None = None) -> AdapterResult:
    """WikiArt from style folders (``label``) or from the ArtGAN CSV split files (``task``)."""
    csv_dir = _wikiart_csv_dir(root)
    if csv_dir is not None:
        if label is not None:
            raise ArtlensError(f"{root}: option label applies to the style-folder layout; this WikiArt copy has "
                               f"CSV split files, choose the labels with task=style|artist|genre")
        return _load_wikiart_csv(root, csv_dir, _choice("wikiart", "task", task or "style", WIKIART_TASKS))
    if task is not None:
        raise ArtlensError(f"{root}: option task needs the WikiArt CSV split files (style_train.csv, ...), "
                           f"not found here; for style folders use label=style|artist")
    label = _choice("wikiart", "label", label or "style", ("style", "artist"))
    root = root / "wikiart" if (root / "wikiart").is_dir() else root  # the release's top folder
    if not _subdirs(root):
        raise _wrong_root(root, "wikiart", "no style folders")
    samples = labelled_tree_samples(root)
    if not samples:
        raise _wrong_root(root, "wikiart", "no images in the style folders")
    if label == "artist":
        samples = [replace(s, label=artist_slug(s.path)) for s in samples]
    return AdapterResult(samples)


# -- Pandora 18k -------------------------------------------------------------------------------

@_adapter("pandora18k", "Pandora 18k: one folder per art movement, optionally artist folders below",
          "<root>/<movement>/[<artist>/]*.jpg")
def load_pandora18k(root: Path) -> AdapterResult:
    """Pandora 18k: the label is the top-level movement folder, whatever is nested below it. A copy
    split by hand into ``train/``, ``val/``, ``test/`` keeps its split, as any labelled folder does."""
    movements = _subdirs(root)
    if not movements:
        raise _wrong_root(root, "pandora18k", "no movement folders")
    if len(movements) == 1:  # the unzipped top folder: every image would get its name, and score 100 %
        raise _wrong_root(root, "pandora18k", f"one movement folder only ({movements[0].name}/); "
                                              f"if the movements are inside it, pass {movements[0]}")
    samples = labelled_tree_samples(root)
    if not samples:
        raise _wrong_root(root, "pandora18k", "no images in the movement folders")
    return AdapterResult(samples)


# -- Best Artworks of All Time (Kaggle) --------------------------------------------------------

def _first_dir(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c.is_dir()), None)


def _read_artists(path: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(_utf8_lines(path)))
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
        groups[_norm(p.stem.rsplit("_", 1)[0])].append(p)
    return groups


def _folder_groups(folder: Path) -> tuple[dict[str, list[Path]], list[dict]]:
    """Artist folders by normalised name, and the folders left out because they spell the same artist
    again: Kaggle's download holds Dürer twice, once with a zip-mangled name; both would put the same
    paintings on both sides of a split."""
    by_name: dict[str, list[Path]] = defaultdict(list)
    for d in _subdirs(folder):
        by_name[_norm(d.name)].append(d)
    groups, skipped = {}, []
    for name, dirs in by_name.items():
        # The correctly spelled folder first (its name unchanged by _norm's mojibake repair), then the fuller.
        dirs.sort(key=lambda d: (_norm(d.name) != unicodedata.normalize("NFC", d.name).casefold(),
                                 -len(iter_image_files(d)), d.name))
        groups[name] = iter_image_files(dirs[0])
        skipped += [_skip({"folder": d.name}, f"same artist as {dirs[0].name}/; kept that one", folder.name)
                    for d in dirs[1:]]
    return groups, skipped


@_adapter("best-artworks", "Kaggle 'Best Artworks of All Time' (50 artists, labelled by artist)",
          "<root>/artists.csv + <root>/images/images/<Artist_Name>/<Artist_Name>_N.jpg "
          "(or resized/resized/<Artist_Name>_N.jpg)",
          {"resized": "true: read the flat resized/resized/ folder instead of images/images/",
           "min_paintings": "keep artists whose artists.csv 'paintings' count is at least this (default 0)"})
def load_best_artworks(root: Path, *, resized: bool = False, min_paintings: int = 0) -> AdapterResult:
    """Best Artworks: artists from ``artists.csv``, images from the per-artist or resized folders."""
    min_paintings = _int_option("best-artworks", "min_paintings", min_paintings, 0)
    csv_path = root / "artists.csv"
    folder = (_first_dir(root / "resized" / "resized", root / "resized") if resized
              else _first_dir(root / "images" / "images", root / "images"))
    if not csv_path.is_file() or folder is None:
        missing = "artists.csv" if not csv_path.is_file() else ("resized/resized/" if resized else "images/images/")
        raise _wrong_root(root, "best-artworks", f"no {missing}")
    groups, skipped = (_resized_groups(folder), []) if resized else _folder_groups(folder)
    samples = []
    for i, row in enumerate(_read_artists(csv_path), start=2):
        name = (row.get("name") or "").strip()
        if _paintings(row) < min_paintings:
            continue
        files = groups.get(_norm(name.replace(" ", "_")))
        if not files:
            skipped.append(_skip({k: row.get(k) for k in ("id", "name", "paintings")},
                                 f"no images for artist {name!r} in {folder.name}/", f"{csv_path.name}:{i}"))
            continue
        samples += [Sample(str(p), name) for p in files]
    if not samples:
        raise ArtlensError(f"{root}: no artist in artists.csv with at least {min_paintings} paintings has images "
                           f"in {folder}")
    return AdapterResult(samples, skipped)


# -- AI-ArtBench (Kaggle) ----------------------------------------------------------------------

_AI_FOLDER = re.compile(r"^AI_(?P<gen>[A-Za-z0-9]+)_(?P<style>.+)$")


@dataclass(frozen=True)
class _ArtBenchFolder:
    origin: str       # "AI" or "human"
    generator: str    # "LD", "SD", or "" for human
    style: str
    folder: str


def parse_ai_artbench_folder(name: str) -> _ArtBenchFolder:
    """``AI_SD_baroque`` -> AI / SD / baroque; ``baroque`` -> human / "" / baroque."""
    m = _AI_FOLDER.match(name)
    if m:
        return _ArtBenchFolder("AI", m["gen"], m["style"], name)
    return _ArtBenchFolder("human", "", name, name)


AI_ARTBENCH_LABELS: dict[str, Callable[[_ArtBenchFolder], str]] = {
    "style": lambda f: f.style,
    "origin": lambda f: f.origin,
    "origin_style": lambda f: f"{f.origin}_{f.style}",
    "generator_style": lambda f: f.folder if f.origin == "AI" else f"human_{f.style}",
}


def balance(samples: Sequence[Sample], keys: Sequence[Any], per_class: int, seed: int) -> list[Sample]:
    """At most ``per_class`` samples per key (seeded, independent of input order)."""
    groups: dict[Any, list[Sample]] = defaultdict(list)
    for s, k in zip(samples, keys):
        groups[k].append(s)
    out = []
    for k in sorted(groups, key=str):
        group = sorted(groups[k], key=lambda s: s.path)
        random.Random(f"{seed}:{k}").shuffle(group)
        out += group[:per_class]
    return out


def _ai_artbench_base(root: Path) -> Path | None:
    for c in [root, *_subdirs(root)]:
        if (c / "train").is_dir() or (c / "test").is_dir():
            return c
    return None


@_adapter("ai-artbench", "Kaggle AI-ArtBench: human ArtBench styles vs Latent/Standard Diffusion images",
          "<root>/{train,test}/{<style>,AI_LD_<style>,AI_SD_<style>}/*.jpg",
          {"label": "style | origin (AI/human) | origin_style (AI_baroque) | generator_style (AI_LD_baroque)",
           "per_class": "at most N images per label and origin in each split (default: all)",
           "seed": "seed for the per_class choice (default 0)"})
def load_ai_artbench(root: Path, *, label: str = "origin_style", per_class: int | None = None,
                     seed: int = 0) -> AdapterResult:
    """AI-ArtBench: splits from ``train/``/``test/``, labels derived from the folder names."""
    name_of = AI_ARTBENCH_LABELS[_choice("ai-artbench", "label", label, list(AI_ARTBENCH_LABELS))]
    base = _ai_artbench_base(root)
    if base is None:
        raise _wrong_root(root, "ai-artbench", "no train/ or test/ folder")
    samples, keys = [], []
    for split in ("train", "test"):
        for d in _subdirs(base / split) if (base / split).is_dir() else []:
            info = parse_ai_artbench_folder(d.name)
            for p in iter_image_files(d):
                s = Sample(str(p), name_of(info), split)
                samples.append(s)
                keys.append((split, s.label, info.origin))
    if not samples:
        raise _wrong_root(root, "ai-artbench", "no images in train/<folder>/ or test/<folder>/")
    if per_class is not None:
        samples = balance(samples, keys, _int_option("ai-artbench", "per_class", per_class, 1),
                          _int_option("ai-artbench", "seed", seed, -2**63))
    return AdapterResult(samples)


# -- The Met Open Access -----------------------------------------------------------------------

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
    return {_norm(str(name)): str(group) for group, names in data.items() for name in names}


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
            if _norm(name.strip()) in groups:
                return groups[_norm(name.strip())], ""
    return None, f"culture/country/nationality {' / '.join(raw)!r} not in any group"


@_adapter("met", "The Met Open Access paintings, labelled by culture (or country / custom groups)",
          "<root>/MetObjects.csv + image files named <Object ID>.jpg anywhere under <root>",
          {"groups": "YAML file mapping group -> list of culture/country strings ('default': the shipped "
                     "assets/met_culture_groups.yaml, which merges England + United Kingdom, India + Gujarat, ...)",
           "min_count": "drop labels with fewer images than this (default 0)"})
def load_met(root: Path, *, groups: str | os.PathLike | None = None, min_count: int = 0) -> AdapterResult:
    """The Met: public paintings (Classification == Paintings) with a local ``<Object ID>`` image."""
    min_count = _int_option("met", "min_count", min_count, 0)
    csv_path = root / "MetObjects.csv"
    if not csv_path.is_file():
        raise _wrong_root(root, "met", "no MetObjects.csv")
    if groups == "default":
        groups = Path(__file__).resolve().parents[1] / "assets" / "met_culture_groups.yaml"
    mapping = _read_groups(groups) if groups is not None else None
    images = {p.stem: p for p in iter_image_files(root)}
    samples, skipped = [], []
    reader = csv.DictReader(_utf8_lines(csv_path))
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
            skipped.append(_skip(brief, "missing image", src))
            continue
        label, reason = _met_label(row, mapping)
        if label is None:
            skipped.append(_skip(brief, reason, src))
            continue
        samples.append(Sample(str(images[oid]), label))
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[s.label] += 1
    for label in sorted(lab for lab, n in counts.items() if n < min_count):
        skipped.append(_skip({"label": label, "images": counts[label]},
                             f"group {label!r} has {counts[label]} < min_count {min_count} images", csv_path.name))
    samples = [s for s in samples if counts[s.label] >= min_count]
    if not samples:
        raise ArtlensError(f"{root}: no painting in MetObjects.csv has a local <Object ID> image "
                           f"and a label with at least {min_count} images")
    return AdapterResult(samples, skipped)
