"""A class-conditional denoiser: the UNet of Ho et al. / Dhariwal & Nichol at small scale.

Residual blocks at each resolution, with the timestep's sinusoidal embedding plus a learned class
embedding added inside every block; optional self-attention at the low resolutions (the ArtBench study:
"self attention produced the best results"); widths and depths set by :class:`UNetConfig`. Class
``num_classes`` is the "null" class of classifier-free guidance: training drops the label to it with
probability ``p_uncond``, so one network also models the unconditional distribution.

>>> import torch
>>> net = ClassUNet(UNetConfig(base_channels=16, channel_mults=[1, 2], attention_resolutions=[8]), num_classes=2,
...                 image_size=16)
>>> net(torch.randn(3, 3, 16, 16), torch.tensor([0, 10, 999]), torch.tensor([0, 1, 2])).shape
torch.Size([3, 3, 16, 16])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ArtlensError

__all__ = ["ClassUNet", "UNetConfig"]


@dataclass
class UNetConfig:
    """The denoiser's shape (widths, depths, attention); the classes and image size come from the data."""

    base_channels: int = 64
    """Channels of the first resolution; each level multiplies it by its ``channel_mults`` entry."""
    channel_mults: list[int] = field(default_factory=lambda: [1, 2, 2])
    """One entry per resolution level (each halves the image): ``1,2,2`` is 32, 16 and 8 px at 32 px."""
    num_res_blocks: int = 2
    """Residual blocks per level (the decoder has one more, for the skip connections)."""
    attention_resolutions: list[int] = field(default_factory=lambda: [16, 8])
    """Image sides (px) at which blocks add self-attention (empty: none)."""
    num_heads: int = 4
    """Heads of each self-attention layer."""
    dropout: float = 0.1
    """Dropout inside the residual blocks."""

    def __post_init__(self) -> None:
        if self.base_channels < 8 or self.base_channels % 8:
            raise ArtlensError(f"--base-channels must be a multiple of 8 (group norm), got {self.base_channels}")
        if not self.channel_mults or any(m < 1 for m in self.channel_mults):
            raise ArtlensError(f"--channel-mults must be positive integers, got {self.channel_mults}")
        if self.num_res_blocks < 1 or self.num_heads < 1:
            raise ArtlensError("--num-res-blocks and --num-heads must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ArtlensError(f"--dropout must be in [0, 1), got {self.dropout}")


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4) if channels % 32 else 32, channels)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """The Transformer's sinusoidal position code of each timestep (Vaswani et al.; Ho et al. sec. B)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2, self.drop = _norm(cout), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: deep stacks train from step 0
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map (``scaled_dot_product_attention``:
    the fused kernel on GPUs)."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ArtlensError(f"--num-heads {heads} must divide the {channels} channels of an attention layer")
        self.heads = heads
        self.norm, self.qkv = _norm(channels), nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (b, heads, hw, c / heads)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class _Level(nn.Module):
    """Residual blocks, each followed by attention where the resolution asks for it."""

    def __init__(self, blocks: list[ResBlock], attn: bool, heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attn = nn.ModuleList([SelfAttention(b.conv2.out_channels, heads) if attn else nn.Identity()
                                   for b in blocks])


class ClassUNet(nn.Module):
    """``forward(x_t, t, y) -> eps or v``, for images in ``[-1, 1]`` of side ``image_size``; ``y`` in
    ``0 .. num_classes`` (``num_classes`` itself: no class)."""

    def __init__(self, cfg: UNetConfig, *, num_classes: int, image_size: int, in_channels: int = 3) -> None:
        super().__init__()
        levels = len(cfg.channel_mults)
        if image_size % (2 ** (levels - 1)):
            raise ArtlensError(f"--size {image_size} must be divisible by 2^{levels - 1} for {levels} levels "
                               f"(--channel-mults {','.join(map(str, cfg.channel_mults))})")
        self.cfg, self.num_classes, self.image_size = cfg, num_classes, image_size
        ch = cfg.base_channels
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim)
        self.stem = nn.Conv2d(in_channels, ch, 3, padding=1)
        widths = [ch * m for m in cfg.channel_mults]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, cur, side = [ch], ch, image_size
        for i, w in enumerate(widths):
            blocks = []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cur, w, emb_dim, cfg.dropout))
                cur = w
                skips.append(cur)
            self.down.append(_Level(blocks, side in cfg.attention_resolutions, cfg.num_heads))
            if i < levels - 1:
                self.downsample.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skips.append(cur)
                side //= 2
        self.mid = _Level([ResBlock(cur, cur, emb_dim, cfg.dropout), ResBlock(cur, cur, emb_dim, cfg.dropout)],
                          True, cfg.num_heads)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            blocks = []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(cur + skips.pop(), w, emb_dim, cfg.dropout))
                cur = w
            self.up.append(_Level(blocks, side in cfg.attention_resolutions, cfg.num_heads))
            if i > 0:
                self.upsample.append(nn.Conv2d(cur, cur, 3, padding=1))
                side *= 2
        self.out = nn.Sequential(_norm(cur), nn.SiLU(), nn.Conv2d(cur, in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.cfg.base_channels).to(x.dtype)) + self.class_emb(y)
        h = self.stem(x)
        hs = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(h, emb))
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        for block, attn in zip(self.mid.blocks, self.mid.attn):
            h = attn(block(h, emb))
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(torch.cat([h, hs.pop()], dim=1), emb))
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)
