"""Feature extractors for style transfer: any backbone, a trained bundle, or VGG19 with its weights.

Style transfer needs a frozen network that sees ``[0, 1]`` RGB images and returns named feature
maps. :class:`Extractor` wraps a :class:`~artlens.models.Backbone` (normalising with the backbone's
own mean/std) around :class:`~artlens.models.layers.LayerTaps`, so Gatys, the reconstructions and
AdaIN share one way of asking for ``relu4_1`` or ``blocks.2``.

VGG19 is what the papers used, and it is the default; its weights are a download. Offline without
them, :func:`load_extractor` fails in one line that names the file and where to put it; the
EfficientNet-Lite0 extractor has real ImageNet weights offline and can be chosen explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import ArtlensError
from ..inference import default_device
from ..models.backbones import Backbone, create_backbone
from ..models.layers import LayerTaps

__all__ = ["DEFAULT_EXTRACTOR", "VGG19_URL", "Extractor", "load_extractor"]

#: torchvision's VGG19: its ImageNet file is the one every style-transfer reference loads.
DEFAULT_EXTRACTOR = "torchvision/vgg19"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
_ALIASES = {"vgg19": DEFAULT_EXTRACTOR}
#: What torch says when a pooling or convolution window is larger than what is left of the image.
_TOO_SMALL = ("Output size is too small", "Kernel size can't be greater than actual input size")


class Extractor(nn.Module):
    """A frozen backbone that takes ``[0, 1]`` images and returns ``{layer: feature map}``."""

    def __init__(self, backbone: Backbone, *, spec: str = "") -> None:
        super().__init__()
        self.backbone = backbone.eval().requires_grad_(False)
        self.spec = spec or backbone.name
        pre = backbone.preprocessing
        self.register_buffer("mean", torch.tensor(pre.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(pre.std).view(1, 3, 1, 1), persistent=False)
        self._taps: dict[tuple[str, ...], LayerTaps] = {}
        self._map_stages: list[str] | None = None

    @property
    def name(self) -> str:
        return self.backbone.name

    def taps(self, layers: Sequence[str]) -> LayerTaps:
        key = tuple(layers)
        if key not in self._taps:
            self._taps[key] = LayerTaps(self.backbone, list(layers))
        return self._taps[key]

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        try:
            feats = self.taps(layers)((image - self.mean) / self.std)
        except RuntimeError as err:
            # Pooling and strided layers shrink the image; a small --size (or --style-scale) leaves
            # nothing for the deeper ones, and torch says so only in its own terms.
            if not any(s in str(err) for s in _TOO_SMALL):
                raise
            h, w = image.shape[-2:]
            raise ArtlensError(f"{self.spec}: a {w}x{h} image is too small for its layers "
                               f"{', '.join(layers)}; use a larger --size or --style-scale, "
                               f"or shallower layers") from None
        flat = [name for name, f in feats.items() if f.dim() != 4]
        if flat:
            raise ArtlensError(f"{self.spec}: layer {flat[0]} gives a vector, not a feature map; "
                               f"style transfer needs convolutional layers, e.g. {', '.join(self.map_stages())}")
        return feats

    def map_stages(self) -> list[str]:
        """The backbone's stages that give feature maps (torchvision's also list their ``classifier``)."""
        if self._map_stages is None:
            stages = list(self.backbone.stages)
            with torch.no_grad():
                probe = self.taps(stages)(torch.zeros(1, 3, 224, 224, device=self.mean.device))
            self._map_stages = [name for name in stages if probe[name].dim() == 4]
        return self._map_stages

    def check_layers(self, layers: Sequence[str]) -> None:
        """Fail early, with the list of valid names, on an unknown layer."""
        self.taps(layers)


def _is_bundle(spec: str) -> bool:
    return (Path(spec) / "artlens.json").is_file()


def load_extractor(spec: str = DEFAULT_EXTRACTOR, *, weights: str | None = None,
                   device: str | torch.device = "cpu", option: str | None = "--extractor") -> Extractor:
    """A backbone name (``vgg19``, ``efficientnet_lite0``, any timm/torchvision name) or a bundle dir.

    ``weights``: a local file (safetensors or weights-only ``.pth``), ``none`` for random weights
    (tests, layer debugging), or ``None`` for the backbone's default source. ``option`` is the
    command's flag that chose ``spec`` (``--encoder``, ``--model``): the offline VGG19 error suggests
    it with ``efficientnet_lite0``; None where the network cannot be swapped (a trained decoder's).
    ``device`` may be ``auto`` (the GPU when there is one), checked before any weights load.
    """
    device = default_device(device) if isinstance(device, str) else device
    if _is_bundle(spec):
        from ..models.bundle import load_bundle

        try:
            backbone = load_bundle(spec).model.backbone
        except ArtlensError as err:  # e.g. an AdaIN decoder given here: say which flag named it
            raise ArtlensError(f"{option} {err}") if option else err from None
    else:
        if os.sep in spec and not spec.startswith(("timm/", "torchvision/")):
            raise ArtlensError(f"{spec}: extractor is neither a backbone name nor a model bundle directory")
        name = _ALIASES.get(spec, spec)
        if weights and weights not in ("none", "auto", "hub") and not Path(weights).is_file():
            raise ArtlensError(f"--weights {weights}: file not found")
        try:
            backbone = create_backbone(name, pretrained=weights or "auto")
        except ArtlensError as err:
            if name == DEFAULT_EXTRACTOR and "offline" in str(err):
                hub = Path(torch.hub.get_dir()) / "checkpoints"
                swap = f", or choose {option} efficientnet_lite0 (offline weights)" if option else ""
                raise ArtlensError(f"VGG19 weights not found offline: download {VGG19_URL} and put it in "
                                   f"{hub}/ (or pass --weights FILE){swap}") from None
            raise
    return Extractor(backbone, spec=spec).to(device)
