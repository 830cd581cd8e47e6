"""The studies' own networks, heads and partial strategies, and the config checks that guard them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from artlens import TrainConfig
from artlens.config import ModelConfig
from artlens.errors import ArtlensError
from artlens.models import BACKBONES, HEADS, STRATEGIES, build_classifier, create_backbone, plan_phases
from artlens.models import zoo

#: Backbone parameters, as each docstring states them (the Pandora study: "only 50k trainable
#: parameters for all convolutional layers" for its hybrid).
PARAMS = {"simple_cnn": 19_392, "custom_cnn": 93_248, "pandora_vgg_lite": 1_172_256, "pandora_hybrid": 45_960}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name, expected", PARAMS.items())
def test_study_network_has_the_parameter_count_its_docstring_gives(name, expected):
    backbone = create_backbone(name, pretrained="none")
    assert n_params(backbone) == expected
    assert f"{expected:,} parameters" in getattr(zoo, name).__doc__
    assert f"{expected:,}" in zoo.__doc__
    if name in ("simple_cnn", "custom_cnn"):  # Flatten networks: the study's input size gives its grid exactly
        size = backbone.preprocessing.input_size
        features = backbone(torch.rand(2, 3, size, size))
        assert features.shape == (2, backbone.num_features) and torch.isfinite(features).all()
    # any other input size gives the same features width (a Flatten grid is pooled to the study's)
    assert backbone(torch.rand(1, 3, 40, 40)).shape == (1, backbone.num_features)
    assert name in BACKBONES


def test_simple_cnn_is_the_studys_two_conv_baseline_at_32px():
    model = build_classifier(ModelConfig(backbone="simple_cnn", pretrained="none"), num_classes=20)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 2 and len(linears) == 1 and linears[0].out_features == 20
    assert model.backbone.preprocessing.input_size == 32
    assert n_params(model) == 19_392 + 64 * 8 * 8 * 20 + 20


def test_pandora_hybrid_follows_table_2():
    block = create_backbone("pandora_hybrid", pretrained="none").body.inception
    assert isinstance(block, zoo.InceptionBlock) and block.out_channels == 32 + 64 + 32 + 32
    widths = [m.out_channels for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert sorted(widths) == sorted([32, 16, 64, 8, 32, 32])
    out = block(torch.rand(1, 64, 9, 9))
    assert out.shape == (1, 160, 9, 9)  # 'same' padding in every branch, so they concatenate


def test_heads_of_the_studies():
    dense_bn = HEADS.get("dense_bn")(2048, 11, hidden=(512, 16), dropout=0.0)
    kinds = [type(m).__name__ for m in dense_bn]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert dense_bn(torch.rand(4, 2048)).shape == (4, 11)
    dense = HEADS.get("dense")(100, 11, hidden=(384,), dropout=0.5)  # Keras: Dense, ReLU, Dropout, Dense
    assert [type(m).__name__ for m in dense] == ["Linear", "ReLU", "Dropout", "Linear"]
    mlp = HEADS.get("mlp")(2048, 18, hidden=(650,), dropout=0.7)  # Pandora: (dropout, dense) x 2
    assert [type(m).__name__ for m in mlp] == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    with pytest.raises(ArtlensError, match="model.head.*dense_bn"):
        ModelConfig(head="dense-bn")


def _cfg(backbone: str, **strategy) -> TrainConfig:
    return TrainConfig.from_dict({"model": {"backbone": backbone, "pretrained": "weights.safetensors"},
                                  "strategy": strategy, "epochs": 4})


def _trainable(cfg: TrainConfig, phase: int = 0) -> set[str]:
    model = build_classifier(cfg.model, 5, pretrained="none")
    return plan_phases(cfg)[phase].select(model)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_each_strategy_registers_what_its_phases_do(name):
    """Config checks read ``fixes_layers``, ``uses_head_epochs`` and ``selects_layers`` before any model exists:
    they must match the plan."""
    weights = "none" if name == "scratch" else "weights.safetensors"
    selects = STRATEGIES.get(name).selects_layers

    def config(layer: str) -> TrainConfig:
        chosen = {"unfreeze_layers": [layer]} if selects else {}
        return TrainConfig.from_dict({"model": {"backbone": "tiny_cnn", "pretrained": weights}, "epochs": 4,
                                      "strategy": {"name": name, "head_epochs": 1, **chosen}})

    cfg = config("2")
    model = build_classifier(cfg.model, 5, pretrained="none")
    everything = {n for n, _ in model.named_parameters()}
    phases = plan_phases(cfg)
    assert STRATEGIES.get(name).fixes_layers == any(p.select(model) != everything for p in phases)
    assert STRATEGIES.get(name).uses_head_epochs == (len(phases) > 1)
    if selects:  # the selection changes what some phase trains
        assert [p.select(model) for p in plan_phases(config("1"))] != [p.select(model) for p in phases]


def test_freeze_named_layers_of_resnet18():
    cfg = _cfg("torchvision/resnet18", name="partial", freeze_layers=["conv1", "bn1", "layer1", "layer2"])
    blocks = {n.split(".")[2] for n in _trainable(cfg) if n.startswith("backbone.body.")}
    assert blocks == {"layer3", "layer4"}
    assert any(n.startswith("head.") for n in _trainable(cfg))


def test_train_the_top_50_layers_of_resnet50():
    cfg = _cfg("resnet50", name="full-then-partial", head_epochs=1, top_layers=50)
    model = build_classifier(cfg.model, 5, pretrained="none")
    first, second = plan_phases(cfg)
    assert first.select(model) == {n for n, _ in model.named_parameters()}
    owners = [n for n, m in model.backbone.body.named_modules() if any(True for _ in m.parameters(recurse=False))]
    chosen = {n.removeprefix("backbone.body.").rsplit(".", 1)[0] for n in second.select(model)
              if n.startswith("backbone.body.")}
    assert chosen == set(owners[-50:]) and len(chosen) == 50
    assert "layer4.2.bn3" in chosen and "layer1.0.conv1" not in chosen
    assert second.lr_scale == cfg.strategy.lr_factor


def test_fine_tune_only_the_last_inception_module():
    cfg = _cfg("inception_v3", name="partial", unfreeze_layers=["Mixed_7c"])
    blocks = {n.split(".")[2] for n in _trainable(cfg) if n.startswith("backbone.body.")}
    assert blocks == {"Mixed_7c"}


def test_freeze_layers_names_modules_and_an_unknown_one_lists_the_valid_names():
    cfg = _cfg("tiny_cnn", name="partial", freeze_layers=["0"])
    assert not any(n.startswith("backbone.body.0.") for n in _trainable(cfg))
    with pytest.raises(ArtlensError, match="no layer 'layer9'.*valid names"):
        _trainable(_cfg("tiny_cnn", name="partial", freeze_layers=["layer9"]))


@pytest.mark.parametrize("raw, words", [
    # a frozen strategy on random weights: artlens' own networks have no pretrained weights
    ({"model": {"backbone": "simple_cnn"}, "strategy": {"name": "frozen"}},
     ["strategy.name", "'frozen'", "simple_cnn", "allowed with random weights: scratch, full"]),
    ({"model": {"backbone": "resnet18", "pretrained": "none"}, "strategy": {"name": "partial"}},
     ["strategy.name", "'partial'", "allowed with random weights: scratch"]),
    ({"strategy": {"name": "partial", "freeze_layers": ["conv1"], "top_layers": 3}},
     ["strategy.top_layers", "freeze_layers"]),
    ({"strategy": {"name": "full-then-partial"}, "epochs": 5}, ["strategy.top_layers", "full-then-partial"]),
    ({"strategy": {"name": "full-then-partial", "top_layers": 5, "head_epochs": 5}, "epochs": 5},
     ["head_epochs", "epochs"]),
    ({"strategy": {"name": "scratch", "freeze_layers": ["conv1"]}},
     ["strategy.freeze_layers", "'scratch' trains no selection of layers", "partial, full-then-partial"]),
    ({"model": {"input_size": 8}}, ["model.input_size"]),
    ({"strategy": {"top_layers": "fifty"}}, ["strategy.top_layers", "int"]),
])
def test_impossible_combinations_fail_before_any_work(raw, words):
    with pytest.raises(ArtlensError) as err:
        TrainConfig.from_dict(raw)
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_own_network_may_start_from_a_weights_file(tmp_path):
    cfg = TrainConfig.from_dict({"model": {"backbone": "pandora_hybrid", "pretrained": str(tmp_path / "w.safetensors")},
                                 "strategy": {"name": "frozen"}})
    assert cfg.strategy.name == "frozen"
