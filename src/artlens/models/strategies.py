"""Fine-tuning strategies: which parameters train, in which phases, and whether features are cached.

A strategy turns a :class:`~artlens.config.TrainConfig` into a list of :class:`Phase`. The training
loop knows nothing else about strategies, so adding one is a function and a registry line.

================= =========================================================================
scratch           random weights, everything trains
frozen            backbone fixed; its features are computed once and cached, later epochs never
                  run it
partial           the head and one backbone selection train: the last ``unfreeze`` stages, or the
                  named ``unfreeze_layers`` (``[Mixed_7c]``: Pandora's "last Inception module"),
                  or all but ``freeze_layers`` (``[conv1, bn1, layer1, layer2]``: AI-ArtBench's
                  ResNet18), or the ``top_layers`` last layers with parameters (Best Artworks'
                  "top 50 layers")
full              pretrained weights, everything trains
two-phase         ``head_epochs`` of frozen head training (cached), then everything at
                  ``lr * lr_factor``
full-then-partial ``head_epochs`` of whole-network training, then only the ``partial`` selection
                  at ``lr * lr_factor`` (the Best Artworks ResNet50 schedule)
head-then-partial ``head_epochs`` of frozen head training (cached), then the head and the
                  ``partial`` selection at ``lr * lr_factor`` (Pandora: transfer learning, then
                  fine-tune the last Inception module starting from the transfer model)
================= =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from .._registry import Registry
from ..config import LAYER_SELECTIONS, ModelConfig, StrategyConfig, TrainConfig, register_check, register_names
from ..errors import ArtlensError
from .backbones import BACKBONES
from .layers import resolve_layer

if TYPE_CHECKING:
    from .classifier import ArtClassifier

__all__ = ["STRATEGIES", "Phase", "Strategy", "check_phases", "freeze_all_but", "plan_phases",
           "set_frozen_norms_eval"]


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


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its phase plan, and what configs check about it before any model exists."""

    plan: Callable[["TrainConfig"], list[Phase]]
    fixes_layers: bool
    """Some phase leaves pretrained backbone layers untrained, so random weights make no sense."""
    options: frozenset[str] = frozenset()
    """The :class:`~artlens.config.StrategyConfig` fields its plan reads (besides ``name``)."""
    needs_selection: bool = False
    """One of :data:`~artlens.config.LAYER_SELECTIONS` must be given (the last ``unfreeze`` stages are no default)."""
    random_weights: bool = False
    """Trains from random weights: ``pretrained: auto`` means none, and any weights are refused."""
    trains_backbone: bool = True
    """False when only the head ever trains: the backbone's weights must have been learned elsewhere."""

    @property
    def uses_head_epochs(self) -> bool:
        """The first ``strategy.head_epochs`` epochs train a different selection than the rest."""
        return "head_epochs" in self.options

    @property
    def selects_layers(self) -> bool:
        """A phase trains the selection of ``unfreeze_layers``, ``freeze_layers`` or ``top_layers``."""
        return bool(self.options & set(LAYER_SELECTIONS))


STRATEGIES: Registry[Strategy] = Registry("strategy")

_PARTIAL = ("unfreeze", *LAYER_SELECTIONS)
_TWO_PHASES = ("head_epochs", "lr_factor")


def strategy(name: str, *, fixes_layers: bool, options: tuple[str, ...] = (), **facts: bool):
    """Decorator registering a phase plan under ``name`` with its facts (see :class:`Strategy`)."""

    def deco(plan: Callable[["TrainConfig"], list[Phase]]) -> Callable[["TrainConfig"], list[Phase]]:
        STRATEGIES.add(name, Strategy(plan, fixes_layers=fixes_layers, options=frozenset(options), **facts))
        return plan

    return deco


def _head_only(model: "ArtClassifier") -> set[str]:
    return {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}


def _everything(model: "ArtClassifier") -> set[str]:
    return {n for n, _ in model.named_parameters()}


@strategy("scratch", fixes_layers=False, random_weights=True)
def scratch(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("scratch", cfg.epochs, _everything)]


@strategy("full", fixes_layers=False)
def full(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("full", cfg.epochs, _everything)]


@strategy("frozen", fixes_layers=True, options=("cache_views",), trains_backbone=False)
def frozen(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("frozen", cfg.epochs, _head_only, cached=True)]


def _layer_parameters(model: "ArtClassifier", layer: str) -> set[str]:
    """Parameter names (``backbone.body.*``) inside one layer, named by module path or alias."""
    path = resolve_layer(model.backbone, layer)
    return {f"backbone.body.{n}" for n, _ in model.backbone.body.named_parameters()
            if n == path or n.startswith(path + ".")}


def _top_layers(model: "ArtClassifier", n: int) -> set[str]:
    """Parameters of the last ``n`` modules that own parameters (Keras counts layers this way)."""
    owners = [name for name, m in model.backbone.body.named_modules()
              if any(True for _ in m.parameters(recurse=False))]
    if n > len(owners):
        raise ArtlensError(f"strategy.top_layers: {n} > {len(owners)} layers with parameters in "
                           f"{model.backbone.name}")
    top = owners[len(owners) - n:]
    return {f"backbone.body.{o}.{p}" for o in top
            for p, _ in model.backbone.body.get_submodule(o).named_parameters(recurse=False)}


def _partial_select(cfg: "TrainConfig") -> Callable[["ArtClassifier"], set[str]]:
    """What ``partial`` trains: the head plus one backbone selection (see the module table)."""
    st = cfg.strategy
    n_stages, layers = st.unfreeze, list(st.unfreeze_layers)
    freeze, top = list(st.freeze_layers), st.top_layers

    def select(model: "ArtClassifier") -> set[str]:
        chosen = _head_only(model)
        if freeze:
            fixed = set().union(*(_layer_parameters(model, layer) for layer in freeze))
            return _everything(model) - fixed
        if top:
            return chosen | _top_layers(model, top)
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

    return select


@strategy("partial", fixes_layers=True, options=_PARTIAL)
def partial(cfg: "TrainConfig") -> list[Phase]:
    return [Phase("partial", cfg.epochs, _partial_select(cfg))]


@strategy("two-phase", fixes_layers=True, options=(*_TWO_PHASES, "cache_views"))
def two_phase(cfg: "TrainConfig") -> list[Phase]:
    k = cfg.strategy.head_epochs
    return [Phase("head", k, _head_only, cached=True),
            Phase("all", cfg.epochs - k, _everything, lr_scale=cfg.strategy.lr_factor)]


@strategy("full-then-partial", fixes_layers=True, options=(*_TWO_PHASES, *LAYER_SELECTIONS), needs_selection=True)
def full_then_partial(cfg: "TrainConfig") -> list[Phase]:
    k = cfg.strategy.head_epochs
    return [Phase("full", k, _everything),
            Phase("partial", cfg.epochs - k, _partial_select(cfg), lr_scale=cfg.strategy.lr_factor)]


@strategy("head-then-partial", fixes_layers=True, options=(*_TWO_PHASES, "cache_views", *_PARTIAL))
def head_then_partial(cfg: "TrainConfig") -> list[Phase]:
    k = cfg.strategy.head_epochs
    return [Phase("head", k, _head_only, cached=True),
            Phase("partial", cfg.epochs - k, _partial_select(cfg), lr_scale=cfg.strategy.lr_factor)]


def plan_phases(cfg: "TrainConfig") -> list[Phase]:
    return STRATEGIES.get(cfg.strategy.name).plan(cfg)


# -- config checks: what a strategy refuses, said before any model or image is loaded -------------------
register_names(StrategyConfig, "name", STRATEGIES.names,
               unknown=lambda name: STRATEGIES.unknown_message(name))


def _users(fact: Callable[[Strategy], bool]) -> list[str]:
    return [n for n in STRATEGIES if fact(STRATEGIES.get(n))]


@register_check(StrategyConfig)
def _check_options(cfg: StrategyConfig) -> None:
    """A layer selection the strategy would ignore, or one it needs and lacks."""
    st = STRATEGIES.get(cfg.name)
    chosen = [k for k in LAYER_SELECTIONS if getattr(cfg, k)]
    if chosen and chosen[0] not in st.options:
        users = ", ".join(_users(lambda s: chosen[0] in s.options))
        raise ArtlensError(f"strategy.{chosen[0]}: strategy {cfg.name!r} trains no selection of layers and would "
                           f"ignore it; the strategies that use it: {users}")
    if st.needs_selection and not chosen:
        raise ArtlensError(f"strategy.{LAYER_SELECTIONS[-1]}: {cfg.name} needs the second phase's layers; "
                           f"set one of {', '.join((LAYER_SELECTIONS[-1], *LAYER_SELECTIONS[:-1]))}")


@register_check(TrainConfig)
def _check_weights_and_phases(cfg: TrainConfig) -> None:
    """The strategy against the model's weights and the epochs (``pretrained: auto`` becomes ``none``
    for a strategy that trains from random weights)."""
    st, model = STRATEGIES.get(cfg.strategy.name), cfg.model
    if not st.trains_backbone and model.pretrained == "none":
        scratch = " or ".join(repr(n) for n in _users(lambda s: s.random_weights))
        raise ArtlensError(
            f"strategy {cfg.strategy.name!r} with model.pretrained 'none' would train a head on random features; "
            f"use strategy {scratch} or give pretrained weights")
    if st.random_weights and model.pretrained == "auto":
        model.pretrained = "none"
    if st.random_weights and model.pretrained != "none":
        full = " or ".join(repr(n) for n in _users(lambda s: not s.random_weights and not s.fixes_layers))
        raise ArtlensError(
            f"strategy {cfg.strategy.name!r} trains from random weights but model.pretrained is {model.pretrained!r}; "
            f"use strategy {full} to fine-tune those weights")
    _check_needs_weights(cfg.strategy.name, st, model)
    if st.uses_head_epochs and cfg.strategy.head_epochs >= cfg.epochs:
        raise ArtlensError(
            f"strategy.head_epochs ({cfg.strategy.head_epochs}) must be smaller than epochs ({cfg.epochs}): "
            f"{cfg.strategy.name!r} spends its first head_epochs on one phase and the rest on the other; "
            f"give at least {cfg.strategy.head_epochs + 1} epochs or fewer head epochs (--head-epochs)")


def _check_needs_weights(name: str, st: Strategy, model: ModelConfig) -> None:
    """A frozen or partly frozen backbone must have learned weights, or its features are noise.

    artlens' own architectures (``simple_cnn``, ``pandora_hybrid``, ...) have no pretrained
    weights, so ``pretrained: auto`` means random weights for them too.
    """
    if not st.fixes_layers:
        return
    scratch = model.pretrained == "none" or (model.pretrained == "auto" and model.backbone in BACKBONES)
    if scratch:
        # with random weights: strategies that train every layer, and fine-tuning only from a weights file
        allowed = ", ".join(_users(lambda s: not s.fixes_layers and (s.random_weights or model.pretrained != "none")))
        raise ArtlensError(
            f"strategy.name: {name!r} keeps layers of {model.backbone!r} fixed, but model.pretrained is "
            f"{model.pretrained!r} (random weights); allowed with random weights: {allowed}, "
            "or set model.pretrained to a weights file"
        )


class _BackboneOnly(nn.Module):
    """A classifier without its head: what the selections need to be checked before the data is read."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone


def check_phases(cfg: "TrainConfig", backbone: nn.Module) -> None:
    """Fail now on a layer selection the backbone cannot give (``--unfreeze 99``, an unknown
    ``--unfreeze-layers`` name): the head is built only once the data's classes are known, after
    minutes of image checks on a large collection. Neither the backbone nor the RNG is touched."""
    stand_in = _BackboneOnly(backbone)
    for phase in plan_phases(cfg):
        phase.select(stand_in)


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
