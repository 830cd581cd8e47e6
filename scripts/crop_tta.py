"""Does averaging over crops at test time help the built-in style model? (Multi-crop test-time augmentation.)

Style is spread over the whole canvas, and the recipe's head was trained on random resized crops
(area 0.6-1.0), so crops covering 0.8 x 0.8 of a painting are in its training distribution. Here a
painting's prediction is the mean of 6 softmaxes: the whole painting squashed to 224 x 224, and its
four corner crops and centre crop, each 0.8 of the width and of the height, squashed alike
(``artlens predict --tta crops``). ``crops`` takes them from every image; ``gated``, as artlens
does, only from images whose shorter side is at least ``--min-side`` (default 224, the input size:
wikiart11's paintings are 224 px, so no crop is upsampled more than the training crops were);
smaller images get the whole view alone.

It prints two sets of numbers:

* **the shipped bundle** on the WikiArt held-out test split and the clear other sources (and their
  subsets), plain against ``crops`` and ``gated``;
* **artist-grouped 5-fold cross-validation** on wikiart11 (no painter in both training and test
  folds): the recipe's head trained on the cached 4 training views (``backbone_grouped_cv``), its
  test folds scored plain, ``crops`` and ``gated``.

About 30 minutes on 2 CPU cores (feature extraction); features are cached in ``--out``.

    python scripts/crop_tta.py

What it printed (2 December 2026): shipped bundle, plain / crops / gated: WikiArt test 66.4 /
69.4 / 69.4 %, other sources 74.5 / 74.3 / 74.9 % (thumbnails 75.8 / 75.1 / 75.8 %, Art Institute
58.4 / 63.6 / 63.6 %); grouped CV 57.0 / 58.4 / 58.4 %. Under the rules fixed beforehand
(docs/default_model.md) the built-in model does not use crops.

``--train-crops`` runs the grouped cross-validation alone, for the recipe's head and for one that
also trains on the 5 test crops (9 views per painting: "train as you test"), about 5 minutes on the
cached features. It printed: plain / gated crops 57.0 / 58.4 % (recipe head), 56.7 / 57.7 %
(trained on the crops too).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedGroupKFold
from torch.utils.data import DataLoader

from artlens.config import load_config
from artlens.data import build_transform, load_image
from artlens.data.dataset import ImageDataset, Sample, collate_skipping, drop_cross_split_duplicates, load_collection
from artlens.inference import crop_views
from artlens.models import load_bundle
from artlens.progress import progress_bar

from backbone_grouped_cv import fit_on, read_tables, recipe_classifier
from train_default_model import ARTDATA, CLEAR_SETS, ROOT

def tta_probs(p: np.ndarray, sides: np.ndarray, min_side: int) -> dict[str, np.ndarray]:
    """``(N, 6, C)`` view probabilities -> plain (the whole view), ``crops`` (mean of 6) and ``gated``
    (``crops`` where the image's shorter side, in ``sides``, is at least ``min_side``)."""
    crops = p.mean(1)
    return {"plain": p[:, 0], "crops": crops, "gated": np.where((sides >= min_side)[:, None], crops, p[:, 0])}


def accuracies(probs: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    return {k: round(float((v.argmax(1) == y).mean()), 4) for k, v in probs.items()}


def _collate(batch):
    """``collate_skipping`` for items whose image is ``(views, shorter side)``: ``((x, sides), y, index, skipped)``."""
    good = [b for b in batch if b[0] is not None]
    x, y, idx, bad = collate_skipping([(v, c, i) for (v, _), c, i in good] + [b for b in batch if b[0] is None])
    return (x, torch.tensor([side for (_, side), _, _ in good])), y, idx, bad


def shipped(out: Path, min_side: int) -> dict:
    """The shipped bundle, plain vs crops vs gated, on the WikiArt test split and the clear other sources."""
    bundle = load_bundle(ROOT / "src" / "artlens" / "assets" / "models" / "wikiart11-style")
    whole = build_transform(bundle.preprocessing)
    cfg = load_config(ROOT / "configs" / "default_style.yaml")
    cfg.data.path = str(ARTDATA / "wikiart11")
    sets = {"wikiart_test": [s for s in drop_cross_split_duplicates(load_collection(cfg.data)).samples
                             if s.split == "test"]}
    subset = {}
    with (ROOT / "scripts" / "data" / "other_sources.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["set"] in CLEAR_SETS:
                sets.setdefault("clear", []).append(Sample(str(ARTDATA / r["path"]), r["label"]))
                subset[str(ARTDATA / r["path"])] = r["set"]
    model = bundle.model.eval()
    result = {}
    for name, samples in sets.items():
        ds = ImageDataset(samples, bundle.classes, lambda img: (torch.stack(crop_views(img, whole)), min(img.size)))
        loader = DataLoader(ds, batch_size=16, num_workers=2, collate_fn=_collate)
        ps, ys, sides, idx = [], [], [], []
        with progress_bar(len(samples), f"shipped model, {name}") as advance, torch.inference_mode():
            for (x, side), y, i, bad in loader:
                if x is None:
                    advance(len(bad))
                    continue
                ps.append(model(x.flatten(0, 1)).float().softmax(-1).view(len(y), 6, -1).numpy())
                ys.append(y.numpy()), sides.append(side.numpy()), idx.append(i.numpy())
                advance(len(y) + len(bad))
        p, y, side, idx = (np.concatenate(a) for a in (ps, ys, sides, idx))
        probs = tta_probs(p, side, min_side)
        result[name] = {"n": len(y), **accuracies(probs, y)}
        if name == "clear":
            sub = np.array([subset[samples[i].path] for i in idx])
            for s in CLEAR_SETS:
                m = sub == s
                result[s] = {"n": int(m.sum()), **accuracies({k: v[m] for k, v in probs.items()}, y[m])}
    (out / "shipped.json").write_text(json.dumps(result, indent=2))
    return result


def extract(out: Path) -> Path:
    """Per wikiart11 painting: the recipe's 4 training views (as ``backbone_grouped_cv.extract``) and
    the 6 test views, as ``ArtClassifier.embed`` features, with the image's shorter side."""
    path = out / "efficientnet_lite0-crops.npz"
    if path.exists():
        return path
    model = recipe_classifier("efficientnet_lite0")
    whole = build_transform(model.backbone.preprocessing)
    aug = build_transform(model.backbone.preprocessing, train=True, augment="flip-rotate")
    meta, _ = read_tables()
    paths = [ARTDATA / "wikiart11" / r["file"] for r in meta]
    train, test, sides = [], [], []
    torch.manual_seed(0)
    with progress_bar(len(paths), "wikiart11: 4 training + 6 test views") as advance, torch.inference_mode():
        for start in range(0, len(paths), 16):
            imgs = [load_image(p) for p in paths[start:start + 16]]
            x = torch.stack([v for img in imgs for v in [whole(img)] + [aug(img) for _ in range(3)]
                             + crop_views(img, whole)[1:]])
            f = model.embed(x).numpy().reshape(len(imgs), 9, -1)
            train.append(f[:, :4]), test.append(np.concatenate([f[:, :1], f[:, 4:]], axis=1))
            sides += [min(img.size) for img in imgs]
            advance(len(imgs))
    out.mkdir(parents=True, exist_ok=True)
    np.savez(path, train=np.concatenate(train), test=np.concatenate(test), side=np.array(sides),
             label=[r["label"] for r in meta], artist=[r["artist_slug"] for r in meta])
    return path


def grouped_cv(npz: Path, min_side: int, train_crops: bool = False) -> dict:
    """Artist-grouped 5-fold CV of the recipe's head, its held-out folds scored plain, crops and gated.
    ``train_crops``: the head also trains on the 5 test crops (9 views per painting)."""
    d = np.load(npz)
    feats = np.concatenate([d["train"], d["test"][:, 1:]], axis=1) if train_crops else d["train"]
    classes = sorted(set(d["label"]))
    y = np.array([classes.index(label) for label in d["label"]])
    p = np.zeros((len(y), 6, len(classes)), dtype=np.float32)
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(y, y, d["artist"]):
        head = fit_on(train, feats, y, d["artist"], len(classes))
        with torch.no_grad():
            p[test] = head(torch.from_numpy(d["test"][test].reshape(-1, d["test"].shape[-1]))).softmax(1).view(
                len(test), 6, -1).numpy()
    probs = tta_probs(p, d["side"], min_side)
    return {"n": len(y), "gated_share": round(float((d["side"] >= min_side).mean()), 4), **accuracies(probs, y)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "crop-tta")
    ap.add_argument("--min-side", type=int, default=224,
                    help="gated: crops only from images at least this many px on the shorter side (280 tried first)")
    ap.add_argument("--train-crops", action="store_true",
                    help="grouped CV only: the recipe head against one that also trains on the 5 test crops")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.train_crops:
        npz = extract(args.out)
        for train_crops in (False, True):
            print(json.dumps({"grouped_cv": grouped_cv(npz, args.min_side, train_crops), "train_crops": train_crops}),
                  flush=True)
        return
    print(json.dumps({"shipped": shipped(args.out, args.min_side)}), flush=True)
    print(json.dumps({"grouped_cv": grouped_cv(extract(args.out), args.min_side)}), flush=True)


if __name__ == "__main__":
    main()
