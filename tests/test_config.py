"""Configs: the same dataclass from CLI, YAML and Python; mistakes named before any work starts."""

from __future__ import annotations

import re

import pytest

from artlens import ArtlensError, TrainConfig, load_config


def test_yaml_recipe_round_trips(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "data: {path: imgs, augment: flip-rotate}\nmodel: {backbone: resnet50, head: mlp, hidden: [512, 16]}\n"
        "strategy: {name: two-phase, head_epochs: 2}\noptim: {name: sgd, lr: 1, scheduler: plateau}\nepochs: 5\n")
    cfg = load_config(tmp_path / "r.yaml")
    assert cfg.model.hidden == [512, 16] and cfg.optim.lr == 1.0 and cfg.strategy.name == "two-phase"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("raw, message", [
    ({"model": {"backbon": "x"}}, "model.backbon: unknown key; allowed: backbone"),
    ({"epochs": "ten"}, "epochs: expected int"),
    ({"strategy": {"name": "freeze"}}, "strategy.name: unknown strategy 'freeze'"),
    ({"optim": {"scheduler": "linear"}}, "optim.scheduler: 'linear' is not allowed; choose from: none, step"),
    ({"strategy": {"name": "frozen"}, "model": {"pretrained": "none"}}, "frozen"),
    ({"strategy": {"name": "scratch"}, "model": {"pretrained": "hub"}}, "scratch"),
    ({"strategy": {"name": "two-phase", "head_epochs": 5}, "epochs": 5},
     "head_epochs (5) must be smaller than epochs (5): 'two-phase' spends its first head_epochs on one phase "
     "and the rest on the other; give at least 6 epochs or fewer head epochs (--head-epochs)"),
    ({"data": {"augment": "heavy"}}, "data.augment: 'heavy' is not allowed"),
    ({"data": {"max_per_class": -3}}, "data.max_per_class: -3 must be >= 1 (or unset for no cap)"),
    ({"data": {"min_per_class": 0}}, "data.min_per_class: 0 must be >= 1"),
    ({"model": {"hidden": [64]}}, "model.hidden: [64] needs a head with hidden layers (mlp, dense or dense_bn)"),
    ({"model": {"head": "mlp", "hidden": [64, 0]}}, "model.hidden: [64, 0]: every size must be >= 1"),
    ({"label_smoothing": 1.5}, "label_smoothing: 1.5 must be in [0, 1)"),
])
def test_bad_configs_name_the_key(raw, message):
    with pytest.raises(ArtlensError, match=re.escape(message)):
        TrainConfig.from_dict(raw)


def test_scratch_defaults_to_random_weights():
    assert TrainConfig.from_dict({"strategy": {"name": "scratch"}}).model.pretrained == "none"


@pytest.mark.parametrize("raw, message", [
    ({"data": {"dataset": "wikiartt"}}, "data.dataset: 'wikiartt' is not allowed; choose from: auto, artbench10"),
    ({"model": {"head": "deep"}}, "model.head: 'deep' is not allowed; choose from: linear, mlp"),
    ({"strategy": {"name": "full-then-partial"}},
     "strategy.top_layers: full-then-partial needs the second phase's layers; "
     "set one of top_layers, unfreeze_layers, freeze_layers"),
    ({"strategy": {"name": "full", "top_layers": 5}},
     "strategy.top_layers: strategy 'full' trains no selection of layers and would ignore it; "
     "the strategies that use it: partial, full-then-partial, head-then-partial"),
    ({"strategy": {"name": "partial"}, "model": {"backbone": "simple_cnn"}},
     "strategy.name: 'partial' keeps layers of 'simple_cnn' fixed, but model.pretrained is 'auto' (random weights); "
     "allowed with random weights: scratch, full,"),
])
def test_registries_check_the_names_and_options_they_own(raw, message):
    """Checks that need a registry (datasets, heads, strategies, backbones) are handed to config by it."""
    with pytest.raises(ArtlensError, match=re.escape(message)):
        TrainConfig.from_dict(raw)


def test_each_strategy_says_which_options_it_reads():
    from dataclasses import fields

    from artlens.config import StrategyConfig
    from artlens.models import STRATEGIES

    keys = {f.name for f in fields(StrategyConfig)} - {"name"}
    for name in STRATEGIES:
        assert STRATEGIES.get(name).options <= keys, name
    assert STRATEGIES.get("partial").selects_layers and not STRATEGIES.get("two-phase").selects_layers
    assert [n for n in STRATEGIES if STRATEGIES.get(n).uses_head_epochs] == \
        ["two-phase", "full-then-partial", "head-then-partial"]


def test_config_fields_carry_type_default_help_and_choices():
    from artlens.config import DataConfig, ModelConfig, config_fields

    by_name = {f.name: f for f in config_fields(DataConfig)}
    assert by_name["val_fraction"].type is float and by_name["val_fraction"].default == 0.1
    assert by_name["val_fraction"].help == "Share of each class held out for validation when the data has no split column."
    assert by_name["dataset"].choices[:2] == ["auto", "artbench10"]
    assert {f.name: f.choices for f in config_fields(ModelConfig)}["head"] == ["linear", "mlp", "dense", "dense_bn"]
