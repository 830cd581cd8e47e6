"""Unpaired image-to-image translation: CycleGAN (Zhu et al. 2017), e.g. photo -> Impressionist painting.

* :func:`train_cyclegan` (:class:`CycleGANConfig`) — two generators and two PatchGAN discriminators
  trained on :mod:`artlens.train.generative` (checkpoints, resume, EMA, AMP, DDP, log, sample grids
  and loss curves); the result is one bundle (task ``image-translation``) holding both generators.
* :class:`Translator` / :func:`translate_images` (:class:`TranslateConfig`) — apply a bundle in either
  direction at the input's own size, tiled with blended seams for images too large for memory.

>>> from artlens.translate import CycleGANConfig, TranslateConfig
>>> CycleGANConfig().cycle_weight, TranslateConfig().direction
(10.0, 'a2b')
>>> painter = Translator.load("runs/photo2monet/model")                  # doctest: +SKIP
>>> painting = painter.translate(open_image("photo.jpg"), direction="a2b")  # doctest: +SKIP
"""

from __future__ import annotations

from .apply import TranslateConfig, TranslateResult, Translator, translate_images
from .bundle import (DIRECTIONS, TRANSLATION_TASK, builtin_translator, find_translators, load_translator,
                     read_translator_meta)
from .cyclegan import CycleGANConfig, CycleGANResult, CycleGANTask, domain_files, train_cyclegan

__all__ = [
    "DIRECTIONS",
    "TRANSLATION_TASK",
    "CycleGANConfig",
    "CycleGANResult",
    "CycleGANTask",
    "TranslateConfig",
    "TranslateResult",
    "Translator",
    "builtin_translator",
    "domain_files",
    "find_translators",
    "load_translator",
    "read_translator_meta",
    "train_cyclegan",
    "translate_images",
]
