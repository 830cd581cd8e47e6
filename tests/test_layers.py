"""Named layers: paper aliases for VGGs, stages for others, and one pass that taps many layers."""

import pytest
import torch

from artlens.errors import ArtlensError
from artlens.models import create_backbone
from artlens.models.layers import LayerTaps, extract_layers, layer_aliases, layer_names, resolve_layer


@pytest.fixture(scope="module")
def vgg19():
    return create_backbone("vgg19", pretrained="none").eval()


def test_vgg_aliases_follow_the_papers_indices(vgg19):
    # The ArtBench study probes conv1_1..conv5_1 = features.0/5/10/19/28; AdaIN encodes up to relu4_1.
    assert [resolve_layer(vgg19, f"conv{b}_1") for b in range(1, 6)] == [
        "features.0", "features.5", "features.10", "features.19", "features.28"]
    assert resolve_layer(vgg19, "relu4_1") == "features.20"
    assert layer_aliases(vgg19)["pool5"] == "features.36"
    names = layer_names(vgg19)
    assert names[:3] == ["conv1_1", "relu1_1", "conv1_2"] and "features.8" not in names  # stages listed once, by alias


def test_taps_capture_several_layers_in_one_pass_without_inplace_corruption(vgg19):
    x = torch.randn(2, 3, 64, 64)
    inplace_before = [getattr(m, "inplace", None) for m in vgg19.modules()]
    maps = extract_layers(vgg19, x, ["conv1_1", "relu1_1", "relu4_1"])
    assert maps["conv1_1"].shape == (2, 64, 64, 64)
    assert maps["relu4_1"].shape == (2, 512, 8, 8)
    # The conv output keeps its negative values although VGG's ReLU runs in place.
    assert (maps["conv1_1"] < 0).any() and not (maps["relu1_1"] < 0).any()
    assert torch.allclose(maps["relu1_1"], maps["conv1_1"].clamp(min=0))
    assert [getattr(m, "inplace", None) for m in vgg19.modules()] == inplace_before  # restored afterwards


def test_taps_stop_after_the_deepest_layer(vgg19):
    ran = []
    handle = vgg19.body.get_submodule("features.28").register_forward_hook(lambda *a: ran.append(True))
    try:
        LayerTaps(vgg19, ["relu2_1"])(torch.randn(1, 3, 32, 32))
    finally:
        handle.remove()
    assert ran == []


def test_gradients_flow_to_the_input_through_taps(vgg19):
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    LayerTaps(vgg19, ["conv2_1"])(x)["conv2_1"].pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_resnet_and_classifier_expose_stages():
    from artlens.config import ModelConfig
    from artlens.models import build_classifier

    model = build_classifier(ModelConfig(backbone="resnet18", pretrained="none"), num_classes=3)
    assert layer_names(model)[-4:] == ["layer1", "layer2", "layer3", "layer4"]
    maps = extract_layers(model, torch.randn(1, 3, 64, 64), ["layer2", "layer4"])
    assert maps["layer2"].shape[1] == 128 and maps["layer4"].shape[1] == 512


def test_unknown_layer_lists_the_valid_names(vgg19):
    with pytest.raises(ArtlensError, match=r"no layer 'conv9_1'.*did you mean.*valid names: conv1_1"):
        resolve_layer(vgg19, "conv9_1")
    with pytest.raises(ArtlensError) as err:
        resolve_layer(create_backbone("efficientnet_lite0", pretrained="none"), "blocks.9")
    hint = str(err.value).split("did you mean ")[1].split("?")[0].split(", ")
    assert len(hint) == len(set(hint)) == 3  # a stage that is also a module path is suggested once
