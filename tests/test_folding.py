"""Batch norm folded into convolutions for inference, and on a CPU the activations fused into oneDNN
convolutions: the same answers, and never a silent change."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from artlens import Predictor
from artlens.data import load_image
from artlens.models import create_backbone, fold_batchnorm, fuse_for_cpu
from artlens.models.bundle import load_bundle
from artlens.models.folding import OneDNNConv2d

needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")


def _norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def _trained_looking(model: nn.Module) -> nn.Module:
    """Batch-norm statistics away from their defaults, so a wrong fold would show."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.2)
    return model.eval()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_a_timm_and_a_torchvision_network_give_the_same_outputs_without_their_batch_norms(name):
    net = _trained_looking(create_backbone(name, pretrained="none"))
    folded = fold_batchnorm(net, input_size=64)
    assert _norms(net) > 0 and _norms(folded) == 0
    x = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(net(x), folded(x), atol=1e-4, rtol=1e-4)


def test_the_original_is_left_as_it_was_and_trainable():
    net = _trained_looking(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fold_batchnorm(net, input_size=16)
    assert isinstance(net[1], nn.BatchNorm2d)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_a_network_without_batch_norm_comes_back_as_itself():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert fold_batchnorm(net, input_size=16) is net


class _NormFirst(nn.Module):
    """Registers a convolution then a batch norm, but normalises *before* convolving."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.conv(self.bn(x))


def test_a_pair_whose_forward_is_not_conv_then_norm_is_not_folded():
    net = _trained_looking(_NormFirst())
    assert fold_batchnorm(net, input_size=16) is net


def test_the_built_in_model_predicts_the_same_probabilities_folded(artdata):
    predictor = Predictor(None, device="cpu")
    assert _norms(predictor.model) == 0 and _norms(predictor.bundle.model) > 0
    paintings = sorted((artdata / "aic_periods").rglob("*.jpg"))[:4]
    views = [predictor.views(load_image(p)) for p in paintings]
    batch = torch.cat(views)
    with torch.inference_mode():
        unfolded = load_bundle(None).model.eval()(batch).softmax(-1)
    assert torch.allclose(torch.from_numpy(predictor.probs(views)), unfolded, atol=1e-4)


def test_a_temperature_calibrated_after_the_predictor_was_made_is_the_one_it_uses(artdata):
    predictor = Predictor(None, device="cpu")
    views = [predictor.views(load_image(sorted((artdata / "aic_periods").rglob("*.jpg"))[0]))]
    before = predictor.probs(views)
    predictor.bundle.model.temperature.fill_(3.0)
    after = predictor.probs(views)
    assert after.max() < before.max()  # a higher temperature flattens the answer
    with torch.inference_mode():
        unfolded = predictor.bundle.model.eval()(torch.cat(views)).softmax(-1)
    assert torch.allclose(torch.from_numpy(after), unfolded, atol=1e-4)


def test_embeddings_come_from_the_folded_network_and_match_the_unfolded_one(tiny_tree):
    from artlens.data.dataset import discover
    from artlens.explain.features import extract_features
    from artlens.explain.source import EMBED, load_source

    source = load_source("efficientnet_lite0", weights="none", input_size=64)
    _trained_looking(source.backbone)
    samples = discover(tiny_tree)[:6]
    feats = extract_features(source, samples, [EMBED], device="cpu", show_progress=False)
    assert _norms(source.folded.backbone) == 0 and _norms(source.backbone) > 0
    assert source.folded is source.folded and source.fused is source.fused  # made once, reused by every shard
    if torch.backends.mkldnn.is_available():  # on a CPU, the vectors come from the oneDNN-fused copy
        assert _fused(source.fused.model)["hardtanh"] > 0
    x = torch.stack([_view(source, s.path) for s in feats.samples])
    with torch.inference_mode():
        unfolded = source.embed(x).numpy()
    assert feats.features[EMBED].shape == unfolded.shape
    assert torch.allclose(torch.from_numpy(feats.features[EMBED]), torch.from_numpy(unfolded), atol=1e-4, rtol=1e-4)


def _view(source, path):
    from artlens.data.transforms import build_transform

    return build_transform(source.preprocessing)(load_image(path))


def _fused(model: nn.Module) -> dict[str, int]:
    """How many convolutions run as oneDNN calls, by the activation fused into them."""
    counts: dict[str, int] = {}
    for m in model.modules():
        if isinstance(m, OneDNNConv2d):
            counts[m.activation] = counts.get(m.activation, 0) + 1
    return counts


@needs_onednn
def test_efficientnet_runs_its_relu6_inside_the_convolutions_with_the_same_outputs():
    net = fold_batchnorm(_trained_looking(create_backbone("efficientnet_lite0", pretrained="none")), input_size=64)
    fused = fuse_for_cpu(net, input_size=64, batch_size=4)
    relu6 = sum(isinstance(m, nn.ReLU6) for m in net.modules())
    assert _fused(fused)["hardtanh"] == relu6 > 0  # every ReLU6 of the network went into its convolution
    assert not any(isinstance(m, nn.ReLU6) for m in fused.modules())
    assert not any(type(m) is nn.Conv2d for m in fused.modules())
    with torch.inference_mode():
        for shape in [(4, 3, 64, 64), (1, 3, 64, 64), (3, 3, 96, 80)]:  # packed for the first; any shape runs
            x = torch.randn(*shape).contiguous(memory_format=torch.channels_last)
            assert torch.allclose(net(x), fused(x), atol=1e-5, rtol=1e-5)
    assert any(type(m) is nn.Conv2d for m in net.modules())  # the folded network is left as it was


@needs_onednn
def test_an_activation_that_is_only_a_sibling_of_the_convolution_stays_apart():
    """torchvision's ResNet registers ``relu`` once and applies it after the residual sum: not fusable."""
    net = fold_batchnorm(_trained_looking(create_backbone("resnet18", pretrained="none")), input_size=64)
    fused = fuse_for_cpu(net, input_size=64, batch_size=2)
    assert set(_fused(fused)) == {"none"}
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.allclose(net(x), fused(x), atol=1e-5, rtol=1e-5)


class _ActFirst(nn.Module):
    """Registers a convolution then a (folded) norm-plus-activation, but applies the activation first."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.act = nn.Sequential(nn.Identity(), nn.ReLU6())

    def forward(self, x):
        return self.conv(self.act(x * 8))


@needs_onednn
def test_a_fusion_that_changes_the_outputs_is_thrown_away(monkeypatch):
    in_order = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.Identity(), nn.ReLU6())).eval()
    assert _fused(fuse_for_cpu(in_order, input_size=16, batch_size=2)) == {"hardtanh": 1}
    net = _ActFirst().eval()
    assert fuse_for_cpu(net, input_size=16, batch_size=2) is net
    half = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.Identity(), nn.ReLU6())).eval().to(torch.bfloat16)
    assert fuse_for_cpu(half, input_size=16) is half  # float32 only
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)  # the user turned oneDNN off
    assert fuse_for_cpu(in_order, input_size=16) is in_order
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", True)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)  # a torch built without oneDNN
    assert fuse_for_cpu(in_order, input_size=16) is in_order


class _SpareConv(nn.Module):
    """Holds a convolution its forward pass never calls (as some timm heads do)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.spare = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.conv(x)


@needs_onednn
def test_a_convolution_never_reached_keeps_its_plain_weights():
    net = _SpareConv().eval()
    fused = fuse_for_cpu(net, input_size=16, batch_size=2)
    assert fused is not net and fused.conv.packed_for == [2, 3, 16, 16] and fused.spare.packed_for is None
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        assert torch.allclose(net(x), fused(x), atol=1e-5, rtol=1e-5)


@needs_onednn
def test_predict_fuses_in_float32_on_a_cpu_only():
    assert _fused(Predictor(None, device="cpu").model)["hardtanh"] > 0
    assert not _fused(Predictor(None, device="cpu", precision="bf16").model)  # autocast cannot enter oneDNN's call
    assert not _fused(Predictor(None, device="cpu", fold=False).model)
