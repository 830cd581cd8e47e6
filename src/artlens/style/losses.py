"""The maths of neural style transfer: Gram matrices, channel statistics, AdaIN and the losses.

Gatys et al. (2016) describe style by the Gram matrix of a layer's feature maps (which channels fire
together, wherever they are) and content by the feature maps themselves; Huang & Belongie (2017)
replace the Gram matrix by per-channel mean and standard deviation and transfer them directly
(adaptive instance normalisation). Everything here is a small pure function on tensors, so the
parity tests can check each one against a direct formula.

>>> import torch
>>> from artlens.style.losses import gram_matrix
>>> gram_matrix(torch.ones(1, 2, 3, 3)).tolist()
[[[0.5, 0.5], [0.5, 0.5]]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

__all__ = ["adain", "channel_stats", "content_loss", "gram_matrix", "moment_loss", "style_loss", "tv_loss"]


def gram_matrix(fmap: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)``: ``F Fᵀ / (C·H·W)``.

    Normalising by the map size makes the style loss comparable across layers and image sizes
    (a 512 px image does not weigh 4x a 256 px one).
    """
    b, c, h, w = fmap.shape
    flat = fmap.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def channel_stats(fmap: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std ``(B, C, 1, 1)`` each (biased variance, as in AdaIN)."""
    flat = fmap.flatten(2)
    mean = flat.mean(-1)[..., None, None]
    std = (flat.var(-1, unbiased=False) + eps).sqrt()[..., None, None]
    return mean, std


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """Adaptive instance normalisation: give ``content`` the channel mean/std of the style (eq. 8)."""
    mean, std = channel_stats(content)
    return (content - mean) / std * style_std + style_mean


def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean squared feature difference, summed over the content layers."""
    return sum(F.mse_loss(features[k], targets[k]) for k in targets)


def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Gatys' style loss: weighted sum over layers of the squared Gram difference."""
    total = 0.0
    for name, target in target_grams.items():
        w = 1.0 if layer_weights is None else layer_weights.get(name, 1.0)
        total = total + w * F.mse_loss(gram_matrix(features[name]), target.expand(features[name].shape[0], -1, -1))
    return total


def moment_loss(features: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """AdaIN's style loss (eq. 12): squared differences of channel means and stds, summed over layers."""
    total = 0.0
    for f, t in zip(features, targets):
        fm, fs = channel_stats(f)
        tm, ts = channel_stats(t)
        total = total + F.mse_loss(fm, tm) + F.mse_loss(fs, ts)
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation (mean absolute difference of neighbouring pixels): discourages pixel noise."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
