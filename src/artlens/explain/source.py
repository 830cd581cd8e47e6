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
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from ..data.transforms import Preprocessing
from ..models.backbones import Backbone, create_backbone
from ..models.bundle import META_FILE, WEIGHTS_FILE, Bundle, load_bundle
from ..models.folding import fold_batchnorm, fuse_for_cpu

__all__ = ["EMBED", "ModelSource", "load_source", "weights_digest"]

log = logging.getLogger(__name__)

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
    """Identifies the weights (cache keys): backbone + origin (+ a digest of the values for random
    weights), or bundle path + file size/mtime."""
    kind: str
    """``bundle`` or ``backbone``."""
    classes: list[str] | None = None
    bundle: Bundle | None = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The model's own feature vector (see :data:`EMBED`)."""
        return self.model.embed(x) if self.bundle is not None else self.backbone(x)

    @cached_property
    def folded(self) -> ModelSource:
        """This source with its batch norms folded into the convolutions, for :meth:`embed` only.

        The same vectors (to about 1e-5: :func:`artlens.models.fold_batchnorm`, which hands back the
        network unfolded if its outputs differ) at up to twice the speed on a CPU, as ``artlens
        predict`` runs. Not for named layers: a batch norm's output is its convolution's once folded,
        so a layer tap could read another place. Folded once per source (a sharded run embeds many
        shards with it); the key stays, as the features do.
        """
        model = fold_batchnorm(self.model, input_size=self.preprocessing.input_size)
        return replace(self, model=model, backbone=model.backbone if self.bundle is not None else model)

    @cached_property
    def fused(self) -> ModelSource:
        """:attr:`folded`, its convolutions also made oneDNN calls with their activations fused in
        (:func:`artlens.models.fuse_for_cpu`: the same vectors), for :meth:`embed` in float32 on a
        CPU only: its weights stay on the CPU, whatever device the source is moved to."""
        folded = self.folded
        model = fuse_for_cpu(folded.model, input_size=self.preprocessing.input_size)
        return replace(folded, model=model, backbone=model.backbone if self.bundle is not None else model)


def _is_bundle_dir(spec: str | os.PathLike) -> bool:
    path = Path(spec)
    return path.is_dir() and (path / META_FILE).is_file()


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Draw from ``torch.manual_seed(seed)`` inside, leaving the caller's generator as it was."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer of ``module`` (names, dtypes, shapes, bytes).

    Random weights (``weights="none"``) have no origin to name: builds with another seed, or
    unseeded ones, are different networks under the same name and origin, and a key of those alone
    handed one network's cached features to another. Their values are the only identity they have.
    Hashing them costs little next to building them (measured on a 2-core CPU: efficientnet_lite0
    0.01 s, resnet50 0.06 s, vgg19 0.3 s against 1.2 s to build it) and keeps the cache working where
    it is right: the same seed, the same network.
    """
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def load_source(spec: str | os.PathLike | Bundle | None = None, *, weights: str = "auto",
                input_size: int | None = None, device: str | torch.device = "cpu",
                seed: int | None = 0) -> ModelSource:
    """``None`` = the built-in model; a bundle folder; or a backbone name built with ``weights``.

    ``input_size`` overrides the preprocessing size (probing VGG layers at 128 px is 3x faster and
    keeps most of the signal; tests use it to stay small).

    ``seed`` initialises random weights (``weights="none"``, or ``auto`` for a backbone with nothing
    to load): a random baseline is then the same network on every run, so its probe scores are
    reproducible and a second probe can reuse its cached features. ``None`` draws from torch's global
    generator (a new network each call). Either way the cache key hashes the weights' values
    (:func:`weights_digest`), so two different random networks never share cached features.
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
        with _seeded(seed):
            backbone = create_backbone(str(spec), pretrained=weights).to(device).eval()
        origin = backbone.pretrained_from
        if weights not in ("auto", "hub", "none") and Path(weights).is_file():
            stat = Path(weights).stat()
            origin = f"{Path(weights).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        elif origin == "none":  # random init: nothing but the values tells this network from another
            origin = f"random:{weights_digest(backbone)}"
            log.debug("%s: random weights (seed %s); the feature cache key hashes their values", backbone.name, seed)
        key = json.dumps({"backbone": backbone.name, "kwargs": backbone.build_kwargs, "weights": origin},
                         sort_keys=True, default=str)
        model, pre, kind, name, classes, bundle = backbone, backbone.preprocessing, "backbone", backbone.name, None, None
    if input_size is not None:
        pre = replace(pre, input_size=int(input_size))
    key = hashlib.sha256(key.encode()).hexdigest()[:16]
    return ModelSource(model=model.eval(), backbone=backbone, preprocessing=pre, name=name, key=key, kind=kind,
                       classes=classes, bundle=bundle)
