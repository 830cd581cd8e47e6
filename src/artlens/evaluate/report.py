"""Evaluate a model on labelled images and write the report a person reads.

Outputs in ``out``: ``report.json`` (all numbers), ``report.md`` (tables), ``confusion_matrix.png``,
``mistakes.png`` (the most confident wrong predictions) and ``predictions.csv``.

>>> from artlens import evaluate
>>> report = evaluate("runs/style/model", "paintings/", "runs/style/eval")   # doctest: +SKIP
>>> report["metrics"]["accuracy"]                                            # doctest: +SKIP

Under torchrun (``torchrun --nproc-per-node 4 -m artlens evaluate ...``) every process scores its own
share of the images, each image exactly once, and rank 0 writes the report: the same report, to the
last digit, as one process writes (``tests/test_distributed_collections.py``).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..config import PRECISIONS, DataConfig, check_choice
from ..data.dataset import Sample, load_collection
from ..data.images import SkippedImage
from ..data.transforms import Preprocessing
from ..distributed import DistContext, init_distributed
from ..errors import ArtlensError
from ..inference import bundle_tta, inference_model, predict_probs, tta_mode
from ..models.bundle import Bundle, load_bundle
from ..outputs import output_dir
from ..data.metadata import artwork_caption
from ..viz.figures import plot_confusion_matrix, plot_gallery
from .metrics import accuracy_interval, classification_metrics, format_interval

__all__ = ["evaluate", "evaluate_samples"]


def evaluate(model: str | os.PathLike | Bundle | None, data: str | os.PathLike | DataConfig,
             out: str | os.PathLike, *, split: str = "auto", batch_size: int | None = None, device: str = "auto",
             num_workers: int | None = None, show_progress: bool = True, tta: str | None = None,
             precision: str = "auto") -> dict[str, Any]:
    """Evaluate a bundle (path, loaded :class:`Bundle`, or ``None`` for the built-in model) on ``data``.

    ``tta`` overrides the bundle's own test-time augmentation (``none``, ``flip``, ``crops``);
    ``precision`` is the number type the network computes in (:func:`artlens.inference.autocast_dtype`;
    evaluate ``bf16`` on your own images before predicting with it); ``batch_size`` defaults to
    :func:`artlens.inference.inference_batch_size` of the device.

    ``split``: ``auto`` uses the data's test split when it has one (a ``test/`` folder or a split
    column) and every image otherwise; ``all``, ``train``, ``val`` or ``test`` choose explicitly.

    Under torchrun the processes share the images and rank 0 writes the report (see the module).
    """
    check_choice("evaluate", "precision", precision, PRECISIONS)
    ctx, device = init_distributed(device)
    bundle = model if isinstance(model, Bundle) else load_bundle(model)
    cfg = data if isinstance(data, DataConfig) else DataConfig(path=str(data))
    collection = load_collection(cfg, split=False)
    samples = collection.samples
    has_splits = any(s.split for s in samples)
    if split == "auto":
        split = "test" if any(s.split == "test" for s in samples) else "all"
    if split != "all":
        if not has_splits:
            raise ArtlensError(f"{cfg.path}: has no split column or split folders; use --split all")
        samples = [s for s in samples if s.split == split]
        if not samples:
            raise ArtlensError(f"{cfg.path}: no images in split {split!r}")
    unknown = sorted({s.label for s in samples} - set(bundle.classes))
    if unknown:
        trained_with = (bundle.meta.get("recipe") or {}).get("data", {}).get("label_map") or {}
        pairs = ",".join(f"{k}={v or ''}" for k, v in trained_with.items())
        hint = f"; the model was trained with the label map {pairs}" if trained_with else ""
        raise ArtlensError(
            f"{cfg.path}: labels unknown to model {bundle.name!r}: {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''} (model classes: {', '.join(bundle.classes[:8])}"
            f"{' ...' if len(bundle.classes) > 8 else ''}); remap them with a label map (--label-map old=new,drop=)"
            f"{hint}"
        )
    model = inference_model(bundle.model, input_size=bundle.preprocessing.input_size, device=device,
                            precision=precision)  # the same outputs, faster
    about = {"model": bundle.name, "model_version": bundle.meta.get("version"), "backbone": bundle.meta.get("backbone"),
             "data": str(cfg.path), "split": split, "out": str(out), "cwd": os.getcwd()}  # what relative paths mean
    return evaluate_samples(model, bundle.preprocessing, bundle.classes, samples, out,
                            batch_size=batch_size, device=device,
                            num_workers=num_workers, tta=bundle_tta(bundle, tta),
                            show_progress=show_progress and ctx.is_main,
                            title=f"{bundle.name} on {Path(cfg.path).name} ({split})", ctx=ctx, precision=precision,
                            about=about)


def evaluate_samples(model: nn.Module, pre: Preprocessing, classes: Sequence[str], samples: Sequence[Sample],
                     out: str | os.PathLike, *, batch_size: int | None = None, device: str = "auto",
                     num_workers: int | None = None, tta: str | bool = "none", show_progress: bool = True,
                     title: str = "evaluation", extra_skipped: Sequence[SkippedImage] = (),
                     ctx: DistContext | None = None, precision: str = "auto",
                     about: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the model on ``samples`` and write every report file into ``out``; ``about`` (the model, the
    data and ``out`` as given) goes into ``report.json`` as it is, for ``artlens compare``.

    With a distributed ``ctx`` every process must call it: each scores its share, all get the report,
    and only rank 0 writes the files.
    """
    writes = ctx is None or ctx.is_main
    out = output_dir(out) if writes else Path(out)
    started = time.perf_counter()
    result = predict_probs(model, samples, pre, classes=classes, batch_size=batch_size, num_workers=num_workers,
                           device=device, tta=tta, show_progress=show_progress, description="evaluate", ctx=ctx,
                           precision=precision)
    seconds = time.perf_counter() - started
    index = {c: i for i, c in enumerate(classes)}
    kept = [samples[i] for i in result.indices]
    if not kept:
        raise ArtlensError(f"none of the {len(samples)} images could be read: nothing to evaluate "
                           f"(first: {result.skipped[0].path}: {result.skipped[0].reason})" if result.skipped
                           else "no images to evaluate")
    y_true = np.array([index[s.label] for s in kept], dtype=int)
    metrics = classification_metrics(y_true, result.probs, classes)
    skipped = list(extra_skipped) + result.skipped
    report = {
        "title": title,
        **(about or {}),
        "metrics": metrics,
        "n_images": len(samples),
        "n_evaluated": len(kept),
        "tta": tta_mode(tta),
        "precision": precision,
        "images_per_s": round(len(kept) / max(seconds, 1e-9), 1),  # reading, decoding and the network
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
    }
    if not writes:
        return report
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown_report(report, classes))
    _write_predictions(out / "predictions.csv", kept, result.probs, classes)
    if len(kept):
        plot_confusion_matrix(metrics["confusion_matrix"], classes, out / "confusion_matrix.png", title=title)
        _plot_mistakes(kept, y_true, result.probs, classes, out / "mistakes.png")
    return report


def _write_predictions(path: Path, samples: Sequence[Sample], probs: np.ndarray, classes: Sequence[str]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "predicted", "prob", "correct"])
        for s, p in zip(samples, probs):
            j = int(p.argmax())
            w.writerow([s.path, s.label, classes[j], f"{p[j]:.4f}", int(classes[j] == s.label)])


def _plot_mistakes(samples: Sequence[Sample], y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                   path: Path, limit: int = 24) -> None:
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:limit]
    items = [(samples[i].path, f"{artwork_caption(samples[i].path)}\ntrue: {classes[y_true[i]]}\n"
                               f"pred: {classes[pred[i]]} ({probs[i, pred[i]]:.2f})") for i in wrong]
    if items:
        plot_gallery(items, path, title="Most confident mistakes")


def _interval(metrics: dict[str, Any], key: str) -> str:
    """``0.699-0.794``: the 95 % Wilson interval of ``metrics[key]`` (blank in reports made before
    artlens kept it)."""
    return format_interval((metrics.get("ci95") or {}).get(key))


def markdown_report(report: dict[str, Any], classes: Sequence[str]) -> str:
    m = report["metrics"]
    lines = [f"# {report['title']}", "",
             f"Images: {report['n_evaluated']} evaluated, {len(report['skipped'])} skipped."
             + (f" Test-time augmentation: {report['tta']}." if report.get("tta", "none") != "none" else "")
             + (f" Precision: {report['precision']}." if report.get("precision", "auto") != "auto" else ""), "",
             "| metric | value | 95 % interval |", "|---|---|---|", f"| accuracy | {m['accuracy']:.4f} | {_interval(m, 'accuracy')} |"]
    lines += [f"| top-{k} accuracy | {m[f'top{k}']:.4f} | {_interval(m, f'top{k}')} |" for k in (3, 5) if f"top{k}" in m]
    if "balanced_accuracy" in m:  # reports written before it existed lack it
        lines.append(f"| balanced accuracy (mean recall of the classes present) | {m['balanced_accuracy']:.4f} | |")
    for avg in ("macro", "weighted"):
        lines.append(f"| {avg} precision / recall / F1 | {m[avg]['precision']:.4f} / {m[avg]['recall']:.4f} / "
                     f"{m[avg]['f1']:.4f} | |")
    lines += ["", "| class | accuracy | 95 % interval | precision | recall | F1 | support |", "|---|---|---|---|---|---|---|"]
    for c in classes:
        pc = m["per_class"][c]
        # 30 paintings of a class: about +-17 points
        interval = format_interval(accuracy_interval(pc["accuracy"], pc["support"])) if pc["support"] else ""
        lines.append(f"| {c} | {pc['accuracy']:.3f} | {interval} | {pc['precision']:.3f} | {pc['recall']:.3f} | "
                     f"{pc['f1']:.3f} | {pc['support']} |")
    if report["skipped"]:
        lines += ["", "## Skipped files", ""] + [f"- `{s['path']}`: {s['reason']}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"
