"""Fine-tuning strategies: which parameters train, in which phases, and whether features are cached.

A strategy turns a :class:`~artlens.config.TrainConfig` into a list of :class:`Phase`. The training
loop knows nothing else about strategies, so adding one is a function and a registry line.

========== ================================================================================
scratch    random weights, everything trains
frozen     backbone fixed; its features are computed once and cached, later epochs never run it
partial    the last ``unfreeze`` stages (or the named ``unfreeze_layers``) and the head train
full       pretrained weights, everything trains
two-phase  ``head_epochs`` of frozen head training (cached), then everything at ``lr * lr_factor``
========== ================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from .._registry import Registry
from ..errors import ArtlensError

if TYPE_CHECKING:
    from ..config import TrainConfig
    from .classifier import ArtClassifier

__all__ = ["STRATEGIES", "Phase", "freeze_all_but", "plan_phases", "set_frozen_norms_eval"]


@dataclass(frozen=True)
class Phase:
    """A stretch of epochs with a fixed set of trainable parameters."""

    name: str
    epochs: int
    select: Callable[["ArtClassifier"], set[str]]
    """Returns the names (``model.named_parameters()``) that train in this phase."""
    lr_scale: float = 1.0
    cached: bool = False
    """True when the backbone is fixed: the loop trains the head on cached embeddings."""


STRATEGIES: Registry[Callable[["TrainConfig"], list[Phase]]] = Registry("strategy")


def _head_only(model: "ArtClassifier") -> set[str]:
    return {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}


def _everything(model: "ArtClassifier") -> set[str]:
    return {n for n, _ in model.named_parameters()}


@STRATEGIES.register("scratch")
def scratch(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("scratch", cfg.epochs, _everything)]


@STRATEGIES.register("full")
def full(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("full", cfg.epochs, _everything)]


@STRATEGIES.register("frozen")
def frozen(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("frozen", cfg.epochs, _head_only, cached=True)]


@STRATEGIES.register("partial")
def partial(cfg: "TrainConfig") -> list[Phase]:
    n_stages, layers = cfg.strategy.unfreeze, list(cfg.strategy.unfreeze_layers)

    def select(model: "ArtClassifier") -> set[str]:
        chosen = _head_only(model)
        if layers:
            known = {n for n, _ in model.backbone.body.named_modules() if n}
            for layer in layers:
                if layer not in known:
                    raise ArtlensError(f"strategy.unfreeze_layers: {layer!r} is not a module of "
                                       f"{model.backbone.name}; stages: {', '.join(model.backbone.stages)}")
                chosen |= {f"backbone.body.{n}" for n, _ in model.backbone.body.named_parameters()
                           if n == layer or n.startswith(layer + ".")}
            return chosen
        groups = model.backbone.stage_parameters()
        stage_groups = [g for g in groups if g[0] != "neck"]
        if n_stages > len(stage_groups):
            raise ArtlensError(f"strategy.unfreeze: {n_stages} > {len(stage_groups)} stages of {model.backbone.name}")
        # The last N stages and everything after them (neck/pre-logits), never an isolated middle stage.
        tail = stage_groups[len(stage_groups) - n_stages:] + [g for g in groups if g[0] == "neck"] if n_stages else []
        for _, names in tail:
            chosen |= {f"backbone.body.{n}" for n in names}
        return chosen

    return [Phase("partial", cfg.epochs, select)]


@STRATEGIES.register("two-phase")
def two_phase(cfg: "TrainConfig") -> list[Phase]:
    k = cfg.strategy.head_epochs
    return [Phase("head", k, _head_only, cached=True),
            Phase("all", cfg.epochs - k, _everything, lr_scale=cfg.strategy.lr_factor)]


def plan_phases(cfg: "TrainConfig") -> list[Phase]:
    return STRATEGIES.get(cfg.strategy.name)(cfg)


def freeze_all_but(model: nn.Module, names: set[str]) -> None:
    """Set ``requires_grad`` so exactly ``names`` train."""
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)



def set_frozen_norms_eval(model: nn.Module) -> None:
    """Keep batch-norm statistics of frozen layers fixed: training mode would still update them."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
