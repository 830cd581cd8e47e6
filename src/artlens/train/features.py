"""Cached backbone embeddings for strategies whose backbone does not train (``frozen``, phase 1 of ``two-phase``).

The backbone runs once per image (and per augmented view); epochs then train the head on the
cached tensors, which is what makes frozen transfer learning fast on a CPU. Caches are stored as
safetensors under the run folder, keyed by a hash of the model embedding and the image list, so a
resumed run reuses them and a changed dataset or backbone never reads a stale cache. Under torchrun
the processes embed one shard each (see :func:`embed_samples`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..data.dataset import ImageDataset, Sample, collate_skipping
from ..data.images import SkippedImage
from ..data.transforms import build_transform
from ..distributed import DistContext, shard_indices
from ..models.classifier import ArtClassifier
from ..progress import progress_bar
from .checkpoint import atomic_save_tensors, load_tensors

__all__ = ["CachedFeatures", "embed_samples"]


@dataclass
class CachedFeatures:
    """``features[v, i]`` is view ``v`` of sample ``labels[i]`` (views > 0 are augmented)."""

    features: torch.Tensor  # (V, N, D)
    labels: torch.Tensor  # (N,)
    skipped: list[SkippedImage]

    @property
    def views(self) -> int:
        return self.features.shape[0]


def _cache_key(model: ArtClassifier, samples: Sequence[Sample], views: int, augment: str, seed: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"backbone": model.backbone.name, "kwargs": model.backbone.build_kwargs,
                         "weights": model.backbone.pretrained_from, "style": model.style_layers, "power_norm": model.power_norm,
                         "pre": model.backbone.preprocessing.to_dict(),
                         "decode": model.backbone.preprocessing.decode_size, "views": views, "augment": augment,
                         "seed": seed}, sort_keys=True, default=str).encode())
    for s in samples:
        h.update(f"{s.path}\t{s.label}\n".encode())
    return h.hexdigest()[:16]


def embed_samples(model: ArtClassifier, samples: Sequence[Sample], classes: Sequence[str], *, cache_dir: Path,
                  name: str, views: int = 1, augment: str = "none", seed: int = 0, batch_size: int = 32,
                  num_workers: int = 0, device: torch.device = torch.device("cpu"),
                  show_progress: bool = True, ctx: DistContext | None = None) -> CachedFeatures:
    """Embed ``samples`` once per view, or load the matching cache from ``cache_dir``.

    Under torchrun (``ctx``) every process embeds its shard of the images (each image once) and saves
    it beside the cache as ``NAME-KEY.partRofW.safetensors``; rank 0 joins the parts in input order
    into the cache every process then reads. A part already on disk is not embedded again, so a run
    killed while caching resumes with the shards it had finished.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}-{_cache_key(model, samples, views, augment, seed)}.safetensors"
    common = dict(views=views, augment=augment, seed=seed, batch_size=batch_size, num_workers=num_workers,
                  device=device, show_progress=show_progress, name=name)
    if path.is_file():
        return _load(path)
    if ctx is None or not ctx.enabled:
        features, labels, _, skipped = _embed_views(model, samples, classes, **common)
        _save(path, features, labels, skipped)
        return CachedFeatures(features, labels, skipped)
    part = path.with_name(f"{path.stem}.part{ctx.rank}of{ctx.world_size}.safetensors")
    if not part.is_file():
        mine = list(shard_indices(len(samples), ctx))
        features, labels, index, skipped = _embed_views(model, [samples[i] for i in mine], classes, **common)
        global_index = torch.as_tensor(mine, dtype=torch.long)[index] if len(index) else index
        _save(part, features, labels, skipped, index=global_index)
    ctx.barrier()
    if ctx.is_main:
        parts = [_load(path.with_name(f"{path.stem}.part{r}of{ctx.world_size}.safetensors"), with_index=True)
                 for r in range(ctx.world_size)]
        index = torch.cat([p[1] for p in parts])
        order = torch.argsort(index)
        first = {s.path: i for i, s in reversed(list(enumerate(samples)))}
        skipped = sorted((s for p in parts for s in p[0].skipped), key=lambda s: first.get(s.path, len(samples)))
        _save(path, torch.cat([p[0].features for p in parts], dim=1)[:, order],
              torch.cat([p[0].labels for p in parts])[order], skipped)
        for r in range(ctx.world_size):
            for f in (path.with_name(f"{path.stem}.part{r}of{ctx.world_size}.safetensors"),):
                f.unlink(missing_ok=True)
                f.with_suffix(".skipped.json").unlink(missing_ok=True)
    ctx.barrier()
    return _load(path)


def _save(path: Path, features: torch.Tensor, labels: torch.Tensor, skipped: list[SkippedImage], *,
          index: torch.Tensor | None = None) -> None:
    # The skipped list first: the tensors file is the mark of a finished cache (or part).
    path.with_suffix(".skipped.json").write_text(json.dumps([s.__dict__ for s in skipped]))
    tensors = {"features": features.contiguous(), "labels": labels}
    if index is not None:
        tensors["index"] = index
    atomic_save_tensors(tensors, path)


def _load(path: Path, *, with_index: bool = False):
    t = load_tensors(path)
    skipped_json = path.with_suffix(".skipped.json")
    skipped = [SkippedImage(**d) for d in json.loads(skipped_json.read_text())] if skipped_json.is_file() else []
    cache = CachedFeatures(t["features"], t["labels"], skipped)
    return (cache, t["index"]) if with_index else cache


@torch.inference_mode()
def _embed_views(model: ArtClassifier, samples: Sequence[Sample], classes: Sequence[str], *, views: int,
                 augment: str, seed: int, batch_size: int, num_workers: int, device: torch.device,
                 show_progress: bool, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[SkippedImage]]:
    """``(features (V, N, D), labels (N,), positions in samples (N,), skipped)`` of the readable images."""
    pre = model.backbone.preprocessing
    model.eval().to(device)
    per_view, labels, index, skipped = [], None, None, []
    for v in range(views):
        # View 0 is the plain evaluation image; later views are drawn from the augmentation preset.
        transform = build_transform(pre) if v == 0 else build_transform(pre, train=True, augment=augment)
        torch.manual_seed(seed * 7919 + v)
        loader = DataLoader(ImageDataset(samples, classes, transform, draft_size=pre.decode_size),
                            batch_size=batch_size, shuffle=False,
                            num_workers=num_workers, collate_fn=collate_skipping,
                            generator=torch.Generator().manual_seed(seed * 7919 + v))
        feats, ys, idxs = [], [], []
        label = f"embed {name}" + (f" view {v + 1}/{views}" if views > 1 else "")
        with progress_bar(len(samples), label, enabled=show_progress) as advance:
            for x, y, idx, bad in loader:
                if v == 0:
                    skipped += bad
                if x is not None:
                    with torch.autocast(device.type, enabled=device.type == "cuda"):
                        feats.append(model.embed(x.to(device, memory_format=torch.channels_last)).float().cpu())
                    ys.append(y)
                    idxs.append(idx)
                advance(len(bad) + (0 if x is None else len(x)))
        per_view.append(torch.cat(feats) if feats else torch.zeros(0, model.embed_dim))
        labels = torch.cat(ys) if ys else torch.zeros(0, dtype=torch.long)
        index = torch.cat(idxs) if idxs else torch.zeros(0, dtype=torch.long)
    return torch.stack(per_view), labels, index, skipped
