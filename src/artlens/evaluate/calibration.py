"""Calibrated probabilities, and the threshold below which a model says it is uncertain.

A network fine-tuned with label smoothing and MixUp is seldom honest about its confidence: its top
probability says little about how often it is right. Temperature scaling (Guo et al., 2017) fixes
that with one number fitted on held-out images: the logits are divided by ``T`` before the softmax,
which leaves every ranking (and so the accuracy) unchanged. The fit here minimises the negative
log-likelihood of exactly what ``predict`` serves: the mean, over the bundle's test-time views, of
the tempered softmax. The expected calibration error (ECE: the gap between confidence and accuracy,
averaged over 15 confidence bins) is reported before and after.

A painting of a style the model does not know (Starry Night is Post-Impressionism) still gets an
answer from a closed-set classifier. With calibrated probabilities, a top-1 below
``uncertain_below`` (default 0.5: the model thinks it is more likely wrong than right) is flagged
``"uncertain": true`` by ``predict`` and the web service, which then show the top 3.

>>> import numpy as np
>>> logits = np.array([[[4.0, 0.0]], [[3.0, 0.0]], [[0.0, 2.0]], [[2.5, 0.0]]])   # 4 images, 1 view each
>>> labels = np.array([0, 1, 1, 0])                                # the second one is wrong, confidently
>>> t = fit_temperature(logits, labels)
>>> round(t, 1)                               # overconfident, so the fitted temperature softens it
2.9
>>> tempered_probs(logits, 1.0).max(axis=1).round(2), tempered_probs(logits, t).max(axis=1).round(2)
(array([0.98, 0.95, 0.88, 0.92]), array([0.8 , 0.74, 0.67, 0.7 ]))
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..data.dataset import ImageDataset, Sample
from ..errors import ArtlensError
from ..inference import bundle_tta, collate_views, default_device, tta_mode, view_transform
from ..models.bundle import META_FILE, Bundle, load_bundle, read_bundle_meta
from ..progress import progress_bar

__all__ = ["Calibration", "calibrate", "expected_calibration_error", "fit_temperature", "tempered_probs",
           "view_logits"]

#: Temperatures tried by :func:`fit_temperature` (log-spaced): a 1-D problem, so a fine grid is exact enough
#: and, unlike LBFGS on ``log T``, cannot diverge on a tiny or perfectly separated validation set.
_GRID = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))


@dataclass
class Calibration:
    """What :func:`calibrate` found, as stored under ``calibration`` in the bundle's ``artlens.json``."""

    temperature: float
    uncertain_below: float
    """Calibrated top-1 probability below which a prediction is flagged uncertain."""
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    n: int
    """Images the temperature was fitted on."""
    tta: str
    """The test-time views the probabilities were averaged over (the bundle's own)."""
    share_uncertain: float
    """Share of those images flagged uncertain."""
    accuracy_certain: float | None
    """Accuracy on the images not flagged (``None`` when every image is flagged)."""
    accuracy_uncertain: float | None
    source: str = ""
    """What the images were (e.g. ``validation split of wikiart11``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def tempered_probs(view_logits: np.ndarray | Sequence[np.ndarray], temperature: float) -> np.ndarray:
    """``(n, classes)``: per image, the mean over its views of ``softmax(logits / T)``.

    ``view_logits`` is ``(n, views, classes)`` or a list of ``(views_i, classes)`` arrays (crops give
    some images one view and others six)."""
    if isinstance(view_logits, np.ndarray):
        return _softmax(view_logits / temperature).mean(axis=1)
    return np.stack([_softmax(v / temperature).mean(axis=0) for v in view_logits])


def _nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(view_logits: np.ndarray | Sequence[np.ndarray], labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (grid search)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ArtlensError("calibration needs at least one labelled image")
    if not isinstance(view_logits, np.ndarray):
        # Pad ragged views to one array with a mask, so every temperature is one vectorised pass.
        width = max(len(v) for v in view_logits)
        stacked = np.zeros((len(view_logits), width, view_logits[0].shape[-1]))
        mask = np.zeros((len(view_logits), width))
        for i, v in enumerate(view_logits):
            stacked[i, : len(v)], mask[i, : len(v)] = v, 1.0
    else:
        stacked, mask = view_logits, np.ones(view_logits.shape[:2])
    best_t, best = 1.0, np.inf
    for t in _GRID:
        p = (_softmax(stacked / t) * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        nll = _nll(p, labels) if p.shape[0] else np.inf
        if nll < best:
            best_t, best = float(t), nll
    return best_t


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Mean gap between confidence and accuracy over equal-width confidence bins, weighted by their counts."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(ece)


@torch.inference_mode()
def view_logits(bundle: Bundle, samples: Sequence[Sample], *, tta: str | None = None, device: str = "auto",
                batch_size: int = 32, num_workers: int = 0, show_progress: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """Untempered logits of every view ``predict`` would take of each readable image, and its label index.

    Returns ``(logits, labels)``: one ``(views, classes)`` array per image (flip doubles the views).
    Unreadable images are left out.
    """
    model = bundle.model
    classes = bundle.classes
    unknown = sorted({s.label for s in samples} - set(classes))
    if unknown:
        raise ArtlensError(f"labels the model does not know: {', '.join(unknown[:5])} (it knows {', '.join(classes)})")
    tta = tta_mode(bundle_tta(bundle, tta))
    dev = default_device(device)
    dataset = ImageDataset(list(samples), classes, view_transform(bundle.preprocessing, tta),
                           draft_size=bundle.preprocessing.decode_size)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=collate_views)
    saved = model.temperature.clone() if hasattr(model, "temperature") else None
    if saved is not None:
        model.temperature.fill_(1.0)
    model.eval().to(dev)
    out, labels = [], []
    try:
        with progress_bar(len(samples), "calibrate", enabled=show_progress) as advance:
            for x, counts, y, _idx, bad in loader:
                if x is not None:
                    x = x.to(dev, memory_format=torch.channels_last)
                    z = model(x).float()
                    if tta == "flip":
                        z = torch.stack([z, model(torch.flip(x, dims=[3])).float()], dim=1)  # (n, 2, C)
                        out += list(z.cpu().numpy())
                    else:
                        out += [v.cpu().numpy() for v in z.split(list(counts))]
                    labels += y.tolist()
                advance(len(bad) + (0 if x is None else len(y)))
    finally:
        if saved is not None:
            model.temperature.copy_(saved)
    return out, np.asarray(labels, dtype=np.int64)


def calibrate(model: str | os.PathLike | Bundle, samples: Sequence[Sample], *, uncertain_below: float = 0.5,
              tta: str | None = None, device: str = "auto", write: bool = True, source: str = "",
              plot: str | os.PathLike | None = None, show_progress: bool = True) -> Calibration:
    """Fit the bundle's temperature on labelled ``samples`` (held out from training) and, with
    ``write``, store it with ``uncertain_below`` in its ``artlens.json``; ``plot`` draws the
    reliability diagram before and after (PNG)."""
    if not 0.0 <= uncertain_below < 1.0:
        raise ArtlensError(f"uncertain_below: {uncertain_below} must be in [0, 1)")
    bundle = model if isinstance(model, Bundle) else load_bundle(model)
    logits, labels = view_logits(bundle, samples, tta=tta, device=device, show_progress=show_progress)
    if len(labels) == 0:
        raise ArtlensError("calibration needs at least one readable, labelled image")
    t = fit_temperature(logits, labels)
    before, after = tempered_probs(logits, 1.0), tempered_probs(logits, t)
    flagged = after.max(axis=1) < uncertain_below
    right = after.argmax(axis=1) == labels
    result = Calibration(
        temperature=round(t, 4), uncertain_below=uncertain_below,
        ece_before=round(expected_calibration_error(before, labels), 4),
        ece_after=round(expected_calibration_error(after, labels), 4),
        nll_before=round(_nll(before, labels), 4), nll_after=round(_nll(after, labels), 4), n=int(len(labels)),
        tta=tta_mode(bundle_tta(bundle, tta)), share_uncertain=round(float(flagged.mean()), 4),
        accuracy_certain=round(float(right[~flagged].mean()), 4) if (~flagged).any() else None,
        accuracy_uncertain=round(float(right[flagged].mean()), 4) if flagged.any() else None, source=source)
    if plot is not None:
        from ..viz.figures import plot_reliability

        plot_reliability({"before": before, f"after (T = {t:.2f})": after}, labels, plot)
    if write:
        if not bundle.path:
            raise ArtlensError("calibrate(write=True) needs a bundle loaded from a folder")
        meta_path = Path(bundle.path) / META_FILE
        meta = read_bundle_meta(bundle.path)  # the file as it is now, checked as every loader checks it
        meta["calibration"] = result.to_dict()
        tmp = meta_path.with_name(meta_path.name + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, meta_path)
        bundle.meta["calibration"] = result.to_dict()
        if hasattr(bundle.model, "temperature"):
            bundle.model.temperature.fill_(t)
    return result
