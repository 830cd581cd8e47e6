"""``fit(config)``: the training loop, as a few plain functions.

Every epoch ends with an atomic checkpoint (model, optimizer, scheduler, phase and epoch, RNG
state, config, history); ``resume=True`` continues a killed run and reaches the same weights as an
uninterrupted one, because each epoch re-seeds every random source from ``(seed, epoch)``.

Outputs in ``config.out``: ``checkpoint.pt``, ``best.safetensors``, ``metrics.csv``, ``curves.png``,
``report.json`` (data counts, skipped files, history, test metrics), ``eval/`` (the test report,
confusion matrix and mistakes) and ``model/`` (the bundle).

>>> from artlens import TrainConfig, fit
>>> cfg = TrainConfig.from_dict({"data": {"path": "paintings/"}, "strategy": {"name": "frozen"},
...                              "epochs": 5, "out": "runs/demo"})
>>> result = fit(cfg)                                             # doctest: +SKIP
>>> result.bundle                                                 # doctest: +SKIP
PosixPath('runs/demo/model')
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..config import TrainConfig
from ..outputs import output_dir, replaceable_folder
from ..data.dataset import (
    Collection,
    ImageDataset,
    Sample,
    collate_skipping,
    drop_cross_split_duplicates,
    load_collection,
)
from ..data.images import SkippedImage, scan_images
from ..data.transforms import build_transform
from ..errors import ArtlensError
from ..evaluate.report import evaluate_samples
from ..inference import default_device
from ..models.backbones import create_backbone
from ..models.bundle import META_FILE, WEIGHTS_FILE, save_bundle
from ..models.classifier import ArtClassifier, build_classifier
from ..models.strategies import check_phases, freeze_all_but, plan_phases, set_frozen_norms_eval
from ..progress import progress_bar, stderr_console
from ..viz.figures import plot_curves
from .checkpoint import atomic_save_tensors, capture_rng, load_checkpoint, load_tensors, restore_rng, save_checkpoint
from ..distributed import (DistContext, broadcast_object, check_in_sync, init_distributed, reduce_sums,
                           shard_indices)
from .features import CachedFeatures, embed_samples
from .optim import build_optimizer, build_scheduler, param_groups, step_scheduler, steps_per_batch

__all__ = ["RunResult", "fit"]

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best.safetensors"


@dataclass
class RunResult:
    out: Path
    bundle: Path
    history: list[dict[str, Any]]
    test_metrics: dict[str, Any]
    skipped: list[SkippedImage] = field(default_factory=list)
    best_epoch: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


# -- data --------------------------------------------------------------------------------------

def prepare_data(cfg: TrainConfig, *, show_progress: bool = True) -> tuple[Collection, list[SkippedImage]]:
    """Load, split and scan the data once; unreadable files are removed and reported."""
    collection = load_collection(cfg.data)
    with stderr_console.status(f"checking {len(collection.samples)} images", spinner="dots") if show_progress \
            else nullcontext():
        skipped = scan_images([s.path for s in collection.samples])
    if skipped:
        bad = {s.path for s in skipped}
        collection.samples = [s for s in collection.samples if s.path not in bad]
        log.warning("skipped %d unreadable image(s); see report.json", len(skipped))
    collection.skipped = skipped
    if cfg.data.dedupe:
        drop_cross_split_duplicates(collection, cfg.data.dedupe_index)
        log.info("dedupe: dropped %d validation/test image(s) that duplicate a training image",
                 len(collection.duplicates))
    _check_classes(cfg, collection)
    return collection, skipped


def _check_classes(cfg: TrainConfig, collection: Collection) -> None:
    """Refuse what cannot train a classifier; warn about what trains one that cannot be right."""
    train = collection.split("train")
    if not train:
        raise ArtlensError(f"{cfg.data.path}: no training images after splitting")
    if len(collection.classes) < 2:
        raise ArtlensError(f"{cfg.data.path}: only one class ({', '.join(collection.classes)}) after the label map "
                           "and the per-class limits; a classifier needs at least two")
    untrained = sorted(set(collection.classes) - {s.label for s in train})
    if untrained:
        log.warning("class(es) with no training image, which the model cannot learn: %s", ", ".join(untrained))
    unknown = sorted(set(cfg.data.label_map) - collection.found_labels) if collection.found_labels else []
    if unknown:
        log.warning("label map entries that match no label of %s: %s", cfg.data.path, ", ".join(unknown))
    if not collection.split("val") and (cfg.patience > 0 or cfg.optim.scheduler == "plateau"):
        log.warning("no validation images: the best epoch, early stopping and the plateau scheduler "
                    "follow the training %s instead", cfg.monitor.removeprefix("val_"))


def _loader(samples: list[Sample], classes: list[str], transform, cfg: TrainConfig, *, shuffle: bool,
            draft_size: int | None = None, epoch_seed: int = 0, ctx: DistContext | None = None) -> DataLoader:
    """Batches of images; under DDP (``ctx``) each process gets its own shard of the epoch."""
    dataset = ImageDataset(samples, classes, transform, draft_size=draft_size)
    sampler = None
    if ctx is not None and ctx.enabled:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle,
                                     seed=epoch_seed)
    return DataLoader(dataset, batch_size=cfg.data.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=cfg.data.num_workers, collate_fn=collate_skipping,
                      generator=torch.Generator().manual_seed(epoch_seed), drop_last=False,
                      persistent_workers=False)


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images go channels_last (matching the model); cached feature vectors go as they are."""
    if x.dim() == 4:
        return x.to(device, memory_format=torch.channels_last, non_blocking=True)
    return x.to(device, non_blocking=True)


# -- one epoch ---------------------------------------------------------------------------------

def _loss_fn(cfg: TrainConfig, train: list[Sample], classes: list[str], device: torch.device) -> nn.Module:
    weight = None
    if cfg.class_weights == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        y = np.array([classes.index(s.label) for s in train])
        present = np.unique(y)
        w = np.ones(len(classes), dtype=np.float32)
        w[present] = compute_class_weight("balanced", classes=present, y=y)
        weight = torch.tensor(w, device=device)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)


def batch_mixer(cfg: TrainConfig, n_classes: int):
    """torchvision's MixUp and/or CutMix for batches of images (``data.mixup``, ``data.cutmix``), or ``None``.

    They draw from torch's global generator, which every epoch re-seeds, so a resumed run mixes the same pairs.
    """
    from torchvision.transforms import v2

    mixers = []
    if cfg.data.mixup > 0:
        mixers.append(v2.MixUp(alpha=cfg.data.mixup, num_classes=n_classes))
    if cfg.data.cutmix > 0:
        mixers.append(v2.CutMix(alpha=cfg.data.cutmix, num_classes=n_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


def new_ema(model: nn.Module, decay: float):
    """An exponential moving average of ``model``'s weights and norm statistics (torch's ``AveragedModel``).

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``): without it, a decay of 0.999 still gives the
    random first weights 37 % of the average after 1,000 steps, and a short run's EMA barely moves
    from them. Long runs end where the plain EMA would.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    def warmed(ema_params, params, num_averaged) -> None:
        n = int(num_averaged)
        get_ema_multi_avg_fn(min(decay, (1 + n) / (10 + n)))(ema_params, params, num_averaged)

    return AveragedModel(model, multi_avg_fn=warmed, use_buffers=True)


def train_one_epoch(model: ArtClassifier, batches, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler, *, device: torch.device, amp: bool, cached: bool,
                    total: int, description: str, show_progress: bool, mix=None,
                    after_step=None) -> dict[str, float]:
    """One pass over ``batches`` of ``(x, y)``; ``x`` are cached embeddings when ``cached``.

    ``mix(x, y) -> (x, soft targets)`` blends images (MixUp/CutMix; accuracy still counts the
    original labels); ``after_step()`` runs after every optimizer step (per-batch schedules, EMA).
    """
    model.train()
    set_frozen_norms_eval(model)
    if cached:
        model.backbone.eval()
    loss_sum, correct, seen, skipped = 0.0, 0, 0, []
    with progress_bar(total, description, enabled=show_progress,
                      postfix=lambda: f"loss {loss_sum / max(seen, 1):.3f} acc {correct / max(seen, 1):.3f}") as advance:
        for batch in batches:
            x, y, bad = batch[0], batch[1], (batch[3] if len(batch) > 3 else [])
            skipped += bad
            if x is None:
                advance(len(bad))
                continue
            x, y = _to_device(x, device), y.to(device, non_blocking=True)
            target = y
            if mix is not None and not cached:
                x, target = mix(x, y)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=amp):
                logits = model.classify(x) if cached else model(x)
                loss = loss_fn(logits.float(), target)
            if not torch.isfinite(loss):
                raise ArtlensError(f"training diverged (loss {loss.item()}); lower the learning rate")
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if after_step is not None:
                after_step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            advance(len(y) + len(bad))
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "n": seen, "skipped": skipped}


@torch.inference_mode()
def validate(model: ArtClassifier, batches, loss_fn: nn.Module, *, device: torch.device, amp: bool,
             cached: bool) -> dict[str, float]:
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for batch in batches:
        x, y = batch[0], batch[1]
        if x is None:
            continue
        x, y = _to_device(x, device), y.to(device)
        with torch.autocast(device.type, enabled=amp):
            logits = (model.classify(x) if cached else model(x)).float()
        loss_sum += loss_fn(logits, y).item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "n": seen}


def _cached_batches(cache: CachedFeatures, batch_size: int, *, shuffle: bool, epoch_seed: int):
    """Batches of cached embeddings; each epoch draws one (possibly augmented) view per image."""
    n = cache.labels.shape[0]
    g = torch.Generator().manual_seed(epoch_seed)
    order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    views = torch.randint(cache.views, (n,), generator=g) if shuffle else torch.zeros(n, dtype=torch.long)
    feats = cache.features[views, torch.arange(n)]
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield feats[idx], cache.labels[idx], idx


# -- the run -----------------------------------------------------------------------------------

def fit(cfg: TrainConfig, *, show_progress: bool = True) -> RunResult:
    """Train the model described by ``cfg``; returns where the bundle and reports are.

    Under torchrun (``WORLD_SIZE`` > 1) the processes train one model together with DDP; see
    :mod:`artlens.train.distributed`.
    """
    ctx, device_name = init_distributed(cfg.device)
    return _fit(cfg, ctx, device_name, show_progress=show_progress and ctx.is_main)


def _fit(cfg: TrainConfig, ctx: DistContext, device_name: str, *, show_progress: bool) -> RunResult:
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT
    state: dict[str, Any] | None = None
    if cfg.resume:
        state = load_checkpoint(ckpt_path)
        _check_resumable(state["config"], cfg)
    elif ckpt_path.exists():
        raise ArtlensError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    ctx.barrier()  # every process has checked for an earlier run before rank 0 writes one
    output_dir(out)
    replaceable_folder(out / "model", keep=(WEIGHTS_FILE, META_FILE))  # the bundle replaces it at the end
    seed_everything(cfg.seed)
    device = default_device(device_name)
    amp = cfg.amp == "on" or (cfg.amp == "auto" and device.type == "cuda")
    started = time.time()

    # The backbone first: an unknown name or weights missing offline fail before minutes of image checks.
    backbone = create_backbone(cfg.model.backbone, pretrained=cfg.model.pretrained)
    check_phases(cfg, backbone)
    collection, skipped = prepare_data(cfg, show_progress=show_progress)
    classes = collection.classes
    train, val, test = collection.split("train"), collection.split("val"), collection.split("test")
    log.info("data: %d classes, %d train / %d val / %d test images", len(classes), len(train), len(val), len(test))
    # channels_last: the layout fast convolution kernels want (about 2x on CPU for EfficientNet).
    model = build_classifier(cfg.model, len(classes), backbone=backbone).to(device, memory_format=torch.channels_last)
    if cfg.model.input_size:  # travels with the bundle: its preprocessing is saved from the backbone
        model.backbone.preprocessing = replace(model.backbone.preprocessing, input_size=cfg.model.input_size)
    pre = model.backbone.preprocessing
    phases = plan_phases(cfg)
    loss_fn = _loss_fn(cfg, train, classes, device)

    history: list[dict[str, Any]] = list(state["history"]) if state else []
    cache_seconds = 0.0  # embedding the images for a frozen phase: part of what training cost
    best = dict(state["best"]) if state else {"value": None, "epoch": 0}
    start_phase, start_epoch = (state["next_phase"], state["next_epoch"]) if state else (0, 0)
    global_epoch = len(history)
    if state:
        model.load_state_dict(state["model"])
        if start_phase >= len(phases) and len(history) < cfg.epochs:
            log.warning("this run had already stopped early, after epoch %d of %d; --resume does not reopen it "
                        "(start a new run with a larger --patience)", len(history), cfg.epochs)
    mix = batch_mixer(cfg, len(classes))
    ema = new_ema(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    if ema is not None and state and state.get("ema"):
        ema.load_state_dict(state["ema"])
    judged = ema.module if ema is not None else model  # what validation, the best epoch and the bundle use
    for p_idx in range(start_phase, len(phases)):
        phase = phases[p_idx]
        resumed_here = state is not None and p_idx == state["phase"] and start_epoch > 0
        first_epoch = start_epoch if p_idx == start_phase else 0
        if first_epoch >= phase.epochs:
            continue
        freeze_all_but(model, phase.select(model))
        optimizer = build_optimizer(cfg.optim, param_groups(model, cfg.optim), lr_scale=phase.lr_scale)
        train_tf = build_transform(pre, train=True, augment=cfg.data.augment)
        eval_tf = build_transform(pre)
        batches_per_epoch = (math.ceil(len(train) / cfg.data.batch_size) if phase.cached
                             else len(_loader(train, classes, train_tf, cfg, shuffle=True, ctx=ctx)))
        scheduler = build_scheduler(cfg.optim, optimizer, epochs=phase.epochs,
                                    mode="min" if cfg.monitor == "val_loss" else "max",
                                    steps_per_epoch=batches_per_epoch)
        per_batch = scheduler if steps_per_batch(scheduler) else None

        def after_step(per_batch=per_batch) -> None:
            if per_batch is not None:
                per_batch.step()
            if ema is not None:
                ema.update_parameters(model)
        scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
        bad_epochs = 0
        if resumed_here:
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            bad_epochs = state["bad_epochs"]
            restore_rng(state["rng"])
        train_cache = val_cache = None
        if phase.cached:
            common = dict(cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else out / "features", seed=cfg.seed, batch_size=cfg.data.batch_size,
                          num_workers=cfg.data.num_workers, device=device, show_progress=show_progress)
            # Every process embeds its shard of the images; rank 0 joins the parts into one cache.
            cache_started = time.time()
            train_cache = embed_samples(model, train, classes, name="train", views=cfg.strategy.cache_views,
                                        augment=cfg.data.augment, ctx=ctx, **common)
            val_cache = embed_samples(model, val, classes, name="val", ctx=ctx, **common) if val else None
            cache_seconds += time.time() - cache_started
        net = ctx.wrap(model, device) if not phase.cached else model
        for epoch in range(first_epoch, phase.epochs):
            tick = time.time()
            seed = _epoch_seed(cfg.seed, global_epoch)
            seed_everything(seed)
            desc = f"epoch {global_epoch + 1}/{cfg.epochs} {phase.name}"
            if phase.cached:
                batches = _cached_batches(train_cache, cfg.data.batch_size, shuffle=True, epoch_seed=seed)
                stats = train_one_epoch(model, batches, loss_fn, optimizer, scaler, device=device, amp=amp,
                                        cached=True, total=len(train_cache.labels), description=desc,
                                        show_progress=show_progress, after_step=after_step)
                val_stats = validate(judged, _cached_batches(_cache_shard(val_cache, ctx), 256, shuffle=False,
                                                             epoch_seed=0),
                                     loss_fn, device=device, amp=amp, cached=True) if val_cache is not None else None
            else:
                loader = _loader(train, classes, train_tf, cfg, shuffle=True, draft_size=pre.decode_size,
                                 epoch_seed=seed, ctx=ctx)
                with _joined(ctx, net):
                    stats = train_one_epoch(net, loader, loss_fn, optimizer, scaler, device=device, amp=amp,
                                            cached=False, total=len(loader.sampler), description=desc,
                                            show_progress=show_progress, mix=mix, after_step=after_step)
                stats = _run_totals(ctx, stats)
                # Each process validates its own images, each image once (no padding as DistributedSampler's).
                val_loader = _loader([val[i] for i in shard_indices(len(val), ctx)], classes, eval_tf, cfg,
                                     shuffle=False, draft_size=pre.decode_size)
                val_stats = validate(judged, val_loader, loss_fn, device=device, amp=amp, cached=False) if val else None
            val_stats = _run_totals(ctx, val_stats) if val_stats is not None else None  # the same numbers everywhere
            monitored = _monitored(cfg.monitor, val_stats or stats)
            step_scheduler(scheduler, monitored)
            seconds = time.time() - tick
            global_epoch += 1
            row = {"epoch": global_epoch, "phase": phase.name, "train_loss": stats["loss"], "train_acc": stats["acc"],
                   "val_loss": val_stats["loss"] if val_stats else None,
                   "val_acc": val_stats["acc"] if val_stats else None,
                   "lr": optimizer.param_groups[0]["lr"], "seconds": round(seconds, 3),
                   "images_per_s": round(stats["n"] / max(seconds, 1e-9), 1), "train_images": stats["n"]}
            history.append(row)
            improved = best["value"] is None or _better(cfg.monitor, monitored, best["value"])
            if improved:
                best = {"value": monitored, "epoch": global_epoch}
                if ctx.is_main:
                    atomic_save_tensors(judged.state_dict(), out / BEST)
                bad_epochs = 0
            else:
                bad_epochs += 1
            stop = cfg.patience > 0 and bad_epochs >= cfg.patience
            done_phase = stop or epoch + 1 == phase.epochs
            next_phase = phases[p_idx + 1].name if p_idx + 1 < len(phases) else None
            if stop and next_phase:  # as Keras' restore_best_weights between two fits: go on from the best epoch
                if ctx.is_main:
                    model.load_state_dict(load_tensors(out / BEST))
                ctx.sync_from_main(model)
            if not ctx.is_main:
                if stop:
                    break
                continue
            save_checkpoint({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "phase": p_idx, "next_phase": p_idx + 1 if done_phase else p_idx,
                "next_epoch": 0 if done_phase else epoch + 1, "bad_epochs": bad_epochs,
                "history": history, "best": best, "rng": capture_rng(), "config": cfg.to_dict(),
                "ema": ema.state_dict() if ema is not None else None,
            }, ckpt_path)
            _write_metrics_csv(history, out / "metrics.csv")
            _log_epoch(row)
            if stop:
                log.info("early stopping: no improvement of %s for %d epochs%s", cfg.monitor, cfg.patience,
                         f"; phase {next_phase!r} starts from the best epoch ({best['epoch']})" if next_phase else "")
                break
        if phase.cached:
            ctx.sync_from_main(model)  # identical in theory; GPU kernels need not be bit-exact across processes
    check_in_sync(ctx, model)
    model.load_state_dict(load_tensors(out / BEST))  # rank 0 wrote it before the collective above
    metrics = _test_metrics(cfg, model, collection, best, out, ctx, show_progress)
    result = _finish(cfg, model, collection, history, best, metrics, skipped, out, started,
                     cache_seconds=cache_seconds) if ctx.is_main else None
    return broadcast_object(ctx, result)


def _cache_shard(cache: CachedFeatures, ctx: DistContext) -> CachedFeatures:
    """This process' share of a cache for validation (every image in exactly one process)."""
    if not ctx.enabled:
        return cache
    mine = torch.as_tensor(list(shard_indices(len(cache.labels), ctx)), dtype=torch.long)
    return CachedFeatures(cache.features[:, mine], cache.labels[mine], [])


def _joined(ctx: DistContext, net: nn.Module):
    """DDP's ``Join``: a process whose shard ran out early (a batch of unreadable images) cannot hang the rest."""
    if not ctx.enabled:
        return nullcontext()
    from torch.distributed.algorithms.join import Join

    return Join([net])


def _run_totals(ctx: DistContext, stats: dict[str, Any]) -> dict[str, Any]:
    """One process's epoch statistics -> the whole run's (sums over the shards)."""
    if not ctx.enabled:
        return stats
    loss, correct, n = reduce_sums(ctx, [stats["loss"] * stats["n"], stats["acc"] * stats["n"], float(stats["n"])])
    return {**stats, "loss": loss / max(n, 1), "acc": correct / max(n, 1), "n": int(n)}


def _test_metrics(cfg: TrainConfig, model: ArtClassifier, collection: Collection, best: dict, out: Path,
                  ctx: DistContext, show_progress: bool) -> dict[str, Any]:
    """Evaluate the best epoch on the test split (else validation); every process scores its share."""
    split = "test" if collection.split("test") else "val" if collection.split("val") else None
    metrics: dict[str, Any] = {"split": split, "best_epoch": best["epoch"]}
    if split is None:
        if ctx.is_main:
            log.warning("no validation or test images: the model is saved without an evaluation")
        return metrics
    report = evaluate_samples(model, model.backbone.preprocessing, collection.classes, collection.split(split),
                              out / "eval", batch_size=cfg.data.batch_size, device=str(next(model.parameters()).device),
                              num_workers=cfg.data.num_workers, show_progress=show_progress, tta=cfg.model.tta,
                              title=f"{cfg.model.backbone} ({cfg.strategy.name}) on the {split} split", ctx=ctx)
    m = report["metrics"]
    metrics.update({k: m[k] for k in ("accuracy", "top3", "top5", "ci95", "macro", "weighted") if k in m})
    metrics["n"] = report["n_evaluated"]
    metrics["eval_images_per_s"] = report["images_per_s"]
    return metrics


def _finish(cfg: TrainConfig, model: ArtClassifier, collection: Collection, history: list[dict], best: dict,
            metrics: dict[str, Any], skipped: list[SkippedImage], out: Path, started: float, *,
            cache_seconds: float = 0.0) -> RunResult:
    """Write the bundle (the best epoch's weights, already loaded), curves and report."""
    classes = collection.classes
    fingerprint = collection.fingerprint()  # stats every file: compute once
    extra = _bundle_extra(cfg, model, collection, metrics.get("split"))
    bundle = save_bundle(model, out / "model", classes=classes, model_cfg=cfg.model, recipe=cfg.to_dict(), extra=extra,
                         metrics=metrics, data_fingerprint=fingerprint, name=Path(cfg.out).name)
    plot_curves(history, out / "curves.png", title=f"{Path(cfg.out).name}: {cfg.model.backbone} ({cfg.strategy.name})",
                best_epoch=best["epoch"], best_label=f"best {cfg.monitor}")
    run_report = {
        "config": cfg.to_dict(), "classes": classes, "counts": collection.counts(),
        "dropped_classes": collection.dropped_classes,
        "n_skipped_rows": len(collection.skipped_rows), "skipped_rows": collection.skipped_rows,
        "n_duplicates_dropped": len(collection.duplicates), "duplicates_dropped": collection.duplicates,
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped], "n_skipped": len(skipped),
        "history": history, "best_epoch": best["epoch"], "test": metrics, "bundle": str(bundle),
        "data_fingerprint": fingerprint, "seconds": round(time.time() - started, 1),
        **run_costs(model, history, cache_seconds=cache_seconds),
    }
    (out / "report.json").write_text(json.dumps(run_report, indent=2, default=str))
    return RunResult(out=out, bundle=bundle, history=history, test_metrics=metrics, skipped=skipped,
                     best_epoch=best["epoch"])


def _bundle_extra(cfg: TrainConfig, model: ArtClassifier, collection: Collection, split: str | None) -> dict[str, Any]:
    """``artlens.json`` fields beyond the usual: ``--name``/``--version`` when given (they override the
    folder name and the time), and the drift reference."""
    extra: dict[str, Any] = {k: v for k, v in (("name", cfg.name), ("version", cfg.version)) if v}
    reference = _drift_reference(cfg, model, collection, split)
    if reference:
        extra["drift_reference"] = reference
    return extra


def _drift_reference(cfg: TrainConfig, model: ArtClassifier, collection: Collection,
                     split: str | None) -> dict[str, Any] | None:
    """What the served images are compared with (:mod:`artlens.ops.drift`): embeddings of up to
    ``drift_images`` training images, and the class shares of the split the metrics come from."""
    if cfg.drift_images == 0 or not collection.split("train"):
        return None
    from ..ops.drift import reference_from_images, set_class_shares

    was_training = model.training
    try:
        reference = reference_from_images(model, model.backbone.preprocessing,
                                          [s.path for s in collection.split("train")], limit=cfg.drift_images,
                                          seed=cfg.seed, device=str(next(model.parameters()).device))
    except ArtlensError as err:
        log.warning("no drift reference in the bundle: %s", err)
        return None
    finally:
        model.train(was_training)
    counts = collection.counts().get(split or "train") or collection.counts().get("train") or {}
    set_class_shares(reference, counts, split or "train")
    return reference


def run_costs(model: nn.Module, history: list[dict[str, Any]], *, cache_seconds: float = 0.0) -> dict[str, Any]:
    """What a run cost, for comparing runs: parameters, training seconds, training images per second.

    ``train_seconds`` counts the epochs and, for a frozen backbone, the pass that embedded the images
    first (``feature_cache_seconds``): without it a frozen run looks a hundred times cheaper than it
    was. ``train_images_per_s`` is the epochs' own rate."""
    seconds = sum(r["seconds"] for r in history)
    images = sum(r["images_per_s"] * r["seconds"] for r in history)
    return {"params": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(seconds + cache_seconds, 2),
            "feature_cache_seconds": round(cache_seconds, 2),
            "train_images_per_s": round(images / seconds, 1) if seconds > 0 else None}


def _monitored(monitor: str, stats: dict[str, float]) -> float:
    return stats["loss"] if monitor == "val_loss" else stats["acc"]


def _better(monitor: str, value: float, best: float) -> bool:
    return value < best if monitor == "val_loss" else value > best


def _check_resumable(saved: dict[str, Any], cfg: TrainConfig) -> None:
    """Only early stopping may change between a run and its resume.

    Not the number of epochs either: the learning-rate schedule and the phases were planned for it,
    and a finished run given more epochs would otherwise end at once without training any.
    """
    now = cfg.to_dict()
    for key in ("data", "model", "strategy", "optim", "epochs", "seed", "class_weights", "label_smoothing",
                "monitor", "cache_dir"):
        for name, was, is_ in _differences(saved.get(key), now.get(key), key):
            if name in _PATH_FIELDS and _same_path(was, is_):
                continue
            raise ArtlensError(f"cannot resume: '{name}' differs from the checkpoint's configuration ({was!r} vs {is_!r})")


#: Settings that name a file or folder: ``paintings``, ``paintings/`` and its absolute path are one.
_PATH_FIELDS = frozenset({"data.path", "cache_dir", "model.pretrained"})


def _differences(was: Any, now: Any, name: str) -> Iterator[tuple[str, Any, Any]]:
    """``(dotted name, was, now)`` for each leaf setting that differs, so an error names the one that does."""
    if isinstance(was, dict) and isinstance(now, dict):
        for key in dict.fromkeys([*was, *now]):
            yield from _differences(was.get(key), now.get(key), f"{name}.{key}")
    elif was != now:
        yield name, was, now


def _same_path(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and bool(a) and bool(b) and Path(a).resolve() == Path(b).resolve()


def _write_metrics_csv(history: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))  # rows from older checkpoints may lack a column
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    tmp.replace(path)


def _log_epoch(row: dict[str, Any]) -> None:
    val = "" if row["val_acc"] is None else f" val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f}"
    log.info("epoch %d [%s] train_loss %.4f train_acc %.4f%s (%.1fs)", row["epoch"], row["phase"],
             row["train_loss"], row["train_acc"], val, row["seconds"])
