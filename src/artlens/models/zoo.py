"""artlens' own architectures, registered beside timm and torchvision.

``tiny_cnn`` is a three-block convolutional network small enough that tests train it in seconds.
The others are the studies' own from-scratch networks, so a recipe can name them like any timm model:

================== =========== ==================================================================
name               parameters  study
================== =========== ==================================================================
simple_cnn         19,392      AI-ArtBench: "2 convolutional layers with ReLU, max pooling after
                               each, a fully connected layer", 32 px (head: ``linear``)
custom_cnn         93,248      Best Artworks: Conv 32-64-128 (3x3, valid) + max pooling, Flatten
                               (head: ``dense``, ``hidden: [384]``, ``dropout: 0.5``)
pandora_vgg_lite   1,172,256   Pandora 18k: "VGG-lite", conv 32-32-64-64-128-128-256-256 with
                               max pooling between each pair
pandora_hybrid     45,960      Pandora 18k, Table 2: conv 8-16-32-64, max pooling, one Inception
                               3(a)-style block (the study: "only 50k trainable parameters for
                               all convolutional layers"); head ``dense``, ``hidden: [256, 64]``
================== =========== ==================================================================

Parameter counts are of the backbone (everything before the head) and are checked by a test.
Networks that end in ``Flatten`` pool their last map to the grid it has at the study's input
size first (an identity there), so the same weights accept any input size.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.transforms import Preprocessing
from .backbones import BACKBONES, Backbone

__all__ = ["InceptionBlock", "custom_cnn", "pandora_hybrid", "pandora_vgg_lite", "simple_cnn", "tiny_cnn"]

#: Keras' ``Rescaling(1/255)``: the studies built in Keras fed pixels in [0, 1], unnormalised.
_KERAS = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


def _conv_relu(c_in: int, c_out: int, kernel: int = 3, padding: int | str = "same") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.ReLU(inplace=True))


def _preprocessing(input_size: int, *, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)) -> Preprocessing:
    return Preprocessing(input_size=input_size, mean=mean, std=std, interpolation="bilinear", crop_pct=1.0)


@BACKBONES.register("tiny_cnn")
def tiny_cnn(*, channels: tuple[int, ...] = (16, 32, 64), input_size: int = 64) -> Backbone:
    """Three conv-BN-ReLU-pool blocks and global average pooling (~25k parameters)."""
    blocks, c_in = [], 3
    for c in channels:
        blocks.append(_conv_block(c_in, c))
        c_in = c
    body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    pre = Preprocessing(input_size=input_size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                        interpolation="bilinear", crop_pct=1.0)
    return Backbone(body, name="tiny_cnn", num_features=c_in, stages=[str(i) for i in range(len(channels))],
                    preprocessing=pre, source="artlens",
                    build_kwargs={"channels": list(channels), "input_size": input_size})


@BACKBONES.register("simple_cnn")
def simple_cnn(*, input_size: int = 32) -> Backbone:
    """AI-ArtBench's Simple CNN baseline: conv(32)-ReLU-pool, conv(64)-ReLU-pool, Flatten (19,392 parameters).

    At its 32 px input the last map is 64 x 8 x 8, so the features are 4,096 wide and the study's
    single fully connected layer is the ``linear`` head (81,940 more parameters for 20 classes).
    """
    body = nn.Sequential(_conv_relu(3, 32, padding=1), nn.MaxPool2d(2),
                         _conv_relu(32, 64, padding=1), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(8), nn.Flatten())
    return Backbone(body, name="simple_cnn", num_features=64 * 8 * 8, stages=["0", "2"],
                    preprocessing=_preprocessing(input_size), source="artlens",
                    build_kwargs={"input_size": input_size})


@BACKBONES.register("custom_cnn")
def custom_cnn(*, input_size: int = 224) -> Backbone:
    """Best Artworks' custom CNN: Conv 32, 64, 128 (3x3, valid, ReLU) each + 2x2 max pooling, Flatten (93,248 parameters).

    At 224 px the last map is 128 x 26 x 26 (86,528 features). The study's tuned head, Dense 384 +
    ReLU + Dropout 0.5 + Dense, is the ``dense`` head with ``hidden: [384]`` (33.2M parameters:
    the Flatten-to-Dense layer dominates, as in the study's Keras model).
    """
    body = nn.Sequential(_conv_relu(3, 32, padding=0), nn.MaxPool2d(2),
                         _conv_relu(32, 64, padding=0), nn.MaxPool2d(2),
                         _conv_relu(64, 128, padding=0), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(26), nn.Flatten())
    return Backbone(body, name="custom_cnn", num_features=128 * 26 * 26, stages=["0", "2", "4"],
                    preprocessing=_preprocessing(input_size, **_KERAS), source="artlens",
                    build_kwargs={"input_size": input_size})


@BACKBONES.register("pandora_vgg_lite")
def pandora_vgg_lite(*, input_size: int = 224) -> Backbone:
    """Pandora's "VGG-lite": conv pairs of 32, 64, 128, 256 filters (3x3, ReLU), max pooling after each pair (1,172,256 parameters).

    The study does not say how the last map reaches its dense layers; global average pooling keeps
    the network small, as was the study's goal (256 features).
    """
    layers: list[nn.Module] = []
    c_in = 3
    for c in (32, 64, 128, 256):
        layers += [_conv_relu(c_in, c), _conv_relu(c, c), nn.MaxPool2d(2)]
        c_in = c
    body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Backbone(body, name="pandora_vgg_lite", num_features=256, stages=["2", "5", "8", "11"],
                    preprocessing=_preprocessing(input_size, **_KERAS), source="artlens",
                    build_kwargs={"input_size": input_size})


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated (Szegedy et al.): 1x1; 1x1 -> 3x3; 1x1 -> 5x5; pool -> 1x1."""

    def __init__(self, c_in: int, *, c1: int, r3: int, c3: int, r5: int, c5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = _conv_relu(c_in, c1, 1)
        self.branch3 = nn.Sequential(_conv_relu(c_in, r3, 1), _conv_relu(r3, c3, 3))
        self.branch5 = nn.Sequential(_conv_relu(c_in, r5, 1), _conv_relu(r5, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), _conv_relu(c_in, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


@BACKBONES.register("pandora_hybrid")
def pandora_hybrid(*, input_size: int = 224) -> Backbone:
    """Pandora's hybrid VGG + Inception network (its Table 2): conv 8-16-32-64, max pooling, one Inception block (45,960 parameters).

    The block follows Table 2: 1x1 -> 32; 1x1 16 -> 3x3 64; 1x1 8 -> 5x5 32; pooling -> 1x1 32
    (160 channels), then global average pooling. The study's Dense 256 and Dense 64 are the
    ``dense`` head with ``hidden: [256, 64]``.
    """
    vgg = nn.Sequential(_conv_relu(3, 8), _conv_relu(8, 16), _conv_relu(16, 32), _conv_relu(32, 64), nn.MaxPool2d(2))
    block = InceptionBlock(64, c1=32, r3=16, c3=64, r5=8, c5=32, pool_proj=32)
    body = nn.Sequential()
    body.add_module("vgg", vgg)
    body.add_module("inception", block)
    body.add_module("pool", nn.AdaptiveAvgPool2d(1))
    body.add_module("flatten", nn.Flatten())
    return Backbone(body, name="pandora_hybrid", num_features=block.out_channels, stages=["vgg", "inception"],
                    preprocessing=_preprocessing(input_size, **_KERAS), source="artlens",
                    build_kwargs={"input_size": input_size})
