"""Neural style transfer: Gatys optimisation, single-layer reconstructions, AdaIN, style trajectories.

* :func:`stylize_gatys` / :func:`run_gatys` (:class:`GatysConfig`) — optimise the pixels (VGG19,
  ResNet50 or EfficientNet-Lite0 layer sets, L-BFGS/Adam, multi-scale for high resolution).
* :func:`reconstruction_grid` (:class:`ReconstructConfig`) — content or style of an image rebuilt
  from one layer of one or more models.
* :func:`stylize_adain` / :func:`run_adain` (:class:`AdainConfig`) and :class:`AdainStylizer` —
  ``AdainStylizer.load().stylize(content, [style], alpha=0.5)`` with the built-in decoder; its
  decoders and their bundles are in :mod:`~artlens.style.decoder`, and :func:`train_decoder`
  (:class:`AdainTrainConfig`, :mod:`~artlens.style.adain_train`) trains one on the generative engine.
* :func:`run_trajectory` (:class:`TrajectoryConfig`) — AdaIN results at several alphas traced through
  a classifier's PCA spaces.

>>> from artlens.style import GatysConfig, open_image, stylize_gatys
>>> image = stylize_gatys(open_image("photo.jpg"), [open_image("monet.jpg")], GatysConfig(steps=100))  # doctest: +SKIP
>>> GatysConfig().optimizer
'lbfgs'
"""

from __future__ import annotations

from .adain import AdainConfig, AdainResult, AdainStylizer, builtin_decoder, run_adain, stylize_adain
from .adain_train import AdainTrainConfig, train_decoder
from .decoder import find_decoders, load_decoder_bundle
from .extractor import DEFAULT_EXTRACTOR, Extractor, load_extractor
from .gatys import GatysConfig, GatysResult, level_plan, resolve_preset, run_gatys, stylize_gatys
from .images import open_image
from .losses import channel_stats, gram_matrix
from .reconstruct import ReconstructConfig, figure_out, grid_layers, load_extractors, reconstruction_grid
from .trajectory import TrajectoryConfig, TrajectoryResult, read_pairs, run_trajectory

__all__ = [
    "DEFAULT_EXTRACTOR",
    "AdainConfig",
    "AdainResult",
    "AdainStylizer",
    "AdainTrainConfig",
    "Extractor",
    "GatysConfig",
    "GatysResult",
    "ReconstructConfig",
    "TrajectoryConfig",
    "TrajectoryResult",
    "builtin_decoder",
    "channel_stats",
    "figure_out",
    "find_decoders",
    "gram_matrix",
    "grid_layers",
    "level_plan",
    "load_decoder_bundle",
    "load_extractor",
    "load_extractors",
    "open_image",
    "read_pairs",
    "reconstruction_grid",
    "resolve_preset",
    "run_adain",
    "run_gatys",
    "run_trajectory",
    "stylize_adain",
    "stylize_gatys",
    "train_decoder",
]
