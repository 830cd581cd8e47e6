"""Optimizers and learning-rate schedules by name (the choices of :class:`~artlens.config.OptimConfig`).

Schedules are stepped once per epoch, except ``onecycle``, which is stepped after every batch
(:func:`steps_per_batch`): its warm-up lasts a fraction of the run, often less than one epoch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..config import OptimConfig

__all__ = ["build_optimizer", "build_scheduler", "param_groups", "step_scheduler", "steps_per_batch"]


def param_groups(model: torch.nn.Module, cfg: OptimConfig) -> list[dict]:
    """The trainable parameters, split so that the backbone can learn at ``backbone_lr_scale`` of the head's rate.

    One group (as before this option existed, so older checkpoints resume) unless the scale differs
    from 1 and both parts train: head first, backbone second.
    """
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    backbone = [p for name, p in trainable if name.startswith("backbone.")]
    rest = [p for name, p in trainable if not name.startswith("backbone.")]
    if cfg.backbone_lr_scale == 1.0 or not backbone or not rest:
        return [{"params": [p for _, p in trainable], "lr_scale": 1.0}]
    return [{"params": rest, "lr_scale": 1.0}, {"params": backbone, "lr_scale": cfg.backbone_lr_scale}]


def build_optimizer(cfg: OptimConfig, params: Iterable[torch.nn.Parameter] | list[dict], *, lr_scale: float = 1.0):
    """``params`` as parameters or as :func:`param_groups` (each with its ``lr_scale``)."""
    lr = cfg.lr * lr_scale
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{"params": g["params"], "lr": lr * g.get("lr_scale", 1.0)} for g in params]
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: OptimConfig, optimizer: torch.optim.Optimizer, *, epochs: int, mode: str = "min",
                    steps_per_epoch: int = 1):
    """Per-epoch schedulers; ``plateau`` watches the monitored validation metric, lower-is-better
    (``mode="min"``, a loss) or higher-is-better (``"max"``, an accuracy). An accuracy must not be
    negated into a "loss": the plateau's relative threshold then counts a flat accuracy as improving
    every epoch, and the rate never drops. ``onecycle`` is per batch: ``steps_per_epoch`` batches."""
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=cfg.gamma,
                                                          patience=cfg.plateau_patience, min_lr=cfg.min_lr)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=cfg.min_lr)
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=max(epochs * steps_per_epoch, 2), pct_start=cfg.warmup_fraction, anneal_strategy="cos",
            cycle_momentum=cfg.name == "sgd")
    return None


def steps_per_batch(scheduler) -> bool:
    """Whether ``scheduler`` advances after every batch (``onecycle``) rather than every epoch."""
    return isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)


def step_scheduler(scheduler, monitored: float) -> None:
    """Advance one epoch; ``monitored`` is the metric a plateau scheduler was built to watch.
    Per-batch schedules are advanced by the training loop instead, and ignored here."""
    if scheduler is None or steps_per_batch(scheduler):
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()
