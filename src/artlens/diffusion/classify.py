"""``classify_diffusion(cfg)``: a trained diffusion bundle as a zero-shot classifier over a whole dataset.

Before any image is scored it reports the cost (denoiser passes per image, and seconds per image
measured by a short warm-up of the real batch shape), so a user can lower ``--samples`` before an
overnight run rather than after. Each finished image's errors are appended to ``<out>/scores.jsonl``;
a killed run started again with the same ``--out`` skips them. The temperature of ``p(c | x) =
softmax(-errors / T)`` is fitted on the validation split (ECE and a reliability diagram before and
after), and the test split gets the report every artlens evaluation writes, so ``artlens compare``
puts the diffusion model beside the CNNs:

* ``report.json`` (``test`` metrics, cost, calibration; the shape ``compare`` reads), ``cost.json``;
* ``eval/report.json``, ``eval/report.md`` (accuracy, per class), ``eval/confusion_matrix.png``,
  ``eval/predictions.csv``;
* ``reliability.png``, ``scores.jsonl``.

>>> from artlens.diffusion import DiffusionClassifyConfig, classify_diffusion
>>> cfg = DiffusionClassifyConfig(model="runs/diffusion/model", out="runs/zeroshot")
>>> result = classify_diffusion(cfg)                                   # doctest: +SKIP
>>> result.metrics["accuracy"], result.cost.passes_per_image          # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import logging
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import PRECISIONS
from ..data.dataset import Sample
from ..errors import ArtlensError
from ..evaluate.calibration import expected_calibration_error, fit_temperature, tempered_probs
from ..evaluate.metrics import classification_metrics
from ..evaluate.report import markdown_report
from ..inference import default_device
from ..outputs import output_dir
from ..progress import progress_bar
from .train import DiffusionModel, load_diffusion_bundle, load_images, split_collection, to_model_range
from .zeroshot import errors_to_logits, estimate_errors, plan_stages

__all__ = ["ClassifyCost", "DiffusionClassifyConfig", "DiffusionClassifyResult", "classify_diffusion"]

log = logging.getLogger(__name__)

SCORES_FILE = "scores.jsonl"
SCORES_META = "scores.meta.json"
COMPILE_MODES = ("auto", "on", "off")


@dataclass
class DiffusionClassifyConfig:
    """``artlens diffusion classify``: which model, which images, and how many samples to spend."""

    model: str = ""
    """The diffusion bundle folder (``<run>/model`` from ``artlens diffusion train``)."""
    data: str = ""
    """The images: default the data the model was trained on (its held-out splits are found again)."""
    dataset: str = ""
    """Published layout of ``--data`` (default: the model's)."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that layout (default: the model's)."""
    split: str = "auto"
    """Images to classify: ``auto`` (the test split, or every image when there is none), ``test``, ``val``,
    ``train`` or ``all``."""
    calibrate_on: str = "val"
    """Split that fits the temperature (``none``: leave T = 1)."""
    limit: int | None = None
    """At most N images per class of each split (the first by path): a quick look."""
    out: str = "runs/diffusion-classify"
    """Report folder; ``scores.jsonl`` there lets a killed run resume."""
    samples: list[int] = field(default_factory=lambda: [32, 128])
    """Cumulative (t, noise) pairs per class at the end of each stage (the study: 1000 in one stage)."""
    keep: list[int] = field(default_factory=list)
    """Classes still in the running after each stage but the last (empty: halve them each stage)."""
    batch_size: int = 1024
    """Rows (sample x class) per forward pass."""
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})
    """Network precision: ``auto`` is bf16 (or fp16) on a GPU, fp32 on the CPU."""
    compile: str = field(default="auto", metadata={"choices": COMPILE_MODES})
    """``torch.compile`` the denoiser: ``auto`` on a GPU when the run is estimated to take over two minutes."""
    device: str = "auto"
    seed: int = 0
    """Seed of the (t, noise) pairs; each image draws from its own generator (seed and path), so its score
    does not depend on the order or on a resume."""

    def __post_init__(self) -> None:
        if self.split not in ("auto", "test", "val", "train", "all"):
            raise ArtlensError(f"--split {self.split!r}: choose auto, test, val, train or all")
        if self.calibrate_on not in ("val", "train", "test", "none"):
            raise ArtlensError(f"--calibrate-on {self.calibrate_on!r}: choose val, train, test or none")
        if self.limit is not None and self.limit < 1:
            raise ArtlensError(f"--limit must be at least 1, got {self.limit}")
        if self.batch_size < 1:
            raise ArtlensError(f"--batch-size must be at least 1, got {self.batch_size}")
        for name, allowed in (("precision", PRECISIONS), ("compile", COMPILE_MODES)):
            if getattr(self, name) not in allowed:
                raise ArtlensError(f"--{name} {getattr(self, name)!r}: choose one of {', '.join(allowed)}")
        plan_stages(2, self.samples, self.keep or None)  # counts checked now, not after the model loads


@dataclass
class ClassifyCost:
    """What the run will spend, known before it starts."""

    passes_per_image: int
    """Denoiser evaluations per image (rows), at most: elimination may end an image sooner."""
    forwards_per_image: int
    """Forward calls per image."""
    naive_passes_per_image: int
    """What the study's estimator spends for the same pairs per class: every class, every pair."""
    seconds_per_image: float
    """Estimated from the warm-up."""
    images: int
    """Images to score (not counting those already in ``scores.jsonl``)."""
    cached: int
    seconds: float
    """Estimated total."""
    device: str
    precision: str
    compiled: bool

    def line(self) -> str:
        return (f"cost: {self.passes_per_image} denoiser passes per image in {self.forwards_per_image} forward "
                f"call(s) (every class at every stage: {self.naive_passes_per_image}); "
                f"about {self.seconds_per_image:.3g} s "
                f"per image on {self.device} ({self.precision}{', compiled' if self.compiled else ''}); "
                f"{self.images} image(s) to score ({self.cached} cached): about {_duration(self.seconds)}")


@dataclass
class DiffusionClassifyResult:
    out: Path
    metrics: dict[str, Any]
    calibration: dict[str, Any] | None
    cost: ClassifyCost
    seconds_per_image: float
    """Measured over the images scored in this session (NaN when all were cached)."""
    passes_per_image: float
    """Mean denoiser passes per scored image (after elimination)."""
    skipped: list[str]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _image_generator(seed: int, path: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(path.encode()))


def _pick(samples: list[Sample], split: str, limit: int | None) -> list[Sample]:
    chosen = samples if split == "all" else [s for s in samples if s.split == split]
    if limit is None:
        return chosen
    by_class: dict[str, list[Sample]] = defaultdict(list)
    for s in sorted(chosen, key=lambda s: s.path):
        if len(by_class[s.label]) < limit:
            by_class[s.label].append(s)
    return [s for label in sorted(by_class) for s in by_class[label]]


class ScoreCache:
    """``scores.jsonl``: one JSON line per scored image, appended and flushed as each finishes.

    ``scores.meta.json`` records what the scores depend on (the model, its weights' date, the sample plan,
    the seed); a folder scored otherwise is refused rather than mixed. A half-written last line (a kill
    mid-write) is ignored.
    """

    def __init__(self, out: Path, key: dict[str, Any]) -> None:
        self.path, meta = out / SCORES_FILE, out / SCORES_META
        if meta.is_file():
            old = json.loads(meta.read_text())
            if old != key:
                changed = sorted(k for k in key if old.get(k) != key[k])
                raise ArtlensError(f"{meta}: these scores were made with other {', '.join(changed)}; choose another "
                                   "--out (or delete the folder) to score with these settings")
        else:
            meta.write_text(json.dumps(key, indent=2))
        self.rows: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.rows[row["key"]] = row

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["key"]] = row
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()


def _warmup_seconds_per_row(model: DiffusionModel, rows: int, device: torch.device, dtype: torch.dtype | None) -> float:
    """Seconds per denoiser row at the real batch shape: one untimed call (allocations, compilation), one timed."""
    from .zeroshot import class_errors

    size = model.size
    x0 = torch.zeros(3, size, size, device=device)
    k = len(model.classes)
    n = max(1, rows // k)
    t = torch.randint(model.diffusion.timesteps, (n,)).to(device)
    noise = torch.randn(n, 3, size, size).to(device)
    classes = torch.arange(k, device=device)
    class_errors(model.denoiser, model.diffusion, x0, classes, t, noise, batch_size=rows, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    class_errors(model.denoiser, model.diffusion, x0, classes, t, noise, batch_size=rows, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / (n * k)


def classify_diffusion(cfg: DiffusionClassifyConfig, *, on_cost: Callable[[ClassifyCost], None] | None = None,
                       show_progress: bool = False) -> DiffusionClassifyResult:
    """Score the chosen split with the bundle's class errors, calibrate on another, and write the report.

    ``on_cost`` receives the :class:`ClassifyCost` before the first image is scored (the command prints it).
    """
    if not cfg.model:
        raise ArtlensError("--model: give a diffusion bundle folder (from artlens diffusion train)")
    device = default_device(cfg.device)
    model = load_diffusion_bundle(cfg.model, device=device)
    classes = model.classes
    record = model.meta.get("data") or {}
    if not (cfg.data or record.get("path")):
        raise ArtlensError(f"--data: the bundle {cfg.model} does not say what it was trained on; give the images")
    collection = split_collection(record, path=cfg.data or None, dataset=cfg.dataset or None,
                                  dataset_options=cfg.dataset_options or None)
    unknown = sorted({s.label for s in collection.samples} - set(classes))
    if unknown:
        log.warning("left out %d image(s) of classes the model does not know: %s",
                    sum(s.label in set(unknown) for s in collection.samples), ", ".join(unknown[:5]))
    samples = [s for s in collection.samples if s.label in set(classes)]
    split = cfg.split if cfg.split != "auto" else ("test" if any(s.split == "test" for s in samples) else "all")
    targets = _pick(samples, split, cfg.limit)
    if not targets:
        raise ArtlensError(f"{cfg.data or record.get('path')}: no images of the model's classes in split {split!r}")
    calib = [] if cfg.calibrate_on == "none" else _pick(samples, cfg.calibrate_on, cfg.limit)
    scored_paths = {t.path for t in targets}
    calib = [s for s in calib if s.path not in scored_paths]
    if cfg.calibrate_on != "none" and not calib:
        log.warning("no %s images to fit the temperature on: probabilities use T = 1", cfg.calibrate_on)

    out = output_dir(cfg.out)
    dtype = _dtype(cfg.precision, device)
    precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    stages = plan_stages(len(classes), cfg.samples, cfg.keep or None)
    passes = sum(s.samples * s.classes for s in stages)
    forwards = sum(-(-s.samples * s.classes // cfg.batch_size) for s in stages)
    cache = ScoreCache(out, {"model": str(Path(cfg.model).resolve()), "created": model.meta.get("created"),
                             "steps": model.meta.get("steps"), "samples": list(cfg.samples), "keep": list(cfg.keep),
                             "seed": cfg.seed, "size": model.size})
    work = [(role, s) for role, group in (("calibrate", calib), ("test", targets)) for s in group]
    todo = [(role, s) for role, s in work if f"{role}:{s.path}" not in cache.rows]
    rows = min(cfg.batch_size, stages[0].samples * stages[0].classes)
    per_row = _warmup_seconds_per_row(model, rows, device, dtype)
    compiled = False
    if cfg.compile == "on" or (cfg.compile == "auto" and device.type == "cuda" and per_row * passes * len(todo) > 120):
        model.denoiser = torch.compile(model.denoiser, dynamic=True)  # type: ignore[assignment]
        per_row, compiled = _warmup_seconds_per_row(model, rows, device, dtype), True
    cost = ClassifyCost(passes_per_image=passes, forwards_per_image=forwards,
                        naive_passes_per_image=cfg.samples[-1] * len(classes),
                        seconds_per_image=round(per_row * passes, 4), images=len(todo), cached=len(work) - len(todo),
                        seconds=round(per_row * passes * len(todo), 1), device=str(device), precision=precision,
                        compiled=compiled)
    (on_cost or (lambda c: log.info(c.line())))(cost)

    skipped: list[str] = []
    spent, scored_passes, scored = 0.0, 0, 0
    with progress_bar(len(todo), "zero-shot", enabled=show_progress) as advance:
        for role, s in todo:
            images, kept, bad = load_images([s], model.size)
            if bad:
                skipped += bad
                advance(1)
                continue
            start = time.perf_counter()
            score = estimate_errors(model.denoiser, model.diffusion, to_model_range(images[0]).to(device), len(classes),
                                    samples=cfg.samples, keep=cfg.keep or None,
                                    generator=_image_generator(cfg.seed, s.path),
                                    batch_size=cfg.batch_size, dtype=dtype)
            seconds = time.perf_counter() - start
            spent, scored_passes, scored = spent + seconds, scored_passes + score.passes, scored + 1
            cache.add({"key": f"{role}:{s.path}", "path": s.path, "label": s.label, "split": s.split,
                       "errors": [float(e) for e in score.errors], "counts": [int(c) for c in score.counts],
                       "passes": score.passes, "forwards": score.forwards, "seconds": round(seconds, 4)})
            advance(1)

    def table(role: str, group: list[Sample]) -> tuple[list[Sample], np.ndarray, np.ndarray]:
        found = [(s, cache.rows[f"{role}:{s.path}"]) for s in group if f"{role}:{s.path}" in cache.rows]
        index = {c: i for i, c in enumerate(classes)}
        logits = errors_to_logits(np.array([r["errors"] for _, r in found]).reshape(-1, len(classes)),
                                  3 * model.size * model.size)
        return [s for s, _ in found], logits, np.array([index[s.label] for s, _ in found], dtype=int)

    test_samples, test_logits, test_labels = table("test", targets)
    if not test_samples:
        raise ArtlensError(f"none of the {len(targets)} images could be read: nothing to classify "
                           f"(first: {skipped[0] if skipped else '?'})")
    _, cal_logits, cal_labels = table("calibrate", calib)
    temperature, calibration = 1.0, None
    if len(cal_labels):
        temperature = _fit_temperature(cal_logits, cal_labels)
        calibration = _calibration_report(cal_logits, cal_labels, test_logits, test_labels, temperature,
                                          cfg.calibrate_on, out / "reliability.png")
    probs = tempered_probs(test_logits[:, None, :], temperature)
    metrics = classification_metrics(test_labels, probs, classes)
    rows = [r for r in cache.rows.values() if r["key"].startswith("test:")]
    mean_passes = float(np.mean([r["passes"] for r in rows])) if rows else float("nan")
    measured = spent / scored if scored else float("nan")
    _write_reports(out, cfg, model, test_samples, probs, metrics, calibration, cost, skipped, split,
                   {"seconds_per_image": None if not scored else round(measured, 4),
                    "passes_per_image": round(mean_passes, 1), "temperature": temperature})
    return DiffusionClassifyResult(out=out, metrics=metrics, calibration=calibration, cost=cost,
                                   seconds_per_image=measured, passes_per_image=mean_passes, skipped=skipped)


def _fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """:func:`~artlens.evaluate.calibration.fit_temperature` on logits brought to unit spread first: summed
    errors differ between classes by anything from 0.01 to 100 depending on the model, beyond its grid."""
    spread = float(np.std(logits - logits.mean(axis=1, keepdims=True))) or 1.0
    return fit_temperature((logits / spread)[:, None, :], labels) * spread


def _calibration_report(cal_logits: np.ndarray, cal_labels: np.ndarray, test_logits: np.ndarray,
                        test_labels: np.ndarray, temperature: float, split: str, plot: Path) -> dict[str, Any]:
    from ..viz.figures import plot_reliability

    def nll(p: np.ndarray, y: np.ndarray) -> float:
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    raw, fitted = tempered_probs(test_logits[:, None, :], 1.0), tempered_probs(test_logits[:, None, :], temperature)
    plot_reliability({"T = 1 (summed errors)": raw, f"T = {temperature:.3g} (fitted on {split})": fitted},
                     test_labels, plot)
    cal_raw, cal_fit = tempered_probs(cal_logits[:, None, :], 1.0), tempered_probs(cal_logits[:, None, :], temperature)
    return {"temperature": round(temperature, 6), "fitted_on": split, "n_fit": int(len(cal_labels)),
            "ece_fit_before": round(expected_calibration_error(cal_raw, cal_labels), 4),
            "ece_fit_after": round(expected_calibration_error(cal_fit, cal_labels), 4),
            "ece_test_before": round(expected_calibration_error(raw, test_labels), 4),
            "ece_test_after": round(expected_calibration_error(fitted, test_labels), 4),
            "nll_test_before": round(nll(raw, test_labels), 4), "nll_test_after": round(nll(fitted, test_labels), 4),
            "figure": str(plot)}


def _write_reports(out: Path, cfg: DiffusionClassifyConfig, model: DiffusionModel, samples: list[Sample],
                   probs: np.ndarray, metrics: dict[str, Any], calibration: dict[str, Any] | None, cost: ClassifyCost,
                   skipped: list[str], split: str, speed: dict[str, Any]) -> None:
    from ..viz.figures import plot_confusion_matrix

    classes = model.classes
    eval_dir = output_dir(out / "eval")
    title = f"zero-shot diffusion {Path(cfg.model).parent.name or Path(cfg.model).name} ({split})"
    eval_report = {"title": title, "metrics": metrics, "n_images": len(samples) + len(skipped),
                   "n_evaluated": len(samples), "tta": "none",
                   "skipped": [{"path": p.split(": ", 1)[0], "reason": p.split(": ", 1)[-1]} for p in skipped]}
    (eval_dir / "report.json").write_text(json.dumps(eval_report, indent=2))
    md = markdown_report(eval_report, classes)
    md += ("\n" + f"Cost: {cost.line()}.\n\nMeasured: {speed['seconds_per_image']} s and {speed['passes_per_image']} "
           f"denoiser passes per image; temperature {speed['temperature']:.4g}.\n")
    (eval_dir / "report.md").write_text(md)
    with (eval_dir / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "predicted", "prob", "correct"])
        for s, p in zip(samples, probs):
            j = int(p.argmax())
            w.writerow([s.path, s.label, classes[j], f"{p[j]:.4f}", int(classes[j] == s.label)])
    plot_confusion_matrix(metrics["confusion_matrix"], classes, eval_dir / "confusion_matrix.png", title=title)
    (out / "cost.json").write_text(json.dumps(asdict(cost), indent=2))
    training = model.meta.get("training") or {}
    report = {
        "kind": "diffusion-zero-shot", "model": str(cfg.model), "classes": classes, "split": split,
        # The shape ``artlens compare`` and ``reproduce`` read (a training run's report.json).
        "config": {"model": {"backbone": f"diffusion-unet-{model.size}px"}, "strategy": {"name": "zero-shot"},
                   "out": cfg.out},
        "history": [], "test": metrics, "params": model.meta.get("params"),
        "train_seconds": model.meta.get("seconds_this_session"),
        "estimator": {"samples": list(cfg.samples), "keep": list(cfg.keep), "batch_size": cfg.batch_size,
                      "seed": cfg.seed}, "cost": asdict(cost), **speed, "calibration": calibration,
        "diffusion": model.meta.get("diffusion"), "training_steps": model.meta.get("steps"),
        "training": {k: training.get(k) for k in ("batch_size", "lr", "ema_decay", "size")},
        "skipped": skipped,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
