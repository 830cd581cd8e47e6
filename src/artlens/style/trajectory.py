"""Style trajectories (ArtBench study 4.3, Figures 10-12): where does a painting go as alpha grows?

Each (content, style) pair is stylised with AdaIN at several strengths ``alpha``; every result is
embedded by a classifier at several layers (channel means of the layer's feature map) and projected
into that layer's 2-D PCA space, fitted (scikit-learn) on a reference set of the two classes. The
paths, one panel per layer, show whether and where a layer "sees" the style change: in the study
every path starts in the content's class and ends in the style's, and deeper layers order the
intermediate alphas along a clean gradient.

>>> from artlens.style.trajectory import TrajectoryConfig, run_trajectory
>>> cfg = TrajectoryConfig(classifier="runs/vgg/model", pairs="pairs.csv", reference="paintings/test",
...                        adain=AdainConfig(decoder="runs/adain/decoder"), out="runs/traj")
>>> run_trajectory(cfg)                                                    # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.samples import read_utf8
from ..errors import ArtlensError
from ..inference import default_device
from .adain import AdainConfig, AdainStylizer, builtin_decoder
from .images import fit_size, open_image

__all__ = ["TrajectoryConfig", "TrajectoryResult", "read_pairs", "run_trajectory"]


@dataclass
class TrajectoryConfig:
    classifier: str = ""
    """Classifier bundle whose layers are studied ("" = the built-in WikiArt style model)."""
    pairs: str = ""
    """CSV/TSV file of ``content,style`` image paths (relative to the file's folder; header optional)."""
    reference: str = ""
    """Class-folder tree (``<class>/*.jpg``) on which each layer's PCA is fitted."""
    out: str = "runs/trajectory"
    """Output folder."""
    alphas: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    """Style strengths, each in [0, 1]."""
    layers: list[str] | None = None
    """Layers of the classifier (aliases, stages or module paths); default: its stages."""
    classes: list[str] | None = None
    """Sub-folders of ``reference`` to use (default: all, ideally the two classes of the study)."""
    per_class: int = 100
    """Reference images per class."""
    adain: AdainConfig = field(default_factory=lambda: AdainConfig(content_size=256, style_size=256))
    """How the pairs are stylised: the decoder (default: the built-in one) and the sizes (256 px here: the
    classifier sees 224 px); its ``alpha`` is replaced by each of ``alphas``."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.alphas or any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ArtlensError(f"--alphas must be values in [0, 1], got {self.alphas}")
        if isinstance(self.adain, dict):  # from a YAML file or the command line's nested values
            self.adain = AdainConfig(**{"content_size": 256, "style_size": 256, **self.adain})
        for name in ("pairs", "reference"):
            if not getattr(self, name):
                raise ArtlensError(f"--{name} is required")


@dataclass
class TrajectoryResult:
    figure: Path
    strips: list[Path]
    data: dict


def read_pairs(path: str | os.PathLike) -> list[tuple[Path, Path]]:
    """``content,style`` rows (comma or tab separated); relative paths are relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise ArtlensError(f"--pairs {path}: file not found")
    text = read_utf8(path, "the pairs file")  # Excel's "CSV UTF-8" starts with a BOM
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first else ","
    pairs = []
    for i, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
        row = [c.strip() for c in row if c.strip()]
        if not row or row[0].startswith("#") or (i == 1 and row[0].lower() == "content"):
            continue
        if len(row) != 2:
            raise ArtlensError(f"{path}:{i}: expected 'content,style', got {len(row)} field(s)")
        c, s = (Path(p) if Path(p).is_absolute() else path.parent / p for p in row)
        for p in (c, s):
            if not p.is_file():
                raise ArtlensError(f"{path}:{i}: image {p} not found")
        pairs.append((c, s))
    if not pairs:
        raise ArtlensError(f"--pairs {path}: no (content, style) pairs in the file")
    return pairs


def _reference_images(root: str, classes: list[str] | None, per_class: int) -> dict[str, list[Path]]:
    from ..data.images import iter_image_files

    root_path = Path(root)
    if not root_path.is_dir():
        raise ArtlensError(f"--reference {root}: not a folder of class sub-folders")
    available = sorted(p.name for p in root_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    chosen = classes or available
    missing = [c for c in chosen if c not in available]
    if missing:
        raise ArtlensError(f"--reference {root}: no class folder {missing[0]!r}; found: {', '.join(available)}")
    out = {c: iter_image_files(root_path / c)[:per_class] for c in chosen}
    empty = [c for c, files in out.items() if not files]
    if empty or len(out) < 2:
        raise ArtlensError(f"--reference {root}: need images of at least two classes (empty: {', '.join(empty) or '-'})")
    return out


class _Embedder:
    """Channel means of several layers of a classifier, from PIL images, in one forward pass each batch."""

    def __init__(self, bundle_dir: str, layers: list[str] | None, device: str | torch.device) -> None:
        from ..data.transforms import build_transform
        from ..models import load_bundle
        from ..models.layers import LayerTaps

        try:
            self.bundle = load_bundle(bundle_dir or None, device=device)
        except ArtlensError as err:  # e.g. an AdaIN decoder given as the classifier: name the flag
            raise ArtlensError(f"--classifier {err}") from None
        self.layers = layers or list(self.bundle.model.backbone.stages)
        if not self.layers:
            raise ArtlensError(f"{bundle_dir}: the classifier's backbone has no stages; pass --layers")
        self.taps = LayerTaps(self.bundle.model, self.layers)
        self.transform = build_transform(self.bundle.preprocessing)
        self.device = device

    @torch.no_grad()
    def __call__(self, images: list[Image.Image], batch: int = 16) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {name: [] for name in self.layers}
        for i in range(0, len(images), batch):
            x = torch.stack([self.transform(im) for im in images[i:i + batch]]).to(self.device)
            for name, fmap in self.taps(x).items():
                pooled = fmap.float().flatten(2).mean(-1) if fmap.dim() == 4 else fmap.float().flatten(1)
                out[name].append(pooled.cpu().numpy())
        return {k: np.concatenate(v) for k, v in out.items()}


def _strip(content: Image.Image, style: Image.Image, results: list[Image.Image], alphas: list[float], path: Path) -> Path:
    """Figure 10: content, the stylised images at each alpha, then the style image."""
    h = results[0].height
    whole_style = style.resize((max(1, round(style.width * h / style.height)), h), Image.BICUBIC)  # portraits too
    tiles = [fit_size(content, h, longer=False).resize(results[0].size)] + results + [whole_style]
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), h), "white")
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    strip.save(path)
    return path


def _plot(data: dict, alphas: list[float], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(data["layers"])
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 4.2), squeeze=False)
    cmap, norm = plt.get_cmap("viridis"), plt.Normalize(min(alphas), max(alphas))  # points and bar alike
    for ax, layer in zip(axes[0], layers):
        d = data["layers"][layer]
        for k, (cls, pts) in enumerate(d["reference"].items()):
            pts = np.asarray(pts)
            ax.scatter(pts[:, 0], pts[:, 1], s=10, alpha=0.35, color=f"C{k}", label=cls)
        for path_pts in d["paths"]:
            p = np.asarray(path_pts)
            ax.plot(p[:, 0], p[:, 1], color="black", lw=1, alpha=0.7)
            ax.scatter(p[:, 0], p[:, 1], c=[cmap(norm(a)) for a in alphas], s=28, edgecolors="black", linewidths=0.5, zorder=3)
        ev = d["explained_variance"]
        ax.set_title(f"{layer} (PC1 {ev[0]:.0%}, PC2 {ev[1]:.0%})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=8, loc="best")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    fig.colorbar(sm, ax=axes[0].tolist(), label="alpha", shrink=0.8)
    fig.suptitle("AdaIN style trajectories in each layer's PCA space", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def run_trajectory(cfg: TrajectoryConfig, *, callback: Callable[[int, int], None] | None = None) -> TrajectoryResult:
    """Stylise, embed, project and draw; writes ``trajectories.png``, ``trajectories.json`` and one strip per pair."""
    from sklearn.decomposition import PCA

    from ..data.images import UnreadableImage, load_image

    device = default_device(cfg.device)  # "auto" and typos resolved once, for both networks
    pairs = read_pairs(cfg.pairs)
    reference = _reference_images(cfg.reference, cfg.classes, cfg.per_class)
    embedder = _Embedder(cfg.classifier, cfg.layers, device)
    stylizer = AdainStylizer.load(cfg.adain.decoder or None, device=device, weights=cfg.adain.weights)
    out = Path(cfg.out)
    total, done = len(pairs) * len(cfg.alphas), 0
    stylised: list[list[Image.Image]] = []
    strips = []
    for i, (c_path, s_path) in enumerate(pairs):
        content, style = open_image(c_path, "content image"), open_image(s_path, "style image")
        row = []
        for a in cfg.alphas:
            row.append(stylizer.stylize(content, [style], alpha=a, content_size=cfg.adain.content_size,
                                        style_size=cfg.adain.style_size, preserve_color=cfg.adain.preserve_color,
                                        crop=cfg.adain.crop))
            done += 1
            if callback:
                callback(done, total)
        strips.append(_strip(content, style, row, cfg.alphas, out / "strips" / f"pair{i:02d}_{c_path.stem}__{s_path.stem}.png"))
        stylised.append(row)
    ref_images, ref_labels = [], []
    for cls, files in reference.items():
        for f in files:
            try:
                ref_images.append(load_image(f))
                ref_labels.append(cls)
            except UnreadableImage:
                continue
    ref_feats = embedder(ref_images)
    path_feats = embedder([im for row in stylised for im in row])
    labels = np.asarray(ref_labels)
    data: dict = {"classifier": embedder.bundle.path, "decoder": cfg.adain.decoder or str(builtin_decoder()), "alphas": cfg.alphas,
                  "pairs": [[str(c), str(s)] for c, s in pairs], "layers": {}}
    for layer in embedder.layers:
        pca = PCA(n_components=2, random_state=0).fit(ref_feats[layer])
        ref_2d = pca.transform(ref_feats[layer])
        paths = pca.transform(path_feats[layer]).reshape(len(pairs), len(cfg.alphas), 2)
        centroids = {cls: ref_2d[labels == cls].mean(0) for cls in reference}
        data["layers"][layer] = {
            "explained_variance": pca.explained_variance_ratio_.tolist(),
            "reference": {cls: ref_2d[labels == cls].tolist() for cls in reference},
            "centroids": {cls: c.tolist() for cls, c in centroids.items()},
            "paths": paths.tolist(),
            "path_length": float(np.linalg.norm(np.diff(paths, axis=1), axis=-1).sum(-1).mean()),
        }
    figure = _plot(data, cfg.alphas, out / "trajectories.png")
    (out / "trajectories.json").write_text(json.dumps(data, indent=1))
    return TrajectoryResult(figure=figure, strips=strips, data=data)
