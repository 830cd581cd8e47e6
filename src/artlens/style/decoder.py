"""AdaIN decoders (Huang & Belongie 2017): their architectures and their bundles.

A decoder turns an encoder's feature map at one layer back into pixels. For VGG encoders it mirrors
the encoder up to the layer exactly as the reference implementation does (``vgg-mirror``); for other
encoders it is an upsampling decoder (``upsampling``). The JSON spec :func:`build_decoder` returns is
all a bundle needs to rebuild one (:data:`DECODERS`), so a *decoder bundle* is ``decoder.safetensors`` +
``artlens.json`` (format ``artlens-adain-decoder/1``), read by the same
:func:`artlens.models.bundle.read_bundle_meta` as classifier bundles and loaded without unpickling.

>>> from artlens.style.extractor import load_extractor
>>> decoder, spec = build_decoder(load_extractor("efficientnet_lite0", weights="none"), "blocks.2")
>>> spec["kind"], decoder_stride(spec)
('upsampling', 8)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from .._registry import Registry
from .._version import __version__
from ..errors import ArtlensError
from ..models.bundle import (DECODER_FORMAT, DECODER_WEIGHTS_FILE, META_FILE, find_bundles, read_bundle_meta,
                             write_bundle_dir)
from ..models.layers import layer_aliases, resolve_layer
from .extractor import Extractor

__all__ = ["DECODERS", "DECODER_FORMAT", "WEIGHTS_FILE", "build_decoder", "decoder_stride", "default_layer",
           "find_decoders", "load_decoder_bundle", "save_decoder_bundle", "style_layers_for"]

WEIGHTS_FILE = DECODER_WEIGHTS_FILE


# -- architectures ----------------------------------------------------------------------------------

def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    # Reflection padding as in the reference decoder: zero padding draws dark frames round the image.
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU()] if relu else layers


def _vgg_mirror(spec: dict) -> nn.Sequential:
    """The encoder's convolutions in reverse (``[cin, cout]`` each, or ``"up"`` for a pooling layer)."""
    layers: list[nn.Module] = []
    ops = spec["ops"]
    for i, op in enumerate(ops):
        if op == "up":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += _conv(op[0], op[1], relu=i < len(ops) - 1)
    return nn.Sequential(*layers)


def _upsampling(spec: dict) -> nn.Sequential:
    """For non-VGG encoders: conv + nearest x2 upsampling per halving of resolution, channels halving."""
    c, n_up = int(spec["channels"]), int(round(math.log2(int(spec["stride"]))))
    width = min(256, max(128, c))
    layers: list[nn.Module] = [*_conv(c, width)]
    for _ in range(n_up):
        nxt = max(32, width // 2)
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv(width, nxt), *_conv(nxt, nxt)]
        width = nxt
    layers += _conv(width, 3, relu=False)
    return nn.Sequential(*layers)


#: Decoder families, rebuilt from the ``decoder`` entry of a bundle's JSON (no code in the file).
DECODERS: Registry[Callable[[dict], nn.Sequential]] = Registry("decoder")
DECODERS.add("vgg-mirror", _vgg_mirror)
DECODERS.add("upsampling", _upsampling)


def default_layer(extractor: Extractor) -> str:
    """``relu4_1`` for VGGs (the paper); the stride-8 stage ``blocks.2`` for EfficientNets; else a middle stage."""
    if layer_aliases(extractor.backbone):
        return "relu4_1"
    if "efficientnet" in extractor.name:
        return "blocks.2"
    stages = extractor.map_stages()
    if not stages:
        raise ArtlensError(f"extractor {extractor.name!r} has no named stages: pass --layer")
    return stages[len(stages) // 2]


def _module_order(extractor: Extractor) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(extractor.backbone.body.named_modules())}


def style_layers_for(extractor: Extractor, layer: str) -> list[str]:
    """Layers whose statistics the style loss matches: ``relu1_1 .. relu4_1`` for VGG, else the stages up to ``layer``."""
    order = _module_order(extractor)
    end = order[resolve_layer(extractor.backbone, layer)]
    aliases = layer_aliases(extractor.backbone)
    if aliases:
        names = [a for a in aliases if a.startswith("relu") and a.endswith("_1") and order[aliases[a]] <= end]
    else:
        names = [s for s in extractor.map_stages() if order.get(s, 1 << 30) <= end]
    return list(dict.fromkeys([*names, layer]))


def build_decoder(extractor: Extractor, layer: str) -> tuple[nn.Sequential, dict]:
    """A decoder for ``extractor`` up to ``layer`` and the JSON spec that rebuilds it."""
    path = resolve_layer(extractor.backbone, layer)
    aliases = layer_aliases(extractor.backbone)
    if aliases and path.startswith("features."):
        feats = extractor.backbone.body.features
        ops: list[Any] = []
        for idx, module in feats.named_children():
            if isinstance(module, nn.Conv2d):
                ops.append([module.out_channels, module.in_channels])
            elif isinstance(module, nn.MaxPool2d):
                ops.append("up")
            if f"features.{idx}" == path:
                break
        ops.reverse()
        spec = {"kind": "vgg-mirror", "ops": ops}
    else:
        with torch.no_grad():
            probe = extractor(torch.zeros(1, 3, 64, 64, device=extractor.mean.device), [layer])[layer]
        spec = {"kind": "upsampling", "channels": int(probe.shape[1]), "stride": 64 // int(probe.shape[-1])}
    return DECODERS.get(spec["kind"])(spec), spec


def decoder_stride(spec: dict) -> int:
    """How many input pixels one feature-map cell stands for: the decoder only returns multiples of it."""
    if spec["kind"] == "vgg-mirror":
        return 2 ** sum(1 for op in spec["ops"] if op == "up")
    return int(spec["stride"])


# -- bundles -----------------------------------------------------------------------------------

def save_decoder_bundle(decoder: nn.Module, path: str | os.PathLike, meta: dict) -> Path:
    """Write ``decoder.safetensors`` + ``artlens.json`` atomically (a crash never leaves half a bundle)."""
    path = Path(path)
    meta = {"format": DECODER_FORMAT, "name": path.name, "artlens_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta}
    state = {k: v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()}
    return write_bundle_dir(path, state, meta, weights_file=WEIGHTS_FILE)


def load_decoder_bundle(path: str | os.PathLike) -> tuple[nn.Sequential, dict]:
    """Rebuild the decoder described by the bundle's JSON and load its tensors (safetensors, no pickle)."""
    path = Path(path)
    meta = read_bundle_meta(path, format=DECODER_FORMAT)
    decoder = DECODERS.get(meta["decoder"]["kind"])(meta["decoder"])
    try:
        decoder.load_state_dict(load_file(str(path / WEIGHTS_FILE)), strict=True)
    except Exception as err:  # noqa: BLE001 - safetensors and load_state_dict raise several types
        raise ArtlensError(f"{path / WEIGHTS_FILE}: does not match the decoder in {META_FILE} "
                           f"({str(err).splitlines()[0]})") from None
    return decoder.eval(), meta


def find_decoders(models_dir: str | os.PathLike) -> list[Path]:
    """Every AdaIN decoder bundle under ``models_dir`` (recursively), sorted by path."""
    return find_bundles(models_dir, lambda path: read_bundle_meta(path, format=DECODER_FORMAT))
