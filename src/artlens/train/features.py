"""Cached backbone embeddings for strategies whose backbone does not train (``frozen``, phase 1 of ``two-phase``).

The backbone runs once per image (and per augmented view); epochs then train the head on the
cached tensors, which is what makes frozen transfer learning fast on a CPU. Caches are stored as
safetensors under the run folder, keyed by a hash of the model embedding and the image list, so a
resumed run reuses them and a changed dataset or backbone never reads a stale cache.
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


@torch.inference_mode()
def embed_samples(model: ArtClassifier, samples: Sequence[Sample], classes: Sequence[str], *, cache_dir: Path,
                  name: str, views: int = 1, augment: str = "none", seed: int = 0, batch_size: int = 32,
                  num_workers: int = 0, device: torch.device = torch.device("cpu"),
                  show_progress: bool = True) -> CachedFeatures:
    """Embed ``samples`` once per view, or load the matching cache from ``cache_dir``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}-{_cache_key(model, samples, views, augment, seed)}.safetensors"
    if path.is_file():
        t = load_tensors(path)
        skipped_json = path.with_suffix(".skipped.json")
        skipped = [SkippedImage(**d) for d in json.loads(skipped_json.read_text())] if skipped_json.is_file() else []
        return CachedFeatures(t["features"], t["labels"], skipped)
    pre = model.backbone.preprocessing
    model.eval().to(device)
    per_view, labels, skipped = [], None, []
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
    features = torch.stack(per_view)
    atomic_save_tensors({"features": features, "labels": labels}, path)
    path.with_suffix(".skipped.json").write_text(json.dumps([s.__dict__ for s in skipped]))
    return CachedFeatures(features, labels, skipped)
