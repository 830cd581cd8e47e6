"""Named intermediate layers of any backbone, and one forward pass that taps many of them at once.

Probes, PCA, style transfer and class similarity all ask for "the output of layer X". Users know
layers by the names papers use (VGG's ``conv4_1``/``relu4_1``, ResNet's ``layer3``), models know them
by module paths (``features.19``). This module translates between the two and captures any set of
layers with forward hooks, in a single pass, stopping the forward as soon as the deepest requested
layer has run (an AdaIN encoder up to ``relu4_1`` never pays for ``conv5``).

>>> from artlens.models import create_backbone
>>> from artlens.models.layers import layer_names, resolve_layer
>>> vgg = create_backbone("vgg19", pretrained="none")
>>> resolve_layer(vgg, "conv4_1")
'features.19'
>>> "relu5_1" in layer_names(vgg)
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import ArtlensError
from .backbones import Backbone

__all__ = ["LayerTaps", "extract_layers", "layer_aliases", "layer_names", "resolve_layer"]


class _Stop(Exception):
    """Raised by the last hook to end a forward pass early."""


def _as_backbone(model: nn.Module) -> Backbone:
    if isinstance(model, Backbone):
        return model
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, Backbone):
        return backbone
    raise ArtlensError(f"expected an artlens Backbone or classifier, got {type(model).__name__}")


def _vgg_features(body: nn.Module) -> nn.Sequential | None:
    """The ``features`` Sequential of a VGG-style network (conv/relu/pool layers), else ``None``."""
    feats = getattr(body, "features", None)
    if not isinstance(feats, nn.Sequential):
        return None
    kinds = {type(m) for m in feats}
    if not kinds <= {nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.BatchNorm2d}:
        return None
    return feats


def layer_aliases(model: nn.Module) -> dict[str, str]:
    """Paper names -> module paths: ``conv{b}_{i}``, ``bn{b}_{i}``, ``relu{b}_{i}``, ``pool{b}`` for VGGs."""
    body = _as_backbone(model).body
    feats = _vgg_features(body)
    if feats is None:
        return {}
    aliases: dict[str, str] = {}
    block, conv = 1, 0
    for idx, module in feats.named_children():
        path = f"features.{idx}"
        if isinstance(module, nn.Conv2d):
            conv += 1
            aliases[f"conv{block}_{conv}"] = path
        elif isinstance(module, nn.BatchNorm2d):
            aliases[f"bn{block}_{conv}"] = path
        elif isinstance(module, nn.ReLU):
            aliases[f"relu{block}_{conv}"] = path
        elif isinstance(module, nn.MaxPool2d):
            aliases[f"pool{block}"] = path
            block, conv = block + 1, 0
    return aliases


def layer_names(model: nn.Module) -> list[str]:
    """Names a user may ask for, shallow to deep: paper aliases first, then the backbone's stages."""
    backbone = _as_backbone(model)
    aliases = layer_aliases(backbone)
    names = list(aliases)
    aliased = set(aliases.values())  # a VGG stage "features.8" is already listed as relu2_2
    names += [s for s in backbone.stages if s not in names and s not in aliased]
    return names


def resolve_layer(model: nn.Module, name: str) -> str:
    """An alias, a stage or any module path of the backbone body -> module path (or a clear error)."""
    backbone = _as_backbone(model)
    aliases = layer_aliases(backbone)
    if name in aliases:
        return aliases[name]
    modules = dict(backbone.body.named_modules())
    if name and name in modules:
        return name
    valid = layer_names(backbone)
    close = difflib.get_close_matches(name, list(dict.fromkeys(valid + list(modules))), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ArtlensError(f"backbone {backbone.name!r} has no layer {name!r}{hint}; valid names: {', '.join(valid)} "
                       "(or any module path, see `artlens layers`)")


@contextmanager
def _no_inplace(body: nn.Module) -> Iterator[None]:
    """Hooks see a layer's output before an in-place ReLU overwrites it; switch in-place off meanwhile."""
    changed = [m for m in body.modules() if getattr(m, "inplace", False) is True]
    for m in changed:
        m.inplace = False
    try:
        yield
    finally:
        for m in changed:
            m.inplace = True


class LayerTaps:
    """Capture the outputs of several named layers in one forward pass.

    >>> import torch
    >>> from artlens.models import create_backbone
    >>> resnet = create_backbone("resnet18", pretrained="none")
    >>> maps = LayerTaps(resnet, ["layer1", "layer4"])(torch.zeros(8, 3, 224, 224))
    >>> maps["layer4"].shape
    torch.Size([8, 512, 7, 7])

    Gradients flow through the captured maps (style transfer optimises the input image through
    them); wrap the call in ``torch.no_grad()`` for feature extraction. With ``stop_early`` (the
    default) the forward pass ends right after the deepest requested layer.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], *, stop_early: bool = True) -> None:
        if not layers:
            raise ArtlensError("no layers requested")
        self.backbone = _as_backbone(model)
        self.layers = list(dict.fromkeys(layers))
        self.paths = {name: resolve_layer(self.backbone, name) for name in self.layers}
        order = {path: i for i, (path, _) in enumerate(self.backbone.body.named_modules())}
        self._last = max(self.paths.values(), key=order.__getitem__)
        self.stop_early = stop_early

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        body = self.backbone.body
        captured: dict[str, torch.Tensor] = {}
        by_path: dict[str, list[str]] = {}
        for name, path in self.paths.items():
            by_path.setdefault(path, []).append(name)

        def hook(path: str):
            def fn(_module, _inputs, output):
                out = output[0] if isinstance(output, (tuple, list)) else output
                for name in by_path[path]:
                    captured[name] = out
                if self.stop_early and path == self._last and len(captured) == len(self.paths):
                    raise _Stop
            return fn

        handles = [body.get_submodule(path).register_forward_hook(hook(path)) for path in by_path]
        try:
            with _no_inplace(body):
                self.backbone(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.layers if n not in captured]
        if missing:
            raise ArtlensError(f"layers {', '.join(missing)} of {self.backbone.name!r} did not run in the forward pass")
        return {name: captured[name] for name in self.layers}


def extract_layers(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """One-shot :class:`LayerTaps`: ``{layer: output}`` for a batch ``x``."""
    return LayerTaps(model, layers)(x)
