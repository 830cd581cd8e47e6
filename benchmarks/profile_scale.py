"""``artlens data profile`` at collection scale: the exact pair search against the IVF index.

Two parts, both with the exact search (``--dedupe-index exact``: faiss ``IndexBinaryFlat``, every pair
of hashes) and the approximate one (``--dedupe-index ivf``: faiss ``IndexBinaryIVF``):

1. The whole profile (headers, hashes, duplicate search, report, figures) over real images: ``wikiart11``
   (3,300) and 30,000 made of it and edited copies of it (a few pixels cropped off, brightness moved a
   few per cent, re-encoded at another JPEG quality; written once under ``--work``). ``--repeats`` runs
   of each, alternating; images/s as median and range, and the final duplicate pairs the IVF run found
   against the exact one's.
2. The pair search alone, on the hashes: the real ones of 3,300 and 30,000 images, then 100,000 and
   400,000 synthetic ones (the 30,000 real hashes repeated with ~5% of bits flipped, their thumbnails
   with a little noise). For each size: CPU seconds of the exact search and of the IVF at several
   ``nprobe``, the share of the exact search's candidate pairs (within 14 bits) the IVF returns, and the
   share of the final duplicate pairs (candidates confirmed by thumbnails) it keeps.

CPU seconds (``time.process_time``) are what to compare on a shared machine; wall seconds are printed
too. Threads: faiss uses ``OMP_NUM_THREADS``; hashing uses ``--workers`` threads.

    OMP_NUM_THREADS=1 python benchmarks/profile_scale.py [--sizes 3300,30000] [--repeats 5]
        [--scale 100000,400000] [--nprobes 16,32,64,128] [--workers 2] [--work /tmp/artlens-profile-scale]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ARTDATA
from PIL import Image, ImageEnhance

from artlens import DataConfig
from artlens.data import dedupe, load_collection
from artlens.data.images import iter_image_files
from artlens.data.profile import DUPLICATE_KINDS, profile_collection

INDEXES = ("exact", "ivf")


def edited_copy(src: Path, dest: Path, rng: random.Random) -> None:
    with Image.open(src) as img:
        img = img.convert("RGB")
        w, h = img.size
        c = rng.randint(1, 6)
        img = img.crop((c, c, w - c, h - c)).resize((w, h))
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.95, 1.05))
        img.save(dest, quality=rng.randint(70, 92))


def build_set(work: Path, size: int) -> Path:
    """``size`` images: wikiart11, then edited copies of it, in its style folders (made once)."""
    originals = sorted(iter_image_files(ARTDATA / "wikiart11"))
    if size <= len(originals):
        return ARTDATA / "wikiart11"
    root = work / f"wikiart11x{size}"
    done = root / ".complete"
    if done.is_file():
        return root
    rng = random.Random(0)
    for k in range(size):
        src = originals[k % len(originals)]
        dest = root / src.parent.name / (src.name if k < len(originals) else f"{src.stem}-edit{k // len(originals)}.jpg")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if k < len(originals):
            dest.write_bytes(src.read_bytes())
        else:
            edited_copy(src, dest, rng)
    done.write_text("ok")
    return root


def timed(fn):
    """``(value, wall seconds, CPU seconds of this process)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def pair_keys(report: dict) -> set[frozenset[str]]:
    return {frozenset((e["path_a"], e["path_b"])) for kind in DUPLICATE_KINDS for e in report["duplicates"][kind]}


def whole_profile(folder: Path, repeats: int, workers: int) -> None:
    """Part 1: ``repeats`` alternating profiles with each index; images/s median (range)."""
    collection = load_collection(DataConfig(path=str(folder)), split=False)
    n = len(collection.samples)
    rates: dict[str, list[float]] = {k: [] for k in INDEXES}
    cpu_rates: dict[str, list[float]] = {k: [] for k in INDEXES}
    search_s: dict[str, list[float]] = {k: [] for k in INDEXES}
    pairs: dict[str, set] = {}
    used: dict[str, dict] = {}
    for r in range(repeats):
        for index in INDEXES if r % 2 == 0 else INDEXES[::-1]:
            with tempfile.TemporaryDirectory() as tmp:
                report, wall, cpu = timed(lambda: profile_collection(collection, Path(tmp) / "p", workers=workers,
                                                                     show_progress=False, dedupe_index=index))
            rates[index].append(n / wall)
            cpu_rates[index].append(n / cpu)
            search_s[index].append(report["duplicate_search"]["seconds"])
            pairs.setdefault(index, pair_keys(report))
            used[index] = report["duplicate_search"]
            print(f"    run {r + 1} {index:>5}: {n / wall:6.0f} images/s ({wall:.1f} s wall, {cpu:.1f} s CPU; "
                  f"search {report['duplicate_search']['seconds']:.2f} s)", flush=True)
    found = len(pairs["ivf"] & pairs["exact"])
    print(f"{n:,} images ({folder.name}), {repeats} runs each, median (range):")
    for index in INDEXES:
        s = used[index]
        what = f"ivf nlist={s['nlist']} nprobe={s['nprobe']}" if s["approximate"] else "exact"
        print(f"  {what:<26} whole profile {spread(rates[index])} images/s wall, {spread(cpu_rates[index])} per "
              f"CPU-second; pair search {spread(search_s[index], '{:.2f}')} s; {len(pairs[index]):,} duplicate pairs")
    print(f"  ivf found {found:,} of the exact search's {len(pairs['exact']):,} duplicate pairs "
          f"({found / max(1, len(pairs['exact'])):.4%}), {len(pairs['ivf'] - pairs['exact'])} others", flush=True)


def signatures_of(folder: Path, work: Path, workers: int) -> dedupe.Signatures:
    """The collection's hashes and thumbnails, kept under ``work`` after the first time."""
    cache = work / f"signatures-{folder.name}.npz"
    if cache.is_file():
        z = np.load(cache)
        return dedupe.Signatures(z["phash"], z["thumb"], z["ok"])
    collection = load_collection(DataConfig(path=str(folder)), split=False)
    sig = dedupe.image_signatures([s.path for s in collection.samples], workers=workers)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, phash=sig.phash, thumb=sig.thumb, ok=sig.ok)
    return sig


def synthetic(real: dedupe.Signatures, n: int, rng: np.random.Generator) -> dedupe.Signatures:
    """``n`` signatures: the real ones, then copies with ~5% of hash bits flipped and noisy thumbnails."""
    ok = np.flatnonzero(real.ok)
    take = np.resize(ok, n)
    bits = np.unpackbits(real.phash[take], axis=1)
    flips = rng.random(bits.shape) < 0.05  # about 3 of 64 bits per copy
    flips[: len(ok)] = False
    thumb = real.thumb[take] + rng.normal(0, 0.2 / 16, (n, real.thumb.shape[1])).astype(np.float32)
    thumb[: len(ok)] = real.thumb[ok]
    thumb -= thumb.mean(1, keepdims=True)
    thumb /= np.linalg.norm(thumb, axis=1, keepdims=True)
    return dedupe.Signatures(np.packbits(bits ^ flips, axis=1), thumb, np.ones(n, bool))


def candidates(sig: dedupe.Signatures, search: dedupe.PairSearch | None) -> tuple[np.ndarray, np.ndarray]:
    """Unordered candidate pairs within the radius as sorted keys ``i * n + j`` (``i < j``), and distances."""
    i, j, d = dedupe.hamming_neighbours(sig.phash, sig.phash, dedupe.PHASH_LOOSE, search)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo < hi
    keys, first = np.unique(lo[keep] * len(sig.ok) + hi[keep], return_index=True)
    return keys, d[keep][first]


#: Candidate pairs confirmed by thumbnails at most, for the recall of duplicates: beyond it a random
#: sample of the exact search's candidates (confirming costs ~5 us a pair, minutes for 25 million).
CONFIRM_SAMPLE = 2_000_000


def final(sig: dedupe.Signatures, keys: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The duplicates among candidate ``keys``, or among a random :data:`CONFIRM_SAMPLE` of them."""
    if len(keys) > CONFIRM_SAMPLE:
        pick = np.sort(np.random.default_rng(0).choice(len(keys), CONFIRM_SAMPLE, replace=False))
        keys, d = keys[pick], d[pick]
    n = len(sig.ok)
    return keys[dedupe.confirmed(sig, sig, keys // n, keys % n, d)]


def pair_search_only(name: str, sig: dedupe.Signatures, nprobes: list[int]) -> None:
    """Part 2 for one set of hashes: exact against IVF at each ``nprobe``, time and recall."""
    n = len(sig.ok)
    (ref, ref_d), wall, exact_cpu = timed(lambda: candidates(sig, None))
    ref_final, cwall, ccpu = timed(lambda: final(sig, ref, ref_d))
    sampled = f" among a random {CONFIRM_SAMPLE:,} of them" if len(ref) > CONFIRM_SAMPLE else ""
    print(f"  {n:>7,} {name}: exact {exact_cpu:7.2f} s CPU ({wall:.2f} s wall), {len(ref):,} candidate pairs, "
          f"{len(ref_final):,} duplicates{sampled} (confirming: {ccpu:.2f} s CPU)", flush=True)
    base = dedupe.pair_search(n, "ivf")
    for nprobe in nprobes:
        search = dedupe.PairSearch("ivf", True, nlist=base.nlist, nprobe=min(nprobe, base.nlist))
        (keys, _), wall, cpu = timed(lambda: candidates(sig, search))
        # The IVF's candidates are some of the exact search's (same radius) and confirming a pair depends on
        # the pair alone, so its duplicates are the exact search's duplicates among its candidates.
        cand = np.isin(ref, keys, assume_unique=True).mean() if len(ref) else 1.0
        fin = np.isin(ref_final, keys, assume_unique=True).mean() if len(ref_final) else 1.0
        print(f"           ivf nlist={search.nlist:>5} nprobe={search.nprobe:>4}: {cpu:7.2f} s CPU ({wall:.2f} s wall, "
              f"index training included; exact/ivf {exact_cpu / cpu:.1f}x); recall: candidates {cand:.4%}, "
              f"duplicates {fin:.4%}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3300,30000", help="image counts profiled whole (part 1)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", default="100000,400000", help="synthetic hash counts for the search alone (part 2)")
    ap.add_argument("--nprobes", default="16,32,64,128")
    ap.add_argument("--workers", type=int, default=2, help="hashing threads of the profile")
    ap.add_argument("--parts", default="1,2")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "artlens-profile-scale"))
    args = ap.parse_args()
    import faiss

    work, sizes = Path(args.work), [int(s) for s in args.sizes.split(",")]
    nprobes = [int(s) for s in args.nprobes.split(",")]
    print(f"{os.cpu_count()} CPU core(s); faiss threads {faiss.omp_get_max_threads()} (OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}); hashing threads {args.workers}; auto switches to ivf "
          f"from {dedupe.IVF_FROM:,} images (nlist = {dedupe.IVF_CELLS_PER_SQRT} sqrt(n), nprobe {dedupe.IVF_NPROBE})")
    parts = set(args.parts.split(","))
    if "2" in parts:
        print("pair search alone (part 2):")
        real = None
        for size in sizes:
            real = signatures_of(build_set(work, size), work, args.workers)
            pair_search_only("real hashes", real, nprobes)
        rng = np.random.default_rng(0)
        for n in (int(s) for s in args.scale.split(",") if s):
            sig = synthetic(real, n, rng)
            pair_search_only("synthetic", sig, nprobes)
    if "1" in parts:
        print("whole profile (part 1):")
        for size in sizes:
            whole_profile(build_set(work, size), args.repeats, args.workers)


if __name__ == "__main__":
    main()
