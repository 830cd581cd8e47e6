"""Atomic checkpoints that hold everything needed to resume, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import ArtlensError
from ..outputs import sibling_name

__all__ = ["atomic_save_tensors", "capture_rng", "load_checkpoint", "restore_rng", "save_checkpoint"]


def _atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Write to a temporary file in the same folder, then rename: a kill never leaves a torn file."""
    path = Path(path)
    tmp = str(sibling_name(path))
    try:
        with open(tmp, "xb"):  # made here, it gets the umask's permissions; torch and safetensors write 0600
            mode = os.stat(tmp).st_mode
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Save without torch's per-record CRC32: the atomic rename already guarantees a whole file, and
    checksumming a VGG's weights plus optimizer state (over 1 GB) costs seconds every epoch."""
    crc = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        _atomic_write(path, lambda tmp: torch.save(state, tmp))
    finally:
        torch.serialization.set_crc32_options(crc)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtlensError(f"{path}: no checkpoint to resume from") from None
    except Exception as err:  # noqa: BLE001
        raise ArtlensError(f"{path}: unreadable checkpoint ({str(err).splitlines()[0]})") from None


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    _atomic_write(path, lambda tmp: save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp))


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def capture_rng() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(_tuplify(state["python"]))
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x
