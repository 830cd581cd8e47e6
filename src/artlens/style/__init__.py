"""Neural style transfer: Gatys optimisation, single-layer reconstructions, AdaIN, style trajectories.

* :mod:`.gatys` — ``stylize_gatys(content, [style], GatysConfig(...))``: optimise the pixels (VGG19,
  ResNet50 or EfficientNet-Lite0 layer sets, L-BFGS/Adam, multi-scale for high resolution).
* :mod:`.reconstruct` — content or style of an image rebuilt from one layer of one or more models.
* :mod:`.adain` — ``AdainStylizer.load(bundle).stylize(content, [style], alpha=0.5)`` and
  ``train_decoder(AdainTrainConfig(...))``.
* :mod:`.trajectory` — AdaIN results at several alphas traced through a classifier's PCA spaces.

Modules are imported on demand so ``import artlens.style`` stays cheap.
"""

from __future__ import annotations

from .losses import adain, channel_stats, gram_matrix

__all__ = ["adain", "channel_stats", "gram_matrix"]
