"""How many cached views should the built-in recipe's head train on? Several draws of each choice.

The built-in model's head trains on 4 cached views per painting: the original and 3 augmented
(flip-rotate) ones. Retraining it with other augmented views moved its other-source accuracy by
several points, so one run per choice cannot say whether more (or fewer) views help. This script
caches EfficientNet-Lite0's ``ArtClassifier.embed`` (what the recipe's head sees) for every
wikiart11 painting: the original and ``--augmented`` flip-rotate views, each drawn from its own seed
(painting and view), and the original of every other-source painting. It then trains the recipe's
head (``backbone_grouped_cv.evaluate_features``: batch norm + linear, Adam, weight decay 0.3, cosine,
best validation loss on 10 % held-out painters) for each choice and draw:

* ``1``: the original only (one draw: nothing is random);
* ``2``: original + 1 augmented view (draws: augmented view 1, 4, 7, ...);
* ``4``: original + 3 (the shipped recipe; draws: views 1-3, 4-6, ...);
* ``12``: original + 11 (draws: 11 consecutive views from view 1, 4, 7, ..., cyclically).

and prints, per draw, the artist-grouped 5-fold cross-validation accuracy on wikiart11 and the
accuracy on the clear other sources (``scripts/data/other_sources.tsv``: all of them, and each subset:
``proxy_core`` the Kaggle thumbnails, ``aic`` the Art Institute paintings, ``style_refs``), then the
mean and standard deviation over draws. Extraction takes about 45 minutes on 2 CPU cores for 15
augmented views, each head 10 s to 90 s.

    python scripts/cached_views.py --views 1 2 4 12

``--logistic-c`` trains a converged convex head instead of the recipe's (which stops on its way, at
the best validation loss): scikit-learn's ``LogisticRegression`` on the standardised features
(``backbone_grouped_cv.fit_logistic``). With several values of C, the one with the best grouped
cross-validation on the first draw is used for all draws; the other sources play no part in the
choice. About 20 minutes on the cached features:

    python scripts/cached_views.py --views 4 --logistic-c 0.0003 0.001 0.003 0.01 0.03 0.1

``--bag`` also scores one model made of all the draws' heads (the mean of their probabilities):

    python scripts/cached_views.py --views 4 --bag
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from artlens.data import build_transform, load_image
from artlens.progress import progress_bar

from backbone_grouped_cv import evaluate_features, fit_logistic, read_tables, recipe_classifier
from train_default_model import ARTDATA, ROOT


def extract(out: Path, augmented: int, limit: int | None = None) -> Path:
    """Cache the original and ``augmented`` views of every wikiart11 painting, and the other sources
    (with ``limit``, about that many of each, for a quick check)."""
    path = out / (f"efficientnet_lite0-views{augmented + 1}" + (f"-limit{limit}" if limit else "") + ".npz")
    if path.exists():
        return path
    model = recipe_classifier("efficientnet_lite0").to(memory_format=torch.channels_last)
    plain = build_transform(model.backbone.preprocessing)
    aug = build_transform(model.backbone.preprocessing, train=True, augment="flip-rotate")

    def view(img, painting: int, v: int) -> torch.Tensor:
        if v == 0:
            return plain(img)
        torch.manual_seed(1_000_003 * v + painting)  # each painting's view v, whatever the batching
        return aug(img)

    @torch.inference_mode()
    def run(paths: list[Path], ids: list[int], views: int, desc: str) -> np.ndarray:
        rows = []
        with progress_bar(len(paths), desc) as advance:
            for start in range(0, len(paths), 16):
                imgs = [load_image(p) for p in paths[start:start + 16]]
                x = torch.stack([view(img, row, v) for row, img in zip(ids[start:start + 16], imgs)
                                 for v in range(views)])
                f = model.embed(x.to(memory_format=torch.channels_last)).numpy()
                rows.append(f.reshape(len(imgs), views, -1))
                advance(len(imgs))
        return np.concatenate(rows)

    meta, other = read_tables()
    keep = range(0, len(meta), max(1, len(meta) // limit) if limit else 1)  # every k-th: all styles stay in
    meta = [meta[i] for i in keep]
    other = other[:: max(1, len(other) // limit) if limit else 1]
    xw = run([ARTDATA / "wikiart11" / r["file"] for r in meta], list(keep), augmented + 1, "wikiart11 views")
    xo = run([ARTDATA / r["path"] for r in other], list(range(len(other))), 1, "other sources")[:, 0]
    out.mkdir(parents=True, exist_ok=True)
    np.savez(path, xw=xw, label=[r["label"] for r in meta], artist=[r["artist_slug"] for r in meta], xo=xo,
             olabel=[r["label"] for r in other], oset=[r["set"] for r in other])
    return path


def draws(views: int, augmented: int) -> list[list[int]]:
    """The view indices (0 = the original) of each draw of a ``views``-view training set: draw ``d``
    takes ``views - 1`` consecutive augmented views from the ``3d``-th on (cyclically), so the
    4-view draws are disjoint."""
    k = views - 1
    return [[0] + [1 + (3 * d + j) % augmented for j in range(k)] for d in range(augmented // 3)] if k else [[0]]


def score_draws(d, xw: np.ndarray, views: int, augmented: int, fit=None, label: dict | None = None,
                bag: bool = False) -> list[dict]:
    """Grouped CV and other-source accuracy (clear set, and per subset) of every draw of ``views``;
    with ``bag``, also of the mean of all the draws' probabilities (one model made of their heads)."""
    classes = sorted(set(d["label"]))
    y = np.array([classes.index(style) for style in d["label"]])
    sets = other_sets(d)  # once: for an older cache it reads the table
    results, probs, others = [], [], []
    for idx in draws(views, augmented):
        _, p, other = evaluate_features(d, xw[:, idx], other_sources=True, fit=fit)
        probs.append(p)
        others.append(other)
        results.append(scores_of(d, p, other, y, classes, sets))
        print(json.dumps({**(label or {}), "views": views, "draw": idx, **results[-1]}), flush=True)
    if bag and len(results) > 1:
        print(json.dumps({**(label or {}), "views": views, "bagged_draws": len(results),
                          **scores_of(d, sum(probs), sum(others), y, classes, sets)}), flush=True)
    return results


def scores_of(d, probs: np.ndarray, other: np.ndarray, y: np.ndarray, classes: list[str],
              sets: np.ndarray | None) -> dict:
    """Grouped-CV accuracy of ``probs`` and other-source accuracy of ``other``, all and per subset
    (``sets``, from :func:`other_sets`)."""
    hit = np.array(classes)[other.argmax(1)] == np.array(d["olabel"])
    return {"grouped_cv": round(float((probs.argmax(1) == y).mean()), 4), "other_sources": round(float(hit.mean()), 4),
            **({f"other_{s}": round(float(hit[sets == s].mean()), 4) for s in sorted(set(sets))}
               if sets is not None else {})}


def other_sets(d) -> np.ndarray | None:
    """Which subset (Kaggle thumbnails, AIC, style references) each other-source painting is from; caches
    written before ``oset`` was stored are matched to the table when they hold all of it."""
    if "oset" in d.files:
        return d["oset"]
    rows = read_tables()[1]
    return np.array([r["set"] for r in rows]) if len(rows) == len(d["olabel"]) else None


def summarise(results: list[dict]) -> dict:
    """Mean and standard deviation (percent) of each score over the draws."""
    return {k: (round(100 * float(np.mean([r[k] for r in results])), 2),
                round(100 * float(np.std([r[k] for r in results], ddof=1)), 2) if len(results) > 1 else None)
            for k in results[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 4, 12], help="training views per painting")
    ap.add_argument("--augmented", type=int, default=15, help="augmented views to cache (draws come from these)")
    ap.add_argument("--logistic-c", type=float, nargs="+", default=None, metavar="C",
                    help="train scikit-learn logistic regression heads instead; with several C, the one with the "
                         "best grouped CV on the first draw is used for every draw")
    ap.add_argument("--bag", action="store_true",
                    help="also score the mean of all draws' probabilities (bagging the heads over view draws)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "cached-views")
    ap.add_argument("--limit", type=int, default=None, help="about N paintings of each set only (a quick check)")
    args = ap.parse_args()
    d = np.load(extract(args.out, args.augmented, args.limit))
    xw = d["xw"]  # read once: every access to an npz member reads it from disk again
    for views in args.views:
        fit, label = None, {}
        if args.logistic_c:
            first = xw[:, draws(views, args.augmented)[0]]
            cv = {}
            for c in args.logistic_c:
                scores, _, _ = evaluate_features(d, first, other_sources=False, fit=logistic(c))
                cv[c] = scores["grouped_cv_accuracy"]
                print(json.dumps({"views": views, "select_C": c, "grouped_cv": cv[c]}), flush=True)
            best = max(cv, key=cv.get)  # ties go to the first C given
            fit, label = logistic(best), {"head": "logistic", "C": best}
        results = score_draws(d, xw, views, args.augmented, fit, label, bag=args.bag)
        print(json.dumps({**label, "views": views, "draws": len(results), "mean_sd_percent": summarise(results)}),
              flush=True)


def logistic(c: float):
    """``evaluate_features``' ``fit`` for a logistic regression head with this C."""
    return lambda rows, feats, y, artists, n: fit_logistic(rows, feats, y, artists, n, c)


if __name__ == "__main__":
    main()
