"""Backbone + (optional style statistics) + head: the one classifier every task uses.

Style statistics are the per-channel mean and standard deviation of intermediate feature maps:
the quantities Gatys et al. match for texture and AdaIN transfers between images. Appending them to
the globally pooled features gives the head direct access to brushwork and palette, which is what
separates art styles more than the objects depicted.

>>> from artlens.models import build_classifier
>>> from artlens.config import ModelConfig
>>> model = build_classifier(ModelConfig(backbone="tiny_cnn", style_layers=["1"]), num_classes=3)
>>> model.embed_dim
128
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import ArtlensError
from .backbones import Backbone, create_backbone
from .heads import build_head

__all__ = ["ArtClassifier", "build_classifier", "style_statistics"]


def style_statistics(fmap: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-channel mean and std of a ``(B, C, H, W)`` map -> ``(B, 2C)`` (AdaIN's statistics)."""
    flat = fmap.flatten(2)
    mean = flat.mean(-1)
    std = (flat.var(-1, unbiased=False) + eps).sqrt()
    return torch.cat([mean, std], dim=1)


class ArtClassifier(nn.Module):
    """``head(norm(embed(x)))`` where ``embed`` = pooled backbone features [+ style statistics]."""

    def __init__(self, backbone: Backbone, num_classes: int, *, head: str = "linear",
                 hidden: Sequence[int] = (), dropout: float = 0.0, head_norm: str = "none",
                 style_layers: Sequence[str] = (), power_norm: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.style_layers = [str(s) for s in style_layers]
        self.power_norm = power_norm
        for name in self.style_layers:
            backbone.stage_module(name)  # fails early, listing the stages, on an unknown name
        self.style_widths = self._style_widths()
        """Columns of each style layer's statistics (means then stds) in ``embed``, after the pooled features."""
        self.embed_dim = backbone.num_features + sum(self.style_widths)
        norms = {"none": nn.Identity(), "batchnorm": nn.BatchNorm1d(self.embed_dim),
                 "layernorm": nn.LayerNorm(self.embed_dim)}
        self.norm = norms[head_norm]
        self.head = build_head(head, self.embed_dim, num_classes, hidden=hidden, dropout=dropout)
        # Temperature scaling (``artlens.evaluate.calibration``): 1 while training; a calibrated bundle
        # sets it on load from ``artlens.json``. Not in the state dict, so weights files are unchanged.
        self.register_buffer("temperature", torch.ones(()), persistent=False)

    def _style_widths(self) -> list[int]:
        if not self.style_layers:
            return []
        was_training = self.backbone.training
        self.backbone.eval()
        size = self.backbone.preprocessing.input_size
        with torch.no_grad():
            maps = self._forward_with_maps(torch.zeros(1, 3, size, size))[1]
        self.backbone.train(was_training)
        return [2 * m.shape[1] for m in maps]

    def _forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the backbone once, capturing the style stages' outputs through temporary hooks."""
        captured: dict[int, torch.Tensor] = {}
        handles = []
        for i, name in enumerate(self.style_layers):
            module = self.backbone.stage_module(name)
            handles.append(module.register_forward_hook(lambda _m, _i, out, i=i: captured.__setitem__(i, out)))
        try:
            pooled = self.backbone(x)
        finally:
            for h in handles:
                h.remove()
        maps = [captured[i] for i in range(len(self.style_layers))]
        for name, m in zip(self.style_layers, maps):
            if m.dim() != 4:
                raise ArtlensError(f"layer {name!r} of {self.backbone.name} does not output a feature map")
        return pooled, maps

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The features the head sees (before normalisation): what frozen training caches."""
        if not self.style_layers:
            groups = [self.backbone(x)]
        else:
            pooled, maps = self._forward_with_maps(x)
            groups = [pooled]
            for m in maps:
                groups += list(style_statistics(m.float()).chunk(2, dim=1))  # means, stds
        if self.power_norm:
            groups = [F.normalize(g.sign() * g.abs().sqrt(), dim=1) for g in groups]
        return torch.cat(groups, dim=1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from embedded features (used on cached features)."""
        return self.head(self.norm(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, divided by the calibrated temperature (1 unless the bundle was calibrated)."""
        return self.classify(self.embed(x)) / self.temperature


def build_classifier(cfg: ModelConfig, num_classes: int, *, pretrained: str | None = None,
                     backbone_kwargs: dict | None = None, backbone: Backbone | None = None) -> ArtClassifier:
    """Create the model described by ``cfg`` (``pretrained`` overrides ``cfg.pretrained``).

    ``backbone``: one already made from ``cfg`` by :func:`create_backbone` (training makes it before
    reading any data, so that a wrong name or missing weights fail at once).
    """
    if backbone is None:
        backbone = create_backbone(cfg.backbone, pretrained=pretrained or cfg.pretrained, **(backbone_kwargs or {}))
    backbone.preprocessing = replace(backbone.preprocessing, resize=cfg.resize, grayscale=cfg.grayscale)
    return ArtClassifier(backbone, num_classes, head=cfg.head, hidden=cfg.hidden, dropout=cfg.dropout,
                         head_norm=cfg.head_norm, style_layers=cfg.style_layers,
                         power_norm=cfg.power_norm)
