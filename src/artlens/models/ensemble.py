"""Several classifiers that vote as one: the mean of their class probabilities.

Why: backbones pretrained differently err on different paintings, so their average tends to
generalise better than any one of them. On the built-in style data, EfficientNet-Lite0, 1 and 2
(each with its own head) scored 60.0 % together in artist-grouped cross-validation, against 57.0 %
to 58.1 % alone (the README's "built-in style model" section has the whole comparison).

Each member keeps the input size it was trained at. The ensemble takes its first member's input,
and every other member gets it resized in proportion (a 224 px input reaches a 260 px member at
260 px). So the first member sees exactly what it would see alone, and the layer-level tools that
look through it (Grad-CAM, probes, style taps; see :class:`EnsembleClassifier`) agree with the
ensemble's own forward pass, also when they run it at a smaller size to be fast.

>>> from artlens.models import build_classifier
>>> from artlens.config import ModelConfig
>>> members = [build_classifier(ModelConfig(backbone="tiny_cnn"), 3) for _ in range(2)]
>>> round(EnsembleClassifier(members)(torch.zeros(1, 3, 64, 64)).exp().sum().item(), 6)  # mean probabilities
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import Preprocessing
from ..errors import ArtlensError
from .backbones import Backbone
from .classifier import ArtClassifier

__all__ = ["EnsembleClassifier", "embedding_taps", "ensemble_preprocessing"]


def ensemble_preprocessing(members: Sequence[Preprocessing]) -> Preprocessing:
    """The input the ensemble takes: its first member's.

    Members must agree on normalisation and framing (squash or crop): resizing a tensor cannot undo
    a different crop or a different mean and std.
    """
    if not members:
        raise ArtlensError("an ensemble needs at least one member")
    first = members[0]
    for p in members[1:]:
        if (p.mean, p.std, p.resize) != (first.mean, first.std, first.resize):
            raise ArtlensError(f"ensemble members preprocess differently (mean/std/resize {first.mean}/{first.std}/"
                               f"{first.resize} vs {p.mean}/{p.std}/{p.resize}); they cannot share one input")
    return first


class EnsembleClassifier(nn.Module):
    """``log(mean_i softmax(member_i(x))) / T``: logits whose softmax is the members' mean probability,
    tempered by the bundle's calibrated temperature ``T`` (1 unless calibrated). One temperature for
    the whole ensemble, fitted on its own output, because averaging already softens the members.

    Layer-level tools (Grad-CAM, layer probes, style taps) look through the first member, whose
    ``backbone`` and ``style_layers`` the ensemble exposes; ``embed`` concatenates every member's.
    """

    def __init__(self, members: Sequence[ArtClassifier], input_sizes: Sequence[int] | None = None) -> None:
        super().__init__()
        if not members:
            raise ArtlensError("an ensemble needs at least one member")
        counts = {m.num_classes for m in members}
        if len(counts) != 1:
            raise ArtlensError(f"ensemble members predict different numbers of classes: {sorted(counts)}")
        self.members = nn.ModuleList(members)
        self.input_sizes = [int(s) for s in (input_sizes or [m.backbone.preprocessing.input_size for m in members])]
        self.num_classes = members[0].num_classes
        self.embed_dim = sum(m.embed_dim for m in members)
        self.register_buffer("temperature", torch.ones(()), persistent=False)

    @property
    def backbone(self) -> Backbone:
        return self.members[0].backbone

    @property
    def style_layers(self) -> list[str]:
        return self.members[0].style_layers

    def _inputs(self, x: torch.Tensor):
        """Each member with the input resized in proportion to its own size (the first one: unchanged);
        members of one size share one resized copy."""
        scale = x.shape[-1] / self.input_sizes[0]
        resized = {tuple(x.shape[-2:]): x}
        for member, size in zip(self.members, self.input_sizes):
            side = round(size * scale)
            if (side, side) not in resized:
                resized[side, side] = F.interpolate(x, size=(side, side), mode="bicubic", align_corners=False,
                                                    antialias=True)
            yield member, resized[side, side]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([member.embed(xi) for member, xi in self._inputs(x)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([member(xi).float().softmax(-1) for member, xi in self._inputs(x)]).mean(0)
        return probs.clamp_min(torch.finfo(probs.dtype).tiny).log() / self.temperature


def embedding_taps(model: nn.Module) -> list[nn.Module]:
    """The modules whose inputs, joined in this order, are ``model.embed(x)``: the classifier's ``norm``
    (what its head reads), or each member's for an ensemble; ``[]`` for any other network.

    Why: the web service records each request's embedding for drift monitoring without a second pass,
    by a forward hook on these while the probabilities are computed. They are found by name, so the
    folded and fused copies that predictions run (:func:`artlens.inference.inference_model`) have them
    too.
    """
    members = getattr(model, "members", None)
    if isinstance(members, nn.ModuleList):
        taps = [embedding_taps(m) for m in members]
        return [t for tap in taps for t in tap] if all(len(t) == 1 for t in taps) else []
    norm = getattr(model, "norm", None)
    return [norm] if isinstance(norm, nn.Module) and hasattr(model, "embed") else []
