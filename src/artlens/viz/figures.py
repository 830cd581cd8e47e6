"""PNG figures that people would rather see than read.

All writers take plain data (lists, arrays, paths) and a file name, so they are reusable by every
command and never import models.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..data.images import UnreadableImage, load_image  # noqa: E402

__all__ = ["plot_confusion_matrix", "plot_curves", "plot_gallery", "plot_pairs", "plot_reliability"]


def plot_confusion_matrix(cm: Sequence[Sequence[int]], classes: Sequence[str], path: str | os.PathLike,
                          *, title: str = "Confusion matrix") -> Path:
    """Row-normalised confusion matrix; stays readable up to ~100 classes (sizes scale with n)."""
    cm = np.asarray(cm, dtype=float)
    n = len(classes)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = max(6.0, 0.32 * n + 2.5)
    font = 9 if n <= 20 else max(4.5, 9 - (n - 20) * 0.08)
    fig, ax = plt.subplots(figsize=(side, side * 0.92))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=font)  # as in the data: Pop_Art, not "Pop Art"
    ax.set_yticks(range(n), classes, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=font - 1,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    return _save(fig, path)


def plot_curves(history: Sequence[dict], path: str | os.PathLike, *, title: str = "", best_epoch: int | None = None,
                best_label: str = "best epoch") -> Path:
    """Loss and accuracy per epoch (train and validation), with phase changes marked.

    ``title`` names the run (a folder of curves.png files is otherwise anonymous); ``best_epoch`` (the
    epoch the bundle holds) gets a vertical line and a marker on each validation curve, labelled
    ``best_label`` (e.g. "best val_loss").
    """
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.3 if title else 4))
    for key, ax in (("loss", ax_loss), ("acc", ax_acc)):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = [h.get(f"{split}_{key}") for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=split, ms=3)
        best = next((h for h in history if h["epoch"] == best_epoch), None)
        if best is not None:
            ax.axvline(best_epoch, color="tab:green", lw=1.2, alpha=0.6, zorder=0)
            value = best.get(f"val_{key}", best.get(f"train_{key}"))
            if value is not None:
                ax.plot([best_epoch], [value], marker="*", ms=14, color="tab:green", mec="black", ls="none",
                        label=f"{best_label} (epoch {best_epoch})", zorder=5)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
        ax.set_ylabel("accuracy" if key == "acc" else "loss")
        ax.grid(alpha=0.3)
        ax.legend()
    for prev, cur in zip(history, history[1:]):
        if prev.get("phase") != cur.get("phase"):
            for ax in (ax_loss, ax_acc):
                ax.axvline(cur["epoch"] - 0.5, color="grey", ls="--", lw=1)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_gallery(items: Sequence[tuple[str, str]], path: str | os.PathLike, *, columns: int = 6,
                 title: str = "") -> Path:
    """A grid of images, each ``(image_path, caption)``; unreadable files show as a grey tile."""
    n = max(1, len(items))
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    # Constrained layout leaves room for each caption; tight_layout let a two-line caption run into
    # the images of the row above.
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.0 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (img_path, caption) in zip(axes.flat, items):
        _thumbnail(ax, img_path, caption, fontsize=7.5)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _thumbnail(ax: Any, img_path: str, caption: str, *, fontsize: float) -> None:
    """A 256 px thumbnail of the file with its caption; a grey square for a file that cannot be read."""
    try:
        img = load_image(img_path, draft_size=256)
        img.thumbnail((256, 256))
        ax.imshow(img)
    except UnreadableImage:
        ax.imshow(np.full((8, 8, 3), 0.5))
    ax.set_title(caption, fontsize=fontsize)


def plot_pairs(pairs: Sequence[tuple[tuple[str, str], tuple[str, str], str]], path: str | os.PathLike, *,
               title: str = "", per_row: int = 2) -> Path:
    """Image pairs side by side, each ``((path_a, caption_a), (path_b, caption_b), pair_caption)``.

    Each pair is framed and titled as one unit (``pair_caption``: what the two have in common or where
    they disagree), so a pair is never read across the neighbouring one.
    """
    n = max(1, len(pairs))
    cols = min(per_row, n)
    rows = (n + cols - 1) // cols
    fig = plt.figure(figsize=(5.4 * cols, 3.5 * rows + (0.4 if title else 0)), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(rows, cols, wspace=0.04, hspace=0.04)).ravel()
    for sub in subfigs:
        sub.set_facecolor("white")
    for sub, ((path_a, cap_a), (path_b, cap_b), pair_caption) in zip(subfigs, pairs):
        sub.set_facecolor("0.95")
        axes = sub.subplots(1, 2)
        for ax, img_path, caption in zip(axes, (path_a, path_b), (cap_a, cap_b)):
            ax.axis("off")
            _thumbnail(ax, img_path, caption, fontsize=7)
        sub.suptitle(pair_caption, fontsize=8.5)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_reliability(probs: dict[str, np.ndarray], labels: Sequence[int], path: str | os.PathLike, *,
                     n_bins: int = 10) -> Path:
    """Reliability diagram: accuracy against confidence per bin, one line per set of probabilities
    (e.g. before and after temperature scaling); the diagonal is perfect calibration, and the bars
    below show how many images each bin holds."""
    labels = np.asarray(labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5, 5.6), height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    width = (edges[1] - edges[0]) / (len(probs) + 1)
    for k, (name, p) in enumerate(probs.items()):
        p = np.asarray(p)
        conf, right = p.max(axis=1), p.argmax(axis=1) == labels
        idx = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
        acc = [right[idx == b].mean() if (idx == b).any() else np.nan for b in range(n_bins)]
        mean_conf = [conf[idx == b].mean() if (idx == b).any() else np.nan for b in range(n_bins)]
        ax.plot(mean_conf, acc, "-o", ms=4, label=name)
        ax_n.bar(edges[:-1] + (k + 0.5) * width, np.bincount(idx, minlength=n_bins), width=width, align="edge",
                 label=name)
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"reliability on {len(labels)} held-out images")
    ax_n.set_xlabel("confidence (top-1 probability)")
    ax_n.set_ylabel("images")
    ax_n.set_xticks(centres.round(2)[::2])
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
