"""Whole collections to Parquet in fixed shards: resumable, alone or under torchrun.

A museum's collection (hundreds of thousands of images) is labelled or embedded in one run that
outlives interruptions. The images are cut into fixed shards of ``shard_size`` in input order; each
process takes unfinished shards (rank ``r`` of ``w`` the ``r``-th, ``r + w``-th, ... of them), writes
one Parquet file per shard, and a run started again on the same folder skips the shards already
written. At the end rank 0 joins them, in order, into one Parquet file (or leaves them: pyarrow,
DuckDB, polars and pandas read the ``shards/`` folder as one dataset).

The output folder::

    OUT/plan.json                  what was asked: image count and list fingerprint, shard size, model
    OUT/shards/shard-00000.parquet one per shard: its rows, plus each image's sha256 and size in bytes
    OUT/shards/shard-00000.skipped.tsv   unreadable images of that shard (path, reason), never fatal
    OUT/skipped.tsv, summary.json  all skipped images, counts, seconds and images/s over all processes
    OUT/predictions.parquet        (or embeddings.parquet) the merged file, unless ``merge`` is off

A shard's Parquet file is written under a temporary name and renamed, so a shard is either finished
or absent. ``OUT`` may be a local folder or an object-storage URL: ``s3://``, ``gs://``, ``hdfs://``
through pyarrow's own file systems, any other fsspec protocol (``abfs://``, ``memory://`` ...) through
fsspec; the images themselves are read from local (or mounted) paths.

>>> from artlens.predict import PredictCollectionConfig, predict_collection
>>> run = predict_collection(PredictCollectionConfig(data="collection/", out="labels/"))  # doctest: +SKIP
>>> run.merged, run.n_rows, run.images_per_s                                                # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .data.dataset import Sample
from .data.images import SkippedImage, is_system_name, iter_image_files
from .distributed import DistContext, broadcast_object, shared_counter
from .errors import ArtlensError
from .progress import progress_bar

__all__ = ["PLAN_FILE", "SHARDS_DIR", "ShardedRun", "ShardOptions", "collection_samples", "file_digests",
           "open_output", "read_rows", "run_sharded"]

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
SHARDS_DIR = "shards"
PLAN_FORMAT = "artlens-shards/1"

#: ``process(samples, advance) -> (rows, skipped)``: ``rows`` a dict of column -> list (one entry per
#: readable image, with a ``path`` column), ``advance(n)`` called as images are done.
ShardFn = Callable[[list[Sample], Callable[[int], None]], tuple[dict[str, Any], list[SkippedImage]]]


@dataclass
class ShardOptions:
    """How a whole-collection run is cut and finished (shared by ``predict --out`` and ``embed``)."""

    shard_size: int = 1000
    """Images per shard: one Parquet file each, the unit a resumed run skips."""
    merge: bool = True
    """Join the shards into one Parquet file at the end; without it ``shards/`` stays a dataset of files."""

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ArtlensError(f"shard_size: {self.shard_size} must be at least 1")


@dataclass
class ShardedRun:
    """What a sharded run did; the same object on every process."""

    out: str
    """The output folder (or URL)."""
    merged: str | None
    """The merged Parquet file, or ``None`` when the shards were left as they are."""
    n_images: int
    n_rows: int
    n_skipped: int
    n_shards: int
    shards_resumed: int
    """Shards found finished on disk and skipped."""
    seconds: float
    images_per_s: float
    """Images done in this run per second, over all processes."""
    world_size: int = 1
    skipped: list[SkippedImage] = field(default_factory=list)


# -- where the files go ------------------------------------------------------------------------

def open_output(out: str | os.PathLike):
    """``(pyarrow file system, path on it)`` for a local folder or an object-storage / fsspec URL."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    text = str(out)
    if "://" not in text:
        return pafs.LocalFileSystem(), Path(text).resolve().as_posix()
    try:
        return pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec ships with most installs; named in the error if not
        raise ArtlensError(f"--out {text}: pyarrow cannot open this URL and fsspec is not installed") from None
    try:
        fs, path = fsspec.core.url_to_fs(text)
    except (ImportError, ValueError) as err:
        raise ArtlensError(f"--out {text}: {err}") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _read_text(fs, path: str) -> str | None:
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def _write_text(fs, path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with fs.open_output_stream(tmp) as f:
        f.write(text.encode())
    fs.move(tmp, path)


# -- the collection ----------------------------------------------------------------------------

def collection_samples(data: str, *, dataset: str = "auto", dataset_options: dict[str, Any] | None = None,
                       max_per_class: int | None = None) -> list[Sample]:
    """Every image of a folder (loose images, or one sub-folder per label), a manifest or a ``--dataset``."""
    from .config import DataConfig
    from .data.dataset import load_collection

    path = Path(data)
    if path.is_dir() and dataset == "auto" and not any(d.is_dir() and not is_system_name(d.name)
                                                       for d in path.iterdir()):
        found = iter_image_files(path)  # loose images, no labels
        if not found:
            raise ArtlensError(f"{path}: folder contains no image files")
        return [Sample(str(p), "") for p in found]
    cfg = DataConfig(path=str(data), dataset=dataset, dataset_options=dict(dataset_options or {}),
                     max_per_class=max_per_class)
    return load_collection(cfg, split=False).samples


def _fingerprint(samples: Sequence[Sample]) -> str:
    h = hashlib.sha256()
    for s in samples:
        h.update(f"{s.path}\n".encode())
    return h.hexdigest()[:24]


def file_digests(paths: Sequence[str], *, workers: int = 8) -> list[tuple[str, int]]:
    """``(sha256 hex, size in bytes)`` of each file, read in threads (hashlib releases the GIL)."""

    def one(p: str) -> tuple[str, int]:
        h, n = hashlib.sha256(), 0
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                n += len(chunk)
        return h.hexdigest(), n

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, paths))


# -- the run -----------------------------------------------------------------------------------

def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def run_sharded(samples: Sequence[Sample], out: str | os.PathLike, process: ShardFn, *, kind: str,
                options: ShardOptions, merged_name: str, metadata: dict[str, str],
                ctx: DistContext | None = None, show_progress: bool = True) -> ShardedRun:
    """Run ``process`` over ``samples`` shard by shard into ``out`` (see the module).

    ``metadata`` (model, layer, classes ...) is stored in ``plan.json`` and in every Parquet file's
    schema; a run started again on the same ``out`` must ask for the same images, shard size, kind and
    metadata, or it is refused before any work (its shards would not belong together).
    Every process of a torchrun job calls it; the result is the same on each.
    """
    import pyarrow.fs as pafs

    ctx = ctx or DistContext()
    started = time.time()
    fs, root = open_output(out)
    shards_dir = posixpath.join(root, SHARDS_DIR)
    n_shards = (len(samples) + options.shard_size - 1) // options.shard_size
    plan = {"format": PLAN_FORMAT, "kind": kind, "n_images": len(samples), "shard_size": options.shard_size,
            "n_shards": n_shards, "fingerprint": _fingerprint(samples), "metadata": metadata}
    problem, done, run_id = None, [], time.time_ns()
    if ctx.is_main:
        try:
            fs.create_dir(shards_dir, recursive=True)
            problem = _check_plan(fs, root, plan, out)
            if problem is None:
                found = {info.base_name for info in fs.get_file_info(pafs.FileSelector(shards_dir))}
                done = [i for i in range(n_shards) if f"{_shard_name(i)}.parquet" in found]
        except OSError as err:
            problem = f"--out {out}: cannot write there ({err})"
    problem, done, run_id = broadcast_object(ctx, (problem, done, run_id))
    if problem:
        raise ArtlensError(problem)
    todo = [i for i in range(n_shards) if i not in set(done)]
    mine = todo[ctx.rank::ctx.world_size]
    if done and ctx.is_main:
        log.info("%s: %d of %d shards already written; resuming with the other %d", out, len(done), n_shards,
                 len(todo))
    to_do_images = sum(min(options.shard_size, len(samples) - i * options.shard_size) for i in todo)
    counter = shared_counter(ctx, f"artlens/{kind}/{run_id}")
    tick = time.time()
    shown = 0

    def rate() -> str:
        per_s = counter.total / max(time.time() - tick, 1e-9)
        procs = f" over {ctx.world_size} processes" if ctx.enabled else ""
        return f"{per_s:.1f} images/s{procs}"

    with progress_bar(to_do_images, kind, enabled=show_progress and ctx.is_main, postfix=rate) as bar:
        def advance(n: int) -> None:
            nonlocal shown
            total = counter.add(n)
            if ctx.is_main:
                bar(total - shown)
                shown = total

        for i in mine:
            part = list(samples[i * options.shard_size:(i + 1) * options.shard_size])
            rows, skipped = process(part, advance)
            _write_shard(fs, shards_dir, i, rows, skipped, metadata)
    seconds_work = time.time() - tick
    ctx.barrier()
    result = None
    if ctx.is_main:
        result = _finish(fs, root, shards_dir, plan, options, merged_name, metadata, out=str(out),
                         started=started, seconds_work=seconds_work, images_done=to_do_images,
                         resumed=len(done), world=ctx.world_size)
    return broadcast_object(ctx, result)


def _check_plan(fs, root: str, plan: dict[str, Any], out: Any) -> str | None:
    """``None`` if ``out`` is new or holds this same run; else why it cannot be resumed into."""
    path = posixpath.join(root, PLAN_FILE)
    text = _read_text(fs, path)
    if text is None:
        _write_text(fs, path, json.dumps(plan, indent=2))
        return None
    old = json.loads(text)
    for key in ("kind", "n_images", "fingerprint", "shard_size", "metadata"):
        if old.get(key) != plan[key]:
            what = {"fingerprint": "list of images", "metadata": "model or other options"}.get(key, key)
            return (f"--out {out}: holds a run with another {what} ({old.get(key)!r} vs {plan[key]!r}); "
                    "choose another --out, or delete it to start over")
    return None


def _write_shard(fs, shards_dir: str, i: int, rows: dict[str, Any], skipped: list[SkippedImage],
                 metadata: dict[str, str]) -> None:
    """The shard's skipped log, then its Parquet file under a temporary name, renamed: finished or absent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = posixpath.join(shards_dir, _shard_name(i))
    _write_text(fs, f"{name}.skipped.tsv",
                "".join(f"{s.path}\t{' '.join(s.reason.split())}\n" for s in skipped))
    paths = rows["path"]
    digests = file_digests(paths.to_pylist() if hasattr(paths, "to_pylist") else list(paths))
    table = pa.table({**rows, "sha256": pa.array([d[0] for d in digests], pa.string()),
                      "bytes": pa.array([d[1] for d in digests], pa.int64())})
    table = table.replace_schema_metadata({f"artlens.{k}": str(v) for k, v in metadata.items()})
    tmp = f"{name}.parquet.tmp"
    pq.write_table(table, tmp, filesystem=fs)
    fs.move(tmp, f"{name}.parquet")


def _finish(fs, root: str, shards_dir: str, plan: dict[str, Any], options: ShardOptions, merged_name: str,
            metadata: dict[str, str], *, out: str, started: float, seconds_work: float, images_done: int,
            resumed: int, world: int) -> ShardedRun:
    """Rank 0: check every shard is there, gather the skipped logs, merge, write the summary."""
    import pyarrow.parquet as pq

    names = [posixpath.join(shards_dir, _shard_name(i)) for i in range(plan["n_shards"])]
    missing = [n for n in names if fs.get_file_info(f"{n}.parquet").type.name != "File"]
    if missing:
        raise ArtlensError(f"{out}: {len(missing)} shard(s) missing after the run (first: {missing[0]}.parquet); "
                           "run the same command again to finish them")
    skipped: list[SkippedImage] = []
    for n in names:
        for line in (_read_text(fs, f"{n}.skipped.tsv") or "").splitlines():
            path, _, reason = line.partition("\t")
            skipped.append(SkippedImage(path, reason))
    _write_text(fs, posixpath.join(root, "skipped.tsv"), "".join(f"{s.path}\t{s.reason}\n" for s in skipped))
    n_rows = sum(pq.ParquetFile(f"{n}.parquet", filesystem=fs).metadata.num_rows for n in names)
    merged = None
    if options.merge and names:
        merged = posixpath.join(root, merged_name)
        tmp = f"{merged}.tmp"
        writer = None
        for n in names:  # one shard in memory at a time
            table = pq.read_table(f"{n}.parquet", filesystem=fs)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, filesystem=fs)
            writer.write_table(table)
        writer.close()
        fs.move(tmp, merged)
        merged = f"{str(out).rstrip('/')}/{merged_name}"  # as the user named the folder
    seconds = time.time() - started
    run = ShardedRun(out=out, merged=merged, n_images=plan["n_images"], n_rows=n_rows, n_skipped=len(skipped),
                     n_shards=plan["n_shards"], shards_resumed=resumed, seconds=round(seconds, 2),
                     images_per_s=round(images_done / max(seconds_work, 1e-9), 1), world_size=world, skipped=skipped)
    summary = {k: v for k, v in asdict(run).items() if k != "skipped"}
    _write_text(fs, posixpath.join(root, "summary.json"), json.dumps({**summary, "metadata": metadata}, indent=2))
    return run


def read_rows(out: str | os.PathLike, merged_name: str):
    """The rows of a sharded run as one pyarrow table: its merged file, else its ``shards/`` dataset;
    a plain ``.parquet`` file is read as it is."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs, root = open_output(out)
    if root.endswith(".parquet"):
        if fs.get_file_info(root).type.name != "File":
            raise ArtlensError(f"{out}: no such Parquet file")
        return pq.read_table(root, filesystem=fs)
    merged = posixpath.join(root, merged_name)
    if fs.get_file_info(merged).type.name == "File":
        return pq.read_table(merged, filesystem=fs)
    shards = posixpath.join(root, SHARDS_DIR)
    if fs.get_file_info(shards).type.name != "Directory":
        raise ArtlensError(f"{out}: neither {merged_name} nor a {SHARDS_DIR}/ folder of a sharded run")
    files = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(shards)) if i.path.endswith(".parquet"))
    if not files:
        raise ArtlensError(f"{out}: {SHARDS_DIR}/ holds no finished shard yet")
    return ds.dataset(files, filesystem=fs, format="parquet").to_table()
