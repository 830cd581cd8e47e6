"""Input drift: are the images people send still like the images the model learnt from?

At training time the bundle keeps a *reference* of its training images as the model sees them
(:func:`drift_reference`): the per-dimension mean and standard deviation of their embeddings (the
pooled features the classifier's head reads), a small sample of the embeddings themselves, and the
images' sizes and formats. ``artlens.json`` carries it under ``drift_reference``.

Incoming embeddings are compared with it two ways (:func:`drift_score`):

* ``auc``: how well a logistic regression tells the reference sample from the incoming images
  (5-fold cross-validated ROC AUC): 0.5 = indistinguishable, 1 = a different collection. It needs ten
  or more images on each side, and then decides: drift when ``auc >= auc_threshold`` (0.8). On the
  built-in backbone, unseen Baroque and Rococo paintings score 0.5-0.7 against a Baroque and Rococo
  reference, ukiyo-e prints 0.99 and Impressionist paintings 0.9.
* ``shift``: the root-mean-square over dimensions of the standardised difference of means,
  ``sqrt(mean_d ((mu_in - mu_ref) / sd_ref)^2)``, less the part sampling noise alone gives
  (``1/n_in + 1/n_ref`` under the square root); about 1 when the incoming mean sits one reference
  standard deviation away in every dimension. With fewer than ten images it decides alone
  (``threshold``, 0.5); otherwise it is shown beside the AUC.

>>> rng = np.random.default_rng(0)
>>> ref = drift_reference(rng.normal(size=(200, 16)))
>>> drift_score(ref, rng.normal(size=(50, 16)))["drift"]
False
>>> drift_score(ref, rng.normal(1.0, 1.0, size=(50, 16)))["drift"]
True
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..data import UnreadableImage, load_image
from ..errors import ArtlensError
from ..inference import default_device, inference_model, view_transform

__all__ = ["AUC_THRESHOLD", "DRIFT_THRESHOLD", "add_drift_reference", "compact_embeddings", "drift_reference", "drift_score", "embed_images", "reference_from_images",
           "set_class_shares", "size_format_drift", "store_drift_reference"]

#: ``shift`` above this is flagged as drift (when too few images for the AUC).
DRIFT_THRESHOLD = 0.5
#: A reference-vs-incoming AUC at or above this is flagged as drift.
AUC_THRESHOLD = 0.8
#: Embeddings kept as a sample in the reference (base64 in ``artlens.json``: float16, or float32 where
#: a value is beyond float16's range, as an untrained or unnormalised network's can be).
SAMPLE_SIZE = 64


def compact_embeddings(a: np.ndarray) -> np.ndarray:
    """Embeddings as they are kept (a reference's sample, a recorded prediction's row): float16, half
    the space, unless a value is beyond float16's range and would become infinite, then float32."""
    a = np.asarray(a, np.float32)
    return a.astype(np.float16) if np.abs(a).max(initial=0.0) < np.finfo(np.float16).max else a


def _encode(a: np.ndarray) -> tuple[str, str]:
    """``(base64, dtype name)`` of :func:`compact_embeddings`."""
    kept = compact_embeddings(a)
    return base64.b64encode(kept.tobytes()).decode(), kept.dtype.name


def _decode(text: str, dims: int, dtype: str = "float16") -> np.ndarray:
    if dtype not in ("float16", "float32"):
        raise ArtlensError(f"drift reference: sample_dtype {dtype!r} is not float16 or float32")
    return np.frombuffer(base64.b64decode(text), dtype).astype(np.float32).reshape(-1, dims)


def drift_reference(embeddings: np.ndarray, *, sizes: Sequence[tuple[int, int]] = (), formats: Sequence[str] = (),
                    sample: int = SAMPLE_SIZE, seed: int = 0) -> dict[str, Any]:
    """The reference summary of ``embeddings`` (rows = images) that a bundle keeps for drift checks."""
    emb = np.asarray(embeddings, np.float32)
    if emb.ndim != 2 or len(emb) < 2:
        raise ArtlensError(f"a drift reference needs two or more embeddings, got shape {emb.shape}")
    rng = np.random.default_rng(seed)
    picked, sample_dtype = _encode(emb[rng.choice(len(emb), size=min(sample, len(emb)), replace=False)])
    out: dict[str, Any] = {"n": int(len(emb)), "dims": int(emb.shape[1]),
                           "mean": [round(float(x), 5) for x in emb.mean(0)],
                           "std": [round(float(x), 5) for x in emb.std(0)],
                           "sample": picked, "threshold": DRIFT_THRESHOLD,
                           "auc_threshold": AUC_THRESHOLD}
    if sample_dtype != "float16":  # references written before float32 samples existed carry no key
        out["sample_dtype"] = sample_dtype
    if sizes:
        long_side = np.array([max(w, h) for w, h in sizes], float)
        out["long_side"] = {q: float(np.percentile(long_side, p)) for q, p in (("p10", 10), ("p50", 50), ("p90", 90))}
    if formats:
        out["formats"] = {k: v / len(formats) for k, v in Counter(formats).items()}
    return out


def drift_score(reference: dict[str, Any], embeddings: np.ndarray) -> dict[str, Any]:
    """How far ``embeddings`` (rows = incoming images) are from ``reference``: ``shift``, ``auc``
    (``None`` without enough images), ``n`` and whether ``shift`` passes the reference's threshold."""
    emb = np.asarray(embeddings, np.float32)
    dims = int(reference["dims"])
    if emb.ndim != 2 or emb.shape[1] != dims:
        raise ArtlensError(f"embeddings of shape {emb.shape} do not match the reference's {dims} dimensions")
    emb = emb[np.isfinite(emb).all(1)]  # rows recorded in float16 before float32 rows existed may have overflowed
    mu, sd = np.asarray(reference["mean"], np.float32), np.asarray(reference["std"], np.float32)
    sd = np.maximum(sd, 1e-3 * float(sd.mean()) + 1e-8)  # dead dimensions do not divide by zero
    raw = float(np.mean(((emb.mean(0) - mu) / sd) ** 2)) if len(emb) else 0.0
    noise = 1 / max(len(emb), 1) + 1 / max(int(reference["n"]), 1)  # what sampling alone adds to ``raw``
    shift = float(np.sqrt(max(0.0, raw - noise)))
    auc = None
    sample = _decode(reference["sample"], dims, reference.get("sample_dtype", "float16")) \
        if reference.get("sample") else None
    if sample is not None and not np.isfinite(sample).all():
        sample = None  # written in float16 before float32 samples existed, and overflowed: judged by shift
    if sample is not None and len(sample) >= 10 and len(emb) >= 10:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = np.concatenate([sample, emb[: 4 * len(sample)]])
        y = np.r_[np.zeros(len(sample)), np.ones(min(len(emb), 4 * len(sample)))]
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
        auc = float(np.mean(cross_val_score(clf, x, y, cv=5, scoring="roc_auc")))
    threshold = float(reference.get("threshold", DRIFT_THRESHOLD))
    auc_threshold = float(reference.get("auc_threshold", AUC_THRESHOLD))
    drift = auc >= auc_threshold if auc is not None else shift > threshold
    return {"n": int(len(emb)), "shift": round(shift, 4), "auc": None if auc is None else round(auc, 4),
            "threshold": threshold, "auc_threshold": auc_threshold, "drift": bool(drift),
            "decided_by": "auc" if auc is not None else "shift"}


def size_format_drift(reference: dict[str, Any], sizes: Sequence[tuple[int, int]], formats: Sequence[str]) -> dict[str, Any]:
    """Incoming sizes and formats against the reference's: the median long side of each, and the
    total variation distance between the format shares (0 = same mix, 1 = nothing in common)."""
    out: dict[str, Any] = {}
    if sizes:
        out["long_side_p50"] = float(np.median([max(w, h) for w, h in sizes]))
    if "long_side" in reference:
        out["reference_long_side_p50"] = reference["long_side"]["p50"]
    if formats and "formats" in reference:
        seen = {k: v / len(formats) for k, v in Counter(formats).items()}
        keys = set(seen) | set(reference["formats"])
        out["format_distance"] = round(0.5 * sum(abs(seen.get(k, 0.0) - reference["formats"].get(k, 0.0)) for k in keys), 4)
        out["formats"] = seen
    return out


def embed_images(model: torch.nn.Module, preprocessing: Any, paths: Sequence[str | os.PathLike], *,
                 device: str = "auto", batch_size: int = 16) -> tuple[np.ndarray, list[tuple[int, int]], list[str]]:
    """Embeddings (``model.embed``) of the readable images among ``paths``, with their sizes and formats,
    from the network as the web service runs it (:func:`artlens.inference.inference_model`)."""
    dev = default_device(device)
    transform = view_transform(preprocessing, "none")
    model = inference_model(model, input_size=preprocessing.input_size, device=dev)
    rows, sizes, formats = [], [], []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        if batch:
            with torch.inference_mode():
                rows.append(model.embed(torch.cat(batch).to(dev)).float().cpu().numpy())
            batch.clear()

    for p in paths:
        try:
            img = load_image(p)
        except UnreadableImage:
            continue
        sizes.append(img.size)
        formats.append((os.path.splitext(str(p))[1].lstrip(".").upper() or "unknown").replace("JPG", "JPEG"))
        batch.append(transform(img))
        if len(batch) >= batch_size:
            flush()
    flush()
    if not rows:
        raise ArtlensError("none of the images could be read for the drift reference")
    return np.concatenate(rows), sizes, formats


def reference_from_images(model: torch.nn.Module, preprocessing: Any, paths: Sequence[str | os.PathLike], *,
                          limit: int = 256, seed: int = 0, device: str = "auto") -> dict[str, Any]:
    """A drift reference from up to ``limit`` of ``paths`` (a random, seeded choice): what
    :func:`artlens.fit` stores in the bundle, from its training split."""
    paths = list(paths)
    if len(paths) > limit:
        rng = np.random.default_rng(seed)
        paths = [paths[i] for i in sorted(rng.choice(len(paths), size=limit, replace=False))]
    emb, sizes, formats = embed_images(model, preprocessing, paths, device=device)
    return drift_reference(emb, sizes=sizes, formats=formats, seed=seed)


def add_drift_reference(bundle: str | os.PathLike, images: str | os.PathLike, *, limit: int = 256, seed: int = 0,
                        device: str = "auto") -> dict[str, Any]:
    """Store a drift reference made from ``images`` in an existing bundle (one trained before artlens
    kept references, a copy of the built-in model, or a model as it ships); ``artlens.json`` is
    rewritten atomically. An ensemble's reference is of its members' embeddings joined, as the web
    service records them.

    ``images`` is a folder (``images/<class>/...`` also gives the class shares) or a manifest
    (``path,label[,split]``): with a split column, the ``train`` rows are embedded and the class
    shares are the ``test`` rows', the split a bundle's metrics come from, as ``artlens train`` stores
    them."""
    from pathlib import Path

    from ..data import iter_image_files, read_manifest
    from ..models import load_bundle

    loaded = load_bundle(bundle)
    if not hasattr(loaded.model, "embed"):
        raise ArtlensError(f"{bundle}: its network has no embedding to keep a drift reference of")
    root = Path(images)
    if root.is_file():
        samples = read_manifest(root)
        split = {s.split for s in samples} >= {"train", "test"}
        paths = [Path(s.path) for s in samples if not split or s.split == "train"]
        labels = Counter(s.label for s in samples if not split or s.split == "test")
        shares_of = "test" if split else str(root)
    else:
        paths = iter_image_files(root) if root.is_dir() else []
        labels = Counter(p.relative_to(root).parts[0] for p in paths if len(p.relative_to(root).parts) > 1)
        shares_of = str(root)
    if not paths:
        raise ArtlensError(f"{images}: no image files found for the drift reference")
    reference = reference_from_images(loaded.model, loaded.preprocessing, paths, limit=limit, seed=seed, device=device)
    if set(labels) <= set(loaded.classes):
        set_class_shares(reference, dict(sorted(labels.items())), shares_of)
    store_drift_reference(bundle, reference)
    return reference


def set_class_shares(reference: dict[str, Any], counts: Mapping[str, int], split: str) -> None:
    """Put the class shares of ``counts`` (class -> images) into ``reference``, naming where they come
    from (``split``): what ``artlens monitor`` sets each week's predicted classes beside. Nothing when
    ``counts`` is empty."""
    total = sum(counts.values())
    if total:
        reference["class_shares"] = {c: n / total for c, n in counts.items()}
        reference["class_shares_split"] = split


def store_drift_reference(bundle: str | os.PathLike, reference: dict[str, Any]) -> None:
    """Write ``reference`` into ``bundle``'s ``artlens.json`` as its ``drift_reference``, atomically (a
    crash leaves the old file whole); nothing else in the file changes."""
    import json
    from pathlib import Path

    from ..models.bundle import META_FILE

    meta_path = Path(bundle) / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise ArtlensError(f"{meta_path}: cannot read the bundle's metadata ({err})") from None
    meta["drift_reference"] = reference
    tmp = meta_path.with_name(META_FILE + ".part")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, meta_path)
