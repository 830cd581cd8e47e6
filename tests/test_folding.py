"""Batch norm folded into convolutions for inference: the same answers, and never a silent change."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from artlens import Predictor
from artlens.data import load_image
from artlens.models import create_backbone, fold_batchnorm
from artlens.models.bundle import load_bundle


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
    assert source.folded is source.folded  # folded once, reused by every shard
    x = torch.stack([_view(source, s.path) for s in feats.samples])
    with torch.inference_mode():
        unfolded = source.embed(x).numpy()
    assert feats.features[EMBED].shape == unfolded.shape
    assert torch.allclose(torch.from_numpy(feats.features[EMBED]), torch.from_numpy(unfolded), atol=1e-4, rtol=1e-4)


def _view(source, path):
    from artlens.data.transforms import build_transform

    return build_transform(source.preprocessing)(load_image(path))
