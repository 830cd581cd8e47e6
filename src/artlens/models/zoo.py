"""artlens' own architectures, registered beside timm and torchvision.

``tiny_cnn`` is a three-block convolutional network: a from-scratch baseline in the spirit of the
studies' custom CNNs, and small enough that tests train it in seconds. Later recipes register the
studies' own networks here.
"""

from __future__ import annotations

from torch import nn

from ..data.transforms import Preprocessing
from .backbones import BACKBONES, Backbone

__all__ = ["tiny_cnn"]


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


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
