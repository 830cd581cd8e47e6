"""Shared fixtures: tiny trees of real artworks from ``../shared/artdata`` (copied, never written to)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

ARTDATA = Path(os.environ.get("ARTLENS_ARTDATA", Path(__file__).resolve().parents[2] / "shared" / "artdata"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _cli_logging_left_behind():
    """Take away the log handler a CLI command installs (``artlens.cli.app._setup_logging``) once its
    test is over: it writes to that test's captured stderr, which pytest then closes, and a server's
    worker thread logging later would print "Logging error ... I/O operation on closed file"."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before and type(handler).__name__ in ("StreamHandler", "RichHandler"):
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def artdata() -> Path:
    if not (ARTDATA / "wikiart11").is_dir():
        pytest.fail(f"{ARTDATA}: real test images not found (set ARTLENS_ARTDATA to the artdata folder)")
    return ARTDATA


def copy_subset(artdata: Path, dest: Path, classes: list[str], per_class: int, *, size: int | None = 96,
                source: str = "wikiart11") -> Path:
    """Copy the first ``per_class`` images of each class, downscaled to ``size`` px for speed."""
    for c in classes:
        (dest / c).mkdir(parents=True, exist_ok=True)
        for p in sorted((artdata / source / c).glob("*.jpg"))[:per_class]:
            if size is None:
                shutil.copy(p, dest / c / p.name)
            else:
                with Image.open(p) as img:
                    img.convert("RGB").resize((size, size)).save(dest / c / p.name, quality=92)
    return dest


@pytest.fixture(scope="session")
def tiny_tree(artdata, tmp_path_factory) -> Path:
    """3 styles x 10 real paintings at 96 px."""
    return copy_subset(artdata, tmp_path_factory.mktemp("tiny") / "styles", ["Baroque", "Pop_Art", "Ukiyo_e"], 10)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A local weights file for ``tiny_cnn``, standing in for pretrained weights (no network)."""
    from safetensors.torch import save_file

    from artlens.models import create_backbone

    torch.manual_seed(0)
    body = create_backbone("tiny_cnn", pretrained="none").body
    path = tmp_path_factory.mktemp("weights") / "tiny_cnn.safetensors"
    save_file(body.state_dict(), str(path))
    return path


def tiny_config(data: Path, out: Path, **overrides):
    """A fast config: tiny_cnn at 64 px, no workers, a few epochs."""
    from artlens import TrainConfig

    raw = {"data": {"path": str(data), "num_workers": 0, "batch_size": 8, "augment": "flip"},
           "model": {"backbone": "tiny_cnn", "pretrained": "none"},
           "strategy": {"name": "scratch"}, "optim": {"name": "adamw", "lr": 0.01},
           "epochs": 2, "out": str(out)}
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            raw.setdefault(section, {})[field] = value
        else:
            raw[key] = value
    return TrainConfig.from_dict(raw)


def fit_killed_after(cfg, monkeypatch, saves: int = 2) -> None:
    """Run ``fit(cfg)`` as if the process were killed right after its ``saves``-th checkpoint."""
    from artlens.train import loop

    real_save, done = loop.save_checkpoint, {"n": 0}

    def save_then_die(state, path):
        real_save(state, path)
        done["n"] += 1
        if done["n"] == saves:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        loop.fit(cfg, show_progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)


@pytest.fixture
def figures(monkeypatch):
    """Every matplotlib figure an artlens writer saves, kept open for the test to read."""
    import artlens.viz.figures as viz

    saved = []

    def keep(fig, path):
        saved.append(fig)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=40)
        return Path(path)

    monkeypatch.setattr(viz, "_save", keep)
    yield saved
    for fig in saved:
        viz.plt.close(fig)


def figure_texts(fig) -> str:
    """All text a figure shows (titles, labels, annotations, legend entries, subfigure titles)."""
    found = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return "\n".join(t for t in found if t)
