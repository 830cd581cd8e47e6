"""Pooled features of many layers from one forward pass per image, cached on disk.

Probes, PCA and class similarity all start from "the output of layer X for every image". A forward
pass through VGG19 costs the same whether one or five layers are read from it, so every requested
layer is tapped at once (:class:`artlens.models.layers.LayerTaps`, which also stops after the
deepest one), pooled right away (a ``conv1_1`` map of 64x224x224 floats is 12 MB per image; its
pooled vector is 256 bytes) and saved per layer under a key of (model, input preprocessing, image
list, pooling). A second probe with another regularisation, split or subset of layers reads the
cache and only runs the network for layers it has not seen.

Poolings (``--pooling``):

``gap``
    global average per channel (C values): what the ArtBench study's probes use.
``meanstd``
    per-channel mean and standard deviation (2C): AdaIN's style statistics.
``gram``
    the upper triangle of the channel Gram matrix divided by H*W (C(C+1)/2): Gatys' texture
    statistics, which carry brushwork and style. Large for deep layers (131k values at 512
    channels): refused with a clear message when the result would not fit ``max_bytes``.

A layer that already gives a vector (``embed``, a classifier stage) is kept as it is under every
pooling: its "standard deviation" would be a constant and its "Gram matrix" an outer product.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from .._registry import Registry
from ..config import DataConfig
from ..data.dataset import ImageDataset, Sample, collate_skipping
from ..data.images import SkippedImage
from ..data.transforms import build_transform
from ..errors import ArtlensError
from ..inference import default_device
from ..models.classifier import style_statistics
from ..models.layers import LayerTaps, resolve_layer
from ..progress import progress_bar
from .source import EMBED, ModelSource

__all__ = ["POOLINGS", "FeatureSet", "FeaturesConfig", "LayerFeaturesConfig", "check_extraction_options", "extract_features", "layer_shapes", "pooled_width"]

#: ``name -> fn(fmap (B, C, H, W)) -> (B, D)``.
POOLINGS: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("pooling")

DEFAULT_MAX_BYTES = 2 * 1024**3


def _as_map(f: torch.Tensor) -> torch.Tensor:
    """Vectors (B, D) are treated as 1x1 maps so every pooling accepts them."""
    f = f.float()
    return f.reshape(f.shape[0], f.shape[1], 1, 1) if f.dim() == 2 else f.flatten(3) if f.dim() > 4 else f


@POOLINGS.register("gap")
def global_average(f: torch.Tensor) -> torch.Tensor:
    return _as_map(f).mean((2, 3))


@POOLINGS.register("meanstd")
def mean_std(f: torch.Tensor) -> torch.Tensor:
    return style_statistics(_as_map(f))


@POOLINGS.register("gram")
def gram_upper(f: torch.Tensor) -> torch.Tensor:
    f = _as_map(f)
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    gram = flat @ flat.transpose(1, 2) / (h * w)
    rows, cols = torch.triu_indices(c, c)
    return gram[:, rows, cols]


def pooled_width(channels: int, pooling: str) -> int:
    """Length of the pooled vector of a ``channels``-channel map."""
    POOLINGS.get(pooling)
    return {"gap": channels, "meanstd": 2 * channels, "gram": channels * (channels + 1) // 2}.get(pooling, channels)


def check_extraction_options(*, pooling: str, batch_size: int, num_workers: int = 0,
                             input_size: int | None = None) -> None:
    """Refuse, in one line naming the flag, settings that torch would reject only after the model is
    loaded (a DataLoader's ``batch_size``, a convolution larger than a tiny input). The configs of
    probe, similarity and embed call it first thing, before any model or image is read."""
    POOLINGS.get(pooling)
    if batch_size < 1:
        raise ArtlensError(f"--batch-size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ArtlensError(f"--workers must be >= 0, got {num_workers}")
    if input_size is not None and input_size < 16:
        raise ArtlensError(f"--input-size must be >= 16 pixels, got {input_size}")


@dataclass
class FeaturesConfig:
    """Which images and which network: the part of the probe, similarity and embed configs they share."""

    data: str = ""
    """Image folder tree (one sub-folder per label) or manifest; a published layout with ``dataset``."""
    model: str | None = None
    """Bundle folder or backbone name (default: the built-in model)."""
    weights: str = "auto"
    """Backbone weights when ``model`` is a backbone name: auto | hub | none | PATH."""
    pooling: str = "gap"
    """How a layer's feature map becomes a vector: gap | meanstd | gram (see :data:`POOLINGS`)."""
    dataset: str = "auto"
    """``auto`` (folder tree or manifest) or a published layout from ``artlens datasets``."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that dataset adapter, e.g. ``{"label": "origin"}``."""
    max_per_class: int | None = None
    """At most this many images per class; ``None`` keeps everything."""
    input_size: int | None = None
    """Override the model's input size in pixels (smaller = faster)."""
    batch_size: int = 32
    """Images per forward pass."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1"""

    def __post_init__(self) -> None:
        check_extraction_options(pooling=self.pooling, batch_size=self.batch_size, input_size=self.input_size)

    def data_config(self, **extra: Any) -> DataConfig:
        """The images as a :class:`~artlens.DataConfig` (``extra``: its other fields, e.g. ``min_per_class``)."""
        return DataConfig(path=self.data, dataset=self.dataset, dataset_options=self.dataset_options,
                          max_per_class=self.max_per_class, **extra)


@dataclass
class LayerFeaturesConfig(FeaturesConfig):
    """:class:`FeaturesConfig` and the one layer whose features are used."""

    layer: str = EMBED
    """embed (the vector the head sees) or any layer name (pooled)."""


@dataclass
class FeatureSet:
    """``features[layer]`` has one row per kept sample; ``samples[i]`` is row ``i``."""

    samples: list[Sample]
    features: dict[str, np.ndarray]
    skipped: list[SkippedImage] = field(default_factory=list)
    cached_layers: list[str] = field(default_factory=list)
    """Layers read from the cache instead of being extracted."""

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples])


@torch.no_grad()
def layer_shapes(source: ModelSource, layers: Sequence[str], *, input_size: int | None = None) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch) of each layer for one image at the model's input size."""
    size = input_size or source.preprocessing.input_size
    x = torch.zeros(1, 3, size, size, device=_device_of(source))
    named = [n for n in layers if n != EMBED]
    shapes = {}
    if named:
        maps = LayerTaps(source.backbone, named)(x)
        shapes = {n: tuple(m.shape[1:]) for n, m in maps.items()}
    if EMBED in layers:
        shapes[EMBED] = tuple(source.embed(x).shape[1:])
    return {n: shapes[n] for n in layers}


def _device_of(source: ModelSource) -> torch.device:
    """Where the source's network is (a network fused for the CPU may keep no parameters at all)."""
    param = next(source.model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _cache_key(source: ModelSource, samples: Sequence[Sample], pooling: str) -> str:
    # format 2: vector layers are no longer pooled as 1x1 maps, so older caches of them differ.
    h = hashlib.sha256(json.dumps({"model": source.key, "pre": source.preprocessing.to_dict(),
                                   "pooling": pooling, "format": 2}, sort_keys=True).encode())
    for s in samples:  # the data fingerprint: same files, same bytes -> same features
        try:
            st = os.stat(s.path)
            h.update(f"{s.path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{s.path}\t-1\n".encode())
    return h.hexdigest()[:20]


def _check_memory(source: ModelSource, layers: Sequence[str], pooling: str, n: int, max_bytes: int) -> None:
    shapes = layer_shapes(source, layers)
    widths = {name: shape[0] if len(shape) == 1 else pooled_width(shape[0], pooling) for name, shape in shapes.items()}
    total = sum(widths.values()) * n * 4
    if total > max_bytes:
        worst = max(widths, key=widths.get)
        raise ArtlensError(
            f"layer {worst!r} pooled with {pooling!r} gives {widths[worst]:,} values per image; "
            f"{n} images x {len(layers)} layer(s) need {_size(total)} (limit "
            f"{_size(max_bytes)}): use --pooling gap, fewer layers or images, or raise --max-gb")


def _size(n_bytes: float) -> str:
    """GiB with one decimal, or MiB below one GiB (a limit of 0.01 GiB is not "0.0 GiB")."""
    return f"{n_bytes / 1024**3:.1f} GiB" if n_bytes >= 1024**3 else f"{n_bytes / 1024**2:.1f} MiB"


def extract_features(source: ModelSource, samples: Sequence[Sample], layers: Sequence[str], *,
                     pooling: str = "gap", batch_size: int = 32, num_workers: int = 0,
                     cache_dir: str | os.PathLike | None = None, device: str = "auto",
                     max_bytes: int = DEFAULT_MAX_BYTES, show_progress: bool = True,
                     on_batch: Callable[[int], None] | None = None, allow_empty: bool = False) -> FeatureSet:
    """Pooled features of ``layers`` (names, aliases, module paths or ``embed``) for every readable sample.

    ``on_batch(n)`` is told of every ``n`` images done; ``allow_empty`` returns no rows, rather than an
    error, when no image could be read (one shard of a collection may hold only broken files).
    """
    if not layers:
        raise ArtlensError("no layers requested")
    if not samples:
        raise ArtlensError("no images to extract features from")
    layers = list(dict.fromkeys(layers))
    pool = POOLINGS.get(pooling)
    for name in layers:
        if name != EMBED:
            resolve_layer(source.backbone, name)  # unknown names fail before any work, listing valid ones
    dev = default_device(device)
    folder = Path(cache_dir) / _cache_key(source, samples, pooling) if cache_dir else None
    if layers == [EMBED]:  # the vector alone needs no layer taps: run the folded network, as predict does
        source = source.fused if dev.type == "cpu" else source.folded
    source.model.to(dev)
    found: dict[str, np.ndarray] = {}
    index: np.ndarray | None = None
    skipped: list[SkippedImage] = []
    if folder is not None and (folder / "index.json").is_file():
        meta = json.loads((folder / "index.json").read_text())
        index = np.asarray(meta["kept"], dtype=np.int64)
        skipped = [SkippedImage(**s) for s in meta["skipped"]]
        for name in layers:
            f = folder / f"{_safe(name)}.npy"
            if f.is_file():
                found[name] = np.load(f, allow_pickle=False)
    todo = [n for n in layers if n not in found]
    if todo:
        _check_memory(source, todo, pooling, len(samples), max_bytes)
        new, kept, skipped = _run(source, samples, todo, pool, batch_size, num_workers, dev, show_progress,
                                  on_batch=on_batch, allow_empty=allow_empty)
        index = kept
        found.update(new)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            for name, arr in new.items():
                tmp = folder / f".{_safe(name)}.tmp.npy"
                np.save(tmp, arr)
                os.replace(tmp, folder / f"{_safe(name)}.npy")
            (folder / "index.json").write_text(json.dumps({
                "model": source.name, "pooling": pooling, "kept": kept.tolist(),
                "skipped": [{"path": s.path, "reason": s.reason} for s in skipped]}))
    assert index is not None
    return FeatureSet(samples=[samples[i] for i in index], features={n: found[n] for n in layers},
                      skipped=skipped, cached_layers=[n for n in layers if n not in todo])


def _run(source: ModelSource, samples: Sequence[Sample], layers: list[str], pool, batch_size: int,
         num_workers: int, dev: torch.device, show_progress: bool, *, on_batch=None, allow_empty: bool = False):
    named = [n for n in layers if n != EMBED]
    taps = LayerTaps(source.backbone, named) if named else None
    loader = DataLoader(ImageDataset(samples, [], build_transform(source.preprocessing),
                                     draft_size=source.preprocessing.decode_size), batch_size=batch_size,
                        shuffle=False, num_workers=num_workers, collate_fn=collate_skipping)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    kept, skipped = [], []
    with torch.inference_mode(), progress_bar(len(samples), "features", enabled=show_progress) as advance:
        for x, _, idx, bad in loader:
            skipped += bad
            if x is not None:
                x = x.to(dev, memory_format=torch.channels_last)
                maps = taps(x) if taps is not None else {}
                if EMBED in layers:
                    maps[EMBED] = source.embed(x)
                for name in layers:
                    f = maps[name]
                    parts[name].append((f.float() if f.dim() == 2 else pool(f)).cpu().numpy().astype(np.float32))
                kept.append(idx.numpy())
            advance(len(bad) + (0 if x is None else len(x)))
            if on_batch is not None:
                on_batch(len(bad) + (0 if x is None else len(x)))
    if not kept and allow_empty:
        return {n: np.zeros((0, 0), np.float32) for n in layers}, np.zeros(0, np.int64), skipped
    if not kept:
        raise ArtlensError("no readable images: every file was skipped (" + "; ".join(
            f"{s.path}: {s.reason}" for s in skipped[:3]) + ")")
    return ({n: np.concatenate(p) for n, p in parts.items()}, np.concatenate(kept).astype(np.int64), skipped)
