"""Study recipes: one YAML per published experiment, with the study's own numbers beside the config.

A recipe is the :class:`~artlens.config.TrainConfig` of one experiment (``config``: model, data
adapter, strategy, augmentation, optimizer, schedule, early stopping) plus what the study reported
(``study.reported``) and where (``study.source``), so ``artlens reproduce`` can print both.

The shipped recipes live in ``artlens/assets/recipes/`` (package data, so they are found after any
install); ``configs/studies`` in the repository is a link to that folder.

>>> from artlens.recipes import load_recipe
>>> recipe = load_recipe("met-resnet50-finetune-plateau")
>>> recipe.study.reported["accuracy"]
0.7179
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..config import TrainConfig, dataclass_from_dict
from ..errors import ArtlensError, yaml_error

__all__ = ["RECIPE_KINDS", "REPORTED_METRICS", "Recipe", "StudyInfo", "apply_overrides", "list_recipes", "load_recipe",
           "recipe_dir"]

#: Numbers a study may report, and how ``reproduce`` finds ours (see :func:`ours`).
REPORTED_METRICS = ("accuracy", "top3", "macro_f1", "macro_precision", "macro_recall", "val_accuracy",
                    "train_accuracy")


@dataclass
class StudyInfo:
    """What the study did and reported (numbers are fractions: 0.573, not 57.3)."""

    name: str = ""
    """Short name of the study."""
    source: str = ""
    """Where the numbers come from: the seed file and its table or section."""
    dataset: str = ""
    """The data the study used and how to get it in the adapter's layout."""
    reported: dict[str, float] = field(default_factory=dict)
    """Metric -> the study's value; keys from ``REPORTED_METRICS``."""
    notes: str = ""
    """Where our recipe differs from the study, and why."""

    def __post_init__(self) -> None:
        for key, value in self.reported.items():
            if key not in REPORTED_METRICS:
                raise ArtlensError(f"study.reported.{key}: unknown metric; allowed: {', '.join(REPORTED_METRICS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ArtlensError(f"study.reported.{key}: expected a fraction in [0, 1], got {value!r}")


#: What a recipe trains: a classifier (``config`` is a :class:`TrainConfig`) or a diffusion model used as a
#: zero-shot classifier (``config`` has ``train`` and ``classify`` sections, see :mod:`artlens.diffusion`).
RECIPE_KINDS = ("classifier", "diffusion")


@dataclass
class Recipe:
    """One study experiment: a title, the study's numbers and a training config."""

    title: str = ""
    study: StudyInfo = field(default_factory=StudyInfo)
    kind: str = "classifier"
    """``classifier`` or ``diffusion`` (:data:`RECIPE_KINDS`)."""
    config: dict[str, Any] = field(default_factory=dict)
    """A :class:`TrainConfig` as a nested dict; ``data.path`` comes from ``--data``. For ``kind: diffusion``,
    ``train`` (:class:`~artlens.diffusion.DiffusionTrainConfig`) and ``classify``
    (:class:`~artlens.diffusion.DiffusionClassifyConfig`) sections."""
    space: dict[str, Any] = field(default_factory=dict)
    """Optional default search space for ``artlens tune`` (same format as ``--space``)."""
    name: str = ""
    """The file stem (set when loading)."""

    def train_config(self, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """The validated :class:`TrainConfig` with dotted ``overrides`` (``{"optim.lr": 0.01}``) applied."""
        if self.kind != "classifier":
            raise ArtlensError(f"recipe {self.name!r} trains a {self.kind} model, not a classifier: "
                               f"`artlens reproduce {self.name}` runs it; tune and train do not")
        raw = apply_overrides(self.config, overrides or {})
        try:
            return TrainConfig.from_dict(raw)
        except ArtlensError as err:
            raise ArtlensError(f"recipe {self.name!r}: {err}") from None


def recipe_dir() -> Path:
    """The folder of shipped recipes (package data)."""
    return Path(str(resources.files("artlens") / "assets" / "recipes"))


def list_recipes() -> list[str]:
    """Names of the shipped recipes, sorted."""
    return sorted(p.stem for p in recipe_dir().glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name, or any recipe YAML file by path; validated before any work starts."""
    path = Path(name_or_path)
    if not path.suffix:
        path = recipe_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ArtlensError(f"unknown recipe {str(name_or_path)!r}; `artlens reproduce --list` shows them: "
                               f"{', '.join(list_recipes())}")
    if not path.is_file():
        raise ArtlensError(f"{path}: recipe file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise yaml_error(path, err) from None
    try:
        recipe = dataclass_from_dict(Recipe, raw)
        if recipe.name:
            raise ArtlensError("name: set from the file name; remove the key")
        recipe.name = path.stem
        if recipe.kind not in RECIPE_KINDS:
            raise ArtlensError(f"kind: {recipe.kind!r} is not one of {', '.join(RECIPE_KINDS)}")
        if recipe.kind == "diffusion":
            from .diffusion import diffusion_configs

            diffusion_configs(recipe.config, data="(checked)")  # every key checked now, as below
        else:
            recipe.train_config()  # every key, type and combination is checked now, not after an hour of training
    except ArtlensError as err:
        raise ArtlensError(f"{path}: {err}".replace(f"recipe {path.stem!r}: ", "")) from None
    return recipe


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with dotted keys set: ``{"data.dataset_options.min_count": 0}``."""
    raw = copy.deepcopy(config)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        target = raw
        for part in parts[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ArtlensError(f"{dotted}: {part!r} is a value, not a section")
            target = nxt
        target[parts[-1]] = value
    return raw
