"""Which backbone generalises to new painters? Artist-grouped cross-validation of the built-in recipe.

The WikiArt test split shares painters with training, so it rewards learning the painters; the
built-in model is judged on paintings from elsewhere. This script compares backbones on a criterion
that does not look at those: 5-fold cross-validation on ``shared/artdata/wikiart11`` grouped by
artist (``StratifiedGroupKFold``; no painter in both training and test folds). Each backbone gets
the built-in recipe:

* features: what the recipe's head sees, ``ArtClassifier.embed`` (pooled features + per-block
  channel mean/std, square-rooted and L2-normalised per group), for 4 views per painting (the
  original and 3 flip-rotate views);
* head: batch norm + linear, Adam lr 1e-3, weight decay 0.3, cosine over 40 epochs, keeping the
  epoch with the best loss on 10 % held-out painters.

The head is trained here on the cached features, outside ``artlens.fit``, so numbers differ
slightly from the pipeline's.

    python scripts/backbone_grouped_cv.py efficientnet_lite0 efficientnet_lite2 [--other-sources]

``--other-sources`` also trains on all of wikiart11 and scores ``scripts/data/other_sources.tsv``
(clear set). Features are cached in ``--out`` (default ``runs/backbone-cv``), one ``.npz`` per
backbone; Lite2 takes about 50 minutes to extract on 2 CPU cores, Lite0 about 20.

``--ensemble`` also scores the mean of the backbones' probabilities, the ensemble tried for the
built-in model (EfficientNet-Lite0, 1 and 2: 60.0 % grouped CV against 57.0 to 58.1 % alone; not
shipped, see docs/default_model.md):

    python scripts/backbone_grouped_cv.py efficientnet_lite0 efficientnet_lite1 efficientnet_lite2 --ensemble --other-sources

``--painter-weights 0.5`` weights each painting by ``n ** -0.5``, ``n`` being its painter's number
of paintings in its style, so that painters who fill a style count less (57.9 % at 0.5, 56.0 % at 1):

    python scripts/backbone_grouped_cv.py efficientnet_lite0 --painter-weights 0.5 --other-sources

``--correlations 4`` also tries second-order style statistics: the channel correlations (upper
off-diagonal of the centred Gram matrix, as in bilinear pooling) of ``blocks.0`` to ``blocks.3``,
one square-rooted, L2-normalised group per block, appended to the recipe's features.

    python scripts/backbone_grouped_cv.py efficientnet_lite0 --correlations 4 --other-sources

``--drop`` removes feature groups from what the head sees: ``pooled`` (the pooled final features,
the most subject-laden group) or ``blocks.N`` (that block's channel means and standard deviations).
Without the pooled features the grouped CV gains 1.4 but the other sources fall from 72.9 % to
57.8 %; without blocks 0-2 the CV loses 0.9 and the other sources fall to 62.0 % (docs/default_model.md):

    python scripts/backbone_grouped_cv.py efficientnet_lite0 --drop pooled --other-sources
    python scripts/backbone_grouped_cv.py efficientnet_lite0 --drop blocks.0 blocks.1 blocks.2 --other-sources
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler
from torch import nn

from artlens.config import ModelConfig
from artlens.data import build_transform, load_image
from artlens.models import build_classifier
from artlens.progress import progress_bar
from artlens.style import gram_matrix

from train_default_model import ARTDATA, CLEAR_SETS, ROOT  # the same data and the same "clear" other sources

VIEWS = 4


def channel_correlations(fmap: torch.Tensor) -> torch.Tensor:
    """Upper off-diagonal of the centred Gram matrix of a ``(B, C, H, W)`` map -> ``(B, C(C-1)/2)``
    (the style loss's ``gram_matrix``; its 1/C scale disappears in the per-group L2 normalisation)."""
    fmap = fmap.float()
    gram = gram_matrix(fmap - fmap.mean((2, 3), keepdim=True))
    rows, cols = torch.triu_indices(gram.shape[1], gram.shape[1], offset=1)
    return gram[:, rows, cols]


def read_tables() -> tuple[list[dict], list[dict]]:
    """The rows of wikiart11's ``METADATA.tsv`` (file, label, artist_slug) and of the clear other sources."""
    with (ARTDATA / "wikiart11" / "METADATA.tsv").open() as f:
        meta = list(csv.DictReader(f, delimiter="\t"))
    with (ROOT / "scripts" / "data" / "other_sources.tsv").open() as f:
        other = [r for r in csv.DictReader(f, delimiter="\t") if r["set"] in CLEAR_SETS]
    return meta, other


def recipe_classifier(backbone: str):
    """The built-in recipe's classifier on ``backbone`` (squashed input, style statistics of every block), in eval mode."""
    return build_classifier(ModelConfig(backbone=backbone, pretrained="auto", resize="squash", power_norm=True,
                                        style_layers=[f"blocks.{i}" for i in range(7)]), 11).eval()


def extract(backbone: str, out: Path, limit: int | None = None, correlations: int = 0) -> Path:
    """Cache what the built-in recipe's head sees (``ArtClassifier.embed``) for every painting (4 views)
    and every other-source painting (the original only); with ``correlations``, also the square-rooted,
    L2-normalised channel correlations of the first that many blocks, appended."""
    stem = backbone + (f"-corr{correlations}" if correlations else "") + (f"-limit{limit}" if limit else "")
    path = out / f"{stem}.npz"
    if path.exists():
        return path
    model = recipe_classifier(backbone)
    ev = build_transform(model.backbone.preprocessing, train=False)
    aug = build_transform(model.backbone.preprocessing, train=True, augment="flip-rotate")
    maps: dict[int, torch.Tensor] = {}
    for i in range(correlations):
        model.backbone.stage_module(f"blocks.{i}").register_forward_hook(
            lambda _m, _in, out, i=i: maps.__setitem__(i, out))

    def features(x: torch.Tensor) -> torch.Tensor:
        groups = [model.embed(x)]  # fills ``maps`` through the hooks
        for i in range(correlations):
            c = channel_correlations(maps[i])
            groups.append(F.normalize(c.sign() * c.abs().sqrt(), dim=1))
        return torch.cat(groups, dim=1)

    @torch.inference_mode()
    def run(paths: list[Path], views: list, desc: str) -> np.ndarray:
        torch.manual_seed(0)
        rows = []
        with progress_bar(len(paths), f"{backbone} {desc}") as advance:
            for start in range(0, len(paths), 16):
                batch = [[v(img) for v in views] for img in map(load_image, paths[start:start + 16])]
                feats = features(torch.stack([x for vs in batch for x in vs])).numpy()
                rows.append(feats.reshape(len(batch), len(views), -1))
                advance(len(batch))
        return np.concatenate(rows)

    meta, other = read_tables()
    if limit:  # every k-th row, so that every style and many painters stay in
        meta, other = meta[:: max(1, len(meta) // limit)], other[:: max(1, len(other) // limit)]
    xw = run([ARTDATA / "wikiart11" / r["file"] for r in meta], [ev] + [aug] * (VIEWS - 1), "wikiart11")
    xo = run([ARTDATA / r["path"] for r in other], [ev], "other sources")
    out.mkdir(parents=True, exist_ok=True)
    np.savez(path, xw=xw, label=[r["label"] for r in meta], artist=[r["artist_slug"] for r in meta],
             xo=xo[:, 0], olabel=[r["label"] for r in other])
    return path


def painter_weights(y: np.ndarray, artists: np.ndarray, alpha: float) -> np.ndarray | None:
    """``n_painter ** -alpha`` within each style (every style the same total weight, mean 1); ``None`` at 0."""
    if not alpha:
        return None
    n = Counter(zip(y, artists))
    w = np.array([n[key] ** -alpha for key in zip(y, artists)])
    for c in np.unique(y):
        w[y == c] *= (y == c).sum() / w[y == c].sum()
    return (w / w.mean()).astype(np.float32)


def _loss(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    return F.cross_entropy(logits, y) if w is None else (F.cross_entropy(logits, y, reduction="none") * w).mean()


def train_head(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, n_classes: int,
               epochs: int = 40, w: np.ndarray | None = None, w_val: np.ndarray | None = None) -> nn.Module:
    """Batch norm + linear, Adam (lr 1e-3, weight decay 0.3), cosine; keeps the best-val-loss epoch.
    ``w``/``w_val``: per-sample weights of the training and validation losses."""
    torch.manual_seed(0)
    head = nn.Sequential(nn.BatchNorm1d(x.shape[-1]), nn.Linear(x.shape[-1], n_classes))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=0.3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    x, y, x_val, y_val = map(torch.from_numpy, (x, y, x_val, y_val))
    w, w_val = (None if a is None else torch.from_numpy(a) for a in (w, w_val))
    best, best_state = float("inf"), None
    for _ in range(epochs):
        head.train()
        for idx in torch.randperm(len(x)).split(64):
            if len(idx) > 1:
                loss = _loss(head(x[idx]), y[idx], None if w is None else w[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        sched.step()
        head.eval()
        with torch.no_grad():
            val_loss = _loss(head(x_val), y_val, w_val).item()
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    return head.eval()


def fit_on(rows: np.ndarray, feats: np.ndarray, y: np.ndarray, artists: np.ndarray, n_classes: int,
           alpha: float = 0.0) -> nn.Module:
    """Train on ``rows`` (all views of ``feats``, ``(N, V, D)``), validating on the original view of 10 %
    of their painters."""
    split = GroupShuffleSplit(1, test_size=0.1, random_state=0).split(rows, groups=artists[rows])
    tr, va = (rows[i] for i in next(split))
    x = feats[tr].reshape(-1, feats.shape[-1])
    w = painter_weights(y[tr], artists[tr], alpha)
    views = feats.shape[1]
    return train_head(x, np.repeat(y[tr], views), feats[va][:, 0], y[va], n_classes,
                      w=None if w is None else np.repeat(w, views), w_val=painter_weights(y[va], artists[va], alpha))


def feature_groups(backbone: str) -> dict[str, slice]:
    """Where each group of the recipe's features lies: ``pooled``, then ``blocks.N`` (its channel
    means, then its stds), in the order ``ArtClassifier.embed`` concatenates them."""
    model = recipe_classifier(backbone)
    groups, start = {"pooled": slice(0, model.backbone.num_features)}, model.backbone.num_features
    for name, width in zip(model.style_layers, model.style_widths):
        groups[name], start = slice(start, start + width), start + width
    return groups


def kept_columns(groups: dict[str, slice], drop: list[str], width: int) -> np.ndarray:
    """The columns of ``width`` cached features left once the groups named in ``drop`` are removed
    (columns after the last group, the ``--correlations``, are kept)."""
    unknown = set(drop) - set(groups)
    if unknown:
        raise SystemExit(f"--drop: unknown group(s) {sorted(unknown)}; the groups are {list(groups)}")
    end = max(s.stop for s in groups.values())
    return np.concatenate([np.arange(s.start, s.stop) for name, s in groups.items() if name not in drop]
                          + [np.arange(end, width)])


def evaluate_backbone(npz: Path, other_sources: bool, alpha: float = 0.0, drop: list[str] | None = None,
                      groups: dict[str, slice] | None = None) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """The backbone's scores, with its cross-validated and other-source class probabilities;
    ``drop``: feature groups (named in ``groups``, see ``feature_groups``) the head does not see."""
    d = dict(np.load(npz))  # each array read from the archive once
    if drop:
        keep = kept_columns(groups, drop, d["xw"].shape[-1])
        d["xw"], d["xo"] = d["xw"][..., keep], d["xo"][:, keep]
    result, probs, other = evaluate_features(d, d["xw"], other_sources, alpha)
    return {"features": npz.name, "columns": d["xw"].shape[-1], **result}, probs, other


def fit_logistic(rows: np.ndarray, feats: np.ndarray, y: np.ndarray, artists: np.ndarray, n_classes: int,
                 C: float) -> nn.Module:
    """A converged convex head on ``rows`` (all views): scikit-learn's ``LogisticRegression`` (lbfgs,
    L2 strength ``1 / C``) on the standardised features, returned as the one linear layer it is
    (the standardisation folded into its weights), so that ``evaluate_features`` scores it exactly as it
    scores the recipe's head, and its predictions are scikit-learn's own.
    ``artists`` is unused: there is no validation split, nothing to select."""
    views = feats.shape[1]
    x = feats[rows].reshape(-1, feats.shape[-1])
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=C, max_iter=3000).fit(scaler.transform(x), np.repeat(y[rows], views))
    weight = lr.coef_ / scaler.scale_
    head = nn.Linear(x.shape[-1], n_classes).double()
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight))
        head.bias.copy_(torch.from_numpy(lr.intercept_ - weight @ scaler.mean_))
    return nn.Sequential(Float64(), head).eval()


class Float64(nn.Module):
    """Scores in float64, as scikit-learn does, so that folding the scaler in changes no prediction."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.double()


Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], nn.Module]


def evaluate_features(d, feats: np.ndarray, other_sources: bool, alpha: float = 0.0, fit: Fit | None = None
                      ) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """Grouped-CV (and other-source) scores and class probabilities of the recipe's head (or of
    ``fit(rows, feats, y, artists, n_classes)``) trained on ``feats`` ``(N, V, D)``, the wikiart11
    views of the cached features ``d``."""
    fit = fit or (lambda rows, f, y, artists, n: fit_on(rows, f, y, artists, n, alpha))
    classes = sorted(set(d["label"]))
    y = np.array([classes.index(label) for label in d["label"]])
    artists = d["artist"]
    probs = np.zeros((len(y), len(classes)), dtype=np.float32)
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=0).split(y, y, artists)
    for train, test in folds:
        head = fit(train, feats, y, artists, len(classes))
        with torch.no_grad():
            probs[test] = head(torch.from_numpy(feats[test][:, 0])).softmax(1).numpy()
    result = {"grouped_cv_accuracy": round(float((probs.argmax(1) == y).mean()), 4), "n": len(y)}
    other = None
    if other_sources:
        head = fit(np.arange(len(y)), feats, y, artists, len(classes))
        yo = np.array([classes.index(label) for label in d["olabel"]])
        with torch.no_grad():
            other = head(torch.from_numpy(d["xo"])).softmax(1).numpy()
        result["other_sources_accuracy"] = round(float((other.argmax(1) == yo).mean()), 4)
        result["other_sources_n"] = len(yo)
    return result, probs, other


def ensemble_scores(npzs: list[Path], probs: list[np.ndarray], others: list[np.ndarray | None]) -> dict:
    """An ensemble of the backbones: the mean of their probabilities (as ``artlens ensemble`` combines bundles)."""
    d = np.load(npzs[0])
    classes = sorted(set(d["label"]))
    y = np.array([classes.index(label) for label in d["label"]])
    result = {"ensemble": [p.name for p in npzs], "grouped_cv_accuracy": round(float((sum(probs).argmax(1) == y).mean()), 4)}
    if others[0] is not None:
        yo = np.array([classes.index(label) for label in d["olabel"]])
        result["other_sources_accuracy"] = round(float((sum(others).argmax(1) == yo).mean()), 4)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backbones", nargs="+")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "backbone-cv")
    ap.add_argument("--other-sources", action="store_true", help="also score the other-source paintings")
    ap.add_argument("--limit", type=int, default=None, help="about N paintings of each set only (a quick check)")
    ap.add_argument("--correlations", type=int, default=0, metavar="N",
                    help="also append the channel correlations of blocks.0 .. blocks.N-1")
    ap.add_argument("--painter-weights", type=float, default=0.0, metavar="ALPHA",
                    help="weight each painting by n_painter^-ALPHA within its style (0.5, 1 tried; 0 = off)")
    ap.add_argument("--drop", nargs="+", default=[], metavar="GROUP",
                    help="feature groups the head does not see: pooled, blocks.0 ... blocks.6")
    ap.add_argument("--ensemble", action="store_true",
                    help="also score the mean of the backbones' probabilities (an ensemble)")
    args = ap.parse_args()
    npzs, probs, others = [], [], []
    for name in args.backbones:
        npzs.append(extract(name, args.out, args.limit, args.correlations))
        result, p, other = evaluate_backbone(npzs[-1], args.other_sources, args.painter_weights, args.drop,
                                             feature_groups(name) if args.drop else None)
        probs.append(p)
        others.append(other)
        print(json.dumps(result), flush=True)
    if args.ensemble:
        print(json.dumps(ensemble_scores(npzs, probs, others)), flush=True)


if __name__ == "__main__":
    main()
