"""Image-translation bundles: both CycleGAN generators in one ``model.safetensors`` + ``artlens.json``.

The usual bundle format (``artlens-bundle/1``, read by :func:`artlens.models.bundle.read_bundle_meta`)
with ``"task": "image-translation"``: the weights of the A->B generator are stored under ``a2b.`` and
those of the B->A generator under ``b2a.``; the JSON says how to rebuild them (``generator``), what the
two domains were (``domains``), how they were trained and the last losses. Loading never unpickles
anything. ``artlens serve`` lists such a bundle among its models (task ``image-translation``) and offers
it as the ``cyclegan`` style method.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from .._version import __version__
from ..errors import ArtlensError
from ..models.bundle import (BUNDLE_FORMAT, META_FILE, WEIGHTS_FILE, default_translator_path, find_bundles,
                             read_bundle_meta, write_bundle_dir)
from .networks import UPSAMPLING, ResnetGenerator

__all__ = ["DIRECTIONS", "TRANSLATION_TASK", "builtin_translator", "find_translators", "load_translator",
           "read_translator_meta", "save_translator_bundle"]

TRANSLATION_TASK = "image-translation"
#: The two directions a bundle translates, named as ``--direction`` takes them.
DIRECTIONS = ("a2b", "b2a")


def save_translator_bundle(generators: dict[str, nn.Module], path: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write both generators (``{"a2b": ..., "b2a": ...}``) and ``meta`` atomically as a bundle folder."""
    path = Path(path)
    now = datetime.now(timezone.utc)
    header = {"format": BUNDLE_FORMAT, "name": path.parent.name if path.name == "model" else path.name,
              "version": now.strftime("%Y%m%d-%H%M%S"), "task": TRANSLATION_TASK, "kind": "cyclegan",
              "artlens_version": __version__, "created": now.isoformat(timespec="seconds")}
    state = {f"{d}.{k}": v.detach().cpu().contiguous() for d in DIRECTIONS
             for k, v in generators[d].state_dict().items()}
    return write_bundle_dir(path, state, {**header, **meta}, weights_file=WEIGHTS_FILE)


def read_translator_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The checked ``artlens.json`` of an image-translation bundle, or a one-line error saying what ``path`` is."""
    meta = read_bundle_meta(path)
    if meta.get("task") != TRANSLATION_TASK:
        raise ArtlensError(f"{path}: is a {meta.get('task', 'classification')} bundle, not an image-translation "
                           f"(CycleGAN) bundle; train one with artlens cyclegan train")
    if not isinstance(meta.get("generator"), dict):
        raise ArtlensError(f"{Path(path) / META_FILE}: lacks the generator description")
    # Bundles written before ``upsample`` existed used the paper's transposed convolutions.
    upsample = meta["generator"].setdefault("upsample", "transpose")
    if upsample not in UPSAMPLING:
        raise ArtlensError(f"{Path(path) / META_FILE}: generator upsample {upsample!r} is not one of "
                           f"{', '.join(UPSAMPLING)} (written by a newer artlens?)")
    return meta


def load_translator(path: str | os.PathLike, *, device: str | torch.device = "cpu"
                    ) -> tuple[dict[str, ResnetGenerator], dict[str, Any]]:
    """Both generators of the bundle at ``path`` (eval mode, on ``device``) and its metadata."""
    path = Path(path)
    meta = read_translator_meta(path)
    spec = meta["generator"]
    try:
        state = load_file(str(path / WEIGHTS_FILE))
    except Exception as err:  # noqa: BLE001 - safetensors raises several types for bad files
        raise ArtlensError(f"{path / WEIGHTS_FILE}: not a valid safetensors file ({err})") from None
    generators = {}
    for d in DIRECTIONS:
        net = ResnetGenerator(ngf=int(spec["ngf"]), n_blocks=int(spec["n_blocks"]), upsample=spec["upsample"])
        own = {k[len(d) + 1:]: v.float() for k, v in state.items() if k.startswith(f"{d}.")}
        try:
            net.load_state_dict(own, strict=True)
        except RuntimeError as err:
            raise ArtlensError(f"{path / WEIGHTS_FILE}: the {d} weights do not match the generator in {META_FILE} "
                               f"({str(err).splitlines()[0]})") from None
        generators[d] = net.to(device).eval()
    return generators, meta


def builtin_translator() -> Path | None:
    """The photo -> Impressionism CycleGAN shipped inside the package, or None if this installation has none."""
    path = default_translator_path()
    return path if (path / META_FILE).is_file() else None


def find_translators(models_dir: str | os.PathLike) -> list[Path]:
    """Every image-translation bundle under ``models_dir`` (recursively), sorted by path."""
    return find_bundles(models_dir, read_translator_meta)
