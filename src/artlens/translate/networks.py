"""CycleGAN's networks (Zhu et al. 2017, appendix 7.2), as in the authors' pytorch-CycleGAN-and-pix2pix.

* :class:`ResnetGenerator`: ``c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3`` with instance
  norm (no affine, no running statistics) and reflection padding, ending in ``tanh``. Its two ``u``
  layers are the paper's stride-2 transposed convolutions (``upsample="transpose"``) or a nearest-neighbour
  doubling followed by a 3x3 convolution (``upsample="resize"``, Odena et al. 2016, "Deconvolution and
  Checkerboard Artifacts"): a 3x3 kernel at stride 2 covers the output pixels unevenly, one in four
  gets four taps and others one or two, and the generator paints that unevenness as a faint grid
  in flat areas; a resize covers every pixel alike. It is fully
  convolutional: any input whose sides are multiples of :data:`GENERATOR_MULTIPLE` maps to an output of
  the same size, which is what lets :mod:`artlens.translate.apply` work at an image's own resolution.
* :class:`PatchDiscriminator`: the 70x70 PatchGAN (``C64-C128-C256-C512``, 4x4 convolutions, leaky ReLU
  0.2, instance norm from the second layer), one real/fake score per overlapping 70x70 patch.
* :class:`ImagePool`: the history of generated images the discriminators see (Shrivastava et al. 2017,
  50 images), so they are not trained on the latest generator's fakes alone.

Images are in ``[-1, 1]`` inside the networks (the reference's normalisation); callers convert from and
to ``[0, 1]`` with :func:`to_signed` and :func:`to_unit`.

>>> import torch
>>> g = ResnetGenerator(ngf=8, n_blocks=2)
>>> g(torch.zeros(1, 3, 36, 52)).shape
torch.Size([1, 3, 36, 52])
>>> ResnetGenerator(ngf=8, n_blocks=2, upsample="resize")(torch.zeros(1, 3, 36, 52)).shape
torch.Size([1, 3, 36, 52])
>>> PatchDiscriminator(ndf=8)(torch.zeros(1, 3, 256, 256)).shape  # 30x30 scores of overlapping 70x70 patches
torch.Size([1, 1, 30, 30])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["GENERATOR_MULTIPLE", "UPSAMPLING", "ImagePool", "PatchDiscriminator", "ResnetGenerator", "init_weights",
           "to_signed", "to_unit"]

#: The generator downsamples twice by 2: its input sides must be multiples of 4 for the output to match.
GENERATOR_MULTIPLE = 4

#: How :class:`ResnetGenerator` doubles its resolution: the paper's transposed convolutions, or resize + conv.
UPSAMPLING = ("transpose", "resize")


def _norm(channels: int) -> nn.InstanceNorm2d:
    # The reference's "instance" norm: no learned scale/shift, no running statistics.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """``x + conv(relu(norm(conv(x))))`` with reflection padding (no dropout: the reference's default)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResizeConv(nn.Module):
    """Double the resolution, then a 3x3 convolution: the checkerboard-free stand-in for
    ``ConvTranspose2d(in, out, 3, stride=2, padding=1, output_padding=1)`` (the same output size)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(self.up(x)))


class ResnetGenerator(nn.Module):
    """The CycleGAN generator; ``n_blocks`` 9 for 256 px training crops, 6 for 128 px (the paper's choice).
    ``upsample`` is one of :data:`UPSAMPLING` (the paper's ``transpose``; ``resize`` adds no grid of its own)."""

    def __init__(self, *, ngf: int = 64, n_blocks: int = 9, upsample: str = "transpose") -> None:
        super().__init__()
        if upsample not in UPSAMPLING:
            raise ValueError(f"upsample {upsample!r}: choose one of {', '.join(UPSAMPLING)}")
        # bias=True: with instance norm after a convolution its bias is cancelled, but the reference keeps
        # it (use_bias = norm is InstanceNorm), and keeping it keeps the weights loadable both ways.
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), _norm(ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), _norm(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch) for _ in range(n_blocks)]
        for _ in range(2):
            # At the same index either way, so a transpose bundle's weight names are the paper's.
            up = ResizeConv(ch, ch // 2) if upsample == "resize" else \
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1)
            layers += [up, _norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN: ``n_layers`` 3 gives the 70 px receptive field of the paper."""

    def __init__(self, *, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ch, out, 4, stride=stride, padding=1), _norm(out), nn.LeakyReLU(0.2, True)]
            ch = out
        layers += [nn.Conv2d(ch, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's ``normal`` init: convolution weights from N(0, 0.02), biases zero."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` images to the networks' ``[-1, 1]``."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """The networks' ``[-1, 1]`` back to ``[0, 1]`` (clamped)."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


class ImagePool:
    """A buffer of up to ``size`` generated images (Shrivastava et al.; the reference's ``ImagePool``).

    Until it is full every fake goes in and comes out as it is; then each fake, with probability 1/2,
    takes the place of a random stored image and the stored one is returned instead. Draws come from
    torch's global generator, which the training engine checkpoints; the images are in
    :meth:`state_dict`, so a resumed run sees the history the uninterrupted one saw.
    """

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes.detach()
        out = []
        for img in fakes.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif float(torch.rand(())) > 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.images = [t.to(device) for t in state["images"]]
