"""The configs of ``kind: diffusion`` recipes; :func:`artlens.recipes.reproduce` runs them (train the study's
diffusion model, classify zero-shot, put the study's accuracy beside ours: ArtBench study, section 3.3 and
appendix B).

A diffusion recipe's ``config`` has two sections, the fields of
:class:`~artlens.diffusion.DiffusionTrainConfig` (``train``) and of
:class:`~artlens.diffusion.DiffusionClassifyConfig` (``classify``); ``--data`` fills ``train.data``. The run
folder holds the training run (``checkpoint.pt``, ``log.csv``, ``samples/``, ``model/``) and the
classification report (``report.json``, ``eval/``), then ``study.md`` / ``study.png`` as for any recipe.

Options map as follows: ``--subset N`` caps the images per class (training and test), ``--image-size``
is ``train.size``, ``--device`` both devices, ``--resume`` continues the training (classification
always resumes from its ``scores.jsonl``); ``--set train.steps=2000`` or ``--set classify.samples=[50,500]``
reach any other field. ``--epochs`` and ``--weights`` do not apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import dataclass_from_dict
from ..diffusion import DiffusionClassifyConfig, DiffusionTrainConfig
from ..errors import ArtlensError

__all__ = ["diffusion_configs"]


def diffusion_configs(raw: dict[str, Any], *, data: str, out: str = "runs/diffusion") -> tuple[DiffusionTrainConfig,
                                                                                             DiffusionClassifyConfig]:
    """The recipe's two configs (its ``config``, overrides already applied) with ``data`` and ``out``, validated."""
    unknown = sorted(set(raw) - {"train", "classify"})
    if unknown:
        raise ArtlensError(f"config: a diffusion recipe has train and classify sections, not {', '.join(unknown)}")
    train_raw = {**(raw.get("train") or {}), "data": data, "out": out}
    classify_raw = {**(raw.get("classify") or {}), "model": str(Path(out) / "model"), "out": out}
    try:
        train = dataclass_from_dict(DiffusionTrainConfig, train_raw, "train")
        classify = dataclass_from_dict(DiffusionClassifyConfig, classify_raw, "classify")
    except ArtlensError as err:
        raise ArtlensError(f"config.{err}") from None
    return train, classify
