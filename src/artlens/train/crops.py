"""Random crops of random images from a file list: the batches of the generative tasks (AdaIN, CycleGAN).

Every draw comes from one ``torch.Generator`` whose state the task checkpoints, so a resumed run
draws exactly what the uninterrupted run would have. An unreadable file is remembered in ``bad`` and
redrawn, never taken out of ``files``: the generator then makes the same draws whether the file was
found bad before or after a resume.

>>> import torch
>>> crops = RandomCrops([], size=128, load_size=192, gen=torch.Generator().manual_seed(0))
>>> crops.size, crops.flip
(128, False)
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..data.images import UnreadableImage, load_image
from ..errors import ArtlensError
from ..style.images import fit_size, to_tensor

__all__ = ["RandomCrops"]

log = logging.getLogger(__name__)


class RandomCrops:
    """``size`` px crops of images resized so their shorter side is ``load_size``; ``flip`` mirrors half of them."""

    def __init__(self, files: list[Path], size: int, load_size: int, gen: torch.Generator, *, flip: bool = False,
                 cache_limit: int = 2048) -> None:
        self.files, self.size, self.load_size, self.gen, self.flip = files, size, load_size, gen, flip
        self.bad: set[Path] = set()
        self.cache: dict[Path, torch.Tensor] = {}
        self.cache_limit = cache_limit

    def _load(self, path: Path) -> torch.Tensor | None:
        """The resized image (cached while the cache is small), or None for an unreadable file."""
        if path in self.cache:
            return self.cache[path]
        if path in self.bad:
            return None
        try:
            img = to_tensor(fit_size(load_image(path), self.load_size, longer=False))[0]
        except UnreadableImage as err:
            log.warning("skipping %s", err)
            self.bad.add(path)
            if len(self.bad) == len(self.files):
                raise ArtlensError(f"{path.parent}: no readable images left") from None
            return None
        if len(self.cache) < self.cache_limit:
            self.cache[path] = img
        return img

    def fixed(self, n: int) -> torch.Tensor:
        """Centre crops of the first ``n`` readable files: the same sample grid at every step and resume."""
        crops = []
        for path in self.files:
            img = self._load(path)
            if img is None:
                continue
            _, h, w = img.shape
            top, left = (h - self.size) // 2, (w - self.size) // 2
            crops.append(img[:, top:top + self.size, left:left + self.size])
            if len(crops) == n:
                break
        return torch.stack(crops)

    def batch(self, n: int) -> torch.Tensor:
        """``n`` random crops of random files (with replacement), drawn from ``gen``."""
        crops = []
        while len(crops) < n:
            path = self.files[int(torch.randint(len(self.files), (1,), generator=self.gen))]
            img = self._load(path)
            if img is None:
                continue
            _, h, w = img.shape
            top = int(torch.randint(h - self.size + 1, (1,), generator=self.gen))
            left = int(torch.randint(w - self.size + 1, (1,), generator=self.gen))
            crop = img[:, top:top + self.size, left:left + self.size]
            if self.flip and float(torch.rand((1,), generator=self.gen)) < 0.5:
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.stack(crops)
