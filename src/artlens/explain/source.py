"""What ``--model`` names: a trained bundle, the built-in model, or a bare backbone with its weights.

Probes, PCA, class similarity and ``artlens embed`` study *representations*, so they work on any
network: a bundle (its fine-tuned backbone, its preprocessing, and ``embed`` = the features its head
sees) or a backbone name (``vgg19`` with ``--weights``, ``efficientnet_lite0`` with its offline
ImageNet weights). One small record carries what they need, including a key for feature caches.

>>> src = load_source("tiny_cnn", weights="none")
>>> src.kind, src.preprocessing.input_size
('backbone', 64)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..data.transforms import Preprocessing
from ..models.backbones import Backbone, create_backbone
from ..models.bundle import META_FILE, WEIGHTS_FILE, Bundle, load_bundle

__all__ = ["EMBED", "ModelSource", "load_source"]

#: Pseudo-layer: the vector a bundle's head sees (pooled features [+ style statistics]); for a bare
#: backbone, its globally pooled features.
EMBED = "embed"


@dataclass
class ModelSource:
    """A network ready for feature extraction."""

    model: nn.Module
    """The classifier (bundles) or the backbone (backbone names); in eval mode."""
    backbone: Backbone
    preprocessing: Preprocessing
    name: str
    key: str
    """Identifies the weights (cache keys): backbone + origin, or bundle path + file size/mtime."""
    kind: str
    """``bundle`` or ``backbone``."""
    classes: list[str] | None = None
    bundle: Bundle | None = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The model's own feature vector (see :data:`EMBED`)."""
        return self.model.embed(x) if self.bundle is not None else self.backbone(x)


def _is_bundle_dir(spec: str | os.PathLike) -> bool:
    path = Path(spec)
    return path.is_dir() and (path / META_FILE).is_file()


def load_source(spec: str | os.PathLike | Bundle | None = None, *, weights: str = "auto",
                input_size: int | None = None, device: str | torch.device = "cpu") -> ModelSource:
    """``None`` = the built-in model; a bundle folder; or a backbone name built with ``weights``.

    ``input_size`` overrides the preprocessing size (probing VGG layers at 128 px is 3x faster and
    keeps most of the signal; tests use it to stay small).
    """
    if isinstance(spec, Bundle) or spec is None or _is_bundle_dir(spec):
        bundle = spec if isinstance(spec, Bundle) else load_bundle(spec, device=device)
        weights_file = Path(bundle.path) / WEIGHTS_FILE
        stat = weights_file.stat() if weights_file.is_file() else None
        key = json.dumps({"bundle": str(Path(bundle.path).resolve()), "size": stat and stat.st_size,
                          "mtime": stat and stat.st_mtime_ns})
        pre, model = bundle.preprocessing, bundle.model
        backbone, kind, name, classes = model.backbone, "bundle", bundle.name, list(bundle.classes)
    else:
        backbone = create_backbone(str(spec), pretrained=weights).to(device).eval()
        origin = backbone.pretrained_from
        if weights not in ("auto", "hub", "none") and Path(weights).is_file():
            stat = Path(weights).stat()
            origin = f"{Path(weights).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        key = json.dumps({"backbone": backbone.name, "kwargs": backbone.build_kwargs, "weights": origin},
                         sort_keys=True, default=str)
        model, pre, kind, name, classes, bundle = backbone, backbone.preprocessing, "backbone", backbone.name, None, None
    if input_size is not None:
        pre = replace(pre, input_size=int(input_size))
    key = hashlib.sha256(key.encode()).hexdigest()[:16]
    return ModelSource(model=model.eval(), backbone=backbone, preprocessing=pre, name=name, key=key, kind=kind,
                       classes=classes, bundle=bundle)
