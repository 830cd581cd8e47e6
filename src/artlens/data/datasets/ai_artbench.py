"""Kaggle's AI-ArtBench: the human ArtBench styles beside Latent and Standard Diffusion images of them."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..images import iter_image_files
from ..samples import Sample, subdirs
from ._base import AdapterResult, DatasetAdapter, choice, int_option

__all__ = ["ADAPTER", "AI_ARTBENCH_LABELS", "balance", "load_ai_artbench", "parse_ai_artbench_folder"]

_AI_FOLDER = re.compile(r"^AI_(?P<gen>[A-Za-z0-9]+)_(?P<style>.+)$")


@dataclass(frozen=True)
class _ArtBenchFolder:
    origin: str       # "AI" or "human"
    generator: str    # "LD", "SD", or "" for human
    style: str
    folder: str


def parse_ai_artbench_folder(name: str) -> _ArtBenchFolder:
    """``AI_SD_baroque`` -> AI / SD / baroque; ``baroque`` -> human / "" / baroque."""
    m = _AI_FOLDER.match(name)
    if m:
        return _ArtBenchFolder("AI", m["gen"], m["style"], name)
    return _ArtBenchFolder("human", "", name, name)


AI_ARTBENCH_LABELS: dict[str, Callable[[_ArtBenchFolder], str]] = {
    "style": lambda f: f.style,
    "origin": lambda f: f.origin,
    "origin_style": lambda f: f"{f.origin}_{f.style}",
    "generator_style": lambda f: f.folder if f.origin == "AI" else f"human_{f.style}",
}


def balance(samples: Sequence[Sample], keys: Sequence[Any], per_class: int, seed: int) -> list[Sample]:
    """At most ``per_class`` samples per key (seeded, independent of input order)."""
    groups: dict[Any, list[Sample]] = defaultdict(list)
    for s, k in zip(samples, keys):
        groups[k].append(s)
    out = []
    for k in sorted(groups, key=str):
        group = sorted(groups[k], key=lambda s: s.path)
        random.Random(f"{seed}:{k}").shuffle(group)
        out += group[:per_class]
    return out


def _ai_artbench_base(root: Path) -> Path | None:
    for c in [root, *subdirs(root)]:
        if (c / "train").is_dir() or (c / "test").is_dir():
            return c
    return None


def load_ai_artbench(root: Path, *, label: str = "origin_style", per_class: int | None = None,
                     seed: int = 0) -> AdapterResult:
    """AI-ArtBench: splits from ``train/``/``test/``, labels derived from the folder names."""
    name_of = AI_ARTBENCH_LABELS[choice("ai-artbench", "label", label, list(AI_ARTBENCH_LABELS))]
    base = _ai_artbench_base(root)
    if base is None:
        raise ADAPTER.wrong_root(root, "no train/ or test/ folder")
    samples, keys = [], []
    for split in ("train", "test"):
        for d in subdirs(base / split) if (base / split).is_dir() else []:
            info = parse_ai_artbench_folder(d.name)
            for p in iter_image_files(d):
                s = Sample(str(p), name_of(info), split)
                samples.append(s)
                keys.append((split, s.label, info.origin))
    if not samples:
        raise ADAPTER.wrong_root(root, "no images in train/<folder>/ or test/<folder>/")
    if per_class is not None:
        samples = balance(samples, keys, int_option("ai-artbench", "per_class", per_class, 1),
                          int_option("ai-artbench", "seed", seed, -2**63))
    return AdapterResult(samples)


ADAPTER = DatasetAdapter("ai-artbench",
                         "Kaggle AI-ArtBench: human ArtBench styles vs Latent/Standard Diffusion images",
                         "<root>/{train,test}/{<style>,AI_LD_<style>,AI_SD_<style>}/*.jpg",
                         load_ai_artbench,
                         {"label": "style | origin (AI/human) | origin_style (AI_baroque) | generator_style (AI_LD_baroque)",
                          "per_class": "at most N images per label and origin in each split (default: all)",
                          "seed": "seed for the per_class choice (default 0)"})
